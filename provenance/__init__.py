"""provenance: audit AI training video datasets for registered copyrighted works, per layer."""

from __future__ import annotations

from ._errors import (
    ConfigError,
    DecodeError,
    FingerprintError,
    IndexError_,
    NotMediaError,
    ProvenanceError,
    ScanError,
)
from .frames import Frame
from .media import MediaInfo, probe

__version__ = "0.1.0"
ENGINE_NAME = "provenance"

__all__ = [
    "ENGINE_NAME",
    "ConfigError",
    "DecodeError",
    "FingerprintError",
    "Frame",
    "IndexError_",
    "MediaInfo",
    "NotMediaError",
    "ProvenanceError",
    "ScanError",
    "__version__",
    "probe",
]
