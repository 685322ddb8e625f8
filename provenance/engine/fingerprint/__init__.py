"""Frame fingerprints: the frame-hasher interface, the engine's grid hasher, border trimming and fixed regions.

Every hasher is a :class:`FrameHasher` (name, version, bits, ``compute``, ``distance``) found by name in
:data:`HASHERS` / :func:`get_hasher`. The engine's is ``pdq-grid`` (:class:`GridHasher`: PDQ's DCT hash of
area-averaged grids, 256 bits with quality, many regions of many frames at once). Hashes are packed bits
``(N, bits // 8)`` uint8; distances are Hamming.
"""

from provenance.engine.fingerprint.base import (
    HASHERS,
    FrameHasher,
    QualityHasher,
    get_hasher,
    hamming,
    hamming_matrix,
    register_hasher,
)
from provenance.engine.fingerprint.grids import GridHasher, grid_hashes
from provenance.engine.fingerprint.regions import (
    DEFAULT_REGIONS,
    BorderParams,
    BorderStats,
    Box,
    detect_borders,
    frame_borders,
    region_boxes,
    trim,
)

__all__ = [
    "DEFAULT_REGIONS",
    "HASHERS",
    "BorderParams",
    "BorderStats",
    "Box",
    "FrameHasher",
    "GridHasher",
    "QualityHasher",
    "detect_borders",
    "frame_borders",
    "get_hasher",
    "grid_hashes",
    "hamming",
    "hamming_matrix",
    "region_boxes",
    "register_hasher",
    "trim",
]
