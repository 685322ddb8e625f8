"""Region hashes through area-averaged grids (provenance.fingerprint.grids), on real footage: the DCT step is
PDQ's exactly, the grids are OpenCV's area averaging of each region, mirrors are the mirrored regions, and
the hashes keep a copy close and other footage far."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pdqhash
import pytest

from provenance.engine.fingerprint import grids as grids_module
from provenance.engine.fingerprint.grids import GRID, WORK, grid_hashes, hash_grids, region_grids, working
from provenance.engine.fingerprint.regions import DEFAULT_REGIONS, Box, region_boxes
from provenance.engine.sampling import Sampled as _Sampled
from provenance.errors import FingerprintError

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample"


def _frames(rel: str, n: int = 12) -> list[np.ndarray]:
    return [im for _, im, _ in _Sampled(SAMPLE / rel, 2.0, 640)][:n]


def _distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.unpackbits(a ^ b, axis=-1).sum(axis=-1)


@pytest.mark.parametrize("rel", ["dataset/clean/bikes.mp4", "dataset/gameplay/freedoom_e1m2_new.mp4"])
def test_the_dct_step_is_pdqs(rel: str) -> None:
    """On a 64 x 64 picture (which pdqhash hashes as it is) the bits and quality are pdqhash's."""
    small = [cv2.resize(f, (GRID, GRID), interpolation=cv2.INTER_AREA) for f in _frames(rel)]
    bits, quality = hash_grids(np.stack(small).astype(np.float32))
    computed = [pdqhash.compute(np.ascontiguousarray(np.stack([f, f, f], axis=-1))) for f in small]
    want = np.stack([np.packbits(np.asarray(vec, dtype=bool)) for vec, _ in computed])
    want_q = np.array([q for _, q in computed])
    d = _distance(bits, want)
    assert d.max() <= 2 and d.mean() < 0.1  # a coefficient on the median may flip within float rounding
    assert np.abs(quality - want_q).max() <= 1


def test_grids_are_area_averages_of_the_regions() -> None:
    frames = _frames("dataset/clean/bikes.mp4", 6)
    h, w = frames[0].shape
    box = Box(7, 3, w - 5, h - 9)  # odd sizes
    work = working(frames, box)
    assert work.shape == (6, WORK, WORK)
    want_work = np.stack(
        [cv2.resize(np.ascontiguousarray(box.crop(f)), (WORK, WORK), interpolation=cv2.INTER_AREA) for f in frames]
    )
    assert np.abs(work - want_work).max() < 1e-3
    grids = region_grids(work)
    for r, b in enumerate(region_boxes(WORK, WORK).values()):
        want = np.stack(
            [
                cv2.resize(
                    np.ascontiguousarray(x[b.y0 : b.y1, b.x0 : b.x1]), (GRID, GRID), interpolation=cv2.INTER_AREA
                )
                for x in work
            ]
        )
        assert np.abs(grids[:, r] - want).max() < 1e-2, b


@pytest.mark.skipif(grids_module._AREA is None, reason="the INTER_AREA extension is not built here")
@pytest.mark.parametrize("scalar", [False, True])
def test_the_shrink_extension_gives_opencvs_numbers(scalar: bool) -> None:
    """The working pictures from the C shrink (AVX2's gathers, or its scalar code) are OpenCV's INTER_AREA pixels
    exactly, on real frames of two sizes cut to many boxes (odd offsets and sizes, a side just over WORK, a whole
    multiple on one side only), and on flat and ramp pictures whose sums land on halves; where OpenCV takes another
    path (a side under WORK, both sides whole multiples) the extension is not asked."""
    area = grids_module._AREA
    frames = _frames("dataset/clean/bikes.mp4", 4) + _frames("dataset/gameplay/freedoom_e1m2_new.mp4", 4)
    ramp = (np.add.outer(np.arange(360), 3 * np.arange(640)) % 256).astype(np.uint8)
    pictures = [*frames, np.full((360, 640), 77, np.uint8), ramp]
    try:
        area.use_scalar(scalar)
        checked = 0
        for f in pictures:
            h, w = f.shape
            boxes = [None, Box(7, 3, w - 5, h - 9), Box(1, 0, 1 + WORK + 1, WORK + 3), Box(0, 2, 2 * WORK, h - 1)]
            boxes += [Box(11, 13, 11 + 200, 13 + 150), Box(0, 0, 3 * WORK, WORK), Box(5, 5, 5 + WORK - 1, h - 5)]
            for box in boxes:
                crop = f if box is None else np.ascontiguousarray(box.crop(f))
                want = cv2.resize(crop, (WORK, WORK), interpolation=cv2.INTER_AREA)
                got = working([f], box)[0]
                assert got.dtype == np.float32
                assert np.array_equal(got, want.astype(np.float32)), (f.shape, box)
                checked += 1
        assert checked == len(pictures) * 7
        out = np.empty((WORK, WORK), np.float32)
        assert not grids_module._shrunk(frames[0], Box(0, 0, 3 * WORK, WORK), out)  # OpenCV's integer path
        assert not grids_module._shrunk(frames[0], Box(5, 5, 5 + WORK - 1, 200), out)  # a side under WORK
        assert grids_module._shrunk(frames[0], None, out)
    finally:
        area.use_scalar(False)


def test_the_shrink_extension_refuses_tables_that_do_not_fit() -> None:
    if grids_module._AREA is None:
        pytest.skip("the INTER_AREA extension is not built here")
    area = grids_module._AREA
    f = np.zeros((300, 400), np.uint8)
    xi, xw = grids_module._area_table(400, WORK)
    yi, yw = grids_module._area_table(300, WORK)
    out = np.empty((WORK, WORK), np.float32)
    with pytest.raises(ValueError, match="do not agree"):  # the box runs past the picture
        area.shrink(f, 400, 1, 0, 400, 300, xi, xw, len(xi), yi, yw, len(yi), out, WORK, WORK)
    bad = xi.copy()
    bad[0, 0] = 400
    with pytest.raises(ValueError, match="outside the picture"):
        area.shrink(f, 400, 0, 0, 400, 300, bad, xw, len(xi), yi, yw, len(yi), out, WORK, WORK)


def test_mirrored_regions_are_the_regions_of_the_mirror_image() -> None:
    """grid_hashes takes the mirror images' hashes from the regions' DCT (odd horizontal frequencies change
    sign): the same bits and quality as hashing the mirror images' own regions."""
    frames = _frames("dataset/retro/breakout_pip.mp4", 5)
    r = len(DEFAULT_REGIONS)
    both, both_q = grid_hashes(frames, mirror=True)
    assert both.shape[1] == 2 * r
    flipped, flipped_q = grid_hashes([np.ascontiguousarray(f[:, ::-1]) for f in frames])
    assert np.array_equal(both[:, r:], flipped) and np.array_equal(both_q[:, r:], flipped_q)
    assert _distance(both[:, 0], both[:, r]).min() > 64  # a mirror image is another picture
    # a set of regions without their mirrors (a quadrant alone) gets the mirror images' own grids
    one, _ = grid_hashes(frames, mirror=True, regions={"top_left": DEFAULT_REGIONS["top_left"]})
    want, _ = grid_hashes(
        [np.ascontiguousarray(f[:, ::-1]) for f in frames], regions={"top_left": DEFAULT_REGIONS["top_left"]}
    )
    assert np.array_equal(one[:, 1], want[:, 0])


def test_a_copy_stays_close_and_other_footage_far() -> None:
    frames = _frames("dataset/clean/bikes.mp4")
    h, w = frames[0].shape
    # a re-encode's usual damage: half the size, gamma, noise
    rng = np.random.default_rng(0)
    copies = []
    for f in frames:
        small = cv2.resize(f, (w // 2, h // 2), interpolation=cv2.INTER_AREA).astype(np.float32)
        damaged = 255.0 * (small / 255.0) ** 0.8 + rng.normal(0, 3, small.shape)
        copies.append(np.clip(damaged, 0, 255).astype(np.uint8))
    a, qa = grid_hashes(frames)
    b, _ = grid_hashes(copies)
    other, _ = grid_hashes(_frames("dataset/gameplay/freedoom_e1m2_new.mp4"))
    assert (qa[:, 0] >= 50).all()
    assert _distance(a, b).max() <= 31  # every region of every frame
    assert _distance(a[:, None, 0], other[None, :, 0]).min() > 64


def test_flat_pictures_have_low_quality() -> None:
    flat = np.full((2, 90, 160), 80, np.uint8)
    flat[1, :, 80:] = 81
    _, quality = grid_hashes(list(flat))
    assert (quality < 50).all()


def test_bad_input_is_refused() -> None:
    frames = _frames("dataset/clean/bikes.mp4", 2)
    h, w = frames[0].shape
    with pytest.raises(FingerprintError, match="exceeds"):
        working(frames, Box(0, 0, w + 1, h))
    with pytest.raises(FingerprintError, match="expected grey"):
        working([np.zeros((20, 20, 3), np.uint8)])
    with pytest.raises(FingerprintError, match="too small"):
        working([np.zeros((5, 40), np.uint8)])
    empty, empty_q = grid_hashes([], mirror=True)
    assert empty.shape == (0, 2 * len(DEFAULT_REGIONS), 32) and empty_q.shape == (0, 2 * len(DEFAULT_REGIONS))


def test_hashes_do_not_depend_on_the_blas_threads_of_the_process() -> None:
    """A matrix product split over BLAS threads sums in another order: the bits of flat regions followed it, and a
    reference's stored prints depended on whether its ingest ran in a process with BLAS threads or without."""
    from threadpoolctl import threadpool_limits

    frames = [
        image for _, image, _ in _Sampled(SAMPLE / "registry" / "footage" / "pixelworks-pong-attract.mp4", 15.0, 640)
    ]
    with threadpool_limits(1, user_api="blas"):
        one = grid_hashes(frames, mirror=True)
    with threadpool_limits(2, user_api="blas"):
        two = grid_hashes(frames, mirror=True)
    assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1])


def test_the_one_thread_blas_block_restores_what_the_process_had() -> None:
    """The block sets numpy's BLAS (the library the hashes' products run in; others loaded by then too) to one
    thread, and restores the count it found, even when another controller set it since the block last ran."""
    from threadpoolctl import threadpool_limits

    from provenance.engine.fingerprint import grids

    libs = grids._blas()
    numpy_libs = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    if numpy_libs.is_dir():  # a wheel's numpy: its own OpenBLAS must be among those the block sets
        assert any(Path(lib.filepath).resolve().parent == numpy_libs for lib in libs)
    for n in (2, 1, 2):
        with threadpool_limits(n, user_api="blas"):
            if {lib.get_num_threads() for lib in libs} != {n}:
                pytest.skip("no BLAS library that takes a thread count")
            with grids._one_blas_thread():
                assert {lib.get_num_threads() for lib in libs} == {1}
            assert {lib.get_num_threads() for lib in libs} == {n}
