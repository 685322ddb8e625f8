"""Errors of the dataset package.

Hierarchy (all are :class:`provenance.errors.ScanError`)::

    ScanError
    ├── SourceError   the dataset (or a report clip to resolve) cannot be read at all: raised to the caller
    ├── ShardBroken   a tar shard is cut short or corrupt: after its good members, the shard is a BadEntry
    └── RowError      a manifest row gives no clip: it is a BadEntry naming the manifest and line

Only :class:`SourceError` leaves :func:`provenance.dataset.iter_sources` and
:func:`provenance.dataset.resolve`; the other two are turned into
:class:`~provenance.dataset.entries.BadEntry` messages inside the package.
"""

from __future__ import annotations

from provenance.errors import ScanError

__all__ = ["RowError", "ShardBroken", "SourceError"]


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
