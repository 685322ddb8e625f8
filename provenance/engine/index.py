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

from provenance.engine.hamming import hamming_planes, within, within_kernel
from provenance.engine.multiindex import (
    MAX_PROBES,
    IntArray,
    MultiIndex,
    SearchResult,
    as_words,
    empty_result,
    popcount_rows,
    sorted_result,
)
from provenance.engine.rows import segment_file
from provenance.errors import ConfigError, HashIndexError

__all__ = ["BruteForceIndex", "HashIndex", "SearchResult", "StaticHashIndex", "hamming_distances"]

HashArray = npt.NDArray[np.uint8]

# Bound on the elements of one (queries x rows) block of the brute-force scan (~64 MB of uint64).
_BLOCK_ELEMENTS = 1 << 23


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


def hamming_distances(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.int32]:
    """Pairwise Hamming distances between two packed hash arrays, shape ``(len(a), len(b))``."""
    aa = _check_hashes(a, None, "a")
    bb = _check_hashes(b, aa.shape[1] * 8, "b")
    wa, wb = as_words(aa), as_words(bb)
    return popcount_rows(wa[:, None, :] ^ wb[None, :, :]).astype(np.int32)


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
            return empty_result()
        wq = as_words(q)
        words = wq.shape[1]
        stored = as_words(self._hashes)
        out_q: list[IntArray] = []
        out_r: list[IntArray] = []
        out_d: list[npt.NDArray[Any]] = []
        rows_per_block = max(1, min(n, _BLOCK_ELEMENTS // words))
        q_per_block = max(1, _BLOCK_ELEMENTS // (rows_per_block * words))
        for r0 in range(0, n, rows_per_block):
            block = stored[r0 : min(n, r0 + rows_per_block)]
            for q0 in range(0, wq.shape[0], q_per_block):
                q1 = min(wq.shape[0], q0 + q_per_block)
                d = popcount_rows(wq[q0:q1, None, :] ^ block[None, :, :])
                qi, ri = np.nonzero(d <= r)
                if qi.size:
                    out_q.append(qi.astype(np.int64) + q0)
                    out_r.append(ri.astype(np.int64) + r0)
                    out_d.append(d[qi, ri])
        if not out_q:
            return empty_result()
        return sorted_result(np.concatenate(out_q), np.concatenate(out_r), np.concatenate(out_d))


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
        if self._n <= self.flat_max or MultiIndex.probes(self.bits, self._n, self.max_distance) > MAX_PROBES:
            import faiss

            self._index = faiss.IndexBinaryFlat(self.bits)
            if self._n:
                self._index.add(data)
        else:
            self._multi = MultiIndex.build(data, self.max_distance)

    def __len__(self) -> int:
        return self._n

    @classmethod
    def laid_out(
        cls, parts: list[npt.NDArray[np.uint8]], bits: int, max_distance: int, directory: Path, name: str
    ) -> StaticHashIndex:
        """The index of the rows of ``parts`` (one after another), a multi-index written into ``directory`` as
        :meth:`save` would write it (:meth:`MultiIndex.write`: built where its files are mapped, not in memory), then
        :meth:`load`-ed from there (:meth:`save` links its files); a flat one is built in memory (few rows)."""
        n = sum(len(p) for p in parts)
        if n <= cls.flat_max or MultiIndex.probes(bits, n, max_distance) > MAX_PROBES or bits != 256:
            return cls(np.concatenate(parts) if parts else np.zeros((0, bits // 8), np.uint8), bits, max_distance)
        for i, p in enumerate(parts):
            _check_hashes(p, bits, f"hashes of part {i}")
        MultiIndex.write(parts, _check_radius(max_distance, bits), directory, name)
        return cls.load(directory, name, bits, max_distance)

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
        return self._multi.files(name) if self._multi is not None else [f"{name}.faiss"]

    def nbytes(self) -> int:
        """Bytes of the search's arrays: the hashes, and the multi-index's chunk keys, postings and bucket starts."""
        if self._parts:
            return sum(p.nbytes() for p in self._parts)
        if self._multi is not None:
            arrays = (self._multi.codes, self._multi.keys, self._multi.postings, self._multi.buckets)
            return sum(int(a.nbytes) for a in arrays if a is not None)
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
            return empty_result()
        if self._parts:  # each part's rows, their ids counted across the parts: as one index of them all answers
            qs, ids, ds, first = [], [], [], 0
            for part in self._parts:
                pq, pid, pd = part.search(q, r)
                qs.append(pq)
                ids.append(pid + first)
                ds.append(pd)
                first += len(part)
            return sorted_result(np.concatenate(qs), np.concatenate(ids), np.concatenate(ds))
        if self._multi is not None and r > self.max_distance:
            raise ConfigError(f"max_distance {r} exceeds the {self.max_distance} this index was built for")
        if self.bits == 256 and within_kernel() and (self._multi is None or self._n <= self.kernel_flat_max):
            if self._planes is None:  # the rows as the kernel reads them, once a process (32 bytes a row)
                self._planes = hamming_planes(self._codes())
            found = within(q, self._planes, r)  # every pair compared by AVX-512's kernel
            if found is not None:
                return sorted_result(*found)
        if self._multi is not None:
            return self._multi.search(q, r)
        lims, dist, ids = self._index.range_search(q, r + 1)  # FAISS keeps distances < radius
        qrows = np.repeat(np.arange(q.shape[0], dtype=np.int64), np.diff(lims.astype(np.int64)))
        return sorted_result(qrows, ids.astype(np.int64), dist.astype(np.int32))

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
