"""Which clips of a dataset a scan takes: ``--include``/``--exclude`` globs and ``--limit``, applied to its entries.

A pattern with a ``/`` is matched against the clip's whole ``path`` (POSIX, relative to the dataset, as the report
has it; ``*`` also crosses ``/``); a pattern without one against each component of the path, as ``.gitignore``
does: ``*.mp4`` takes every mp4 clip, ``junk`` every clip below a folder named ``junk``. Matching is
case-sensitive. A clip is taken when it matches some ``include`` (or none is given) and no ``exclude``; ``limit``
then keeps the first N entries in the dataset's order (broken entries count: they are reported like clips).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from itertools import islice
from typing import Any

from provenance.dataset.entries import Entry
from provenance.errors import ConfigError

__all__ = ["Selection"]


@dataclass(frozen=True, slots=True)
class Selection:
    """Globs over clip paths and a count; the default takes every entry."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit must be >= 1, got {self.limit}")
        for pattern in (*self.include, *self.exclude):
            if not pattern or pattern.strip("/") == "":
                raise ConfigError(f"empty include/exclude pattern {pattern!r}")

    @property
    def everything(self) -> bool:
        """True when nothing is left out."""
        return not self.include and not self.exclude and self.limit is None

    def takes(self, path: str) -> bool:
        """Whether the include and exclude patterns take the clip at ``path`` (``limit`` aside)."""
        if self.include and not any(_matches(p, path) for p in self.include):
            return False
        return not any(_matches(p, path) for p in self.exclude)

    def apply(self, entries: Iterable[Entry]) -> Iterator[Entry]:
        """The entries taken, in order; stops reading ``entries`` once ``limit`` are taken."""
        taken = (e for e in entries if self.takes(e.rel))
        return islice(taken, self.limit) if self.limit is not None else iter(taken)

    def as_dict(self) -> dict[str, Any]:
        """What the report's scan facts record of it (only what is set)."""
        out: dict[str, Any] = {}
        if self.include:
            out["include"] = list(self.include)
        if self.exclude:
            out["exclude"] = list(self.exclude)
        if self.limit is not None:
            out["limit"] = self.limit
        return out


def _matches(pattern: str, path: str) -> bool:
    pattern = pattern.strip("/")
    if "/" in pattern:
        return fnmatchcase(path, pattern) or fnmatchcase(path, pattern + "/*")  # a folder: everything below it
    return any(fnmatchcase(part, pattern) for part in path.split("/"))
