"""Rights packs in the registry: a holder's works, terms (with their history), references and stored fingerprints,
read out to build a pack and written in, all or nothing, when a pack is imported.

A pack holds no footage: its references are rows whose ``pack_id`` names the pack (the sha256 of its manifest)
and whose ``location`` is ``pack:<id>`` (no file). What the engine needs of them is stored as for any reference,
content-addressed in ``fingerprints`` (footage prints; an asset's pixels under its own algorithm name), and the
pack's evidence thumbnails in ``reference_thumbnails``. The pack file itself (its format, checksums, signature)
is the audit's (:mod:`provenance.audit.packfile`); this module checks the values a pack states as a manifest's
are checked, and raises :class:`ManifestError` naming the pack, the entry and the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from sqlmodel import Session, col, select

from ._errors import ManifestError, NotFoundError
from .exports import policy_dict
from .imports import work_values
from .manifest import ID_PATTERN, HolderSpec, ImportReport, MediaFacts, WorkSpec, parse_policy
from .models import (
    Fingerprint,
    Holder,
    HolderKind,
    Layer,
    MediaKind,
    Pack,
    PolicyChange,
    Reference,
    ReferenceKind,
    ReferenceThumbnail,
    Work,
    utcnow,
)
from .references import PrintBlobs
from .store import Registry
from .validation import control_problem, shown

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

#: A pack reference's ``location``: this prefix and the pack's id (there is no file).
PACK_LOCATION = "pack:"
_SHA = re.compile(r"^[0-9a-f]{64}$")
_WORK_KEYS = frozenset({"id", "title", "layer", "policy", "history", "references"})


@dataclass(frozen=True, slots=True)
class PackReference:
    path: str  # as the holder's manifest named it (POSIX, relative)
    kind: str
    sha256: str  # of the holder's file: fingerprints are stored by it
    size_bytes: int
    media: MediaFacts


@dataclass(frozen=True, slots=True)
class PackWork:
    id: str
    title: str
    layer: str
    policy: dict[str, Any]  # as a manifest states it (:func:`~rightsdb.exports.policy_dict`)
    history: tuple[dict[str, Any], ...]  # {"actor", "changed_at" (ISO), "before", "after"}, oldest first
    references: tuple[PackReference, ...]


@dataclass(frozen=True, slots=True)
class StoredPrint:
    """One stored fingerprint of a content, as the ``fingerprints`` table holds it."""

    sha256: str
    algorithm: str
    version: str
    params: dict[str, Any]
    count: int
    blobs: PrintBlobs


@dataclass(frozen=True, slots=True)
class PackInfo:
    id: str  # sha256 of the pack's manifest
    source: str  # the file as the caller named it
    format_version: int
    fingerprint_version: str
    made_at: datetime
    signer: str | None  # the Ed25519 public key (hex) whose signature was checked, if any


@dataclass(frozen=True, slots=True)
class PackContent:
    info: PackInfo
    holder: HolderSpec
    works: tuple[PackWork, ...]
    prints: tuple[StoredPrint, ...]
    thumbnails: tuple[tuple[str, float, bytes], ...]  # (content sha256, time in seconds, JPEG)


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
                {"actor": c.actor, "changed_at": _utc(c.changed_at).isoformat(), "before": c.before, "after": c.after}
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
            r.sha256: StoredPrint(r.sha256, r.algorithm, r.version, dict(r.params), r.count, _blobs(r)) for r in rows
        }


def _blobs(row: Fingerprint) -> PrintBlobs:
    return row.timestamps, row.data, row.quality or b""


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


# ---------------------------------------------------------------------------------------------------------
# in: a pack's statements checked, then imported in one transaction
# ---------------------------------------------------------------------------------------------------------


def parse_pack_works(file: str, holder: Any, works: Any) -> tuple[HolderSpec, tuple[PackWork, ...]]:
    """A pack manifest's ``holder`` and ``works`` checked as a manifest's are (ids, enums, terms, dates,
    territories, text); :class:`ManifestError` naming ``file``, the entry and the field."""
    if not isinstance(holder, Mapping):
        raise ManifestError(file, "must be a mapping", field="holder")
    spec = HolderSpec(
        _ident(file, "holder", "id", holder.get("id")),
        _text(file, "holder", "name", holder.get("name"), 512),
        _enum(file, "holder", "kind", holder.get("kind"), HolderKind),
    )
    if not isinstance(works, list) or not works:
        raise ManifestError(file, "must be a non-empty list", field="works")
    out: list[PackWork] = []
    seen: set[str] = set()
    for i, item in enumerate(works):
        entry = f"works[{i}]"
        if not isinstance(item, Mapping) or set(item) - _WORK_KEYS:
            raise ManifestError(file, f"must be a mapping of {', '.join(sorted(_WORK_KEYS))}", entry=entry)
        wid = _ident(file, entry, "id", item.get("id"))
        entry = f"works[{i}] ({wid})"
        if wid in seen:
            raise ManifestError(file, f"duplicate work id {wid!r}", entry=entry, field="id")
        seen.add(wid)
        policy = parse_policy(item.get("policy"), file=file, entry=entry)
        history = _history(file, entry, item.get("history"))
        refs = _references(file, entry, item.get("references"))
        title = _text(file, entry, "title", item.get("title"), 512)
        layer = _enum(file, entry, "layer", item.get("layer"), Layer)
        spec_policy = policy_dict(Work(id=wid, title=title, holder_id=spec.id, layer=layer, **_policy_columns(policy)))
        out.append(PackWork(wid, title, layer, spec_policy, history, refs))
    return spec, tuple(out)


def _policy_columns(policy: Any) -> dict[str, Any]:
    values = work_values(WorkSpec("x", "x", "x", "game", policy, ()))
    return {k: v for k, v in values.items() if k not in ("title", "holder_id", "layer")}


def _history(file: str, entry: str, value: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list):
        raise ManifestError(file, "must be a list", entry=entry, field="history")
    out = []
    for j, item in enumerate(value):
        fld = f"history[{j}]"
        if not isinstance(item, Mapping) or set(item) != {"actor", "changed_at", "before", "after"}:
            raise ManifestError(file, "must be a mapping of actor, changed_at, before, after", entry=entry, field=fld)
        actor = _text(file, entry, f"{fld}.actor", item["actor"], 256)
        try:
            changed_at = _utc(datetime.fromisoformat(str(item["changed_at"])))
        except ValueError:
            raise ManifestError(file, "is not an ISO date and time", entry=entry, field=f"{fld}.changed_at") from None
        before, after = item["before"], item["after"]
        for name, terms in (("before", before), ("after", after)):
            if terms is not None or name == "after":
                parse_policy(terms, file=file, entry=f"{entry}: {fld}.{name}")
        out.append({"actor": actor, "changed_at": changed_at.isoformat(), "before": before, "after": after})
    return tuple(out)


def _references(file: str, entry: str, value: Any) -> tuple[PackReference, ...]:
    if not isinstance(value, list):
        raise ManifestError(file, "must be a list", entry=entry, field="references")
    out: list[PackReference] = []
    seen: set[str] = set()
    for j, item in enumerate(value):
        fld = f"references[{j}]"
        if not isinstance(item, Mapping):
            raise ManifestError(file, "must be a mapping", entry=entry, field=fld)
        path = _text(file, entry, f"{fld}.path", item.get("path"), 1024)
        parts = PurePosixPath(path).parts
        if path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in parts) or path in seen:
            raise ManifestError(file, f"{shown(path)} is not a relative POSIX path of its own", entry=entry, field=fld)
        seen.add(path)
        kind = _enum(file, entry, f"{fld}.kind", item.get("kind"), ReferenceKind)
        sha = item.get("sha256")
        if not isinstance(sha, str) or not _SHA.match(sha):
            raise ManifestError(file, "is not a sha256 (64 lowercase hex digits)", entry=entry, field=f"{fld}.sha256")
        media: Any = item.get("media")
        try:
            facts = MediaFacts(
                _enum(file, entry, f"{fld}.media.kind", media["kind"], MediaKind),
                _count(media["width"]),
                _count(media["height"]),
                float(media["duration_s"]),
                float(media["fps"]),
                _count(media["frame_count"]),
            )
            size = _count(item.get("size_bytes"))
        except (KeyError, TypeError, ValueError):
            raise ManifestError(file, "media facts or size missing or invalid", entry=entry, field=fld) from None
        if (kind == "footage") != (facts.kind == "video"):
            raise ManifestError(file, f"a {kind} reference cannot be a {facts.kind}", entry=entry, field=fld)
        out.append(PackReference(path, kind, sha, size, facts))
    return tuple(out)


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**62:
        raise ValueError(value)
    return value


def _text(file: str, entry: str, fld: str, value: Any, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise ManifestError(file, f"must be text of 1 to {max_len} characters", entry=entry, field=fld)
    problem = control_problem(value)
    if problem is not None:
        raise ManifestError(file, problem, entry=entry, field=fld)
    return value.strip()


def _ident(file: str, entry: str, fld: str, value: Any) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise ManifestError(file, f"{shown(value)} is not a valid id", entry=entry, field=fld)
    return value


def _enum(file: str, entry: str, fld: str, value: Any, enum: Any) -> str:
    allowed = [e.value for e in enum]
    if value not in allowed:
        raise ManifestError(file, f"{shown(value)} is not one of: {', '.join(allowed)}", entry=entry, field=fld)
    return str(value)


def _utc(moment: datetime) -> datetime:
    """A stored time in UTC (SQLite gives it back naive)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


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
        (c.actor, _utc(c.changed_at).isoformat())
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
        session.add(
            Fingerprint(
                sha256=fp.sha256,
                algorithm=fp.algorithm,
                version=fp.version,
                params=fp.params,
                count=fp.count,
                timestamps=timestamps,
                data=data,
                quality=quality,
            )
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
