"""The dataset as a whole: which form it is, its clips in order (confined to allowed roots on request), and a
report clip mapped back to its source.

The forms and what each yields are described in :mod:`provenance.dataset`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from provenance.dataset.entries import MEDIA_SUFFIXES, BadEntry, ClipSource, Entry
from provenance.dataset.folders import iter_folder
from provenance.dataset.manifests import iter_manifest
from provenance.dataset.paths import join, os_reason, split_member
from provenance.dataset.shards import iter_shard
from provenance.dataset.tarfiles import members, open_shard
from provenance.errors import ShardBroken, SourceError
from provenance.media.files import file_kind

__all__ = ["MANIFEST_SUFFIXES", "DatasetKind", "dataset_kind", "dataset_root", "iter_sources", "resolve"]

#: Suffixes of manifest files DATASET may be.
MANIFEST_SUFFIXES = frozenset({".jsonl", ".csv", ".parquet"})

DatasetKind = Literal["folder", "shard", "manifest", "clip"]


def dataset_kind(dataset: Path) -> DatasetKind:
    """Which form ``dataset`` is (a folder, a shard, a manifest, or one clip: a file with a media suffix);
    :class:`SourceError` when it is none of them."""
    dataset = Path(dataset)
    if dataset.is_dir():
        return "folder"
    if not dataset.exists():
        raise SourceError(f"{dataset}: no such file or folder")
    suffix = dataset.suffix.lower()
    if suffix in MANIFEST_SUFFIXES | {".tar"} and not dataset.is_file():  # a FIFO, a device: never read
        raise SourceError(f"{dataset}: not a dataset: not a regular file ({file_kind(dataset.stat().st_mode)})")
    if suffix == ".tar":
        return "shard"
    if suffix in MANIFEST_SUFFIXES:
        return "manifest"
    if suffix in MEDIA_SUFFIXES:
        return "clip"
    raise SourceError(
        f"{dataset}: not a dataset: expected a folder, a .tar shard, a manifest "
        f"({', '.join(sorted(MANIFEST_SUFFIXES))}) or a clip ({', '.join(sorted(MEDIA_SUFFIXES))})"
    )


def dataset_root(dataset: Path) -> Path:
    """The folder clip paths are relative to: the folder itself, else the shard's, manifest's or clip's folder."""
    dataset = Path(dataset)
    return dataset if dataset_kind(dataset) == "folder" else dataset.parent


def iter_sources(dataset: Path, *, allowed_roots: Sequence[Path] | None = None) -> Iterator[Entry]:
    """The clips of ``dataset`` (folder, ``.tar`` shard or manifest) and its broken entries, in order.

    Raises :class:`SourceError` now (not on the first ``next``) when the dataset itself cannot be
    read. With ``allowed_roots``, a clip whose file resolves outside every root is a BadEntry
    (with ``outside_roots`` set).
    """
    dataset = Path(dataset)
    kind = dataset_kind(dataset)
    entries: Iterator[Entry]
    if kind == "folder":
        entries = iter_folder(dataset)
    elif kind == "shard":
        entries = iter_shard(dataset, dataset.name)
    elif kind == "clip":
        entries = iter_clip(dataset)
    else:
        entries = iter_manifest(dataset)
    if allowed_roots is None:
        return entries
    return _confined(entries, [Path(r).resolve() for r in allowed_roots])


def iter_clip(path: Path) -> Iterator[Entry]:
    """A single clip given as the dataset: one entry named by its file name (a FIFO or device: a BadEntry)."""
    if not path.is_file():
        yield BadEntry(path.name, f"{path.name}: not a regular file")
    else:
        yield ClipSource(path.name, path)


def resolve(dataset: Path, clip: Mapping[str, Any]) -> ClipSource:
    """The source of a report clip (its ``path``, and ``member`` or ``source.member`` and ``metadata`` if present).

    For a folder or shard dataset the path must stay inside the dataset's folder; for a manifest
    it is taken as listed. Raises :class:`SourceError` when the clip names no path, escapes the
    folder or names a member its shard lacks. A missing plain file is not checked here: opening
    the source says so.
    """
    path = clip.get("path")
    if not isinstance(path, str) or not path:
        raise SourceError(f"report clip has no 'path': {dict(clip)!r:.120}")
    kind = dataset_kind(dataset)
    root = dataset_root(dataset)
    if kind != "manifest" and (PurePosixPath(path).is_absolute() or ".." in PurePosixPath(path).parts):
        raise SourceError(f"{path}: clip path is outside the dataset {dataset}")
    raw_meta = clip.get("metadata")
    metadata = dict(raw_meta) if isinstance(raw_meta, Mapping) else None
    member = clip.get("member")
    if member is None and isinstance(clip.get("source"), Mapping):
        member = clip["source"].get("member")
    split = split_member(root, path, member if isinstance(member, str) else None)
    if split is None:
        return ClipSource(path, join(root, path), metadata=metadata)
    shard, name = split
    offset, size = _find_member(shard, name, path)
    return ClipSource(path, shard, name, metadata, offset, size)


def _confined(entries: Iterator[Entry], roots: list[Path]) -> Iterator[Entry]:
    resolved: dict[Path, bool] = {}
    for entry in entries:
        location = entry.location  # a clip's file, or the file a broken manifest row names
        if location is not None:
            inside = resolved.get(location)
            if inside is None:
                real = location.resolve()
                inside = resolved[location] = any(real.is_relative_to(r) for r in roots)
            if not inside:
                yield BadEntry(
                    entry.rel, f"{entry.rel}: outside the allowed data roots", entry.metadata, outside_roots=True
                )
                continue
        yield entry


def _find_member(shard: Path, name: str, label: str) -> tuple[int, int]:
    """Header offset and size of member ``name`` in ``shard``; :class:`SourceError` naming ``label`` when absent."""
    try:
        raw, size = open_shard(shard)
    except OSError as exc:
        raise SourceError(f"{label}: cannot read shard {shard}: {os_reason(shard, exc)}") from exc
    with raw:
        try:
            for info in members(raw, size):
                if info.name == name:
                    return int(info.offset), int(info.size)
        except ShardBroken as exc:
            raise SourceError(f"{label}: member {name!r} not found before the shard broke: {exc}") from exc
    raise SourceError(f"{label}: no member {name!r} in shard {shard}")
