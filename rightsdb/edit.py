"""Registry writes one entry at a time (the service's admin routes), each one serialised transaction.

Terms are validated as a manifest's ``policy`` is; every change of a work's terms is recorded in
``policy_changes`` (who, when, before, after). A reference is added with the file's content hash and the
media facts a probe read (this package does not decode media).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from ._errors import ConflictError, NotFoundError, RegistryError
from .exports import policy_dict
from .manifest import MediaFacts, parse_policy
from .models import Holder, HolderKind, Layer, PolicyChange, Reference, ReferenceKind, Work, utcnow
from .store import Registry

__all__ = [
    "ConflictError",
    "add_reference",
    "create_holder",
    "create_work",
    "location_in_use",
    "remove_reference",
    "set_policy",
    "update_holder",
    "update_work",
]


def _check(value: str | None, enum: type[Any], fld: str) -> None:
    if value is not None and value not in {e.value for e in enum}:
        raise RegistryError(f"{fld}: {value!r} is not one of: {', '.join(e.value for e in enum)}")


def create_holder(registry: Registry, holder_id: str, name: str, kind: str) -> None:
    _check(kind, HolderKind, "kind")
    with registry.write() as session:
        if session.get(Holder, holder_id) is not None:
            raise ConflictError(f"holder: {holder_id!r} exists already")
        session.add(Holder(id=holder_id, name=name, kind=kind))


def _update(session: Session, row: Holder | Work, **values: str | None) -> None:
    """Set the given (not None) attributes that differ, and stamp ``updated_at`` when any did."""
    changed = False
    for attr, value in values.items():
        if value is not None and getattr(row, attr) != value:
            setattr(row, attr, value)
            changed = True
    if changed:
        row.updated_at = utcnow()
        session.add(row)


def update_holder(registry: Registry, holder_id: str, name: str | None = None, kind: str | None = None) -> None:
    _check(kind, HolderKind, "kind")
    with registry.write() as session:
        row = session.get(Holder, holder_id)
        if row is None:
            raise NotFoundError(f"holder: no holder with id {holder_id!r}")
        _update(session, row, name=name, kind=kind)


def _terms(work_id: str, policy: dict[str, Any]) -> dict[str, Any]:
    spec = parse_policy(policy, file="request", entry=f"work {work_id}")
    return {
        "ai_training": spec.ai_training,
        "license": spec.license,
        "territories": list(spec.territories) if spec.territories else None,
        "valid_from": spec.valid_from,
        "valid_until": spec.valid_until,
        "terms_source": spec.source,
        "terms_url": spec.url,
    }


def create_work(
    registry: Registry, work_id: str, title: str, holder_id: str, layer: str, policy: dict[str, Any], actor: str
) -> None:
    """Create a work (no references yet); its first terms are the first entry of its history."""
    _check(layer, Layer, "layer")
    terms = _terms(work_id, policy)
    with registry.write() as session:
        if session.get(Work, work_id) is not None:
            raise ConflictError(f"work: {work_id!r} exists already")
        if session.get(Holder, holder_id) is None:
            raise NotFoundError(f"holder: no holder with id {holder_id!r}")
        work = Work(id=work_id, title=title, holder_id=holder_id, layer=layer, **terms)
        session.add(work)
        session.add(PolicyChange(work_id=work_id, actor=actor, before=None, after=policy_dict(work)))


def update_work(registry: Registry, work_id: str, title: str | None = None, layer: str | None = None) -> None:
    """Change a work's title or layer (a new layer changes matching: the index is rebuilt on next use)."""
    _check(layer, Layer, "layer")
    with registry.write() as session:
        row = _work(session, work_id)
        _update(session, row, title=title, layer=layer)


def set_policy(registry: Registry, work_id: str, policy: dict[str, Any], actor: str) -> bool:
    """Replace a work's terms; records the change (returns False, and records nothing, when they are the
    same)."""
    terms = _terms(work_id, policy)
    with registry.write() as session:
        row = _work(session, work_id)
        before = policy_dict(row)
        for attr, value in terms.items():
            setattr(row, attr, value)
        after = policy_dict(row)
        if after == before:
            return False
        row.updated_at = utcnow()
        session.add(row)
        session.add(PolicyChange(work_id=work_id, actor=actor, before=before, after=after))
    return True


def _work(session: Session, work_id: str) -> Work:
    row = session.get(Work, work_id)
    if row is None:
        raise NotFoundError(f"work: no work with id {work_id!r}")
    return row


def add_reference(
    registry: Registry,
    work_id: str,
    path: str,
    kind: str,
    location: Path,
    sha256: str,
    size_bytes: int,
    media: MediaFacts,
) -> bool:
    """Add (or replace, by ``path``) a reference of a work; returns True when it was new.

    ``footage`` must be a video, ``asset`` a still image and ``audio`` sound (``media.kind``).
    """
    _check(kind, ReferenceKind, "kind")
    if kind == "footage" and media.kind != "video":
        raise RegistryError(f"file: footage must be a video, {path} is not (upload it as an asset or as audio)")
    if kind == "asset" and media.kind != "image":
        raise RegistryError(f"file: an asset must be a still image, {path} is not (upload it as footage or audio)")
    if kind == "audio" and media.kind not in ("audio", "video"):
        raise RegistryError(f"file: audio must be sound, {path} is a still image (upload it as an asset)")
    values: dict[str, Any] = {
        "kind": kind,
        "sha256": sha256,
        "size_bytes": size_bytes,
        "media_kind": media.kind,
        "width": media.width,
        "height": media.height,
        "duration_s": round(float(media.duration_s), 6),
        "fps": round(float(media.fps), 6),
        "frame_count": int(media.frame_count),
        "location": str(location),
        "pack_id": None,  # a file now: no longer the rights pack's reference
    }
    with registry.write() as session:
        _work(session, work_id)
        row = session.exec(select(Reference).where(Reference.work_id == work_id, Reference.path == path)).first()
        if row is None:
            session.add(Reference(work_id=work_id, path=path, **values))
            return True
        for attr, value in values.items():
            setattr(row, attr, value)
        row.updated_at = utcnow()
        session.add(row)
    return False


def remove_reference(registry: Registry, work_id: str, path: str) -> None:
    with registry.write() as session:
        _work(session, work_id)
        row = session.exec(select(Reference).where(Reference.work_id == work_id, Reference.path == path)).first()
        if row is None:
            raise NotFoundError(f"reference: work {work_id!r} has no reference {path!r}")
        session.delete(row)


def location_in_use(registry: Registry, location: Path) -> bool:
    """Whether any reference's file is ``location`` (a file kept by content hash may serve several)."""
    with registry.session() as session:
        return (
            session.exec(select(Reference.id).where(Reference.location == str(location)).limit(1)).first() is not None
        )
