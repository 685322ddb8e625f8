"""Hash indexes: the engine's index (FAISS's flat one, the multi-index hashing's arrays, built or mapped from
disk) must give exactly the brute-force answer, and brute force the definition's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import provenance.engine.index as index_module
import provenance.engine.multiindex as multiindex_module
from provenance.engine import hamming, store
from provenance.engine.index import BruteForceIndex, HashIndex, MultiIndex, StaticHashIndex, hamming_distances
from provenance.errors import ConfigError, HashIndexError

HYP = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(params=["kernel", "numpy"])
def verifier(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """What verifies the multi-index's candidates: the C extension (skipped where it is not built), or numpy (its
    fallback)."""
    if request.param == "numpy":
        monkeypatch.setattr(hamming, "_RANGES", None)
    elif not hamming.ranges_kernel():
        pytest.skip("the C extension is not built")
    return str(request.param)


def random_hashes(rng: np.random.Generator, n: int, bits: int) -> npt.NDArray[np.uint8]:
    return rng.integers(0, 256, (n, bits // 8), dtype=np.uint8)


def flip_bits(rng: np.random.Generator, h: npt.NDArray[np.uint8], max_flips: int) -> npt.NDArray[np.uint8]:
    """Each row with a random number (0..max_flips) of distinct bits flipped."""
    bits = np.unpackbits(h, axis=1)
    for i in range(bits.shape[0]):
        k = int(rng.integers(0, max_flips + 1))
        pos = rng.choice(bits.shape[1], size=k, replace=False)
        bits[i, pos] ^= 1
    return np.packbits(bits, axis=1)


def clustered_hashes(rng: np.random.Generator, n: int, bits: int, n_seeds: int, spread: int) -> npt.NDArray[np.uint8]:
    """Near-duplicates: rows are seeds with up to ``spread`` bits flipped (like frames of one shot)."""
    seeds = random_hashes(rng, n_seeds, bits)
    return flip_bits(rng, seeds[rng.integers(0, n_seeds, n)], spread)


def naive(
    ids: npt.NDArray[np.int64], hashes: npt.NDArray[np.uint8], queries: npt.NDArray[np.uint8], r: int
) -> set[tuple[int, int, int]]:
    """Definition of the answer, computed the slow obvious way (bit by bit)."""
    hb = np.unpackbits(hashes, axis=1).astype(int)
    out = set()
    for qi, q in enumerate(np.unpackbits(queries, axis=1).astype(int)):
        d = (hb != q).sum(axis=1)
        for k in np.flatnonzero(d <= r):
            out.add((qi, int(ids[k]), int(d[k])))
    return out


def as_set(
    res: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int32]],
) -> set[tuple[int, int, int]]:
    return {(int(a), int(b), int(c)) for a, b, c in zip(*res, strict=True)}


def assert_same(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> None:
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def assert_sorted(res: tuple[np.ndarray, ...]) -> None:
    q, ids, d = res
    order = np.lexsort((ids, d, q))
    np.testing.assert_array_equal(order, np.arange(q.size))


# ---- brute force against the definition -------------------------------------------------------


def test_bruteforce_matches_naive_definition() -> None:
    rng = np.random.default_rng(1)
    for bits in (64, 256):
        h = clustered_hashes(rng, 300, bits, 10, bits // 8)
        q = flip_bits(rng, h[:40], bits // 6)
        idx = BruteForceIndex(h, bits)
        r = bits // 8
        res = idx.search(q, r)
        assert_sorted(res)
        assert as_set(res) == naive(np.arange(300, dtype=np.int64), h, q, r)
        assert res[0].dtype == np.int64 and res[1].dtype == np.int64 and res[2].dtype == np.int32


def test_golden_distances() -> None:
    a = np.array([[0b10110000, 0, 0, 0, 0, 0, 0, 0xFF]], np.uint8)
    b = np.array([[0, 0, 0, 0, 0, 0, 0, 0], [0b10110000, 0, 0, 0, 0, 0, 0, 0xFF]], np.uint8)
    np.testing.assert_array_equal(hamming_distances(a, b), [[11, 0]])
    idx = BruteForceIndex(b, 64)
    assert_same(idx.search(a, 11), (np.array([0, 0]), np.array([1, 0]), np.array([0, 11])))
    assert_same(idx.search(a, 10), (np.array([0]), np.array([1]), np.array([0])))


# ---- the engine's index == brute force ---------------------------------------------------------


@HYP
@given(
    seed=st.integers(0, 2**32 - 1),
    clustered=st.booleans(),
    n=st.integers(0, 600),
    radius=st.sampled_from([0, 8, 24, 31]),
)
def test_static_index_equals_bruteforce_on_any_set(seed: int, clustered: bool, n: int, radius: int) -> None:
    rng = np.random.default_rng(seed)
    h = clustered_hashes(rng, n, 256, 8, 24) if clustered and n else random_hashes(rng, n, 256)
    q = flip_bits(rng, h[rng.integers(0, n, 30)], radius) if n else random_hashes(rng, 30, 256)
    got = StaticHashIndex(h, 256, 31).search(q, radius)
    assert_sorted(got)
    assert_same(got, BruteForceIndex(h, 256).search(q, radius))


@pytest.fixture(params=["kernel", "faiss"])
def flat_search(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """What compares every pair in the flat index: AVX-512's kernel (skipped where it does not run), or FAISS."""
    if request.param == "faiss":
        monkeypatch.setattr(index_module, "within_kernel", lambda: False)
    elif not hamming.within_kernel():
        pytest.skip("the AVX-512 kernel does not run here")
    return str(request.param)


@pytest.mark.parametrize("flat_max", [10**9, 0])  # the flat index, then the multi-index hashing
def test_static_index_equals_bruteforce(flat_max: int, monkeypatch: pytest.MonkeyPatch, flat_search: str) -> None:
    monkeypatch.setattr(StaticHashIndex, "flat_max", flat_max)
    rng = np.random.default_rng(11)
    h = clustered_hashes(rng, 20_000, 256, 300, 35)
    bf = BruteForceIndex(h, 256)
    static = StaticHashIndex(h, 256, 31)
    assert len(static) == h.shape[0]
    q = flip_bits(rng, h[rng.integers(0, h.shape[0], 60)], 20)
    for r in (31, 24, 0):
        expected = bf.search(q, r)
        assert expected[0].size > (60 if r == 31 else 0)
        got = static.search(q, r)
        assert_sorted(got)
        assert_same(got, expected)
    empty = StaticHashIndex(np.zeros((0, 32), np.uint8), 256, 31)
    assert len(empty) == 0 and empty.search(q, 31)[0].size == 0
    with pytest.raises(HashIndexError, match="64 bits"):
        StaticHashIndex(h[:, :8], 256, 31)


@pytest.mark.parametrize(("n", "queries"), [(1, 1), (7, 3), (8, 4), (1_003, 61), (5_000, 130)])
def test_the_flat_kernel_finds_every_row_within_the_radius(n: int, queries: int) -> None:
    """:func:`~provenance.engine.hamming.within` (AVX-512: eight rows at once, four queries a pass) against brute
    force: bases whose size is not a multiple of eight, query counts not a multiple of four, radii from 0 to every
    row (more pairs than the first buffer holds: counted, then written in a buffer made for them all), in (query,
    row) order."""
    if not hamming.within_kernel():
        pytest.skip("the AVX-512 kernel does not run here")
    rng = np.random.default_rng(n)
    h = clustered_hashes(rng, n, 256, max(1, n // 20), 30)
    q = flip_bits(rng, h[rng.integers(0, n, queries)], 12)
    planes = hamming.hamming_planes(h)
    d = hamming_distances(q, h)
    for r in (0, 12, 31, 256):
        found = hamming.within(q, planes, r)
        assert found is not None
        rows, cols = np.nonzero(d <= r)  # row-major: (query, row) order
        assert found[0].tolist() == rows.tolist() and found[1].tolist() == cols.tolist()
        assert found[2].tolist() == d[rows, cols].tolist()
    every = hamming.within(q, planes, 256)
    assert every is not None and len(every[0]) == n * queries
    with pytest.raises(ValueError, match="radius"):
        hamming.within(q, planes, 257)


@pytest.mark.parametrize(
    ("flat_max", "wide_from", "kernel_flat_max", "buckets_from"),
    [
        (10**9, 0, 0, 0),
        (0, multiindex_module._WIDE_FROM, 0, 0),
        (0, 0, 0, multiindex_module._BUCKETS_FROM),
        (0, 0, 0, 0),
        (0, 0, 10**9, multiindex_module._BUCKETS_FROM),
    ],
    ids=["flat", "multi-16", "multi-wide", "multi-wide-buckets", "multi-searched-flat"],
)
def test_saved_index_is_mapped_and_answers_the_same(
    flat_max: int,
    wide_from: int,
    kernel_flat_max: int,
    buckets_from: int,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    verifier: str,
) -> None:
    """Written and opened again (the flat index as FAISS's file, the multi-index as its ``.npy`` arrays, a wide one's
    bucket starts too): the same answers as brute force, from arrays mapped from disk, not read into the process; a
    multi-index searched by its probes, or (where AVX-512's kernel runs, up to ``kernel_flat_max`` rows) as a flat
    one over its codes; a wide one written without its bucket starts (before they were written) makes them on its
    first search, with the same answers."""
    monkeypatch.setattr(StaticHashIndex, "flat_max", flat_max)
    monkeypatch.setattr(StaticHashIndex, "kernel_flat_max", kernel_flat_max)
    monkeypatch.setattr(multiindex_module, "_WIDE_FROM", wide_from)
    monkeypatch.setattr(multiindex_module, "_BUCKETS_FROM", buckets_from)
    rng = np.random.default_rng(5)
    h = clustered_hashes(rng, 5_000, 256, 100, 35)
    StaticHashIndex(h, 256, 31).save(tmp_path, "hashes")
    names = sorted(p.name for p in tmp_path.iterdir())
    buckets = not flat_max and wide_from == 0 and buckets_from == 0
    parts = ("buckets", "codes", "keys", "postings", "radius") if buckets else ("codes", "keys", "postings", "radius")
    assert names == (["hashes.faiss"] if flat_max else [f"hashes_{n}.npy" for n in parts])
    opened = StaticHashIndex.load(tmp_path, "hashes", 256, 31)
    assert len(opened) == 5_000
    chunks = 11 if wide_from == 0 else 16
    starts = chunks * ((1 << (5_000 // 16).bit_length()) + 1) * 4 if buckets else 0
    key = 4 if wide_from == 0 and not buckets else 2  # a wide chunk's whole values; 16 bits, or those under a bucket's
    assert opened.nbytes() == 5_000 * 32 + (0 if flat_max else 5_000 * chunks * (key + 4)) + starts  # hashes, keys...
    if not flat_max:
        multi = opened._multi
        assert multi is not None and all(isinstance(a, np.memmap) for a in (multi.codes, multi.keys, multi.postings))
        assert isinstance(multi.buckets, np.memmap) if buckets else multi.buckets is None
        assert sorted(opened.files("hashes")) == names
    q = flip_bits(rng, h[rng.integers(0, 5_000, 40)], 28)
    for r in (31, 12):
        assert_same(opened.search(q, r), BruteForceIndex(h, 256).search(q, r))
    if buckets:
        multi = opened._multi
        assert multi is not None and multi.buckets is not None
        (tmp_path / "hashes_buckets.npy").unlink()
        with pytest.raises(HashIndexError, match="need its bucket starts"):  # keys of the bits under a bucket's
            StaticHashIndex.load(tmp_path, "hashes", 256, 31)
        # a directory written before the starts were (the keys whole values of 4 bytes): made on the first search
        shifts = [b - a - multi.bucket_bits for a, b in multi.bounds]
        whole = [multi._whole_keys(j, multi.buckets[j], shift) for j, shift in enumerate(shifts)]
        np.save(tmp_path / "hashes_keys.npy", np.stack(whole).astype(np.uint32))
        older = StaticHashIndex.load(tmp_path, "hashes", 256, 31)
        assert older._multi is not None and older._multi.buckets is None
        assert_same(older.search(q, 31), BruteForceIndex(h, 256).search(q, 31))
        assert older._multi._starts  # made
        # a directory of format 8: whole 4-byte keys and the bucket starts, searched in their buckets as they are
        np.save(tmp_path / "hashes_buckets.npy", np.asarray(multi.buckets))
        eight = StaticHashIndex.load(tmp_path, "hashes", 256, 31)
        assert eight._multi is not None and not eight._multi.low and eight._multi.buckets is not None
        assert_same(eight.search(q, 31), BruteForceIndex(h, 256).search(q, 31))
        assert not eight._multi._starts  # read, not made
        np.save(tmp_path / "hashes_buckets.npy", np.zeros((3, 5), np.uint32))
        with pytest.raises(HashIndexError, match="bucket starts are of shape"):
            StaticHashIndex.load(tmp_path, "hashes", 256, 31)


@pytest.mark.parametrize(
    ("flat_max", "wide_from", "buckets_from"),
    [(10**9, 0, 0), (0, multiindex_module._WIDE_FROM, 0), (0, 0, multiindex_module._BUCKETS_FROM), (0, 0, 0)],
    ids=["flat", "multi-16", "multi-wide", "multi-wide-buckets"],
)
def test_an_index_laid_out_in_its_files_is_the_one_saved(
    flat_max: int, wide_from: int, buckets_from: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An index of rows given in parts (of other lengths, one empty), laid out where its files are mapped
    (:meth:`StaticHashIndex.laid_out`: not built in memory), writes the files, byte for byte, that the index built in
    memory of the same rows saves, and is searched from them, mapped, with brute force's answers; a flat one (few rows)
    is built in memory as before, nothing written."""
    monkeypatch.setattr(StaticHashIndex, "flat_max", flat_max)
    monkeypatch.setattr(multiindex_module, "_WIDE_FROM", wide_from)
    monkeypatch.setattr(multiindex_module, "_BUCKETS_FROM", buckets_from)
    rng = np.random.default_rng(6)
    h = clustered_hashes(rng, 5_000, 256, 100, 35)
    parts = [h[:1_234], h[1_234:1_234], h[1_234:4_000], h[4_000:]]
    (tmp_path / "built").mkdir()
    (tmp_path / "laid").mkdir()
    StaticHashIndex(h, 256, 31).save(tmp_path / "built", "hashes")
    laid = StaticHashIndex.laid_out(parts, 256, 31, tmp_path / "laid", "hashes")
    names = sorted(p.name for p in (tmp_path / "built").iterdir())
    if flat_max:
        assert not list((tmp_path / "laid").iterdir()) and laid.source is None
    else:
        assert names == sorted(p.name for p in (tmp_path / "laid").iterdir()) and len(names) >= 4
        for name in names:
            assert (tmp_path / "laid" / name).read_bytes() == (tmp_path / "built" / name).read_bytes(), name
        assert laid.source == (tmp_path / "laid", "hashes") and isinstance(laid._multi.keys, np.memmap)
    q = flip_bits(rng, h[rng.integers(0, 5_000, 40)], 28)
    assert_same(laid.search(q, 31), BruteForceIndex(h, 256).search(q, 31))


def test_a_joined_index_answers_as_one_index_of_all_its_rows(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An index extended by added rows searches the old index (here a multi-index, opened from disk) and the added
    rows' own, one after the other; written as segments and opened again, and past ``HASH_SEGMENTS`` parts laid out
    again: every time the answers of brute force over all the rows in that order."""
    monkeypatch.setattr(StaticHashIndex, "flat_max", 1_000)
    monkeypatch.setattr(StaticHashIndex, "kernel_flat_max", 0)
    rng = np.random.default_rng(8)
    parts = [clustered_hashes(rng, n, 256, 20, 35) for n in (3_000, 7, 400, 1)]
    parts[2][:5] = parts[0][:5]  # rows repeated across parts: each is found in both
    StaticHashIndex(parts[0], 256, 31).save(tmp_path, "base")
    base = StaticHashIndex.load(tmp_path, "base", 256, 31)
    assert base.source == (tmp_path, "base") and base._multi is not None
    joined = StaticHashIndex.joined([base, *(StaticHashIndex(p, 256, 31) for p in parts[1:])])
    rows = np.concatenate(parts)
    assert len(joined) == len(rows) and [len(s) for s in joined.segments()] == [len(p) for p in parts]
    assert np.array_equal(joined.codes(), rows)
    q = np.concatenate([flip_bits(rng, rows[rng.integers(0, len(rows), 40)], 20), rows[3_000:3_010]])
    brute = BruteForceIndex(rows, 256)
    for r in (31, 6):
        assert_same(joined.search(q, r), brute.search(q, r))
    out = tmp_path / "out"
    out.mkdir()
    joined.save(out, "hashes")
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("hashes.")) == [
        "hashes.1.faiss",
        "hashes.2.faiss",
        "hashes.3.faiss",
    ]
    opened = StaticHashIndex.load(out, "hashes", 256, 31, segments=4)
    assert_same(opened.search(q, 31), brute.search(q, 31))
    # added to again and again: past HASH_SEGMENTS parts, those after the first become one
    table = opened
    for _ in range(store.HASH_SEGMENTS + 2):
        extra = clustered_hashes(rng, 30, 256, 3, 35)
        rows = np.concatenate([rows, extra])
        table = store._joined_table(table, [extra])
        assert len(table.segments()) <= store.HASH_SEGMENTS
    assert len(table) == len(rows) and table.segments()[0] is opened.segments()[0]
    q = flip_bits(rng, rows[rng.integers(0, len(rows), 60)], 20)
    assert_same(table.search(q, 31), BruteForceIndex(rows, 256).search(q, 31))
    with pytest.raises(ConfigError, match="same width and radius"):
        StaticHashIndex.joined([base, StaticHashIndex(parts[1], 256, 20)])


def test_multi_index_refuses_what_it_cannot_answer(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    h = random_hashes(rng, 400, 256)
    MultiIndex.build(h, 15).save(tmp_path, "hashes")
    with pytest.raises(HashIndexError, match="built for distance 15, not 31"):  # written for other settings
        StaticHashIndex.load(tmp_path, "hashes", 256, 31)
    assert_same(
        StaticHashIndex.load(tmp_path, "hashes", 256, 15).search(h[:5], 15), BruteForceIndex(h, 256).search(h[:5], 15)
    )
    (tmp_path / "hashes_postings.npy").unlink()
    with pytest.raises(HashIndexError, match=r"hashes_postings\.npy: unreadable"):
        StaticHashIndex.load(tmp_path, "hashes", 256, 15)


@pytest.mark.parametrize(
    ("wide_from", "buckets_from", "bucket_keys", "rows", "key"),
    [
        (multiindex_module._WIDE_FROM, 0, 16, 3_000, np.uint16),
        (0, multiindex_module._BUCKETS_FROM, 16, 3_000, np.uint32),
        (0, 0, 16, 3_000, np.uint16),
        (0, 0, 1, 40_000, np.uint8),
    ],
    ids=["16-bit", "wide", "wide-in-buckets", "wide-in-buckets-1-byte"],
)
def test_multi_index_in_blocks_answers_as_in_one(
    monkeypatch: pytest.MonkeyPatch,
    wide_from: int,
    buckets_from: int,
    bucket_keys: int,
    rows: int,
    key: type[np.unsignedinteger[Any]],
    verifier: str,
) -> None:
    """Candidates verified in blocks (bounded memory) give the answer of one block, duplicates dropped across
    blocks too (a row found through two chunks lands in two blocks); both chunk layouts answer exactly, the wide
    one's probes searched in the sorted keys or each in its bucket, its keys then holding only the bits under their
    bucket's (2 bytes, or 1 byte with 2^16 buckets), a 16-bit chunk's keys in 2 bytes."""
    monkeypatch.setattr(multiindex_module, "_WIDE_FROM", wide_from)
    monkeypatch.setattr(multiindex_module, "_BUCKETS_FROM", buckets_from)
    monkeypatch.setattr(multiindex_module, "_BUCKET_KEYS", bucket_keys)
    rng = np.random.default_rng(7)
    h = clustered_hashes(rng, rows, 256, 20, 20)
    q = flip_bits(rng, h[rng.integers(0, rows, 30)], 25)
    multi = MultiIndex.build(h, 31)
    assert multi.keys.dtype == key and multi.low == (wide_from == 0 and buckets_from == 0)
    assert multi.chunks == (11 if wide_from == 0 else 16)
    assert [b - a for a, b in multi.bounds] == ([24] * 3 + [23] * 8 if wide_from == 0 else [16] * 16)
    whole = multi.search(q, 31)
    assert (multi.buckets is not None) == (wide_from == 0 and buckets_from == 0)  # bucket starts made, or not
    monkeypatch.setattr(multiindex_module, "_CANDIDATE_BLOCK", 97)
    assert_same(multi.search(q, 31), whole)
    assert_same(whole, BruteForceIndex(h, 256).search(q, 31))


@pytest.mark.parametrize("kind", [np.uint8, np.uint16, np.uint32])
def test_the_kernels_probe_ranges_are_numpys_searchsorted(kind: type[np.unsignedinteger[Any]]) -> None:
    """Each sorted probe's range of equal keys (the galloping search) is numpy's left and right searchsorted, on
    keys of 1, 2 and 4 bytes with long runs of repeats, probes before the first key, past the last and between (past
    the keys' type too), and on 0 or 1 key."""
    if not hamming.ranges_kernel():
        pytest.skip("the C extension is not built")
    rng = np.random.default_rng(9)
    widest = 1 << (8 * np.dtype(kind).itemsize)
    for n, top in [(0, 10), (1, 10), (50, 10), (5_000, 300), (100_000, 1 << 24), (3_000, 4), (2_000, widest)]:
        top = min(top, widest)
        keys = np.sort(rng.integers(0, top, n)).astype(kind)
        probes = np.sort(np.concatenate([rng.integers(0, top + 5, 400), keys[:: max(1, n // 50)]])).astype(np.uint32)
        found = hamming.probe_ranges(keys, probes)
        assert found is not None
        left = np.searchsorted(keys.astype(np.uint32), probes, side="left")
        right = np.searchsorted(keys.astype(np.uint32), probes, side="right")
        assert np.array_equal(found[0], left) and np.array_equal(found[1], right - left), n
    with pytest.raises(ValueError, match="sorted"):
        hamming.probe_ranges(np.arange(10, dtype=np.uint32), np.array([5, 2], np.uint32))


def test_probes_searched_in_their_buckets_are_numpys_searchsorted() -> None:
    """Each probe, in any order, searched among the keys of its bucket alone (a table of where each bucket of the
    sorted keys begins, as a wide chunk's is made): numpy's left and right searchsorted over all the keys for the
    probes that find keys (which they are, in order; the others left out), on keys
    with long runs of repeats, empty buckets, probes before the first key, past the last and between; a probe whose
    bucket lies past the table, and a table that points past the keys, are refused."""
    if not hamming.ranges_kernel():
        pytest.skip("the C extension is not built")
    rng = np.random.default_rng(10)
    for n, width, bits in [(0, 24, 4), (1, 24, 4), (5_000, 24, 8), (100_000, 23, 12), (3_000, 24, 1), (2_000, 9, 9)]:
        keys = np.sort(rng.integers(0, 1 << width, n) >> rng.integers(0, 3)).astype(np.uint32)  # repeats
        shift = width - bits
        counts = np.bincount(keys >> np.uint32(shift), minlength=1 << bits)
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.uint32)
        probes = np.concatenate([rng.integers(0, 1 << width, 400), keys[:: max(1, n // 50)], [0, (1 << width) - 1]])
        probes = rng.permutation(probes).astype(np.uint32)  # any order
        left = np.searchsorted(keys, probes, side="left")
        right = np.searchsorted(keys, probes, side="right")
        hit = right > left  # only the probes that find keys, in the probes' order
        assert hit.any() or n == 0
        # the keys whole, and holding only the bits under their bucket's (in the narrowest type that holds them)
        low = keys & np.uint32((1 << shift) - 1)
        narrow = low.astype(np.uint8 if shift <= 8 else np.uint16 if shift <= 16 else np.uint32)
        for held, is_low in ((keys, False), (low, True), (narrow, True)):
            found = hamming.probe_buckets(held, starts, shift, probes, is_low)
            assert found is not None
            assert np.array_equal(found[0], np.flatnonzero(hit)), (n, held.dtype)
            assert np.array_equal(found[1], left[hit]) and np.array_equal(found[2], (right - left)[hit]), n
    keys = np.arange(16, dtype=np.uint32)
    starts = np.array([0, 8, 16], np.uint32)  # two buckets of 8 (shift 3)
    with pytest.raises(ValueError, match="outside the arrays"):
        hamming.probe_buckets(keys, starts, 3, np.array([16], np.uint32))  # bucket 2: no end in the table
    with pytest.raises(ValueError, match="outside the arrays"):
        hamming.probe_buckets(keys, np.array([0, 8, 17], np.uint32), 3, np.array([9], np.uint32))
    with pytest.raises(ValueError, match="bits under the shift"):  # 1-byte keys cannot hold 9 bits under a bucket's
        hamming.probe_buckets(np.zeros(16, np.uint8), np.array([0, 16], np.uint32), 9, np.array([9], np.uint32), True)


def test_the_kernel_refuses_a_posting_outside_the_codes() -> None:
    """A damaged multi-index (a posted row id past the hashes it holds) is refused by the C verification, which
    never reads outside the arrays."""
    if not hamming.ranges_kernel():
        pytest.skip("the C extension is not built")
    rng = np.random.default_rng(8)
    h = random_hashes(rng, 500, 256)
    multi = MultiIndex.build(h, 31)
    assert_same(multi.search(h[:20], 31), BruteForceIndex(h, 256).search(h[:20], 31))
    postings = np.array(multi.postings)
    postings[:, :] = 500  # every posting one past the last row
    damaged = MultiIndex(multi.codes, multi.keys, postings, multi.radius)
    with pytest.raises(ValueError, match="outside the index's arrays"):
        damaged.search(h[:20], 31)


# ---- edge cases ------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [BruteForceIndex, StaticHashIndex])
def test_edge_cases(cls: type) -> None:
    def make(h: np.ndarray) -> HashIndex:
        return cls(h, 64) if cls is BruteForceIndex else cls(h, 64, 8)

    rng = np.random.default_rng(3)
    q = random_hashes(rng, 4, 64)
    empty = make(np.zeros((0, 8), np.uint8))
    assert isinstance(empty, HashIndex)
    assert len(empty) == 0
    assert all(a.size == 0 for a in empty.search(q, 8))
    h = random_hashes(rng, 50, 64)
    idx = make(h)
    assert len(idx) == 50
    # radius 0: exactly the identical hashes
    res = idx.search(h[[5, 5, 9]], 0)
    assert_same(res, (np.array([0, 1, 2]), np.array([5, 5, 9]), np.array([0, 0, 0])))
    # empty query batch
    assert all(a.size == 0 for a in idx.search(np.empty((0, 8), np.uint8), 8))
    # wrong width, dtype, shape
    with pytest.raises(HashIndexError):
        make(random_hashes(rng, 1, 256))
    with pytest.raises(HashIndexError):
        idx.search(random_hashes(rng, 1, 256), 8)
    with pytest.raises(HashIndexError):
        make(h[:1].astype(np.int64))
    with pytest.raises(HashIndexError):
        make(h[0])
    # bad radius
    with pytest.raises(ConfigError):
        idx.search(q, -1)
    with pytest.raises(ConfigError):
        idx.search(q, 65)
    with pytest.raises(ConfigError):
        cls(h, 60) if cls is BruteForceIndex else cls(h, 60, 8)


@pytest.mark.parametrize("bits", [64, 72, 256])
def test_multi_index_on_other_widths_answers_as_brute_force(bits: int) -> None:
    """Chunks cut across 64-bit words, and codes whose width is no multiple of 8 bytes (padded), search exactly."""
    rng = np.random.default_rng(bits)
    h = clustered_hashes(rng, 2_000, bits, 40, bits // 8)
    q = flip_bits(rng, h[rng.integers(0, 2_000, 25)], bits // 6)
    r = bits // 8
    assert_same(MultiIndex.build(h, r).search(q, r), BruteForceIndex(h, bits).search(q, r))
