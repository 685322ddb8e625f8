"""Layered exposure: each matched work's terms as they stand on the scan date, and a sentence saying why.

A work's policy (registry manifest: ``ai_training``, ``license``, ``valid_from``, ``valid_until``,
``territories``) is applied as of a date and, optionally, a territory:

* before ``valid_from`` or after ``valid_until`` the stated terms do not apply: the registry knows no terms
  for that date, so the verdict is ``unknown`` (medium exposure, a person has to look);
* with ``territories`` and a scan territory outside them, likewise ``unknown``;
* with ``territories`` and no scan territory: a denial still stands (it holds somewhere the data may be
  used), while an allowance becomes ``conditional`` (it holds only there).

The contract's exposure rule then runs on the effective terms: ``none`` (nothing found), ``low`` (every
matched work allows training), ``medium`` (some conditional or unknown), ``high`` (any denies). A clip that
could not be checked at all has exposure ``unknown`` (fail-safe: held back, never cleared).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from provenance.report.model import Clip, Layer, Policy
from provenance.report.reviews import counted, dismissed
from provenance.report.vocabulary import EXPOSURE_ORDER, AiTraining, Exposure

__all__ = ["Terms", "effective_terms", "exposure_of", "exposure_summary", "reason"]


@dataclass(frozen=True, slots=True)
class Terms:
    """A work's stated AI-training terms (as imported from the manifest)."""

    ai_training: str
    license: str | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    territories: tuple[str, ...] | None = None
    source: str | None = None
    url: str | None = None


def effective_terms(terms: Terms, as_of: date, territory: str | None = None) -> tuple[str, str | None]:
    """``(ai_training, note)``: the terms in force on ``as_of`` in ``territory``, and why they differ from
    the stated ones (None when they do not)."""
    if terms.valid_from is not None and as_of < terms.valid_from:
        return "unknown", f"the stated terms apply only from {terms.valid_from.isoformat()}"
    if terms.valid_until is not None and as_of > terms.valid_until:
        return "unknown", f"the stated terms expired on {terms.valid_until.isoformat()}"
    if terms.territories:
        where = ", ".join(terms.territories)
        if territory is not None and territory.upper() not in terms.territories:
            return "unknown", f"the stated terms cover only {where}, not {territory.upper()}"
        if territory is None and terms.ai_training == "allow":
            return "conditional", f"training is allowed only in {where}"
    return terms.ai_training, None


def exposure_summary(clips: Sequence[Clip]) -> dict[str, int]:
    """The report's ``summary``: clips per exposure level, and those with an error."""
    summary: dict[str, int] = {level: sum(1 for c in clips if c.exposure == level) for level in EXPOSURE_ORDER}
    summary["errors"] = sum(1 for c in clips if c.error)
    return summary


def exposure_of(ai_trainings: Sequence[str]) -> Exposure:
    """The contract's rule: none / low (all allow) / medium (some conditional or unknown) / high (any deny)."""
    if not ai_trainings:
        return "none"
    if "deny" in ai_trainings:
        return "high"
    if any(a in ("conditional", "unknown") for a in ai_trainings):
        return "medium"
    return "low"


_TERMS_WORDS: dict[AiTraining, str] = {
    "allow": "AI training allowed",
    "deny": "AI training denied",
    "conditional": "AI training under conditions",
    "unknown": "terms for AI training unknown",
}


def _terms_words(policy: Policy) -> str:
    words = _TERMS_WORDS[policy.ai_training]
    if policy.note:
        words += f": {policy.note}"
    return words


def _what(layer: Layer) -> str:
    kinds = {e.kind for e in layer.evidence}
    title = layer.title or layer.work
    holder = layer.holder_name or layer.holder
    terms = _terms_words(layer.policy)
    kind = layer.layer
    if not kinds:  # a layer a person added (a holder's claim upheld): no evidence of the engine's
        return f"{title} of {holder} ({terms}, {layer.review.decision if layer.review else 'reviewed'} on review)"
    if kind == "game":
        what = "game footage" if "footage" in kinds else "game art (HUD, logos)"
        return f"{what} of {title} ({holder}, {terms})"
    if kind == "stream":
        what = "the VOD" if kinds == {"footage"} else "the overlay"
        return f"{what} of streamer {holder} ({terms})"
    if kind == "ugc":
        return f"the community content {title} by {holder} ({terms})"
    return f"{title} of {holder} ({terms})"


def _heard(layer: Layer) -> str:
    """An audio layer in words: the game's soundtrack, a song, the streamer's voice."""
    title = layer.title or layer.work
    holder = layer.holder_name or layer.holder
    terms = _terms_words(layer.policy)
    if layer.layer == "game":
        return f"the soundtrack of {title} ({holder}, {terms})"
    if layer.layer == "music":
        return f"the song {title} ({holder}, {terms})"
    if layer.layer == "stream":
        return f"the voice of streamer {holder} ({terms})"
    return f"the sound of {title} ({holder}, {terms})"


def reason(clip: Clip) -> str:
    """One sentence a person can read: why the clip has its exposure."""
    if clip.error:
        return f"Not checked: {clip.error}"
    if clip.exposure == "unknown":
        return "Not checked: the registry held no reference to check it against."
    layers = counted(clip.layers)
    if not layers:
        if len(layers) == len(clip.layers):
            return "No registered work was found." + _review_words(clip)
        return "No registered work remains after review." + _review_words(clip)
    seen = [x for x in layers if x.modality != "audio"]
    order = {"music": 0, "game": 1, "stream": 2}  # a song is what a listener names first
    heard = [_heard(x) for x in sorted(layers, key=lambda x: order.get(x.layer, 3)) if x.modality == "audio"]
    games = [_what(x) for x in seen if x.layer == "game"]
    streams = [_what(x) for x in seen if x.layer == "stream"]
    others = [_what(x) for x in seen if x.layer not in ("game", "stream")]
    parts: list[str] = []
    if games:
        parts.append(" and ".join(games))
    if streams:
        parts.append(("under " if parts else "") + " and ".join(streams))
    if others:
        parts.append(("showing " if parts else "") + " and ".join(others))
    if heard:
        parts.append(("with " if parts else "") + " and ".join(heard) + " in the soundtrack")
    sentence = " ".join(parts)
    level = str(clip.exposure).capitalize()
    return f"{level} exposure: {sentence}." + _review_words(clip)


def _review_words(clip: Clip) -> str:
    """What review changed and what is contested, as sentences after the reason (empty when nothing)."""
    words = ""
    gone = [x for x in clip.layers if dismissed(x)]
    if gone:
        names = ", ".join(f"{x.title or x.work} ({x.holder_name or x.holder})" for x in gone)
        words += f" Dismissed on review as a false match: {names}."
    disputes = sum(1 for x in clip.layers if x.dispute is not None) + len(clip.claims or [])
    if disputes:
        words += f" {disputes} open dispute{'s' if disputes > 1 else ''}."
    return words
