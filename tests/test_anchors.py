"""Anchor pictures (provenance.media.sampled): a clip's sample times take its I and P pictures where its encoder says
they decode exactly without its B pictures, on real footage encoded by x264 in the ways that allow it and that do
not; the frames are then a full decode's anchors, the same threaded or not, from fewer decoded pictures."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from provenance.engine import EngineParams
from provenance.engine.sampling import Sampled, clip_frames, one_thread_per_process
from provenance.media import open_video
from provenance.media import sampled as sampled_module
from provenance.media.sampled import anchors_exact, h264_is_b, x264_options
from tests.badmedia import write_video

REPO = Path(__file__).resolve().parents[1]
GAMEPLAY = REPO / "fixtures" / "sample" / "dataset" / "gameplay" / "freedoom_e1m2_new.mp4"
_B = 3  # int(frame.pict_type) of a B picture


@pytest.fixture(scope="module")
def footage() -> list[np.ndarray]:
    with av.open(str(GAMEPLAY)) as c:
        return [f.to_ndarray(format="rgb24") for _, f in zip(range(150), c.decode(video=0), strict=False)]


def _encode(path: Path, frames: list[np.ndarray], x264: str) -> Path:
    """``frames`` at 30 fps by x264's default preset with ``x264`` parameters on top."""
    return write_video(path, frames, 30, {"preset": "medium", "x264-params": x264})


def _full(path: Path) -> list[tuple[float, int, np.ndarray]]:
    """Every picture of a full decode: (time, picture type, grey)."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        t0 = float(s.start_time * s.time_base)
        return [(float(f.pts * s.time_base) - t0, int(f.pict_type), f.to_ndarray(format="gray")) for f in c.decode(s)]


def _first_packet(path: Path) -> bytes:
    with av.open(str(path)) as c:
        return next(bytes(p) for p in c.demux(video=0) if p.size)


@pytest.mark.parametrize(
    ("x264", "exact"),
    [
        ("ref=1:bframes=3:b-pyramid=normal", True),  # presets ultrafast to veryfast: the nearest anchor only
        ("ref=4:bframes=3:b-pyramid=strict", True),
        ("ref=3:bframes=3:b-pyramid=normal:bluray-compat=1", True),
        ("ref=3:bframes=3:b-pyramid=normal", False),  # x264's default: P pictures may refer to B references
    ],
)
def test_anchors_are_vouched_for_only_where_they_decode_exactly(
    x264: str, exact: bool, footage: list[np.ndarray], tmp_path: Path
) -> None:
    """What the stream's x264 options vouch for is what decoding without B pictures gives: every anchor the same
    as in a full decode where they vouch, damaged anchors where they do not (the rule is not merely cautious)."""
    clip = _encode(tmp_path / "clip.mp4", footage, x264)
    opts = x264_options(_first_packet(clip))
    assert opts is not None and opts["bframes"] == "3"
    assert anchors_exact("h264", _first_packet(clip), 30.0, 2.0) is exact
    full = {round(t, 4): im for t, kind, im in _full(clip) if kind != _B}
    with av.open(str(clip)) as c:
        s = c.streams.video[0]
        s.codec_context.skip_frame = "BIDIR"
        t0 = float(s.start_time * s.time_base)
        alone = {round(float(f.pts * s.time_base) - t0, 4): f.to_ndarray(format="gray") for f in c.decode(s)}
    assert alone.keys() == full.keys()
    same = sum(np.array_equal(alone[t], full[t]) for t in full)
    assert (same == len(full)) is exact, (same, len(full))


def test_the_rule_refuses_other_encoders_and_long_b_runs(footage: list[np.ndarray], tmp_path: Path) -> None:
    clip = _encode(tmp_path / "clip.mp4", footage, "ref=1:bframes=3")
    first = _first_packet(clip)
    assert anchors_exact("h264", first, 30.0, 2.0)
    assert not anchors_exact("h264", first, 10.0, 2.0)  # 4 frames at 10 a second: 0.4 s, over half of 0.5 s
    assert not anchors_exact("hevc", first, 30.0, 2.0)
    assert not anchors_exact("h264", first.replace(b"x264 - core", b"other encoder"), 30.0, 2.0)
    assert x264_options(b"no options here") is None


@pytest.mark.parametrize("container", ["mp4", "ts"])
def test_the_slice_header_tells_b_pictures_as_the_decoder_does(
    container: str, footage: list[np.ndarray], tmp_path: Path
) -> None:
    """The picture type read from each packet's first slice header (length-prefixed NAL units in MP4, start codes
    in MPEG-TS) is the decoder's, for every packet."""
    clip = _encode(tmp_path / f"clip.{container}", footage, "ref=1:bframes=3:b-pyramid=normal")
    with av.open(str(clip)) as c:
        s = c.streams.video[0]
        extra = bytes(s.codec_context.extradata or b"")
        length_size = (extra[4] & 3) + 1 if extra[:1] == b"\x01" else 0
        assert (length_size > 0) == (container == "mp4")
        told, kinds = [], []
        for packet in c.demux(s):
            if packet.size:
                told.append(h264_is_b(bytes(packet), length_size))
            kinds += [int(f.pict_type) == _B for f in packet.decode()]  # the last, empty packet drains the decoder
    assert sum(told) > len(told) // 3  # B pictures there are
    assert sorted(told) == sorted(kinds)  # as many B pictures (the decoder returns them in display order)
    # and packet by packet: the decoder told to skip B pictures decodes exactly the others
    with av.open(str(clip)) as c:
        s = c.streams.video[0]
        s.codec_context.skip_frame = "BIDIR"
        assert sum(1 for _ in c.decode(s)) == told.count(False)


@pytest.mark.parametrize("threads", [False, True])
def test_sampling_anchors_takes_the_first_anchor_at_or_after_each_sample_time(
    threads: bool, footage: list[np.ndarray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a stream that vouches for its anchors, a sample time takes the first I or P picture at or after it,
    exactly as a full decode shows it, threaded or not; on one that does not, the frames are those of sampling
    without anchors. On one thread, fewer pictures are decoded than the non-reference skip decodes."""
    clip = _encode(tmp_path / "clip.mp4", footage, "ref=1:bframes=3:b-pyramid=normal")
    full = _full(clip)
    anchors = [(t, im) for t, kind, im in full if kind != _B]
    decoded = {"n": 0}
    plan = sampled_module.sampled_decode

    def counted(*args: object) -> object:
        for frame in plan(*args):  # type: ignore[arg-type]
            decoded["n"] += 1
            yield frame

    from provenance.media import readers

    monkeypatch.setattr(readers, "_sampled_decode", counted)
    for fps in (1.0, 2.0, 3.0):
        with open_video(clip, threads=threads) as reader:
            got = [(f.t, f.image) for f in reader.frames(fps=fps, anchors=True)]
            assert reader.anchors
        n_anchors = decoded["n"]
        want, k = [], 0
        for t, im in anchors:
            if t + 1e-9 >= k / fps:
                want.append((t, im))
                k = int(t * fps + 1e-9) + 1
        assert [round(t, 4) for t, _ in got] == [round(t, 4) for t, _ in want]
        assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(got, want, strict=True))
        decoded["n"] = 0
        with open_video(clip, threads=threads) as reader:
            plain = [f.t for f in reader.frames(fps=fps)]
            assert not reader.anchors
        assert len(plain) == len(got)
        if not threads:
            assert 0 < n_anchors < decoded["n"] < len(full)
        decoded["n"] = 0


def test_a_stream_that_does_not_vouch_is_sampled_as_before(footage: list[np.ndarray], tmp_path: Path) -> None:
    clip = _encode(tmp_path / "clip.mp4", footage, "ref=3:bframes=3:b-pyramid=normal")
    for threads in (False, True):
        with open_video(clip, threads=threads) as reader:
            got = [(f.t, f.image) for f in reader.frames(fps=2.0, anchors=True)]
            assert not reader.anchors
        with open_video(clip, threads=threads) as reader:
            plain = [(f.t, f.image) for f in reader.frames(fps=2.0)]
        assert [t for t, _ in got] == [t for t, _ in plain]
        assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(got, plain, strict=True))


def test_the_engine_samples_clips_by_anchors_and_references_at_their_times(
    footage: list[np.ndarray], tmp_path: Path
) -> None:
    """A clip's frames for matching come from its anchors (in a worker's one-thread decoding and in a threaded
    process alike: a scan's results do not depend on its workers); reference footage keeps its exact times."""
    clip = _encode(tmp_path / "clip.mp4", footage, "ref=1:bframes=3:b-pyramid=normal")
    params = EngineParams()
    threaded = [(t, im) for t, im, _ in clip_frames(clip, params)]
    anchor_times = {round(t, 4) for t, kind, _ in _full(clip) if kind != _B}
    assert {round(t, 4) for t, _ in threaded} <= anchor_times
    exact = [t for t, _, _ in Sampled(clip, params.query_fps, params.analysis_side)]
    assert exact == [k / params.query_fps for k in range(len(exact))]  # 30 fps: a picture at every sample time
    assert [t for t, _ in threaded] != exact
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1, initializer=one_thread_per_process) as pool:
        alone = pool.apply(_clip_frames_in_a_worker, (clip,))
    assert [t for t, _ in alone] == [t for t, _ in threaded]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(alone, threaded, strict=True))


def _clip_frames_in_a_worker(clip: Path) -> list[tuple[float, np.ndarray]]:
    return [(t, im) for t, im, _ in clip_frames(clip, EngineParams())]


def test_a_stream_cut_together_from_two_encodes_takes_anchors_only_where_each_vouches(
    footage: list[np.ndarray], tmp_path: Path
) -> None:
    """Two x264 encodes joined by stream copy (MPEG-TS): the first vouches for its anchors, the second (x264's
    defaults) does not, and says so in the options of its first picture; sampled with anchors, threaded or not,
    every frame is exactly what a full decode shows (the second part's anchors, decoded without its B references,
    would not be), anchors in the first part, the first picture at or after each sample time in the second."""
    import subprocess

    half = len(footage) // 2
    a = write_video(tmp_path / "a.ts", footage[:half], 30, {"preset": "medium", "x264-params": "ref=1:bframes=3"})
    b = write_video(tmp_path / "b.ts", footage[half:], 30, {"preset": "medium", "x264-params": "ref=3:bframes=3"})
    (tmp_path / "list.txt").write_text(f"file '{a}'\nfile '{b}'\n")
    joined = tmp_path / "joined.ts"
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(tmp_path / "list.txt")]
    subprocess.run([*cmd, "-c", "copy", str(joined)], check=True)
    full = _full(joined)
    second = full[half][0]  # when the second encode begins
    shown = {round(t, 4): (kind, im) for t, kind, im in full}
    for threads in (False, True):
        with open_video(joined, threads=threads) as reader:
            got = [(f.t, f.image) for f in reader.frames(fps=2.0, anchors=True)]
            assert reader.anchors
        assert len(got) == len(full) // 15
        for t, im in got:
            kind, want = shown[round(t, 4)]
            assert np.array_equal(im, want), (threads, t)
            assert kind != _B or t >= second - 1e-6, (threads, t)
        assert any(shown[round(t, 4)][0] == _B for t, _ in got if t >= second)  # B pictures taken in the second
