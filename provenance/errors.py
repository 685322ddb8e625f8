"""Errors raised by the ``provenance`` engine and audit.

Hierarchy (catch the base class to handle any of them)::

    ProvenanceError
    ├── ConfigError        a setting or parameter is out of range
    ├── DecodeError        a file cannot be opened or decoded as media
    │   └── NotMediaError  the file is neither a video nor a still image
    ├── FingerprintError   a fingerprint cannot be computed or compared
    ├── IndexError_        the match index is inconsistent or misused
    └── ScanError          a dataset scan cannot start or go on

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


class IndexError_(ProvenanceError):
    """The match index is inconsistent or used with incompatible fingerprints."""


class ScanError(ProvenanceError):
    """A dataset scan cannot start or go on."""


def check_ranges(params: object, checks: Iterable[tuple[str, bool]]) -> None:
    """Raise :class:`ConfigError` naming the first field of ``params`` whose check is False.

    ``checks`` pairs a field name with whether its value is in range; the message reads
    ``"<Class>.<field> out of range: <value>"``.
    """
    for name, ok in checks:
        if not ok:
            raise ConfigError(f"{type(params).__name__}.{name} out of range: {getattr(params, name)!r}")
