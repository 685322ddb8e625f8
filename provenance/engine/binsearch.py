"""FAISS binary search structures over ORB descriptors (the feature bank's vote search, the asset shortlist): exhaustive
for few rows, an IVF index for many; written to and read from files by memory map; searched and filled with the
C kernels' help (:mod:`provenance.engine.hamming`) where they run, with FAISS's own answers."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from provenance.engine import sampling
from provenance.engine.features import single_thread_faiss
from provenance.engine.hamming import hamming_kernel, hamming_planes, k_nearest
from provenance.errors import IndexStoreError

__all__ = [
    "EXHAUSTIVE_MAX",
    "IVFSegments",
    "add_rows",
    "binary_index",
    "grown_segments",
    "ivf_index",
    "read_mapped",
    "read_segments",
    "search_binary",
    "write_ivf",
    "write_segments",
]

U8Array = npt.NDArray[np.uint8]
IntArray = npt.NDArray[np.int64]

#: Stored descriptors up to which ``auto`` searches exhaustively.
EXHAUSTIVE_MAX = 20000
#: Stored descriptors per inverted list of the bank's IVF index (the lists' count grows with the bank).
_IVF_LIST_SIZE = 128
#: Inverted lists searched per query descriptor.
#: (On 192 real query frames of the 720p benchmark footage against a bank of 398k descriptors, 12 lists agreed
#: with the exact search's best video for 94.8 % of queries and 79 % of its verified frames, 16 lists for 95.3 %
#: and 81 %, at 2.8 ms a query against 3.5.)
_IVF_NPROBE = 12


def ivf_index(descs: U8Array) -> tuple[Any, Any]:
    """FAISS binary IVF over ``descs``, its centroids an evenly spread sample of them (no k-means: deterministic,
    built in a fraction of a second, and on real ORB descriptors the shortlist is as close to the exact one)."""
    index, quantizer = _empty_ivf(np.ascontiguousarray(descs[_centroid_rows(len(descs))]))
    add_rows(index, descs)
    return index, quantizer


def _centroid_rows(rows: int) -> IntArray:
    """Which of ``rows`` rows are an IVF vote search's centroids: one per :data:`_IVF_LIST_SIZE` (16 to 65,536 of
    them), evenly spread, in order."""
    nlist = int(np.clip(rows // _IVF_LIST_SIZE, 16, 65536))
    return np.linspace(0, rows - 1, nlist).astype(np.int64)


def _empty_ivf(centroids: U8Array) -> tuple[Any, Any]:
    """An IVF search with no rows yet over ``centroids`` (one list each; :data:`_IVF_NPROBE` probed), and its
    quantizer (to be kept alive beside it)."""
    faiss = single_thread_faiss()
    quantizer = faiss.IndexBinaryFlat(256)
    quantizer.add(centroids)
    index = faiss.IndexBinaryIVF(quantizer, 256, len(centroids))
    index.is_trained = True
    index.own_fields = False
    index.nprobe = min(_IVF_NPROBE, len(centroids))
    return index, quantizer


def write_ivf(path: Path, chunks: Callable[[], Iterator[U8Array]], rows: int, scratch: Path) -> None:
    """Write to ``path`` the IVF vote search :func:`ivf_index` makes of ``rows`` rows, as FAISS writes it (the same
    bytes), from ``chunks()``: the rows in order, a chunk at a time (it is called three times: the centroids, each
    row's list, the rows laid out), holding one chunk and 4 bytes a row in ``scratch`` (a file, mapped, removed
    after), not every row and every list in memory (at 10 hours of reference 32 million rows: ~1 GB of rows stacked
    and ~1.3 GB of lists).

    The file is FAISS's (``write_index_binary``): the index's header and centroids, then its lists (``ilar``: each
    list's size, then each list's codes and ids); the rows are placed in their lists (each row's nearest centroid,
    :func:`add_rows`' choice) in order, where the file is mapped."""
    import faiss

    if rows < 16:
        raise ValueError(f"an IVF search needs 16 rows or more, got {rows}")
    picks = _centroid_rows(rows)
    nlist = len(picks)
    centroids = np.empty((nlist, 32), np.uint8)
    at = 0
    for chunk in chunks():  # the centroids: the rows picked, as ivf_index picks them
        lo, hi = np.searchsorted(picks, [at, at + len(chunk)])
        centroids[lo:hi] = chunk[picks[lo:hi] - at]
        at += len(chunk)
    _check_rows(path, at, rows)
    index, quantizer = _empty_ivf(centroids)
    index.ntotal = rows
    head = faiss.serialize_index_binary(index).tobytes()
    tail = b"ilar" + np.array([nlist, 32], "<u8").tobytes() + b"sprs" + np.zeros(1, "<u8").tobytes()
    if not head.endswith(tail):  # FAISS's layout of an empty index's lists, which the lists written below replace
        raise IndexStoreError(f"{path}: FAISS {faiss.__version__} writes an IVF search in a layout not known here")
    planes = hamming_planes(centroids) if hamming_kernel() else None
    threads = _placement_threads(rows)
    lists = np.lib.format.open_memmap(scratch, mode="w+", dtype=np.int32, shape=(rows,))
    try:
        sizes = np.zeros(nlist, np.int64)
        at = 0
        for chunk in chunks():  # each row's list
            if planes is not None:
                found = _nearest_lists(np.ascontiguousarray(chunk), planes, threads)
            else:
                with _faiss_threads(threads):
                    found = np.asarray(quantizer.search(np.ascontiguousarray(chunk), 1)[1], np.int64)[:, 0]
            lists[at : at + len(chunk)] = found
            sizes += np.bincount(found, minlength=nlist)
            at += len(chunk)
        _check_rows(path, at, rows)
        _write_lists(path, head[: -len(tail)], sizes, lists, chunks)
    finally:
        del lists
        scratch.unlink(missing_ok=True)


def _check_rows(path: Path, seen: int, rows: int) -> None:
    if seen != rows:
        raise IndexStoreError(f"{path}: the vote search's rows came as {seen}, {rows} were announced")


def _write_lists(
    path: Path, head: bytes, sizes: IntArray, lists: npt.NDArray[np.int32], chunks: Callable[[], Iterator[U8Array]]
) -> None:
    """``head`` then FAISS's ``ilar`` lists of the rows of ``chunks()`` (``lists``: each one's list), written where the
    file is mapped: every list's codes (32 bytes a row) then its ids (8 bytes a row, a row's number), in row order."""
    nlist, rows = len(sizes), int(sizes.sum())
    full = int(np.count_nonzero(sizes)) > nlist // 2  # FAISS's choice: every size, or (list, size) of those not empty
    table = sizes if full else np.column_stack([np.flatnonzero(sizes), sizes[sizes > 0]]).ravel()
    section = b"".join(
        [
            b"ilar",
            np.array([nlist, 32], "<u8").tobytes(),
            b"full" if full else b"sprs",
            np.array([len(table)], "<u8").tobytes(),
            np.asarray(table, "<u8").tobytes(),
        ]
    )
    start = len(head) + len(section)
    with open(path, "wb") as f:
        f.write(head + section)
        f.truncate(start + 40 * rows)
    data = np.memmap(path, dtype=np.uint8, mode="r+", offset=start, shape=(40 * rows,))
    words = data.view(np.uint64)  # every code and id begins a multiple of 8 bytes after ``start``
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)  # each list's first row in the file
    filled = np.zeros(nlist, np.int64)
    at = 0
    for chunk in chunks():
        own = np.asarray(lists[at : at + len(chunk)], np.int64)
        order = np.argsort(own, kind="stable")
        by_list = own[order]
        named, begins, counts = np.unique(by_list, return_index=True, return_counts=True)
        slot = filled[by_list] + np.arange(len(by_list)) - np.repeat(begins, counts)  # place in its list
        filled[named] += counts
        code_at = 5 * first[by_list] + 4 * slot  # in 8-byte words: a list's 40-byte rows, codes first
        words[code_at[:, None] + np.arange(4)] = np.ascontiguousarray(chunk[order]).view(np.uint64).reshape(-1, 4)
        words[5 * first[by_list] + 4 * sizes[by_list] + slot] = (order + at).astype(np.uint64)
        at += len(chunk)
    _check_rows(path, at, rows)
    data.flush()
    del words, data


class IVFSegments:
    """Binary IVF searches over the same centroids, their rows one after another (ids counted across them): the vote
    search of an index extended by added references, the older directory's (mapped, linked when written) followed by
    one over each addition's rows. A query reads the same lists in each (chosen once) and keeps the ``k`` nearest of
    all: the distances a single index of every row gives; of rows equally near at the ``k``-th place, the earlier
    segment's are kept (a single index keeps the one its scan met first)."""

    def __init__(self, parts: list[Any], sources: list[Path | None], keep: tuple[Any, ...] = ()) -> None:
        self.parts, self.sources, self.keep = parts, sources, keep  # keep: what the parts need alive
        self.nprobe = int(parts[0].nprobe)

    @property
    def ntotal(self) -> int:
        return sum(int(p.ntotal) for p in self.parts)


def read_segments(path: Path, count: int) -> Any:
    """The vote search :func:`write_segments` wrote from ``path`` (``count`` segments), each part mapped."""
    if count <= 1:
        return read_mapped(path)
    paths = [path, *(_segment_path(path, k) for k in range(1, count))]
    return IVFSegments([read_mapped(p) for p in paths], list(paths))


def write_segments(search: IVFSegments, path: Path) -> int:
    """Write ``search`` from ``path`` on (``NAME.faiss``, ``NAME.1.faiss``, ...): a part read from a file is linked
    to it (an index directory never changes once written), the others written. Returns the parts written."""
    for k, (part, source) in enumerate(zip(search.parts, search.sources, strict=True)):
        target = path if k == 0 else _segment_path(path, k)
        if source is not None:
            try:
                os.link(source, target)
                continue
            except OSError:
                pass  # another file system: written below
        single_thread_faiss().write_index_binary(part, str(target))
    return len(search.parts)


def grown_segments(search: Any, source: Path | None, rows: U8Array, since: U8Array | None = None) -> IVFSegments:
    """``search`` (an IVF index, or :class:`IVFSegments`; read from ``source``) followed by a segment of ``rows``
    over the same centroids, its ids after every row before; with ``since`` (the rows of every segment after the
    first, in order), those segments are replaced by one of ``since`` and ``rows``."""
    parts, sources = (search.parts, search.sources) if isinstance(search, IVFSegments) else ([search], [source])
    if since is not None:
        parts, sources, rows = parts[:1], sources[:1], np.concatenate([since, rows])
    first = sum(int(p.ntotal) for p in parts)
    faiss = single_thread_faiss()
    base = faiss.downcast_IndexBinary(parts[0].quantizer)
    quantizer = faiss.IndexBinaryFlat(256)
    quantizer.add(base.reconstruct_n(0, base.ntotal))
    index = faiss.IndexBinaryIVF(quantizer, 256, int(parts[0].nlist))
    index.is_trained = True
    index.own_fields = False
    add_rows(index, rows, np.arange(first, first + len(rows), dtype=np.int64))
    index.nprobe = int(parts[0].nprobe)
    keep = (*search.keep, quantizer) if isinstance(search, IVFSegments) else (quantizer,)
    return IVFSegments([*parts, index], [*sources, None], keep)


def _segment_path(path: Path, k: int) -> Path:
    return path.with_name(f"{path.stem}.{k}{path.suffix}")


def add_rows(index: Any, rows: U8Array, ids: npt.NDArray[np.int64] | None = None) -> None:
    """``index.add(rows)`` for a binary IVF index: each row placed in the list of its nearest centroid, in order.

    Placing compares every row with every centroid (N / 128 of them), so a bank's write grows with its square. The
    nearest centroids are found by the C kernel where it runs (:func:`~provenance.engine.hamming.k_nearest`:
    FAISS's own choice, ties to the lowest centroid) and handed to FAISS (``add_core``), which then files the rows
    exactly as its ``add`` does; else FAISS's ``add``. Either way on every core the process may use for a large
    bank (:func:`_placement_threads`)."""
    import faiss

    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    threads = _placement_threads(len(rows))
    planes = _centroid_planes(index)
    if planes is None or not len(rows):
        with _faiss_threads(threads):
            if ids is None:
                index.add(rows)
            else:
                index.add_with_ids(rows, ids)
        return
    lists = _nearest_lists(rows, planes, threads)
    given = None if ids is None else faiss.swig_ptr(np.ascontiguousarray(ids, dtype=np.int64))
    index.add_core(len(rows), faiss.swig_ptr(rows), given, faiss.swig_ptr(lists))


def _nearest_lists(rows: U8Array, planes: npt.NDArray[np.uint64], threads: int) -> IntArray:
    """Each row's nearest centroid (``planes``: :func:`~provenance.engine.hamming.hamming_planes` of them; ties to the
    lowest, FAISS's choice) by the C kernel, on ``threads`` threads (it lets go of the GIL: one a part)."""
    lists = np.empty(len(rows), np.int64)

    def place(part: slice) -> None:
        for start in range(part.start, part.stop, _PLACED_AT_ONCE):  # bounded scratch whatever the rows
            chunk = slice(start, min(part.stop, start + _PLACED_AT_ONCE))
            found = k_nearest(rows[chunk], planes, 1)
            assert found is not None  # the kernel runs: the caller's planes say so
            lists[chunk] = found[1][:, 0]

    bounds = np.linspace(0, len(rows), threads + 1).astype(np.int64)
    parts = [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
    if threads > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(place, parts))
    else:
        place(parts[0])
    return lists


def _placement_threads(rows: int) -> int:
    """Threads that place ``rows`` vote rows in an IVF index's lists: every core the process may use from
    :data:`_PARALLEL_ADD` rows on, except in a scan's one-thread workers (two workers each on every core fought
    over them: 3.7-10x the time); else one."""
    return len(os.sched_getaffinity(0)) if rows >= _PARALLEL_ADD and sampling.threads_allowed() else 1


def _centroid_planes(index: Any) -> npt.NDArray[np.uint64] | None:
    """An IVF index's centroids as the C kernels read them (made once per index object), or None where the
    kernel does not run (FAISS searches them)."""
    import faiss

    if not hamming_kernel():
        return None
    planes: npt.NDArray[np.uint64] | None = getattr(index, "_centroid_planes", None)
    if planes is None:
        quantizer = faiss.downcast_IndexBinary(index.quantizer)
        planes = hamming_planes(quantizer.reconstruct_n(0, quantizer.ntotal))
        setattr(index, "_centroid_planes", planes)  # noqa: B010 (an attribute FAISS does not declare)
    return planes


#: vote rows from which the IVF's rows are placed in their lists on every core the process may use (unless it is one
#: of a scan's one-thread workers: :func:`~provenance.engine.sampling.threads_allowed`): placing compares each row
#: with every list's centroid (N / 128 of them), so it grows with the square of the bank (with FAISS's add, 92 % of
#: writing 0.61 h of reference: 16.7 s, 7.9 s on 2 cores); rows are placed as on one thread (each row's nearest
#: centroid), in order
_PARALLEL_ADD = 1 << 18
#: rows whose nearest centroids the kernel finds in one call (its answers: 12 bytes a row)
_PLACED_AT_ONCE = 1 << 20


@contextlib.contextmanager
def _faiss_threads(n: int) -> Iterator[None]:
    """FAISS's OpenMP threads set to ``n`` inside the block, then back to what they were."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(max(1, n))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def read_mapped(path: Path) -> Any:
    """A search :func:`binary_index` made, read from ``path`` by memory map: a flat one's codes are mapped (FAISS's
    ``IO_FLAG_MMAP_IFC``; ``IO_FLAG_MMAP`` alone copies them), an IVF one's inverted lists are (``IO_FLAG_MMAP``,
    which FAISS refuses to combine with the other for an IVF index)."""
    import faiss

    reader = single_thread_faiss()
    try:
        return reader.read_index_binary(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_MMAP_IFC)
    except RuntimeError:
        return reader.read_index_binary(str(path), faiss.IO_FLAG_MMAP)


def binary_index(descs: U8Array, exhaustive_max: int = EXHAUSTIVE_MAX) -> tuple[Any, ...]:
    """A FAISS search structure over ORB descriptors: exhaustive up to ``exhaustive_max`` of them, else the
    IVF index of :class:`FeatureBank` (sub-linear). The first item searches; the rest are kept alive beside it."""
    if len(descs) <= exhaustive_max or len(descs) < 16:
        index = single_thread_faiss().IndexBinaryFlat(256)
        index.add(np.ascontiguousarray(descs))
        return (index,)
    return ivf_index(np.ascontiguousarray(descs))


def search_binary(search: Any, queries: U8Array, k: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """``search.search(queries, k)`` (a FAISS binary index of :func:`binary_index`): the same answer, with an IVF
    index's lists to probe chosen by the C kernel (:func:`~provenance.engine.hamming.k_nearest`) where it
    runs, instead of FAISS's flat search over the centroids.

    An IVF search compares each query with every centroid (one per :data:`_IVF_LIST_SIZE` rows, up to 65,536)
    before it reads ``nprobe`` lists of about that many rows: the centroids are most of its cost from a few hundred
    thousand rows on, and grow with the registry. The kernel's nearest centroids are FAISS's, in FAISS's order
    (by distance, then row), so the lists are read in the same order and the answer is the same.
    """
    import faiss

    queries = np.ascontiguousarray(queries, dtype=np.uint8)
    if isinstance(search, IVFSegments):
        return _segments_search(search, queries, k)
    planes = _centroid_planes(search) if isinstance(search, faiss.IndexBinaryIVF) and len(queries) else None
    if planes is not None:
        found = k_nearest(queries, planes, int(search.nprobe)) if search.nprobe <= len(planes[0]) else None
        if found is not None:
            centroid_dist, lists = found
            dist, rows = search.search_preassigned(queries, k, lists, centroid_dist)
            return np.asarray(dist, np.int32), np.asarray(rows, np.int64)
    dist, rows = search.search(queries, k)
    return np.asarray(dist, np.int32), np.asarray(rows, np.int64)


def _segments_search(
    search: IVFSegments, queries: U8Array, k: int
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """:func:`search_binary` over each segment with the same lists (chosen once), the ``k`` nearest of them all kept
    (by distance; at equal distance, the earlier segment's first)."""
    planes = _centroid_planes(search.parts[0]) if len(queries) else None
    found = (
        k_nearest(queries, planes, search.nprobe) if planes is not None and search.nprobe <= len(planes[0]) else None
    )
    answers = []
    for part in search.parts:
        if found is not None:
            answers.append(part.search_preassigned(queries, k, found[1], found[0]))
        else:  # FAISS chooses the same lists in every part: the same centroids
            answers.append(part.search(queries, k))
    dist = np.concatenate([np.asarray(d, np.int64) for d, _ in answers], axis=1)
    rows = np.concatenate([np.asarray(i, np.int64) for _, i in answers], axis=1)
    dist[rows < 0] = np.iinfo(np.int64).max
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    kept_rows = np.take_along_axis(rows, order, axis=1)
    kept = np.take_along_axis(dist, order, axis=1)
    kept[kept_rows < 0] = np.iinfo(np.int32).max
    return kept.astype(np.int32), kept_rows
