"""Hash indexes: find every stored hash within a Hamming radius of a query hash.

Hashes are packed bit arrays, ``uint8`` of shape ``(N, bits // 8)`` in ``np.packbits`` bit order (256 bits
for the engine's hashes). Every index answers the small :class:`HashIndex` protocol, built once from a fixed
set of rows (their ids are their positions):

* :class:`BruteForceIndex` - the exact reference: XOR + popcount over every stored row, chunked so memory
  stays bounded. Tests compare every faster index against it.
* :class:`StaticHashIndex` - the engine's: exact, in FAISS (C++, popcount SIMD).

``search`` answers three parallel arrays ``(query_rows, ids, distances)`` sorted by query row, then
distance, then id. Misuse (a wrong hash width or shape) raises :class:`~provenance.errors.HashIndexError`; bad
parameters raise :class:`~provenance.errors.ConfigError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from provenance.errors import ConfigError, HashIndexError

__all__ = ["BruteForceIndex", "HashIndex", "SearchResult", "StaticHashIndex", "hamming_distances"]

IntArray = npt.NDArray[np.int64]
HashArray = npt.NDArray[np.uint8]
SearchResult = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int32]]
"""``(query_rows, ids, distances)``: parallel arrays, sorted by query row, distance, id."""

# Bound on the elements of one (queries x rows) block of the brute-force scan (~64 MB of uint64).
_BLOCK_ELEMENTS = 1 << 23
_HAS_BITWISE_COUNT = hasattr(np, "bitwise_count")
_POPCOUNT_TABLE = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


@runtime_checkable
class HashIndex(Protocol):
    """A fixed set of packed hashes (ids: their row positions), searched by Hamming radius."""

    bits: int

    def search(self, queries: npt.ArrayLike, max_distance: int) -> SearchResult:
        """Every (query row, id, distance) with distance <= max_distance."""
        ...

    def __len__(self) -> int: ...


# --------------------------------------------------------------------------------------------------
# Distances


def _as_words(h: npt.NDArray[np.uint8]) -> npt.NDArray[Any]:
    """View packed hashes as uint64 words where the width allows (8x fewer elements to popcount)."""
    h = np.ascontiguousarray(h)
    if h.shape[1] % 8 == 0:
        return h.view(np.uint64)
    return h


def _popcount_rows(x: npt.NDArray[Any]) -> npt.NDArray[np.uint16]:
    """Sum of set bits over the last axis (x is uint8 or uint64)."""
    # numpy < 2 has no bitwise_count: byte lookup table instead.
    c = np.bitwise_count(x) if _HAS_BITWISE_COUNT else _POPCOUNT_TABLE[x.view(np.uint8)]
    out: npt.NDArray[np.uint16] = c.sum(axis=-1, dtype=np.uint16)
    return out


def hamming_distances(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.int32]:
    """Pairwise Hamming distances between two packed hash arrays, shape ``(len(a), len(b))``."""
    aa = _check_hashes(a, None, "a")
    bb = _check_hashes(b, aa.shape[1] * 8, "b")
    wa, wb = _as_words(aa), _as_words(bb)
    return _popcount_rows(wa[:, None, :] ^ wb[None, :, :]).astype(np.int32)


# --------------------------------------------------------------------------------------------------
# Validation helpers


def _check_hashes(hashes: npt.ArrayLike, bits: int | None, what: str = "hashes") -> HashArray:
    h = np.asarray(hashes)
    if h.ndim != 2:
        raise HashIndexError(f"{what}: expected a 2-D array (N, bits/8), got shape {h.shape}")
    if h.dtype != np.uint8:
        raise HashIndexError(f"{what}: expected packed uint8 bits, got dtype {h.dtype}")
    if bits is not None and h.shape[1] * 8 != bits:
        raise HashIndexError(f"{what}: width {h.shape[1] * 8} bits does not match the index's {bits} bits")
    return np.ascontiguousarray(h)


def _check_radius(max_distance: int, bits: int) -> int:
    if isinstance(max_distance, bool) or not isinstance(max_distance, int | np.integer):
        raise ConfigError(f"max_distance: expected an int, got {max_distance!r}")
    r = int(max_distance)
    if not 0 <= r <= bits:
        raise ConfigError(f"max_distance: {r} outside [0, {bits}]")
    return r


def _check_bits(bits: int) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or bits <= 0 or bits % 8:
        raise ConfigError(f"bits: expected a positive multiple of 8, got {bits!r}")
    return int(bits)


def _empty_result() -> SearchResult:
    return (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int32))


def _sorted_result(q: IntArray, ids: IntArray, d: npt.NDArray[Any]) -> SearchResult:
    order = np.lexsort((ids, d, q))
    return (q[order].astype(np.int64), ids[order].astype(np.int64), d[order].astype(np.int32))


# --------------------------------------------------------------------------------------------------
# Indexes


class BruteForceIndex:
    """Exact linear scan over a fixed set of hashes; the reference every other index is tested against."""

    def __init__(self, hashes: npt.ArrayLike, bits: int) -> None:
        self.bits = _check_bits(bits)
        self._hashes = _check_hashes(hashes, self.bits)

    def __len__(self) -> int:
        return int(self._hashes.shape[0])

    def search(self, queries: npt.ArrayLike, max_distance: int) -> SearchResult:
        q = _check_hashes(queries, self.bits, "queries")
        r = _check_radius(max_distance, self.bits)
        n = len(self)
        if q.shape[0] == 0 or n == 0:
            return _empty_result()
        wq = _as_words(q)
        words = wq.shape[1]
        stored = _as_words(self._hashes)
        out_q: list[IntArray] = []
        out_r: list[IntArray] = []
        out_d: list[npt.NDArray[Any]] = []
        rows_per_block = max(1, min(n, _BLOCK_ELEMENTS // words))
        q_per_block = max(1, _BLOCK_ELEMENTS // (rows_per_block * words))
        for r0 in range(0, n, rows_per_block):
            block = stored[r0 : min(n, r0 + rows_per_block)]
            for q0 in range(0, wq.shape[0], q_per_block):
                q1 = min(wq.shape[0], q0 + q_per_block)
                d = _popcount_rows(wq[q0:q1, None, :] ^ block[None, :, :])
                qi, ri = np.nonzero(d <= r)
                if qi.size:
                    out_q.append(qi.astype(np.int64) + q0)
                    out_r.append(ri.astype(np.int64) + r0)
                    out_d.append(d[qi, ri])
        if not out_q:
            return _empty_result()
        return _sorted_result(np.concatenate(out_q), np.concatenate(out_r), np.concatenate(out_d))


class StaticHashIndex:
    """Exact radius search over a fixed set of hashes, in FAISS (C++, popcount SIMD).

    Built once from all rows (``ids`` are their positions); :meth:`search` answers like
    :meth:`MatchIndex.search`: every stored hash within ``max_distance`` of each query, sorted by query row,
    distance, id. Up to ``flat_max`` rows it compares every pair (FAISS's binary flat index, ~0.5 ns a pair:
    8x a numpy multi-index hashing on the engine's reference regions); above, FAISS's own
    multi-index hashing (16-bit chunks, ``radius // chunks`` bits flipped per probe, so exact by the
    pigeonhole principle).
    """

    flat_max: ClassVar[int] = 262_144

    def __init__(self, hashes: npt.ArrayLike, bits: int, max_distance: int) -> None:
        import faiss

        self.bits = _check_bits(bits)
        self.max_distance = _check_radius(max_distance, self.bits)
        data = np.ascontiguousarray(_check_hashes(hashes, self.bits))
        self._n = int(data.shape[0])
        self._index: Any
        if self._n <= self.flat_max or self.bits % 16:
            self._index = faiss.IndexBinaryFlat(self.bits)
        else:
            chunks = self.bits // 16
            self._index = faiss.IndexBinaryMultiHash(self.bits, chunks, 16)
            self._index.nflip = self.max_distance // chunks
        if self._n:
            self._index.add(data)

    def __len__(self) -> int:
        return self._n

    def save(self, path: Path) -> None:
        """Write the index to ``path`` (FAISS's own format), for :meth:`load`."""
        import faiss

        faiss.write_index_binary(self._index, str(path))

    @classmethod
    def load(cls, path: Path, bits: int, max_distance: int) -> StaticHashIndex:
        """An index :meth:`save` wrote. A flat one is memory-mapped, not read: its rows stay in the page cache,
        shared by every process of the machine that opens the same file (FAISS's ``IO_FLAG_MMAP_IFC``); the
        multi-index hashing one (above ``flat_max`` rows) is read into memory (its hash tables are built
        structures)."""
        import faiss

        self = cls.__new__(cls)
        self.bits = _check_bits(bits)
        self.max_distance = _check_radius(max_distance, self.bits)
        try:
            self._index = faiss.read_index_binary(str(path), faiss.IO_FLAG_MMAP_IFC)
        except RuntimeError:  # not a flat index: FAISS maps only flat codes
            self._index = faiss.read_index_binary(str(path))
        if self._index.d != self.bits:
            raise HashIndexError(f"{path}: index of {self._index.d} bits, expected {self.bits}")
        self._n = int(self._index.ntotal)
        return self

    def search(self, queries: npt.ArrayLike, max_distance: int) -> SearchResult:
        q = np.ascontiguousarray(_check_hashes(queries, self.bits, "queries"))
        r = _check_radius(max_distance, self.bits)
        if q.shape[0] == 0 or self._n == 0:
            return _empty_result()
        if r > self.max_distance and self._n > self.flat_max:
            raise ConfigError(f"max_distance {r} exceeds the {self.max_distance} this index was built for")
        lims, dist, ids = self._index.range_search(q, r + 1)  # FAISS keeps distances < radius
        qrows = np.repeat(np.arange(q.shape[0], dtype=np.int64), np.diff(lims.astype(np.int64)))
        return _sorted_result(qrows, ids.astype(np.int64), dist.astype(np.int32))
