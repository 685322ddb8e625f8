"""Disputes: a rights holder contests a finding on one of its works in a clip content (or claims a clip the audit
cleared: the clip's sha256 and one of its own works), with a note. Auditors list them and resolve each into a
review decision (:mod:`rightsdb.reviews`), in one transaction. Which holder may dispute which work is the
caller's check (the service answers 403); the dispute is the work's holder's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select

from ._errors import ConflictError, NotFoundError
from .models import Dispute, DisputeStatus, GenericStretch, Work, utcnow
from .reviews import GenericSpec, add_decision, decision_dict
from .reviewspec import check_clip, check_note
from .store import Registry

__all__ = ["dispute_dict", "list_disputes", "open_dispute", "open_disputes", "resolve_dispute", "work_holder"]


def _iso(at: datetime | None) -> str | None:
    if at is None:
        return None
    return (at.astimezone(UTC) if at.tzinfo is not None else at.replace(tzinfo=UTC)).isoformat()


def dispute_dict(row: Dispute) -> dict[str, Any]:
    return {
        "id": int(row.id or 0),
        "clip": row.clip_sha256,
        "work": row.work_id,
        "holder": row.holder_id,
        "note": row.note,
        "by": row.actor,
        "at": _iso(row.opened_at),
        "status": row.status,
        "resolved_at": _iso(row.resolved_at),
        "decision": row.decision_id,
    }


def work_holder(registry: Registry, work: str) -> str:
    """The holder of ``work``; :class:`NotFoundError` when there is no such work."""
    with registry.session() as session:
        row = session.get(Work, work)
    if row is None:
        raise NotFoundError(f"work: no work with id {work!r}")
    return row.holder_id


def open_dispute(registry: Registry, clip: str, work: str, note: str, actor: str) -> dict[str, Any]:
    """Open a dispute on ``work`` in the clip ``clip`` (sha256); :class:`ConflictError` when the same work in the
    same clip has an open dispute already."""
    clip = check_clip(clip)
    text = check_note(note, "note") or ""
    by = check_note(actor, "by", 256) or ""
    with registry.write() as session:
        row = session.get(Work, work)
        if row is None:
            raise NotFoundError(f"work: no work with id {work!r}")
        same = session.exec(
            select(Dispute).where(
                Dispute.clip_sha256 == clip, Dispute.work_id == work, Dispute.status == DisputeStatus.open.value
            )
        ).first()
        if same is not None:
            raise ConflictError(f"dispute: work {work!r} in clip {clip[:12]} has an open dispute already ({same.id})")
        dispute = Dispute(clip_sha256=clip, work_id=work, holder_id=row.holder_id, note=text, actor=by)
        session.add(dispute)
        session.flush()
        return dispute_dict(dispute)


def list_disputes(
    registry: Registry, status: str | None = None, holder: str | None = None, clip: str | None = None
) -> list[dict[str, Any]]:
    """Disputes, oldest first; filtered by status (open, resolved), holder and clip."""
    query = select(Dispute).order_by(col(Dispute.id))
    if status is not None:
        query = query.where(Dispute.status == status)
    if holder is not None:
        query = query.where(Dispute.holder_id == holder)
    if clip is not None:
        query = query.where(Dispute.clip_sha256 == check_clip(clip))
    with registry.session() as session:
        return [dispute_dict(r) for r in session.exec(query).all()]


def open_disputes(registry: Registry) -> dict[str, list[dict[str, Any]]]:
    """Open disputes by clip sha256."""
    found: dict[str, list[dict[str, Any]]] = {}
    for d in list_disputes(registry, DisputeStatus.open.value):
        found.setdefault(d["clip"], []).append(d)
    return found


def resolve_dispute(
    registry: Registry,
    dispute_id: int,
    decision: str,
    note: str,
    actor: str,
    *,
    licence: str | None = None,
    generic: GenericSpec | None = None,
) -> dict[str, Any]:
    """Resolve an open dispute into a decision on its clip and work, in one transaction: ``{"dispute",
    "decision"}``. :class:`NotFoundError` for no such dispute, :class:`ConflictError` when it is resolved."""
    with registry.write() as session:
        row = session.get(Dispute, dispute_id)
        if row is None:
            raise NotFoundError(f"dispute: no dispute with id {dispute_id}")
        if row.status != DisputeStatus.open.value:
            raise ConflictError(f"dispute: {dispute_id} is resolved already (decision {row.decision_id})")
        made = add_decision(
            session,
            row.clip_sha256,
            row.work_id,
            decision,
            note,
            actor,
            licence=licence,
            generic=generic,
            dispute_id=dispute_id,
        )
        row.status = DisputeStatus.resolved.value
        row.resolved_at = utcnow()
        row.decision_id = made.id
        session.add(row)
        session.flush()
        stretch = session.exec(select(GenericStretch).where(GenericStretch.decision_id == made.id)).first()
        return {"dispute": dispute_dict(row), "decision": decision_dict(made, stretch, current=True)}
