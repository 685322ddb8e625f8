"""How much of each reference other works share: its generic share.

A registry of many works holds content that is not any one work's: black and fade frames, an engine's logo,
menus and loading screens common to one console's or one engine's games, an overlay template sold in many
colours. A clip that shows such content is not evidence for any one of the works that hold it, and a reference
made mostly of it is a reference that will be matched by look-alikes. :func:`generic_shares` measures it when the
index is built (it holds everything needed), so that the registry can show it (``provenance registry fingerprint``,
``provenance registry stats --generic``) before any clip is scanned:

* a footage reference's share is the share of its informative frames (whole-picture hash of quality
  ``min_quality`` or more), sampled at :data:`SAMPLE_FPS`, whose whole-picture hash is within ``max_distance``
  of a whole-picture hash of another work's reference (the same distance a clip frame's match is accepted at);
* an asset's share is the share of its features (descriptors of the asset as registered, not mirrored; a sample
  of them) whose nearest features in the registry's asset shortlist (every asset found by its features, either
  side) include one of another work's asset within :data:`ASSET_MATCH_BITS`. An asset too plain for features
  (found by templates) is judged by the few it has, but is not in the shortlist: others are not judged
  against it.

References of one work (its group) sharing frames are not generic: a trailer cut from its own gameplay is the
same holder's. Frames flat enough to carry no hash (black frames) are not informative and count for nothing.

The footage shares are counted from what is kept with the index (:class:`GenericCounts`): each judged frame's
whole-picture row in the hash table, and every (judged frame, other work) pair. An index extended by added
references (:func:`~provenance.engine.store.extend_index`) is measured incrementally (:func:`extend_generic`):
the added references' judged frames are searched against the whole hash table, as a whole measure searches every
reference's, and so are the added references' whole-picture rows, which finds the old judged frames they match (the
distance is symmetric: the pairs the old frames would find among the added rows); the pairs found join the old ones
and every count is made again from the pairs (a frame shared with two works counts once, a work once a frame), so
the shares are a whole measure's (tested; compared on every run of ``bench/index_add_bench.py``). There (K=48,
0.92 h, load 5) the share of adding one reference took 0.16 s instead of 3.0 s measured whole, the whole write
1.3 s (6.0 s before, at load 0.4-2.6). The old judged frames searched among the added rows alone (a flat table)
took 1 ms there, but a flat search costs ~2.6 ns a pair: at 10,000 hours (3.6e7 judged frames) a minute added
(900 rows) would be ~85 s, where the added rows in the index's own multi-index search cost what a clip frame's
search costs (0.45 ms a row at 0.92 h). Asset shares are measured whole again when assets are added (1,000 of
``bench/scale_bench.py``'s distractors: 1.4 s, against 12.6 s to build their shortlist again, which adding an asset
costs anyway), else kept.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from provenance.engine.assets import AssetDetector
from provenance.engine.assetshortlist import AssetShortlist
from provenance.engine.hamming import two_nearest
from provenance.engine.pairs import WHOLE
from provenance.engine.references import FootagePrint, ReferenceIndex
from provenance.errors import ConfigError

__all__ = [
    "ASSET_MATCH_BITS",
    "LOOK_ALIKES",
    "NOTABLE_SHARE",
    "SAMPLE_FPS",
    "GenericCounts",
    "GenericShare",
    "distinctive",
    "extend_generic",
    "generic_shares",
    "look_alikes",
    "measure_generic",
]

#: Reference frames judged per second of footage: one a second is enough to measure a share (a menu or a logo
#: lasts seconds) and keeps the search to a fifteenth of the reference frames at scale.
SAMPLE_FPS = 1.0
#: Hamming distance (of 256 bits) under which two ORB descriptors of different assets are the same feature: well
#: inside the feature bank's vote distance (48); on the sample registry the Freedoom HUD's features are 41 bits
#: from the NightOwl overlay's at the nearest (70 at the median): 0 % shared; the same HUD registered again under
#: another work shares 100 %.
ASSET_MATCH_BITS = 32
#: A generic share from which a reference is named when the index is written (a fifth of it is shared with
#: other works: worth an auditor's look, as a false-match review of that stretch or a note to its holder).
NOTABLE_SHARE = 0.2
#: An asset's features judged (evenly spread over its scales, as the shortlist keeps them). Measured on 1,000 of
#: bench/scale_bench.py's look-alike distractors (overlays of one template, logos): 64 a piece gave the same mean
#: shares as 256 to 0.001 (in a search of the features alone) at a quarter of the CPU; in the registry's shortlist,
#: the shares of all 1,000 take 1.5 s of CPU (mean 0.99 for the overlays, 0.92 for the logos).
_ASSET_QUERIES = 64
#: Nearest stored features looked at per judged one (its own asset's, direct and mirrored, are among them).
_ASSET_NEIGHBOURS = 8
#: An asset's features searched for its look-alikes (:func:`look_alikes`): more than a share needs, since the
#: look-alikes are ranked by how many of them they share.
_LOOK_ALIKE_QUERIES = 256
#: Look-alikes an asset's distinctive features are told from (:func:`distinctive`), those sharing most first: among
#: 150 overlays of one template (bench/scale_bench.py's distractors) a colourway shares 95 % of its features with
#: its 16 closest, and keeps 80-100 of about 1,800 as its own.
LOOK_ALIKES = 16
#: Query hashes searched at once (bounds the memory of the search's answers).
_CHUNK = 8192
#: Other works named per reference, those it shares most with first.
_NAMED_WORKS = 3


@dataclass(frozen=True, slots=True)
class GenericShare:
    """One reference's generic share: ``shared`` of its ``judged`` frames (footage) or features (assets) are
    matched by another work's, ``works`` the other works (groups) it shares most with."""

    key: str
    kind: str  # "footage" or "asset"
    judged: int
    shared: int
    works: tuple[str, ...]

    @property
    def share(self) -> float:
        return self.shared / self.judged if self.judged else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "kind": self.kind,
            "share": round(self.share, 4),
            "judged": self.judged,
            "shared": self.shared,
            "works": list(self.works),
        }


@dataclass(frozen=True, slots=True, eq=False)
class GenericCounts:
    """An index's generic shares and what its footage shares are counted from, kept with the index
    (:mod:`provenance.engine.store`) so that an index extended by added references counts only what they change
    (:func:`extend_generic`).

    ``frames``: the judged frames, reference after reference, each as its whole-picture row in the index's hash
    table (:meth:`~provenance.engine.references.ReferenceIndex.hash_table`; an extended index keeps the old rows'
    positions). ``pairs``: ``(judged frame, other work)`` for every judged frame matched by another work's whole
    picture, the frame as its position in ``frames`` and the work as the position of its first reference; sorted,
    unique. A frame is shared when it is in a pair; a reference's works are counted from its frames' pairs."""

    shares: list[GenericShare]
    frames: npt.NDArray[np.int64]  # (F,)
    pairs: npt.NDArray[np.int64]  # (P, 2)


def generic_shares(index: ReferenceIndex) -> list[GenericShare]:
    """The generic share of every footage reference, then every asset, of ``index`` (module docstring)."""
    return measure_generic(index).shares


def measure_generic(index: ReferenceIndex) -> GenericCounts:
    """:func:`generic_shares` with what they are counted from: every reference's judged frames searched against
    the whole hash table."""
    frames, hashes, of = _judged(index, 0)
    pairs = _pairs(index, hashes, of, 0)
    return GenericCounts(_footage_shares(index, of, pairs) + _asset_shares(index), frames, pairs)


def extend_generic(index: ReferenceIndex, old: GenericCounts, old_footage: int) -> GenericCounts:
    """What :func:`measure_generic` gives for ``index``, whose first ``old_footage`` references (and first assets,
    when ``old.shares`` names them all) and their hash rows are those of an index ``old`` was measured on, with the
    same works: only what the added references change is searched. Their judged frames against the whole hash
    table; their whole-picture rows against it too, which finds the old judged frames they match (the distance is
    symmetric: the pairs the old frames would find among the added rows alone). The asset shares are measured
    again when assets were added (all of them: a registry's assets are few), else kept."""
    n = old_footage
    table, row_ref, _, row_region = index.hash_table()
    row_ref = np.asarray(row_ref)
    judged = np.asarray(old.frames, np.int64)
    if not (0 <= n <= index.footage_count) or (
        len(judged)
        and (
            int(judged[0]) < 0
            or int(judged[-1]) >= np.searchsorted(row_ref, n)
            or bool(np.any(np.diff(judged) <= 0))
            or bool(np.any(np.asarray(row_region)[judged] != WHOLE))
        )
    ):
        raise ConfigError(f"extend_generic: {len(judged)} judged frames are not whole-picture rows of {n} references")
    frames, hashes, of = _judged(index, n)
    codes = _work_codes(index)
    old_of = row_ref[judged].astype(np.int64)
    grown = [np.asarray(old.pairs, np.int64).reshape(-1, 2), _pairs(index, hashes, of, len(judged))]
    added = [_whole_rows(index.prints[i], index.params.min_quality) for i in range(n, index.footage_count)]
    rows = np.concatenate([*added, np.zeros((0, 32), np.uint8)])
    owner = np.repeat(np.arange(n, index.footage_count, dtype=np.int64), [len(a) for a in added])
    for start in range(0, len(rows) if len(judged) else 0, _CHUNK):
        qrows, ids, _ = table.search(rows[start : start + _CHUNK], index.params.max_distance)
        at = np.searchsorted(judged, ids)
        found = np.minimum(at, len(judged) - 1)
        work = codes[owner[qrows + start]]
        hit = (at < len(judged)) & (judged[found] == ids) & (work != codes[old_of[found]])
        grown.append(np.stack([at[hit], work[hit]], axis=1))
    pairs = _unique_pairs(np.concatenate(grown), index.footage_count)
    kept = [g for g in old.shares if g.kind == "asset"]
    assets = kept if [g.key for g in kept] == [m.key for m, _ in index.assets] else _asset_shares(index)
    all_of = np.concatenate([old_of, of])
    return GenericCounts(_footage_shares(index, all_of, pairs) + assets, np.concatenate([judged, frames]), pairs)


def _sampled(times: npt.NDArray[np.float32], informative: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """The first informative frame of each 1 / :data:`SAMPLE_FPS` seconds."""
    rows = np.flatnonzero(informative)
    if not len(rows):
        return rows.astype(np.int64)
    bins = np.floor(np.asarray(times, np.float64)[rows] * SAMPLE_FPS).astype(np.int64)
    _, first = np.unique(bins, return_index=True)
    return rows[first].astype(np.int64)


def _work_codes(index: ReferenceIndex) -> npt.NDArray[np.int64]:
    """Per footage reference, its work (group) as the position of the work's first reference: the same in an index
    extended by added references as in the index it was extended from."""
    if not index.footage_count:
        return np.zeros(0, np.int64)
    _, first, inverse = np.unique([m.group or m.key for m in index.refs], return_index=True, return_inverse=True)
    return np.asarray(first, np.int64)[np.asarray(inverse).reshape(-1)]


def _judged(
    index: ReferenceIndex, first: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """The judged frames of the references from ``first`` on: their hash table rows (:class:`GenericCounts`),
    their whole-picture hashes, their references."""
    row_ref = np.asarray(index.hash_table()[1])
    frames, hashes, owner = [np.zeros(0, np.int64)], [np.zeros((0, 32), np.uint8)], [np.zeros(0, np.int64)]
    for i in range(first, index.footage_count):
        fp = index.prints[i]
        quality = np.asarray(fp.quality)
        rows = _sampled(fp.timestamps, quality[:, WHOLE] >= index.params.min_quality)
        kept = np.cumsum(quality.reshape(-1) >= index.params.min_quality) - 1  # a kept hash's row in the reference's
        start = int(np.searchsorted(row_ref, i))
        frames.append(start + kept[rows * quality.shape[1] + WHOLE].astype(np.int64))
        hashes.append(np.asarray(fp.hashes[rows, WHOLE], np.uint8))
        owner.append(np.full(len(rows), i, np.int64))
    return np.concatenate(frames), np.concatenate(hashes), np.concatenate(owner)


def _whole_rows(fp: FootagePrint, min_quality: int) -> npt.NDArray[np.uint8]:
    """A print's kept whole-picture hashes (the hash table's rows of its whole pictures)."""
    return np.asarray(fp.hashes[:, WHOLE], np.uint8)[np.asarray(fp.quality[:, WHOLE]) >= min_quality]


def _pairs(
    index: ReferenceIndex, hashes: npt.NDArray[np.uint8], of: npt.NDArray[np.int64], start: int
) -> npt.NDArray[np.int64]:
    """``(judged frame, other work)`` of the judged frames ``hashes`` (of references ``of``, numbered from
    ``start``) matched by another work's whole picture in the whole hash table."""
    table, row_ref, _, row_region = index.hash_table()
    codes = _work_codes(index)
    found = [np.zeros((0, 2), np.int64)]
    for begin in range(0, len(hashes), _CHUNK):
        qrows, ids, _ = table.search(hashes[begin : begin + _CHUNK], index.params.max_distance)
        qrows = qrows + begin
        other = codes[np.asarray(row_ref)[ids].astype(np.int64)]
        hit = (np.asarray(row_region)[ids] == WHOLE) & (other != codes[of[qrows]])
        found.append(np.stack([qrows[hit] + start, other[hit]], axis=1))
    return _unique_pairs(np.concatenate(found), index.footage_count)


def _unique_pairs(pairs: npt.NDArray[np.int64], works: int) -> npt.NDArray[np.int64]:
    code = np.unique(pairs[:, 0] * max(works, 1) + pairs[:, 1])
    return np.stack([code // max(works, 1), code % max(works, 1)], axis=1).astype(np.int64)


def _footage_shares(
    index: ReferenceIndex, of: npt.NDArray[np.int64], pairs: npt.NDArray[np.int64]
) -> list[GenericShare]:
    """Every footage reference's share, counted from its judged frames (``of``: their references) and their pairs."""
    n = index.footage_count
    if not n:
        return []
    names, rank = np.unique([m.group or m.key for m in index.refs], return_inverse=True)
    rank = np.asarray(rank).reshape(-1)
    judged = np.bincount(of, minlength=n)
    shared = np.bincount(of[np.unique(pairs[:, 0])], minlength=n)
    counted, count = np.unique(of[pairs[:, 0]] * n + pairs[:, 1], return_counts=True)
    ref, work = counted // n, counted % n
    order = np.lexsort((rank[work], -count, ref))  # per reference: most shared first, then by name
    ref, work = ref[order], work[order]
    first = np.arange(len(ref)) - np.searchsorted(ref, ref, side="left")
    works: list[list[str]] = [[] for _ in range(n)]
    for r, w in zip(ref[first < _NAMED_WORKS].tolist(), work[first < _NAMED_WORKS].tolist(), strict=True):
        works[r].append(str(names[rank[w]]))
    return [
        GenericShare(m.key, "footage", int(judged[i]), int(shared[i]), tuple(works[i]))
        for i, m in enumerate(index.refs)
    ]


def _asset_shares(index: ReferenceIndex) -> list[GenericShare]:
    if not index.asset_count:
        return []
    names, group = _asset_groups(index)
    shortlist = index.asset_shortlist()
    queries = [_kept_sample(shortlist, detector, _ASSET_QUERIES) for _, detector in index.assets]
    of = np.repeat(np.arange(len(queries), dtype=np.int64), [len(q) for q in queries])
    dist, assets = shortlist.neighbours(np.concatenate(queries), _ASSET_NEIGHBOURS)
    other = np.where(assets >= 0, group[np.maximum(assets, 0)], -1)
    hit = (assets >= 0) & (dist <= ASSET_MATCH_BITS) & (other != group[of][:, None])
    judged = np.bincount(of, minlength=len(queries))
    shared = np.bincount(of[hit.any(axis=1)], minlength=len(queries))
    works: list[Counter[str]] = [Counter() for _ in queries]
    for q, g in zip(*np.nonzero(hit), strict=True):
        works[int(of[q])][str(names[other[q, g]])] += 1
    return [
        GenericShare(meta.key, "asset", int(judged[i]), int(shared[i]), _most(works[i]))
        for i, (meta, _) in enumerate(index.assets)
    ]


def _asset_groups(index: ReferenceIndex) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.intp]]:
    """The works (groups) of the index's assets, and each asset's among them."""
    names, group = np.unique([m.group or m.key for m, _ in index.assets], return_inverse=True)
    return names, group


def _kept_sample(shortlist: AssetShortlist, detector: AssetDetector, n: int) -> npt.NDArray[np.uint8]:
    """At most ``n`` of an asset's features, evenly spread over those the shortlist holds (others are found by
    none)."""
    d = np.asarray(detector.features.descriptors, np.uint8).reshape(-1, 32)
    kept = shortlist.kept(len(d))
    return d[kept[np.linspace(0, len(kept) - 1, min(len(kept), n)).astype(np.int64)]]


def look_alikes(index: ReferenceIndex, a: int, n: int) -> tuple[int, ...]:
    """The assets of other works (groups) that share most of asset ``a``'s features, at most ``n``, most shared
    first: ranked by how many of a sample of its features (as the shortlist keeps them) have one of theirs among
    their nearest in the registry's shortlist within :data:`ASSET_MATCH_BITS`. An overlay template's other
    colourways, a logo on another holder's asset. Empty for an asset found by templates (no features)."""
    detector = index.assets[a][1]
    if detector.method != "features" or n <= 0:
        return ()
    _, group = _asset_groups(index)
    queries = _kept_sample(index.asset_shortlist(), detector, _LOOK_ALIKE_QUERIES)
    if not len(queries):
        return ()
    dist, assets = index.asset_shortlist().neighbours(queries, _ASSET_NEIGHBOURS)
    hit = (assets >= 0) & (dist <= ASSET_MATCH_BITS)
    hit &= np.where(assets >= 0, group[np.maximum(assets, 0)], -1) != group[a]
    counts = np.bincount(assets[hit], minlength=len(index.assets))
    order = np.argsort(-counts, kind="stable")[:n]
    return tuple(int(b) for b in order if counts[b] > 0)


def distinctive(index: ReferenceIndex, a: int) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]] | None:
    """Which of asset ``a``'s features (direct, mirrored) none of its :data:`LOOK_ALIKES` look-alikes shares: no
    feature of theirs (either side) within :data:`ASSET_MATCH_BITS`. None when it has no look-alike."""
    alikes = look_alikes(index, a, LOOK_ALIKES)
    if not alikes:
        return None
    theirs = np.concatenate(
        [f.descriptors for b in alikes for f in (index.assets[b][1].features, index.assets[b][1].mirror_features)]
    )
    if len(theirs) < 2:
        return None
    detector = index.assets[a][1]
    sides = (detector.features, detector.mirror_features)
    own = [two_nearest(f.descriptors, theirs)[0][:, 0] if len(f) else np.zeros(0, np.int32) for f in sides]
    return own[0] > ASSET_MATCH_BITS, own[1] > ASSET_MATCH_BITS


def _most(works: Counter[str]) -> tuple[str, ...]:
    return tuple(name for name, _ in sorted(works.items(), key=lambda kv: (-kv[1], kv[0]))[:_NAMED_WORKS])
