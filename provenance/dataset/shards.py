"""The clips of a WebDataset tar shard: members ``KEY.EXT`` sharing ``KEY`` form a sample.

A sample's media members are clips; a ``KEY.json`` object is their metadata, and small text
members (``KEY.txt``, ``KEY.cls``) are added as strings under their extension. Member names are normalised
(``shard.tar/./a.mp4`` is reported ``shard.tar/a.mp4``); a member whose name escapes the archive
(``../../evil.mp4``, ``/etc/x.mp4``) is a broken entry, its name percent-encoded into one harmless path
component (``shard.tar/%2E%2E%2F%2E%2E%2Fevil%2Emp4``), never a path that leads out of the dataset.
"""

from __future__ import annotations

import json
import logging
import tarfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from urllib.parse import quote

from provenance.dataset.entries import MEDIA_SUFFIXES, BadEntry, ClipSource, Entry
from provenance.dataset.paths import os_reason
from provenance.dataset.tarfiles import member_path, members, open_shard, read_member
from provenance.errors import ShardBroken

log = logging.getLogger(__name__)

__all__ = ["JSON_MAX_BYTES", "SIDECAR_MAX_BYTES", "iter_shard"]

#: Largest text member (``KEY.txt``, ``KEY.cls``) copied into a sample's metadata.
SIDECAR_MAX_BYTES = 4096
#: Largest ``KEY.json`` member read as metadata.
JSON_MAX_BYTES = 1 << 20


def _split_key(member: str) -> tuple[str, str]:
    """WebDataset's sample key and extension: ``a/b.seg.mp4`` -> (``a/b``, ``seg.mp4``)."""
    folder, _, base = member.rpartition("/")
    stem, dot, ext = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), (ext if dot else "")


class _Sample:
    """The members of one WebDataset sample: its media members and the metadata of its sidecars."""

    def __init__(self, key: str | None) -> None:
        self.key = key
        self.media: list[tuple[tarfile.TarInfo, str]] = []  # with the normalised name
        self.metadata: dict[str, Any] = {}
        self.sidecars: dict[str, str] = {}
        self.bad: list[BadEntry] = []

    def add(self, raw: BinaryIO, info: tarfile.TarInfo, name: str, ext: str, shard_rel: str) -> None:
        if PurePosixPath(name).suffix.lower() in MEDIA_SUFFIXES:
            self.media.append((info, name))
        elif ext == "json":
            self._add_json(raw, info, f"{shard_rel}/{name}")
        elif info.size <= SIDECAR_MAX_BYTES and ext:
            try:
                self.sidecars[ext] = read_member(raw, info).decode("utf-8").strip()
            except UnicodeDecodeError:
                log.debug("%s/%s: binary sidecar, not kept as metadata", shard_rel, info.name)

    def _add_json(self, raw: BinaryIO, info: tarfile.TarInfo, rel: str) -> None:
        if info.size > JSON_MAX_BYTES:
            self.bad.append(
                BadEntry(rel, f"{rel}: metadata not read: {info.size} bytes is over the {JSON_MAX_BYTES} byte limit")
            )
            return
        try:
            value = json.loads(read_member(raw, info))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
            self.bad.append(BadEntry(rel, f"{rel}: metadata not read: not JSON ({reason})"))
            return
        self.metadata.update(value if isinstance(value, dict) else {"json": value})

    def entries(self, shard: Path, shard_rel: str) -> Iterator[Entry]:
        meta = {**{k: v for k, v in self.sidecars.items() if k not in self.metadata}, **self.metadata}
        for info, name in self.media:
            yield ClipSource(f"{shard_rel}/{name}", shard, name, dict(meta) if meta else None, info.offset, info.size)
        yield from self.bad


def _escaping(shard_rel: str, name: str) -> BadEntry:
    """The entry of a member whose name leads out of the archive: not read, named by one harmless component."""
    rel = f"{shard_rel}/{quote(name, safe='').replace('.', '%2E')}"
    return BadEntry(
        rel,
        f"{shard_rel}: member {name!r} not read: its name leads out of the archive (absolute, or .. above its root)",
    )


def iter_shard(shard: Path, shard_rel: str) -> Iterator[Entry]:
    """The clips of ``shard`` (named ``shard_rel`` in ``rel``), sample by sample in archive order.

    A shard that cannot be read, or is cut short or corrupt, yields its good members, then one
    BadEntry for the shard saying where it broke.
    """
    try:
        raw, size = open_shard(shard)
    except OSError as exc:
        yield BadEntry(shard_rel, f"{shard_rel}: cannot read shard: {os_reason(shard, exc)}")
        return
    with raw:
        sample = _Sample(None)
        try:
            for info in members(raw, size):
                name = member_path(info.name)
                if name is None:
                    yield _escaping(shard_rel, info.name)
                    continue
                if PurePosixPath(name).name.startswith("."):
                    continue
                key, ext = _split_key(name)
                if key != sample.key:
                    yield from sample.entries(shard, shard_rel)
                    sample = _Sample(key)
                sample.add(raw, info, name, ext, shard_rel)
        except ShardBroken as exc:
            yield from sample.entries(shard, shard_rel)
            yield BadEntry(shard_rel, f"{shard_rel}: {exc}")
            return
        yield from sample.entries(shard, shard_rel)
