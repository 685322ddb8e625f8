"""Errors raised by the rights registry.

Hierarchy::

    RegistryError
    ├── ManifestError     a manifest file is malformed or names something invalid
    ├── MediaProbeError   a reference file is not readable media (raised by probes)
    ├── NotFoundError     a holder, work or reference does not exist
    └── StoreError        the database cannot be opened, migrated or written

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
