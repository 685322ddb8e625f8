"""Match indexes: multi-index hashing must give exactly the brute-force answer."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.errors import ConfigError, IndexError_
from provenance.engine.index import (
    BruteForceIndex,
    MatchIndex,
    MultiIndexHashIndex,
    StaticHashIndex,
    choose_chunks,
    hamming_distances,
    load_index,
    make_index,
)

HYP = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


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


def clustered_hashes(
    rng: np.random.Generator, n: int, bits: int, n_seeds: int, spread: int
) -> npt.NDArray[np.uint8]:
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
        ids = rng.permutation(10_000)[:300].astype(np.int64)
        q = flip_bits(rng, h[:40], bits // 6)
        idx = BruteForceIndex(bits)
        idx.add(ids, h)
        r = bits // 8
        res = idx.search(q, r)
        assert_sorted(res)
        assert as_set(res) == naive(ids, h, q, r)
        assert res[0].dtype == np.int64 and res[1].dtype == np.int64 and res[2].dtype == np.int32


def test_golden_distances() -> None:
    a = np.array([[0b10110000, 0, 0, 0, 0, 0, 0, 0xFF]], np.uint8)
    b = np.array([[0, 0, 0, 0, 0, 0, 0, 0], [0b10110000, 0, 0, 0, 0, 0, 0, 0xFF]], np.uint8)
    np.testing.assert_array_equal(hamming_distances(a, b), [[11, 0]])
    idx = BruteForceIndex(64)
    idx.add(np.array([7, 9]), b)
    assert_same(idx.search(a, 11), (np.array([0, 0]), np.array([9, 7]), np.array([0, 11])))
    assert_same(idx.search(a, 10), (np.array([0]), np.array([9]), np.array([0])))


# ---- MIH == brute force (property tests) ------------------------------------------------------


@HYP
@given(
    seed=st.integers(0, 2**32 - 1),
    bits=st.sampled_from([64, 256]),
    clustered=st.booleans(),
    n=st.integers(0, 600),
    radius_frac=st.sampled_from([0.0, 0.05, 0.125, 0.16]),
    chunks=st.sampled_from([None, 3, 4, 5]),
)
def test_mih_equals_bruteforce(
    seed: int, bits: int, clustered: bool, n: int, radius_frac: float, chunks: int | None
) -> None:
    rng = np.random.default_rng(seed)
    r_index = 8 if bits == 64 else 31
    if chunks is not None and bits == 256:
        chunks *= 4  # the same chunk widths as at 64 bits
    h = (
        clustered_hashes(rng, n, bits, max(1, n // 20), bits // 6)
        if clustered
        else random_hashes(rng, n, bits)
    )
    ids = rng.choice(10**12, size=n, replace=False).astype(np.int64)
    base = h[rng.integers(0, n, 30)] if n else random_hashes(rng, 30, bits)
    queries = np.concatenate([flip_bits(rng, base, bits // 5), random_hashes(rng, 5, bits)])
    # merge_min=0: every row goes into the chunk tables (no brute-force buffer).
    bf, mih = BruteForceIndex(bits), MultiIndexHashIndex(bits, r_index, chunks, merge_min=0)
    bf.add(ids, h)
    mih.add(ids, h)
    for r in sorted({int(radius_frac * bits), r_index}):
        expected = bf.search(queries, r)
        got = mih.search(queries, r)
        assert_same(got, expected)
        assert_sorted(got)


@HYP
@given(seed=st.integers(0, 2**32 - 1), bits=st.sampled_from([64, 256]), steps=st.integers(1, 8))
def test_mih_equals_bruteforce_after_add_remove_and_roundtrip(seed: int, bits: int, steps: int) -> None:
    rng = np.random.default_rng(seed)
    r = 8 if bits == 64 else 31
    # Tiny merge thresholds so the buffer, the merged tables and compaction are all exercised.
    bf, mih = BruteForceIndex(bits), MultiIndexHashIndex(bits, r, merge_min=int(rng.integers(0, 64)))
    next_id = 0
    live: list[int] = []
    pool = clustered_hashes(rng, 400, bits, 8, bits // 10)
    for _ in range(steps):
        if live and rng.random() < 0.4:
            drop = rng.choice(live, size=int(rng.integers(1, len(live) + 1)), replace=False)
            bf.remove(drop)
            mih.remove(drop)
            live = [i for i in live if i not in set(drop.tolist())]
        else:
            k = int(rng.integers(1, 150))
            ids = np.arange(next_id, next_id + k, dtype=np.int64)
            rows = pool[rng.integers(0, pool.shape[0], k)]
            h = (
                np.where(rng.random(rows.shape) < 0.5, rows, random_hashes(rng, k, bits))
                if rng.random() < 0.3
                else rows
            )
            bf.add(ids, h)
            mih.add(ids, h)
            live += ids.tolist()
            next_id += k
        assert len(bf) == len(mih) == len(live)
        queries = flip_bits(rng, pool[rng.integers(0, pool.shape[0], 20)], r)
        assert_same(mih.search(queries, r), bf.search(queries, r))
    queries = flip_bits(rng, pool[:25], r)
    restored = MultiIndexHashIndex.from_bytes(mih.to_bytes())
    assert len(restored) == len(live)
    assert_same(restored.search(queries, r), bf.search(queries, r))
    assert_same(load_index(bf.to_bytes()).search(queries, r), bf.search(queries, r))
    # Still exact and usable after the round trip.
    extra = random_hashes(rng, 5, bits)
    restored.add(np.arange(next_id, next_id + 5), extra)
    bf.add(np.arange(next_id, next_id + 5), extra)
    assert_same(restored.search(extra, r), bf.search(extra, r))


def test_mih_exact_at_scale_on_clustered_data() -> None:
    rng = np.random.default_rng(7)
    for bits, r in ((64, 8), (256, 31)):
        h = clustered_hashes(rng, 20_000, bits, 300, r + 4)
        ids = np.arange(h.shape[0], dtype=np.int64) * 5 + 3
        bf, mih = BruteForceIndex(bits), make_index(bits, r)
        assert isinstance(mih, MultiIndexHashIndex)
        bf.add(ids, h)
        mih.add(ids, h)
        q = flip_bits(rng, h[rng.integers(0, h.shape[0], 60)], r // 2)
        expected = bf.search(q, r)
        assert expected[0].size > 60  # the clusters make many true matches per query
        assert_same(mih.search(q, r), expected)


@pytest.mark.parametrize("flat_max", [10**9, 0])  # FAISS's flat index, then its multi-index hashing
def test_static_index_equals_bruteforce(flat_max: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(StaticHashIndex, "flat_max", flat_max)
    rng = np.random.default_rng(11)
    h = clustered_hashes(rng, 20_000, 256, 300, 35)
    bf = BruteForceIndex(256)
    bf.add(np.arange(h.shape[0], dtype=np.int64), h)
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
    with pytest.raises(IndexError_, match="64 bits"):
        StaticHashIndex(h[:, :8], 256, 31)


# ---- sizing ----------------------------------------------------------------------------------


def test_chunk_choice_follows_design() -> None:
    assert choose_chunks(64, 8) == 3
    assert choose_chunks(256, 31) in (11, 12)
    m = choose_chunks(256, 31)
    assert 31 // m == 2 and -(-256 // m) <= 24
    assert isinstance(make_index(64, 8), MultiIndexHashIndex)
    assert isinstance(make_index(64, 40), BruteForceIndex)
    assert isinstance(make_index(64, 8, "bruteforce"), BruteForceIndex)
    with pytest.raises(ConfigError):
        make_index(64, 8, "faiss")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        make_index(60, 8)
    with pytest.raises(ConfigError):
        MultiIndexHashIndex(256, 31, chunks=4)  # 64-bit chunks do not fit uint32 keys


# ---- edge cases ------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [BruteForceIndex, MultiIndexHashIndex])
def test_edge_cases(cls: type) -> None:
    idx = cls(64) if cls is BruteForceIndex else cls(64, 8)
    assert isinstance(idx, MatchIndex)
    rng = np.random.default_rng(3)
    q = random_hashes(rng, 4, 64)
    # empty index
    assert len(idx) == 0
    assert all(a.size == 0 for a in idx.search(q, 8))
    assert len(load_index(idx.to_bytes())) == 0
    h = random_hashes(rng, 50, 64)
    idx.add(np.arange(50), h)
    # radius 0: exactly the identical hashes
    res = idx.search(h[[5, 5, 9]], 0)
    assert_same(res, (np.array([0, 1, 2]), np.array([5, 5, 9]), np.array([0, 0, 0])))
    # empty query batch
    assert all(a.size == 0 for a in idx.search(np.empty((0, 8), np.uint8), 8))
    # duplicate ids: in the batch and against stored ids; nothing is added on failure
    with pytest.raises(IndexError_):
        idx.add(np.array([100, 100]), h[:2])
    with pytest.raises(IndexError_):
        idx.add(np.array([101, 7]), h[:2])
    assert len(idx) == 50
    assert idx.search(h[:1], 0)[1].tolist() == [0]
    # wrong width, dtype, shape
    with pytest.raises(IndexError_):
        idx.add(np.array([200]), random_hashes(rng, 1, 256))
    with pytest.raises(IndexError_):
        idx.search(random_hashes(rng, 1, 256), 8)
    with pytest.raises(IndexError_):
        idx.add(np.array([200]), h[:1].astype(np.int64))
    with pytest.raises(IndexError_):
        idx.add(np.array([200, 201]), h[:1])
    # unknown id on remove; bad radius
    with pytest.raises(IndexError_):
        idx.remove(np.array([12345]))
    with pytest.raises(ConfigError):
        idx.search(q, -1)
    with pytest.raises(ConfigError):
        idx.search(q, 65)
    # remove then re-add the same id with a new hash
    idx.remove(np.array([5]))
    assert 5 not in idx.search(h[5:6], 0)[1].tolist()
    idx.add(np.array([5]), h[9:10])
    assert sorted(idx.search(h[9:10], 0)[1].tolist()) == [5, 9]
    assert len(idx) == 50


def test_corrupt_blobs_rejected() -> None:
    idx = MultiIndexHashIndex(64, 8)
    idx.add(np.arange(10), random_hashes(np.random.default_rng(0), 10, 64))
    blob = idx.to_bytes()
    with pytest.raises(IndexError_):
        load_index(b"not an index")
    with pytest.raises(IndexError_):
        load_index(b"XXXXXXXX" + blob[8:])
    with pytest.raises(IndexError_):
        load_index(blob[:8] + (99).to_bytes(4, "little") + blob[12:])
    with pytest.raises(IndexError_):
        load_index(blob[: len(blob) // 2])
    with pytest.raises(IndexError_):
        BruteForceIndex.from_bytes(blob)  # holds a MIH index


def test_compaction_after_many_removals_keeps_results() -> None:
    rng = np.random.default_rng(11)
    h = clustered_hashes(rng, 5000, 64, 50, 6)
    ids = rng.choice(10**9, 5000, replace=False).astype(np.int64)
    bf, mih = BruteForceIndex(64), MultiIndexHashIndex(64, 8, merge_min=0)
    bf.add(ids, h)
    mih.add(ids, h)
    q = flip_bits(rng, h[:40], 4)
    assert_same(mih.search(q, 8), bf.search(q, 8))  # tables built
    for part in np.array_split(rng.permutation(ids)[:3500], 3):  # crosses the compaction threshold
        bf.remove(part)
        mih.remove(part)
        assert_same(mih.search(q, 8), bf.search(q, 8))
    assert len(mih) == 1500
    more = flip_bits(rng, h[:300], 3)
    bf.add(np.arange(300) - 1000, more)
    mih.add(np.arange(300) - 1000, more)
    assert_same(mih.search(q, 8), bf.search(q, 8))
