"""What a rights pack states, as plain data, and the checks of it: a pack's holder and works (terms, history,
references) are checked as a manifest's are (ids, enums, terms, dates, territories, text), and a problem is a
:class:`ManifestError` naming the pack, the entry and the field. The import itself is :mod:`rightsdb.packs`'.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from ._errors import ManifestError
from .exports import policy_dict
from .imports import work_values
from .manifest import ID_PATTERN, HolderSpec, MediaFacts, WorkSpec, parse_policy
from .models import HolderKind, Layer, MediaKind, ReferenceKind, Work
from .references import PrintBlobs
from .validation import control_problem, shown

__all__ = [
    "PACK_LOCATION",
    "PackContent",
    "PackInfo",
    "PackReference",
    "PackWork",
    "StoredPrint",
    "as_utc",
    "parse_pack_works",
]

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
            changed_at = as_utc(datetime.fromisoformat(str(item["changed_at"])))
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


def as_utc(moment: datetime) -> datetime:
    """A stored time in UTC (SQLite gives it back naive)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
