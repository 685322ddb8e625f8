"""Frame fingerprints: perceptual hashes of whole frames and of fixed regions, border trimming.

Every hasher is a :class:`FrameHasher` (name, version, bits, ``compute``,
``distance``) and is found by name in :data:`HASHERS` / :func:`get_hasher`:
``"phash"`` (64 bits, imagehash-compatible, batch numpy DCT) and ``"pdq"``
(256 bits, with quality and dihedral hashes). Hashes are packed bits
``(N, bits // 8)`` uint8; distances are Hamming.
"""

from __future__ import annotations

from provenance.engine.fingerprint.base import (
    HASHERS,
    FrameHasher,
    QualityHasher,
    get_hasher,
    hamming,
    hamming_matrix,
    register_hasher,
)
from provenance.engine.fingerprint.pdq import DIHEDRAL_NAMES, MIRROR, PDQ, PDQParams
from provenance.engine.fingerprint.phash import PHash, phash_arrays32, phash_images
from provenance.engine.fingerprint.regions import (
    DEFAULT_REGIONS,
    BorderParams,
    Box,
    RegionHasher,
    detect_borders,
    frame_borders,
    region_boxes,
    trim,
)

__all__ = [
    "DEFAULT_REGIONS",
    "DIHEDRAL_NAMES",
    "HASHERS",
    "MIRROR",
    "PDQ",
    "BorderParams",
    "Box",
    "FrameHasher",
    "PDQParams",
    "PHash",
    "QualityHasher",
    "RegionHasher",
    "detect_borders",
    "frame_borders",
    "get_hasher",
    "hamming",
    "hamming_matrix",
    "phash_arrays32",
    "phash_images",
    "region_boxes",
    "register_hasher",
    "trim",
]
