"""Review decisions: a person's ``confirmed``, ``false_match`` or ``licensed`` on one work in one clip content.

A decision is never changed: a new decision on the same clip and work supersedes the one in force (the latest
``decided_at``, then the highest id) and every earlier one stays listable (``history``). A ``false_match`` may
also mark a stretch of one of the work's references, or the whole reference, as generic (content every work of
its kind shares): while that decision is in force and the reference's content is the one marked, the stretch is
not matched (:func:`generic_stretches`; the scan's match key and the registry digest change with it, so stored
clip results are matched again). The manifest's ``reviews:`` section carries decisions through export and
import (:func:`review_section`, :func:`apply_reviews`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from ._errors import ManifestError, NotFoundError, RegistryError
from .models import GenericStretch, Reference, ReviewDecision, Work
from .reviewspec import GenericSpec, ReviewSpec, check_clip, check_decision, check_note
from .store import Registry

__all__ = [
    "GenericSpec",
    "add_decision",
    "apply_reviews",
    "current_decisions",
    "decision_dict",
    "generic_rows",
    "generic_stretches",
    "list_decisions",
    "record_decision",
    "review_section",
]

Stretch = tuple[str, str, str, float | None, float | None]  # (work, reference path, sha256, start, end)


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC) if at.tzinfo is not None else at.replace(tzinfo=UTC)


def add_decision(
    session: Session,
    clip: str,
    work: str,
    decision: str,
    note: str,
    actor: str,
    *,
    licence: str | None = None,
    generic: GenericSpec | None = None,
    at: datetime | None = None,
    dispute_id: int | None = None,
) -> ReviewDecision:
    """Check and add one decision in ``session`` (the caller's transaction); :class:`RegistryError` naming the
    field, :class:`NotFoundError` for an unknown work or reference."""
    clip = check_clip(clip)
    lic = check_decision(decision, licence, generic)
    text = check_note(note, "note") or ""
    by = check_note(actor, "by", 256) or ""
    if session.get(Work, work) is None:
        raise NotFoundError(f"work: no work with id {work!r}")
    ref = None
    if generic is not None:
        ref = session.exec(select(Reference).where(Reference.work_id == work, Reference.path == generic.path)).first()
        if ref is None:
            raise NotFoundError(f"reference: work {work!r} has no reference {generic.path!r}")
        if generic.ref_start is not None and ref.kind == "asset":
            raise RegistryError(f"ref_start, ref_end: {generic.path} is a still (an asset): mark it whole")
    row = ReviewDecision(
        clip_sha256=clip, work_id=work, decision=decision, note=text, licence=lic, actor=by, dispute_id=dispute_id
    )
    if at is not None:
        row.decided_at = _utc(at)
    session.add(row)
    session.flush()
    if ref is not None and generic is not None:
        session.add(
            GenericStretch(
                decision_id=int(row.id or 0),
                work_id=work,
                path=ref.path,
                sha256=ref.sha256,
                ref_start=generic.ref_start,
                ref_end=generic.ref_end,
            )
        )
        session.flush()
    return row


def record_decision(
    registry: Registry,
    clip: str,
    work: str,
    decision: str,
    note: str,
    actor: str,
    *,
    licence: str | None = None,
    generic: GenericSpec | None = None,
) -> dict[str, Any]:
    """Record a decision (superseding the one in force on the same clip and work) in one transaction."""
    with registry.write() as session:
        row = add_decision(session, clip, work, decision, note, actor, licence=licence, generic=generic)
        stretch = session.exec(select(GenericStretch).where(GenericStretch.decision_id == row.id)).first()
        return decision_dict(row, stretch, current=True)


def decision_dict(row: ReviewDecision, stretch: GenericStretch | None = None, *, current: bool) -> dict[str, Any]:
    """A decision as the CLI, the service and the report show it."""
    return {
        "id": int(row.id or 0),
        "clip": row.clip_sha256,
        "work": row.work_id,
        "decision": row.decision,
        "note": row.note,
        "licence": row.licence,
        "by": row.actor,
        "at": _utc(row.decided_at).isoformat(),
        "dispute": row.dispute_id,
        "current": current,
        "generic": (
            {"reference": stretch.path, "ref_start": stretch.ref_start, "ref_end": stretch.ref_end}
            if stretch is not None
            else None
        ),
    }


def _ordered(session: Session, clip: str | None = None, work: str | None = None) -> list[ReviewDecision]:
    query = select(ReviewDecision)
    if clip is not None:
        query = query.where(ReviewDecision.clip_sha256 == clip)
    if work is not None:
        query = query.where(ReviewDecision.work_id == work)
    rows = list(session.exec(query).all())
    rows.sort(key=lambda r: (_utc(r.decided_at), r.id or 0))
    return rows


def _current_ids(rows: Iterable[ReviewDecision]) -> set[int]:
    latest: dict[tuple[str, str], int] = {}
    for row in rows:  # in order: the last one of each (clip, work) is in force
        latest[(row.clip_sha256, row.work_id)] = int(row.id or 0)
    return set(latest.values())


def list_decisions(
    registry: Registry,
    clip: str | None = None,
    work: str | None = None,
    *,
    history: bool = False,
    holder: str | None = None,
) -> list[dict[str, Any]]:
    """Decisions in force (every one with ``history``), oldest first; ``holder``: on its works only."""
    clip = check_clip(clip) if clip is not None else None
    with registry.session() as session:
        rows = _ordered(session, clip, work)
        current = _current_ids(rows)
        stretches = {s.decision_id: s for s in session.exec(select(GenericStretch)).all()}
        owned = None
        if holder is not None:
            owned = set(session.exec(select(Work.id).where(Work.holder_id == holder)).all())
    return [
        decision_dict(r, stretches.get(int(r.id or 0)), current=int(r.id or 0) in current)
        for r in rows
        if (history or int(r.id or 0) in current) and (owned is None or r.work_id in owned)
    ]


def current_decisions(registry: Registry) -> dict[str, dict[str, dict[str, Any]]]:
    """The decisions in force: clip sha256 -> work -> decision (:func:`decision_dict`)."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for d in list_decisions(registry):
        found.setdefault(d["clip"], {})[d["work"]] = d
    return found


def generic_rows(session: Session) -> list[Stretch]:
    """The generic stretches in force: their false-match decision is the one in force on its clip and work, and
    the reference still holds the content marked. Sorted, so that digests built on them are stable."""
    stretches = session.exec(select(GenericStretch).order_by(col(GenericStretch.id))).all()
    if not stretches:
        return []
    current = _current_ids(_ordered(session))
    refs = {(r.work_id, r.path): r.sha256 for r in session.exec(select(Reference)).all()}
    rows = [
        (s.work_id, s.path, s.sha256, s.ref_start, s.ref_end)
        for s in stretches
        if s.decision_id in current and refs.get((s.work_id, s.path)) == s.sha256
    ]
    return sorted(rows, key=lambda r: (r[0], r[1], r[3] if r[3] is not None else -1.0, r[4] or 0.0))


def generic_stretches(registry: Registry) -> list[Stretch]:
    """:func:`generic_rows` of the registry."""
    with registry.session() as session:
        return generic_rows(session)


# ---------------------------------------------------------------------------------------------------------
# export and import (the manifest's reviews section)
# ---------------------------------------------------------------------------------------------------------


def review_section(session: Session) -> list[dict[str, Any]]:
    """Every decision, oldest first, as the manifest's ``reviews`` section states it."""
    stretches = {s.decision_id: s for s in session.exec(select(GenericStretch)).all()}
    out: list[dict[str, Any]] = []
    for row in _ordered(session):
        item: dict[str, Any] = {
            "clip": row.clip_sha256,
            "work": row.work_id,
            "decision": row.decision,
            "note": row.note,
        }
        if row.licence is not None:
            item["licence"] = row.licence
        item["by"] = row.actor
        item["at"] = _utc(row.decided_at).isoformat()
        stretch = stretches.get(int(row.id or 0))
        if stretch is not None:
            exclude: dict[str, Any] = {"reference": stretch.path}
            if stretch.ref_start is not None:
                exclude.update(ref_start=stretch.ref_start, ref_end=stretch.ref_end)
            item["exclude"] = exclude
        out.append(item)
    return out


def apply_reviews(session: Session, specs: Iterable[ReviewSpec], file: str) -> int:
    """Add the manifest's decisions that the registry does not hold yet (the same clip, work, decision, note,
    licence, author and time: importing twice adds nothing); returns how many were added. :class:`ManifestError`
    naming ``reviews[i]`` for a decision on an unknown work or reference."""
    have = {
        (r.clip_sha256, r.work_id, r.decision, r.note, r.licence, r.actor, _utc(r.decided_at))
        for r in session.exec(select(ReviewDecision)).all()
    }
    added = 0
    for i, spec in enumerate(specs):
        key = (spec.clip, spec.work, spec.decision, spec.note, spec.licence, spec.by, _utc(spec.at))
        if key in have:
            continue
        try:
            add_decision(
                session,
                spec.clip,
                spec.work,
                spec.decision,
                spec.note,
                spec.by,
                licence=spec.licence,
                generic=spec.exclude,
                at=spec.at,
            )
        except RegistryError as exc:
            fld, _, message = str(exc).partition(": ")
            raise ManifestError(file, message, entry=f"reviews[{i}]", field=fld) from None
        have.add(key)
        added += 1
    return added
