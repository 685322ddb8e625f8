"""The registry's content back out: its snapshot in manifest form, its digest, and manifest export."""

from __future__ import annotations

import json
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from sqlmodel import Session, col, select

from ._errors import RegistryError
from ._files import atomic_write_text, sha256_file
from .models import Holder, Reference, Work
from .reviews import generic_rows, review_section
from .store import Registry

__all__ = ["export_manifest", "policy_dict", "registry_digest", "snapshot"]


def snapshot(session: Session) -> dict[str, Any]:
    """The registry's content in manifest form (reference paths as stored), sorted by id."""
    holders = session.exec(select(Holder).order_by(col(Holder.id))).all()
    works = session.exec(select(Work).order_by(col(Work.id))).all()
    refs = session.exec(select(Reference).order_by(col(Reference.work_id), col(Reference.path))).all()
    by_work: dict[str, list[Reference]] = {}
    for ref in refs:
        by_work.setdefault(ref.work_id, []).append(ref)
    return {
        "holders": [{"id": h.id, "name": h.name, "kind": h.kind} for h in holders],
        "works": [
            {
                "id": w.id,
                "title": w.title,
                "holder": w.holder_id,
                "layer": w.layer,
                "policy": policy_dict(w),
                "references": [{"path": r.path, "kind": r.kind, "sha256": r.sha256} for r in by_work.get(w.id, [])],
            }
            for w in works
        ],
    }


def policy_dict(w: Work) -> dict[str, Any]:
    """A work's terms as the manifest states them (optional terms only when set)."""
    policy: dict[str, Any] = {"ai_training": w.ai_training}
    if w.license is not None:
        policy["license"] = w.license
    if w.territories:
        policy["territories"] = list(w.territories)
    if w.valid_from is not None:
        policy["valid_from"] = w.valid_from.isoformat()
    if w.valid_until is not None:
        policy["valid_until"] = w.valid_until.isoformat()
    if w.terms_source is not None:
        policy["source"] = w.terms_source
    if w.terms_url is not None:
        policy["url"] = w.terms_url
    return policy


def registry_digest(session: Session) -> str:
    """A sha256 over the registry's content: changes whenever a holder, work, policy or reference does, or a
    stretch of a reference is marked generic (or no longer is)."""
    import hashlib

    content = snapshot(session)
    generic = generic_rows(session)
    if generic:  # stretches not matched any more (a registry without any keeps the digest it always had)
        content["generic"] = [list(row) for row in generic]
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def export_manifest(registry: Registry, path: str | Path, *, copy_references: bool = False) -> dict[str, Any]:
    """Write the registry as a manifest (YAML, or JSON for a ``.json`` name), atomically.

    Reference paths are written relative to the new file's folder. A reference
    that does not lie below that folder is refused unless ``copy_references``,
    which copies each such file to ``<folder>/<stored path>``: a self-contained bundle.
    Returns the document written.
    """
    target = Path(path)
    folder = target.resolve().parent
    if not folder.is_dir():
        raise RegistryError(f"{target}: folder {folder} does not exist")
    with registry.session() as session:
        doc = snapshot(session)
        locations = {(r.work_id, r.path): r for r in session.exec(select(Reference)).all()}
        reviews = review_section(session)
    for work in doc["works"]:
        for ref in work["references"]:
            row = locations[(work["id"], ref["path"])]
            ref["path"] = _export_path(folder, row, copy_references)
            del ref["sha256"]
    if reviews:  # only when there are any: an export of a registry without decisions is as it always was
        doc["reviews"] = reviews
    text = (
        json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        if target.suffix.lower() == ".json"
        else yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110)
    )
    atomic_write_text(target, text)
    return doc


def _export_path(folder: Path, row: Reference, copy: bool) -> str:
    if row.pack_id is not None:  # a rights pack's reference: there is no file to name or copy
        raise RegistryError(
            f"work {row.work_id}: reference {row.path} comes from rights pack {row.pack_id[:12]} and has no file; "
            "a manifest cannot name it: pass its holder's works on as a pack (provenance registry pack)"
        )
    location = Path(row.location)
    same = folder.joinpath(*PurePosixPath(row.path).parts)
    if same.exists() and same.resolve() == location.resolve():
        return row.path
    if location.is_relative_to(folder):
        return location.relative_to(folder).as_posix()
    if not copy:
        raise RegistryError(
            f"work {row.work_id}: reference {row.path} ({location}) lies outside {folder}; "
            "export into a folder that contains the references, or copy them with --copy-references"
        )
    same.parent.mkdir(parents=True, exist_ok=True)
    if not same.exists() or sha256_file(same) != row.sha256:
        shutil.copy2(location, same)
    return row.path
