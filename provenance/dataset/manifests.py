"""The clips a manifest lists: ``.jsonl`` (one JSON object per line), ``.csv`` (a header row) or ``.parquet``.

Column ``path`` names the clip (relative to the manifest's folder, absolute, or ``x.tar/member``);
every other column goes verbatim to ``metadata``. A row that gives no clip is a BadEntry naming
the manifest and line (row for Parquet).
"""

from __future__ import annotations

import base64
import codecs
import csv
import datetime as dt
import decimal
import json
import math
import stat
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from provenance.dataset.entries import BadEntry, ClipSource, Entry
from provenance.dataset.paths import join, split_member
from provenance.dataset.tarfiles import member_offsets
from provenance.errors import RowError, ShardBroken, SourceError
from provenance.media.files import file_kind

__all__ = ["iter_manifest"]

_Row = tuple[str, Mapping[str, Any]]  # (where, row)


def iter_manifest(manifest: Path) -> Iterator[Entry]:
    """The clips ``manifest`` lists, in manifest order, and a BadEntry for each row that gives none.

    Raises :class:`SourceError` now (not on the first ``next``) when the whole manifest is unusable.
    """
    return _entries(manifest, _manifest_rows(manifest))


def _manifest_rows(manifest: Path) -> Iterator[_Row | RowError]:
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


def _jsonl_rows(manifest: Path) -> Iterator[_Row | RowError]:
    with open(manifest, "rb") as fh:
        for n, line in enumerate(fh, 1):
            text = line.strip()
            if n == 1 and text.startswith(codecs.BOM_UTF8):
                text = text[len(codecs.BOM_UTF8) :]
            if not text:
                continue
            where = f"{manifest.name} line {n}"
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                yield RowError(where, f"not JSON ({exc.msg})")
                continue
            except UnicodeDecodeError:
                yield RowError(where, "not UTF-8 text")
                continue
            if not isinstance(obj, dict):
                yield RowError(where, f"not a JSON object (a {type(obj).__name__})")
                continue
            yield where, obj


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
            raw = raw[len(codecs.BOM_UTF8) :]
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


def _csv_rows(manifest: Path) -> Iterator[_Row | RowError]:
    with open(manifest, "rb") as fh:
        lines = _Lines(fh)
        reader = csv.DictReader(lines)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                yield RowError(
                    f"{manifest.name} line {lines.n}", "not UTF-8 text; the rest of the manifest was not read"
                )
                return
            except csv.Error as exc:
                yield RowError(
                    f"{manifest.name} line {reader.line_num}",
                    f"not valid CSV ({exc}); the rest of the manifest was not read",
                )
                return
            where = f"{manifest.name} line {reader.line_num}"
            extra = row.pop(None, None)
            if extra:
                yield RowError(where, f"{len(extra)} more value(s) than the header has columns")
                continue
            yield where, row


def _parquet_open(manifest: Path) -> Any:
    """The open ``pyarrow.parquet.ParquetFile``, checked to have a ``path`` column (the caller closes it)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise SourceError(
            f"{manifest}: reading Parquet manifests needs pyarrow: pip install 'provenance[parquet]'"
        ) from exc
    try:
        table = pq.ParquetFile(manifest)
    except (pa.ArrowException, OSError) as exc:
        raise SourceError(f"{manifest}: not a readable Parquet file: {' '.join(str(exc).split())}") from exc
    columns = list(table.schema_arrow.names)
    if "path" not in columns:
        table.close()
        raise SourceError(f"{manifest}: no 'path' column (columns: {', '.join(columns) or 'none'})")
    return table


def _parquet_rows(manifest: Path) -> Iterator[_Row | RowError]:
    import pyarrow as pa

    table = _parquet_open(manifest)
    n = 0
    try:
        for batch in table.iter_batches(batch_size=4096):
            for row in batch.to_pylist():
                n += 1
                yield f"{manifest.name} row {n}", row
    except (pa.ArrowException, OSError) as exc:
        yield RowError(
            f"{manifest.name} row {n + 1}",
            f"cannot read ({' '.join(str(exc).split())}); the rest of the manifest was not read",
        )
    finally:
        table.close()


class _ShardListing:
    """A shard's members as listed once for a manifest: header offset and size by name, and what stopped the
    listing (None if nothing)."""

    def __init__(self, shard: Path) -> None:
        self.offsets: dict[str, tuple[int, int]] = {}
        self.broken: ShardBroken | None = None
        try:
            for name, offset, size in member_offsets(shard):
                self.offsets.setdefault(name, (offset, size))
        except ShardBroken as exc:
            self.broken = exc


def _entries(manifest: Path, rows: Iterable[_Row | RowError]) -> Iterator[Entry]:
    root = manifest.parent
    shards: dict[Path, _ShardListing] = {}
    seen: dict[str, str] = {}
    for row in rows:
        if isinstance(row, RowError):
            yield BadEntry(row.where, str(row))
            continue
        where, fields = row
        metadata = {str(k): _jsonable(v) for k, v in fields.items() if k != "path"} or None
        try:
            path = _checked_path(where, fields.get("path"))
        except RowError as exc:
            yield BadEntry(where, str(exc), metadata)
            continue
        if path in seen:
            yield BadEntry(where, f"{where}: path {path!r} is listed again (first at {seen[path]})", metadata)
            continue
        seen[path] = where
        yield _manifest_entry(root, path, where, metadata, shards)


def _checked_path(where: str, path: Any) -> str:
    """The row's ``path``; :class:`RowError` when it is missing, not a string or empty."""
    if path is None:
        raise RowError(where, "field 'path' is missing")
    if not isinstance(path, str):
        raise RowError(where, f"field 'path' must be a string, got {type(path).__name__} {path!r:.60}")
    if not path.strip():
        raise RowError(where, "field 'path' is empty")
    return path


def _manifest_entry(
    root: Path, path: str, where: str, metadata: dict[str, Any] | None, shards: dict[Path, _ShardListing]
) -> Entry:
    split = split_member(root, path, None)
    if split is None:
        location = join(root, path)
        try:
            mode = location.stat().st_mode
        except OSError:  # missing or unreadable: reading the clip says why
            return ClipSource(path, location, metadata=metadata)
        if not stat.S_ISREG(mode):  # a FIFO or a device would be waited on, or read, for ever
            why = f"{where}: {path!r} is not a regular file ({file_kind(mode)})"
            return BadEntry(path, why, metadata, location=location)
        return ClipSource(path, location, metadata=metadata)
    shard, member = split
    if shard not in shards:
        shards[shard] = _ShardListing(shard)
    listing = shards[shard]
    if member not in listing.offsets:
        why = f"; the shard's listing stopped: {listing.broken}" if listing.broken is not None else ""
        return BadEntry(path, f"{where}: no member {member!r} in shard {shard.name}{why}", metadata)
    offset, size = listing.offsets[member]
    return ClipSource(path, shard, member, metadata, offset, size)


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
