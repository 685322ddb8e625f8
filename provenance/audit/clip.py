"""One clip: its content hash, its stored result of the same content when there is one, else the engine's
matches as a raw result (JSON, keyed by reference, without any policy: terms are applied when it is rendered),
with the opt-out signals embedded in the file (``signals``: :func:`provenance.media.signals.read_signals`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from provenance.audit.shown import with_shown
from provenance.audit.sound import audio_matches
from provenance.engine import ClipMatches, ReferenceIndex, match_clip
from provenance.errors import ProvenanceError
from provenance.media.signals import read_signals
from provenance.report import Clip
from rightsdb import Registry, sha256_file
from rightsdb.results import FindingRow, store_result, stored_result

__all__ = ["Lookup", "MatchResult", "error_text", "match_source", "raw_matches", "store_clip", "stored_lookup"]

Lookup = Callable[[str], dict[str, Any] | None]  # cache key -> a stored raw result

MatchResult = tuple[str | None, str | None, dict[str, Any], bool]
"""``(sha256, cache_key, raw result, from_cache)`` of one clip, as :func:`match_source` gives it."""


def _r(x: float) -> float:
    return round(float(x), 3)


def raw_matches(matches: ClipMatches) -> dict[str, Any]:
    """The engine's findings for one clip as JSON, keyed by reference (``ref_key``), without any policy."""
    footage = []
    for ref in matches.footage:
        footage.append(
            {
                "ref": ref.key,
                "segments": [
                    {
                        "start": _r(s.query_start),
                        "end": _r(min(s.query_end, matches.duration_s)),
                        "ref_start": _r(s.ref_start),
                        "ref_end": _r(s.ref_end),
                        "speed": _r(s.speed),
                        "score": _r(s.score),
                    }
                    for s in ref.segments
                ],
                "methods": dict(sorted(ref.methods.items())),
                "mirrored": ref.mirrored,
                "best_distance": ref.best_distance,
                "confidence": _r(ref.confidence),
                "region": [_r(v) for v in ref.region] if ref.region else None,
            }
        )
    assets = []
    for hit in matches.assets:
        w, h = hit.frame_size
        x, y, bw, bh = hit.box
        assets.append(
            {
                "ref": hit.key,
                "frames": [_r(t) for t in hit.frames],
                "score": _r(hit.score),
                "method": hit.method,
                "mirrored": hit.mirrored,
                "region": [_r(x / w), _r(y / h), _r((x + bw) / w), _r((y + bh) / h)],
            }
        )
    return {
        "duration_s": _r(matches.duration_s),
        "frames": matches.frames,
        "frame_size": list(matches.frame_size),
        "footage": footage,
        "assets": assets,
        "error": None,
    }


def error_text(exc: BaseException) -> str:
    """An error's message on one line (its type's name when it has none): what a clip's ``error`` says."""
    return " ".join(str(exc).split()) or type(exc).__name__


def match_source(source: Any, index: ReferenceIndex, key: str, lookup: Lookup) -> MatchResult:
    """``(sha256, cache_key, raw result, from_cache)`` of one clip; errors become the raw ``error``.

    ``lookup(cache_key)`` returns a stored raw result of the same content, registry references and engine.
    A clip whose bytes cannot be read has no sha256 and no cache key (it is tried again next time); a clip
    whose content does not decode is stored like any other (the same bytes will not decode next time either).
    """
    try:
        sha = source.sha256() if hasattr(source, "sha256") else sha256_file(Path(source))
    except (ProvenanceError, OSError) as exc:
        return None, None, {"error": error_text(exc)}, False
    cache_key = f"{sha}:{key}"
    stored = lookup(cache_key)
    if stored is not None:
        return sha, cache_key, _with_signals(stored, source), True
    try:
        raw = with_shown(raw_matches(match_clip(source, index)), getattr(index, "shown", {}))
        found = audio_matches(source, index, raw.get("duration_s"))
        if found:
            raw["audio"] = found
    except (ProvenanceError, OSError) as exc:
        raw = {"error": error_text(exc)}
    return sha, cache_key, _with_signals(raw, source), False


def _with_signals(raw: dict[str, Any], source: Any) -> dict[str, Any]:
    """``raw`` with the opt-out signals embedded in the clip's file (read once per content: a stored result
    from before they were read gets them now); a clip that did not decode is not read for them."""
    if raw.get("error") or "signals" in raw:
        return raw
    return {**raw, "signals": read_signals(source)}


def stored_lookup(registry: Registry, rescan: bool) -> Lookup:
    """``lookup(cache_key)``: a stored raw result of the same clip content, references and engine (none when
    rescanning)."""

    def lookup(cache_key: str) -> dict[str, Any] | None:
        return None if rescan else stored_result(registry, cache_key)

    return lookup


def store_clip(
    registry: Registry,
    scan_id: str,
    clip: Clip,
    cache_key: str | None,
    raw: dict[str, Any],
    *,
    replace_cached: bool,
    path: str | None = None,
) -> None:
    """Commit one rendered clip (under ``path``, default its own) with its raw result and its findings, at once:
    an interrupted scan loses nothing it finished. ``replace_cached`` (a rescan) gives every stored result of
    the same content, references and engine this raw result."""
    data = clip.to_dict()
    findings = [
        FindingRow(
            layer=x["layer"],
            holder=x["holder"],
            work=x["work"],
            ai_training=x["policy"]["ai_training"],
            confidence=float(x["confidence"]),
            segments=x["segments"],
            evidence=x["evidence"],
            modality=x.get("modality"),
        )
        for x in data["layers"]
    ]
    store_result(
        registry,
        scan_id,
        path=path or data["path"],
        sha256=data["sha256"],
        cache_key=cache_key,
        duration_s=data["duration_s"],
        exposure=data["exposure"],
        error=data["error"],
        raw=raw,
        findings=findings,
        replace_cached=replace_cached,
    )
