"""rightsdb: the rights registry (holders, works in layers, policies, references, fingerprints, scan results).

It knows nothing of HTTP or of how media is decoded: a media probe is passed in
by the caller (see :data:`rightsdb.manifest.MediaProbe`).
"""

from __future__ import annotations

from ._errors import (
    ConflictError,
    DatabaseFull,
    DatabaseLocked,
    DatabaseReadOnly,
    DatabaseUnavailable,
    JobCancelled,
    JobError,
    LeaseLost,
    ManifestError,
    MediaProbeError,
    NotFoundError,
    RegistryError,
    StoreError,
)
from ._files import atomic_write_bytes, atomic_write_text, sha256_file
from .exports import export_manifest, policy_dict, registry_digest, snapshot
from .faults import store_fault
from .imports import import_manifest
from .manifest import ID_PATTERN, ImportReport, Manifest, MediaFacts, MediaProbe, load_manifest
from .models import (
    AiTraining,
    ClipResult,
    Finding,
    Fingerprint,
    Holder,
    HolderKind,
    Layer,
    Reference,
    ReferenceKind,
    Scan,
    Work,
)
from .store import DEFAULT_URL, Registry, head_revision, normalize_url

__all__ = [
    "DEFAULT_URL",
    "ID_PATTERN",
    "AiTraining",
    "ClipResult",
    "ConflictError",
    "DatabaseFull",
    "DatabaseLocked",
    "DatabaseReadOnly",
    "DatabaseUnavailable",
    "Finding",
    "Fingerprint",
    "Holder",
    "HolderKind",
    "ImportReport",
    "JobCancelled",
    "JobError",
    "Layer",
    "LeaseLost",
    "Manifest",
    "ManifestError",
    "MediaFacts",
    "MediaProbe",
    "MediaProbeError",
    "NotFoundError",
    "Reference",
    "ReferenceKind",
    "Registry",
    "RegistryError",
    "Scan",
    "StoreError",
    "Work",
    "atomic_write_bytes",
    "atomic_write_text",
    "export_manifest",
    "head_revision",
    "import_manifest",
    "load_manifest",
    "normalize_url",
    "policy_dict",
    "registry_digest",
    "sha256_file",
    "snapshot",
    "store_fault",
]
