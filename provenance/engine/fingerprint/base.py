"""The frame-hasher interface, Hamming distances on packed bits, and the hasher registry.

A hash of ``bits`` bits is stored packed as ``bits // 8`` bytes, most
significant bit first within each byte (the order of :func:`numpy.packbits`),
so the hex of the bytes reads like the bit string. A batch of ``N`` hashes is a
``(N, bits // 8)`` ``uint8`` array.

Images given to :meth:`FrameHasher.compute` are ``uint8``: a sequence of
``(H, W)`` grey or ``(H, W, 3)`` RGB arrays (sizes may differ), or one array
batch ``(N, H, W)`` / ``(N, H, W, 3)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from provenance.errors import FingerprintError

__all__ = [
    "HASHERS",
    "POPCOUNT",
    "FrameHasher",
    "Images",
    "QualityHasher",
    "as_image_list",
    "get_hasher",
    "hamming",
    "hamming_matrix",
    "register_hasher",
]

Images = Sequence[npt.NDArray[np.uint8]] | npt.NDArray[np.uint8]

#: popcount of every byte value.
POPCOUNT: npt.NDArray[np.uint8] = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(
    axis=1, dtype=np.uint8
)


@runtime_checkable
class FrameHasher(Protocol):
    """A perceptual hash of whole images. Small on purpose: name, version, size, compute, distance."""

    name: str
    version: str
    bits: int

    def compute(self, images: Images) -> npt.NDArray[np.uint8]:
        """Hash each image; returns ``(N, bits // 8)`` packed bits."""
        ...

    def distance(self, a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Hamming distance, broadcasting over leading axes (see :func:`hamming`)."""
        ...


@runtime_checkable
class QualityHasher(Protocol):
    """A capability: hashers that also rate how informative each image is (0-100)."""

    def compute_with_quality(self, images: Images) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]: ...


def _as_packed(x: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    arr = np.asarray(x)
    if arr.dtype != np.uint8:
        raise FingerprintError(f"packed hashes must be uint8, got {arr.dtype}")
    if arr.ndim == 0:
        raise FingerprintError("packed hashes need at least one axis (the bytes)")
    return arr


def hamming(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Hamming distance of packed hashes, broadcasting over all but the last (byte) axis.

    ``(B,)`` vs ``(M, B)`` gives ``(M,)`` (one against many); ``(N, B)`` vs
    ``(N, B)`` gives ``(N,)`` (pairwise rows); ``(N, 1, B)`` vs ``(M, B)``
    gives ``(N, M)``. Raises :class:`FingerprintError` when byte counts differ.
    """
    x, y = _as_packed(a), _as_packed(b)
    if x.shape[-1] != y.shape[-1]:
        raise FingerprintError(f"hash sizes differ: {x.shape[-1]} vs {y.shape[-1]} bytes")
    try:
        xor = np.bitwise_xor(x, y)
    except ValueError as exc:
        raise FingerprintError(f"hash batches do not broadcast: {x.shape} vs {y.shape}") from exc
    out: npt.NDArray[np.int64] = POPCOUNT[xor].sum(axis=-1, dtype=np.int64)
    return out


def hamming_matrix(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """All-pairs Hamming distances: ``(N, B)`` x ``(M, B)`` -> ``(N, M)``."""
    x, y = _as_packed(a), _as_packed(b)
    if x.ndim != 2 or y.ndim != 2:
        raise FingerprintError(f"hamming_matrix wants 2-D batches, got {x.shape} and {y.shape}")
    return hamming(x[:, None, :], y[None, :, :])


def as_image_list(images: Images) -> list[npt.NDArray[np.uint8]]:
    """Validate ``images`` and return them as a list of 2-D grey or 3-D RGB uint8 arrays."""
    if isinstance(images, np.ndarray):
        if images.ndim == 2 or (images.ndim == 3 and images.shape[-1] == 3 and images.shape[0] > 3):
            raise FingerprintError(
                f"an array batch must be (N, H, W) or (N, H, W, 3); got {images.shape} - wrap one image in a list"
            )
        items = list(images)
    else:
        items = list(images)
    out: list[npt.NDArray[np.uint8]] = []
    for i, im in enumerate(items):
        arr = np.asarray(im)
        if arr.dtype != np.uint8:
            raise FingerprintError(f"image {i}: dtype must be uint8, got {arr.dtype}")
        if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
            raise FingerprintError(f"image {i}: shape must be (H, W) or (H, W, 3), got {arr.shape}")
        if arr.shape[0] < 1 or arr.shape[1] < 1:
            raise FingerprintError(f"image {i}: empty image {arr.shape}")
        out.append(arr)
    return out


#: name -> zero-argument factory of the hasher with default parameters.
HASHERS: dict[str, Callable[[], FrameHasher]] = {}


def register_hasher(name: str, factory: Callable[[], FrameHasher]) -> None:
    """Add a hasher factory under ``name`` (replacing one of the same name)."""
    HASHERS[name] = factory


def get_hasher(name: str) -> FrameHasher:
    """A hasher by name (``"phash"``, ``"pdq"``); :class:`FingerprintError` if unknown."""
    try:
        factory = HASHERS[name]
    except KeyError:
        raise FingerprintError(f"unknown hasher {name!r} (have: {sorted(HASHERS)})") from None
    return factory()
