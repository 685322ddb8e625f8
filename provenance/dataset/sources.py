"""Dataset inputs: the clips a scan reads, listed from a folder, WebDataset tar shards or a manifest.

``iter_sources(DATASET)`` yields one :class:`ClipSource` per clip, in a stable order, and a
:class:`BadEntry` for each entry that is broken before any clip can be read from it (the scan
turns it into an error clip and goes on). DATASET is one of:

1. **a folder**, walked recursively: in each folder its files (sorted by name), then its
   sub-folders (sorted). Hidden entries (``.name``) are skipped; symbolic links to files are
   followed, links to folders are not; a broken link with a media name *is* yielded (its clip
   fails with "broken symbolic link"). Media are recognised by suffix
   (:data:`MEDIA_SUFFIXES`); ``.tar`` files are WebDataset shards (below); other files are
   ignored (manifests in a folder included). A sub-folder that cannot be listed, a FIFO or device
   with a media name and a compressed shard (``.tar.gz`` ...; decompress it) are BadEntries.
   ``rel`` is the POSIX path below the folder.
2. **a ``.tar`` shard** (also inside a folder): members are read in archive order from the
   headers (``tarfile`` in ``"r:"`` mode; nothing is extracted, a member's bytes are read in
   place when its clip is opened). WebDataset convention: members ``KEY.EXT`` sharing ``KEY``
   (the name up to the first dot of its last component) form a sample; its media members are
   clips, a ``KEY.json`` object is their metadata, and small text members (``KEY.txt``,
   ``KEY.cls``, at most :data:`SIDECAR_MAX_BYTES`) are added as strings under their extension
   (``{"txt": "..."}``; the JSON's keys win). ``rel`` is ``<shard rel>/<member name>``
   (``shards/000.tar/sample7.mp4``); a shard given as DATASET is named by its file name.
   A member holding garbage is a normal clip that fails when decoded; a shard cut short or
   corrupt yields its good members, then one BadEntry for the shard saying where it broke.
3. **a manifest** ``.jsonl`` (one JSON object per line), ``.csv`` (a header row) or
   ``.parquet`` (needs ``pyarrow``: ``pip install 'provenance[parquet]'``). Key/column ``path``
   names the clip, relative to the manifest's folder or absolute, or a member of a shard as
   ``x.tar/member``; every other column goes verbatim to ``metadata`` (CSV cells are strings;
   Parquet dates become ISO strings and bytes UTF-8 text or base64). ``rel`` is the path as
   listed. Rows are kept in manifest order; a row that is not an object, has no usable ``path``,
   repeats an earlier row's path, or names a member its shard lacks is a BadEntry whose message
   names the manifest and line (row for Parquet): ``manifest.jsonl line 7: field 'path' is
   missing``. Paths outside the manifest's folder are allowed (absolute paths are part of the
   format); a server that must confine reads passes ``allowed_roots`` (every clip whose file
   resolves outside them becomes a BadEntry; it applies to all three forms).

A DATASET that cannot be read at all (missing, unknown kind, root folder not listable,
manifest unreadable or without a ``path`` column, ``pyarrow`` missing) raises :class:`SourceError`
at call time; a shard given as DATASET that cannot be read is a BadEntry, as any shard is.
:func:`resolve` maps a report clip back to its source (HTML thumbnails).
"""

from __future__ import annotations

import base64
import codecs
import csv
import datetime as dt
import decimal
import errno
import hashlib
import io
import json
import logging
import math
import os
import tarfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO, Literal, TypeVar, cast

from provenance.errors import DecodeError, ScanError
from provenance.media.probe import IMAGE_SUFFIXES, VIDEO_SUFFIXES

log = logging.getLogger(__name__)

__all__ = [
    "MANIFEST_SUFFIXES",
    "MEDIA_SUFFIXES",
    "BadEntry",
    "ClipSource",
    "DatasetKind",
    "SourceError",
    "dataset_kind",
    "dataset_root",
    "iter_sources",
    "resolve",
]

#: File suffixes read as clips (videos and still images; content decides what they are).
MEDIA_SUFFIXES = VIDEO_SUFFIXES | IMAGE_SUFFIXES
#: Suffixes of manifest files DATASET may be.
MANIFEST_SUFFIXES = frozenset({".jsonl", ".csv", ".parquet"})
#: Compressed tar shards: reported as BadEntries (seeking inside them means decompressing again).
COMPRESSED_SHARD_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar.zst")
#: Largest text member (``KEY.txt``, ``KEY.cls``) copied into a sample's metadata.
SIDECAR_MAX_BYTES = 4096
#: Largest ``KEY.json`` member read as metadata.
JSON_MAX_BYTES = 1 << 20

DatasetKind = Literal["folder", "shard", "manifest"]

_CHUNK = 1 << 20
_T = TypeVar("_T")
_BLOCK = tarfile.BLOCKSIZE


class SourceError(ScanError):
    """A dataset (or a report clip to resolve) cannot be read at all: missing, of unknown kind, unreadable."""


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
                return open(self.location, "rb")
            except OSError as exc:
                raise DecodeError(self.name, f"cannot read file: {_os_reason(self.location, exc)}") from exc
        return _open_member(self.location, self.member, self.offset, self.name)

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
    """A dataset entry broken before any clip can be read from it; ``error`` is one line naming it."""

    rel: str
    error: str
    metadata: Mapping[str, Any] | None = field(default=None, compare=False)


Entry = ClipSource | BadEntry


# --------------------------------------------------------------------------- the dataset


def dataset_kind(dataset: Path) -> DatasetKind:
    """Which of the three forms ``dataset`` is; :class:`SourceError` when it is none of them."""
    dataset = Path(dataset)
    if dataset.is_dir():
        return "folder"
    if not dataset.exists():
        raise SourceError(f"{dataset}: no such file or folder")
    suffix = dataset.suffix.lower()
    if suffix == ".tar":
        return "shard"
    if suffix in MANIFEST_SUFFIXES:
        return "manifest"
    raise SourceError(f"{dataset}: not a dataset: expected a folder, a .tar shard or a manifest "
                      f"({', '.join(sorted(MANIFEST_SUFFIXES))})")


def dataset_root(dataset: Path) -> Path:
    """The folder clip paths are relative to: the folder itself, else the shard's or manifest's folder."""
    dataset = Path(dataset)
    return dataset if dataset_kind(dataset) == "folder" else dataset.parent


def iter_sources(dataset: Path, *, allowed_roots: Sequence[Path] | None = None) -> Iterator[Entry]:
    """The clips of ``dataset`` (folder, ``.tar`` shard or manifest) and its broken entries, in order.

    Raises :class:`SourceError` now (not on the first ``next``) when the dataset itself cannot be
    read. With ``allowed_roots``, a clip whose file resolves outside every root is a BadEntry.
    """
    dataset = Path(dataset)
    kind = dataset_kind(dataset)
    entries: Iterator[Entry]
    if kind == "folder":
        entries = _iter_folder(dataset, _list_folder_or_fail(dataset))
    elif kind == "shard":
        entries = _iter_shard(dataset, dataset.name)
    else:
        entries = _iter_manifest(dataset, _manifest_rows(dataset))
    if allowed_roots is None:
        return entries
    return _confined(entries, [Path(r).resolve() for r in allowed_roots])


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
    split = _split_member(root, path, member if isinstance(member, str) else None)
    if split is None:
        return ClipSource(path, _join(root, path), metadata=metadata)
    shard, name = split
    offset, size = _find_member(shard, name, path)
    return ClipSource(path, shard, name, metadata, offset, size)


def _confined(entries: Iterator[Entry], roots: list[Path]) -> Iterator[Entry]:
    resolved: dict[Path, bool] = {}
    for entry in entries:
        if isinstance(entry, ClipSource):
            inside = resolved.get(entry.location)
            if inside is None:
                real = entry.location.resolve()
                inside = resolved[entry.location] = any(real.is_relative_to(r) for r in roots)
            if not inside:
                yield BadEntry(entry.rel, f"{entry.name}: outside the allowed data roots", entry.metadata)
                continue
        yield entry


def _os_reason(path: Path, exc: OSError) -> str:
    """One-line reason of an OS error; a broken symbolic link is named as such."""
    if isinstance(exc, FileNotFoundError) and path.is_symlink():
        try:
            return f"broken symbolic link to {os.readlink(path)!r}"
        except OSError:
            return "broken symbolic link"
    return exc.strerror or str(exc)


def _join(root: Path, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else root / p


# --------------------------------------------------------------------------- folders


def _list_folder_or_fail(folder: Path) -> list[os.DirEntry[str]]:
    try:
        return _list_folder(folder)
    except OSError as exc:
        raise SourceError(f"{folder}: cannot list folder: {exc.strerror or exc}") from exc


def _list_folder(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as it:
        return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)


def _iter_folder(folder: Path, entries: list[os.DirEntry[str]], rel_dir: str = "") -> Iterator[Entry]:
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
        yield from _iter_folder(folder, listing, rel)


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
            yield BadEntry(rel, f"{rel}: cannot read shard: {_os_reason(path, FileNotFoundError())}")
        else:
            yield ClipSource(rel, path)  # a broken link is a clip whose reading fails, saying why
        return
    if is_shard:
        yield from _iter_shard(path, rel)
    else:
        yield ClipSource(rel, path)


# --------------------------------------------------------------------------- tar shards


class _ShardBroken(Exception):
    """The shard is cut short or corrupt; ``args[0]`` says where (after the good members)."""


def _members(raw: BinaryIO, size: int) -> Iterator[tarfile.TarInfo]:
    """Regular-file members of the tar archive ``raw`` (``size`` bytes) in archive order, from headers only.

    Raises :class:`_ShardBroken` after the last good member when the archive is cut short (a
    member's data runs past the end, or the end-of-archive marker is missing) or corrupt. A
    member whose data is cut short is not yielded.
    """
    if size == 0:
        raise _ShardBroken("empty file (0 bytes), not a tar archive")
    try:
        tf = tarfile.open(fileobj=raw, mode="r:")  # noqa: SIM115 - reads headers of the caller's file
    except (tarfile.TarError, OSError) as exc:
        raise _ShardBroken(f"not a readable tar archive ({exc})") from exc
    last: str | None = None

    def after() -> str:
        return f"after member {last!r}" if last is not None else "before its first member"

    while True:
        try:
            info = tf.next()
        except (tarfile.TarError, OSError) as exc:
            raise _ShardBroken(f"corrupt or truncated tar shard {after()}: {exc}") from exc
        if info is None:
            break
        if not info.isreg():
            continue
        if not info.issparse() and info.offset_data + info.size > size:
            have = max(0, size - info.offset_data)
            raise _ShardBroken(f"truncated tar shard: member {info.name!r} is cut short ({have} of {info.size} "
                               f"bytes), {after()}")
        last = info.name
        yield info
    problem = _end_problem(raw, tf.offset, size)
    if problem is not None:
        raise _ShardBroken(f"{problem}, {after()}")


def _end_problem(raw: BinaryIO, offset: int, size: int) -> str | None:
    """Why the archive does not end properly at ``offset`` (tarfile stops quietly there), or None."""
    raw.seek(offset)
    block = raw.read(_BLOCK)
    if not block:
        return f"truncated tar shard: it ends at byte {size} without the end-of-archive marker"
    if len(block) < _BLOCK:
        return f"truncated tar shard: it ends inside a member header at byte {offset}"
    if block.count(0) != _BLOCK:
        return f"corrupt tar shard: invalid member header at byte {offset}"
    return None


def _open_shard(shard: Path) -> tuple[BinaryIO, int]:
    raw = open(shard, "rb")  # noqa: SIM115 - the caller closes it
    return raw, os.fstat(raw.fileno()).st_size


def _split_key(member: str) -> tuple[str, str]:
    """WebDataset's sample key and extension: ``a/b.seg.mp4`` -> (``a/b``, ``seg.mp4``)."""
    folder, _, base = member.rpartition("/")
    stem, dot, ext = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), (ext if dot else "")


class _Sample:
    """The members of one WebDataset sample: its media members and the metadata of its sidecars."""

    def __init__(self, key: str | None) -> None:
        self.key = key
        self.media: list[tarfile.TarInfo] = []
        self.metadata: dict[str, Any] = {}
        self.sidecars: dict[str, str] = {}
        self.bad: list[BadEntry] = []

    def add(self, raw: BinaryIO, info: tarfile.TarInfo, ext: str, shard_rel: str) -> None:
        if PurePosixPath(info.name).suffix.lower() in MEDIA_SUFFIXES:
            self.media.append(info)
        elif ext == "json":
            self._add_json(raw, info, f"{shard_rel}/{info.name}")
        elif info.size <= SIDECAR_MAX_BYTES and ext:
            try:
                self.sidecars[ext] = _read_member(raw, info).decode("utf-8").strip()
            except UnicodeDecodeError:
                log.debug("%s/%s: binary sidecar, not kept as metadata", shard_rel, info.name)

    def _add_json(self, raw: BinaryIO, info: tarfile.TarInfo, rel: str) -> None:
        if info.size > JSON_MAX_BYTES:
            self.bad.append(BadEntry(rel, f"{rel}: metadata not read: {info.size} bytes is over the "
                                          f"{JSON_MAX_BYTES} byte limit"))
            return
        try:
            value = json.loads(_read_member(raw, info))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
            self.bad.append(BadEntry(rel, f"{rel}: metadata not read: not JSON ({reason})"))
            return
        self.metadata.update(value if isinstance(value, dict) else {"json": value})

    def entries(self, shard: Path, shard_rel: str) -> Iterator[Entry]:
        meta = {**{k: v for k, v in self.sidecars.items() if k not in self.metadata}, **self.metadata}
        for info in self.media:
            yield ClipSource(f"{shard_rel}/{info.name}", shard, info.name, dict(meta) if meta else None, info.offset,
                             info.size)
        yield from self.bad


def _read_member(raw: BinaryIO, info: tarfile.TarInfo) -> bytes:
    """A small member's bytes, read in place (the caller's position in ``raw`` is restored)."""
    here = raw.tell()
    try:
        raw.seek(info.offset_data)
        return raw.read(info.size)
    finally:
        raw.seek(here)


def _iter_shard(shard: Path, shard_rel: str) -> Iterator[Entry]:
    try:
        raw, size = _open_shard(shard)
    except OSError as exc:
        yield BadEntry(shard_rel, f"{shard_rel}: cannot read shard: {_os_reason(shard, exc)}")
        return
    with raw:
        sample = _Sample(None)
        try:
            for info in _members(raw, size):
                if PurePosixPath(info.name).name.startswith("."):
                    continue
                key, ext = _split_key(info.name)
                if key != sample.key:
                    yield from sample.entries(shard, shard_rel)
                    sample = _Sample(key)
                sample.add(raw, info, ext, shard_rel)
        except _ShardBroken as exc:
            yield from sample.entries(shard, shard_rel)
            yield BadEntry(shard_rel, f"{shard_rel}: {exc}")
            return
        yield from sample.entries(shard, shard_rel)


def _find_member(shard: Path, name: str, label: str) -> tuple[int, int]:
    """Header offset and size of member ``name`` in ``shard``; :class:`SourceError` naming ``label`` when absent."""
    try:
        raw, size = _open_shard(shard)
    except OSError as exc:
        raise SourceError(f"{label}: cannot read shard {shard}: {_os_reason(shard, exc)}") from exc
    with raw:
        try:
            for info in _members(raw, size):
                if info.name == name:
                    return int(info.offset), int(info.size)
        except _ShardBroken as exc:
            raise SourceError(f"{label}: member {name!r} not found before the shard broke: {exc}") from exc
    raise SourceError(f"{label}: no member {name!r} in shard {shard}")


def _member_offsets(shard: Path) -> tuple[dict[str, tuple[int, int]], str | None]:
    """Every regular member's header offset and size, and what broke the shard's listing (None if nothing)."""
    offsets: dict[str, tuple[int, int]] = {}
    try:
        raw, size = _open_shard(shard)
    except OSError as exc:
        return offsets, f"cannot read shard: {_os_reason(shard, exc)}"
    with raw:
        try:
            for info in _members(raw, size):
                offsets.setdefault(info.name, (int(info.offset), int(info.size)))
        except _ShardBroken as exc:
            return offsets, str(exc)
    return offsets, None


def _open_member(shard: Path, member: str, offset: int | None, name: str) -> BinaryIO:
    """A member's bytes, read in place through ``tarfile.extractfile`` (seekable: the shard is a plain file)."""
    try:
        raw, _ = _open_shard(shard)
    except OSError as exc:
        raise DecodeError(name, f"cannot read shard: {_os_reason(shard, exc)}") from exc
    try:
        tf = tarfile.open(fileobj=raw, mode="r:")  # noqa: SIM115 - _MemberFile closes raw
        info = _member_at(tf, raw, offset, member) if offset is not None else None
        if info is None:
            info = _scan_for(tf, member)
        if info is None:
            raise DecodeError(name, f"no member {member!r} in shard {shard}")
        inner = tf.extractfile(info)
        if inner is None:
            raise DecodeError(name, "not a regular file in the shard")
    except (tarfile.TarError, OSError) as exc:
        raw.close()
        raise DecodeError(name, f"cannot read shard: {exc}") from exc
    except BaseException:
        raw.close()
        raise
    return cast(BinaryIO, _MemberFile(inner, raw, name))


def _member_at(tf: tarfile.TarFile, raw: BinaryIO, offset: int, member: str) -> tarfile.TarInfo | None:
    """The member whose header starts at ``offset``, if it is ``member`` (else None: look it up by name)."""
    try:
        raw.seek(offset)
        info = tarfile.TarInfo.fromtarfile(tf)
    except (tarfile.HeaderError, OSError):
        return None
    return info if info.name == member and info.isreg() else None


def _scan_for(tf: tarfile.TarFile, member: str) -> tarfile.TarInfo | None:
    for info in iter(tf.next, None):
        if info.name == member and info.isreg():
            return info
    return None


class _MemberFile(io.BufferedIOBase):
    """A tar member's bytes (tarfile's in-place reader) that closes the shard file with itself.

    A shard that changed under us since listing reads as an ``OSError`` (EIO), which the decoders
    and :meth:`ClipSource.sha256` turn into one-line errors, not as a ``tarfile`` error.
    """

    def __init__(self, inner: IO[bytes], shard: BinaryIO, name: str) -> None:
        super().__init__()
        self._inner = inner
        self._shard = shard
        self.name = name  # FFmpeg uses it as a format hint (the member's extension)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return self._guard(lambda: self._inner.read(-1 if size is None else size))

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(memoryview(buffer)))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._guard(lambda: self._inner.seek(offset, whence))

    def tell(self) -> int:
        return self._inner.tell()

    def close(self) -> None:
        if not self.closed:
            try:
                self._inner.close()
            finally:
                self._shard.close()
        super().close()

    def _guard(self, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except tarfile.TarError as exc:
            raise OSError(errno.EIO, f"{self.name}: {exc}") from exc


# --------------------------------------------------------------------------- manifests

Row = tuple[str, Mapping[str, Any] | None, str | None]  # (where, row, error)


def _manifest_rows(manifest: Path) -> Iterator[Row]:
    """The manifest's rows. What makes the whole manifest unusable is checked now (:class:`SourceError`);
    the rows are read lazily, the file opened again by the returned generator."""
    suffix = manifest.suffix.lower()
    try:
        if suffix == ".jsonl":
            with open(manifest, "rb"):
                pass
            return _jsonl_rows(manifest)
        if suffix == ".csv":
            _csv_columns(manifest)
            return _csv_rows(manifest)
    except OSError as exc:
        raise SourceError(f"{manifest}: cannot read manifest: {exc.strerror or exc}") from exc
    _parquet_open(manifest).close()
    return _parquet_rows(manifest)


def _jsonl_rows(manifest: Path) -> Iterator[Row]:
    with open(manifest, "rb") as fh:
        for n, line in enumerate(fh, 1):
            text = line.strip()
            if n == 1 and text.startswith(codecs.BOM_UTF8):
                text = text[len(codecs.BOM_UTF8):]
            if not text:
                continue
            where = f"{manifest.name} line {n}"
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                yield where, None, f"not JSON ({exc.msg})"
                continue
            except UnicodeDecodeError:
                yield where, None, "not UTF-8 text"
                continue
            if not isinstance(obj, dict):
                yield where, None, f"not a JSON object (a {type(obj).__name__})"
                continue
            yield where, obj, None


class _Lines:
    """A binary file's lines decoded one at a time, so that a byte that is not UTF-8 is pinned to its line."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.n = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = next(self._fh)
        self.n += 1
        if self.n == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]
        return raw.decode("utf-8")


def _csv_columns(manifest: Path) -> None:
    """Check the CSV header names a ``path`` column."""
    with open(manifest, "rb") as fh:
        try:
            columns = csv.DictReader(_Lines(fh)).fieldnames
        except (UnicodeDecodeError, csv.Error) as exc:
            raise SourceError(f"{manifest}: cannot read the CSV header: {exc}") from exc
    if not columns or "path" not in columns:
        raise SourceError(f"{manifest}: no 'path' column (columns: {', '.join(columns or []) or 'none'})")


def _csv_rows(manifest: Path) -> Iterator[Row]:
    with open(manifest, "rb") as fh:
        lines = _Lines(fh)
        reader = csv.DictReader(lines)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                yield (f"{manifest.name} line {lines.n}", None,
                       "not UTF-8 text; the rest of the manifest was not read")
                return
            except csv.Error as exc:
                yield (f"{manifest.name} line {reader.line_num}", None,
                       f"not valid CSV ({exc}); the rest of the manifest was not read")
                return
            where = f"{manifest.name} line {reader.line_num}"
            extra = row.pop(None, None)
            if extra:
                yield where, None, f"{len(extra)} more value(s) than the header has columns"
                continue
            yield where, row, None


def _parquet_open(manifest: Path) -> Any:
    """The open ``pyarrow.parquet.ParquetFile``, checked to have a ``path`` column (the caller closes it)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise SourceError(f"{manifest}: reading Parquet manifests needs pyarrow: "
                          "pip install 'provenance[parquet]'") from exc
    try:
        table = pq.ParquetFile(manifest)
    except (pa.ArrowException, OSError) as exc:
        raise SourceError(f"{manifest}: not a readable Parquet file: {' '.join(str(exc).split())}") from exc
    columns = list(table.schema_arrow.names)
    if "path" not in columns:
        table.close()
        raise SourceError(f"{manifest}: no 'path' column (columns: {', '.join(columns) or 'none'})")
    return table


def _parquet_rows(manifest: Path) -> Iterator[Row]:
    import pyarrow as pa

    table = _parquet_open(manifest)
    n = 0
    try:
        for batch in table.iter_batches(batch_size=4096):
            for row in batch.to_pylist():
                n += 1
                yield f"{manifest.name} row {n}", row, None
    except (pa.ArrowException, OSError) as exc:
        yield (f"{manifest.name} row {n + 1}", None,
               f"cannot read ({' '.join(str(exc).split())}); the rest of the manifest was not read")
    finally:
        table.close()


def _iter_manifest(manifest: Path, rows: Iterable[Row]) -> Iterator[Entry]:
    root = manifest.parent
    shards: dict[Path, tuple[dict[str, tuple[int, int]], str | None]] = {}
    seen: dict[str, str] = {}
    for where, row, error in rows:
        if row is None:
            yield BadEntry(where, f"{where}: {error}")
            continue
        path = row.get("path")
        metadata = {str(k): _jsonable(v) for k, v in row.items() if k != "path"} or None
        problem = _path_problem(path)
        if problem is not None:
            yield BadEntry(where, f"{where}: {problem}", metadata)
            continue
        assert isinstance(path, str)  # _path_problem said so
        if path in seen:
            yield BadEntry(where, f"{where}: path {path!r} is listed again (first at {seen[path]})", metadata)
            continue
        seen[path] = where
        yield _manifest_entry(root, path, where, metadata, shards)


def _path_problem(path: Any) -> str | None:
    if path is None:
        return "field 'path' is missing"
    if not isinstance(path, str):
        return f"field 'path' must be a string, got {type(path).__name__} {path!r:.60}"
    if not path.strip():
        return "field 'path' is empty"
    return None


def _manifest_entry(root: Path, path: str, where: str, metadata: dict[str, Any] | None,
                    shards: dict[Path, tuple[dict[str, tuple[int, int]], str | None]]) -> Entry:
    split = _split_member(root, path, None)
    if split is None:
        return ClipSource(path, _join(root, path), metadata=metadata)
    shard, member = split
    if shard not in shards:
        shards[shard] = _member_offsets(shard)
    offsets, broke = shards[shard]
    if member not in offsets:
        why = f"; the shard's listing stopped: {broke}" if broke else ""
        return BadEntry(path, f"{where}: no member {member!r} in shard {shard.name}{why}", metadata)
    offset, size = offsets[member]
    return ClipSource(path, shard, member, metadata, offset, size)


def _split_member(root: Path, path: str, member: str | None) -> tuple[Path, str] | None:
    """(shard file, member name) when ``path`` points into a ``.tar`` shard, else None.

    With ``member`` known (a report clip), the shard is ``path`` minus ``/member``; otherwise the
    first ``*.tar`` component that is a file on disk splits the path.
    """
    if member is not None and path.endswith("/" + member):
        return _join(root, path[: -len(member) - 1]), member
    lower = path.lower()
    start = 0
    while (i := lower.find(".tar/", start)) >= 0:
        shard = _join(root, path[: i + 4])
        if shard.is_file():
            return shard, path[i + 5:]
        start = i + 1
    return None


def _jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it: dates as ISO text, decimals as text, bytes as UTF-8 text or base64."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(value).decode("ascii")
    if isinstance(value, decimal.Decimal):
        return str(value)
    return str(value)
