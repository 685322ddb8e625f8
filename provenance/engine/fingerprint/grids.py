"""Region hashes of many frames at once: PDQ's DCT hash of area-averaged 64 x 64 grids.

PDQ (Meta) hashes a picture in two steps: a 64 x 64 grid of the picture's luma (PDQ blurs with a tent filter,
then samples), then the signs of the 16 x 16 lowest DCT coefficients of that grid against their median; its
quality is the sum of the grid's gradients. The second step is all that makes the hash; the first only has to
reduce the picture to 64 x 64 without aliasing. Here the first is done for every region of a frame at once:

1. the frame (trimmed to its content box) is area-averaged to a *working picture* of
   :data:`WORK` x :data:`WORK` pixels (the aspect ratio is dropped, as PDQ's grid drops it): OpenCV's INTER_AREA
   pixels, computed by the small C extension :mod:`~provenance.engine.fingerprint.area` where it is built (the same
   float32 products and sums in the same order, eight output pixels at once: 0.12 ms for a 640 x 360 frame where
   ``cv2.resize`` takes 0.32, the same pixels; a clip's window prints 32.5 -> 24.4 ms a clip on the short-clip
   corpus, identical findings), else by ``cv2.resize``;
2. each region of :data:`~.regions.DEFAULT_REGIONS` is a box of the working picture, area-averaged to 64 x 64
   by two small matrices (a quadrant or the centre half is 64 x 64 already: a view; the whole frame is a 2 x 2
   mean), for all frames of a batch in a few array operations;
3. :func:`hash_grids` is PDQ's second step, exactly (on a 64 x 64 picture, which ``pdqhash`` copies as it
   is, both give the same bits and quality: tested).

A region of the mirrored frame is the mirror image of the mirrored region of the working picture, whose DCT
coefficients are that region's with the odd horizontal frequencies negated: mirrors cost no DCT. Area
averaging is a better anti-aliasing filter than PDQ's tent, so these hashes are not PDQ's bits (a median of
24 of 256 bits differ on the same crop) but behave as PDQ's under re-encoding, scaling, gamma and noise; what
matters is that references and clips are hashed the same way, which every caller here does. A window of 120
frames costs about 70 ms with mirrors, against 440 ms for PDQ's own pipeline per crop.

The matrix products run on one BLAS thread whatever the process allows (:func:`_one_blas_thread`): a product split
over threads sums in another order, and the bits of a flat region (coefficients close to their median) followed
the order. The same reference fingerprinted in a process with BLAS threads (an ingest in the scanning process,
``--workers 1``) and in one without (the ingest's worker processes) differed in 128 of 180 frames' hashes
(up to 121 bits in flat frames), so what was stored depended on how the ingest was run.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache, lru_cache
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from provenance.engine.fingerprint.base import Images, as_image_list, hamming, register_hasher
from provenance.engine.fingerprint.regions import DEFAULT_REGIONS, Box, region_boxes
from provenance.errors import FingerprintError

__all__ = ["GRID", "WORK", "GridHasher", "grid_hashes", "hash_grids", "region_grids", "working"]

#: Side of the grid PDQ's DCT reads.
GRID = 64
#: Side of the working picture every region is cut from (each region keeps at least a grid's worth of pixels).
WORK = 128

F32Array = npt.NDArray[np.float32]

_DCT = np.array(
    [[np.sqrt(2.0 / GRID) * np.cos(np.pi / 2 / GRID * (i + 1) * (2 * j + 1)) for j in range(GRID)] for i in range(16)],
    dtype=np.float32,
)
_DCT_T = np.ascontiguousarray(_DCT.T)
_BITS_ORDER = np.arange(256)[::-1]  # pdqhash's vector is the row-major bit matrix, last bit first
_CHUNK = 256  # grids hashed together (their temporaries stay in cache)


@cache
def _blas() -> tuple[Any, ...]:
    """The BLAS libraries loaded when hashing first runs (threadpoolctl's controllers): numpy's, which the products
    run in, is; others loaded later (OpenCV's, FAISS's) are left as they are."""
    from threadpoolctl import ThreadpoolController

    return tuple(ThreadpoolController().select(user_api="blas").lib_controllers)


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """The BLAS libraries of :func:`_blas` on one thread inside the block (0.05 ms to set and restore), restored to
    the counts read from the libraries on entry (not to what threadpoolctl last set: another controller may have
    changed them since). OpenBLAS takes the setting from the main thread: in other threads (the service's clip
    checks) the products run with the process's own setting."""
    saved = [lib.get_num_threads() for lib in _blas()]
    for lib in _blas():
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(_blas(), saved, strict=True):
            lib.set_num_threads(n)


def working(images: Sequence[npt.NDArray[np.uint8]] | npt.NDArray[np.uint8], box: Box | None = None) -> F32Array:
    """``(N, WORK, WORK)`` float32: each grey frame cut to ``box`` (default: whole) and area-averaged."""
    out = np.empty((len(images), WORK, WORK), np.float32)
    for i, image in enumerate(images):
        if image.ndim != 2:
            raise FingerprintError(f"working: frame {i} is {image.shape}, expected grey (H, W)")
        crop = image if box is None else box.crop(image)
        if box is not None and (box.x1 > image.shape[1] or box.y1 > image.shape[0]):
            raise FingerprintError(f"working: box {box.as_tuple()} exceeds frame {i} {image.shape}")
        if crop.shape[0] < 8 or crop.shape[1] < 8:
            raise FingerprintError(f"working: frame {i} cut to {crop.shape} is too small to hash")
        if _AREA is None or not _shrunk(image, box, out[i]):
            out[i] = cv2.resize(crop, (WORK, WORK), interpolation=cv2.INTER_AREA)
    return out


def _load_area() -> Any:
    """The INTER_AREA shrink extension (:mod:`provenance.engine.fingerprint.area`), None where it is not built."""
    try:
        from provenance.engine.fingerprint import area
    except ImportError:
        return None
    return area


_AREA = _load_area()


def _shrunk(image: npt.NDArray[np.uint8], box: Box | None, out: F32Array) -> bool:
    """``image`` cut to ``box`` shrunk into ``out`` (WORK x WORK) by the extension, OpenCV's numbers; False (nothing
    written) where OpenCV takes another path: a side smaller than WORK (it enlarges by another rule), both sides a
    whole multiple of it (it averages whole blocks in integers), a picture not laid out in rows of bytes."""
    h, w = image.shape
    x0, y0, x1, y1 = (0, 0, w, h) if box is None else (box.x0, box.y0, box.x1, box.y1)
    width, height = x1 - x0, y1 - y0
    if width < WORK or height < WORK or (width % WORK == 0 and height % WORK == 0):
        return False
    if image.dtype != np.uint8 or image.strides[1] != 1 or not image.flags.c_contiguous:
        return False
    xi, xw = _area_table(width, WORK)
    yi, yw = _area_table(height, WORK)
    _AREA.shrink(image, image.strides[0], x0, y0, width, height, xi, xw, len(xi), yi, yw, len(yi), out, WORK, WORK)
    return True


@lru_cache(maxsize=256)
def _area_table(size: int, target: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
    """Which source pixels each of ``target`` outputs sums, in order, and their weights, as OpenCV's INTER_AREA
    computes them (``computeResizeAreaTab``, in doubles, the weights then float32): ``(P, target)`` rows of
    indices and weights, the p-th of each output's terms in row p (a weight 0 past an output's last term: adding
    0.0 leaves a sum as it is)."""
    scale = 1.0 / (target / size)
    terms: list[list[tuple[int, np.float32]]] = []
    for d in range(target):
        f1 = d * scale
        f2 = f1 + scale
        cell = min(scale, size - f1)
        s2 = min(math.floor(f2), size - 1)
        s1 = min(math.ceil(f1), s2)
        own: list[tuple[int, np.float32]] = []
        if s1 - f1 > 1e-3:
            own.append((s1 - 1, np.float32((s1 - f1) / cell)))
        own += [(s, np.float32(1.0 / cell)) for s in range(s1, s2)]
        if f2 - s2 > 1e-3:
            own.append((s2, np.float32(min(min(f2 - s2, 1.0), cell) / cell)))
        terms.append(own)
    p = max(len(t) for t in terms)
    index, weight = np.zeros((p, target), np.int32), np.zeros((p, target), np.float32)
    for d, own in enumerate(terms):
        for k, (s, a) in enumerate(own):
            index[k, d], weight[k, d] = s, a
    return index, weight


@lru_cache(maxsize=64)
def _area(n: int) -> F32Array:
    """``(GRID, n)``: area averaging of ``n`` samples down to ``GRID`` (what OpenCV's INTER_AREA does)."""
    if n < GRID:
        raise FingerprintError(f"a region of {n} working pixels is smaller than the {GRID}-pixel grid")
    m = np.zeros((GRID, n), np.float64)
    step = n / GRID
    for i in range(GRID):
        a, b = i * step, (i + 1) * step
        for j in range(int(np.floor(a)), min(n, int(np.ceil(b)))):
            m[i, j] = min(b, j + 1) - max(a, j)
    return np.asarray(m / step, np.float32)


def _to_grid(stack: F32Array) -> F32Array:
    """``(N, h, w)`` -> ``(N, GRID, GRID)`` by area averaging (two plain matrix products over the whole batch)."""
    n, h, w = stack.shape
    if (h, w) == (GRID, GRID):
        return stack
    if (h, w) == (2 * GRID, 2 * GRID):
        s = stack[:, 0::2, 0::2] + stack[:, 1::2, 0::2]
        s += stack[:, 0::2, 1::2]
        s += stack[:, 1::2, 1::2]
        s *= np.float32(0.25)
        return s
    cols = (np.ascontiguousarray(stack).reshape(n * h, w) @ _area(w).T).reshape(n, h, GRID)  # (N, h, GRID)
    by_row = np.ascontiguousarray(cols.transpose(1, 0, 2)).reshape(h, n * GRID)
    return np.ascontiguousarray((_area(h) @ by_row).reshape(GRID, n, GRID).transpose(1, 0, 2))


@lru_cache(maxsize=8)
def _boxes(regions: tuple[tuple[str, tuple[float, float, float, float]], ...]) -> tuple[Box, ...]:
    return tuple(region_boxes(WORK, WORK, dict(regions)).values())


def _mirror_of(boxes: tuple[Box, ...]) -> tuple[int | None, ...]:
    """For each box, the index of its left-right mirror image among ``boxes`` (None: not among them)."""
    where = {b: i for i, b in enumerate(boxes)}
    return tuple(where.get(Box(WORK - b.x1, b.y0, WORK - b.x0, b.y1)) for b in boxes)


def region_grids(
    work: F32Array, regions: Mapping[str, tuple[float, float, float, float]] = DEFAULT_REGIONS
) -> F32Array:
    """``(N, R, GRID, GRID)``: the grid of each region (in ``regions``' order) of working pictures ``work``."""
    boxes = _boxes(tuple(regions.items()))
    out = np.empty((len(work), len(boxes), GRID, GRID), np.float32)
    for i, b in enumerate(boxes):
        out[:, i] = _to_grid(work[:, b.y0 : b.y1, b.x0 : b.x1])
    return out


def _coefficients(grids: F32Array) -> tuple[F32Array, npt.NDArray[np.int64]]:
    """PDQ's 16 x 16 DCT coefficients ``(M, 256)`` (row-major: vertical then horizontal frequency) and quality
    ``(M,)`` of 64 x 64 grids ``(M, GRID, GRID)``."""
    m = len(grids)
    coeffs = np.empty((m, 256), np.float32)
    quality = np.empty(m, np.int64)
    scale = np.float32(100.0 / 255.0)
    for a in range(0, m, _CHUNK):
        g = grids[a : a + _CHUNK]
        c = len(g)
        # pdqhash: each gradient |d| * 100 / 255 truncated to an integer, summed, divided by 90, capped at 100
        d_rows = np.trunc(np.abs(g[:, :-1, :] - g[:, 1:, :]) * scale).sum(axis=(1, 2), dtype=np.float64)
        d_cols = np.trunc(np.abs(g[:, :, :-1] - g[:, :, 1:]) * scale).sum(axis=(1, 2), dtype=np.float64)
        quality[a : a + c] = np.minimum(100, (d_rows + d_cols).astype(np.int64) // 90)
        half = (g.reshape(c * GRID, GRID) @ _DCT_T).reshape(c, GRID, 16)  # G @ D.T
        dct_t = (half.transpose(0, 2, 1).reshape(c * 16, GRID) @ _DCT_T).reshape(c, 16, 16)  # (D @ G @ D.T).T
        coeffs[a : a + c] = dct_t.transpose(0, 2, 1).reshape(c, 256)
    return coeffs, quality


def _bits(coeffs: F32Array) -> npt.NDArray[np.uint8]:
    """PDQ's bits: each coefficient above the median of its 256."""
    median = np.partition(coeffs, 127, axis=1)[:, 127:128]
    return np.packbits((coeffs > median)[:, _BITS_ORDER], axis=1)


#: A grid mirrored left-right has the same DCT coefficients with the sign of the odd horizontal frequencies
#: flipped (PDQ's coefficients start at frequency 1: the even column indices).
_MIRROR_SIGNS = np.tile(np.where(np.arange(16) % 2 == 0, -1.0, 1.0).astype(np.float32), 16)


def hash_grids(grids: F32Array) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """PDQ bits ``(..., 32)`` and quality ``(...)`` of 64 x 64 grids ``(..., GRID, GRID)`` (0-255 scale)."""
    lead = grids.shape[:-2]
    with _one_blas_thread():
        coeffs, quality = _coefficients(np.ascontiguousarray(grids, dtype=np.float32).reshape(-1, GRID, GRID))
    return _bits(coeffs).reshape(*lead, 32), quality.reshape(lead)


def grid_hashes(
    images: Sequence[npt.NDArray[np.uint8]] | npt.NDArray[np.uint8],
    box: Box | None = None,
    mirror: bool = False,
    regions: Mapping[str, tuple[float, float, float, float]] = DEFAULT_REGIONS,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Hashes ``(N, R, 32)`` and quality ``(N, R)`` of the ``regions`` of grey frames cut to ``box`` (with
    ``mirror``: ``2R``, the mirror images' regions following: a region of the mirror image whose mirror region is
    one of the regions costs no DCT, only :data:`_MIRROR_SIGNS`)."""
    r = len(regions)
    if not len(images):
        k = r * (2 if mirror else 1)
        return np.zeros((0, k, 32), np.uint8), np.zeros((0, k), np.int64)
    with _one_blas_thread():
        return _grid_hashes(working(images, box), regions, mirror)


def _grid_hashes(
    work: F32Array, regions: Mapping[str, tuple[float, float, float, float]], mirror: bool
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    r = len(regions)
    n = len(work)
    coeffs, quality = _coefficients(region_grids(work, regions).reshape(n * r, GRID, GRID))
    coeffs, quality = coeffs.reshape(n, r, 256), quality.reshape(n, r)
    if mirror:
        partners = _mirror_of(_boxes(tuple(regions.items())))
        mc = np.empty_like(coeffs)
        mq = np.empty_like(quality)
        for i, m in enumerate(partners):
            if m is not None:
                mc[:, i] = coeffs[:, m] * _MIRROR_SIGNS
                mq[:, i] = quality[:, m]
        missing = [i for i, m in enumerate(partners) if m is None]
        if missing:  # regions whose mirror is not a region: the mirror images' own grids
            flipped = region_grids(np.ascontiguousarray(work[:, :, ::-1]), regions)[:, missing]
            c2, q2 = _coefficients(flipped.reshape(-1, GRID, GRID))
            mc[:, missing], mq[:, missing] = c2.reshape(n, len(missing), 256), q2.reshape(n, len(missing))
        coeffs, quality = np.concatenate([coeffs, mc], axis=1), np.concatenate([quality, mq], axis=1)
    k = coeffs.shape[1]
    return _bits(coeffs.reshape(n * k, 256)).reshape(n, k, 32), quality


class GridHasher:
    """The engine's frame hasher: PDQ's DCT hash of area-averaged grids (this module), 256 bits with a quality.

    A :class:`~provenance.engine.fingerprint.base.FrameHasher` (``compute``, ``distance``) and a
    :class:`~provenance.engine.fingerprint.base.QualityHasher` of whole grey frames; :meth:`regions` hashes
    fixed regions of many frames at once (and their mirror images), which is how the engine fingerprints
    references and clips. Registered as ``pdq-grid``.
    """

    name = "pdq-grid"
    version = "1"
    bits = 256

    def compute_with_quality(self, images: Images) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
        """Hashes ``(N, 32)`` and qualities ``(N,)`` of whole grey frames (RGB frames are taken as their luma)."""
        grey = [
            im if im.ndim == 2 else np.asarray(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), np.uint8)
            for im in as_image_list(images)
        ]
        h, q = self.regions(grey, regions=_WHOLE)
        return h[:, 0], q[:, 0]

    def compute(self, images: Images) -> npt.NDArray[np.uint8]:
        return self.compute_with_quality(images)[0]

    def distance(self, a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.int64]:
        return hamming(a, b)

    def regions(
        self,
        images: Sequence[npt.NDArray[np.uint8]] | npt.NDArray[np.uint8],
        box: Box | None = None,
        mirror: bool = False,
        regions: Mapping[str, tuple[float, float, float, float]] = DEFAULT_REGIONS,
    ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
        """:func:`grid_hashes`: ``(N, R, 32)`` hashes and ``(N, R)`` quality of the regions (mirrors after)."""
        return grid_hashes(images, box, mirror, regions)

    def __repr__(self) -> str:
        return f"GridHasher(version={self.version!r})"


_WHOLE = {"whole": DEFAULT_REGIONS["whole"]}

register_hasher(GridHasher.name, GridHasher)
