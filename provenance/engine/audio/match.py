"""Finding registered audio in a clip: hash lookups at each speed tried, votes on (reference, speed, offset),
a line fitted through the votes, and segments on both timelines.

Chance matches are scattered over offsets; a real one piles up on one offset and speed. Each pile of at least
``min_seed`` hashes proposes a line in time, which is then checked peak by peak against the reference
(:mod:`~provenance.engine.audio.verify`): segments are where the clip's peaks are found on the reference well
above the chance rate measured beside the line.

A stream-layer reference (a streamer's VOD) holds whatever the stream played, the game's soundtrack and songs
included, so it is matched last and only on the clip's peaks that no other reference explained: the streamer's
layer is found from the streamer's own sound (the voice), as the visual engine finds it from the composition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from provenance.engine.audio.landmarks import HASH_SPACE, landmarks, query_landmarks
from provenance.engine.audio.params import AudioParams
from provenance.engine.audio.prints import AudioPrint
from provenance.engine.audio.verify import chance_rate, hits_on_line, peak_keys, stretches

__all__ = ["AudioIndex", "AudioMatch", "AudioSegment", "match_audio"]

_STREAM_LAYER = "stream"
_MAX_ALIGNMENTS = 4  # alignments kept per reference (a song used twice, a loop)
_MAX_TRIES = 8  # candidate alignments checked per reference, the most voted first


@dataclass(frozen=True, slots=True)
class AudioSegment:
    """Where a reference's audio is in the clip (``query_*``) and in the reference (``ref_*``), seconds, at
    ``speed`` (reference seconds per clip second); ``votes``: the clip's peaks found on the reference in it."""

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
    """The references' landmark hashes, sorted, with where each hash's postings start (a lookup costs the same
    however many references there are), and each reference's peaks for checking alignments."""

    def __init__(self, params: AudioParams | None = None) -> None:
        self.params = params or AudioParams()
        self.keys: list[str] = []
        self.layers: list[str] = []
        self.durations: list[float] = []
        self.peak_keys: list[npt.NDArray[np.int64]] = []
        self._parts: list[tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32]]] = []
        self._hashes = np.zeros(0, np.uint32)
        self._refs = np.zeros(0, np.int32)
        self._times = np.zeros(0, np.float32)
        self._starts = np.zeros(HASH_SPACE + 1, np.int32)
        self._dirty = False
        self._opened = False

    def __len__(self) -> int:
        return len(self.keys)

    def arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        """The built index as flat arrays (written to disk by the audit's index directory, read back by
        :meth:`opened`): the postings (reference, time) sorted by hash, where each hash's start, and every
        reference's peak keys with their offsets."""
        self._build()
        counts = np.array([len(k) for k in self.peak_keys], np.int64)
        return {
            "refs": self._refs,
            "times": self._times,
            "starts": self._starts,
            "peak_keys": np.concatenate(self.peak_keys) if self.peak_keys else np.zeros(0, np.int64),
            "peak_offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        }

    @classmethod
    def opened(
        cls,
        params: AudioParams,
        refs: list[tuple[str, str, float]],
        arrays: dict[str, npt.NDArray[np.generic]],
    ) -> AudioIndex:
        """An index of :meth:`arrays` (memory-mapped, say) for ``refs`` ``(key, layer, duration)``; it takes no
        more references."""
        index = cls(params)
        offsets = arrays["peak_offsets"]
        if len(offsets) != len(refs) + 1 or len(arrays["starts"]) != HASH_SPACE + 1:
            raise ValueError(f"audio index of {len(offsets) - 1} references for {len(refs)}, or another hash width")
        if not len(arrays["refs"]) == len(arrays["times"]) == int(arrays["starts"][-1]):
            raise ValueError("audio postings do not add up")
        index.keys = [k for k, _, _ in refs]
        index.layers = [layer for _, layer, _ in refs]
        index.durations = [float(d) for _, _, d in refs]
        keys = arrays["peak_keys"]
        index.peak_keys = [keys[int(offsets[i]) : int(offsets[i + 1])] for i in range(len(refs))]  # type: ignore[misc]
        index._refs, index._times, index._starts = arrays["refs"], arrays["times"], arrays["starts"]  # type: ignore[assignment]
        index._opened = True
        return index

    def joined(self, added: AudioIndex) -> AudioIndex:
        """This index followed by ``added``'s references (both built or opened, with the same settings): what an
        index of all of them added in that order holds, its postings merged instead of every reference's landmarks
        computed again; it takes no more references."""
        if added.params != self.params:
            raise ValueError("audio indexes of other settings cannot be joined")
        a, b = self.arrays(), added.arrays()
        space = np.arange(HASH_SPACE, dtype=np.uint32)
        hashes = np.concatenate([np.repeat(space, np.diff(a["starts"])), np.repeat(space, np.diff(b["starts"]))])
        order = np.argsort(hashes, kind="stable")  # a hash's postings: this index's, then added's (reference order)
        refs = np.concatenate([a["refs"], np.asarray(b["refs"], np.int32) + len(self)]).astype(np.int32)
        times = np.concatenate([a["times"], b["times"]]).astype(np.float32)
        peaks = np.concatenate([a["peak_keys"], b["peak_keys"]]).astype(np.int64)
        offsets = np.concatenate([a["peak_offsets"], b["peak_offsets"][1:] + a["peak_offsets"][-1]]).astype(np.int64)
        arrays: dict[str, npt.NDArray[np.generic]] = {
            "refs": refs[order],
            "times": times[order],
            "starts": np.searchsorted(hashes[order], np.arange(HASH_SPACE + 1, dtype=np.uint32)).astype(np.int32),
            "peak_keys": peaks,
            "peak_offsets": offsets,
        }
        keys = [*zip(self.keys, self.layers, self.durations, strict=True)]
        keys += zip(added.keys, added.layers, added.durations, strict=True)
        return AudioIndex.opened(self.params, keys, arrays)

    def add(self, key: str, layer: str, fp: AudioPrint) -> None:
        """Add a reference's print under ``key`` (its layer decides the order of matching)."""
        if self._opened:
            raise ValueError("an audio index opened from disk takes no more references")
        marks = landmarks(fp, self.params)
        self.keys.append(key)
        self.layers.append(layer)
        self.durations.append(fp.duration_s)
        self.peak_keys.append(peak_keys(fp, self.params))
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
        # where each hash's postings start (hashes are HASH_BITS wide): a lookup is two reads, whatever the size
        self._starts = np.searchsorted(self._hashes, np.arange(HASH_SPACE + 1, dtype=np.uint32)).astype(np.int32)
        self._dirty = False

    def lookup(self, hashes: npt.NDArray[np.uint32]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """``(query position, posting position)`` of every reference entry sharing a hash with ``hashes``
        (hashes with more than ``max_postings`` entries are skipped: too common to tell anything)."""
        self._build()
        left = self._starts[hashes]
        counts = self._starts[hashes + 1] - left
        counts[counts > self.params.max_postings] = 0
        total = int(counts.sum())
        if total == 0:
            return np.zeros(0, np.intp), np.zeros(0, np.intp)
        qpos = np.repeat(np.arange(hashes.size), counts)
        starts = np.repeat(left - np.cumsum(counts) + counts, counts)
        return qpos, (starts + np.arange(total)).astype(np.intp)

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
    for si, marks in enumerate(query_landmarks(fp, index.params, speeds)):
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


def _align(
    v: _Votes,
    sel: npt.NDArray[np.bool_],
    speeds: list[float],
    fp: AudioPrint,
    keys: npt.NDArray[np.int64],
    usable: npt.NDArray[np.bool_],
    p: AudioParams,
) -> tuple[list[AudioSegment], npt.NDArray[np.bool_]]:
    """The segments of one reference (its votes ``sel``), the strongest alignments first, up to a few, and the
    clip's peaks they explain."""
    found: list[AudioSegment] = []
    explained = np.zeros(len(fp), bool)
    speed = np.asarray(speeds, np.float64)[v.speed[sel]]
    tq, tr = v.tq[sel], v.tr[sel]
    sidx = v.speed[sel].astype(np.int64)
    obin = np.floor((tr - tq * speed) / p.offset_bin).astype(np.int64)
    live = np.ones(tq.size, bool)
    for _ in range(_MAX_TRIES):
        if live.sum() < p.min_seed or len(found) >= _MAX_ALIGNMENTS:
            break
        uniq, counts = np.unique((sidx * 1_000_003 + obin)[live], return_counts=True)
        if counts.max() < p.min_seed:
            break
        bs, bb = divmod(int(uniq[np.argmax(counts)]), 1_000_003)
        if bb > 1_000_003 // 2:
            bs, bb = bs + 1, bb - 1_000_003
        near = live & (np.abs(sidx - bs) <= 2) & (np.abs(obin - bb) <= 4)
        slope, icept, hit = _best_line(fp, keys, tq, tr, sidx == bs, near, speeds[bs], (bb + 0.5) * p.offset_bin, p)
        live &= ~(near | (np.abs(tr - (tq * slope + icept)) <= 1.5 * p.offset_bin))
        if int((hit & usable).sum()) < p.min_votes:  # too few peaks found on this line for any segment
            continue
        chance = chance_rate(fp, keys, slope, icept, usable, p)
        for st in stretches(fp.times, hit, usable, chance, p):
            seg = AudioSegment(st.start, st.end, st.start * slope + icept, st.end * slope + icept, slope, st.hits)
            # the same stretch of the clip found again elsewhere in the reference (a chorus, a loop) is not news
            if not _covered(seg, found):
                found.append(seg)
                explained |= hit & usable & (fp.times >= st.start) & (fp.times <= st.end)
    return found, explained


def _covered(seg: AudioSegment, found: list[AudioSegment]) -> bool:
    """Whether half of ``seg``'s clip time is already in a stronger segment."""
    length = max(seg.query_end - seg.query_start, 1e-6)
    for other in found:
        overlap = min(seg.query_end, other.query_end) - max(seg.query_start, other.query_start)
        if overlap > 0.5 * length:
            return True
    return False


def _best_line(
    fp: AudioPrint,
    keys: npt.NDArray[np.int64],
    tq: npt.NDArray[np.float32],
    tr: npt.NDArray[np.float32],
    same_speed: npt.NDArray[np.bool_],
    near: npt.NDArray[np.bool_],
    speed: float,
    offset: float,
    p: AudioParams,
) -> tuple[float, float, npt.NDArray[np.bool_]]:
    """The line through a pile of votes that finds the most of the clip's peaks on the reference: the pile's own
    speed through the votes' median offset, or a least-squares line through the votes near it (a speed between
    the grid's steps drifts over a long clip)."""
    pile = near & same_speed & (np.abs(tr - tq * speed - offset) <= 1.5 * p.offset_bin)
    icept = float(np.median(tr[pile] - speed * tq[pile])) if pile.any() else offset
    lines = [(speed, icept)]
    inliers = near & (np.abs(tr - (tq * speed + icept)) <= 0.2)
    if inliers.sum() >= 4 and np.ptp(tq[inliers]) >= 2.0:
        a, b = np.polyfit(tq[inliers].astype(np.float64), tr[inliers].astype(np.float64), 1)
        if abs(a - speed) <= 2 * p.speed_step:
            lines.append((float(a), float(b)))
    scored = [(slope, b, hits_on_line(fp, keys, slope, b, p)[0]) for slope, b in lines]
    return max(scored, key=lambda line: int(line[2].sum()))


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
    # strongest first, streams last: a reference counts only on the peaks no stronger one explained (two tracks
    # of one game share instruments and loops; a VOD holds the game's music)
    strength = np.bincount(v.ref, minlength=len(index))
    order = sorted(range(len(index)), key=lambda r: (index.layers[r] == _STREAM_LAYER, -int(strength[r]), r))
    for r in order:
        stream = index.layers[r] == _STREAM_LAYER
        usable = ~explained
        sel = (v.ref == r) & usable[v.anchor]
        if sel.sum() < p.min_seed:
            continue
        segments, heard = _align(v, sel, speeds, fp, index.peak_keys[r], usable, p)
        if not segments:
            continue
        if not stream:
            explained |= heard
        segments.sort(key=lambda s: s.query_start)
        found.append(AudioMatch(index.keys[r], index.layers[r], segments, sum(s.votes for s in segments)))
    found.sort(key=lambda m: -m.votes)
    return found
