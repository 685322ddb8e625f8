"""Multi-index hashing in flat arrays (:class:`MultiIndex`): the exact search
:class:`~provenance.engine.index.StaticHashIndex` answers with above its flat search's limit, and the small
helpers of every hash index's answers."""

from __future__ import annotations

import functools
import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from provenance.engine.hamming import KEY_TYPES, probe_buckets, probe_ranges, verify_ranges
from provenance.errors import HashIndexError

__all__ = [
    "MAX_PROBES",
    "MultiIndex",
    "SearchResult",
    "as_words",
    "empty_result",
    "popcount_rows",
    "sorted_result",
]

IntArray = npt.NDArray[np.int64]
SearchResult = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int32]]
"""``(query_rows, ids, distances)``: parallel arrays, sorted by query row, distance, id."""

_HAS_BITWISE_COUNT = hasattr(np, "bitwise_count")
_POPCOUNT_TABLE = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def as_words(h: npt.NDArray[np.uint8]) -> npt.NDArray[Any]:
    """View packed hashes as uint64 words where the width allows (8x fewer elements to popcount)."""
    h = np.ascontiguousarray(h)
    if h.shape[1] % 8 == 0:
        return h.view(np.uint64)
    return h


def popcount_rows(x: npt.NDArray[Any]) -> npt.NDArray[np.uint16]:
    """Sum of set bits over the last axis (x is uint8 or uint64)."""
    # numpy < 2 has no bitwise_count: byte lookup table instead.
    c = np.bitwise_count(x) if _HAS_BITWISE_COUNT else _POPCOUNT_TABLE[x.view(np.uint8)]
    out: npt.NDArray[np.uint16] = c.sum(axis=-1, dtype=np.uint16)
    return out


def empty_result() -> SearchResult:
    return (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int32))


def sorted_result(q: IntArray, ids: IntArray, d: npt.NDArray[Any]) -> SearchResult:
    order = np.lexsort((ids, d, q))
    return (q[order].astype(np.int64), ids[order].astype(np.int64), d[order].astype(np.int32))


#: a search's candidates verified at once (bounds its temporary arrays: ~50 bytes each)
_CANDIDATE_BLOCK = 1 << 22
#: rows from which the multi-index cuts hashes in wide chunks (at most 24 bits), below in 16-bit ones: fewer
#: probes where chunks hold few rows anyway. With each probe searched in its bucket the wide chunks are the faster from
#: ~1 million rows (`bench/hash_search_bench.py --wide`, the short corpus's real rows and perturbed copies, 40 clips'
#: real queries: 16-bit chunks 25.8 ms a clip at 0.81 million rows, wide 31.6; at 1.22 million 34.0 against 29.9; at
#: 2.03 million 53.1 against 37.9), where with a galloping search over all a chunk's keys they were from ~2.1 million
_WIDE_FROM = 1 << 20
#: keys of a wide chunk from which a probe is searched for in its bucket (:meth:`MultiIndex._buckets`); keys a bucket
#: holds on average (a few cache lines), and the most buckets a chunk has (1 MB of starts)
_BUCKETS_FROM, _BUCKET_KEYS, _BUCKET_BITS = 1 << 16, 16, 18
#: probes per query above which the multi-index is not used (the flat index answers instead)
MAX_PROBES = 20_000


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

    A key is as narrow as its values allow (:func:`_key_type`): a 16-bit chunk's in 2 bytes; a wide chunk's, whose
    keys are found through their bucket (the value's top bits: :meth:`_buckets`), holds only the bits under its
    bucket's, in 1 byte (at 2^17 buckets or more, from ~2 million rows). Keys are read for every probe of a query:
    4 bytes a key made them ~37 % of the arrays a search reads (11 chunks of a key and a posting, and the code, a
    row), 1 byte ~13 %. Directories written before hold 4-byte keys of the whole values: read as they are.
    """

    def __init__(
        self, codes: npt.NDArray[np.uint8], keys: npt.NDArray[Any], postings: npt.NDArray[Any], radius: int
    ) -> None:
        self.chunks = int(keys.shape[0]) if keys.ndim == 2 else 0  # the layout it was built with
        fits = 0 < self.chunks <= codes.shape[1] * 8 and keys.shape[1:] == codes.shape[:1]
        if not fits or postings.shape != keys.shape or keys.dtype not in KEY_TYPES:
            raise HashIndexError(
                f"multi-index arrays do not fit: {codes.shape}, {keys.shape} {keys.dtype}, {postings.shape}"
            )
        self.codes, self.keys, self.postings, self.radius = codes, keys, postings, int(radius)
        self.bounds = _chunk_bounds(codes.shape[1] * 8, self.chunks)
        #: whether the keys hold only the bits under their bucket's (narrower than the widest chunk)
        self.low = _low_keys(keys.dtype, self.bounds)
        self.bucket_bits = _bucket_bits(self.bounds, int(keys.shape[1]) if keys.ndim == 2 else 0)
        #: every chunk's bucket starts (:meth:`_buckets`), made when it is built or mapped from its file (None: a
        #: layout without buckets, or a directory written before them, whose starts are made on the first search)
        self.buckets: npt.NDArray[np.uint32] | None = None
        self._starts: dict[int, npt.NDArray[np.uint32]] = {}  # per chunk, made on a search when not in buckets

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
        keys = np.empty((chunks, n), _key_type(_chunk_bounds(width * 8, chunks), n))
        postings = np.empty((chunks, n), np.uint32 if n < 2**32 else np.int64)
        buckets = _sort_chunks(codes, keys, postings)
        out = cls(codes, keys, postings, radius)
        out.buckets = buckets
        return out

    @classmethod
    def write(cls, parts: list[npt.NDArray[np.uint8]], radius: int, directory: Path, name: str) -> None:
        """Write the files :meth:`save` writes of ``build(np.concatenate(parts), radius)`` (the same bytes), built
        where they are mapped: the codes copied part by part, each chunk's keys and postings sorted into its rows of
        the files, a chunk's values in memory at a time (8 bytes a row), not every chunk's keys and postings and a
        stacked copy of the codes (at 10 hours of reference, 4 * 10^6 rows: ~0.5 GB)."""
        n, width = sum(len(p) for p in parts), (parts[0].shape[1] if parts else 32)
        chunks = _chunk_count(width * 8, n)
        codes = np.lib.format.open_memmap(directory / f"{name}_codes.npy", "w+", np.uint8, (n, width))
        at = 0
        for p in parts:
            codes[at : at + len(p)] = p
            at += len(p)
        key = _key_type(_chunk_bounds(width * 8, chunks), n)
        keys = np.lib.format.open_memmap(directory / f"{name}_keys.npy", "w+", key, (chunks, n))
        kind = np.uint32 if n < 2**32 else np.int64
        postings = np.lib.format.open_memmap(directory / f"{name}_postings.npy", "w+", kind, (chunks, n))
        buckets = _sort_chunks(codes, keys, postings)
        np.save(directory / f"{name}_radius.npy", np.array([radius], np.int64))
        if buckets is not None:
            np.save(directory / f"{name}_buckets.npy", buckets)
        for array in (codes, keys, postings):
            array.flush()

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def save(self, directory: Path, name: str) -> None:
        for part, array in (("codes", self.codes), ("keys", self.keys), ("postings", self.postings)):
            np.save(directory / f"{name}_{part}.npy", np.ascontiguousarray(array))
        np.save(directory / f"{name}_radius.npy", np.array([self.radius], np.int64))
        if self.buckets is not None:
            np.save(directory / f"{name}_buckets.npy", np.ascontiguousarray(self.buckets))

    def files(self, name: str) -> list[str]:
        """The files :meth:`save` writes under ``name`` (the buckets' starts only when it has them)."""
        parts = ("codes", "keys", "postings", "radius", *(("buckets",) if self.buckets is not None else ()))
        return [f"{name}_{p}.npy" for p in parts]

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
        if keys.dtype not in KEY_TYPES or postings.dtype not in (np.uint32, np.int64) or radius.shape != (1,):
            raise HashIndexError(f"{directory}: {name}'s arrays are of other types ({keys.dtype}, {postings.dtype})")
        out = cls(codes, keys, postings, int(radius[0]))
        if out.bucket_bits and (directory / f"{name}_buckets.npy").exists():  # else made on the first search
            buckets = mapped("buckets")
            if buckets.dtype != np.uint32 or buckets.shape != (out.chunks, (1 << out.bucket_bits) + 1):
                raise HashIndexError(f"{directory}: {name}'s bucket starts are of shape {buckets.shape}")
            out.buckets = buckets
        if out.low and (
            out.buckets is None or 8 * keys.dtype.itemsize < max(b - a for a, b in out.bounds) - out.bucket_bits
        ):
            raise HashIndexError(f"{directory}: {name}'s keys of {keys.dtype} need its bucket starts of every chunk")
        return out

    def _buckets(self, j: int, width: int) -> tuple[npt.NDArray[np.uint32], int] | None:
        """Where each bucket of chunk ``j``'s sorted keys begins (the keys' count last) and the shift that makes a
        value's bucket, for :func:`~provenance.engine.hamming.probe_buckets`; None for 16-bit chunks or up to
        :data:`_BUCKETS_FROM` keys. Written beside the index (``NAME_buckets.npy``: at most 1 MB a chunk, mapped and
        shared); for a directory written before, made on a process's first search (0.15 s at 10 hours of reference,
        4 * 10^6 rows). A probe then reads its bucket's few cache lines of keys, in any order, where the galloping
        search over a chunk's sorted probes read a dozen (at 10 hours, 55 of a clean clip's 93 ms of hash search were
        the probes' sort and search; 41 ms so)."""
        if not self.bucket_bits:
            return None
        if self.buckets is not None:
            return self.buckets[j], width - self.bucket_bits
        if self.low:
            raise HashIndexError("a multi-index whose keys hold the bits under their bucket's has no bucket starts")
        if j not in self._starts:
            self._starts[j] = _bucket_starts(self.keys[j], width, self.bucket_bits)
        return self._starts[j], width - self.bucket_bits

    def _whole_keys(self, j: int, starts: npt.NDArray[np.uint32], shift: int) -> npt.NDArray[np.uint32]:
        """Chunk ``j``'s keys as whole values (its bucket's bits put back): for numpy's search, where C does not run."""
        sizes: IntArray = np.asarray(starts[1:], np.int64) - np.asarray(starts[:-1], np.int64)
        buckets = np.repeat(np.arange(len(starts) - 1, dtype=np.uint32), sizes)
        out: npt.NDArray[np.uint32] = (buckets << np.uint32(shift)) | self.keys[j].astype(np.uint32)
        return out

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
            buckets = self._buckets(j, b - a)
            hits = None
            if buckets is not None:
                hits = probe_buckets(self.keys[j], *buckets, probed.astype(np.uint32), self.low)
            if hits is not None:  # each probe searched in its bucket, in any order: those that find keys
                at, lo, size = hits
                los.append(lo + j * n)
                sizes.append(size)
                rows.append(at // len(masks))
                continue
            if buckets is not None:  # no C extension: numpy's searches below, in any order
                order = np.arange(len(probed))
                ranges = None
            else:
                order = np.argsort(probed, kind="stable")  # sorted probes: the binary searches walk the keys forward
                probed = probed[order].astype(np.uint32)
                ranges = probe_ranges(self.keys[j], probed)
            if ranges is not None:
                lo, size = ranges
            else:  # no C extension: two binary searches a probe in numpy (over the whole values)
                keys = self._whole_keys(j, *buckets) if self.low and buckets is not None else self.keys[j]
                lo = np.searchsorted(keys, probed, side="left").astype(np.int64)
                size = np.searchsorted(keys, probed, side="right").astype(np.int64) - lo
            hit = size > 0
            los.append(lo[hit] + j * n)  # into the postings' rows laid end to end
            sizes.append(size[hit])
            rows.append(order[hit] // len(masks))
        lo, size, row = np.concatenate(los), np.concatenate(sizes), np.concatenate(rows)
        flat_postings = self.postings.reshape(-1)
        words_q = as_words(q)
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
                d = popcount_rows(as_words(self.codes[ids]) ^ words_q[qrows])
                ok = d <= r
                out_q.append(qrows[ok])
                out_i.append(ids[ok])
                out_d.append(d[ok])
            begin = end
        if not out_q:
            return empty_result()
        qq, ii, dd = np.concatenate(out_q), np.concatenate(out_i), np.concatenate(out_d)
        _, first = np.unique(qq * n + ii, return_index=True)  # a row found through several chunks: once
        return sorted_result(qq[first], ii[first], dd[first])


def _sort_chunks(
    codes: npt.NDArray[np.uint8], keys: npt.NDArray[Any], postings: npt.NDArray[Any]
) -> npt.NDArray[np.uint32] | None:
    """Fill ``keys`` and ``postings`` (``(chunks, N)``, in memory or mapped): each chunk's values of ``codes`` sorted
    (the bits under their bucket's, where the keys' type is narrower than a chunk: :func:`_key_type`), and the rows in
    that order (equal values by row). Returns every chunk's bucket starts (a row each), or None without buckets."""
    n, width = codes.shape
    words = _words(codes)
    ids = np.arange(n, dtype=np.uint64)
    bounds = _chunk_bounds(width * 8, len(keys))
    bits = _bucket_bits(bounds, n)
    low = _low_keys(keys.dtype, bounds)
    starts = np.empty((len(bounds), (1 << bits) + 1), np.uint32) if bits else None
    for j, (a, b) in enumerate(bounds):  # one chunk's values at a time: ~16 B a row
        values = _chunk_column(words, (a, b))
        if n < 2**32:  # (value, row) in one word: np.sort is several times faster than an argsort
            values <<= np.uint64(32)
            values |= ids
            values.sort()
            postings[j] = values & np.uint64(0xFFFFFFFF)
            values >>= np.uint64(32)
        else:
            order = np.argsort(values, kind="stable")
            postings[j] = order
            values = values[order]
        if starts is not None:
            starts[j] = _bucket_starts(values, b - a, bits)
        keys[j] = values & np.uint64((1 << (b - a - bits)) - 1) if low else values
    return starts


def _low_keys(kind: np.dtype[Any], bounds: list[tuple[int, int]]) -> bool:
    """Whether keys of type ``kind`` hold only the bits under their bucket's: narrower than the widest chunk."""
    return 8 * kind.itemsize < max(b - a for a, b in bounds)


def _key_type(bounds: list[tuple[int, int]], n: int) -> type[np.unsignedinteger[Any]]:
    """The narrowest type that holds every chunk's keys: its values, or in chunks searched through their buckets the
    bits under the bucket's (1 byte at 2^17 buckets of 24-bit chunks or more); 4 bytes where 2 do not hold them (then
    always the whole values, as indexes written before hold)."""
    bits = _bucket_bits(bounds, n)
    widest = max((b - a for a, b in bounds), default=0)
    if bits and widest - bits <= 8:
        return np.uint8
    return np.uint16 if widest - bits <= 16 else np.uint32


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


def _bucket_bits(bounds: list[tuple[int, int]], n: int) -> int:
    """Bits of a chunk value that name its bucket (:meth:`MultiIndex._buckets`): about :data:`_BUCKET_KEYS` keys a
    bucket, at most 2^:data:`_BUCKET_BITS` buckets; 0 (no buckets) for 16-bit chunks or up to :data:`_BUCKETS_FROM`
    keys."""
    narrowest = min((b - a for a, b in bounds), default=0)
    if narrowest <= 16 or n <= _BUCKETS_FROM:
        return 0
    return min(narrowest, _BUCKET_BITS, max(1, (n // _BUCKET_KEYS).bit_length()))


def _bucket_starts(keys: npt.NDArray[Any], width: int, bits: int) -> npt.NDArray[np.uint32]:
    """Where each bucket (value ``>> (width - bits)``) of the sorted ``keys`` (whole values) begins, then the keys'
    count."""
    counts = np.bincount((np.asarray(keys) >> np.uint64(width - bits)).astype(np.int64), minlength=1 << bits)
    starts = np.zeros(len(counts) + 1, np.uint32)
    np.cumsum(counts, out=starts[1:])
    return starts


@functools.cache
def _masks(width: int, flips: int) -> npt.NDArray[np.uint64]:
    """Every ``width``-bit value with at most ``flips`` bits set (0 first)."""
    masks = [sum(1 << i for i in c) for k in range(flips + 1) for c in itertools.combinations(range(width), k)]
    return np.array(masks, np.uint64)
