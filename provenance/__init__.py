"""provenance: audit AI training video datasets for registered copyrighted works, per layer.

The packages, in the order data flows (docs/architecture.md): :mod:`provenance.dataset` (what a scan
reads), :mod:`provenance.media` (probe, decode), :mod:`provenance.engine` (fingerprints, index, matching;
pure), :mod:`provenance.audit` (one clip with the cache, the scan, executors, the service's operations),
:mod:`provenance.report` (the typed report and its outputs), :mod:`provenance.cli`.
"""

from __future__ import annotations

from provenance.errors import (
    ConfigError,
    DecodeError,
    EmptyRegistryError,
    FingerprintError,
    HashIndexError,
    NotMediaError,
    ProvenanceError,
    ReferenceChangedError,
    ScanError,
    SourceError,
)

__version__ = "0.1.0"
ENGINE_NAME = "provenance"

__all__ = [
    "ENGINE_NAME",
    "ConfigError",
    "DecodeError",
    "EmptyRegistryError",
    "FingerprintError",
    "HashIndexError",
    "NotMediaError",
    "ProvenanceError",
    "ReferenceChangedError",
    "ScanError",
    "SourceError",
    "__version__",
]
