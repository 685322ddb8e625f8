"""As-of drift: which clips of a report change verdict between two dates (say, the collection date and today),
and why, from the registry's policy history.

A work's terms on a date are those the registry held at the end of that day (UTC): the ``after`` of its last
policy change made that day or before; before its first recorded change, its first recorded terms (the history
says when they were recorded). Those terms are then applied as of the date in the territory
(:func:`provenance.report.effective_terms`: validity dates, territories), and the clip's exposure is the report's
rule on them, joined again with the clip's signals (which do not change with the date).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from provenance.report import Clip, Report, Terms, apply_signals, effective_terms, exposure_of, reason
from rightsdb import NotFoundError, Registry
from rightsdb.queries import get_work, policy_history

__all__ = ["TermsOn", "drift", "terms_on"]


@dataclass(frozen=True, slots=True)
class TermsOn:
    """A work's terms in force on a date, and where they come from (a sentence)."""

    ai_training: str
    why: str


def _terms(policy: dict[str, Any]) -> Terms:
    def day(key: str) -> date | None:
        value = policy.get(key)
        return date.fromisoformat(value) if isinstance(value, str) else None

    territories = policy.get("territories")
    return Terms(
        str(policy.get("ai_training", "unknown")),
        policy.get("license"),
        day("valid_from"),
        day("valid_until"),
        tuple(territories) if territories else None,
        policy.get("source"),
        policy.get("url"),
    )


def terms_on(history: list[dict[str, Any]], current: dict[str, Any], on: date, territory: str | None) -> TermsOn:
    """The terms in force on ``on`` given a work's policy history (oldest first) and its current terms."""
    recorded = [h for h in history if date.fromisoformat(h["changed_at"][:10]) <= on]
    if recorded:
        last = recorded[-1]
        policy, why = last["after"], f"as set on {last['changed_at'][:10]} by {last['actor']}"
    elif history:
        first = history[0]
        policy = first["before"] or first["after"]
        why = f"the registry recorded its terms only from {first['changed_at'][:10]}"
    else:
        policy, why = current, "its current terms (no history)"
    effective, note = effective_terms(_terms(policy), on, territory)
    if note:
        why += f"; {note}"
    return TermsOn(effective, why)


_VERDICT = {"allow": "allowed", "deny": "denied", "conditional": "conditional", "unknown": "unknown"}


def _exposure(clip: Clip, terms: dict[str, TermsOn]) -> str:
    shown = clip.model_copy(deep=True)
    for layer in shown.layers:
        layer.policy.ai_training = terms[layer.work].ai_training  # type: ignore[assignment]
    shown.exposure = exposure_of([x.policy.ai_training for x in shown.layers]) if not shown.error else "unknown"
    if clip.exposure == "unknown":
        shown.exposure = "unknown"
    items = clip.signals.items if clip.signals is not None else []
    apply_signals(shown, items, reason(shown))
    return shown.exposure


def drift(
    registry: Registry, report: Report, first: date, second: date, territory: str | None = None
) -> dict[str, Any]:
    """The clips whose exposure differs between ``first`` and ``second``, each with the works whose verdict
    changed and why; a JSON object (``as_of``, ``territory``, ``clips``, ``changed``)."""
    histories: dict[str, list[dict[str, Any]]] = {}
    currents: dict[str, dict[str, Any]] = {}
    changed: list[dict[str, Any]] = []
    for clip in report.clips:
        if not clip.layers:
            continue
        on: list[dict[str, TermsOn]] = []
        for when in (first, second):
            terms: dict[str, TermsOn] = {}
            for layer in clip.layers:
                if layer.work not in histories:
                    histories[layer.work] = policy_history(registry, layer.work)
                    try:
                        currents[layer.work] = get_work(registry, layer.work)["policy"]
                    except NotFoundError:
                        currents[layer.work] = {"ai_training": "unknown"}
                terms[layer.work] = terms_on(histories[layer.work], currents[layer.work], when, territory)
            on.append(terms)
        before, after = _exposure(clip, on[0]), _exposure(clip, on[1])
        works = [
            {
                "work": x.work,
                "title": x.title or x.work,
                "before": _VERDICT.get(on[0][x.work].ai_training, "unknown"),
                "after": _VERDICT.get(on[1][x.work].ai_training, "unknown"),
                "why_before": on[0][x.work].why,
                "why_after": on[1][x.work].why,
            }
            for x in clip.layers
            if on[0][x.work].ai_training != on[1][x.work].ai_training
        ]
        if before != after or works:
            changed.append({"path": clip.path, "before": before, "after": after, "works": works})
    return {
        "as_of": [first.isoformat(), second.isoformat()],
        "territory": territory,
        "clips": len(report.clips),
        "changed": changed,
    }
