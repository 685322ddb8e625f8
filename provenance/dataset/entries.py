"""What a dataset listing yields: a :class:`ClipSource` per clip, a :class:`BadEntry` per broken entry."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from provenance.dataset.paths import os_reason
from provenance.dataset.tarfiles import open_member
from provenance.errors import DecodeError
from provenance.media.files import open_regular
from provenance.media.probe import IMAGE_SUFFIXES, VIDEO_SUFFIXES

__all__ = ["MEDIA_SUFFIXES", "BadEntry", "ClipSource", "Entry"]

#: File suffixes read as clips (videos and still images; content decides what they are).
MEDIA_SUFFIXES = VIDEO_SUFFIXES | IMAGE_SUFFIXES

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ClipSource:
    """One clip of a dataset: a file, or a member of a tar shard, with the metadata listed for it.

    ``rel`` is the report's ``path``; ``location`` the file on disk, or the shard holding
    ``member``; ``offset`` the member's header offset in the shard when known (opening is then
    one seek instead of a walk over the shard's headers); ``size`` the member's size in bytes
    when listed from the shard (a plain file's size is its ``stat``). Equality and hashing use
    ``rel``, ``location`` and ``member`` only. Plain data: it pickles to worker processes.
    """

    rel: str
    location: Path
    member: str | None = None
    metadata: Mapping[str, Any] | None = field(default=None, compare=False)
    offset: int | None = field(default=None, compare=False)
    size: int | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        """What error messages call the clip: its ``rel`` (``shards/000.tar/clip1.mp4`` for a member)."""
        return self.rel

    @property
    def suffix(self) -> str:
        """Lower-case suffix of the file or member name (``.mp4``)."""
        return PurePosixPath(self.member).suffix.lower() if self.member is not None else self.location.suffix.lower()

    @property
    def local_file(self) -> Path | None:
        """The plain file holding exactly the clip's bytes (decoders read it by path), or None for a member."""
        return self.location if self.member is None else None

    def open(self) -> BinaryIO:
        """A binary, seekable file object of the clip's bytes (a member is read in place, never copied).

        Raises :class:`DecodeError` naming the clip when it cannot be read.
        """
        if self.member is None:
            try:
                return open_regular(self.location)  # a FIFO or a device is refused, never waited on
            except OSError as exc:
                raise DecodeError(self.name, f"cannot read file: {os_reason(self.location, exc)}") from exc
        return open_member(self.location, self.member, self.offset, self.name)

    def sha256(self) -> str:
        """Hex sha256 of the clip's bytes (a member's own bytes), streamed in 1 MiB chunks."""
        digest = hashlib.sha256()
        with self.open() as fh:
            try:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
            except OSError as exc:
                raise DecodeError(self.name, f"cannot read file: {exc.strerror or exc}") from exc
        return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class BadEntry:
    """A dataset entry broken before any clip can be read from it; ``error`` is one line naming it.

    ``outside_roots`` is set when the entry is a clip that ``allowed_roots`` confinement refused (its
    file resolves outside every root), so callers need not read it from the message. ``location`` is the file
    the entry names when it names one (a manifest row naming a FIFO): confinement checks it as a clip's.
    """

    rel: str
    error: str
    metadata: Mapping[str, Any] | None = field(default=None, compare=False)
    outside_roots: bool = field(default=False, compare=False)
    location: Path | None = field(default=None, compare=False)


Entry = ClipSource | BadEntry
