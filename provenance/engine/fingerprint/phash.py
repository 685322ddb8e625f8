"""pHash, vectorised over batches and bit-compatible with ``imagehash.phash``.

``imagehash.phash(image)`` (``hash_size=8, highfreq_factor=4``) does::

    pixels = image.convert("L").resize((32, 32), LANCZOS)
    dct = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)   # unnormalised DCT-II
    low = dct[:8, :8];  bits = low > median(low)                          # row-major, 64 bits

Here the DCT is two batched matrix products with a precomputed 8x32 slice of
the DCT-II matrix (only the 8 lowest frequencies are ever used), over chunks of
256 frames, so a few microseconds a frame or less. Given the same 32x32 grey input
the bits are identical to imagehash's (floating-point order differs only at the
1e-12 level, which matters only when the two middle coefficients tie, i.e. for
flat images). Packed hashes read like ``str(imagehash.phash(img))`` in hex.

Entry points:

* :func:`phash_images` - PIL images, with imagehash's exact preprocessing;
* :func:`phash_arrays32` - fast path from a ``(N, 32, 32)`` grey batch (e.g. frames
  decoded straight to 32x32 by :mod:`provenance.decode`);
* :class:`PHash` - the :class:`~provenance.fingerprint.base.FrameHasher`: 32x32
  grey batches go the fast path, anything else through imagehash's preprocessing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
from PIL import Image

from provenance.errors import FingerprintError
from provenance.engine.fingerprint.base import Images, as_image_list, hamming, register_hasher

log = logging.getLogger(__name__)

__all__ = ["DCT_LOW", "HASH_SIZE", "IMG_SIZE", "PHash", "phash_arrays32", "phash_images", "to_gray32"]

HASH_SIZE = 8
IMG_SIZE = 32  # hash_size * highfreq_factor


def _dct_low(n: int = IMG_SIZE, k: int = HASH_SIZE) -> npt.NDArray[np.float64]:
    """Rows 0..k-1 of scipy.fftpack's unnormalised DCT-II matrix: ``2 cos(pi k (2m + 1) / 2n)``."""
    kk = np.arange(k, dtype=np.float64)[:, None]
    mm = np.arange(n, dtype=np.float64)[None, :]
    return 2.0 * np.cos(np.pi * kk * (2.0 * mm + 1.0) / (2.0 * n))


#: (8, 32) low-frequency DCT-II rows; ``low = D @ X @ D.T``.
DCT_LOW: npt.NDArray[np.float64] = _dct_low()
_DCT_LOW_T = np.ascontiguousarray(DCT_LOW.T)
_CHUNK = 256


def phash_arrays32(batch: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """pHash of a ``(N, 32, 32)`` grey batch (any real dtype) -> ``(N, 8)`` packed bits."""
    x = np.asarray(batch)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1:] != (IMG_SIZE, IMG_SIZE):
        raise FingerprintError(f"phash_arrays32 wants (N, 32, 32), got {x.shape}")
    n = x.shape[0]
    out = np.empty((n, HASH_SIZE * HASH_SIZE // 8), dtype=np.uint8)
    # chunks keep the float64 working set in cache: ~10x faster than one huge batch
    for i in range(0, n, _CHUNK):
        out[i : i + _CHUNK] = _phash_chunk(x[i : i + _CHUNK])
    return out


def _phash_chunk(x: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
    m = x.shape[0]
    xf = x.astype(np.float64)
    low = np.matmul(np.matmul(DCT_LOW, xf), _DCT_LOW_T).reshape(m, HASH_SIZE * HASH_SIZE)
    part = np.partition(low, (31, 32), axis=1)
    med = 0.5 * (part[:, 31:32] + part[:, 32:33])
    return np.packbits(low > med, axis=1)


def _pil_gray32(im: Image.Image) -> npt.NDArray[np.uint8]:
    return np.asarray(im.convert("L").resize((IMG_SIZE, IMG_SIZE), Image.Resampling.LANCZOS), dtype=np.uint8)


def phash_images(images: Iterable[Image.Image]) -> npt.NDArray[np.uint8]:
    """pHash of PIL images with imagehash's preprocessing (``convert("L")``, LANCZOS to 32x32)."""
    grays = [_pil_gray32(im) for im in images]
    if not grays:
        return np.zeros((0, 8), dtype=np.uint8)
    return phash_arrays32(np.stack(grays))


def to_gray32(images: Images) -> npt.NDArray[np.uint8]:
    """imagehash's preprocessing on arrays -> ``(N, 32, 32)`` uint8; 32x32 grey inputs pass as they are."""
    if (
        isinstance(images, np.ndarray)
        and images.dtype == np.uint8
        and images.ndim == 3
        and images.shape[1:] == (IMG_SIZE, IMG_SIZE)
    ):
        return images
    out = []
    for arr in as_image_list(images):
        if arr.ndim == 2 and arr.shape == (IMG_SIZE, IMG_SIZE):
            out.append(arr)
        else:
            out.append(_pil_gray32(Image.fromarray(np.ascontiguousarray(arr))))
    if not out:
        return np.zeros((0, IMG_SIZE, IMG_SIZE), dtype=np.uint8)
    return np.stack(out)


class PHash:
    """64-bit DCT perceptual hash (imagehash.phash-compatible). Match threshold ~10 of 64 bits."""

    name = "phash"
    version = "1"  # bump when the bits change
    bits = 64

    def compute(self, images: Images) -> npt.NDArray[np.uint8]:
        return phash_arrays32(to_gray32(images))

    def distance(self, a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.int64]:
        return hamming(a, b)

    def __repr__(self) -> str:
        return f"PHash(version={self.version!r})"


register_hasher("phash", PHash)
