"""The errors of the ``provenance`` package, every stage's in one tree.

Hierarchy (catch the base class to handle any of them)::

    ProvenanceError
    ├── ConfigError         a setting or parameter is out of range
    ├── DecodeError         a file cannot be opened or decoded as media (media)
    │   └── NotMediaError   the file is neither a video nor a still image
    ├── FingerprintError    a fingerprint cannot be computed or compared (engine)
    ├── HashIndexError      a hash index is given hashes of the wrong shape or width (engine)
    ├── PackError           a rights pack is unreadable, not intact, badly signed or of another version (audit)
    └── ScanError           a dataset scan cannot start or go on (audit)
        ├── EmptyRegistryError     the registry holds no reference: nothing could be found, nothing cleared
        ├── ReferenceChangedError  a reference's file is missing or no longer what was imported (sha256)
        ├── SourceError     a dataset, or a report clip to resolve, cannot be read at all (dataset)
        ├── ShardBroken     a tar shard is cut short or corrupt (dataset: its entry becomes a BadEntry)
        └── RowError        a manifest row gives no clip (dataset: its entry becomes a BadEntry)

The registry's errors are :mod:`rightsdb`'s own tree (``RegistryError``); the service's answers are
:mod:`api.problems`'.

Messages are one line and name the file, entry or field at fault. Exit codes
are chosen only by the CLI and HTTP status codes only by ``api``.
"""

from __future__ import annotations

from collections.abc import Iterable


class ProvenanceError(Exception):
    """Base class of every error the engine and the audit raise on purpose."""


class ConfigError(ProvenanceError, ValueError):
    """A setting or algorithm parameter is invalid."""


class DecodeError(ProvenanceError):
    """A media file cannot be opened or decoded (corrupt, truncated, unreadable)."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class NotMediaError(DecodeError):
    """The file is neither a video nor a still image."""


class FingerprintError(ProvenanceError):
    """A fingerprint cannot be computed or compared (wrong algorithm, version or shape)."""


class HashIndexError(ProvenanceError):
    """A hash index is given hashes of the wrong shape, type or width."""


class IndexStoreError(ProvenanceError):
    """A reference index directory cannot be opened: incomplete, of another format or engine settings, or
    damaged (it is then built again from the registry, never used half-read)."""


class PackError(ProvenanceError):
    """A rights pack cannot be read, is not intact (a member changed, missing or added, a checksum that does not
    match), is not signed by the expected key, or was made for another fingerprint version or pack format."""


class ScanError(ProvenanceError):
    """A dataset scan cannot start or go on."""


class EmptyRegistryError(ScanError):
    """The registry holds no reference: a scan against it would find nothing and clear every clip (fail-safe:
    refused unless asked for, and then nothing is cleared)."""


class ReferenceChangedError(ScanError):
    """A reference's file is missing, or its content (sha256) is no longer the one imported: matching against it
    could miss its work, so nothing is matched (fail-safe). The message names the work, the reference and what
    to do."""


class SourceError(ScanError):
    """A dataset (or a report clip to resolve) cannot be read at all: missing, of unknown kind, unreadable."""


class ShardBroken(ScanError):
    """The shard is cut short or corrupt; ``args[0]`` says where (after the good members)."""


class RowError(ScanError):
    """A manifest row that gives no clip; ``where`` names the manifest and line (row for Parquet).

    The message is ``"<where>: <reason>"`` (``manifest.jsonl line 7: field 'path' is missing``).
    """

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


def check_ranges(params: object, checks: Iterable[tuple[str, bool]]) -> None:
    """Raise :class:`ConfigError` naming the first field of ``params`` whose check is False.

    ``checks`` pairs a field name with whether its value is in range; the message reads
    ``"<Class>.<field> out of range: <value>"``.
    """
    for name, ok in checks:
        if not ok:
            raise ConfigError(f"{type(params).__name__}.{name} out of range: {getattr(params, name)!r}")
