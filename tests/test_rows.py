"""The hash rows' facts kept in segments (provenance.engine.rows) and how an extended index's segments grow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from provenance.engine import store
from provenance.engine.rows import JoinedRows, extended_rows, joined_rows, row_file, row_parts
from provenance.errors import ConfigError


def _parts(rng: np.random.Generator, sizes: list[int], dtype: type) -> list[np.ndarray]:
    return [rng.integers(-100, 100, n).astype(dtype) for n in sizes]


@pytest.mark.parametrize("dtype", [np.int32, np.float32, np.int8])
def test_joined_rows_read_as_their_concatenation(dtype: type) -> None:
    rng = np.random.default_rng(7)
    parts = _parts(rng, [5, 1, 0, 9, 3], dtype)
    rows = joined_rows(parts, dtype)
    whole = np.concatenate(parts)
    assert isinstance(rows, JoinedRows) and len(rows.parts) == 4  # the empty part left out
    assert len(rows) == len(whole) and rows.shape == whole.shape and rows.dtype == whole.dtype
    assert rows.nbytes == whole.nbytes
    ids = rng.integers(0, len(whole), (7, 11))
    boundaries = np.array([0, 4, 5, 6, 14, 15, len(whole) - 1])  # each part's first and last rows
    for key in (ids, boundaries, boundaries[::-1], np.zeros(0, np.int64), np.array([-1, -len(whole)])):
        got = rows[key]
        assert got.dtype == whole.dtype and np.array_equal(got, whole[key])
    assert all(rows[i] == whole[i] for i in range(-len(whole), len(whole)))
    assert np.array_equal(rows[3:12], whole[3:12]) and np.array_equal(rows[::3], whole[::3])
    assert np.array_equal(np.asarray(rows), whole) and np.array_equal(np.asarray(rows, np.int64), whole)
    assert np.searchsorted(rows, 0) == np.searchsorted(whole, 0)
    assert np.array_equal(rows == whole[3], whole == whole[3]) and np.array_equal(rows != 0, whole != 0)


def test_joined_rows_refuse_what_an_array_refuses() -> None:
    rows = JoinedRows([np.arange(3, dtype=np.int32), np.arange(2, dtype=np.int32)])
    with pytest.raises(IndexError):
        rows[np.array([5])]
    with pytest.raises(IndexError):
        rows[5]
    with pytest.raises(IndexError):
        rows[np.array([True, False, True, False, True])]
    with pytest.raises(ConfigError, match="one dtype"):
        JoinedRows([np.arange(3, dtype=np.int32), np.arange(2, dtype=np.int64)])
    with pytest.raises(ConfigError, match="needs no joining"):
        JoinedRows([np.arange(3)])


def test_one_part_is_the_array_itself() -> None:
    a = np.arange(4, dtype=np.int8)
    assert joined_rows([a], np.int8) is a and joined_rows([np.zeros(0, np.int8), a], np.int8) is a
    assert len(joined_rows([], np.int8)) == 0 and joined_rows([], np.int8).dtype == np.int8
    assert row_parts(a) == (a,)


def test_an_extension_adds_a_segment_until_there_are_as_many_as_the_hash_search_keeps(tmp_path: Path) -> None:
    """Each addition's rows are a segment of their own; past ``HASH_SEGMENTS`` the segments after the first are
    joined with the added rows into one (the first, the largest, stays linked); the rows read the same either way,
    and a directory written with them reads them back."""
    rng = np.random.default_rng(3)
    rows = joined_rows(_parts(rng, [50], np.int32), np.int32)
    whole = np.asarray(rows)
    for step in range(2 * store.HASH_SEGMENTS):
        added = rng.integers(0, 1000, 1 + step).astype(np.int64)
        rows = extended_rows(row_parts(rows), added, np.int32, store.HASH_SEGMENTS)
        whole = np.concatenate([whole, added]).astype(np.int32)
        parts = row_parts(rows)
        assert len(parts) <= store.HASH_SEGMENTS and len(parts[0]) == 50
        assert np.array_equal(np.asarray(rows), whole)
    assert len(row_parts(rows)) > 2
    facts = (
        rows,
        joined_rows([p.astype(np.float32) for p in row_parts(rows)], np.float32),
        joined_rows([p.astype(np.int8) for p in row_parts(rows)], np.int8),
    )
    lengths = store._save_rows(tmp_path, facts)
    assert lengths == [len(p) for p in row_parts(rows)]
    files = [tmp_path / f"{row_file('ref', k)}.npy" for k in range(len(lengths))]
    assert np.array_equal(np.concatenate([np.load(f) for f in files]), whole)
