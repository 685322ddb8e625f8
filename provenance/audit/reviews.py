"""Review decisions and disputes, from the registry to the report: what every scan, render and service answer
applies (:func:`load_reviews`), a stored report brought up to the decisions in force (:func:`review_report`),
and where a clip named by its path in a report is (:func:`clip_sha256`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from provenance.audit.references import load_infos
from provenance.errors import ScanError
from provenance.report import ClipReviews, DisputeMark, Report, Review, exposure_summary, load_report, reviewed_again
from rightsdb import Registry
from rightsdb.disputes import list_disputes, open_disputes
from rightsdb.reviews import current_decisions, list_decisions
from rightsdb.reviewspec import check_clip

__all__ = ["Reviews", "clip_reviews", "clip_sha256", "load_reviews", "review_of", "review_report"]


def review_of(decision: dict[str, Any]) -> Review:
    """A decision (:func:`rightsdb.reviews.decision_dict`) as the report's ``review`` object."""
    review = Review(decision=decision["decision"], note=decision["note"], by=decision["by"], at=decision["at"])
    if decision.get("licence") is not None:
        review.licence = decision["licence"]
    if decision.get("dispute") is not None:
        review.dispute = decision["dispute"]
    return review


def _mark(dispute: dict[str, Any]) -> DisputeMark:
    return DisputeMark(
        id=dispute["id"], work=dispute["work"], holder=dispute["holder"], note=dispute["note"], at=dispute["at"]
    )


@dataclass(frozen=True, slots=True)
class Reviews:
    """Every decision in force and every open dispute of the registry, by clip content."""

    decisions: dict[str, dict[str, Review]] = field(default_factory=dict)
    disputes: dict[str, dict[str, list[DisputeMark]]] = field(default_factory=dict)

    def for_clip(self, sha256: str | None) -> ClipReviews | None:
        """What applies to the clip content ``sha256`` (None: nothing)."""
        if sha256 is None or (sha256 not in self.decisions and sha256 not in self.disputes):
            return None
        return ClipReviews(self.decisions.get(sha256, {}), self.disputes.get(sha256, {}))

    def open_disputes(self, shas: Iterable[str | None]) -> int:
        """How many open disputes the clips of these contents have (each content counted once)."""
        seen = {s for s in shas if s is not None}
        return sum(len(marks) for s in seen for marks in self.disputes.get(s, {}).values())

    @property
    def any_disputes(self) -> bool:
        return bool(self.disputes)


def load_reviews(registry: Registry) -> Reviews:
    """The registry's decisions in force and open disputes, as report objects."""
    decisions = {
        clip: {work: review_of(d) for work, d in works.items()} for clip, works in current_decisions(registry).items()
    }
    disputes: dict[str, dict[str, list[DisputeMark]]] = {}
    for clip, items in open_disputes(registry).items():
        for d in items:
            disputes.setdefault(clip, {}).setdefault(d["work"], []).append(_mark(d))
    return Reviews(decisions, disputes)


def clip_reviews(registry: Registry, sha256: str | None) -> ClipReviews | None:
    """What applies to one clip content (None: nothing), reading that clip's rows only (a single clip check)."""
    if sha256 is None:
        return None
    decisions = {d["work"]: review_of(d) for d in list_decisions(registry, sha256)}
    disputes: dict[str, list[DisputeMark]] = {}
    for d in list_disputes(registry, "open", clip=sha256):
        disputes.setdefault(d["work"], []).append(_mark(d))
    return ClipReviews(decisions, disputes) if decisions or disputes else None


def review_report(registry: Registry, report: Report) -> int:
    """Apply the registry's decisions in force and open disputes to a stored report's clips (by content sha256 and
    work), in place of those it was written with, as a scan's render would: the clips' layers, exposure and reason
    follow them, and so do the scan facts' ``summary`` and ``disputes_open``. Returns how many clips' decisions or
    disputes changed since the report was written. A work a decision adds takes the registry's terms as of the
    scan's ``as_of`` and ``territory``."""
    reviews = load_reviews(registry)
    facts = report.scan
    as_of = datetime.now(UTC).date()
    if facts is not None and facts.as_of:
        try:
            as_of = date.fromisoformat(facts.as_of)
        except ValueError:
            raise ScanError(f"scan.as_of: {facts.as_of!r} is not a date (YYYY-MM-DD)") from None
    territory = facts.territory if facts is not None else None
    infos = load_infos(registry)
    changed = 0
    for i, clip in enumerate(report.clips):
        report.clips[i], moved = reviewed_again(clip, reviews.for_clip(clip.sha256), infos, as_of, territory)
        changed += moved
    if facts is not None:
        if facts.summary is not None:
            facts.summary = {**facts.summary, **exposure_summary(report.clips)}
        if reviews.any_disputes or facts.disputes_open is not None:
            facts.disputes_open = reviews.open_disputes(c.sha256 for c in report.clips)
    return changed


def clip_sha256(clip: str, report: Path | None = None) -> str:
    """The sha256 a clip is named by: a sha256 itself, or a clip's ``path`` in the stored ``report`` (JSON).
    :class:`ScanError` naming the report when the path is not in it (or it has no sha256: never read)."""
    text = clip.strip()
    if report is None:
        if "/" in text or "." in text:  # a path: it is found in a report
            raise ScanError(f"clip: {text} is not a sha256; name a clip by its path with --report REPORT.json")
        return check_clip(text)
    loaded = load_report(report)
    for item in loaded.clips:
        if item.path == text or item.sha256 == text.lower():
            if item.sha256 is None:
                raise ScanError(f"{report}: clip {text} was not read (no sha256): nothing to review")
            return item.sha256
    raise ScanError(f"{report}: no clip with path {text}")
