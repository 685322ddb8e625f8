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

import functools
import itertools
import math
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from provenance.engine.hamming import hamming_planes, probe_ranges, verify_ranges, within, within_kernel
from provenance.engine.rows import segment_file
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
    """Exact radius search over a fixed set of hashes.

    Built once from all rows (``ids`` are their positions); :meth:`search` answers like
    :meth:`MatchIndex.search`: every stored hash within ``max_distance`` of each query, sorted by query row,
    distance, id. Up to ``flat_max`` rows it compares every pair (FAISS's binary flat index, ~0.5 ns a pair; where
    AVX-512 VPOPCNTDQ runs, :func:`~provenance.engine.hamming.within`'s kernel over the same rows, ~0.24 ns a pair,
    as it does over a multi-index's rows up to ``kernel_flat_max``);
    above, multi-index hashing (:class:`MultiIndex`: 16-bit chunks, every chunk value within
    ``max_distance // chunks`` bits of the query's probed, so exact by the pigeonhole principle), in arrays that
    :meth:`save` writes and :meth:`load` maps: the processes of a machine share one copy in the page cache, and
    opening costs nothing whatever the size. (FAISS's own multi-index hashing, used before, is a built structure:
    read whole into every process, 1.16 GB for 4.3 * 10^6 rows, ~10 hours of reference footage, and 0.7 s of CPU
    for a clip's 160 queries; the arrays here take 96 bytes a row on disk and a tenth of the search time.)
    """

    #: measured on the real queries of 32 short clips against real reference rows (one thread, 2026-12-06): FAISS's
    #: flat search 1.4 / 6.7 / 14.2 / 67.7 ms a clip at 5,000 / 22,580 / 50,000 / 200,642 rows, the multi-index
    #: 5.2 / 6.6 / 8.0 / 13.2 ms (the same answers); the two cross at about 25,000 rows (~4 minutes of footage)
    flat_max: ClassVar[int] = 32_768
    #: up to this many rows a multi-index is searched as a flat one where AVX-512's kernel runs
    #: (:func:`~provenance.engine.hamming.within` over its codes): measured on the short corpus's real rows and
    #: perturbed copies (one thread, 2026-12-06), the kernel 2.41 / 9.21 / 18.40 ms a search of 204 queries at
    #: 50,000 / 200,000 / 400,000 rows, the multi-index 6.44 / 11.39 / 16.83 ms (the same answers): they cross at
    #: ~350,000 rows. The layout written stays the multi-index's, which a node without the kernel searches as one.
    kernel_flat_max: ClassVar[int] = 262_144

    def __init__(self, hashes: npt.ArrayLike, bits: int, max_distance: int) -> None:
        self.bits = _check_bits(bits)
        self.max_distance = _check_radius(max_distance, self.bits)
        data = np.ascontiguousarray(_check_hashes(hashes, self.bits))
        self._n = int(data.shape[0])
        self._index: Any = None
        self._multi: MultiIndex | None = None
        self._planes: npt.NDArray[np.uint64] | None = None
        self._parts: list[StaticHashIndex] = []  # a joined index's (:meth:`joined`), else none
        self.source: tuple[Path, str] | None = None  # the directory and name it was loaded from (:meth:`load`)
        if self._n <= self.flat_max or MultiIndex.probes(self.bits, self._n, self.max_distance) > _MAX_PROBES:
            import faiss

            self._index = faiss.IndexBinaryFlat(self.bits)
            if self._n:
                self._index.add(data)
        else:
            self._multi = MultiIndex.build(data, self.max_distance)

    def __len__(self) -> int:
        return self._n

    @classmethod
    def joined(cls, parts: list[StaticHashIndex]) -> StaticHashIndex:
        """The rows of ``parts`` (each searched as it is: one loaded from an index directory stays mapped), one
        part after another: ids are counted across them, and a search answers as one index of all the rows would.
        What an index extended by added references holds: the older directory's search, not built again, and the
        added rows' own (:meth:`segments` to write them)."""
        flat = [q for p in parts for q in (p._parts or [p])]
        if not flat or any((p.bits, p.max_distance) != (flat[0].bits, flat[0].max_distance) for p in flat):
            raise ConfigError("joined hash indexes must be of the same width and radius")
        self = cls.__new__(cls)
        self.bits, self.max_distance = flat[0].bits, flat[0].max_distance
        self._index, self._multi, self._planes, self.source = None, None, None, None
        self._parts = flat
        self._n = sum(len(p) for p in flat)
        return self

    def segments(self) -> list[StaticHashIndex]:
        """The parts it searches one after another (itself when it is one)."""
        return list(self._parts) or [self]

    def files(self, name: str) -> list[str]:
        """The files :meth:`save` writes of one part under ``name``."""
        parts = ("codes", "keys", "postings", "radius")
        return [f"{name}_{p}.npy" for p in parts] if self._multi is not None else [f"{name}.faiss"]

    def nbytes(self) -> int:
        """Bytes of the search's arrays: the hashes, and the multi-index's chunk keys and postings."""
        if self._parts:
            return sum(p.nbytes() for p in self._parts)
        if self._multi is not None:
            return sum(int(a.nbytes) for a in (self._multi.codes, self._multi.keys, self._multi.postings))
        return self._n * self.bits // 8

    def save(self, directory: Path, name: str) -> None:
        """Write the index into ``directory`` as ``name.faiss`` (flat: FAISS's own format) or as the multi-index's
        arrays ``name_*.npy`` (:meth:`files`), for :meth:`load`; a joined one's parts as ``name``, ``name.1``, ...
        (:meth:`load`'s ``segments``)."""
        if self._parts:
            for k, part in enumerate(self._parts):
                part.save(directory, segment_file(name, k))
            return
        if self._multi is not None:
            self._multi.save(directory, name)
            return
        import faiss

        faiss.write_index_binary(self._index, str(directory / f"{name}.faiss"))

    @classmethod
    def load(cls, directory: Path, name: str, bits: int, max_distance: int, segments: int = 1) -> StaticHashIndex:
        """An index :meth:`save` wrote, memory-mapped, not read: its rows stay in the page cache, shared by every
        process of the machine that opens the same files (a flat one by FAISS's ``IO_FLAG_MMAP_IFC``, a
        multi-index as ``.npy`` arrays). Raises :class:`~provenance.errors.HashIndexError` for another width or a
        multi-index built for a smaller radius. ``segments``: the parts a joined index's :meth:`save` wrote."""
        import faiss

        if segments > 1:
            names = [segment_file(name, k) for k in range(segments)]
            return cls.joined([cls.load(directory, n, bits, max_distance) for n in names])
        self = cls.__new__(cls)
        self.bits = _check_bits(bits)
        self.max_distance = _check_radius(max_distance, self.bits)
        self._index = None
        self._multi = None
        self._planes = None
        self._parts = []
        self.source = (directory, name)
        flat = directory / f"{name}.faiss"
        if flat.exists():
            self._index = faiss.read_index_binary(str(flat), faiss.IO_FLAG_MMAP_IFC)
            if self._index.d != self.bits:
                raise HashIndexError(f"{flat}: index of {self._index.d} bits, expected {self.bits}")
            self._n = int(self._index.ntotal)
            return self
        self._multi = MultiIndex.load(directory, name, self.bits)
        if self._multi.radius < self.max_distance:
            built = self._multi.radius
            raise HashIndexError(f"{directory}: {name} built for distance {built}, not {self.max_distance}")
        self._n = len(self._multi)
        return self

    def search(self, queries: npt.ArrayLike, max_distance: int) -> SearchResult:
        q = np.ascontiguousarray(_check_hashes(queries, self.bits, "queries"))
        r = _check_radius(max_distance, self.bits)
        if q.shape[0] == 0 or self._n == 0:
            return _empty_result()
        if self._parts:  # each part's rows, their ids counted across the parts: as one index of them all answers
            qs, ids, ds, first = [], [], [], 0
            for part in self._parts:
                pq, pid, pd = part.search(q, r)
                qs.append(pq)
                ids.append(pid + first)
                ds.append(pd)
                first += len(part)
            return _sorted_result(np.concatenate(qs), np.concatenate(ids), np.concatenate(ds))
        if self._multi is not None and r > self.max_distance:
            raise ConfigError(f"max_distance {r} exceeds the {self.max_distance} this index was built for")
        if self.bits == 256 and within_kernel() and (self._multi is None or self._n <= self.kernel_flat_max):
            if self._planes is None:  # the rows as the kernel reads them, once a process (32 bytes a row)
                self._planes = hamming_planes(self._codes())
            found = within(q, self._planes, r)  # every pair compared by AVX-512's kernel
            if found is not None:
                return _sorted_result(*found)
        if self._multi is not None:
            return self._multi.search(q, r)
        lims, dist, ids = self._index.range_search(q, r + 1)  # FAISS keeps distances < radius
        qrows = np.repeat(np.arange(q.shape[0], dtype=np.int64), np.diff(lims.astype(np.int64)))
        return _sorted_result(qrows, ids.astype(np.int64), dist.astype(np.int32))

    def codes(self) -> npt.NDArray[np.uint8]:
        """Every row's hash, in id order (a joined index's: a copy of its parts')."""
        return self._codes()

    def _codes(self) -> npt.NDArray[np.uint8]:
        """Every row's hash, ``(N, bits // 8)``: the multi-index's codes (mapped), or a copy of FAISS's."""
        if self._parts:
            return np.concatenate([p._codes() for p in self._parts])
        if self._multi is not None:
            return self._multi.codes
        import faiss

        return faiss.vector_to_array(self._index.xb).reshape(self._n, self.bits // 8)


#: a search's candidates verified at once (bounds its temporary arrays: ~50 bytes each)
_CANDIDATE_BLOCK = 1 << 22
#: rows from which the multi-index cuts hashes in wide chunks (at most 24 bits), below in 16-bit ones: fewer
#: probes where chunks hold few rows anyway (406,440 real rows, an hour of reference: 16-bit chunks 0.7x the time)
_WIDE_FROM = 1 << 21
#: probes per query above which the multi-index is not used (the flat index answers instead)
_MAX_PROBES = 20_000


class MultiIndex:
    """Multi-index hashing in flat arrays (Norouzi, Punjani and Fleet's MIH: exact).

    A hash of ``bits`` is cut into chunks of 16 bits, or from :data:`_WIDE_FROM` rows on, of at most 24 bits
    (256 bits: 11 chunks of 23 and 24 bits). A stored hash within ``r`` of a query has, by the pigeonhole principle,
    a chunk within ``r // chunks`` bits of the query's same chunk (radius 31 over 256 bits: 1 bit of 16, 17 values a
    chunk, 272 a query; 2 bits of 23-24, ~300 values a chunk, ~3,100 a query). For
    each chunk, ``keys`` holds the rows' chunk values sorted and ``postings`` the row ids in that order: a query's
    probed values (sorted) are found by binary search, and the rows in their ranges are verified against the
    rows' ``codes`` (XOR and popcount), a row found through two chunks kept once. Chunks this wide hold few rows
    each (10 hours of reference footage, 4.3 * 10^6 rows: 0.5 a value on random hashes), so the rows verified
    per query grow with the registry ~100 times slower than with 16-bit chunks (66 rows a value at that size).
    The arrays are plain ones: built in memory, or memory-mapped from the ``.npy`` files
    :meth:`save` writes (``NAME_codes``, ``NAME_keys``, ``NAME_postings``, ``NAME_radius``).
    """

    def __init__(
        self, codes: npt.NDArray[np.uint8], keys: npt.NDArray[np.uint32], postings: npt.NDArray[Any], radius: int
    ) -> None:
        self.chunks = int(keys.shape[0]) if keys.ndim == 2 else 0  # the layout it was built with
        fits = 0 < self.chunks <= codes.shape[1] * 8 and keys.shape[1:] == codes.shape[:1]
        if not fits or postings.shape != keys.shape:
            raise HashIndexError(f"multi-index arrays do not fit: {codes.shape}, {keys.shape}, {postings.shape}")
        self.codes, self.keys, self.postings, self.radius = codes, keys, postings, int(radius)
        self.bounds = _chunk_bounds(codes.shape[1] * 8, self.chunks)

    @staticmethod
    def probes(bits: int, rows: int, radius: int) -> int:
        """Chunk values a query probes at ``radius`` (every value within ``radius // chunks`` bits, per chunk)."""
        chunks = _chunk_count(bits, rows)
        flips = radius // chunks
        return sum(sum(math.comb(b - a, k) for k in range(flips + 1)) for a, b in _chunk_bounds(bits, chunks))

    @classmethod
    def build(cls, codes: npt.NDArray[np.uint8], radius: int) -> MultiIndex:
        n, width = codes.shape
        chunks = _chunk_count(width * 8, n)
        words = _words(codes)
        keys = np.empty((chunks, n), np.uint32)
        postings = np.empty((chunks, n), np.uint32 if n < 2**32 else np.int64)
        ids = np.arange(n, dtype=np.uint64)
        for j, bound in enumerate(_chunk_bounds(width * 8, chunks)):  # one chunk's values at a time: ~16 B a row
            values = _chunk_column(words, bound)
            if n < 2**32:  # (value, row) in one word: np.sort is several times faster than an argsort
                values <<= np.uint64(32)
                values |= ids
                values.sort()
                keys[j] = values >> np.uint64(32)
                postings[j] = values & np.uint64(0xFFFFFFFF)
            else:
                order = np.argsort(values, kind="stable")
                postings[j] = order
                keys[j] = values[order]
        return cls(codes, keys, postings, radius)

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def save(self, directory: Path, name: str) -> None:
        for part, array in (("codes", self.codes), ("keys", self.keys), ("postings", self.postings)):
            np.save(directory / f"{name}_{part}.npy", np.ascontiguousarray(array))
        np.save(directory / f"{name}_radius.npy", np.array([self.radius], np.int64))

    @classmethod
    def load(cls, directory: Path, name: str, bits: int) -> MultiIndex:
        def mapped(part: str) -> npt.NDArray[Any]:
            path = directory / f"{name}_{part}.npy"
            try:
                out: npt.NDArray[Any] = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise HashIndexError(f"{path}: unreadable ({' '.join(str(exc).split())})") from None
            return out

        codes = mapped("codes")
        if codes.ndim != 2 or codes.dtype != np.uint8 or codes.shape[1] * 8 != bits:
            raise HashIndexError(f"{directory}: {name} holds hashes of shape {codes.shape}, not {bits} bits")
        keys, postings, radius = mapped("keys"), mapped("postings"), mapped("radius")
        if keys.dtype != np.uint32 or postings.dtype not in (np.uint32, np.int64) or radius.shape != (1,):
            raise HashIndexError(f"{directory}: {name}'s arrays are of other types ({keys.dtype}, {postings.dtype})")
        return cls(codes, keys, postings, int(radius[0]))

    def search(self, q: npt.NDArray[np.uint8], r: int) -> SearchResult:
        """Every (query row, id, distance) with distance <= ``r`` (at most the radius it was built for)."""
        flips = r // self.chunks
        values = _chunk_values(q, self.bounds)  # (Q, chunks)
        n = len(self)
        los: list[IntArray] = []
        sizes: list[IntArray] = []
        rows: list[IntArray] = []
        for j, (a, b) in enumerate(self.bounds):
            masks = _masks(b - a, flips)
            probed = (values[:, j : j + 1] ^ masks[None, :]).ravel()
            order = np.argsort(probed, kind="stable")  # sorted probes: the binary searches walk the keys forward
            probed = probed[order].astype(np.uint32)
            ranges = probe_ranges(self.keys[j], probed)
            if ranges is not None:
                lo, size = ranges
            else:  # no C extension: two binary searches a probe in numpy
                lo = np.searchsorted(self.keys[j], probed, side="left").astype(np.int64)
                size = np.searchsorted(self.keys[j], probed, side="right").astype(np.int64) - lo
            hit = size > 0
            los.append(lo[hit] + j * n)  # into the postings' rows laid end to end
            sizes.append(size[hit])
            rows.append(order[hit] // len(masks))
        lo, size, row = np.concatenate(los), np.concatenate(sizes), np.concatenate(rows)
        flat_postings = self.postings.reshape(-1)
        words_q = _as_words(q)
        out_q: list[IntArray] = []
        out_i: list[IntArray] = []
        out_d: list[npt.NDArray[Any]] = []
        ends = np.cumsum(size)
        begin = 0
        while begin < len(size):  # blocks of whole ranges of about _CANDIDATE_BLOCK candidates
            base = int(ends[begin - 1]) if begin else 0
            end = max(begin + 1, int(np.searchsorted(ends, base + _CANDIDATE_BLOCK, side="right")))
            b_sizes = size[begin:end]
            found = verify_ranges(self.codes, flat_postings, lo[begin:end], b_sizes, row[begin:end], q, r)
            if found is not None:
                out_q.append(found[0])
                out_i.append(found[1])
                out_d.append(found[2])
            else:  # no C extension: every candidate's code gathered, then compared
                total = int(b_sizes.sum())
                at = np.repeat(lo[begin:end] - (np.cumsum(b_sizes) - b_sizes), b_sizes) + np.arange(total)
                ids = np.asarray(flat_postings[at], np.int64)
                qrows = np.repeat(row[begin:end], b_sizes)
                d = _popcount_rows(_as_words(self.codes[ids]) ^ words_q[qrows])
                ok = d <= r
                out_q.append(qrows[ok])
                out_i.append(ids[ok])
                out_d.append(d[ok])
            begin = end
        if not out_q:
            return _empty_result()
        qq, ii, dd = np.concatenate(out_q), np.concatenate(out_i), np.concatenate(out_d)
        _, first = np.unique(qq * n + ii, return_index=True)  # a row found through several chunks: once
        return _sorted_result(qq[first], ii[first], dd[first])


def _chunk_count(bits: int, rows: int) -> int:
    return max(1, -(-bits // (24 if rows >= _WIDE_FROM else 16)))


def _chunk_bounds(bits: int, chunks: int) -> list[tuple[int, int]]:
    """``chunks`` bit ranges ``[a, b)`` covering ``bits``, the wider ones first (widths differ by at most 1)."""
    small, extra = divmod(bits, chunks)
    widths = [small + 1] * extra + [small] * (chunks - extra)
    ends = np.cumsum(widths)
    return [(int(e - w), int(e)) for w, e in zip(widths, ends, strict=True)]


def _chunk_values(codes: npt.NDArray[np.uint8], bounds: list[tuple[int, int]]) -> npt.NDArray[np.uint64]:
    """Each row's chunk values, ``(len(codes), len(bounds))`` (:func:`_chunk_column` for each chunk)."""
    words = _words(codes)
    out = np.empty((codes.shape[0], len(bounds)), np.uint64)
    for j, bound in enumerate(bounds):
        out[:, j] = _chunk_column(words, bound)
    return out


def _words(codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint64]:
    """The codes as little-endian 64-bit words (a view when their width is a multiple of 8 bytes)."""
    width = codes.shape[1]
    if width % 8:
        padded = np.zeros((codes.shape[0], -(-width // 8) * 8), np.uint8)
        padded[:, :width] = codes
        codes = padded
    out: npt.NDArray[np.uint64] = np.ascontiguousarray(codes).view("<u8")
    return out


def _chunk_column(words: npt.NDArray[np.uint64], bound: tuple[int, int]) -> npt.NDArray[np.uint64]:
    """Every row's value of the chunk of bits ``[a, b)``: bit ``i`` of a code is bit ``i % 8`` of its byte
    ``i // 8`` (any fixed order does: a chunk's flipped bits are the code's). A chunk that crosses into the next
    word ends in it (chunks end within the code)."""
    a, b = bound
    w, o = divmod(a, 64)
    v = words[:, w] >> np.uint64(o)
    if o + (b - a) > 64:
        v |= words[:, w + 1] << np.uint64(64 - o)
    out: npt.NDArray[np.uint64] = v & np.uint64((1 << (b - a)) - 1)
    return out


@functools.cache
def _masks(width: int, flips: int) -> npt.NDArray[np.uint64]:
    """Every ``width``-bit value with at most ``flips`` bits set (0 first)."""
    masks = [sum(1 << i for i in c) for k in range(flips + 1) for c in itertools.combinations(range(width), k)]
    return np.array(masks, np.uint64)
