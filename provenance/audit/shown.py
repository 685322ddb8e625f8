"""What a streamer's VOD shows of other works: found once, when the reference index is built, and passed on to
every clip cut from it.

A ``stream``-layer reference (a streamer's VOD) counts only through the streamer's whole composition
(:mod:`provenance.engine.references`): its hashes vote only as a whole picture and it has no local features. A
clip cut from it is found as a copy of the VOD, but the game the VOD shows, boxed into the streamer's layout, is
left to the clip's own pixels, and a cut is often small: at 320x180 the game box of the engine benchmark's LunaFox
VOD is 168x180 pixels, where River Raid gave 18-25 inliers and its look-alike Seaquest up to 30 (seed 1,
``stream/01``). At the VOD's own resolution the game is told apart.

So when the index is built, each VOD whose file is at hand is matched as a clip
(:func:`~provenance.audit.indexdir.vod_findings`), with its own work's references ignored
(:func:`~provenance.engine.match.match_clip` ``ignore``: the VOD's own hashes would explain every frame and leave
nothing to the local features that find the game inside the layout). What it shows of other works (game footage,
a game's HUD, a community map) is kept beside the index (:data:`SHOWN`). A clip found to copy a stretch of the VOD
inherits the findings of that stretch (:func:`with_shown`): their times are mapped through the VOD's timeline onto
the clip's, their regions into the VOD's place in the clip's frame, and each inherited piece of evidence names the
VOD and the stretch (``via``), so that a reviewer sees that it rests on the VOD's frames (verified there like any
clip's) and on the clip's copy of them.

Limits: a VOD from a rights pack has no file, and a VOD whose file is missing or changed is not matched (logged):
a clip cut from it still holds the VOD's own layer, so it is never cleared for it, but only its own pixels can show
the game. A finding passes on only where the clip and the finding share :data:`MIN_SHARED_S` of the VOD.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from provenance.errors import IndexStoreError

__all__ = ["MIN_SHARED_S", "SHOWN", "Shown", "read_shown", "shown_file", "with_shown"]

#: The file beside the index that holds what each VOD shows (:func:`shown_file`).
SHOWN = "shown.json"
_FORMAT = 1
#: Seconds of a VOD that a clip's copy of it and a finding in it must share for the finding to pass on to the
#: clip: two frames at the engine's 2 fps query rate, what a finding of a clip needs at the least.
MIN_SHARED_S = 1.0

Shown = dict[str, dict[str, Any]]
"""What VODs show: a VOD's reference key -> its raw findings of other works (``footage`` and ``assets`` as
:func:`~provenance.audit.clip.raw_matches` gives them, times on the VOD's timeline)."""


def shown_file(shown: Shown) -> bytes:
    """``shown`` as the file kept beside the index (:data:`SHOWN`)."""
    return json.dumps({"format": _FORMAT, "vods": shown}, sort_keys=True).encode()


def read_shown(directory: Path) -> Shown:
    """What the VODs of the index in ``directory`` show (empty for a directory written without it);
    :class:`~provenance.errors.IndexStoreError` naming the file when it cannot be read."""
    path = directory / SHOWN
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text("utf-8"))
        if data.get("format") != _FORMAT or not isinstance(data.get("vods"), dict):
            raise ValueError("of another format")
        vods: Shown = data["vods"]
        for found in vods.values():
            for entry in (*found["footage"], *found["assets"]):
                str(entry["ref"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IndexStoreError(f"{path}: unreadable findings of the VODs ({' '.join(str(exc).split())})") from None
    return vods


def with_shown(raw: dict[str, Any], shown: Shown) -> dict[str, Any]:
    """A clip's raw result with what the VODs it copies show (module docstring), where its own pixels did not
    already find the same reference; ``raw`` itself is not changed."""
    if not shown or raw.get("error") or not raw.get("footage"):
        return raw
    found = {f["ref"] for f in raw["footage"]} | {a["ref"] for a in raw.get("assets", [])}
    footage: dict[str, dict[str, Any]] = {}
    assets: dict[str, dict[str, Any]] = {}
    for copy in raw["footage"]:
        seen = shown.get(copy["ref"])
        if not seen:
            continue
        for entry in seen["footage"]:
            if entry["ref"] in found:
                continue
            segments = [s for c in copy["segments"] for f in entry["segments"] if (s := _through(c, f)) is not None]
            if segments:
                _merge(footage, entry, segments, copy, "segments")
        for hit in seen["assets"]:
            if hit["ref"] in found:
                continue
            frames = [t for c in copy["segments"] if (t := _frames_through(c, hit["frames"]))]
            if frames:
                _merge(assets, hit, sorted({x for f in frames for x in f}), copy, "frames")
    if not footage and not assets:
        return raw
    out = dict(raw)
    out["footage"] = [*raw["footage"], *footage.values()]
    out["assets"] = [*raw.get("assets", []), *assets.values()]
    return out


def _merge(into: dict[str, dict[str, Any]], entry: dict[str, Any], times: list[Any], copy: Any, field: str) -> None:
    """Add the inherited ``entry`` (its ``field``: segments or frames, mapped onto the clip) to ``into``, by
    reference: the first VOD that passes a reference on names it (``via``), later ones add their times."""
    ref = entry["ref"]
    if ref in into:
        into[ref][field] = sorted([*into[ref][field], *times], key=lambda x: x["start"] if field == "segments" else x)
        return
    mirrored = bool(copy.get("mirrored"))
    item = dict(entry)
    item[field] = times
    item["region"] = _region_through(copy.get("region"), entry.get("region"), mirrored)
    item["mirrored"] = bool(entry.get("mirrored")) != mirrored
    if field == "segments":
        item["confidence"] = round(max(s["score"] for s in times), 3)
    item["via"] = {
        "ref": copy["ref"],
        "start": round(min(s["ref_start"] for s in copy["segments"]), 3),
        "end": round(max(s["ref_end"] for s in copy["segments"]), 3),
    }
    into[ref] = item


def _line(seg: Mapping[str, Any]) -> tuple[float, float, float, float, float] | None:
    """``(clip start, VOD time at the clip start, VOD start, VOD end, VOD seconds per clip second)`` of a clip's
    copy of a VOD (the speed negative, and the clip's start at the VOD span's end, when the copy plays it
    backwards); None when the copy does not place the clip on the VOD's timeline (a still picture matched all
    along)."""
    start, end, r0, r1 = (float(seg[k]) for k in ("start", "end", "ref_start", "ref_end"))
    if end - start <= 0 or r1 - r0 < MIN_SHARED_S:
        return None
    speed = (r1 - r0) / (end - start)
    if float(seg.get("speed") or 1.0) < 0:
        return start, r1, r0, r1, -speed
    return start, r0, r0, r1, speed


def _through(copy: Mapping[str, Any], found: Mapping[str, Any]) -> dict[str, Any] | None:
    """The VOD's finding ``found`` (a segment on the VOD's and a reference's timelines) on the clip's timeline
    through its copy of the VOD ``copy``: where they share :data:`MIN_SHARED_S` of the VOD; else None."""
    line = _line(copy)
    if line is None:
        return None
    start, at, r0, r1, speed = line
    a, b, k0, k1 = (float(found[k]) for k in ("start", "end", "ref_start", "ref_end"))
    lo, hi = max(r0, a), min(r1, b)
    if hi - lo < MIN_SHARED_S:
        return None
    rate = (k1 - k0) / (b - a) if b > a else 0.0  # reference seconds per VOD second
    ends = sorted((start + (lo - at) / speed, start + (hi - at) / speed))
    return {
        "start": round(ends[0], 3),
        "end": round(ends[1], 3),
        "ref_start": round(k0 + (lo - a) * rate, 3),
        "ref_end": round(k0 + (hi - a) * rate, 3),
        "speed": round(rate * speed, 3),
        "score": round(min(float(copy["score"]), float(found["score"])), 3),
    }


def _frames_through(copy: Mapping[str, Any], frames: list[float]) -> list[float]:
    """An asset seen in the VOD from its first to its last of ``frames`` (VOD times), on the clip's timeline
    through its copy of the VOD ``copy``: the ends of the stretch they share and the frames inside it, when they
    share :data:`MIN_SHARED_S` of the VOD (or the whole of a shorter copy); else none."""
    line = _line(copy)
    if line is None or not frames:
        return []
    start, at, r0, r1, speed = line
    lo, hi = max(r0, min(frames)), min(r1, max(frames))
    if hi - lo < min(MIN_SHARED_S, r1 - r0):
        return []
    inside = [t for t in frames if lo <= t <= hi]
    return sorted({round(start + (t - at) / speed, 3) for t in (lo, *inside, hi)})


def _region_through(copy: list[float] | None, found: list[float] | None, mirrored: bool) -> list[float] | None:
    """A region of the VOD's frame (fractions; None: all of it) as a region of the clip's, where the VOD's
    picture is at ``copy`` (None: the whole frame), mirrored or not."""
    if found is None:
        return copy
    x0, y0, x1, y1 = found
    if mirrored:
        x0, x1 = 1.0 - x1, 1.0 - x0
    if copy is None:
        return [round(v, 3) for v in (x0, y0, x1, y1)]
    cx0, cy0, cx1, cy1 = copy
    w, h = cx1 - cx0, cy1 - cy0
    return [round(v, 3) for v in (cx0 + x0 * w, cy0 + y0 * h, cx0 + x1 * w, cy0 + y1 * h)]
