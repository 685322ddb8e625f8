"""The feature bank: many reference frames' ORB descriptors searched at once, so that a query frame is verified
(ratio test, RANSAC: :func:`~provenance.engine.features.match_region`) against the few reference frames it
resembles, not against all of them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from provenance.engine.binsearch import (
    EXHAUSTIVE_MAX,
    IVFSegments,
    binary_index,
    grown_segments,
    read_mapped,
    read_segments,
    search_binary,
    write_ivf,
    write_segments,
)
from provenance.engine.features import (
    DEFAULT_PARAMS,
    Features,
    LocalParams,
    RegionMatch,
    match_region,
    single_thread_faiss,
)
from provenance.errors import ConfigError, IndexStoreError

__all__ = [
    "RETRAIN_FACTOR",
    "BankHit",
    "FeatureBank",
    "JoinedFeatures",
    "PackedFeatures",
]

U8Array = npt.NDArray[np.uint8]

#: An IVF vote search grown by appending rows (:meth:`FeatureBank.joined`: its centroids, an even sample of the rows
#: it was built from, are kept) is built again once it holds more than this many times those rows: its lists are
#: then on average twice the length a full build gives them (a query costs up to twice as much) and half its rows
#: were never sampled for centroids. A choice, not a measurement: only one reference added to 48 was measured
#: (``bench/index_add_bench.py``, 0.92 h: the grown search found what a full build in the same order finds on 11 of
#: 12 sample clips; on the 12th, new Freedoom gameplay, it kept a short footage match at half speed that the full
#: build dropped, one that two full builds of 4 copies, in two orders, also disagree on).
RETRAIN_FACTOR = 2.0
#: An IVF vote search extended by added references is searched in segments over the same centroids (the older
#: directory's, linked; one more for each addition); past this many, those after the first are laid out again as one.
VOTE_SEGMENTS = 8
#: Vote rows a bank hands :func:`~provenance.engine.binsearch.write_ivf` at a time (32 MB).
_CHUNK_ROWS = 1 << 20


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
class JoinedFeatures:
    """Frames held in several :class:`PackedFeatures`, one after another, not copied into one: an index directory's
    bank stored in segments (references added to an index write their frames as a segment of their own; the
    segments before are the older directory's files, linked, not copied). ``offsets`` and ``sizes`` are those of
    the frames joined (the rows counted across the parts); ``first`` each part's first frame, then their count."""

    parts: tuple[PackedFeatures, ...]
    offsets: npt.NDArray[np.int64]  # (F + 1,)
    sizes: npt.NDArray[np.int32]  # (F, 2)
    first: npt.NDArray[np.int64]  # (P + 1,)

    @classmethod
    def of(cls, parts: Sequence[PackedFeatures | JoinedFeatures]) -> JoinedFeatures:
        flat = tuple(q for p in parts for q in (p.parts if isinstance(p, JoinedFeatures) else (p,)))
        first = np.zeros(len(flat) + 1, np.int64)
        np.cumsum([len(p) for p in flat], out=first[1:])
        rows = 0
        offsets = [np.zeros(1, np.int64)]
        for p in flat:
            own = np.asarray(p.offsets, np.int64)
            offsets.append(own[1:] - own[0] + rows)
            rows += int(own[-1] - own[0])
        sizes = [np.asarray(p.sizes, np.int32).reshape(-1, 2) for p in flat]
        return cls(flat, np.concatenate(offsets), np.concatenate([np.zeros((0, 2), np.int32), *sizes]), first)

    def __len__(self) -> int:
        return int(self.first[-1])

    def __getitem__(self, i: int) -> Features:
        if not 0 <= i < len(self):
            raise IndexError(i)
        k = int(np.searchsorted(self.first, i, side="right")) - 1
        return self.parts[k][i - int(self.first[k])]

    def packed(self) -> PackedFeatures:
        """The frames in one set of flat arrays (a copy)."""
        return PackedFeatures(
            np.concatenate([np.zeros((0, 2), np.float32), *(p.keypoints for p in self.parts)]),
            np.concatenate([np.zeros((0, 32), np.uint8), *(p.descriptors for p in self.parts)]),
            self.offsets,
            self.sizes,
        )


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
    ``"auto"`` (brute force up to ``EXHAUSTIVE_MAX`` stored descriptors).

    The IVF index replaced FLANN's LSH (24-bit keys, 8 tables, multi-probe). On 120 real query frames of the
    720p benchmark footage against a bank of 144k descriptors, measured against the exact votes: the best-voted
    video agreed for 97 % of queries (LSH 93 %) and 88 % of the verified frames were the exact search's
    (LSH 68 %), at about half LSH's time.
    """

    params: LocalParams = DEFAULT_PARAMS
    backend: Literal["bf", "ivf", "auto"] = "auto"
    _refs: list[Features] | PackedFeatures | JoinedFeatures = field(default_factory=list)
    # the first vote row of each frame, and the rows' count last: a row's frame is found by binary search, so what a
    # process holds grows with the frames (a few a second of footage), not with their vote rows (300 a frame)
    _starts: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(1, np.int64))
    _groups: list[int] | npt.NDArray[np.int64] = field(default_factory=list)  # an array when opened (mapped)
    _matcher: Any = None
    _trained: int | None = None  # rows the search was laid out on, when it grew since (trained_rows)
    _by_group: tuple[npt.NDArray[np.int64], ...] | None = None  # _group_table: every frame's group, their frames
    _laid_out: Path | None = None  # the file lay_out wrote the vote search to (its matcher, mapped from there)

    def __post_init__(self) -> None:
        if self.backend not in ("bf", "ivf", "auto"):
            raise ConfigError(f"FeatureBank.backend must be 'bf', 'ivf' or 'auto', got {self.backend!r}")

    def __len__(self) -> int:
        return len(self._refs)

    def add(self, features: Features, group: int | None = None) -> int:
        if not isinstance(self._refs, list):  # opened from disk: added to in memory from now on
            self._refs = [self._refs[i] for i in range(len(self._refs))]
        if not isinstance(self._groups, list):
            self._groups = [int(g) for g in self._groups]
        self._groups.append(len(self._refs) if group is None else group)
        self._refs.append(features)
        self._matcher = None
        self._laid_out = None
        self._trained = None
        self._by_group = None
        return len(self._refs) - 1

    def _group_table(self) -> tuple[npt.NDArray[np.int64], ...]:
        """Every frame's group as an array, and every group's frames (ascending) and where each group's begin: made
        once (a sort of the groups), not a pass over the frames a search."""
        if self._by_group is None:
            groups = np.asarray(self._groups, np.int64)
            order = np.argsort(groups, kind="stable").astype(np.int64)
            bounds = np.searchsorted(groups[order], np.arange(int(groups.max(initial=0)) + 2)).astype(np.int64)
            self._by_group = (groups, order, bounds)
        return self._by_group

    @classmethod
    def opened(
        cls,
        params: LocalParams,
        frames: PackedFeatures | JoinedFeatures,
        groups: npt.NDArray[np.int64],
        matcher: Path,
        segments: int = 1,
    ) -> FeatureBank:
        """A bank of ``frames`` (their ``groups``) whose vote search :meth:`save_matcher` wrote to ``matcher`` (in
        ``segments``): read by memory map, like the frames' features and their groups."""
        return cls.adopted(params, frames, groups, (read_segments(matcher, segments),))

    @classmethod
    def adopted(
        cls,
        params: LocalParams,
        frames: PackedFeatures | JoinedFeatures,
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
        bank._starts = bank._vote_starts()
        bank._matcher = matcher
        bank._trained = trained
        return bank

    def trained_rows(self) -> int:
        """The vote rows the search was laid out on (an IVF index's lists: its centroids are a sample of them):
        every row it holds, unless rows were added to it since (:meth:`adopted`)."""
        self._build()
        return self._rows() if self._trained is None else self._trained

    def vote_descriptors(self) -> U8Array:
        """Every frame's vote descriptors (its strongest ``params.vote_features``), stacked in frame order: the rows
        of the vote search."""
        if isinstance(self._refs, JoinedFeatures):
            parts = [self._packed_votes(p) for p in self._refs.parts]
            return np.ascontiguousarray(np.concatenate([np.zeros((0, 32), np.uint8), *parts]))
        if isinstance(self._refs, PackedFeatures):
            return self._packed_votes(self._refs)
        descs = [self._vote_descriptors(f) for f in self._refs]
        return np.ascontiguousarray(np.concatenate(descs)) if descs else np.zeros((0, 32), np.uint8)

    def joined(self, added: FeatureBank, matcher: Path, trained: int | None, group_offset: int) -> FeatureBank:
        """This bank (opened from an index directory; its vote search written to ``matcher``, its lists laid out on
        ``trained`` rows, None: on every row it holds) followed by ``added``'s frames, their groups shifted by
        ``group_offset``: what a bank of all of them built in that order holds, its vote search grown by
        ``added``'s rows instead of built again.

        A flat search grows as a full build would make it (the same exact search) until it holds more than
        ``EXHAUSTIVE_MAX`` rows: then it is built (an IVF index) from every row, as a full build would. An IVF
        index is followed by a segment of the added rows over its centroids (no retraining; the older segments
        are linked when written, :class:`~provenance.engine.binsearch.IVFSegments`), and
        :class:`~provenance.errors.IndexStoreError` once it would hold more than :data:`RETRAIN_FACTOR` times the
        rows they were sampled from (the whole index is then due to be built again)."""
        import faiss

        rows = added.vote_descriptors()
        mapped = self._build()[0]
        if isinstance(mapped, (faiss.IndexBinaryIVF, IVFSegments)):  # a segment of the added rows, the rest linked
            total = int(mapped.ntotal) + len(rows)
            first = mapped.parts[0] if isinstance(mapped, IVFSegments) else mapped
            trained = int(first.ntotal) if trained is None else trained
            if total > RETRAIN_FACTOR * trained:
                raise IndexStoreError(
                    f"{matcher}: the feature bank's search was laid out on {trained} rows, {total} are more than "
                    f"{RETRAIN_FACTOR:g} times as many: it is due to be built again"
                )
            since = None
            if isinstance(mapped, IVFSegments) and len(mapped.parts) >= VOTE_SEGMENTS:
                since = self._vote_rows_from(int(first.ntotal))  # the segments after the first become one
            if not len(rows) and since is None:  # no vote row added (assets, a VOD): the search as it is, linked
                kept = mapped if isinstance(mapped, IVFSegments) else IVFSegments([mapped], [matcher])
                grown: tuple[Any, ...] = (kept,)
            else:
                grown = (grown_segments(mapped, matcher, rows, since),)
        else:
            search = single_thread_faiss().read_index_binary(str(matcher))  # into memory: its lists grow
            total = int(search.ntotal) + len(rows)
            if total <= EXHAUSTIVE_MAX or self.backend == "bf":
                search.add(rows)
                grown, trained = (search,), total
            else:
                grown, trained = binary_index(np.concatenate([self.vote_descriptors(), rows]), 0), total
        # the frames already stored (mapped) followed by the added ones, not copied into one: written as segments
        frames = JoinedFeatures.of([self._refs if not isinstance(self._refs, list) else self.packed(), added.packed()])
        groups = np.concatenate(
            [np.asarray(self._groups, np.int64), np.asarray(added._groups, np.int64) + group_offset]
        )
        return FeatureBank.adopted(self.params, frames, groups, grown, trained)

    def packed(self) -> PackedFeatures:
        """Every stored frame's features in flat arrays (a copy, unless the bank holds them so)."""
        if isinstance(self._refs, JoinedFeatures):
            return self._refs.packed()
        return self._refs if isinstance(self._refs, PackedFeatures) else PackedFeatures.pack(self._refs)

    def frames(self) -> Sequence[Features] | PackedFeatures | JoinedFeatures:
        """Every stored frame's features as the bank holds them: a list (built in memory) or flat arrays (opened from
        an index directory, or joined); not copied."""
        return self._refs

    def groups(self) -> list[int]:
        return [int(g) for g in self._groups]

    def save_matcher(self, path: Path) -> int:
        """Write the vote search (built now if it was not) for :meth:`opened`; returns its segments. One
        :meth:`lay_out` wrote is linked to its file (copied across file systems)."""
        search = self._build()[0]
        if isinstance(search, IVFSegments):
            return write_segments(search, path)
        if self._laid_out is not None:
            if path.exists() and path.samefile(self._laid_out):  # laid out where it is saved: written already
                return 1
            try:
                os.link(self._laid_out, path)
            except OSError:
                shutil.copyfile(self._laid_out, path)
            return 1
        single_thread_faiss().write_index_binary(search, str(path))
        return 1

    def lay_out(self, path: Path) -> bool:
        """Write the vote search of a bank built in memory to ``path`` (a new file) without building it in memory,
        then search it from there, mapped (:func:`~provenance.engine.binsearch.write_ivf`: the file FAISS would
        write of the search :meth:`_build` makes, holding a chunk of rows at a time, not every row stacked and every
        list); :meth:`save_matcher` links it. False (nothing written) when the search is exhaustive, already built,
        or the bank was opened from a directory."""
        rows = self._vote_starts()
        total = int(rows[-1])
        exhaustive = self.backend == "bf" or (self.backend == "auto" and total <= EXHAUSTIVE_MAX)
        if self._matcher is not None or not isinstance(self._refs, list) or exhaustive or total < 16:
            return False
        write_ivf(path, self._vote_chunks, total, path.with_name(f".{path.name}.lists.npy"))
        self._starts, self._matcher, self._laid_out = rows, (read_mapped(path),), path
        return True

    def _vote_chunks(self) -> Iterator[U8Array]:
        """The vote rows (:meth:`vote_descriptors`) of a bank built in memory, in order, about
        :data:`_CHUNK_ROWS` at a time."""
        assert isinstance(self._refs, list)
        held: list[U8Array] = []
        count = 0
        for f in self._refs:
            held.append(self._vote_descriptors(f))
            count += len(held[-1])
            if count >= _CHUNK_ROWS:
                yield np.concatenate(held)
                held, count = [], 0
        if held:
            yield np.concatenate(held)

    def extend(self, features: Sequence[Features]) -> list[int]:
        return [self.add(f) for f in features]

    def features(self) -> list[Features]:
        """Every stored frame's features, by id."""
        return [self._refs[i] for i in range(len(self._refs))]

    def reference(self, ref_id: int) -> Features:
        if not 0 <= ref_id < len(self._refs):
            raise IndexError(ref_id)
        return self._refs[ref_id]

    def _vote_starts(self) -> npt.NDArray[np.int64]:
        """Each frame's first row in the vote search (:meth:`vote_descriptors`' rows), then the rows' count."""
        if not isinstance(self._refs, list):
            counts: Any = np.minimum(np.diff(np.asarray(self._refs.offsets, np.int64)), self.params.vote_features)
        else:
            counts = np.array([min(len(f.descriptors), self.params.vote_features) for f in self._refs], np.int64)
        starts = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=starts[1:])
        return starts

    def _rows(self) -> int:
        """Rows of the vote search."""
        return int(self._starts[-1])

    def _frames_of(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The frame of each vote row (a frame without rows owns none: the last frame starting at or before it)."""
        return np.searchsorted(self._starts, rows, side="right").astype(np.int64) - 1

    def _vote_rows_from(self, row: int) -> U8Array:
        """The vote descriptors of the frames from the one whose first vote row is ``row`` on, in order."""
        first = int(self._frames_of(np.array([row], np.int64))[0]) if row < self._rows() else len(self._refs)
        descs = [self._vote_descriptors(self._refs[i]) for i in range(first, len(self._refs))]
        return np.ascontiguousarray(np.concatenate([np.zeros((0, 32), np.uint8), *descs]))

    def _packed_votes(self, packed: PackedFeatures) -> U8Array:
        """The vote descriptors of flat arrays' frames (each frame's strongest ``vote_features``), in frame order."""
        offsets = np.asarray(packed.offsets, np.int64)
        counts = np.diff(offsets)
        rank = np.arange(int(offsets[0]), int(offsets[-1]), dtype=np.int64) - np.repeat(offsets[:-1], counts)
        return np.ascontiguousarray(np.asarray(packed.descriptors)[rank < self.params.vote_features])

    def _vote_descriptors(self, features: Features) -> U8Array:
        return np.ascontiguousarray(features.descriptors[: self.params.vote_features])

    def _build(self) -> Any:
        """The search index over every stored vote descriptor (:meth:`_frames_of` a row: its frame)."""
        if self._matcher is None:
            stacked = self.vote_descriptors()
            self._starts = self._vote_starts()
            use_bf = self.backend == "bf" or (self.backend == "auto" and len(stacked) <= EXHAUSTIVE_MAX)
            self._matcher = binary_index(stacked, len(stacked) if use_bf else 0)
        return self._matcher

    def votes(self, query: Features) -> npt.NDArray[np.int64]:
        """Votes per reference frame (array of length ``len(self)``), direct and mirrored summed."""
        out = np.zeros(len(self._refs), np.int64)
        frames, counts = self._voted(query)
        out[frames] = counts
        return out

    def _voted(self, query: Features) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The frames that got votes (ascending) and their votes (one per query descriptor and frame, direct and
        mirrored summed): the query's neighbours' frames, not an array of every frame's (a pass over them all a search:
        1.1 * 10^7 frames at 1,000 hours of reference)."""
        none = np.zeros(0, np.int64)
        index = self._build()[0] if self._refs else None
        if index is None or not self._rows():
            return none, none
        qs = [query]
        if self.params.try_mirror and query.mirror is not None:
            qs.append(query.mirror)
        k = min(self.params.bank_knn, self._rows())
        voted: list[npt.NDArray[np.int64]] = []
        for q in qs:
            if len(q) == 0:
                continue
            dist, rows = search_binary(index, self._vote_descriptors(q), k)
            ok = (rows >= 0) & (dist <= self.params.bank_max_distance)
            qi = np.nonzero(ok)[0].astype(np.int64)
            frames = self._frames_of(rows[ok])
            # one vote per (query descriptor, reference frame)
            pairs = np.unique(qi * len(self._refs) + frames)
            voted.append(pairs % len(self._refs))
        if not voted:
            return none, none
        frames, counts = np.unique(np.concatenate(voted), return_counts=True)
        return frames.astype(np.int64), counts.astype(np.int64)

    def shortlist(
        self, query: Features, top_k: int | None = None, top_groups: int | None = None
    ) -> list[tuple[int, int]]:
        """``(frame id, votes)`` of the frames to verify, most voted first (then the lower id): the top ``top_k`` (per
        group, of the ``top_groups`` most voted groups, then the lower, when given; a group of fewer voted frames
        filled with its others, lowest first), from the voted frames alone (:meth:`_voted`, :meth:`_group_table`)."""
        frames, counts = self._voted(query)
        k = min(top_k if top_k is not None else self.params.top_k, len(self._refs))
        if k <= 0:
            return []
        if top_groups is None:
            best = np.lexsort((frames, -counts))[:k]
            return [(int(frames[i]), int(counts[i])) for i in best]
        groups, order, bounds = self._group_table()
        named, where = np.unique(groups[frames], return_inverse=True)
        sums = np.bincount(where, weights=counts)
        out: list[tuple[int, int]] = []
        for g in np.lexsort((named, -sums))[:top_groups].tolist():
            mine = np.flatnonzero(where == g)  # the group's voted frames, ascending
            picked = [(int(frames[i]), int(counts[i])) for i in mine[np.lexsort((frames[mine], -counts[mine]))[:k]]]
            if len(picked) < k:  # its frames without votes, lowest first
                members = order[bounds[named[g]] : bounds[named[g] + 1]]
                rest = members[~np.isin(members, frames[mine])][: k - len(picked)]
                picked += [(int(f), 0) for f in rest]
            out += picked
        return out

    def verify(self, ref_id: int, query: Features) -> RegionMatch:
        """:func:`match_region` of stored frame ``ref_id`` in ``query``."""
        return match_region(self.reference(ref_id), query, self.params)

    def search(self, query: Features, top_k: int | None = None, top_groups: int | None = None) -> list[BankHit]:
        """Shortlist by votes (:meth:`shortlist`), verify every frame of it; hits sorted found-first, then by
        inliers."""
        hits = [BankHit(i, v, self.verify(i, query)) for i, v in self.shortlist(query, top_k, top_groups)]
        hits.sort(key=lambda h: (not h.match.found, -h.match.inliers))
        return hits
