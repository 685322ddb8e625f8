"""Per-row facts of the hash search (each row's reference, time, region) kept in segments and read as one array.

An index extended by added references keeps its older directory's row files (hard links: a directory is never
changed once written) and writes the added rows as a segment of their own, instead of copying every row's facts
into one new array (9 bytes a row, ~3.7 MB an hour of reference footage). :class:`JoinedRows` reads the segments as
the one array their concatenation is, for what the searches ask of it: the rows of given ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from provenance.errors import ConfigError

__all__ = ["ROW_ARRAYS", "JoinedRows", "Rows", "extended_rows", "joined_rows", "row_file", "row_parts", "segment_file"]


#: The hash rows' facts (each row's reference, time, region) and their types, stored as ``rows_NAME.npy`` (segment 0)
#: and ``rows_NAME.K.npy`` (segment K).
ROW_ARRAYS: tuple[tuple[str, Any], ...] = (("ref", np.int32), ("time", np.float32), ("region", np.int8))


def segment_file(stem: str, k: int) -> str:
    """The file name (without ``.npy``) of segment ``k`` of an index directory's array kept in segments: ``STEM``
    (the first), ``STEM.K`` (the K-th after it)."""
    return stem if k == 0 else f"{stem}.{k}"


def row_file(name: str, k: int) -> str:
    """The file name (without ``.npy``) of the hash rows' ``name`` (ref, time, region) of segment ``k``."""
    return segment_file(f"rows_{name}", k)


class JoinedRows:
    """Arrays of one dtype read as their concatenation: ``rows[ids]`` (integer ids, any shape), ``rows[i]``,
    ``rows[a:b]``, ``len``, ``np.asarray(rows)`` (a copy of the whole). The parts are kept as given (mapped arrays
    stay mapped)."""

    def __init__(self, parts: Sequence[npt.NDArray[Any]]) -> None:
        if len(parts) < 2:
            raise ConfigError(f"JoinedRows: {len(parts)} parts (one array needs no joining)")
        dtypes = {np.dtype(p.dtype) for p in parts}
        if len(dtypes) != 1 or any(p.ndim != 1 for p in parts):
            raise ConfigError(f"JoinedRows: parts must be 1-D arrays of one dtype, got {sorted(map(str, dtypes))}")
        self.parts = tuple(parts)
        self.dtype = dtypes.pop()
        self.offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def shape(self) -> tuple[int]:
        return (len(self),)

    @property
    def ndim(self) -> int:
        return 1

    @property
    def nbytes(self) -> int:
        return sum(int(p.nbytes) for p in self.parts)

    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> Any:  # elementwise, as an array's (of the whole: a copy)
        return np.asarray(self) == other

    def __ne__(self, other: object) -> Any:
        return np.asarray(self) != other

    def __array__(self, dtype: Any = None, copy: Any = None) -> npt.NDArray[Any]:
        whole = np.concatenate(self.parts)
        return whole if dtype is None else whole.astype(dtype)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                return np.asarray(self)[key]
            return self.take(np.arange(start, stop, dtype=np.int64))
        if isinstance(key, (int, np.integer)):
            i = int(key) + (len(self) if key < 0 else 0)
            if not 0 <= i < len(self):
                raise IndexError(f"row {int(key)} out of {len(self)}")
            k = int(np.searchsorted(self.offsets, i, side="right")) - 1
            return self.parts[k][i - int(self.offsets[k])]
        return self.take(np.asarray(key))

    def take(self, ids: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """The rows of integer ``ids`` (negative ids count from the end, as numpy's), in their shape."""
        if ids.dtype == np.bool_ or not np.issubdtype(ids.dtype, np.integer):
            raise IndexError(f"JoinedRows: rows are read by integer ids, not {ids.dtype}")
        flat = ids.reshape(-1).astype(np.int64)
        flat = np.where(flat < 0, flat + len(self), flat)
        if len(flat) and (int(flat.min()) < 0 or int(flat.max()) >= len(self)):
            raise IndexError(f"JoinedRows: ids outside 0..{len(self) - 1}")
        out = np.empty(len(flat), self.dtype)
        part = np.searchsorted(self.offsets, flat, side="right") - 1
        for k in np.unique(part).tolist():
            at = part == k
            out[at] = self.parts[k][flat[at] - self.offsets[k]]
        return out.reshape(ids.shape)


#: One of the hash rows' facts: an array, or its segments joined.
Rows = npt.NDArray[Any] | JoinedRows


def joined_rows(parts: Sequence[npt.NDArray[Any]], dtype: Any) -> npt.NDArray[Any] | JoinedRows:
    """``parts`` as one array: the part itself when there is one (none: an empty array of ``dtype``), else their
    :class:`JoinedRows` (empty parts left out)."""
    kept = [p for p in parts if len(p)]
    if not kept:
        return np.zeros(0, dtype)
    if len(kept) == 1:
        return kept[0]
    return JoinedRows(kept)


def row_parts(rows: npt.NDArray[Any] | JoinedRows) -> tuple[npt.NDArray[Any], ...]:
    """The segments ``rows`` is kept in (one for a plain array)."""
    return rows.parts if isinstance(rows, JoinedRows) else (rows,)


def extended_rows(parts: Sequence[npt.NDArray[Any]], added: npt.NDArray[Any], dtype: Any, most: int) -> Rows:
    """The facts of an extended index's hash rows: the older index's segments ``parts`` followed by the ``added``
    rows' as one more; from ``most`` segments on, those after the first are joined with the added rows into one
    (each segment is a lookup of its own for every query's rows; the first, the largest, stays linked)."""
    if len(parts) < most:
        return joined_rows([*parts, np.asarray(added).astype(dtype)], dtype)
    tail = np.concatenate([np.asarray(p).astype(dtype) for p in (*parts[1:], added)])
    return joined_rows([*parts[:1], tail], dtype)
