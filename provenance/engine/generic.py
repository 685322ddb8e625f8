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
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from provenance.engine.pairs import WHOLE
from provenance.engine.references import ReferenceIndex

__all__ = ["ASSET_MATCH_BITS", "NOTABLE_SHARE", "SAMPLE_FPS", "GenericShare", "generic_shares"]

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


def generic_shares(index: ReferenceIndex) -> list[GenericShare]:
    """The generic share of every footage reference, then every asset, of ``index`` (module docstring)."""
    return _footage_shares(index) + _asset_shares(index)


def _sampled(times: npt.NDArray[np.float32], informative: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """The first informative frame of each 1 / :data:`SAMPLE_FPS` seconds."""
    rows = np.flatnonzero(informative)
    if not len(rows):
        return rows.astype(np.int64)
    bins = np.floor(np.asarray(times, np.float64)[rows] * SAMPLE_FPS).astype(np.int64)
    _, first = np.unique(bins, return_index=True)
    return rows[first].astype(np.int64)


def _footage_shares(index: ReferenceIndex) -> list[GenericShare]:
    if not index.footage_count:
        return []
    params = index.params
    table, row_ref, _, row_region = index.hash_table()
    names, group = np.unique([m.group or m.key for m in index.refs], return_inverse=True)
    queries, owner = [], []
    for i, fp in enumerate(index.prints):
        frames = _sampled(fp.timestamps, np.asarray(fp.quality[:, WHOLE]) >= params.min_quality)
        queries.append(np.asarray(fp.hashes[frames, WHOLE], np.uint8))
        owner.append(np.full(len(frames), i, np.int64))
    hashes, of = np.concatenate(queries), np.concatenate(owner)
    shared = np.zeros(len(hashes), bool)
    pairs: list[npt.NDArray[np.int64]] = []  # (query frame, other work) of every frame matched by another work
    for start in range(0, len(hashes), _CHUNK):
        qrows, ids, _ = table.search(hashes[start : start + _CHUNK], params.max_distance)
        qrows = qrows + start
        other = group[np.asarray(row_ref)[ids].astype(np.int64)]
        hit = (np.asarray(row_region)[ids] == WHOLE) & (other != group[of[qrows]])
        shared[qrows[hit]] = True
        pairs.append(np.unique(qrows[hit] * len(names) + other[hit]))
    found = np.concatenate(pairs) if pairs else np.zeros(0, np.int64)
    judged = np.bincount(of, minlength=index.footage_count)
    counts = np.bincount(of[shared], minlength=index.footage_count)
    works: list[Counter[str]] = [Counter() for _ in index.refs]
    for q, g in zip((found // len(names)).tolist(), (found % len(names)).tolist(), strict=True):
        works[int(of[q])][str(names[g])] += 1
    return [
        GenericShare(m.key, "footage", int(judged[i]), int(counts[i]), _most(works[i]))
        for i, m in enumerate(index.refs)
    ]


def _asset_shares(index: ReferenceIndex) -> list[GenericShare]:
    if not index.asset_count:
        return []
    names, group = np.unique([m.group or m.key for m, _ in index.assets], return_inverse=True)
    shortlist = index.asset_shortlist()
    queries = []
    for _, detector in index.assets:  # a sample of the features the shortlist holds (others are found by none)
        d = np.asarray(detector.features.descriptors, np.uint8).reshape(-1, 32)
        kept = shortlist.kept(len(d))
        queries.append(d[kept[np.linspace(0, len(kept) - 1, min(len(kept), _ASSET_QUERIES)).astype(np.int64)]])
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


def _most(works: Counter[str]) -> tuple[str, ...]:
    return tuple(name for name, _ in sorted(works.items(), key=lambda kv: (-kv[1], kv[0]))[:_NAMED_WORKS])
