"""The one rule for the moment at which a piece of evidence is shown: in the clip, and in the reference.

The scan stores it in the report (an evidence item's ``clip_time`` and ``ref_time``, computed here while the
clip is rendered); the HTML page takes it from there and, for reports without those times, computes it here
from the layer's segments, the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from provenance.report.model import AssetEvidence, Evidence, Segment

__all__ = ["evidence_times"]


def evidence_times(evidence: Evidence, segments: Sequence[Segment]) -> tuple[float | None, float | None]:
    """(clip time, reference time) in seconds at which to show one piece of evidence of a layer.

    The evidence's own ``clip_time`` / ``ref_time`` win. Otherwise, from the layer's ``segments`` with the
    evidence's reference: a footage match is shown in the middle of its segment (the one holding the clip time
    when that is given; else the best scored, the earliest of equals; in a report without scores, the longest),
    mapped onto the reference's time by the segment's speed (from the span's end for a negative speed: the clip
    plays it backwards; linearly over its reference span when the report gives no speed); an asset match at the
    middle of the frames it was seen in (an asset has no reference time). ``None`` when there is nothing to go by.
    Times are rounded to the millisecond.
    """
    ct = _num(evidence.clip_time)
    segs = [
        s
        for s in segments
        if s.reference == evidence.reference and _num(s.start) is not None and _num(s.end) is not None
    ]
    if isinstance(evidence, AssetEvidence):
        if ct is None:
            frames = [f for f in (_num(x) for x in evidence.frames) if f is not None]
            if frames:
                ct = frames[len(frames) // 2]
            elif segs:
                ct = segs[0].start
        return _r(ct), None
    rt = _num(evidence.ref_time)
    timed = [s for s in segs if _num(s.ref_start) is not None and _num(s.ref_end) is not None]
    if timed and (ct is None or rt is None):
        seg = _segment_for(timed, ct)
        start, end = seg.start, seg.end
        if ct is None:
            ct = (start + end) / 2
        if rt is None:
            ref_start, ref_end = float(seg.ref_start or 0.0), float(seg.ref_end or 0.0)
            at = min(max(ct, start), end)
            if _num(seg.speed) is not None:
                speed = float(seg.speed or 1.0)  # negative: the clip plays the span backwards from its end
                rt = (ref_start if speed > 0 else ref_end) + (at - start) * speed
            else:
                frac = (at - start) / (end - start) if end > start else 0.0
                rt = ref_start + frac * (ref_end - ref_start)
    return _r(ct), _r(rt)


def _segment_for(segs: list[Segment], ct: float | None) -> Segment:
    """The segment containing ``ct`` (if given), else the best scored (the earliest of equals), else the longest."""
    if ct is not None:
        for s in segs:
            if s.start <= ct <= s.end:
                return s
    if all(_num(s.score) is not None for s in segs):
        return max(segs, key=lambda s: (float(s.score or 0.0), -s.start))
    return max(segs, key=lambda s: s.end - s.start)


def _num(x: object) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        return None
    return float(x)


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)
