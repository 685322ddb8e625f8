"""Errors raised by the rights registry.

Hierarchy::

    RegistryError
    ├── ManifestError     a manifest file is malformed or names something invalid
    ├── MediaProbeError   a reference file is not readable media (raised by probes)
    ├── NotFoundError     a holder, work or reference does not exist
    ├── ConflictError     an entry exists already (create) or is still in use (delete)
    ├── StoreError        the database cannot be opened, migrated or written
    │   ├── DatabaseReadOnly     it may be read but not written (permissions, a read-only mount or connection)
    │   ├── DatabaseFull         the disk (or quota, or page limit) is full, or an I/O error
    │   ├── DatabaseLocked       another process holds it too long
    │   └── DatabaseUnavailable  it cannot be opened or reached
    └── JobError          a scan job's runner must stop (raised inside the running scan)
        ├── JobCancelled  the job was cancelled
        └── LeaseLost     the job is not this runner's any more

Messages are one line and name the file, entry and field at fault.
"""

from __future__ import annotations


class RegistryError(Exception):
    """Base class of every error the registry raises on purpose."""


class ManifestError(RegistryError, ValueError):
    """A manifest is invalid. ``str(err)`` is ``FILE: ENTRY: FIELD: message`` (parts present when known)."""

    def __init__(self, file: str, message: str, *, entry: str = "", field: str = "") -> None:
        self.file = file
        self.entry = entry
        self.field = field
        self.message = message
        parts = [p for p in (file, entry, field) if p]
        super().__init__(": ".join([*parts, message]))


class MediaProbeError(RegistryError):
    """A reference file is neither a readable video nor a readable still image."""


class NotFoundError(RegistryError, LookupError):
    """The requested holder, work, reference or scan does not exist."""


class StoreError(RegistryError):
    """The database cannot be opened, migrated or written."""


class DatabaseReadOnly(StoreError):
    """The database may be read but not written: nothing was written."""


class DatabaseFull(StoreError):
    """The database's disk, quota or size limit is full, or the disk failed: the failed write was rolled back."""


class DatabaseLocked(StoreError):
    """Another process held the database longer than the wait allows: the write was not made."""


class DatabaseUnavailable(StoreError):
    """The database cannot be opened (a missing folder, no permission, not a database) or reached (server down)."""


class ConflictError(RegistryError):
    """The entry exists already (create) or is still in use (delete)."""


class JobError(RegistryError):
    """A running scan job must stop: raised inside its callbacks, caught by its runner."""


class JobCancelled(JobError):
    """Raised inside a running scan's callbacks when its job was cancelled."""


class LeaseLost(JobError):
    """Raised to a runner whose job is not its own any more (its lease expired and another runner took the job
    over, or the job was finished or released meanwhile): it must stop without writing."""
