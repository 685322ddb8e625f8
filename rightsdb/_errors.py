"""Errors raised by the rights registry.

Hierarchy::

    RegistryError
    ├── ManifestError     a manifest file is malformed or names something invalid
    ├── MediaProbeError   a reference file is not readable media (raised by probes)
    ├── NotFoundError     a holder, work or reference does not exist
    ├── ConflictError     an entry exists already (create) or is still in use (delete)
    ├── StoreError        the database cannot be opened, migrated or written
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


class ConflictError(RegistryError):
    """The entry exists already (create) or is still in use (delete)."""


class JobError(RegistryError):
    """A running scan job must stop: raised inside its callbacks, caught by its runner."""


class JobCancelled(JobError):
    """Raised inside a running scan's callbacks when its job was cancelled."""


class LeaseLost(JobError):
    """Raised to a runner whose job is not its own any more (its lease expired and another runner took the job
    over, or the job was finished or released meanwhile): it must stop without writing."""
