"""The feature bank: many reference frames' ORB descriptors searched at once, so that a query frame is verified
(ratio test, RANSAC: :func:`~provenance.engine.features.match_region`) against the few reference frames it
resembles, not against all of them."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from provenance.engine import sampling
from provenance.engine.features import (
    DEFAULT_PARAMS,
    Features,
    LocalParams,
    RegionMatch,
    hamming_kernel,
    hamming_planes,
    k_nearest,
    match_region,
    single_thread_faiss,
)
from provenance.errors import ConfigError, IndexStoreError

__all__ = [
    "RETRAIN_FACTOR",
    "AssetShortlist",
    "BankHit",
    "FeatureBank",
    "PackedFeatures",
    "binary_index",
    "search_binary",
]

U8Array = npt.NDArray[np.uint8]

#: Stored descriptors up to which ``auto`` searches exhaustively.
_AUTO_BF_MAX = 20000
#: Stored descriptors per inverted list of the bank's IVF index (the lists' count grows with the bank).
_IVF_LIST_SIZE = 128
#: Inverted lists searched per query descriptor.
#: (On 192 real query frames of the 720p benchmark footage against a bank of 398k descriptors, 12 lists agreed
#: with the exact search's best video for 94.8 % of queries and 79 % of its verified frames, 16 lists for 95.3 %
#: and 81 %, at 2.8 ms a query against 3.5.)
_IVF_NPROBE = 12
#: An IVF vote search grown by appending rows (:meth:`FeatureBank.joined`: its centroids, an even sample of the rows
#: it was built from, are kept) is built again once it holds more than this many times those rows: its lists are
#: then on average twice the length a full build gives them (a query costs up to twice as much) and half its rows
#: were never sampled for centroids. A choice, not a measurement: only one reference added to 48 was measured
#: (``bench/index_add_bench.py``, 0.92 h: the grown search found what a full build in the same order finds on 11 of
#: 12 sample clips; on the 12th, new Freedoom gameplay, it kept a short footage match at half speed that the full
#: build dropped, one that two full builds of 4 copies, in two orders, also disagree on).
RETRAIN_FACTOR = 2.0


def _ivf_index(descs: U8Array) -> tuple[Any, Any]:
    """FAISS binary IVF over ``descs``, its centroids an evenly spread sample of them (no k-means: deterministic,
    built in a fraction of a second, and on real ORB descriptors the shortlist is as close to the exact one)."""
    faiss = single_thread_faiss()
    nlist = int(np.clip(len(descs) // _IVF_LIST_SIZE, 16, 65536))
    quantizer = faiss.IndexBinaryFlat(256)
    quantizer.add(np.ascontiguousarray(descs[np.linspace(0, len(descs) - 1, nlist).astype(np.int64)]))
    index = faiss.IndexBinaryIVF(quantizer, 256, nlist)
    index.is_trained = True
    index.own_fields = False
    add_rows(index, descs)
    index.nprobe = min(_IVF_NPROBE, nlist)
    return index, quantizer


def add_rows(index: Any, rows: U8Array) -> None:
    """``index.add(rows)`` for a binary IVF index: each row placed in the list of its nearest centroid, in order.

    Placing compares every row with every centroid (N / 128 of them), so a bank's write grows with its square. The
    nearest centroids are found by the AVX-512 kernel where it runs (:func:`~provenance.engine.features.k_nearest`:
    FAISS's own choice, ties to the lowest centroid) and handed to FAISS (``add_core``), which then files the rows
    exactly as its ``add`` does; else FAISS's ``add``. Either way on every core the process may use for a large
    bank (:func:`_placement_threads`)."""
    import faiss

    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    threads = _placement_threads(len(rows))
    planes = _centroid_planes(index)
    if planes is None or not len(rows):
        with _faiss_threads(threads):
            index.add(rows)
        return
    lists = np.empty(len(rows), np.int64)

    def place(part: slice) -> None:
        found = k_nearest(rows[part], planes, 1)
        assert found is not None  # the kernel runs: _centroid_planes said so
        lists[part] = found[1][:, 0]

    bounds = np.linspace(0, len(rows), threads + 1).astype(np.int64)
    parts = [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
    if threads > 1:  # the kernel lets go of the GIL: one thread a part
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(place, parts))
    else:
        place(parts[0])
    index.add_core(len(rows), faiss.swig_ptr(rows), None, faiss.swig_ptr(lists))


def _placement_threads(rows: int) -> int:
    """Threads that place ``rows`` vote rows in an IVF index's lists: every core the process may use from
    :data:`_PARALLEL_ADD` rows on, except in a scan's one-thread workers (two workers each on every core fought
    over them: 3.7-10x the time); else one."""
    return len(os.sched_getaffinity(0)) if rows >= _PARALLEL_ADD and sampling.threads_allowed() else 1


def _centroid_planes(index: Any) -> npt.NDArray[np.uint64] | None:
    """An IVF index's centroids as the AVX-512 kernel reads them (made once per index object), or None where the
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
#: with every list's centroid (N / 128 of them), so it grows with the square of the bank (92 % of writing 0.61 h of
#: reference: 16.7 s, 7.9 s on 2 cores); rows are placed as on one thread (each row's nearest centroid), in order
_PARALLEL_ADD = 1 << 18


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


def _read_mapped(path: Path) -> Any:
    """A search :func:`binary_index` made, read from ``path`` by memory map: a flat one's codes are mapped (FAISS's
    ``IO_FLAG_MMAP_IFC``; ``IO_FLAG_MMAP`` alone copies them), an IVF one's inverted lists are (``IO_FLAG_MMAP``,
    which FAISS refuses to combine with the other for an IVF index)."""
    import faiss

    reader = single_thread_faiss()
    try:
        return reader.read_index_binary(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_MMAP_IFC)
    except RuntimeError:
        return reader.read_index_binary(str(path), faiss.IO_FLAG_MMAP)


def binary_index(descs: U8Array, exhaustive_max: int = _AUTO_BF_MAX) -> tuple[Any, ...]:
    """A FAISS search structure over ORB descriptors: exhaustive up to ``exhaustive_max`` of them, else the
    IVF index of :class:`FeatureBank` (sub-linear). The first item searches; the rest are kept alive beside it."""
    if len(descs) <= exhaustive_max or len(descs) < 16:
        index = single_thread_faiss().IndexBinaryFlat(256)
        index.add(np.ascontiguousarray(descs))
        return (index,)
    return _ivf_index(np.ascontiguousarray(descs))


def search_binary(search: Any, queries: U8Array, k: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """``search.search(queries, k)`` (a FAISS binary index of :func:`binary_index`): the same answer, with an IVF
    index's lists to probe chosen by the AVX-512 kernel (:func:`~provenance.engine.features.k_nearest`) where it
    runs, instead of FAISS's flat search over the centroids.

    An IVF search compares each query with every centroid (one per :data:`_IVF_LIST_SIZE` rows, up to 65,536)
    before it reads ``nprobe`` lists of about that many rows: the centroids are most of its cost from a few hundred
    thousand rows on, and grow with the registry. The kernel's nearest centroids are FAISS's, in FAISS's order
    (by distance, then row), so the lists are read in the same order and the answer is the same.
    """
    import faiss

    queries = np.ascontiguousarray(queries, dtype=np.uint8)
    planes = _centroid_planes(search) if isinstance(search, faiss.IndexBinaryIVF) and len(queries) else None
    if planes is not None:
        found = k_nearest(queries, planes, int(search.nprobe)) if search.nprobe <= len(planes[0]) else None
        if found is not None:
            centroid_dist, lists = found
            dist, rows = search.search_preassigned(queries, k, lists, centroid_dist)
            return np.asarray(dist, np.int32), np.asarray(rows, np.int64)
    dist, rows = search.search(queries, k)
    return np.asarray(dist, np.int32), np.asarray(rows, np.int64)


@dataclass(frozen=True, slots=True)
class PackedFeatures:
    """Many frames' features in four flat arrays (memory-mapped from an index directory, so that they are read
    from disk only for the frames a query shortlists): frame ``i`` has keypoints and descriptors
    ``offsets[i]:offsets[i + 1]`` and the image size ``sizes[i]``."""

    keypoints: npt.NDArray[np.float32]  # (K, 2)
    descriptors: U8Array  # (K, 32)
    offsets: npt.NDArray[np.int64]  # (F + 1,)
    sizes: npt.NDArray[np.int32]  # (F, 2)

    @classmethod
    def pack(cls, frames: Sequence[Features]) -> PackedFeatures:
        counts = np.array([len(f) for f in frames], np.int64)
        return cls(
            np.concatenate([f.keypoints for f in frames]) if frames else np.zeros((0, 2), np.float32),
            np.concatenate([f.descriptors for f in frames]) if frames else np.zeros((0, 32), np.uint8),
            np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            np.array([f.size for f in frames], np.int32).reshape(len(frames), 2),
        )

    def __len__(self) -> int:
        return len(self.sizes)

    def __getitem__(self, i: int) -> Features:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        w, h = (int(v) for v in self.sizes[i])
        return Features(self.keypoints[a:b], self.descriptors[a:b], (w, h))


@dataclass(frozen=True, slots=True)
class BankHit:
    """One reference frame of a :class:`FeatureBank` verified against a query."""

    ref_id: int
    votes: int
    match: RegionMatch


@dataclass(slots=True)
class FeatureBank:
    """Descriptors of many reference frames searched at once to shortlist candidates.

    ``add`` registers a reference frame's features and returns its id (0, 1, ...);
    its optional ``group`` names the video the frame comes from.
    ``search`` runs one k-NN over every stored descriptor, counts for each
    reference frame the query descriptors whose neighbour within
    ``bank_max_distance`` belongs to it (one vote per query descriptor and
    reference), then verifies the ``top_k`` most voted with :func:`match_region`.
    With ``top_groups``, votes are first summed per group and the ``top_k`` most
    voted frames of each of the ``top_groups`` best groups are verified: a static
    screen has the same features in every frame of its video, so its votes spread
    thin across those frames while one unrelated frame can collect more; the
    video as a whole still stands out.
    ``backend`` is ``"bf"`` (exact brute force, FAISS's binary flat index, ~0.5 ns per descriptor pair),
    ``"ivf"`` (FAISS binary IVF: each query descriptor is compared with the stored ones of the 12 inverted
    lists nearest to it, ~128 stored descriptors a list; approximate, and sub-linear in the bank) or
    ``"auto"`` (brute force up to ``_AUTO_BF_MAX`` stored descriptors).

    The IVF index replaced FLANN's LSH (24-bit keys, 8 tables, multi-probe). On 120 real query frames of the
    720p benchmark footage against a bank of 144k descriptors, measured against the exact votes: the best-voted
    video agreed for 97 % of queries (LSH 93 %) and 88 % of the verified frames were the exact search's
    (LSH 68 %), at about half LSH's time.
    """

    params: LocalParams = DEFAULT_PARAMS
    backend: Literal["bf", "ivf", "auto"] = "auto"
    _refs: list[Features] | PackedFeatures = field(default_factory=list)
    _owner: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
    _groups: list[int] | npt.NDArray[np.int64] = field(default_factory=list)  # an array when opened (mapped)
    _matcher: Any = None
    _trained: int | None = None  # rows the search was laid out on, when it grew since (trained_rows)

    def __post_init__(self) -> None:
        if self.backend not in ("bf", "ivf", "auto"):
            raise ConfigError(f"FeatureBank.backend must be 'bf', 'ivf' or 'auto', got {self.backend!r}")

    def __len__(self) -> int:
        return len(self._refs)

    def add(self, features: Features, group: int | None = None) -> int:
        if isinstance(self._refs, PackedFeatures):  # opened from disk: added to in memory from now on
            self._refs = [self._refs[i] for i in range(len(self._refs))]
        if not isinstance(self._groups, list):
            self._groups = [int(g) for g in self._groups]
        self._groups.append(len(self._refs) if group is None else group)
        self._refs.append(features)
        self._matcher = None
        self._trained = None
        return len(self._refs) - 1

    @classmethod
    def opened(
        cls, params: LocalParams, frames: PackedFeatures, groups: npt.NDArray[np.int64], matcher: Path
    ) -> FeatureBank:
        """A bank of ``frames`` (their ``groups``) whose vote search :meth:`save_matcher` wrote to ``matcher``:
        read by memory map, like the frames' features and their groups."""
        return cls.adopted(params, frames, groups, (_read_mapped(matcher),))

    @classmethod
    def adopted(
        cls,
        params: LocalParams,
        frames: PackedFeatures,
        groups: npt.NDArray[np.int64],
        matcher: tuple[Any, ...],
        trained: int | None = None,
    ) -> FeatureBank:
        """A bank of ``frames`` (their ``groups``) whose vote search is ``matcher`` (a FAISS binary index over their
        :meth:`vote_descriptors`, in frame order, then what it keeps alive); ``trained``: the rows its inverted
        lists were laid out on, when it grew since (:meth:`trained_rows`)."""
        bank = cls(params)
        bank._refs = frames
        bank._groups = groups
        bank._owner = bank._vote_owner()
        bank._matcher = matcher
        bank._trained = trained
        return bank

    def trained_rows(self) -> int:
        """The vote rows the search was laid out on (an IVF index's lists: its centroids are a sample of them):
        every row it holds, unless rows were added to it since (:meth:`adopted`)."""
        self._build()
        return len(self._owner) if self._trained is None else self._trained

    def vote_descriptors(self) -> U8Array:
        """Every frame's vote descriptors (its strongest ``params.vote_features``), stacked in frame order: the rows
        of the vote search."""
        if isinstance(self._refs, PackedFeatures):
            offsets = np.asarray(self._refs.offsets, np.int64)
            counts = np.diff(offsets)
            rank = np.arange(int(offsets[-1]), dtype=np.int64) - np.repeat(offsets[:-1], counts)
            return np.ascontiguousarray(np.asarray(self._refs.descriptors)[rank < self.params.vote_features])
        descs = [self._vote_descriptors(f) for f in self._refs]
        return np.ascontiguousarray(np.concatenate(descs)) if descs else np.zeros((0, 32), np.uint8)

    def joined(self, added: FeatureBank, matcher: Path, trained: int | None, group_offset: int) -> FeatureBank:
        """This bank (opened from an index directory; its vote search written to ``matcher``, its lists laid out on
        ``trained`` rows, None: on every row it holds) followed by ``added``'s frames, their groups shifted by
        ``group_offset``: what a bank of all of them built in that order holds, its vote search grown by
        ``added``'s rows instead of built again.

        A flat search grows as a full build would make it (the same exact search) until it holds more than
        ``_AUTO_BF_MAX`` rows: then it is built (an IVF index) from every row, as a full build would. An IVF
        index keeps its centroids (no retraining): :class:`~provenance.errors.IndexStoreError` once it would
        hold more than :data:`RETRAIN_FACTOR` times the rows they were sampled from (the whole index is then due
        to be built again)."""
        import faiss

        rows = added.vote_descriptors()
        search = single_thread_faiss().read_index_binary(str(matcher))  # into memory: its lists grow
        total = int(search.ntotal) + len(rows)
        if isinstance(search, faiss.IndexBinaryIVF):
            trained = int(search.ntotal) if trained is None else trained
            if total > RETRAIN_FACTOR * trained:
                raise IndexStoreError(
                    f"{matcher}: the feature bank's search was laid out on {trained} rows, {total} are more than "
                    f"{RETRAIN_FACTOR:g} times as many: it is due to be built again"
                )
            add_rows(search, rows)
            grown: tuple[Any, ...] = (search,)
        elif total <= _AUTO_BF_MAX or self.backend == "bf":
            search.add(rows)
            grown, trained = (search,), total
        else:
            grown, trained = binary_index(np.concatenate([self.vote_descriptors(), rows]), 0), total
        a, b = self.packed(), added.packed()
        frames = PackedFeatures(
            np.concatenate([a.keypoints, b.keypoints]),
            np.concatenate([a.descriptors, b.descriptors]),
            np.concatenate([a.offsets, b.offsets[1:] + a.offsets[-1]]).astype(np.int64),
            np.concatenate([a.sizes, b.sizes]),
        )
        groups = np.concatenate(
            [np.asarray(self._groups, np.int64), np.asarray(added._groups, np.int64) + group_offset]
        )
        return FeatureBank.adopted(self.params, frames, groups, grown, trained)

    def packed(self) -> PackedFeatures:
        """Every stored frame's features in flat arrays (what an index directory stores)."""
        return self._refs if isinstance(self._refs, PackedFeatures) else PackedFeatures.pack(self._refs)

    def groups(self) -> list[int]:
        return [int(g) for g in self._groups]

    def save_matcher(self, path: Path) -> None:
        """Write the vote search (built now if it was not) for :meth:`opened`."""
        single_thread_faiss().write_index_binary(self._build()[0], str(path))

    def extend(self, features: Sequence[Features]) -> list[int]:
        return [self.add(f) for f in features]

    def features(self) -> list[Features]:
        """Every stored frame's features, by id."""
        return [self._refs[i] for i in range(len(self._refs))]

    def reference(self, ref_id: int) -> Features:
        if not 0 <= ref_id < len(self._refs):
            raise IndexError(ref_id)
        return self._refs[ref_id]

    def _vote_owner(self) -> npt.NDArray[np.int32]:
        """The frame of each row of the vote search (:meth:`vote_descriptors`' rows)."""
        if isinstance(self._refs, PackedFeatures):
            counts: Any = np.minimum(np.diff(self._refs.offsets), self.params.vote_features)
        else:
            counts = [min(len(f.descriptors), self.params.vote_features) for f in self._refs]
        return np.repeat(np.arange(len(self._refs), dtype=np.int32), counts)

    def _vote_descriptors(self, features: Features) -> U8Array:
        return np.ascontiguousarray(features.descriptors[: self.params.vote_features])

    def _build(self) -> Any:
        """The search index over every stored vote descriptor (``_owner[row]``: the frame of row ``row``)."""
        if self._matcher is None:
            stacked = self.vote_descriptors()
            self._owner = self._vote_owner()
            use_bf = self.backend == "bf" or (self.backend == "auto" and len(stacked) <= _AUTO_BF_MAX)
            self._matcher = binary_index(stacked, len(stacked) if use_bf else 0)
        return self._matcher

    def votes(self, query: Features) -> npt.NDArray[np.int64]:
        """Votes per reference frame (array of length ``len(self)``), direct and mirrored summed."""
        out = np.zeros(len(self._refs), np.int64)
        if not self._refs:
            return out
        index = self._build()[0]
        if not len(self._owner):
            return out
        qs = [query]
        if self.params.try_mirror and query.mirror is not None:
            qs.append(query.mirror)
        k = min(self.params.bank_knn, len(self._owner))
        for q in qs:
            if len(q) == 0:
                continue
            dist, rows = search_binary(index, self._vote_descriptors(q), k)
            ok = (rows >= 0) & (dist <= self.params.bank_max_distance)
            qi = np.nonzero(ok)[0].astype(np.int64)
            frames = self._owner[rows[ok]].astype(np.int64)
            # one vote per (query descriptor, reference frame)
            pairs = np.unique(qi * len(self._refs) + frames)
            out += np.bincount(pairs % len(self._refs), minlength=len(self._refs))
        return out

    def shortlist(
        self, query: Features, top_k: int | None = None, top_groups: int | None = None
    ) -> list[tuple[int, int]]:
        """``(frame id, votes)`` of the frames to verify, most voted first: the top ``top_k`` (per group, of the
        ``top_groups`` best groups when given)."""
        votes = self.votes(query)
        k = min(top_k if top_k is not None else self.params.top_k, len(self._refs))
        if k <= 0:
            return []
        if top_groups is None:
            order = [int(i) for i in np.argsort(-votes, kind="stable")[:k] if votes[i] > 0]
        else:  # the best frames of each voted group, a frame without votes included
            groups = np.asarray(self._groups, np.int64)
            per_group = np.bincount(groups, weights=votes)
            order = []
            for g in np.argsort(-per_group, kind="stable")[:top_groups].tolist():
                if per_group[g] > 0:
                    frames = np.flatnonzero(groups == g)
                    order += frames[np.argsort(-votes[frames], kind="stable")[:k]].tolist()
        return [(i, int(votes[i])) for i in order]

    def verify(self, ref_id: int, query: Features) -> RegionMatch:
        """:func:`match_region` of stored frame ``ref_id`` in ``query``."""
        return match_region(self.reference(ref_id), query, self.params)

    def search(self, query: Features, top_k: int | None = None, top_groups: int | None = None) -> list[BankHit]:
        """Shortlist by votes (:meth:`shortlist`), verify every frame of it; hits sorted found-first, then by
        inliers."""
        hits = [BankHit(i, v, self.verify(i, query)) for i, v in self.shortlist(query, top_k, top_groups)]
        hits.sort(key=lambda h: (not h.match.found, -h.match.inliers))
        return hits


class AssetShortlist:
    """Every registered still's descriptors in one search structure, so that a frame is verified (ratio test,
    RANSAC) against the few assets it resembles, not against all of them: a clip's asset cost is set by what it
    shows, not by how many assets the registry holds.

    ``descriptors[i]`` are asset ``i``'s, ``mirrored[i]`` those of its mirror image (a mirrored clip shows the
    mirrored asset); at most ``per_side`` of each are kept (evenly spread: every scale keeps its share). Each of a
    frame's strongest ``params.vote_features`` descriptors votes for the one (asset, side) its nearest stored
    descriptor belongs to, when that is within ``vote_distance`` bits. The nearest alone, not the ``k`` nearest
    as in :class:`FeatureBank`: stills made from one template (a streamer overlay in many colourways) share
    most of their descriptors, and with ``k`` votes each of them collected the votes of the one shown, pushing
    a small HUD in the same frame out of the shortlist (on the sample's stream highlight among ten such
    overlays, the HUD ranked up to 11th with 4 nearest within 48 bits, at most 5th with the nearest within
    64). The search is exhaustive up to ``exhaustive_max`` stored descriptors, an IVF index above (sub-linear
    in the registry).
    """

    def __init__(
        self,
        descriptors: Sequence[U8Array],
        mirrored: Sequence[U8Array],
        params: LocalParams = DEFAULT_PARAMS,
        *,
        per_side: int = 1024,
        vote_distance: int = 64,
        exhaustive_max: int = _AUTO_BF_MAX,
    ):
        if per_side < 16 or not 1 <= vote_distance <= 256 or len(descriptors) != len(mirrored):
            raise ConfigError(
                f"AssetShortlist: per_side must be >= 16 (got {per_side}), vote_distance in [1, 256] (got "
                f"{vote_distance}), one mirrored set per asset ({len(mirrored)} for {len(descriptors)})"
            )
        self.params = params
        self.vote_distance = vote_distance
        self.per_side = per_side
        sides = [d for pair in zip(descriptors, mirrored, strict=True) for d in pair]  # asset a: 2a, 2a + 1
        kept = [d[self.kept(len(d))] for d in sides]
        self._count = len(descriptors)
        self._owner = np.repeat(np.arange(len(kept), dtype=np.int64), [len(d) for d in kept])
        stacked = np.ascontiguousarray(np.concatenate(kept)) if kept else np.zeros((0, 32), np.uint8)
        self._matcher: tuple[Any, ...] | None = binary_index(stacked, exhaustive_max) if len(stacked) else None
        #: whether the search and its owners are mapped from files (:meth:`opened`), not held by this process
        self.mapped = False

    def kept(self, count: int) -> npt.NDArray[np.int64]:
        """Which of a side's ``count`` descriptors are stored: at most ``per_side``, evenly spread."""
        return np.linspace(0, count - 1, min(count, self.per_side)).astype(np.int64)

    @classmethod
    def opened(
        cls, count: int, owner: npt.NDArray[np.int64], matcher: Path | None, params: LocalParams, vote_distance: int
    ) -> AssetShortlist:
        """The shortlist of ``count`` assets that :meth:`save` wrote: per stored descriptor its (asset, side)
        ``owner``, and the search read from ``matcher`` by memory map (None: no descriptor is stored)."""
        shortlist = cls([], [], params, vote_distance=vote_distance)
        shortlist._count, shortlist._owner, shortlist.mapped = count, owner, True
        if matcher is not None:
            shortlist._matcher = (_read_mapped(matcher),)
        return shortlist

    def save(self, matcher: Path) -> npt.NDArray[np.int64]:
        """Write the search to ``matcher`` (nothing when no descriptor is stored) for :meth:`opened`; returns the
        owners to store beside it."""
        if self._matcher is not None:
            single_thread_faiss().write_index_binary(self._matcher[0], str(matcher))
        return self._owner

    def __len__(self) -> int:
        return self._count

    @property
    def stored(self) -> int:
        """Descriptors held (what the structure's memory is made of: 32 bytes each)."""
        return len(self._owner)

    def nearest(self, frame: Features) -> npt.NDArray[np.int64]:
        """For each of the frame's strongest ``vote_features`` descriptors, the (asset, side) ``2 * a + mirrored``
        its nearest stored descriptor belongs to, or -1 when none is within ``vote_distance``."""
        n = min(len(frame), self.params.vote_features)
        if self._matcher is None or n == 0:
            return np.full(n, -1, np.int64)
        dist, rows = search_binary(self._matcher[0], frame.descriptors[:n], 1)
        ok = (rows[:, 0] >= 0) & (dist[:, 0] <= self.vote_distance)
        return np.where(ok, self._owner[np.maximum(rows[:, 0], 0)], -1).astype(np.int64)

    def neighbours(self, descriptors: U8Array, k: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
        """For each of ``descriptors`` (any, not a frame's strongest only), its ``k`` nearest stored descriptors:
        their distances and the assets they belong to (either side), ``(len(descriptors), k)`` each; asset -1 where
        fewer were found (:mod:`~provenance.engine.generic`: what other assets share an asset's features)."""
        if self._matcher is None or not len(descriptors):
            return np.zeros((len(descriptors), k), np.int32), np.full((len(descriptors), k), -1, np.int64)
        dist, rows = search_binary(self._matcher[0], descriptors, k)
        assets = np.where(rows >= 0, self._owner[np.maximum(rows, 0)] // 2, -1)
        return dist.astype(np.int32), assets.astype(np.int64)

    def top(
        self, owners: npt.NDArray[np.int64], top_k: int, skip: Collection[tuple[int, bool]] = ()
    ) -> list[tuple[int, bool]]:
        """The ``top_k`` most voted ``(asset, mirrored)`` of :meth:`nearest`'s answer (or part of it), with at
        least one vote and not in ``skip``, most voted first."""
        votes = np.bincount(owners[owners >= 0], minlength=2 * self._count)
        for a, mirrored in skip:
            votes[2 * a + int(mirrored)] = 0
        order = np.argsort(-votes, kind="stable")[: max(0, top_k)]
        return [(int(i) // 2, bool(i % 2)) for i in order if votes[i] > 0]

    def shortlist(self, frame: Features, top_k: int) -> list[tuple[int, bool]]:
        """The ``top_k`` most voted ``(asset, mirrored)`` for one frame's features, most voted first."""
        return self.top(self.nearest(frame), top_k)
