"""Rights packs in the registry: a holder's works, terms (with their history), references and stored fingerprints,
read out to build a pack and written in, all or nothing, when a pack is imported.

A pack holds no footage: its references are rows whose ``pack_id`` names the pack (the sha256 of its manifest)
and whose ``location`` is ``pack:<id>`` (no file). What the engine needs of them is stored as for any reference,
content-addressed in ``fingerprints`` (footage prints; an asset's pixels under its own algorithm name), and the
pack's evidence thumbnails in ``reference_thumbnails``. The pack file itself (its format, checksums, signature)
is the audit's (:mod:`provenance.audit.packfile`); what a pack states is checked by :mod:`rightsdb.packspec`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from ._errors import ManifestError, NotFoundError
from .exports import policy_dict
from .imports import work_values
from .manifest import HolderSpec, ImportReport, MediaFacts, WorkSpec, parse_policy
from .models import Fingerprint, Holder, Pack, PolicyChange, Reference, ReferenceThumbnail, Work, utcnow
from .packspec import (
    PACK_LOCATION,
    PackContent,
    PackInfo,
    PackReference,
    PackWork,
    StoredPrint,
    as_utc,
    parse_pack_works,
)
from .references import add_fingerprint, fingerprint_blobs
from .store import Registry

__all__ = [
    "PACK_LOCATION",
    "PackContent",
    "PackInfo",
    "PackReference",
    "PackWork",
    "StoredPrint",
    "holder_pack",
    "import_pack",
    "pack_actor",
    "pack_reference_contents",
    "pack_references",
    "parse_pack_works",
    "stored_prints",
    "stored_thumbnails",
]

# ---------------------------------------------------------------------------------------------------------
# out: what a pack of a holder holds
# ---------------------------------------------------------------------------------------------------------


def holder_pack(
    registry: Registry, holder_id: str, work_ids: list[str] | None = None
) -> tuple[HolderSpec, list[tuple[PackWork, list[Reference]]]]:
    """A holder and its works (all, or those of ``work_ids``, in that order) with their terms, history and
    reference rows (in reference id order): what a pack of them states. :class:`NotFoundError` for an unknown
    holder or work, or a work of another holder."""
    with registry.session() as session:
        holder = session.get(Holder, holder_id)
        if holder is None:
            raise NotFoundError(f"holder: no holder with id {holder_id!r}")
        if work_ids:
            works = []
            for wid in dict.fromkeys(work_ids):
                work = session.get(Work, wid)
                if work is None:
                    raise NotFoundError(f"work: no work with id {wid!r}")
                if work.holder_id != holder_id:
                    raise NotFoundError(f"work: {wid!r} is a work of holder {work.holder_id!r}, not {holder_id!r}")
                works.append(work)
        else:
            works = list(session.exec(select(Work).where(Work.holder_id == holder_id).order_by(col(Work.id))).all())
        out: list[tuple[PackWork, list[Reference]]] = []
        for work in works:
            refs = list(
                session.exec(select(Reference).where(Reference.work_id == work.id).order_by(col(Reference.id))).all()
            )
            changes = session.exec(
                select(PolicyChange).where(PolicyChange.work_id == work.id).order_by(col(PolicyChange.id))
            ).all()
            history = tuple(
                {"actor": c.actor, "changed_at": as_utc(c.changed_at).isoformat(), "before": c.before, "after": c.after}
                for c in changes
            )
            pack_refs = tuple(
                PackReference(
                    r.path,
                    r.kind,
                    r.sha256,
                    r.size_bytes,
                    MediaFacts(r.media_kind, r.width, r.height, r.duration_s, r.fps, r.frame_count),
                )
                for r in refs
            )
            out.append((PackWork(work.id, work.title, work.layer, policy_dict(work), history, pack_refs), refs))
    return HolderSpec(holder.id, holder.name, holder.kind), out


def stored_prints(registry: Registry, shas: set[str], algorithm: str, version: str) -> dict[str, StoredPrint]:
    """The stored fingerprints of ``algorithm`` at ``version`` of these contents, by content."""
    with registry.session() as session:
        rows = session.exec(
            select(Fingerprint).where(
                Fingerprint.algorithm == algorithm, Fingerprint.version == version, col(Fingerprint.sha256).in_(shas)
            )
        ).all()
        return {
            r.sha256: StoredPrint(
                r.sha256, r.algorithm, r.version, dict(r.params), r.count, fingerprint_blobs(session, r)
            )
            for r in rows
        }


def stored_thumbnails(registry: Registry, shas: set[str]) -> dict[str, list[tuple[float, bytes]]]:
    """The evidence thumbnails stored for these contents (from rights packs), by content, in time order."""
    with registry.session() as session:
        rows = session.exec(
            select(ReferenceThumbnail)
            .where(col(ReferenceThumbnail.sha256).in_(shas))
            .order_by(col(ReferenceThumbnail.sha256), col(ReferenceThumbnail.time_s))
        ).all()
    out: dict[str, list[tuple[float, bytes]]] = {}
    for r in rows:
        out.setdefault(r.sha256, []).append((float(r.time_s), r.image))
    return out


def pack_reference_contents(registry: Registry) -> dict[str, str]:
    """The references that came from a rights pack, by the path the report names them by: path -> content."""
    with registry.session() as session:
        rows = session.exec(
            select(Reference.path, Reference.sha256)
            .where(col(Reference.pack_id).is_not(None))
            .order_by(col(Reference.id))
        ).all()
    out: dict[str, str] = {}
    for path, sha in rows:
        out.setdefault(path, sha)
    return out


def pack_references(registry: Registry) -> dict[int, str]:
    """The references that came from a rights pack (no file): reference id -> pack id."""
    with registry.session() as session:
        rows = session.exec(select(Reference.id, Reference.pack_id).where(col(Reference.pack_id).is_not(None))).all()
    return {int(rid or 0): str(pid) for rid, pid in rows}


def pack_actor(name: str) -> str:
    """The policy history's actor for the import of the pack file ``name``: ``pack import: <name>``, the name cut
    at the front (``...``) when the whole would not fit the column."""
    prefix = "pack import: "
    room = 256 - len(prefix)
    if len(name) > room:
        name = "..." + name[len(name) - room + 3 :]
    return prefix + name


def import_pack(registry: Registry, content: PackContent) -> ImportReport:
    """Add a checked pack to the registry in one serialised transaction (all or nothing); re-importing it
    changes nothing, and a newer pack of the same works updates them in place.

    The holder and its works are created or updated; each work's references become the pack's (those it no
    longer lists are removed, as a manifest import does); the pack's policy history entries not yet known are
    added, then, when this import creates a work or changes its terms, an entry of its own
    (:func:`pack_actor`). A work the registry holds under another holder is refused (:class:`ManifestError`).
    """
    info = content.info
    report = ImportReport()
    actor = pack_actor(info.source)
    location = PACK_LOCATION + info.id
    with registry.write() as session:
        _holder(session, content.holder, report)
        session.flush()
        for i, work in enumerate(content.works):
            _work(session, content.holder.id, work, report, actor, f"works[{i}] ({work.id})", info.source)
            _refs(session, work, report, location, info.id)
        for fp in content.prints:
            _print(session, fp)
        for sha, t, image in content.thumbnails:
            _thumbnail(session, sha, t, image)
        if session.get(Pack, info.id) is None:
            session.add(
                Pack(
                    id=info.id,
                    holder_id=content.holder.id,
                    format_version=info.format_version,
                    fingerprint_version=info.fingerprint_version,
                    made_at=info.made_at,
                    source=info.source[-1024:],
                    signer=info.signer,
                    works=[w.id for w in content.works],
                )
            )
    return report


def _holder(session: Session, spec: HolderSpec, report: ImportReport) -> None:
    row = session.get(Holder, spec.id)
    if row is None:
        session.add(Holder(id=spec.id, name=spec.name, kind=spec.kind))
        report.created["holders"] += 1
    elif (row.name, row.kind) != (spec.name, spec.kind):
        row.name, row.kind, row.updated_at = spec.name, spec.kind, utcnow()
        session.add(row)
        report.updated["holders"] += 1
    else:
        report.unchanged["holders"] += 1


def _work(
    session: Session, holder: str, work: PackWork, report: ImportReport, actor: str, entry: str, file: str
) -> None:
    policy = parse_policy(work.policy, file=file, entry=entry)
    values = work_values(WorkSpec(work.id, work.title, holder, work.layer, policy, ()))
    row = session.get(Work, work.id)
    if row is not None and row.holder_id != holder:
        raise ManifestError(
            file, f"this registry holds work {work.id!r} under holder {row.holder_id!r}", entry=entry, field="id"
        )
    known = {
        (c.actor, as_utc(c.changed_at).isoformat())
        for c in session.exec(select(PolicyChange).where(PolicyChange.work_id == work.id)).all()
    }
    for change in work.history:
        if (change["actor"], change["changed_at"]) not in known:
            session.add(
                PolicyChange(
                    work_id=work.id,
                    actor=change["actor"],
                    changed_at=datetime.fromisoformat(change["changed_at"]),
                    before=change["before"],
                    after=change["after"],
                )
            )
    if row is None:
        row = Work(id=work.id, **values)
        session.add(row)
        session.add(PolicyChange(work_id=work.id, actor=actor, before=None, after=policy_dict(row)))
        report.created["works"] += 1
        session.flush()
        return
    before = policy_dict(row)
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    if not changed:
        report.unchanged["works"] += 1
        return
    row.updated_at = utcnow()
    session.add(row)
    report.updated["works"] += 1
    if policy_dict(row) != before:
        session.add(PolicyChange(work_id=work.id, actor=actor, before=before, after=policy_dict(row)))


def _refs(session: Session, work: PackWork, report: ImportReport, location: str, pack_id: str) -> None:
    existing = {r.path: r for r in session.exec(select(Reference).where(Reference.work_id == work.id)).all()}
    wanted = {r.path for r in work.references}
    for path, old in existing.items():
        if path not in wanted:
            session.delete(old)
            report.removed_references += 1
    for ref in work.references:
        m = ref.media
        values: dict[str, Any] = {
            "kind": ref.kind,
            "sha256": ref.sha256,
            "size_bytes": ref.size_bytes,
            "media_kind": m.kind,
            "width": m.width,
            "height": m.height,
            "duration_s": round(float(m.duration_s), 6),
            "fps": round(float(m.fps), 6),
            "frame_count": int(m.frame_count),
            "location": location,
            "pack_id": pack_id,
        }
        row = existing.get(ref.path)
        if row is None:
            new = Reference(work_id=work.id, path=ref.path, **values)
            session.add(new)
            session.flush()
            report.created["references"] += 1
            report.changed_reference_ids.append(int(new.id or 0))
            continue
        changed = [k for k, v in values.items() if getattr(row, k) != v]
        if not changed:
            report.unchanged["references"] += 1
            continue
        for key in changed:
            setattr(row, key, values[key])
        row.updated_at = utcnow()
        session.add(row)
        report.updated["references"] += 1
        if "sha256" in changed:
            report.changed_reference_ids.append(int(row.id or 0))


def _print(session: Session, fp: StoredPrint) -> None:
    exists = session.exec(
        select(Fingerprint.id).where(
            Fingerprint.sha256 == fp.sha256, Fingerprint.algorithm == fp.algorithm, Fingerprint.version == fp.version
        )
    ).first()
    if exists is None:
        timestamps, data, quality = fp.blobs
        add_fingerprint(
            session,
            Fingerprint(
                sha256=fp.sha256,
                algorithm=fp.algorithm,
                version=fp.version,
                params=fp.params,
                count=fp.count,
                timestamps=timestamps,
                data=data,
                quality=quality,
            ),
        )


def _thumbnail(session: Session, sha: str, t: float, image: bytes) -> None:
    row = session.exec(
        select(ReferenceThumbnail).where(ReferenceThumbnail.sha256 == sha, ReferenceThumbnail.time_s == t)
    ).first()
    if row is None:
        session.add(ReferenceThumbnail(sha256=sha, time_s=t, image=image))
    elif row.image != image:
        row.image = image
        session.add(row)
