"""Manifest import: apply a loaded :class:`~rightsdb.manifest.Manifest` to the store, all or nothing.

Import is one serialised transaction: either the whole manifest lands or nothing changes. Re-importing updates
rows in place; a row whose content is unchanged is not written at all, so importing the same manifest twice
leaves the database identical. Every work the import creates, and every work whose terms it changes, gets an
entry in its policy history (``policy_changes``, as the service's edits do), in the same transaction; the actor
is ``manifest import: <file>``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlmodel import Session, select

from ._errors import ManifestError
from .exports import policy_dict
from .manifest import HolderSpec, ImportReport, Manifest, ReferenceSpec, WorkSpec
from .models import Holder, PolicyChange, Reference, Work, utcnow
from .reviews import apply_reviews
from .store import Registry

log = logging.getLogger(__name__)

__all__ = ["import_actor", "import_manifest", "work_values"]

#: The length of ``policy_changes.actor``.
_ACTOR_MAX = 256
_ACTOR_PREFIX = "manifest import: "


def import_actor(name: str) -> str:
    """The policy history's actor for an import of the manifest file ``name``: ``manifest import: <name>``,
    the name cut at the front (``...``) when the whole would not fit the column."""
    room = _ACTOR_MAX - len(_ACTOR_PREFIX)
    if len(name) > room:
        name = "..." + name[len(name) - room + 3 :]
    return _ACTOR_PREFIX + name


def import_manifest(registry: Registry, manifest: Manifest) -> ImportReport:
    """Apply ``manifest`` to the registry in one serialised transaction (all or nothing).

    A work created, or one whose terms change, gets a :class:`PolicyChange` (actor :func:`import_actor`).
    """
    report = ImportReport()
    name = str(manifest.source)
    actor = import_actor(manifest.name or name)
    with registry.write() as session:
        known = set(session.exec(select(Holder.id)).all())
        declared = {h.id for h in manifest.holders}
        for i, work in enumerate(manifest.works):
            if work.holder not in declared and work.holder not in known:
                raise ManifestError(
                    name,
                    f"unknown holder {work.holder!r} (not in this manifest nor in the registry)",
                    entry=f"works[{i}] ({work.id})",
                    field="holder",
                )
        for holder in manifest.holders:
            _upsert_holder(session, holder, report)
        session.flush()
        for work in manifest.works:
            _upsert_work(session, work, report, actor)
        session.flush()
        report.reviews = apply_reviews(session, manifest.reviews, name)
    log.info("imported %s: created %s, updated %s", name, report.created, report.updated)
    return report


def _apply(row: Any, values: Mapping[str, Any]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


def _count(report: ImportReport, what: str, outcome: str) -> None:
    getattr(report, outcome)[what] += 1


def _upsert_holder(session: Session, spec: HolderSpec, report: ImportReport) -> None:
    values: dict[str, Any] = {"name": spec.name, "kind": spec.kind}
    row = session.get(Holder, spec.id)
    if row is None:
        session.add(Holder(id=spec.id, **values))
        _count(report, "holders", "created")
    elif _apply(row, values):
        row.updated_at = utcnow()
        session.add(row)
        _count(report, "holders", "updated")
    else:
        _count(report, "holders", "unchanged")


def work_values(spec: WorkSpec) -> dict[str, Any]:
    """A work's column values as a manifest (or a rights pack) states them."""
    p = spec.policy
    return {
        "title": spec.title,
        "holder_id": spec.holder,
        "layer": spec.layer,
        "ai_training": p.ai_training,
        "license": p.license,
        "territories": list(p.territories) if p.territories is not None else None,
        "valid_from": p.valid_from,
        "valid_until": p.valid_until,
        "terms_source": p.source,
        "terms_url": p.url,
    }


def _reference_values(spec: ReferenceSpec) -> dict[str, Any]:
    m = spec.media
    return {
        "kind": spec.kind,
        "sha256": spec.sha256,
        "size_bytes": spec.size_bytes,
        "media_kind": m.kind,
        "width": m.width,
        "height": m.height,
        "duration_s": round(float(m.duration_s), 6),
        "fps": round(float(m.fps), 6),
        "frame_count": int(m.frame_count),
        "location": str(spec.location),
        "pack_id": None,  # a file the manifest lists: no longer a rights pack's reference
    }


def _upsert_work(session: Session, spec: WorkSpec, report: ImportReport, actor: str) -> None:
    row = session.get(Work, spec.id)
    values = work_values(spec)
    if row is None:
        work = Work(id=spec.id, **values)
        session.add(work)
        session.add(PolicyChange(work_id=spec.id, actor=actor, before=None, after=policy_dict(work)))
        _count(report, "works", "created")
        session.flush()
    else:
        before = policy_dict(row)
        if _apply(row, values):
            row.updated_at = utcnow()
            session.add(row)
            _count(report, "works", "updated")
            after = policy_dict(row)
            if after != before:
                session.add(PolicyChange(work_id=spec.id, actor=actor, before=before, after=after))
        else:
            _count(report, "works", "unchanged")

    existing = {r.path: r for r in session.exec(select(Reference).where(Reference.work_id == spec.id)).all()}
    wanted = {r.path for r in spec.references}
    for path, ref_row in existing.items():
        if path not in wanted:
            session.delete(ref_row)
            report.removed_references += 1
    for ref in spec.references:
        values = _reference_values(ref)
        found = existing.get(ref.path)
        if found is None:
            ref_row = Reference(work_id=spec.id, path=ref.path, **values)
            session.add(ref_row)
            session.flush()
            _count(report, "references", "created")
            report.changed_reference_ids.append(int(ref_row.id or 0))
        else:
            content_changed = found.sha256 != ref.sha256
            if _apply(found, values):
                found.updated_at = utcnow()
                session.add(found)
                _count(report, "references", "updated")
                if content_changed:
                    report.changed_reference_ids.append(int(found.id or 0))
            else:
                _count(report, "references", "unchanged")
