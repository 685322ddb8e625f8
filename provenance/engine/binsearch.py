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
#: Stored descriptors per inverted list of the bank's IVF index (the lists' count grows with the bank) up to
#: :data:`_FLAT_LISTS` lists; then the lists grow, to :data:`_LONG_LIST_SIZE` rows.
_IVF_LIST_SIZE = 128
#: Lists up to which a query's are chosen by comparing it with every centroid (the C kernel: ~3.4 ms for a frame's
#: 300 queries at 65,536): the coarse lists past it (:func:`_quantizer`).
_FLAT_LISTS = 65536
#: Rows a list holds past the flat choice's reach: the lists' count grows with the bank from there (``rows //
#: 512``), so a query reads 12 lists of ~512 rows whatever the registry's size, where lists of ``rows / 65,536``
#: would be read (~49,000 rows each at 1,000 hours of reference: ~1.5 s of a clean clip, and its pages).
_LONG_LIST_SIZE = 512
#: Coarse lists (of centroids) searched for a query's lists, or a row's, past :data:`_FLAT_LISTS` lists. Measured
#: (real vote rows and their XORed copies, 120 real query frames; twice and ten times as many centroids as coarse
#: lists): the 12 lists the flat choice gives found 82 / 79 % of the time with 12, 93.8 / 88.8 % with 64, 95.3 / 92.1 %
#: with 128, at 1.0 / 1.6 / 2.2 times the search's time (a search's 4 nearest rows the flat choice's for 79 / 91 / 93 %
#: of the queries).
_COARSE_NPROBE = 64
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
    """Which of ``rows`` rows are an IVF vote search's centroids, evenly spread, in order: one per
    :data:`_IVF_LIST_SIZE` (16 to :data:`_FLAT_LISTS` of them), then, from :data:`_LONG_LIST_SIZE` rows a list on,
    one per :data:`_LONG_LIST_SIZE` (more than :data:`_FLAT_LISTS`: chosen through coarse lists, :func:`_quantizer`)."""
    if rows > _FLAT_LISTS * _LONG_LIST_SIZE:
        nlist = rows // _LONG_LIST_SIZE
    else:
        nlist = int(np.clip(rows // _IVF_LIST_SIZE, 16, _FLAT_LISTS))
    return np.linspace(0, rows - 1, nlist).astype(np.int64)


def _quantizer(centroids: U8Array) -> Any:
    """What chooses an IVF search's lists: a flat index of ``centroids`` (every one compared: FAISS's own choice, or
    the C kernel's, the same) up to :data:`_FLAT_LISTS` of them. Above, an IVF search of the centroids themselves:
    :data:`_FLAT_LISTS` of them, evenly spread, are coarse centroids, each centroid is filed in the list of its
    nearest coarse one (exactly: the kernel's or FAISS's choice), and a query's lists are the nearest centroids in the
    :data:`_COARSE_NPROBE` coarse lists nearest to it (FAISS's IVF search, the coarse lists chosen by the kernel). A
    query then compares itself with 65,536 coarse centroids and ``64 * N / 65,536`` centroids (~620 at 1,000 hours of
    reference), not with every one of ``N``; the centroids' order within the coarse lists is FAISS's (their numbers
    as ids), deterministic. A row is placed as a query chooses its first list, so a stored row searched finds itself."""
    faiss = single_thread_faiss()
    if len(centroids) <= _FLAT_LISTS:
        quantizer = faiss.IndexBinaryFlat(256)
        quantizer.add(centroids)
        return quantizer
    coarse = faiss.IndexBinaryFlat(256)
    coarse.add(np.ascontiguousarray(centroids[np.linspace(0, len(centroids) - 1, _FLAT_LISTS).astype(np.int64)]))
    quantizer = faiss.IndexBinaryIVF(coarse, 256, _FLAT_LISTS)  # FAISS's wrapper keeps ``coarse`` alive
    quantizer.is_trained = True
    quantizer.own_fields = False
    quantizer.nprobe = min(_COARSE_NPROBE, _FLAT_LISTS)
    add_rows(quantizer, np.ascontiguousarray(centroids))
    return quantizer


def _empty_ivf(centroids: U8Array) -> tuple[Any, Any]:
    """An IVF search with no rows yet over ``centroids`` (one list each; :data:`_IVF_NPROBE` probed), and its
    quantizer (:func:`_quantizer`, to be kept alive beside it)."""
    faiss = single_thread_faiss()
    quantizer = _quantizer(centroids)
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
    index, _quantizer = _empty_ivf(centroids)  # the quantizer kept alive beside the index
    index.ntotal = rows
    head = faiss.serialize_index_binary(index).tobytes()
    tail = b"ilar" + np.array([nlist, 32], "<u8").tobytes() + b"sprs" + np.zeros(1, "<u8").tobytes()
    if not head.endswith(tail):  # FAISS's layout of an empty index's lists, which the lists written below replace
        raise IndexStoreError(f"{path}: FAISS {faiss.__version__} writes an IVF search in a layout not known here")
    threads = _placement_threads(rows)
    lists = np.lib.format.open_memmap(scratch, mode="w+", dtype=np.int32, shape=(rows,))
    try:
        sizes = np.zeros(nlist, np.int64)
        at = 0
        for chunk in chunks():  # each row's list
            found = _placed(index, np.ascontiguousarray(chunk), threads)
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
    first, in order), those segments are replaced by one of ``since`` and ``rows``.

    The added segment's rows are placed by the first segment's quantizer (the lists a query of every segment reads
    are chosen by it: :func:`search_binary`); the segment holds an empty one of its own (what FAISS needs to write
    and read an IVF index), not a copy, which every process that opens the segment would read into its memory (past
    :data:`_FLAT_LISTS` lists, the centroids' own IVF search: ~25 MB at 1,000 hours of reference)."""
    parts, sources = (search.parts, search.sources) if isinstance(search, IVFSegments) else ([search], [source])
    if since is not None:
        parts, sources, rows = parts[:1], sources[:1], np.concatenate([since, rows])
    first = sum(int(p.ntotal) for p in parts)
    faiss = single_thread_faiss()
    empty = faiss.IndexBinaryFlat(256)
    index = faiss.IndexBinaryIVF(empty, 256, int(parts[0].nlist))
    index.is_trained = True
    index.own_fields = False
    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    if len(rows):
        lists = _placed(parts[0], rows, _placement_threads(len(rows)))
        ids = np.arange(first, first + len(rows), dtype=np.int64)
        index.add_core(len(rows), faiss.swig_ptr(rows), faiss.swig_ptr(ids), faiss.swig_ptr(lists))
    index.nprobe = int(parts[0].nprobe)
    keep = (*search.keep, empty) if isinstance(search, IVFSegments) else (empty,)
    return IVFSegments([*parts, index], [*sources, None], keep)


def _segment_path(path: Path, k: int) -> Path:
    return path.with_name(f"{path.stem}.{k}{path.suffix}")


def add_rows(index: Any, rows: U8Array, ids: npt.NDArray[np.int64] | None = None) -> None:
    """``index.add(rows)`` for a binary IVF index: each row placed in the list its quantizer chooses for it
    (:func:`_placed`), in order, and handed to FAISS (``add_core``), which then files the rows exactly as its ``add``
    does."""
    import faiss

    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    if not len(rows):
        return
    lists = _placed(index, rows, _placement_threads(len(rows)))
    given = None if ids is None else faiss.swig_ptr(np.ascontiguousarray(ids, dtype=np.int64))
    index.add_core(len(rows), faiss.swig_ptr(rows), given, faiss.swig_ptr(lists))


def _placed(index: Any, rows: U8Array, threads: int) -> IntArray:
    """The list of each of ``rows`` in ``index`` (a binary IVF index): its nearest centroid. With a flat quantizer
    every centroid is compared (N / 128 of them, up to :data:`_FLAT_LISTS`: a bank's write grows with its square
    until then), by the C kernel where it runs (:func:`~provenance.engine.hamming.k_nearest`: FAISS's own choice,
    ties to the lowest centroid), else by FAISS; past it, the nearest in the coarse lists nearest to the row
    (:func:`_quantizer`), a query's first list. On every core the process may use for a large bank
    (:func:`_placement_threads`)."""
    planes = _centroid_planes(index)
    if planes is not None:
        return _nearest_lists(rows, planes, threads)
    if not isinstance(_quantizer_of(index), single_thread_faiss().IndexBinaryIVF):  # FAISS's own threads place them
        with _faiss_threads(threads):
            return np.asarray(index.quantizer.search(rows, 1)[1], np.int64)[:, 0]
    lists = np.empty(len(rows), np.int64)

    def place(part: slice) -> None:
        for start in range(part.start, part.stop, _PLACED_AT_ONCE):
            chunk = slice(start, min(part.stop, start + _PLACED_AT_ONCE))
            lists[chunk] = _chosen_lists(index, rows[chunk], 1)[1][:, 0]

    _on_threads(place, len(rows), threads)
    return lists


def _on_threads(work: Callable[[slice], None], rows: int, threads: int) -> None:
    """``work`` on ``threads`` consecutive parts of ``rows`` rows, a thread each (the kernels and FAISS let go of the
    GIL)."""
    bounds = np.linspace(0, rows, threads + 1).astype(np.int64)
    parts = [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
    if threads > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, parts))
    else:
        work(parts[0])


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

    _on_threads(place, len(rows), threads)
    return lists


def _placement_threads(rows: int) -> int:
    """Threads that place ``rows`` vote rows in an IVF index's lists: every core the process may use from
    :data:`_PARALLEL_ADD` rows on, except in a scan's one-thread workers (two workers each on every core fought
    over them: 3.7-10x the time); else one."""
    return len(os.sched_getaffinity(0)) if rows >= _PARALLEL_ADD and sampling.threads_allowed() else 1


def _centroid_planes(index: Any) -> npt.NDArray[np.uint64] | None:
    """An IVF index's centroids as the C kernels read them (made once per index object), or None where the
    kernel does not run or the quantizer is not flat."""
    import faiss

    if not hamming_kernel():
        return None
    planes: npt.NDArray[np.uint64] | None = getattr(index, "_centroid_planes", None)
    if planes is None:
        quantizer = _quantizer_of(index)
        if not isinstance(quantizer, faiss.IndexBinaryFlat):  # an IVF search of the centroids: _chosen_lists
            return None
        planes = hamming_planes(quantizer.reconstruct_n(0, quantizer.ntotal))
        setattr(index, "_centroid_planes", planes)  # noqa: B010 (an attribute FAISS does not declare)
    return planes


def _quantizer_of(index: Any) -> Any:
    """``index``'s quantizer as its own class (FAISS's ``downcast``), made once per index object: the kernel's
    planes of a coarse quantizer are kept on it."""
    import faiss

    quantizer = getattr(index, "_quantizer", None)
    if quantizer is None:
        quantizer = faiss.downcast_IndexBinary(index.quantizer)
        setattr(index, "_quantizer", quantizer)  # noqa: B010 (an attribute FAISS does not declare)
    return quantizer


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
    thousand rows on. The kernel's nearest centroids are FAISS's, in FAISS's order (by distance, then row), so the
    lists are read in the same order and the answer is the same. Past :data:`_FLAT_LISTS` lists the kernel chooses
    the coarse lists of the centroids (:func:`_chosen_lists`).
    """
    import faiss

    queries = np.ascontiguousarray(queries, dtype=np.uint8)
    if isinstance(search, IVFSegments):
        return _segments_search(search, queries, k)
    if isinstance(search, faiss.IndexBinaryIVF) and len(queries):
        centroid_dist, lists = _chosen_lists(search, queries)
        dist, rows = search.search_preassigned(queries, k, lists, centroid_dist)
    else:
        dist, rows = search.search(queries, k)
    return np.asarray(dist, np.int32), np.asarray(rows, np.int64)


def _chosen_lists(index: Any, queries: U8Array, nprobe: int | None = None) -> tuple[npt.NDArray[np.int32], IntArray]:
    """The ``nprobe`` (``index.nprobe``) lists of ``index`` (a binary IVF index) each of ``queries`` reads, nearest
    first, and their centroids' distances: FAISS's choice (its quantizer's search), by the C kernel where it runs over
    a flat one; over an IVF search of the centroids (:func:`_quantizer`), its coarse lists chosen so, then FAISS's
    search of them (-1 where they hold fewer centroids than asked: FAISS reads no list for it)."""
    nprobe = int(index.nprobe) if nprobe is None else nprobe
    quantizer = _quantizer_of(index)
    if isinstance(quantizer, single_thread_faiss().IndexBinaryIVF):
        coarse_dist, coarse = _chosen_lists(quantizer, queries)
        dist, lists = quantizer.search_preassigned(queries, nprobe, coarse, coarse_dist)
        return np.asarray(dist, np.int32), np.asarray(lists, np.int64)
    planes = _centroid_planes(index)
    found = k_nearest(queries, planes, nprobe) if planes is not None and nprobe <= len(planes[0]) else None
    if found is None:
        dist, lists = index.quantizer.search(queries, nprobe)
        found = np.asarray(dist, np.int32), np.asarray(lists, np.int64)
    return found


def _segments_search(
    search: IVFSegments, queries: U8Array, k: int
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """:func:`search_binary` over each segment with the same lists (chosen once, by the first segment's quantizer),
    the ``k`` nearest of them all kept (by distance; at equal distance, the earlier segment's first)."""
    if not len(queries):
        return np.zeros((0, k), np.int32), np.zeros((0, k), np.int64)
    centroid_dist, lists = _chosen_lists(search.parts[0], queries)
    answers = [part.search_preassigned(queries, k, lists, centroid_dist) for part in search.parts]
    dist = np.concatenate([np.asarray(d, np.int64) for d, _ in answers], axis=1)
    rows = np.concatenate([np.asarray(i, np.int64) for _, i in answers], axis=1)
    dist[rows < 0] = np.iinfo(np.int64).max
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    kept_rows = np.take_along_axis(rows, order, axis=1)
    kept = np.take_along_axis(dist, order, axis=1)
    kept[kept_rows < 0] = np.iinfo(np.int32).max
    return kept.astype(np.int32), kept_rows
