"""rightsdb: the rights registry (holders, works in layers, policies, references, fingerprints, scan results).

It knows nothing of HTTP or of how media is decoded: a media probe is passed in
by the caller (see :data:`rightsdb.manifest.MediaProbe`).
"""

from __future__ import annotations

from ._errors import ManifestError, MediaProbeError, NotFoundError, RegistryError, StoreError
from ._files import atomic_write_bytes, atomic_write_text, sha256_file
from .manifest import (
    ImportReport,
    Manifest,
    MediaFacts,
    MediaProbe,
    export_manifest,
    import_manifest,
    load_manifest,
    registry_digest,
    snapshot,
)
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
    "AiTraining",
    "ClipResult",
    "Finding",
    "Fingerprint",
    "Holder",
    "HolderKind",
    "ImportReport",
    "Layer",
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
    "registry_digest",
    "sha256_file",
    "snapshot",
]
