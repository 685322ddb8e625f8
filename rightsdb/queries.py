"""Read queries the service (and other tools) run on the registry: holders, works, stored findings.

Pagination is by keyset: a page is the rows after an id, in id order, so a page never repeats or skips
rows when others are added meanwhile.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlmodel import col, select

from ._errors import NotFoundError
from .manifest import _policy_dict
from .models import ClipResult, Holder, PolicyChange, Reference, Work
from .store import Registry

__all__ = ["FindingFilter", "FindingRow", "find_findings", "get_work", "holder_dict", "list_holders",
           "list_works", "policy_history", "stored_results", "work_dict"]


def holder_dict(h: Holder) -> dict[str, Any]:
    return {"id": h.id, "name": h.name, "kind": h.kind, "created_at": h.created_at.isoformat(),
            "updated_at": h.updated_at.isoformat()}


def work_dict(w: Work, refs: list[Reference]) -> dict[str, Any]:
    return {
        "id": w.id, "title": w.title, "holder": w.holder_id, "layer": w.layer, "policy": _policy_dict(w),
        "references": [{"path": r.path, "kind": r.kind, "sha256": r.sha256, "media_kind": r.media_kind,
                        "width": r.width, "height": r.height, "duration_s": r.duration_s}
                       for r in sorted(refs, key=lambda r: r.path)],
        "created_at": w.created_at.isoformat(), "updated_at": w.updated_at.isoformat(),
    }


def list_holders(registry: Registry, holder_id: str | None = None) -> list[dict[str, Any]]:
    """Every holder (or only ``holder_id``), by id."""
    with registry.session() as session:
        q = select(Holder).order_by(col(Holder.id))
        if holder_id is not None:
            q = q.where(Holder.id == holder_id)
        return [holder_dict(h) for h in session.exec(q).all()]


def list_works(registry: Registry, holder_id: str | None = None, layer: str | None = None) -> list[dict[str, Any]]:
    """Every work (optionally of one holder, in one layer) with its policy and references, by id."""
    with registry.session() as session:
        q = select(Work).order_by(col(Work.id))
        if holder_id is not None:
            q = q.where(Work.holder_id == holder_id)
        if layer is not None:
            q = q.where(Work.layer == layer)
        works = session.exec(q).all()
        ids = [w.id for w in works]
        refs: dict[str, list[Reference]] = {}
        if ids:
            for r in session.exec(select(Reference).where(col(Reference.work_id).in_(ids))).all():
                refs.setdefault(r.work_id, []).append(r)
        return [work_dict(w, refs.get(w.id, [])) for w in works]


def get_work(registry: Registry, work_id: str) -> dict[str, Any]:
    """One work; :class:`NotFoundError` when there is none."""
    with registry.session() as session:
        w = session.get(Work, work_id)
        if w is None:
            raise NotFoundError(f"work: no work with id {work_id!r}")
        refs = list(session.exec(select(Reference).where(Reference.work_id == work_id)).all())
        return work_dict(w, refs)


def policy_history(registry: Registry, work_id: str) -> list[dict[str, Any]]:
    """The changes of a work's terms, oldest first."""
    with registry.session() as session:
        rows = session.exec(select(PolicyChange).where(PolicyChange.work_id == work_id)
                            .order_by(col(PolicyChange.id))).all()
    return [{"id": r.id, "work": r.work_id, "actor": r.actor, "changed_at": r.changed_at.isoformat(),
             "before": r.before, "after": r.after} for r in rows]


@dataclass(frozen=True, slots=True)
class FindingFilter:
    holder: str | None = None
    work: str | None = None
    layer: str | None = None
    exposure: str | None = None
    scan: str | None = None


@dataclass(frozen=True, slots=True)
class FindingRow:
    id: int
    scan: str
    path: str
    sha256: str | None
    exposure: str
    duration_s: float | None
    layer: str
    holder: str
    work: str
    ai_training: str
    confidence: float
    segments_json: str  # the stored JSON text of the segments (passed through, not decoded)

    @property
    def segments(self) -> list[dict[str, Any]]:
        value: list[dict[str, Any]] = json.loads(self.segments_json)
        return value


_FINDINGS_SQL = (
    "SELECT f.id, c.scan_id, c.path, c.sha256, c.exposure, c.duration_s, f.layer, f.holder_id, f.work_id, "
    "f.ai_training, f.confidence, f.segments FROM findings f JOIN clip_results c ON c.id = f.clip_id"
)


def find_findings(registry: Registry, flt: FindingFilter, after: int | None, limit: int
                  ) -> tuple[list[FindingRow], int | None]:
    """Stored findings matching ``flt`` with ids above ``after``, by id; returns the page and the id to
    continue after (None on the last page).

    This is the service's hot path: one plain SQL statement (bound parameters, no ORM), segments passed on
    as the JSON text they are stored as.
    """
    where: list[str] = []
    params: dict[str, Any] = {"limit": limit + 1}
    for column, name, value in (("f.holder_id", "holder", flt.holder), ("f.work_id", "work", flt.work),
                                ("f.layer", "layer", flt.layer), ("c.exposure", "exposure", flt.exposure),
                                ("c.scan_id", "scan", flt.scan), ("f.id", "after", after)):
        if value is not None:
            where.append(f"{column} {'>' if name == 'after' else '='} :{name}")
            params[name] = value
    sql = _FINDINGS_SQL + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY f.id LIMIT :limit"
    with registry.engine.connect() as conn:
        rows = conn.execute(text(sql), params).all()
    page = [FindingRow(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], float(r[10]),
                       r[11] if isinstance(r[11], str) else json.dumps(r[11]))
            for r in rows[:limit]]
    return page, (page[-1].id if len(rows) > limit else None)


def stored_results(registry: Registry, sha256: str) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    """Stored results of a clip's content, newest first: ``(scan id, path, cache key, raw result)``."""
    with registry.session() as session:
        rows = session.exec(select(ClipResult).where(ClipResult.sha256 == sha256)
                            .order_by(col(ClipResult.id).desc())).all()
    return [(r.scan_id, r.path, r.cache_key, dict(r.result)) for r in rows]
