"""Temporal alignment: turn frame matches into segments on the query and reference timelines.

Input is a set of frame matches, as parallel arrays: query time ``q_t`` (s), reference id, reference
time ``r_t`` (s) and a similarity score in [0, 1] (see :func:`scores_from_distances`). A copied part
of a reference shows up as matches on a line ``r_t = speed * q_t + offset``; chance matches scatter.

Per reference the method is:

1. Hough voting over (speed, offset): speeds log-spaced in ``[speed_min, speed_max]`` (fine enough
   that quantising the speed moves an offset by at most half the tolerance over the query span, up to
   ``max_speed_bins``), offsets binned at the tolerance (``max(tolerance_s, 0.75 * ref_step_s)``).
   A vote is weighted by the match's score divided by how many matches its query frame has, so a query
   frame matching many reference frames (dense reference sampling, static shots) counts once.
2. The best cell (adjacent offset bins summed, so a line on a bin edge is not split) gives a line;
   matches within the tolerance of it are its inliers; the line is refined by least squares on them
   (speed clipped to the range) and the inliers re-collected, twice.
3. Inliers sorted by query time are cut into runs wherever the query time jumps by more than
   ``max_gap_s``; each run is refitted and becomes a :class:`Segment` if it has at least
   ``min_matches`` distinct query frames, at least ``min_density`` matched query frames per second,
   and is significant: from the reference's matches lying farther than ``max(max_gap_s, 4 * tol)``
   from the line, each query frame with ``k`` of them would hit a band of ``2 * tol`` around a line
   with probability ``min(1, k * 2 * tol / r_span)``; ``lam`` is their sum per (query second x
   band second), so the band around the run holds ``mu = lam * duration * 2 * tol`` chance frames.
   Frames with probability 1 (a static screen matching the reference everywhere) are left out of
   both counts: they lie on every line. At least ``min_matches`` of the run's frames must be
   informative, and ``P(Poisson(mu) >= informative frames)`` must be below ``alpha`` divided by
   the number of vote cells (every cell was a chance to find a line). ``alpha >= 1`` turns the
   test off (the caller has other evidence and only wants the best line).
4. The line's inliers are removed and the search repeats, so one clip can hold several segments of
   one reference (a loop, two trims) or of several references.
5. Of two segments of the same reference that cover mostly the same query time, the weaker is dropped:
   a clip frame shows one moment of a reference, so the other line is an echo of the copy (parallel
   lines in static footage) or the reference repeating itself (a scrolling game's terrain matched at
   another moment, less often). Until engine 0.18 only segments overlapping in reference time too were
   dropped; on the engine benchmark (seed 1) a gamma-shifted River Raid copy kept a second line at
   another moment (gamma IoU 0.76 -> 0.91 without it), and a blurred one got one once the copies' bars
   were also trimmed loosely (:mod:`~provenance.engine.prints`; 0.93 -> 0.85, 0.93 again with this
   rule): the copies' segment IoU 0.88 -> 0.89 (found 0.90 -> 0.92), seed 2 and the short-clip corpus
   unchanged or better, no finding lost.

Time convention: a query sample at ``t`` stands for ``[t, t + query_step_s)``, so a segment ends one
query step after its last matched sample. Scattered chance matches rarely line up within the
tolerance on ``min_matches`` query frames no more than ``max_gap_s`` apart, which is what keeps them
out.

Time-reversed copies (a clip playing the reference backwards, an edit of re-uploads) are looked for with
``reversed``: the same search on the query's times negated, whose lines are then negative-speed segments.
``ref_start`` <= ``ref_end`` is the span on the reference either way; a segment of speed ``v`` shows the
reference at ``ref_start + (t - query_start) * v`` when ``v > 0``, at ``ref_end + (t - query_start) * v`` when
``v < 0`` (the clip's start shows the span's end).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from provenance.errors import ConfigError

__all__ = ["AlignParams", "Segment", "align", "scores_from_distances"]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Bound on the (speed x match) block of offsets computed at once during voting.
_VOTE_BLOCK = 1 << 22


@dataclass(frozen=True, slots=True)
class AlignParams:
    """Parameters of :func:`align` (defaults suit 1-2 fps queries against 2-10 fps references).

    speed_min, speed_max: range of reference seconds per query second (0 < min <= 1 <= max <= 4).
    tolerance_s: offset tolerance in seconds; widened to ``0.75 * ref_step_s`` when that is larger.
    max_gap_s: largest query-time gap inside one segment; widened to ``2.5 * query_step_s``.
    min_matches: fewest distinct matched query frames in a segment (>= 2).
    min_density: fewest matched query frames per second of segment (0 disables).
    max_speed_bins: cap on the number of speed bins of the vote (>= 3).
    max_segments_per_ref: cap on the lines extracted per reference (>= 1).
    overlap_drop: query-time overlap (fraction of the shorter segment) at or above which the weaker
        of two segments of one reference is dropped.
    alpha: chance that scattered matches at the observed density form a segment, per line
        extracted (Bonferroni over the vote cells); smaller is stricter.
    reversed: also look for time-reversed copies (speeds ``-speed_max`` to ``-speed_min``), searched and tested
        on their own, kept where no forward segment of the reference overlaps them in query time.
    """

    speed_min: float = 0.5
    speed_max: float = 2.0
    tolerance_s: float = 0.5
    max_gap_s: float = 4.0
    min_matches: int = 4
    min_density: float = 0.2
    max_speed_bins: int = 257
    max_segments_per_ref: int = 32
    overlap_drop: float = 0.5
    alpha: float = 0.01
    reversed: bool = False

    def __post_init__(self) -> None:
        if not (0.0 < self.speed_min <= 1.0 <= self.speed_max <= 4.0):
            raise ConfigError(
                f"speed_min/speed_max: need 0 < min <= 1 <= max <= 4, got {self.speed_min}, {self.speed_max}"
            )
        if not (0.0 < self.tolerance_s <= 10.0):
            raise ConfigError(f"tolerance_s: must be in (0, 10], got {self.tolerance_s}")
        if not (0.0 < self.max_gap_s <= 600.0):
            raise ConfigError(f"max_gap_s: must be in (0, 600], got {self.max_gap_s}")
        if not (2 <= self.min_matches <= 10_000):
            raise ConfigError(f"min_matches: must be in [2, 10000], got {self.min_matches}")
        if not (0.0 <= self.min_density <= 100.0):
            raise ConfigError(f"min_density: must be in [0, 100], got {self.min_density}")
        if not (3 <= self.max_speed_bins <= 100_000):
            raise ConfigError(f"max_speed_bins: must be in [3, 100000], got {self.max_speed_bins}")
        if not (1 <= self.max_segments_per_ref <= 10_000):
            raise ConfigError(f"max_segments_per_ref: must be in [1, 10000], got {self.max_segments_per_ref}")
        if not (0.0 < self.overlap_drop <= 1.0):
            raise ConfigError(f"overlap_drop: must be in (0, 1], got {self.overlap_drop}")
        if not (0.0 < self.alpha <= 1.0):
            raise ConfigError(f"alpha: must be in (0, 1], got {self.alpha}")


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of the query that copies a stretch of one reference.

    ``speed`` is reference seconds per query second. ``matches`` counts the supporting frame
    matches, ``query_frames`` the distinct query frames among them. ``score`` in [0, 1] is
    mean similarity x support (``1 - exp(-query_frames / (2 * min_matches))``) x sqrt(share of the
    segment's query samples that matched). ``evidence`` are the indices of the supporting matches
    in the arrays given to :func:`align`, ascending.
    """

    reference: int
    query_start: float
    query_end: float
    ref_start: float
    ref_end: float
    speed: float
    matches: int
    query_frames: int
    score: float
    evidence: tuple[int, ...]

    @property
    def query_duration(self) -> float:
        return self.query_end - self.query_start


def scores_from_distances(distances: npt.ArrayLike, max_distance: int) -> FloatArray:
    """Similarity in [0, 1] from Hamming distances: ``1 - d / (max_distance + 1)``, clipped."""
    if max_distance < 0:
        raise ConfigError(f"max_distance: must be >= 0, got {max_distance}")
    d = np.asarray(distances, dtype=np.float64)
    return np.clip(1.0 - d / (max_distance + 1.0), 0.0, 1.0)


def _estimate_step(t: FloatArray) -> float:
    u = np.unique(t)
    if u.size < 2:
        return 0.0
    return float(np.median(np.diff(u)))


def align(
    q_t: npt.ArrayLike,
    ref_ids: npt.ArrayLike,
    r_t: npt.ArrayLike,
    scores: npt.ArrayLike | None = None,
    params: AlignParams | None = None,
    *,
    query_step_s: float | None = None,
    ref_step_s: float | None = None,
) -> list[Segment]:
    """Segments found in frame matches, sorted by reference id then query start.

    ``q_t``, ``ref_ids``, ``r_t`` and ``scores`` (similarity in [0, 1]; None = all 1) are parallel
    1-D arrays, one entry per frame match. ``query_step_s`` / ``ref_step_s`` are the sampling
    steps (seconds between sampled frames); when None the query step is estimated from the matched
    query times and the reference step is taken as 0 (tolerance = ``params.tolerance_s``).
    """
    p = params if params is not None else AlignParams()
    q = np.asarray(q_t, dtype=np.float64).ravel()
    refs = np.asarray(ref_ids).ravel()
    r = np.asarray(r_t, dtype=np.float64).ravel()
    w = np.ones_like(q) if scores is None else np.asarray(scores, dtype=np.float64).ravel()
    if not (q.shape == refs.shape == r.shape == w.shape):
        raise ConfigError(f"align: arrays differ in length ({q.size}, {refs.size}, {r.size}, {w.size})")
    if refs.size and not np.issubdtype(refs.dtype, np.integer):
        raise ConfigError(f"align: ref_ids must be integers, got dtype {refs.dtype}")
    if not (np.isfinite(q).all() and np.isfinite(r).all()):
        raise ConfigError("align: q_t and r_t must be finite")
    if w.size and not (np.isfinite(w).all() and w.min() >= 0.0 and w.max() <= 1.0):
        raise ConfigError("align: scores must be similarities in [0, 1]")
    for name, v in (("query_step_s", query_step_s), ("ref_step_s", ref_step_s)):
        if v is not None and not (0.0 <= v <= 60.0):
            raise ConfigError(f"{name}: must be in [0, 60], got {v}")
    if q.size == 0:
        return []
    q_step = _estimate_step(q) if query_step_s is None else float(query_step_s)
    tol = max(p.tolerance_s, 0.75 * (ref_step_s or 0.0))
    gap = max(p.max_gap_s, 2.5 * q_step)
    q_span = float(q.max() - q.min()) + max(q_step, tol)
    segments: list[Segment] = []
    for ref in np.unique(refs):
        idx = np.flatnonzero(refs == ref).astype(np.int64)
        found = drop_echoes(
            _align_one(int(ref), idx, q[idx], r[idx], w[idx], p, tol, gap, q_step, q_span), p.overlap_drop
        )
        if p.reversed:  # backwards only where no forward line is: a static screen's matches lie on lines both ways
            back = _align_one(int(ref), idx, -q[idx], r[idx], w[idx], p, tol, gap, q_step, q_span)
            found += [
                b
                for b in drop_echoes([_unreversed(s, q_step) for s in back], p.overlap_drop)
                if not any(_overlap(b.query_start, b.query_end, f.query_start, f.query_end) > 0 for f in found)
            ]
        segments.extend(found)
    segments.sort(key=lambda s: (s.reference, s.query_start, s.ref_start))
    log.debug("align: %d matches -> %d segments", q.size, len(segments))
    return segments


def _align_one(
    ref: int,
    idx: IntArray,
    q: FloatArray,
    r: FloatArray,
    w: FloatArray,
    p: AlignParams,
    tol: float,
    gap: float,
    q_step: float,
    q_span: float,
) -> list[Segment]:
    out: list[Segment] = []
    pool = np.ones(q.size, np.bool_)
    r_span = float(r.max() - r.min()) + 2.0 * tol
    # A query frame with as many matches as the reference has bands (a static screen matching it
    # everywhere) lies on every line: it is no evidence for any, and no chance hit against one either.
    uq, k_all = np.unique(q, return_counts=True)
    saturated = np.isin(q, uq[k_all * (2.0 * tol) >= r_span])
    for _ in range(p.max_segments_per_ref):
        live = np.flatnonzero(pool)
        if np.unique(q[live]).size < p.min_matches:
            break
        speed, intercept, n_cells = _hough(q[live], r[live], w[live], p, tol)
        inl = live
        for _ in range(3):
            inl = live[np.abs(r[live] - (speed * q[live] + intercept)) <= tol]
            if inl.size == 0:
                break
            speed, intercept = _fit(q[inl], r[inl], w[inl], speed, intercept, p)
        inl = live[np.abs(r[live] - (speed * q[live] + intercept)) <= tol]
        if np.unique(q[inl]).size < p.min_matches:
            break  # the best line left is too weak; weaker ones are weaker still
        pool[inl] = False
        # Density of scattered matches: those off the line by more than the echo band (echoes of a
        # copy in static footage sit near the line and are not chance matches).
        # The unit of chance is a query frame, not a match: a frame whose k far matches could hit the
        # band of the line does so with probability min(1, k * 2 tol / r_span) (a frame matching a
        # static picture everywhere counts once, however many reference frames it matches).
        far = (np.abs(r[live] - (speed * q[live] + intercept)) > max(gap, 4.0 * tol)) & ~saturated[live]
        _, k_far = np.unique(q[live][far], return_counts=True)
        hit = np.minimum(1.0, k_far * (2.0 * tol) / r_span)
        lam = float(hit.sum()) / (q_span * 2.0 * tol)
        log_alpha = math.log(p.alpha / n_cells)
        order = inl[np.argsort(q[inl], kind="stable")]
        cuts = np.flatnonzero(np.diff(q[order]) > gap) + 1
        for run in np.split(order, cuts):
            seg = _make_segment(
                ref,
                idx,
                run,
                q,
                r,
                w,
                speed,
                intercept,
                p,
                tol,
                q_step,
                lam,
                log_alpha,
                int(np.unique(q[run[~saturated[run]]]).size),
            )
            if seg is not None:
                out.append(seg)
    return out


def _unreversed(seg: Segment, q_step: float) -> Segment:
    """A segment found on the query's negated times as the time-reversed segment it is on the real ones.

    Its samples ``-t_last .. -t_first`` (a segment ends a query step after its last sample) are ``t_first ..
    t_last`` again, on the line ``r = -speed * t + intercept``; ``ref_start`` <= ``ref_end`` stays the span."""
    intercept = seg.ref_start - seg.speed * seg.query_start
    t_first, t_last = q_step - seg.query_end, -seg.query_start
    start, end = t_first, t_last + q_step
    return replace(
        seg,
        query_start=start,
        query_end=end,
        ref_start=-seg.speed * end + intercept,
        ref_end=-seg.speed * start + intercept,
        speed=-seg.speed,
    )


def _hough(q: FloatArray, r: FloatArray, w: FloatArray, p: AlignParams, tol: float) -> tuple[float, float, int]:
    """Best (speed, intercept) of ``r = speed * q + intercept`` by weighted voting, and the cell count."""
    q_lo, q_hi = float(q.min()), float(q.max())
    q_mid = 0.5 * (q_lo + q_hi)
    half_span = max(0.5 * (q_hi - q_lo), tol)
    log_range = math.log(p.speed_max / p.speed_min)
    step = tol / (p.speed_max * half_span)  # log-speed step: offset error <= tol / 2 at the ends
    n_speeds = min(p.max_speed_bins, max(3, math.ceil(log_range / step) + 1)) if log_range > 0 else 1
    n_speeds += 1 - n_speeds % 2  # odd, so speed 1 sits on a bin when the range is symmetric
    speeds = np.exp(np.linspace(math.log(p.speed_min), math.log(p.speed_max), n_speeds))
    qc = q - q_mid
    _, inv, counts = np.unique(q, return_inverse=True, return_counts=True)
    vote = w / counts[inv]
    o_lo = float(r.min()) - p.speed_max * half_span - tol
    n_bins = math.ceil((float(r.max()) + p.speed_max * half_span + tol - o_lo) / tol) + 1
    hist = np.zeros((n_speeds, n_bins), np.float64)
    block = max(1, _VOTE_BLOCK // max(1, q.size))
    for s0 in range(0, n_speeds, block):
        s1 = min(n_speeds, s0 + block)
        offs = r[None, :] - speeds[s0:s1, None] * qc[None, :]
        bins = ((offs - o_lo) / tol).astype(np.int64)
        flat = (bins + n_bins * np.arange(s1 - s0)[:, None]).ravel()
        hist[s0:s1] = np.bincount(
            flat, weights=np.broadcast_to(vote, offs.shape).ravel(), minlength=(s1 - s0) * n_bins
        ).reshape(s1 - s0, n_bins)
    pair = hist[:, :-1] + hist[:, 1:]
    si, oi = np.unravel_index(int(np.argmax(pair)), pair.shape)
    speed = float(speeds[si])
    offset = o_lo + (oi + 1) * tol  # centre of the two summed bins
    return speed, offset - speed * q_mid, n_speeds * n_bins


def _fit(
    q: FloatArray, r: FloatArray, w: FloatArray, speed: float, intercept: float, p: AlignParams
) -> tuple[float, float]:
    """Weighted least-squares line through (q, r), speed clipped; keeps the speed if q is degenerate."""
    ww = np.maximum(w, 1e-6)
    sw = float(ww.sum())
    qm, rm = float((ww * q).sum()) / sw, float((ww * r).sum()) / sw
    var = float((ww * (q - qm) ** 2).sum())
    if var > 1e-9 * sw and np.unique(q).size >= 3:
        speed = float(np.clip((ww * (q - qm) * (r - rm)).sum() / var, p.speed_min, p.speed_max))
    return speed, rm - speed * qm


def _make_segment(
    ref: int,
    idx: IntArray,
    run: IntArray,
    q: FloatArray,
    r: FloatArray,
    w: FloatArray,
    speed: float,
    intercept: float,
    p: AlignParams,
    tol: float,
    q_step: float,
    lam: float,
    log_alpha: float,
    informative: int,
) -> Segment | None:
    uq = np.unique(q[run])
    n_frames = int(uq.size)
    if n_frames < p.min_matches:
        return None
    q_start, q_end = float(uq[0]), float(uq[-1]) + q_step
    duration = max(q_end - q_start, 1e-9)
    if n_frames / duration < p.min_density:
        return None
    if p.alpha < 1.0 and (
        informative < p.min_matches or _log_poisson_tail(lam * duration * 2.0 * tol, informative) > log_alpha
    ):
        return None  # as many chance matches would line up this well somewhere
    speed, intercept = _fit(q[run], r[run], w[run], speed, intercept, p)
    # Best similarity per query frame, so repeated matches of one frame do not weigh more.
    _, inv = np.unique(q[run], return_inverse=True)
    best = np.zeros(n_frames)
    np.maximum.at(best, inv, w[run])
    support = 1.0 - math.exp(-n_frames / (2.0 * p.min_matches))
    expected = duration / q_step if q_step > 0 else float(n_frames)
    coverage = min(1.0, n_frames / max(expected, 1.0))
    score = float(np.clip(best.mean() * support * math.sqrt(coverage), 0.0, 1.0))
    return Segment(
        reference=ref,
        query_start=q_start,
        query_end=q_end,
        ref_start=speed * q_start + intercept,
        ref_end=speed * q_end + intercept,
        speed=speed,
        matches=int(run.size),
        query_frames=n_frames,
        score=score,
        evidence=tuple(int(i) for i in np.sort(idx[run])),
    )


def _log_poisson_tail(mu: float, n: int) -> float:
    """log P(X >= n) for X ~ Poisson(mu)."""
    if mu <= 0.0:
        return -math.inf if n > 0 else 0.0
    if mu >= n:
        return 0.0  # at least about one half; treat as certain
    k = np.arange(n, n + 200, dtype=np.float64)
    from_lgamma = np.array([math.lgamma(x + 1.0) for x in k])
    terms = k * math.log(mu) - mu - from_lgamma
    top = float(terms.max())
    return top + math.log(float(np.exp(terms - top).sum()))


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def drop_echoes(segs: list[Segment], overlap_drop: float) -> list[Segment]:
    """Of segments (one reference) covering mostly the same query time, keep the strongest (module docstring,
    point 5)."""
    kept: list[Segment] = []
    for s in sorted(segs, key=lambda s: (-s.query_frames, -s.score)):
        echo = False
        for k in kept:
            shorter = max(min(s.query_duration, k.query_duration), 1e-9)
            if _overlap(s.query_start, s.query_end, k.query_start, k.query_end) / shorter >= overlap_drop:
                echo = True
                break
        if not echo:
            kept.append(s)
    return kept
