"""Exhaustive Hamming searches of 256-bit binary descriptors (ORB): the two nearest (the ratio test of local-feature
matching) and the k nearest (an IVF index's lists), by the kernels of :mod:`provenance.engine.popcount` (an optional
C extension: AVX-512's VPOPCNTQ, eight distances at once, where the CPU has it, else AVX2's nibble table, four a
register, else the scalar POPCNT) where it is built, else by FAISS's binary flat index; the same numbers either way."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "KEY_TYPES",
    "hamming_kernel",
    "hamming_planes",
    "k_nearest",
    "probe_buckets",
    "probe_ranges",
    "ranges_kernel",
    "two_nearest",
    "verify_ranges",
    "within",
    "within_kernel",
]

U8Array = npt.NDArray[np.uint8]


def two_nearest(queries: U8Array, base: U8Array) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """For each of the ``queries`` (256-bit descriptors, ``(N, 32)`` uint8), its nearest and second-nearest
    Hamming distance among the ``base`` descriptors (at least two) and the nearest's row: ``(N, 2)`` int32 and
    ``(N,)`` int64. Where the best distance is shared, which of those rows is named is not specified.

    Exhaustive: the AVX-512 kernel of :mod:`provenance.engine.popcount` (VPOPCNTQ, eight distances at once:
    ~0.16 ns a distance, 5x FAISS's binary flat index on the asset pass's searches, 1,850 asset descriptors
    among a frame's 1,000); on a CPU without AVX-512 VPOPCNTDQ its AVX2 kernel (0.83 ns a distance on a Zen 3 core
    over the short-clip corpus's asset and local searches, where the scalar POPCNT kernel took 1.68) or, without
    AVX2, the scalar one (1.98 ns on a Zen 1 core, FAISS 2.46); FAISS's binary flat index where the extension is not
    built; the same numbers either way.
    """
    if len(base) < 2:
        raise ValueError(f"two_nearest needs at least two base descriptors, got {len(base)}")
    q = np.ascontiguousarray(queries, dtype=np.uint8)
    b = np.ascontiguousarray(base, dtype=np.uint8)
    if _KERNEL is not None:
        d1, d2 = np.empty(len(q), np.int32), np.empty(len(q), np.int32)
        nearest = np.empty(len(q), np.int64)
        _KERNEL.two_nearest(q, hamming_planes(b), d1, d2, nearest)  # one load: the same word of 8 rows
        return np.stack([d1, d2], axis=1), nearest
    from provenance.engine.features import single_thread_faiss  # FAISS on one thread, as every engine search

    index = single_thread_faiss().IndexBinaryFlat(256)
    index.add(b)
    dist, rows = index.search(q, 2)
    return np.asarray(dist, np.int32), np.asarray(rows[:, 0], np.int64)


def hamming_planes(base: U8Array) -> npt.NDArray[np.uint64]:
    """``base`` (256-bit descriptors, ``(N, 32)`` uint8) as the kernels read it: four planes of ``N``
    64-bit words (:func:`k_nearest`)."""
    return np.ascontiguousarray(np.ascontiguousarray(base, dtype=np.uint8).view(np.uint64).T)


def k_nearest(
    queries: U8Array, planes: npt.NDArray[np.uint64], k: int
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]] | None:
    """For each of the ``queries``, the ``k`` nearest base descriptors (given as :func:`hamming_planes`) by Hamming
    distance, ordered by (distance, row): ``(N, k)`` int32 distances and int64 rows, the answer of FAISS's binary
    flat search (its heaps break ties by row). None where the kernels are not built (or, on x86-64, the CPU lacks
    POPCNT): the caller searches with FAISS instead."""
    if _KERNEL is None:
        return None
    q = np.ascontiguousarray(queries, dtype=np.uint8)
    dist, rows = np.empty((len(q), k), np.int32), np.empty((len(q), k), np.int64)
    _KERNEL.k_nearest(q, planes, k, dist, rows)
    return dist, rows


def within(
    queries: U8Array, planes: npt.NDArray[np.uint64], r: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int32]] | None:
    """Every base descriptor (given as :func:`hamming_planes`) within ``r`` bits of each of the ``queries``, exactly:
    ``(query row, base row, distance)`` arrays in (query, row) order. By the AVX-512 kernel (eight distances at once,
    four queries a pass over the base: ~0.24 ns a pair, FAISS's binary flat range search ~0.53 on the hash pass's
    queries); None where it does not run (the extension not built, a CPU without AVX-512 VPOPCNTDQ, or the scalar
    kernel chosen: one distance at a time it is slower than FAISS, which the caller then uses)."""
    if not within_kernel():
        return None
    q = np.ascontiguousarray(queries, dtype=np.uint8)
    capacity = max(1024, 16 * len(q))
    while True:
        out_q, out_i = np.empty(capacity, np.int64), np.empty(capacity, np.int64)
        out_d = np.empty(capacity, np.int32)
        n = _KERNEL.within(q, planes, int(r), out_q, out_i, out_d)
        if n <= capacity:
            return out_q[:n], out_i[:n], out_d[:n]
        capacity = n  # more matches than room: every one was counted, so the search runs once more with room for all


def verify_ranges(
    codes: U8Array,
    postings: npt.NDArray[Any],
    lo: npt.NDArray[np.int64],
    size: npt.NDArray[np.int64],
    row: npt.NDArray[np.int64],
    queries: U8Array,
    r: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int32]] | None:
    """A multi-index hash search's verification (:class:`~provenance.engine.index.MultiIndex`): for each probed
    range of ``postings`` (``lo[m]``, ``size[m]``) of query ``row[m]``, every posted row of ``codes`` (256-bit, C
    order; a memory-mapped table is read only where it is touched) within ``r`` bits of the query: ``(query row,
    row id, distance)`` arrays, in range order. In C, one pass: a row is read, compared and dropped, where numpy
    gathers every candidate's code first. No AVX-512 needed: None only where the extension is not built (or, on
    x86-64, the CPU lacks POPCNT): the caller verifies in numpy. :class:`ValueError` when a posting or a range lies
    outside the arrays."""
    if _RANGES is None or codes.shape[1:] != (32,) or not codes.flags.c_contiguous:
        return None
    capacity = int(size.sum())
    out_q, out_i = np.empty(capacity, np.int64), np.empty(capacity, np.int64)
    out_d = np.empty(capacity, np.int32)
    n = _RANGES.verify_ranges(
        codes,
        np.ascontiguousarray(postings),
        postings.dtype == np.int64,
        np.ascontiguousarray(lo, dtype=np.int64),
        np.ascontiguousarray(size, dtype=np.int64),
        np.ascontiguousarray(row, dtype=np.int64),
        np.ascontiguousarray(queries, dtype=np.uint8),
        int(r),
        out_q,
        out_i,
        out_d,
    )
    return out_q[:n], out_i[:n], out_d[:n]


#: the types of a multi-index's keys the C searches read (1, 2 and 4 bytes)
KEY_TYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.uint32))


def probe_ranges(
    keys: npt.NDArray[np.uint16] | npt.NDArray[np.uint32], probes: npt.NDArray[np.uint32]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
    """For each of the sorted ``probes``, where the sorted ``keys`` (uint8, uint16 or uint32) equal to it lie:
    ``(lo, size)``, what ``searchsorted`` left and right give (a multi-index hash search's probes of one chunk). In C,
    each search galloping on from where the last one ended, so that a chunk's keys (memory-mapped) are read mostly in
    order. None only where the extension is not built (or, on x86-64, the CPU lacks POPCNT): the caller uses numpy."""
    if _RANGES is None or not keys.flags.c_contiguous or keys.dtype not in KEY_TYPES:
        return None
    lo, size = np.empty(len(probes), np.int64), np.empty(len(probes), np.int64)
    _RANGES.probe_ranges(keys, keys.dtype.itemsize, np.ascontiguousarray(probes, dtype=np.uint32), lo, size)
    return lo, size


def probe_buckets(
    keys: npt.NDArray[Any],
    starts: npt.NDArray[np.uint32],
    shift: int,
    probes: npt.NDArray[np.uint32],
    low: bool = False,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
    """:func:`probe_ranges`' answer through ``starts``, where each bucket of the sorted ``keys`` begins (bucket ``b``:
    the keys whose value ``>> shift`` is ``b``; one start per bucket, then the keys' count): each probe is searched for
    among its bucket's keys alone; with ``low``, the keys hold only each value's bits under ``shift`` (its bucket says
    the rest: a key of 1 byte, not 4, for a chunk of 24 bits in 2^18 buckets). Only for the probes that find keys
    (most find none): ``(at, lo, size)``, ``at`` the probe's place in ``probes``, ascending. In C; None where the
    extension is not built (the caller uses numpy). :class:`ValueError` when a probe's bucket or a start lies outside
    the arrays."""
    if _RANGES is None or not keys.flags.c_contiguous or keys.dtype not in KEY_TYPES or starts.dtype != np.uint32:
        return None
    probes = np.ascontiguousarray(probes, dtype=np.uint32)
    at, lo, size = (np.empty(len(probes), np.int64) for _ in range(3))
    width = keys.dtype.itemsize
    hits = _RANGES.probe_buckets(keys, width, np.ascontiguousarray(starts), int(shift), low, probes, at, lo, size)
    return at[:hits], lo[:hits], size[:hits]


def hamming_kernel() -> bool:
    """Whether a kernel of the extension is built and this CPU runs it (:func:`two_nearest`, :func:`k_nearest`): AVX-512
    VPOPCNTDQ, AVX2 or the scalar POPCNT."""
    return _KERNEL is not None


def within_kernel() -> bool:
    """Whether :func:`within` runs here (the AVX-512 kernel; else None, and FAISS searches)."""
    return _KERNEL is not None and _KERNEL.isa() == "avx512"


def ranges_kernel() -> bool:
    """Whether the C searches of a multi-index's ranges run here (:func:`verify_ranges`, :func:`probe_ranges`): where
    the extension is built, on any x86-64 CPU with POPCNT (no AVX-512 needed) and elsewhere."""
    return _RANGES is not None


def _load_kernels() -> tuple[Any, Any]:
    """The extension as the 2-NN and k-NN kernels (None where it is not built or this CPU lacks POPCNT: FAISS is
    used) and as the portable range searches (None where it is not built: numpy is used)."""
    try:
        from provenance.engine import popcount
    except ImportError:
        return None, None
    return (popcount if popcount.supported() else None), (popcount if popcount.portable() else None)


_KERNEL, _RANGES = _load_kernels()
