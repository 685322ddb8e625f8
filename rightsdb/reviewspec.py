"""What a review decision is made of, checked once: the clip (sha256), the decision, its note and licence, a
generic stretch of a reference; and the manifest's optional ``reviews:`` section, which carries decisions
through a registry's export and import::

    reviews:
      - clip: 9f2c...                       # sha256 of the clip's bytes (lower-case hex)
        work: acme-racer
        decision: false_match               # confirmed | false_match | licensed
        note: the menu screen every game of this engine shares
        licence: null                       # required for licensed: the licence's reference
        by: cli:alice                       # who decided
        at: 2026-12-04T10:00:00+00:00       # when (ISO 8601)
        exclude: {reference: footage/acme-racer-trailer.mp4, ref_start: 0.0, ref_end: 4.0}  # optional

A manifest without ``reviews`` imports exactly as before.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ._errors import ManifestError, RegistryError
from .models import Decision
from .validation import control_problem, shown

__all__ = [
    "DECISIONS",
    "GenericSpec",
    "ReviewSpec",
    "check_clip",
    "check_decision",
    "check_note",
    "parse_reviews",
]

DECISIONS: tuple[str, ...] = tuple(d.value for d in Decision)
_SHA = re.compile(r"^[0-9a-f]{64}$")
_REVIEW_KEYS = frozenset({"clip", "work", "decision", "note", "licence", "by", "at", "exclude"})
_EXCLUDE_KEYS = frozenset({"reference", "ref_start", "ref_end"})
NOTE_MAX = 4096
LICENCE_MAX = 512


@dataclass(frozen=True, slots=True)
class GenericSpec:
    """A stretch of a reference (``ref_start``-``ref_end`` seconds) or, without times, the whole reference."""

    path: str
    ref_start: float | None = None
    ref_end: float | None = None


@dataclass(frozen=True, slots=True)
class ReviewSpec:
    """One decision as a manifest states it."""

    clip: str
    work: str
    decision: str
    note: str
    licence: str | None
    by: str
    at: datetime
    exclude: GenericSpec | None = None


def check_clip(value: str) -> str:
    """A clip's sha256 (lower-cased); :class:`RegistryError` when it is not 64 hex digits."""
    clip = value.strip().lower() if isinstance(value, str) else ""
    if not _SHA.match(clip):
        raise RegistryError(f"clip: {shown(value)} is not a clip's sha256 (64 hex digits)")
    return clip


def check_note(value: str | None, fld: str, limit: int = NOTE_MAX, *, required: bool = True) -> str | None:
    """Free text (tab and line breaks allowed), stripped; :class:`RegistryError` naming ``fld``."""
    text = value.strip() if isinstance(value, str) else None
    if not text:
        if required:
            raise RegistryError(f"{fld}: is required (say why)")
        return None
    if len(text) > limit:
        raise RegistryError(f"{fld}: longer than {limit} characters")
    problem = control_problem(text, free_text=fld == "note")
    if problem is not None:
        raise RegistryError(f"{fld}: {problem}")
    return text


def check_decision(decision: str, licence: str | None, exclude: GenericSpec | None) -> str | None:
    """The licence reference a decision keeps (None unless ``licensed``); :class:`RegistryError` for a decision
    not in :data:`DECISIONS`, a ``licensed`` one without licence, or a generic stretch on another decision."""
    if decision not in DECISIONS:
        raise RegistryError(f"decision: {shown(decision)} is not one of: {', '.join(DECISIONS)}")
    lic = check_note(licence, "licence", LICENCE_MAX, required=False)
    if decision == "licensed" and lic is None:
        raise RegistryError("licence: a licensed decision needs the licence's reference (--licence REF)")
    if decision != "licensed" and lic is not None:
        raise RegistryError(f"licence: only a licensed decision has one, not {decision}")
    if exclude is not None:
        if decision != "false_match":
            raise RegistryError("reference: only a false_match decision can mark a reference generic")
        start, end = exclude.ref_start, exclude.ref_end
        if (start is None) != (end is None):
            raise RegistryError("ref_start, ref_end: give both (a stretch) or neither (the whole reference)")
        stretch = start is not None and end is not None
        if stretch and not (math.isfinite(start or 0) and math.isfinite(end or 0) and 0 <= (start or 0) < (end or 0)):
            raise RegistryError(f"ref_start, ref_end: {start}-{end} is not a stretch of seconds")
    return lic


# ---------------------------------------------------------------------------------------------------------
# the manifest's reviews section
# ---------------------------------------------------------------------------------------------------------


def _key(key: Any) -> str:
    plain = isinstance(key, str) and len(key) <= 64 and control_problem(key) is None
    return str(key) if plain else shown(key)


def _seconds(file: str, entry: str, fld: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ManifestError(file, f"{shown(value)} is not a number of seconds", entry=entry, field=fld)
    return float(value)


def _when(file: str, entry: str, value: Any) -> datetime:
    if isinstance(value, datetime):
        at = value
    elif isinstance(value, str):
        try:
            at = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ManifestError(file, f"{shown(value)} is not a time (ISO 8601)", entry=entry, field="at") from None
    else:
        raise ManifestError(file, "is required (ISO 8601 time of the decision)", entry=entry, field="at")
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _exclude(file: str, entry: str, value: Any) -> GenericSpec | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ManifestError(file, "must be a mapping (reference, ref_start, ref_end)", entry=entry, field="exclude")
    for key in value:
        if key not in _EXCLUDE_KEYS:
            raise ManifestError(
                file,
                f"unknown field (expected one of: {', '.join(sorted(_EXCLUDE_KEYS))})",
                entry=entry,
                field=f"exclude.{shown(key)}",
            )
    path = value.get("reference")
    if not isinstance(path, str) or not path.strip() or control_problem(path) is not None:
        raise ManifestError(file, "must name one of the work's references", entry=entry, field="exclude.reference")
    start = _seconds(file, entry, "exclude.ref_start", value.get("ref_start"))
    end = _seconds(file, entry, "exclude.ref_end", value.get("ref_end"))
    return GenericSpec(path.strip(), start, end)


def _review(file: str, entry: str, item: Any) -> ReviewSpec:
    if not isinstance(item, Mapping):
        raise ManifestError(file, "must be a mapping", entry=entry)
    for key in item:
        if key not in _REVIEW_KEYS:
            expected = ", ".join(sorted(_REVIEW_KEYS))
            raise ManifestError(file, f"unknown field (expected one of: {expected})", entry=entry, field=_key(key))
    try:
        clip = check_clip(item.get("clip", ""))
        work = item.get("work")
        if not isinstance(work, str) or not work.strip():
            raise RegistryError("work: is required (a work's id)")
        decision = item.get("decision")
        exclude = _exclude(file, entry, item.get("exclude"))
        licence = check_decision(
            decision if isinstance(decision, str) else shown(decision), item.get("licence"), exclude
        )
        note = check_note(item.get("note"), "note") or ""
        by = check_note(item.get("by"), "by", 256) or ""
    except RegistryError as exc:
        fld, _, message = str(exc).partition(": ")
        raise ManifestError(file, message, entry=entry, field=fld) from None
    return ReviewSpec(clip, work.strip(), str(decision), note, licence, by, _when(file, entry, item.get("at")), exclude)


def parse_reviews(file: str, value: Any) -> tuple[ReviewSpec, ...]:
    """The manifest's ``reviews`` list, checked; :class:`ManifestError` naming ``reviews[i]`` and the field."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ManifestError(file, "must be a list", field="reviews")
    return tuple(_review(file, f"reviews[{i}]", item) for i, item in enumerate(value))
