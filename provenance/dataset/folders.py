"""The clips of a folder, walked recursively: in each folder its files (sorted by name), then its sub-folders."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from provenance.dataset.entries import MEDIA_SUFFIXES, BadEntry, ClipSource, Entry
from provenance.dataset.paths import os_reason
from provenance.dataset.shards import iter_shard
from provenance.errors import SourceError

log = logging.getLogger(__name__)

__all__ = ["COMPRESSED_SHARD_SUFFIXES", "iter_folder"]

#: Compressed tar shards: reported as BadEntries (seeking inside them means decompressing again).
COMPRESSED_SHARD_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar.zst")


def iter_folder(folder: Path) -> Iterator[Entry]:
    """The clips below ``folder`` and its broken entries, in order.

    Raises :class:`SourceError` now (not on the first ``next``) when the folder itself cannot be listed.
    """
    return _walk(folder, _list_folder_or_fail(folder))


def _list_folder_or_fail(folder: Path) -> list[os.DirEntry[str]]:
    try:
        return _list_folder(folder)
    except OSError as exc:
        raise SourceError(f"{folder}: cannot list folder: {exc.strerror or exc}") from exc


def _list_folder(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as it:
        return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)


def _walk(folder: Path, entries: list[os.DirEntry[str]], rel_dir: str = "") -> Iterator[Entry]:
    """This folder's files, then its sub-folders, each sorted by name (as ``os.walk`` top-down gives them)."""
    subdirs: list[tuple[os.DirEntry[str], str]] = []
    for entry in entries:
        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        try:
            if entry.is_dir(follow_symlinks=False):
                subdirs.append((entry, rel))
                continue
            if entry.is_symlink() and entry.is_dir():
                log.debug("%s: symbolic link to a folder, not followed", rel)
                continue
        except OSError as exc:
            yield BadEntry(rel, f"{rel}: cannot read entry: {exc.strerror or exc}")
            continue
        yield from _folder_file(entry, rel)
    for entry, rel in subdirs:
        try:
            listing = _list_folder(Path(entry.path))
        except OSError as exc:
            yield BadEntry(rel, f"{rel}: cannot list folder: {exc.strerror or exc}")
            continue
        yield from _walk(folder, listing, rel)


def _folder_file(entry: os.DirEntry[str], rel: str) -> Iterator[Entry]:
    lower = entry.name.lower()
    is_shard = lower.endswith(".tar")
    if lower.endswith(COMPRESSED_SHARD_SUFFIXES):
        yield BadEntry(rel, f"{rel}: compressed tar shards are not read; decompress it to a .tar")
        return
    if not is_shard and PurePosixPath(lower).suffix not in MEDIA_SUFFIXES:
        return
    path = Path(entry.path)
    if not entry.is_file():  # follows symbolic links
        if not (entry.is_symlink() and not path.exists()):
            yield BadEntry(rel, f"{rel}: not a regular file")
        elif is_shard:
            yield BadEntry(rel, f"{rel}: cannot read shard: {os_reason(path, FileNotFoundError())}")
        else:
            yield ClipSource(rel, path)  # a broken link is a clip whose reading fails, saying why
        return
    if is_shard:
        yield from iter_shard(path, rel)
    else:
        yield ClipSource(rel, path)
