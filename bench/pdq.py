"""PDQ (Meta's 256-bit perceptual hash) through the ``pdqhash`` package, with quality and dihedral hashes: the
hash of the vPDQ-style baselines the benchmarks run beside the product (the product hashes with its own
``pdq-grid``, :mod:`provenance.engine.fingerprint.grids`).

Bits are ``pdqhash``'s hash vector in its order, packed most significant bit
first (32 bytes). Match threshold for whole frames: distance <= 31 of 256
(vPDQ). Quality (0-100) says how much structure the image has; hashes of
images with quality below ~50 (flat, dark frames) match too easily and should
not be trusted.

The 8 dihedral hashes (:meth:`PDQ.compute_dihedral`) are those of the image
transformed by :data:`DIHEDRAL_NAMES`, in that order; ``MIRROR`` (``flip_lr``,
index 5) is the horizontal mirror a re-upload or a stream often applies, so
``hash(np.fliplr(img)) ~= compute_dihedral(img)[:, MIRROR]``. Computing them
costs about the same as one hash.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from provenance.engine.fingerprint.base import Images, as_image_list, hamming
from provenance.errors import ConfigError, FingerprintError

log = logging.getLogger(__name__)

__all__ = ["DIHEDRAL_NAMES", "MIRROR", "PDQ", "PDQParams"]

#: transform of the image whose hash sits at each index of ``compute_dihedral`` (rot = counter-clockwise,
#: as ``np.rot90``; ``flip_ud`` = ``np.flipud``, ``flip_lr`` = ``np.fliplr``, ``transpose`` = swap axes,
#: ``transverse`` = the anti-diagonal transpose).
DIHEDRAL_NAMES: tuple[str, ...] = (
    "identity",
    "rot90",
    "rot180",
    "rot270",
    "flip_ud",
    "flip_lr",
    "transpose",
    "transverse",
)
MIRROR = DIHEDRAL_NAMES.index("flip_lr")


@dataclass(frozen=True, slots=True)
class PDQParams:
    """Parameters of :class:`PDQ`.

    ``max_side``: images whose longer side exceeds it are first shrunk (area
    averaging) to that size; ``None`` hashes them as they are (what the
    reference implementation does; ~20 ms a 720p frame, ~1 ms at 256).
    Shrinking to >= 128 changes only a few bits.
    """

    max_side: int | None = None

    def __post_init__(self) -> None:
        if self.max_side is not None and not (64 <= self.max_side <= 8192):
            raise ConfigError(f"PDQParams.max_side must be None or in [64, 8192], got {self.max_side}")


class PDQ:
    """256-bit PDQ hasher (``pdqhash``). Also a :class:`~provenance.engine.fingerprint.base.QualityHasher`."""

    name = "pdq"
    version = "1"
    bits = 256

    def __init__(self, params: PDQParams | None = None) -> None:
        self.params = params or PDQParams()

    def _prepare(self, arr: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        m = self.params.max_side
        if m is not None and max(arr.shape[:2]) > m:
            import cv2

            h, w = arr.shape[:2]
            s = m / max(h, w)
            size = (max(1, round(w * s)), max(1, round(h * s)))
            arr = np.asarray(cv2.resize(arr, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        if arr.ndim == 2:
            arr = np.stack([arr, arr, arr], axis=-1)
        return np.ascontiguousarray(arr, dtype=np.uint8)

    def compute_with_quality(self, images: Images) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
        """Hashes ``(N, 32)`` and qualities ``(N,)`` (0-100)."""
        import pdqhash

        items = as_image_list(images)
        hashes = np.zeros((len(items), 32), dtype=np.uint8)
        quality = np.zeros(len(items), dtype=np.int64)
        for i, arr in enumerate(items):
            try:
                vec, q = pdqhash.compute(self._prepare(arr))
            except Exception as exc:  # the C extension raises plain exceptions
                raise FingerprintError(f"pdq failed on image {i} {arr.shape}: {exc}") from exc
            hashes[i] = np.packbits(np.asarray(vec, dtype=bool))
            quality[i] = int(q)
        return hashes, quality

    def compute(self, images: Images) -> npt.NDArray[np.uint8]:
        return self.compute_with_quality(images)[0]

    def compute_dihedral(self, images: Images) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
        """The 8 dihedral hashes ``(N, 8, 32)`` (order: :data:`DIHEDRAL_NAMES`) and qualities ``(N,)``."""
        import pdqhash

        items = as_image_list(images)
        hashes = np.zeros((len(items), 8, 32), dtype=np.uint8)
        quality = np.zeros(len(items), dtype=np.int64)
        for i, arr in enumerate(items):
            try:
                vecs, q = pdqhash.compute_dihedral(self._prepare(arr))
            except Exception as exc:
                raise FingerprintError(f"pdq failed on image {i} {arr.shape}: {exc}") from exc
            hashes[i] = np.packbits(np.asarray(vecs, dtype=bool).reshape(8, 256), axis=1)
            quality[i] = int(q)
        return hashes, quality

    def distance(self, a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.int64]:
        return hamming(a, b)

    def __repr__(self) -> str:
        return f"PDQ(version={self.version!r}, max_side={self.params.max_side})"
