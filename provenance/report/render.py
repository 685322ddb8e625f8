"""Rendering one clip: the engine's raw result for it, the registry's references and their terms -> the report's
clip object.

The raw result (what a scan stores per clip content) says which references matched where, and nothing of
policies; rendering puts each match under its work, with the work's holder, layer and the terms in force on
the scan date, so a change of terms re-renders stored results without matching again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from provenance.report.evidence import evidence_times
from provenance.report.exposure import Terms, effective_terms, exposure_of, reason
from provenance.report.model import (
    AssetEvidence,
    AudioEvidence,
    Clip,
    FootageEvidence,
    Layer,
    Modality,
    Policy,
    Segment,
    Signal,
    Source,
    Via,
)
from provenance.report.reviews import ClipReviews, apply_reviews, counted, review_marks, unreviewed
from provenance.report.signals import apply_signals, embedded_signals, source_url
from provenance.report.vocabulary import LAYERS, VERDICTS, ai_training, layer_name

__all__ = ["RefInfo", "render_clip", "reviewed_again", "with_layers"]


@dataclass(frozen=True, slots=True)
class RefInfo:
    """What the report says of a reference: its path and its work's holder, layer and terms (and, for the
    audit, where the file is and what it holds)."""

    reference_id: int
    path: str
    kind: str
    work: str
    title: str
    holder: str
    holder_name: str
    layer: str
    terms: Terms
    sha256: str = ""
    location: str = ""


def _r(x: float) -> float:
    return round(float(x), 3)


def render_clip(
    rel: str,
    sha: str | None,
    raw: Mapping[str, Any],
    infos: Mapping[str, RefInfo],
    as_of: date,
    territory: str | None,
    metadata: Mapping[str, Any] | None = None,
    source: Source | None = None,
    reviews: ClipReviews | None = None,
    signals: Sequence[Signal] = (),
) -> Clip:
    """The report's clip object from a raw result (``infos`` by reference key) and the registry's current terms.

    ``reviews``: the decisions in force and open disputes on this clip content
    (:mod:`provenance.report.reviews`); a dismissed layer stays in the report and does not count.

    Exposure ``unknown`` (fail-safe) for a clip that could not be read (``error``) and for any clip when the
    registry holds no reference (``infos`` empty): nothing could have been found in it.

    The opt-out signals embedded in the file (the raw result's ``signals``, as the media reader found them) and
    ``signals`` (captured at collection time) are joined with the layers (:mod:`provenance.report.signals`)."""
    clip = Clip(
        path=rel, sha256=sha, duration_s=raw.get("duration_s"), exposure="none", error=raw.get("error"), layers=[]
    )
    if source:
        clip.source = source
    if metadata:
        clip.metadata = dict(metadata)
        if (url := source_url(metadata)) is not None:
            clip.source_url = url
    if raw.get("frame_size"):
        clip.frame_size = raw["frame_size"]
    if clip.error or not infos:  # fail-safe: a clip not read, or checked against nothing, is not cleared
        clip.exposure = "unknown"
    else:
        clip.layers = _layers(raw, infos, as_of, territory)
        if reviews:
            _apply(clip, reviews, _layer_maker(infos, as_of, territory))
        clip.exposure = exposure_of([layer.policy.ai_training for layer in counted(clip.layers)])
    items = [*embedded_signals(raw.get("signals") or []), *signals]
    apply_signals(clip, items, reason(clip))
    return clip


def _layer_maker(infos: Mapping[str, RefInfo], as_of: date, territory: str | None) -> Callable[[str], Layer | None]:
    """``new_layer(work)``: the layer of a work the engine did not find, with the registry's terms (None when the
    registry does not hold the work)."""
    by_work = {info.work: info for info in infos.values()}

    def new_layer(work: str) -> Layer | None:
        info = by_work.get(work)
        return _new_layer(info, as_of, territory) if info is not None else None

    return new_layer


def _apply(clip: Clip, reviews: ClipReviews, new_layer: Callable[[str], Layer | None]) -> None:
    clip.layers, claims = apply_reviews(clip.layers, reviews, new_layer)
    clip.layers.sort(key=lambda item: (LAYERS.index(item.layer), item.work))
    if claims:
        clip.claims = claims


def reviewed_again(
    clip: Clip, reviews: ClipReviews | None, infos: Mapping[str, RefInfo], as_of: date, territory: str | None
) -> tuple[Clip, bool]:
    """``(clip, changed)``: a stored report's clip with ``reviews`` (the decisions and disputes in force now)
    applied instead of those it was written with, its exposure, reason and signals' verdict following them, and
    whether what it shows of reviews changed. ``infos`` and ``as_of``/``territory`` (the scan's) give the terms of
    a work a decision adds. A clip that was not checked (``unknown``, an ``error``) is left as it is, as a scan
    leaves it."""
    if clip.error or clip.exposure == "unknown":
        return clip, False
    before = review_marks(clip.layers, clip.claims)
    new_layer = _layer_maker(infos, as_of, territory)
    data = {k: v for k, v in clip.to_dict().items() if k not in ("claims", "signals", "reason")}
    again = Clip.model_validate({**data, "layers": []})
    again.layers = unreviewed(clip.layers, new_layer)
    if reviews:
        _apply(again, reviews, new_layer)
    again.exposure = exposure_of([layer.policy.ai_training for layer in counted(again.layers)])
    items = clip.signals.items if clip.signals is not None else []
    apply_signals(again, items, reason(again))
    return again, review_marks(again.layers, again.claims) != before


def with_layers(clip: Clip, layers: list[Layer]) -> Clip:
    """``clip`` showing only ``layers`` (a holder's view of it), its exposure and reason computed from them alone."""
    items = clip.signals.items if clip.signals is not None else []
    shown = clip.model_copy(update={"layers": layers})
    shown.exposure = exposure_of([x.policy.ai_training for x in counted(shown.layers)])
    apply_signals(shown, items, reason(shown))
    return shown


def _policy(info: RefInfo, as_of: date, territory: str | None) -> Policy:
    terms = info.terms
    effective, note = effective_terms(terms, as_of, territory)
    policy = Policy(ai_training=ai_training(effective))
    if terms.license is not None:
        policy.license = terms.license
    if effective != terms.ai_training:
        policy.stated = ai_training(terms.ai_training)
    if note:
        policy.note = note
    if terms.valid_from is not None:
        policy.valid_from = terms.valid_from.isoformat()
    if terms.valid_until is not None:
        policy.valid_until = terms.valid_until.isoformat()
    if terms.territories:
        policy.territories = list(terms.territories)
    if terms.source:
        policy.source = terms.source
    if terms.url:
        policy.url = terms.url
    return policy


def _new_layer(info: RefInfo, as_of: date, territory: str | None) -> Layer:
    """The layer of ``info``'s work, with its terms, before any match is put in it."""
    policy = _policy(info, as_of, territory)
    return Layer(
        layer=layer_name(info.layer),
        holder=info.holder,
        work=info.work,
        title=info.title,
        holder_name=info.holder_name,
        policy=policy,
        verdict=VERDICTS[policy.ai_training],
        confidence=0.0,
        segments=[],
        evidence=[],
    )


def _segments(ref: Mapping[str, Any], info: RefInfo) -> list[Segment]:
    """A timed match's segments (footage, sound) on both timelines."""
    return [
        Segment(
            start=s["start"],
            end=s["end"],
            reference=info.path,
            ref_start=s["ref_start"],
            ref_end=s["ref_end"],
            speed=s["speed"],
            score=s["score"],
        )
        for s in ref["segments"]
    ]


def _via(found: Mapping[str, Any], infos: Mapping[str, RefInfo]) -> Via | None:
    """Where a finding passed on from a VOD the clip copies was made (:mod:`provenance.audit.shown`)."""
    via = found.get("via")
    if not via:
        return None
    vod = infos.get(via["ref"])
    return Via(reference=vod.path if vod else str(via["ref"]), ref_start=via["start"], ref_end=via["end"])


def _layers(raw: Mapping[str, Any], infos: Mapping[str, RefInfo], as_of: date, territory: str | None) -> list[Layer]:
    """Group footage and asset matches by work into the report's layer objects (the picture's), and audio
    matches by work into layers of modality ``audio`` (the sound's)."""
    by_work: dict[tuple[str, Modality], Layer] = {}

    def entry(info: RefInfo, modality: Modality = "video") -> Layer:
        if (info.work, modality) not in by_work:
            layer = _new_layer(info, as_of, territory)
            layer.modality = modality
            by_work[info.work, modality] = layer
        return by_work[info.work, modality]

    for ref in raw.get("footage", []):
        info = infos[ref["ref"]]
        e = entry(info)
        e.segments += _segments(ref, info)
        e.confidence = max(e.confidence, ref["confidence"])
        footage = FootageEvidence(
            reference=info.path,
            kind="footage",
            methods=ref["methods"],
            mirrored=ref["mirrored"],
            best_pdq_distance=ref["best_distance"],
            region=ref["region"],
            clip_time=None,
            ref_time=None,
        )
        footage.clip_time, footage.ref_time = evidence_times(footage, e.segments)
        footage.via = _via(ref, infos)
        e.evidence.append(footage)
    for hit in raw.get("assets", []):
        info = infos[hit["ref"]]
        e = entry(info)
        confidence = min(1.0, hit["score"] / 36.0) if hit["method"] == "features" else hit["score"]
        e.confidence = max(e.confidence, _r(confidence))
        e.segments.append(
            Segment(start=min(hit["frames"]), end=max(hit["frames"]), reference=info.path, ref_start=None, ref_end=None)
        )
        asset = AssetEvidence(
            reference=info.path,
            kind="asset",
            method=hit["method"],
            mirrored=hit["mirrored"],
            frames=hit["frames"],
            score=hit["score"],
            region=hit["region"],
            clip_time=None,
        )
        asset.clip_time, _ = evidence_times(asset, e.segments)
        asset.via = _via(hit, infos)
        e.evidence.append(asset)
    for ref in raw.get("audio", []):
        info = infos[ref["ref"]]
        e = entry(info, "audio")
        segments = _segments(ref, info)
        e.segments += segments
        e.confidence = max(e.confidence, ref["confidence"])
        heard = AudioEvidence(
            reference=info.path,
            kind="audio",
            votes=int(ref["votes"]),
            speed=segments[0].speed if segments else None,
            clip_time=None,
            ref_time=None,
        )
        heard.clip_time, heard.ref_time = evidence_times(heard, e.segments)
        e.evidence.append(heard)
    layers = list(by_work.values())
    for layer in layers:
        layer.segments.sort(key=lambda s: (s.start, s.reference))
    layers.sort(key=lambda item: (LAYERS.index(item.layer), item.modality == "audio", item.work))
    return layers
