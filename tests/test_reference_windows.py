"""A reference is fingerprinted in windows, streamed, so that its length does not set the memory it takes.

Real footage: the bundled sample's Freedoom E1M1 playthrough, and a video written here from it whose first half is
letterboxed (a layout that changes inside one reference, as a long VOD's does). The expected prints are computed
the way references were fingerprinted before windows: every frame decoded and held, one border box for all.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

import provenance.engine.references as R
from provenance.engine import EngineParams, FootagePrint, fingerprint_footage
from provenance.engine.features import extract
from provenance.engine.fingerprint.regions import detect_borders, trim
from provenance.engine.pairs import HASHER
from provenance.engine.params import local_params
from provenance.engine.sampling import border_step, decode_all

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample"
E1M1 = SAMPLE / "registry" / "footage" / "freedoom-e1m1-playthrough.mp4"
PARAMS = EngineParams()
STEP = max(1, round(PARAMS.ref_fps / PARAMS.local_ref_fps))


def _whole(times: list[float], images: list[npt.NDArray[np.uint8]]) -> tuple[object, ...]:
    """Hashes, quality, local times and features of frames fingerprinted together with one border box."""
    box = detect_borders(images[:: border_step(len(images))])
    hashes, quality = HASHER.regions(images, box)
    lp = local_params(PARAMS)
    idx = range(0, len(images), STEP)
    return (
        hashes,
        np.clip(quality, 0, 100).astype(np.uint8),
        np.asarray([times[i] for i in idx], np.float32),
        [extract(trim(images[i], box), lp, mirror=False) for i in idx],
    )


def _same_features(a: list[object], b: tuple[object, ...]) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(x.keypoints, y.keypoints) and np.array_equal(x.descriptors, y.descriptors)  # type: ignore[attr-defined]
        for x, y in zip(a, b, strict=True)
    )


def test_a_reference_within_one_window_gets_the_prints_of_a_whole_decode() -> None:
    times, images, duration = decode_all(E1M1, PARAMS.ref_fps, PARAMS.analysis_side)
    assert len(images) <= R.REF_WINDOW_FRAMES
    hashes, quality, local_times, feats = _whole(times, images)
    fp = fingerprint_footage(E1M1)
    assert np.array_equal(fp.timestamps, np.asarray(times, np.float32))
    assert np.array_equal(fp.hashes, hashes)
    assert np.array_equal(fp.quality, quality)
    assert np.array_equal(fp.local_times, local_times)
    assert _same_features(list(feats), fp.local_features)  # type: ignore[arg-type]
    assert fp.duration_s == duration


@pytest.fixture(scope="module")
def relayout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The E1M1 footage, its first half letterboxed (black bars of a fifth of the height above and below)."""
    _, images, _ = decode_all(E1M1, PARAMS.ref_fps, PARAMS.analysis_side)
    out = tmp_path_factory.mktemp("relayout") / "relayout.mp4"
    h, w = images[0].shape
    bar = h // 5
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "18", "g": "30"}
        for k, image in enumerate(images):
            grey = image.copy()
            if k < len(images) // 2:
                small = np.asarray(
                    av.VideoFrame.from_ndarray(image, format="gray")
                    .reformat(width=w, height=h - 2 * bar, format="gray")
                    .to_ndarray(),
                    np.uint8,
                )
                grey[:] = 0
                grey[bar : h - bar] = small
            frame = av.VideoFrame.from_ndarray(np.repeat(grey[:, :, None], 3, axis=2), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out


def test_a_long_reference_is_hashed_window_by_window_each_with_its_own_borders(
    relayout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    times, images, duration = decode_all(relayout, PARAMS.ref_fps, PARAMS.analysis_side)
    window = len(images) // 4 + 1  # four windows: the letterboxed half, then the full frames
    monkeypatch.setattr(R, "REF_WINDOW_FRAMES", window)
    held: list[int] = []
    windows = R._reference_windows

    def spy(sampled: R.Sampled) -> object:
        for part in windows(sampled):
            held.append(len(part[1]))
            yield part

    monkeypatch.setattr(R, "_reference_windows", spy)
    fp = fingerprint_footage(relayout)
    assert len(held) == 4 and sum(held) == len(images) and max(held) <= window  # never more frames than a window
    assert np.array_equal(fp.timestamps, np.asarray(times, np.float32))
    assert fp.duration_s == duration
    # every window is hashed as a reference of its own would be: its own box, local features every STEP frames
    # of the whole reference
    start = 0
    for n in held:
        hashes, quality, _, _ = _whole(times[start : start + n], images[start : start + n])
        assert np.array_equal(fp.hashes[start : start + n], hashes)
        assert np.array_equal(fp.quality[start : start + n], quality)
        start += n
    assert np.array_equal(fp.local_times, np.asarray(times[::STEP], np.float32))
    # the layout changed inside the reference: the letterboxed windows are trimmed, the full-frame ones are not,
    # where one box for the whole video (the way before windows) hashes one of the halves with the other's borders
    first, last = detect_borders(images[: held[0]][:: border_step(held[0])]), detect_borders(images[-held[-1] :])
    assert first.height < last.height
    whole = _whole(times, images)
    assert not np.array_equal(fp.hashes, whole[0])


def test_a_print_made_in_windows_round_trips_through_its_payload(
    relayout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(R, "REF_WINDOW_FRAMES", 40)
    fp = fingerprint_footage(relayout)
    back = FootagePrint.from_payload(*fp.to_payload())
    assert np.array_equal(back.hashes, fp.hashes) and np.array_equal(back.local_times, fp.local_times)
    assert len(back.local_features) == len(fp.local_features) == len(fp.local_times)
