"""Match indexes: find every stored hash within a Hamming radius of a query hash.

Hashes are packed bit arrays, ``uint8`` of shape ``(N, bits // 8)`` in ``np.packbits`` bit order
(64 bits for pHash, 256 for PDQ). Every index implements the small :class:`MatchIndex` protocol:

* :class:`BruteForceIndex` - the exact reference: XOR + popcount over every stored row, chunked
  so memory stays bounded. Tests compare every faster index against it.
* :class:`MultiIndexHashIndex` - multi-index hashing (Norouzi, Punjani & Fleet, CVPR 2012). The code
  is cut into ``m`` disjoint bit chunks; by the pigeonhole principle a stored hash within ``r`` of the
  query has at least one chunk within ``floor(r / m)`` of the query's chunk. Each chunk has a table
  (chunk values sorted, with the rows they came from); a search probes every chunk value within that
  radius with ``np.searchsorted`` and verifies the candidates with the exact distance, so the result is
  exactly the brute-force result, only faster.

``search`` answers three parallel arrays ``(query_rows, ids, distances)`` sorted by query row, then
distance, then id. ``to_bytes`` / :func:`load_index` persist an index as a versioned header plus
numpy arrays (``.npz``, loaded with ``allow_pickle=False``); nothing is pickled.

Misuse (duplicate or unknown ids, wrong hash width, a corrupt blob) raises
:class:`~provenance._errors.IndexError_`; bad parameters raise :class:`~provenance._errors.ConfigError`.
"""

from __future__ import annotations

import io
import json
import logging
import math
import struct
import zipfile
from collections.abc import Sequence
from functools import lru_cache
from itertools import combinations
from typing import Any, ClassVar, Literal, Protocol, Self, runtime_checkable

import numpy as np
import numpy.typing as npt

from provenance.errors import ConfigError, IndexError_

__all__ = [
    "BruteForceIndex",
    "MatchIndex",
    "MultiIndexHashIndex",
    "SearchResult",
    "StaticHashIndex",
    "choose_chunks",
    "hamming_distances",
    "load_index",
    "make_index",
]

log = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
HashArray = npt.NDArray[np.uint8]
SearchResult = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int32]]
"""``(query_rows, ids, distances)``: parallel arrays, sorted by query row, distance, id."""

_MAGIC = b"PROVIDX\x00"
_FORMAT_VERSION = 1
_HEADER = struct.Struct("<8sII")  # magic, format version, JSON header length

# Bound on the elements of one (queries x rows) block of the brute-force scan (~64 MB of uint64).
_BLOCK_ELEMENTS = 1 << 23
_HAS_BITWISE_COUNT = hasattr(np, "bitwise_count")
_POPCOUNT_TABLE = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


# --------------------------------------------------------------------------------------------------
# Protocol


@runtime_checkable
class MatchIndex(Protocol):
    """A store of packed hashes keyed by int64 ids, searched by Hamming radius."""

    bits: int

    def add(self, ids: npt.ArrayLike, hashes: npt.ArrayLike) -> None:
        """Store ``hashes[i]`` under ``ids[i]``; an id already stored (or repeated) raises IndexError_."""
        ...

    def remove(self, ids: npt.ArrayLike) -> None:
        """Forget the given ids; an id not stored raises IndexError_."""
        ...

    def search(self, queries: npt.ArrayLike, max_distance: int) -> SearchResult:
        """Every (query row, id, distance) with distance <= max_distance."""
        ...

    def __len__(self) -> int: ...

    def to_bytes(self) -> bytes: ...

    @classmethod
    def from_bytes(cls, data: bytes) -> Self: ...


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
        raise IndexError_(f"{what}: expected a 2-D array (N, bits/8), got shape {h.shape}")
    if h.dtype != np.uint8:
        raise IndexError_(f"{what}: expected packed uint8 bits, got dtype {h.dtype}")
    if bits is not None and h.shape[1] * 8 != bits:
        raise IndexError_(f"{what}: width {h.shape[1] * 8} bits does not match the index's {bits} bits")
    return np.ascontiguousarray(h)


def _check_ids(ids: npt.ArrayLike) -> IntArray:
    a = np.asarray(ids)
    if a.ndim != 1:
        raise IndexError_(f"ids: expected a 1-D array, got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise IndexError_(f"ids: expected integers, got dtype {a.dtype}")
    return a.astype(np.int64, copy=False)


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
# Row storage shared by the implementations


class _RowStore:
    """Growable rows of (id, hash, alive) with an id -> row map kept as sorted numpy arrays."""

    kind: ClassVar[str] = "abstract"

    def __init__(self, bits: int) -> None:
        self.bits = _check_bits(bits)
        self._nbytes = self.bits // 8
        self._hashes: HashArray = np.empty((0, self._nbytes), np.uint8)
        self._ids: IntArray = np.empty(0, np.int64)
        self._alive: npt.NDArray[np.bool_] = np.empty(0, np.bool_)
        self._n = 0  # rows used (alive or tombstoned)
        self._n_dead = 0
        self._sorted_ids: IntArray = np.empty(0, np.int64)  # alive ids, sorted
        self._sorted_rows: IntArray = np.empty(0, np.int64)  # their rows

    # ---- protocol ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n - self._n_dead

    def add(self, ids: npt.ArrayLike, hashes: npt.ArrayLike) -> None:
        new_ids = _check_ids(ids)
        h = _check_hashes(hashes, self.bits)
        if h.shape[0] != new_ids.shape[0]:
            raise IndexError_(f"add: {new_ids.shape[0]} ids for {h.shape[0]} hashes")
        if new_ids.size == 0:
            return
        order = np.argsort(new_ids, kind="stable")
        sid = new_ids[order]
        dup_in_batch = sid[1:] == sid[:-1]
        if dup_in_batch.any():
            raise IndexError_(f"add: id {int(sid[1:][dup_in_batch][0])} repeated in the batch")
        present = self._lookup(sid)
        if (present >= 0).any():
            raise IndexError_(f"add: id {int(sid[present >= 0][0])} is already in the index")
        start = self._n
        self._reserve(start + h.shape[0])
        self._hashes[start : start + h.shape[0]] = h
        self._ids[start : start + h.shape[0]] = new_ids
        self._alive[start : start + h.shape[0]] = True
        self._n += h.shape[0]
        pos = np.searchsorted(self._sorted_ids, sid)
        self._sorted_ids = np.insert(self._sorted_ids, pos, sid)
        self._sorted_rows = np.insert(self._sorted_rows, pos, start + order)
        self._after_add(start)

    def remove(self, ids: npt.ArrayLike) -> None:
        rid = np.unique(_check_ids(ids))
        if rid.size == 0:
            return
        where = self._lookup(rid)
        if (where < 0).any():
            raise IndexError_(f"remove: id {int(rid[where < 0][0])} is not in the index")
        pos = np.searchsorted(self._sorted_ids, rid)
        rows = self._sorted_rows[pos]
        self._alive[rows] = False
        self._n_dead += rows.size
        self._sorted_ids = np.delete(self._sorted_ids, pos)
        self._sorted_rows = np.delete(self._sorted_rows, pos)
        if self._n_dead > max(1024, self._n // 4):
            self._compact()

    # ---- internals ---------------------------------------------------------------------------
    def _lookup(self, sorted_query_ids: IntArray) -> IntArray:
        """Row of each (sorted) id, -1 where absent."""
        if self._sorted_ids.size == 0:
            return np.full(sorted_query_ids.shape, -1, np.int64)
        pos = np.searchsorted(self._sorted_ids, sorted_query_ids)
        pos_c = np.minimum(pos, self._sorted_ids.size - 1)
        hit = self._sorted_ids[pos_c] == sorted_query_ids
        return np.where(hit, self._sorted_rows[pos_c], -1)

    def _reserve(self, n: int) -> None:
        cap = self._hashes.shape[0]
        if n <= cap:
            return
        new_cap = max(n, 2 * cap, 1024)
        for name in ("_hashes", "_ids", "_alive"):
            old = getattr(self, name)
            grown = np.zeros((new_cap, *old.shape[1:]), old.dtype)
            grown[: self._n] = old[: self._n]
            setattr(self, name, grown)

    def _compact(self) -> None:
        """Drop tombstoned rows (rows are renumbered) and rebuild derived structures."""
        keep = np.flatnonzero(self._alive[: self._n])
        log.debug("%s: compacting %d -> %d rows", self.kind, self._n, keep.size)
        self._hashes = np.ascontiguousarray(self._hashes[keep])
        self._ids = self._ids[keep].copy()
        self._alive = np.ones(keep.size, np.bool_)
        self._n = keep.size
        self._n_dead = 0
        order = np.argsort(self._ids, kind="stable")
        self._sorted_ids = self._ids[order]
        self._sorted_rows = order.astype(np.int64)
        self._after_compact()

    def _after_add(self, start: int) -> None:
        """Hook: rows [start, self._n) were just appended."""

    def _after_compact(self) -> None:
        """Hook: rows were renumbered."""

    def _prepare_queries(self, queries: npt.ArrayLike, max_distance: int) -> tuple[HashArray, int]:
        q = _check_hashes(queries, self.bits, "queries")
        return q, _check_radius(max_distance, self.bits)

    def _scan(self, q: HashArray, r: int, lo: int, hi: int) -> SearchResult:
        """Exact brute-force search of rows [lo, hi), unsorted result."""
        if q.shape[0] == 0 or hi <= lo:
            return _empty_result()
        wq = _as_words(q)
        words = wq.shape[1]
        stored = _as_words(self._hashes[:hi])
        out_q: list[IntArray] = []
        out_r: list[IntArray] = []
        out_d: list[npt.NDArray[Any]] = []
        rows_per_block = max(1, min(hi - lo, _BLOCK_ELEMENTS // words))
        q_per_block = max(1, _BLOCK_ELEMENTS // (rows_per_block * words))
        for r0 in range(lo, hi, rows_per_block):
            r1 = min(hi, r0 + rows_per_block)
            block = stored[r0:r1]
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
        rows = np.concatenate(out_r)
        alive = self._alive[rows]
        return (
            np.concatenate(out_q)[alive],
            self._ids[rows[alive]],
            np.concatenate(out_d)[alive].astype(np.int32),
        )

    # ---- persistence -------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        return {"bits": self.bits}

    def _arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {"ids": self._ids[: self._n], "hashes": self._hashes[: self._n]}

    def to_bytes(self) -> bytes:
        """Serialise: ``MAGIC, format version, header length`` + JSON header + ``.npz`` arrays."""
        if self._n_dead:
            self._compact()
        self._before_save()
        header = json.dumps({"kind": self.kind, "n": self._n, **self._meta()}, sort_keys=True).encode()
        buf = io.BytesIO()
        np.savez(buf, **self._arrays())  # type: ignore[arg-type]
        return _HEADER.pack(_MAGIC, _FORMAT_VERSION, len(header)) + header + buf.getvalue()

    def _before_save(self) -> None:
        """Hook: bring derived structures up to date before saving."""

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        header, arrays = _parse_blob(data)
        if header.get("kind") != cls.kind:
            raise IndexError_(f"from_bytes: blob holds a {header.get('kind')!r} index, not {cls.kind!r}")
        return cls._from_parts(header, arrays)

    @classmethod
    def _from_parts(cls, header: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]) -> Self:
        raise NotImplementedError

    def _load_rows(self, header: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]) -> None:
        try:
            ids = _check_ids(arrays["ids"])
            hashes = _check_hashes(arrays["hashes"], self.bits)
        except KeyError as exc:
            raise IndexError_(f"from_bytes: array {exc} missing") from None
        if ids.shape[0] != hashes.shape[0] or ids.shape[0] != int(header.get("n", -1)):
            raise IndexError_("from_bytes: row counts of ids, hashes and header disagree")
        n = ids.shape[0]
        order = np.argsort(ids, kind="stable")
        if n and (np.diff(ids[order]) == 0).any():
            raise IndexError_("from_bytes: duplicate ids in blob")
        self._hashes, self._ids = hashes.copy(), ids.copy()
        self._alive = np.ones(n, np.bool_)
        self._n, self._n_dead = n, 0
        self._sorted_ids, self._sorted_rows = ids[order], order.astype(np.int64)


def _parse_blob(data: bytes) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    if len(data) < _HEADER.size:
        raise IndexError_("from_bytes: blob too short to be an index")
    magic, version, hlen = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise IndexError_("from_bytes: not a provenance index blob (bad magic)")
    if version != _FORMAT_VERSION:
        raise IndexError_(f"from_bytes: format version {version} not supported (expected {_FORMAT_VERSION})")
    try:
        header = json.loads(data[_HEADER.size : _HEADER.size + hlen])
        with np.load(io.BytesIO(data[_HEADER.size + hlen :]), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise IndexError_(f"from_bytes: corrupt blob ({exc})") from None
    if not isinstance(header, dict):
        raise IndexError_("from_bytes: header is not a JSON object")
    return header, arrays


# --------------------------------------------------------------------------------------------------
# Brute force


class BruteForceIndex(_RowStore):
    """Exact linear scan; the reference every other index is tested against."""

    kind: ClassVar[str] = "bruteforce"

    def search(self, queries: npt.ArrayLike, max_distance: int) -> SearchResult:
        q, r = self._prepare_queries(queries, max_distance)
        return _sorted_result(*self._scan(q, r, 0, self._n))

    @classmethod
    def _from_parts(cls, header: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]) -> Self:
        idx = cls(int(header["bits"]))
        idx._load_rows(header, arrays)
        return idx


# --------------------------------------------------------------------------------------------------
# Multi-index hashing


def _chunk_bounds(bits: int, m: int) -> list[tuple[int, int]]:
    """Split ``bits`` into ``m`` contiguous bit ranges whose widths differ by at most one."""
    base, extra = divmod(bits, m)
    bounds, a = [], 0
    for j in range(m):
        w = base + (1 if j < extra else 0)
        bounds.append((a, a + w))
        a += w
    return bounds


def _n_within(width: int, radius: int) -> int:
    return sum(math.comb(width, k) for k in range(min(radius, width) + 1))


def choose_chunks(bits: int, max_distance: int, expected_size: int = 1_000_000) -> int:
    """Number of chunks for multi-index hashing, from a simple cost model.

    Cost per query ~ probes + expected candidates (random hashes): ``m * V(w, floor(r/m))`` probes of
    ``w = ceil(bits/m)``-bit chunk values, each hitting ``expected_size / 2**w`` rows on average.
    Chunks are limited to 32 bits (uint32 keys). For 64 bits within 8 this picks 3 chunks (22/21/21
    bits, probing radius 2); for 256 bits within 31, 11-12 chunks of ~21-24 bits probing radius 2.
    """
    bits = _check_bits(bits)
    r = _check_radius(max_distance, bits)
    if expected_size < 1:
        raise ConfigError(f"expected_size: must be >= 1, got {expected_size}")
    best_m, best_cost = -1, math.inf
    for m in range(max(1, math.ceil(bits / 32)), bits + 1):
        w = math.ceil(bits / m)
        probes = m * _n_within(w, r // m)
        cost = probes + probes * expected_size / 2.0**w
        if cost < best_cost:
            best_m, best_cost = m, cost
    return best_m


@lru_cache(maxsize=64)
def _flip_masks(width: int, radius: int) -> npt.NDArray[np.uint32]:
    """Every ``width``-bit XOR mask with at most ``radius`` bits set (0 first)."""
    masks = [0]
    for k in range(1, min(radius, width) + 1):
        for pos in combinations(range(width), k):
            masks.append(sum(1 << p for p in pos))
    out = np.array(masks, dtype=np.uint32)
    out.flags.writeable = False
    return out


def _chunk_values(h: HashArray, bounds: Sequence[tuple[int, int]]) -> npt.NDArray[np.uint32]:
    """Chunk values, shape (m, N) uint32; bit ``a`` of the code is the chunk value's top bit."""
    n = h.shape[0]
    out = np.empty((len(bounds), n), np.uint32)
    step = 1 << 16
    for s in range(0, n, step):
        bits = np.unpackbits(h[s : s + step], axis=1)
        for j, (a, b) in enumerate(bounds):
            packed = np.packbits(bits[:, a:b], axis=1).astype(np.uint32)
            v = np.zeros(packed.shape[0], np.uint32)
            for c in range(packed.shape[1]):
                v = (v << np.uint32(8)) | packed[:, c]
            out[j, s : s + step] = v >> np.uint32(8 * packed.shape[1] - (b - a))
    return out


class MultiIndexHashIndex(_RowStore):
    """Exact Hamming-radius search by multi-index hashing over ``chunks`` bit chunks.

    Each chunk table is two arrays: the chunk values of the indexed rows, sorted (uint32), and
    the rows in that order (int32 or int64). Rows added later sit in an append buffer that is
    scanned by brute force until it grows past ``max(merge_min, len/32)`` rows, when
    it is merged into the tables (sorted insert, O(N)). Removed rows are tombstoned and
    filtered out at verification; past 25% tombstones the index compacts.

    Any radius may be searched (the probe radius per chunk is ``floor(r / chunks)``); results are
    exact for every radius, the index is only fast near the radius it was sized for.
    """

    kind: ClassVar[str] = "mih"
    merge_fraction: ClassVar[int] = 32
    # Bound on candidate rows verified in one step (memory stays bounded on clustered data).
    _query_block: ClassVar[int] = 256

    def __init__(
        self, bits: int, max_distance: int, chunks: int | None = None, *, merge_min: int = 4096
    ) -> None:
        super().__init__(bits)
        if merge_min < 0:
            raise ConfigError(f"merge_min: must be >= 0, got {merge_min}")
        self.merge_min = merge_min
        self.max_distance = _check_radius(max_distance, self.bits)
        if chunks is None:
            chunks = choose_chunks(self.bits, self.max_distance)
        if isinstance(chunks, bool) or not isinstance(chunks, int) or not 1 <= chunks <= self.bits:
            raise ConfigError(f"chunks: expected an int in [1, {self.bits}], got {chunks!r}")
        if math.ceil(self.bits / chunks) > 32:
            raise ConfigError(f"chunks: {chunks} chunks of {self.bits} bits exceed 32 bits per chunk")
        self.chunks = chunks
        self._bounds = _chunk_bounds(self.bits, chunks)
        self._keys: list[npt.NDArray[np.uint32]] = [np.empty(0, np.uint32) for _ in self._bounds]
        self._perm: list[npt.NDArray[Any]] = [np.empty(0, np.int64) for _ in self._bounds]
        self._n_indexed = 0  # rows [0, _n_indexed) are in the tables; the rest is the append buffer

    # ---- table maintenance -------------------------------------------------------------------
    def _row_dtype(self) -> type[np.signedinteger[Any]]:
        return np.int32 if self._hashes.shape[0] < 2**31 - 1 else np.int64

    def _merge_buffer(self) -> None:
        lo, hi = self._n_indexed, self._n
        if hi <= lo:
            return
        vals = _chunk_values(self._hashes[lo:hi], self._bounds)
        dt = self._row_dtype()
        for j in range(self.chunks):
            order = np.argsort(vals[j], kind="stable")
            v = vals[j][order]
            rows = (order + lo).astype(dt)
            if self._keys[j].size == 0:
                self._keys[j], self._perm[j] = v, rows
            else:
                pos = np.searchsorted(self._keys[j], v, side="right")
                self._keys[j] = np.insert(self._keys[j], pos, v)
                self._perm[j] = np.insert(self._perm[j].astype(dt, copy=False), pos, rows)
        self._n_indexed = hi

    def _after_compact(self) -> None:
        self._keys = [np.empty(0, np.uint32) for _ in self._bounds]
        self._perm = [np.empty(0, np.int64) for _ in self._bounds]
        self._n_indexed = 0
        self._merge_buffer()

    def _before_save(self) -> None:
        self._merge_buffer()

    def _maybe_merge(self) -> None:
        if self._n - self._n_indexed > max(self.merge_min, self._n_indexed // self.merge_fraction):
            self._merge_buffer()

    # ---- search ------------------------------------------------------------------------------
    def search(self, queries: npt.ArrayLike, max_distance: int) -> SearchResult:
        q, r = self._prepare_queries(queries, max_distance)
        if q.shape[0] == 0 or self._n == 0:
            return _empty_result()
        self._maybe_merge()
        parts = [self._scan(q, r, self._n_indexed, self._n)]
        if self._n_indexed:
            qvals = _chunk_values(q, self._bounds)
            wq = _as_words(q)
            stored = _as_words(self._hashes[: self._n_indexed])
            s = r // self.chunks
            for q0 in range(0, q.shape[0], self._query_block):
                q1 = min(q.shape[0], q0 + self._query_block)
                parts.append(self._probe(qvals[:, q0:q1], wq[q0:q1], stored, r, s, q0))
        qs, ids, ds = (np.concatenate(x) for x in zip(*parts, strict=True))
        return _sorted_result(qs, ids, ds)

    def _probe(
        self,
        qvals: npt.NDArray[np.uint32],
        wq: npt.NDArray[Any],
        stored: npt.NDArray[Any],
        r: int,
        s: int,
        q_offset: int,
    ) -> SearchResult:
        cand_q: list[npt.NDArray[np.int64]] = []
        cand_r: list[npt.NDArray[Any]] = []
        for j, (a, b) in enumerate(self._bounds):
            masks = _flip_masks(b - a, s)
            probes = (qvals[j][:, None] ^ masks[None, :]).ravel()
            order = np.argsort(probes, kind="stable")
            sp = probes[order]
            keys = self._keys[j]
            left = np.searchsorted(keys, sp, side="left")
            right = np.searchsorted(keys, sp, side="right")
            lens = right - left
            hit = lens > 0
            if not hit.any():
                continue
            starts, lens = left[hit], lens[hit]
            qi = order[hit] // masks.size
            total = int(lens.sum())
            ends = np.cumsum(lens)
            pos = np.arange(total, dtype=np.int64) + np.repeat(starts - (ends - lens), lens)
            cand_r.append(self._perm[j][pos])
            cand_q.append(np.repeat(qi, lens))
        if not cand_r:
            return _empty_result()
        rows = np.concatenate(cand_r).astype(np.int64)
        qi = np.concatenate(cand_q)
        # A row found through several chunks is verified once.
        key = np.unique(qi * self._n_indexed + rows)
        qi, rows = key // self._n_indexed, key % self._n_indexed
        rows_alive = self._alive[rows]
        qi, rows = qi[rows_alive], rows[rows_alive]
        d = _popcount_rows(stored[rows] ^ wq[qi])
        ok = d <= r
        return (qi[ok] + q_offset, self._ids[rows[ok]], d[ok].astype(np.int32))

    # ---- persistence -------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        return {"bits": self.bits, "max_distance": self.max_distance, "chunks": self.chunks}

    def _arrays(self) -> dict[str, npt.NDArray[Any]]:
        arrays = super()._arrays()
        for j in range(self.chunks):
            arrays[f"keys{j}"] = self._keys[j]
            arrays[f"perm{j}"] = self._perm[j]
        return arrays

    @classmethod
    def _from_parts(cls, header: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]) -> Self:
        try:
            idx = cls(int(header["bits"]), int(header["max_distance"]), int(header["chunks"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexError_(f"from_bytes: bad header ({exc})") from None
        idx._load_rows(header, arrays)
        n = idx._n
        try:
            for j in range(idx.chunks):
                keys = np.ascontiguousarray(arrays[f"keys{j}"])
                perm = np.ascontiguousarray(arrays[f"perm{j}"])
                if keys.dtype != np.uint32 or keys.shape != (n,) or perm.shape != (n,):
                    raise IndexError_(f"from_bytes: chunk table {j} has the wrong shape or dtype")
                if not np.issubdtype(perm.dtype, np.integer) or (
                    n and not (perm.min() >= 0 and perm.max() < n)
                ):
                    raise IndexError_(f"from_bytes: chunk table {j} points outside the rows")
                idx._keys[j], idx._perm[j] = keys, perm
        except KeyError as exc:
            raise IndexError_(f"from_bytes: array {exc} missing") from None
        idx._n_indexed = n
        return idx


class StaticHashIndex:
    """Exact radius search over a fixed set of hashes, in FAISS (C++, popcount SIMD).

    Built once from all rows (``ids`` are their positions); :meth:`search` answers like
    :meth:`MatchIndex.search`: every stored hash within ``max_distance`` of each query, sorted by query row,
    distance, id. Up to ``flat_max`` rows it compares every pair (FAISS's binary flat index, ~0.5 ns a pair:
    8x this module's numpy multi-index hashing on the engine's reference regions); above, FAISS's own
    multi-index hashing (16-bit chunks, ``radius // chunks`` bits flipped per probe, so exact by the
    pigeonhole principle, as :class:`MultiIndexHashIndex`).
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


# --------------------------------------------------------------------------------------------------
# Factory and loader

_KINDS: dict[str, type[BruteForceIndex] | type[MultiIndexHashIndex]] = {
    BruteForceIndex.kind: BruteForceIndex,
    MultiIndexHashIndex.kind: MultiIndexHashIndex,
}


def make_index(
    bits: int,
    max_distance: int,
    kind: Literal["auto", "mih", "bruteforce"] = "auto",
    *,
    expected_size: int = 1_000_000,
) -> BruteForceIndex | MultiIndexHashIndex:
    """An empty index for ``bits``-bit hashes searched within ``max_distance``.

    ``auto`` picks multi-index hashing unless the radius is so large that no chunking helps
    (the probe radius per chunk would exceed 3 at 32-bit chunks), in which case brute force.
    """
    bits = _check_bits(bits)
    r = _check_radius(max_distance, bits)
    if kind == "bruteforce":
        return BruteForceIndex(bits)
    if kind == "mih":
        return MultiIndexHashIndex(bits, r, choose_chunks(bits, r, expected_size))
    if kind == "auto":
        m = choose_chunks(bits, r, expected_size)
        if r // m > 3:
            return BruteForceIndex(bits)
        return MultiIndexHashIndex(bits, r, m)
    raise ConfigError(f"kind: expected 'auto', 'mih' or 'bruteforce', got {kind!r}")


def load_index(data: bytes) -> BruteForceIndex | MultiIndexHashIndex:
    """Rebuild any index from :meth:`MatchIndex.to_bytes` output."""
    header, arrays = _parse_blob(data)
    cls = _KINDS.get(str(header.get("kind")))
    if cls is None:
        raise IndexError_(f"from_bytes: unknown index kind {header.get('kind')!r}")
    return cls._from_parts(header, arrays)
