"""Finding registered audio in a clip: hash lookups at each speed tried, votes on (reference, speed, offset),
a line fitted through the votes, and segments on both timelines.

Chance matches are scattered over offsets; a real one piles up on one offset and speed. A match needs
``min_votes`` aligned hashes, and each of its segments (aligned hashes no more than ``max_gap`` apart) the same,
``min_density`` of them per second and ``min_segment`` seconds.

A stream-layer reference (a streamer's VOD) holds whatever the stream played, the game's soundtrack and songs
included, so it is matched last and only on the clip's peaks that no other reference explained: the streamer's
layer is found from the streamer's own sound (the voice), as the visual engine finds it from the composition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from provenance.engine.audio.landmarks import landmarks
from provenance.engine.audio.params import AudioParams
from provenance.engine.audio.prints import AudioPrint

__all__ = ["AudioIndex", "AudioMatch", "AudioSegment", "match_audio"]

_STREAM_LAYER = "stream"
_MAX_ALIGNMENTS = 4  # alignments looked for per reference (a song used twice, a loop)


@dataclass(frozen=True, slots=True)
class AudioSegment:
    """Where a reference's audio is in the clip (``query_*``) and in the reference (``ref_*``), seconds."""

    query_start: float
    query_end: float
    ref_start: float
    ref_end: float
    speed: float
    votes: int


@dataclass(slots=True)
class AudioMatch:
    """One reference found in a clip's audio."""

    key: str
    layer: str
    segments: list[AudioSegment] = field(default_factory=list)
    votes: int = 0

    @property
    def confidence(self) -> float:
        return float(1.0 - np.exp(-self.votes / 25.0))


class AudioIndex:
    """The references' landmark hashes, sorted for lookups (binary search: sub-linear in the references)."""

    def __init__(self, params: AudioParams | None = None) -> None:
        self.params = params or AudioParams()
        self.keys: list[str] = []
        self.layers: list[str] = []
        self.durations: list[float] = []
        self._parts: list[tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32]]] = []
        self._hashes = np.zeros(0, np.uint32)
        self._refs = np.zeros(0, np.int32)
        self._times = np.zeros(0, np.float32)
        self._dirty = False

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, key: str, layer: str, fp: AudioPrint) -> None:
        """Add a reference's print under ``key`` (its layer decides the order of matching)."""
        marks = landmarks(fp, self.params)
        self.keys.append(key)
        self.layers.append(layer)
        self.durations.append(fp.duration_s)
        self._parts.append((marks.hashes, marks.t_anchor))
        self._dirty = True

    def _build(self) -> None:
        if not self._dirty:
            return
        hashes = np.concatenate([h for h, _ in self._parts]) if self._parts else np.zeros(0, np.uint32)
        times = np.concatenate([t for _, t in self._parts]) if self._parts else np.zeros(0, np.float32)
        refs = np.concatenate([np.full(h.size, i, np.int32) for i, (h, _) in enumerate(self._parts)])
        order = np.argsort(hashes, kind="stable")
        self._hashes, self._refs, self._times = hashes[order], refs[order] if refs.size else refs, times[order]
        self._dirty = False

    def lookup(self, hashes: npt.NDArray[np.uint32]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """``(query position, posting position)`` of every reference entry sharing a hash with ``hashes``
        (hashes with more than ``max_postings`` entries are skipped: too common to tell anything)."""
        self._build()
        left = np.searchsorted(self._hashes, hashes, side="left")
        right = np.searchsorted(self._hashes, hashes, side="right")
        counts = right - left
        counts[counts > self.params.max_postings] = 0
        total = int(counts.sum())
        if total == 0:
            return np.zeros(0, np.intp), np.zeros(0, np.intp)
        qpos = np.repeat(np.arange(hashes.size), counts)
        starts = np.repeat(left - np.cumsum(counts) + counts, counts)
        return qpos, starts + np.arange(total)

    def postings(self, pos: npt.NDArray[np.intp]) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        return self._refs[pos], self._times[pos]


@dataclass(slots=True)
class _Votes:
    ref: npt.NDArray[np.int32]
    speed: npt.NDArray[np.int32]
    anchor: npt.NDArray[np.int32]
    tq: npt.NDArray[np.float32]
    tq_end: npt.NDArray[np.float32]
    tr: npt.NDArray[np.float32]


def _votes(fp: AudioPrint, index: AudioIndex, speeds: list[float]) -> _Votes:
    parts: list[tuple[npt.NDArray[np.generic], ...]] = []
    for si, speed in enumerate(speeds):
        marks = landmarks(fp, index.params, speed, index.params.query_fan_out)
        qpos, pos = index.lookup(marks.hashes)
        if qpos.size == 0:
            continue
        ref, tr = index.postings(pos)
        parts.append(
            (ref, np.full(qpos.size, si, np.int32), marks.anchor[qpos], marks.t_anchor[qpos], marks.t_target[qpos], tr)
        )
    if not parts:
        z32, zf = np.zeros(0, np.int32), np.zeros(0, np.float32)
        return _Votes(z32, z32, z32, zf, zf, zf)
    cols = [np.concatenate([p[i] for p in parts]) for i in range(6)]
    return _Votes(
        cols[0].astype(np.int32),
        cols[1].astype(np.int32),
        cols[2].astype(np.int32),
        cols[3].astype(np.float32),
        cols[4].astype(np.float32),
        cols[5].astype(np.float32),
    )


def _segments(
    tq: npt.NDArray[np.float32], tq_end: npt.NDArray[np.float32], slope: float, icept: float, p: AudioParams
) -> list[AudioSegment]:
    order = np.argsort(tq, kind="stable")
    tq, tq_end = tq[order], tq_end[order]
    cuts = np.nonzero(np.diff(tq) > p.max_gap)[0] + 1
    found = []
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, tq.size], strict=True):
        start, end = float(tq[a]), float(tq_end[a:b].max())
        votes = int(np.unique(np.round(tq[a:b], 3)).size)
        length = max(end - start, 1e-3)
        if votes >= p.min_votes and length >= p.min_segment and votes / length >= p.min_density:
            found.append(AudioSegment(start, end, start * slope + icept, end * slope + icept, slope, votes))
    return found


def _align(v: _Votes, sel: npt.NDArray[np.bool_], speeds: list[float], p: AudioParams) -> list[AudioSegment]:
    """The segments of one reference's votes (``sel``): the strongest alignments first, up to a few."""
    found: list[AudioSegment] = []
    speed = np.asarray(speeds, np.float64)[v.speed[sel]]
    tq, tq_end, tr = v.tq[sel], v.tq_end[sel], v.tr[sel]
    live = np.ones(tq.size, bool)
    for _ in range(_MAX_ALIGNMENTS):
        if live.sum() < p.min_votes:
            break
        offset = tr - tq * speed
        obin = np.floor(offset / p.offset_bin).astype(np.int64)
        sidx = v.speed[sel].astype(np.int64)
        key = (sidx * 1_000_003 + obin)[live]
        uniq, counts = np.unique(key, return_counts=True)
        best = uniq[np.argmax(counts)]
        if counts.max() < max(3, p.min_votes // 3):
            break
        bs, bb = divmod(int(best), 1_000_003)
        if bb > 1_000_003 // 2:
            bs, bb = bs + 1, bb - 1_000_003
        near = live & (np.abs(sidx - bs) <= 2) & (np.abs(obin - bb) <= 4)
        if near.sum() < 3:
            live &= ~((sidx == bs) & (obin == bb))
            continue
        slope, icept = _fit(tq[near], tr[near], speeds[bs], (bb + 0.5) * p.offset_bin)
        inlier = live & (np.abs(sidx - bs) <= 1) & (np.abs(tr - (tq * slope + icept)) <= 1.5 * p.offset_bin)
        if not inlier.any():
            live &= ~near
            continue
        # the same stretch of the clip found again elsewhere in the reference (a chorus, a loop) is not news
        found += [s for s in _segments(tq[inlier], tq_end[inlier], slope, icept, p) if not _covered(s, found)]
        live &= ~inlier
    return found


def _covered(seg: AudioSegment, found: list[AudioSegment]) -> bool:
    """Whether half of ``seg``'s clip time is already in a stronger segment."""
    length = max(seg.query_end - seg.query_start, 1e-6)
    for other in found:
        overlap = min(seg.query_end, other.query_end) - max(seg.query_start, other.query_start)
        if overlap > 0.5 * length:
            return True
    return False


def _fit(tq: npt.NDArray[np.float32], tr: npt.NDArray[np.float32], slope: float, icept: float) -> tuple[float, float]:
    """A line ``tr = slope * tq + icept`` through aligned votes (least squares when they span enough time)."""
    if np.ptp(tq) < 2.0:
        return slope, float(np.median(tr - slope * tq))
    a, b = np.polyfit(tq.astype(np.float64), tr.astype(np.float64), 1)
    if abs(a - slope) > 0.02:
        return slope, float(np.median(tr - slope * tq))
    return float(a), float(b)


def match_audio(fp: AudioPrint, index: AudioIndex) -> list[AudioMatch]:
    """The references found in a clip's audio print, strongest first (stream-layer references only on what the
    others did not explain)."""
    p = index.params
    if len(index) == 0 or len(fp) == 0:
        return []
    speeds = p.speeds()
    v = _votes(fp, index, speeds)
    found: list[AudioMatch] = []
    explained = np.zeros(len(fp), bool)
    order = sorted(range(len(index)), key=lambda r: (index.layers[r] == _STREAM_LAYER, r))
    for r in order:
        sel = v.ref == r
        if index.layers[r] == _STREAM_LAYER:
            sel &= ~explained[v.anchor]
        if sel.sum() < p.min_votes:
            continue
        segments = _align(v, sel, speeds, p)
        if not segments:
            continue
        if index.layers[r] != _STREAM_LAYER:
            for s in segments:
                explained[(fp.times >= s.query_start) & (fp.times <= s.query_end)] |= _peaks_hit(v, sel, s, fp)
        segments.sort(key=lambda s: s.query_start)
        found.append(AudioMatch(index.keys[r], index.layers[r], segments, sum(s.votes for s in segments)))
    found.sort(key=lambda m: -m.votes)
    return found


def _peaks_hit(v: _Votes, sel: npt.NDArray[np.bool_], s: AudioSegment, fp: AudioPrint) -> npt.NDArray[np.bool_]:
    """Which of the clip's peaks inside segment ``s`` were anchors of votes for this reference on its line."""
    inside = (fp.times >= s.query_start) & (fp.times <= s.query_end)
    hit = np.zeros(len(fp), bool)
    slope = s.speed
    icept = s.ref_start - s.query_start * slope
    on_line = sel & (np.abs(v.tr - (v.tq * slope + icept)) <= 0.2)
    hit[v.anchor[on_line]] = True
    return hit[inside]
