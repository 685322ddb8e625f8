"""Registry manifests: load and validate (import: :mod:`rightsdb.imports`; export: :mod:`rightsdb.exports`).

The schema (YAML or JSON, the same either way; reference paths are relative to
the manifest's folder)::

    holders:
      - {id: acme, name: Acme Games, kind: publisher}   # publisher | streamer | ugc_creator | label | other
    works:
      - id: acme-racer
        title: Acme Racer
        holder: acme
        layer: game                                    # game | stream | ugc | music | other
        policy:
          ai_training: deny                            # allow | deny | conditional | unknown
          license: All rights reserved                 # optional free text
          territories: [US, DE]                        # optional ISO 3166-1 alpha-2 codes
          valid_from: 2024-01-01                       # optional, the terms apply from this date
          valid_until: 2027-12-31                      # optional, and until this date
          source: tdm-reservation                      # optional: where the terms come from
          url: https://acme.example/ai-terms           # optional: the terms or the opt-out
        references:
          - {path: footage/acme-racer-trailer.mp4, kind: footage}   # a video of the work
          - {path: assets/acme-hud.png, kind: asset}                # a still: HUD, logo, overlay
          - {path: music/acme-racer-theme.ogg, kind: audio}         # sound: a soundtrack track, a song
    reviews: []                                        # optional: review decisions (rightsdb.reviewspec)

Loading checks everything (including that each reference file exists inside the
manifest's folder and is a video for ``footage``, an image for ``asset``, sound for ``audio``)
before the database is touched. Import is one serialised transaction: either
the whole manifest lands or nothing changes. Re-importing updates rows in
place; a row whose content is unchanged is not written at all, so importing
the same manifest twice leaves the database identical. Every work the import
creates, and every work whose terms it changes, gets an entry in its policy
history (``policy_changes``, as the service's edits do), in the same transaction;
the actor is ``manifest import: <file>``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from ._errors import ManifestError, MediaProbeError
from ._files import sha256_file
from ._yaml import load_json, load_yaml
from .models import AiTraining, HolderKind, Layer, ReferenceKind
from .reviewspec import ReviewSpec, parse_reviews
from .validation import control_problem, shown, territory_problem

log = logging.getLogger(__name__)

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: The largest manifest read (a registry of some 100,000 works): larger files are refused before they are parsed.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
_TOP_KEYS = frozenset({"holders", "works", "reviews"})
_HOLDER_KEYS = frozenset({"id", "name", "kind"})
_WORK_KEYS = frozenset({"id", "title", "holder", "layer", "policy", "references"})
_POLICY_KEYS = frozenset({"ai_training", "license", "territories", "valid_from", "valid_until", "source", "url"})
_REFERENCE_KEYS = frozenset({"path", "kind"})


@dataclass(frozen=True, slots=True)
class MediaFacts:
    """What a probe says of a reference file."""

    kind: str  # "video" | "image" | "audio"
    width: int
    height: int
    duration_s: float = 0.0
    fps: float = 0.0
    frame_count: int = 1


#: A probe reads a file's media facts or raises :class:`MediaProbeError`.
MediaProbe = Callable[[Path], MediaFacts]


@dataclass(frozen=True, slots=True)
class HolderSpec:
    id: str
    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class PolicySpec:
    ai_training: str
    license: str | None = None
    territories: tuple[str, ...] | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    source: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ReferenceSpec:
    path: str  # POSIX, relative to the manifest's folder
    kind: str
    location: Path  # absolute, resolved
    sha256: str
    size_bytes: int
    media: MediaFacts


@dataclass(frozen=True, slots=True)
class WorkSpec:
    id: str
    title: str
    holder: str
    layer: str
    policy: PolicySpec
    references: tuple[ReferenceSpec, ...]


@dataclass(frozen=True, slots=True)
class Manifest:
    source: Path  # resolved
    holders: tuple[HolderSpec, ...]
    works: tuple[WorkSpec, ...]
    #: the file as the caller named it (as load errors and the policy history's actor name it); empty: ``source``
    name: str = ""
    #: review decisions (the optional ``reviews`` section, :mod:`rightsdb.reviewspec`)
    reviews: tuple[ReviewSpec, ...] = ()


@dataclass(slots=True)
class ImportReport:
    """What an import did, by kind of row."""

    created: dict[str, int] = field(default_factory=lambda: {"holders": 0, "works": 0, "references": 0})
    updated: dict[str, int] = field(default_factory=lambda: {"holders": 0, "works": 0, "references": 0})
    unchanged: dict[str, int] = field(default_factory=lambda: {"holders": 0, "works": 0, "references": 0})
    removed_references: int = 0
    #: review decisions the manifest added (``reviews``; those held already are not added again)
    reviews: int = 0
    #: ids of references whose file content is new or changed (they need fingerprinting)
    changed_reference_ids: list[int] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(sum(self.created.values()) + sum(self.updated.values()) + self.removed_references + self.reviews)


# ---------------------------------------------------------------------------------------------------------
# Loading and validation
# ---------------------------------------------------------------------------------------------------------


def load_manifest(path: str | Path, probe: MediaProbe) -> Manifest:
    """Read, parse and validate a manifest, hashing and probing every reference file.

    Raises :class:`ManifestError` naming the file, entry and field of the first problem.
    """
    source = Path(path)
    name = str(path)
    try:
        if source.is_dir():
            raise ManifestError(name, "is a folder, not a manifest file")
        if source.exists() and not source.is_file():
            raise ManifestError(name, "is not a regular file")
        with source.open("rb") as fh:
            raw = fh.read(MAX_MANIFEST_BYTES + 1)
        if len(raw) > MAX_MANIFEST_BYTES:
            raise ManifestError(
                name, f"larger than {MAX_MANIFEST_BYTES // (1024 * 1024)} MiB: split it into several manifests"
            )
        raw_text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ManifestError(name, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(name, f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    data = _parse(name, source.suffix.lower(), raw_text)
    root = source.resolve().parent
    return _validate(name, root, source.resolve(), data, probe)


def _parse(name: str, suffix: str, text: str) -> Any:
    if suffix == ".json":
        try:
            return load_json(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(name, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        except ValueError as exc:
            raise ManifestError(name, f"malformed JSON: {exc}") from None
        except RecursionError:
            raise ManifestError(name, "malformed JSON: nested too deeply") from None
    try:
        return load_yaml(text)
    except RecursionError:
        raise ManifestError(name, "malformed YAML: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ManifestError(name, f"malformed YAML{where}: {problem}") from None


class _Ctx:
    """Builds errors that name the file, the entry and the field."""

    def __init__(self, file: str, entry: str = "") -> None:
        self.file = file
        self.entry = entry

    def at(self, entry: str) -> _Ctx:
        return _Ctx(self.file, entry)

    def error(self, fld: str, message: str) -> ManifestError:
        return ManifestError(self.file, message, entry=self.entry, field=fld)


def _validate(name: str, root: Path, source: Path, data: Any, probe: MediaProbe) -> Manifest:
    top = _Ctx(name)
    if data is None:
        raise top.error("", "manifest is empty")
    if not isinstance(data, Mapping):
        raise top.error("", f"the top level must be a mapping with 'holders' and 'works', not {_kind(data)}")
    _check_keys(top, "", data, _TOP_KEYS)
    holders_raw = _list(top, "holders", data.get("holders", []))
    works_raw = _list(top, "works", data.get("works", []))

    holders: list[HolderSpec] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(holders_raw):
        ctx = top.at(_entry_name("holders", i, item))
        spec = _holder(ctx, item)
        if spec.id in seen:
            raise ctx.error("id", f"duplicate holder id {spec.id!r} (first at holders[{seen[spec.id]}])")
        seen[spec.id] = i
        holders.append(spec)

    works: list[WorkSpec] = []
    seen_works: dict[str, int] = {}
    for i, item in enumerate(works_raw):
        ctx = top.at(_entry_name("works", i, item))
        work = _work(ctx, item, root, probe)
        if work.id in seen_works:
            raise ctx.error("id", f"duplicate work id {work.id!r} (first at works[{seen_works[work.id]}])")
        seen_works[work.id] = i
        works.append(work)
    reviews = parse_reviews(name, data.get("reviews"))
    return Manifest(source=source, holders=tuple(holders), works=tuple(works), name=name, reviews=reviews)


def _entry_name(section: str, i: int, item: Any) -> str:
    ident = item.get("id") if isinstance(item, Mapping) else None
    valid = isinstance(ident, str) and 0 < len(ident) <= 128 and control_problem(ident) is None
    return f"{section}[{i}] ({ident})" if valid else f"{section}[{i}]"


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "empty"}.get(
        type(value), type(value).__name__
    )


def _list(ctx: _Ctx, fld: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ctx.error(fld, f"must be a list, not {_kind(value)}")
    return value


def _check_keys(ctx: _Ctx, prefix: str, item: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for key in item:
        if key not in allowed:
            expected = ", ".join(sorted(allowed))
            plain = isinstance(key, str) and len(key) <= 64 and control_problem(key) is None
            raise ctx.error(f"{prefix}{key if plain else shown(key)}", f"unknown field (expected one of: {expected})")


def _mapping(ctx: _Ctx, fld: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ctx.error(fld, f"must be a mapping, not {_kind(value)}")
    return value


def _opt_text(ctx: _Ctx, fld: str, value: Any, *, max_len: int = 512, free_text: bool = False) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ctx.error(fld, f"must be text, not {_kind(value)}")
    value = value.strip()
    if len(value) > max_len:
        raise ctx.error(fld, f"is longer than {max_len} characters")
    problem = control_problem(value, free_text=free_text)
    if problem is not None:
        raise ctx.error(fld, problem)
    return value or None


def _text(ctx: _Ctx, fld: str, value: Any, *, max_len: int = 512) -> str:
    if value is None:
        raise ctx.error(fld, "is required")
    text = _opt_text(ctx, fld, value, max_len=max_len)
    if text is None:
        raise ctx.error(fld, "must not be empty")
    return text


def _ident(ctx: _Ctx, fld: str, value: Any) -> str:
    text = _text(ctx, fld, value, max_len=128)
    if not ID_PATTERN.match(text):
        raise ctx.error(fld, f"{shown(text)} is not a valid id (letters, digits, '.', '_', '-'; up to 128)")
    return text


def _enum(ctx: _Ctx, fld: str, value: Any, enum: Iterable[Any]) -> str:
    allowed = [e.value for e in enum]
    if value is None:
        raise ctx.error(fld, f"is required (one of: {', '.join(allowed)})")
    if not isinstance(value, str) or value not in allowed:
        raise ctx.error(fld, f"{shown(value)} is not one of: {', '.join(allowed)}")
    return value


def _date(ctx: _Ctx, fld: str, value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
        try:  # a timestamp (2024-01-01T00:00:00): its date, as YAML's own timestamps were read
            return datetime.fromisoformat(value.strip()).date()
        except ValueError:
            pass
    raise ctx.error(fld, f"{shown(value)} is not a date (YYYY-MM-DD)")


def _holder(ctx: _Ctx, item: Any) -> HolderSpec:
    item = _mapping(ctx, "", item)
    _check_keys(ctx, "", item, _HOLDER_KEYS)
    ident = _ident(ctx, "id", item.get("id"))
    name = _text(ctx, "name", item.get("name"))
    kind = _enum(ctx, "kind", item.get("kind"), HolderKind)
    return HolderSpec(ident, name, kind)


def _policy(ctx: _Ctx, value: Any) -> PolicySpec:
    if value is None:
        raise ctx.error("policy", "is required (at least ai_training: allow | deny | conditional | unknown)")
    item = _mapping(ctx, "policy", value)
    _check_keys(ctx, "policy.", item, _POLICY_KEYS)
    ai = _enum(ctx, "policy.ai_training", item.get("ai_training"), AiTraining)
    license_ = _opt_text(ctx, "policy.license", item.get("license"), max_len=2048, free_text=True)
    territories: tuple[str, ...] | None = None
    raw_t = item.get("territories")
    if raw_t is not None:
        if not isinstance(raw_t, list) or not raw_t:
            raise ctx.error("policy.territories", "must be a non-empty list of ISO 3166-1 alpha-2 codes")
        codes = []
        for code in raw_t:
            if not isinstance(code, str):
                raise ctx.error("policy.territories", f"{shown(code)} is not an ISO 3166-1 alpha-2 code")
            problem = territory_problem(code)
            if problem is not None:
                raise ctx.error("policy.territories", problem)
            codes.append(code.strip().upper())
        territories = tuple(sorted(set(codes)))
    valid_from = _date(ctx, "policy.valid_from", item.get("valid_from"))
    valid_until = _date(ctx, "policy.valid_until", item.get("valid_until"))
    if valid_from and valid_until and valid_until < valid_from:
        raise ctx.error("policy.valid_until", f"{valid_until} is before valid_from {valid_from}")
    source = _opt_text(ctx, "policy.source", item.get("source"), max_len=64)
    url = _opt_text(ctx, "policy.url", item.get("url"), max_len=2048)
    return PolicySpec(ai, license_, territories, valid_from, valid_until, source, url)


def _work(ctx: _Ctx, item: Any, root: Path, probe: MediaProbe) -> WorkSpec:
    item = _mapping(ctx, "", item)
    _check_keys(ctx, "", item, _WORK_KEYS)
    ident = _ident(ctx, "id", item.get("id"))
    title = _text(ctx, "title", item.get("title"))
    holder = _ident(ctx, "holder", item.get("holder"))
    layer = _enum(ctx, "layer", item.get("layer"), Layer)
    policy = _policy(ctx, item.get("policy"))
    refs: list[ReferenceSpec] = []
    seen: set[str] = set()
    for j, ref in enumerate(_list(ctx, "references", item.get("references", []))):
        spec = _reference(ctx, f"references[{j}]", ref, root, probe)
        if spec.path in seen:
            raise ctx.error(f"references[{j}].path", f"duplicate reference {spec.path!r}")
        seen.add(spec.path)
        refs.append(spec)
    return WorkSpec(ident, title, holder, layer, policy, tuple(refs))


_MEDIA_OF_KIND = {"footage": "video", "asset": "image", "audio": "audio"}
_KIND_OF_MEDIA = {"video": "footage", "image": "asset", "audio": "audio"}
_MEDIA_WORDS = {"video": "a video", "image": "a still image", "audio": "sound without picture"}


def kind_mismatch(kind: str, media_kind: str, name: str) -> str | None:
    """Why a reference of ``kind`` cannot be a file of ``media_kind`` (None when it can): ``footage`` is a
    video, ``asset`` a still image, ``audio`` a file with sound (a video's soundtrack counts too)."""
    if kind == "audio" and media_kind in ("audio", "video"):
        return None
    if _MEDIA_OF_KIND.get(kind) in (None, media_kind):
        return None
    actual = _MEDIA_WORDS.get(media_kind, media_kind)
    wanted = _MEDIA_WORDS[_MEDIA_OF_KIND[kind]]
    use = _KIND_OF_MEDIA.get(media_kind, "footage")
    return f"'{kind}' must be {wanted}, but {name!r} is {actual} (use kind: {use})"


def _reference(ctx: _Ctx, fld: str, item: Any, root: Path, probe: MediaProbe) -> ReferenceSpec:
    item = _mapping(ctx, fld, item)
    _check_keys(ctx, f"{fld}.", item, _REFERENCE_KEYS)
    raw = _text(ctx, f"{fld}.path", item.get("path"), max_len=1024)
    kind = _enum(ctx, f"{fld}.kind", item.get("kind"), ReferenceKind)
    rel = PurePosixPath(raw.replace("\\", "/"))
    if rel.is_absolute() or re.match(r"^[A-Za-z]:", raw):
        raise ctx.error(f"{fld}.path", f"{raw!r} is absolute; paths are relative to the manifest's folder")
    depth = 0
    for part in rel.parts:
        depth += -1 if part == ".." else 0 if part in ("", ".") else 1
        if depth < 0:
            raise ctx.error(f"{fld}.path", f"{raw!r} lies outside the manifest's folder {root}")
    candidate = root.joinpath(*rel.parts)
    try:
        location = candidate.resolve(strict=True)
    except FileNotFoundError:
        if candidate.is_symlink():
            raise ctx.error(f"{fld}.path", f"{raw!r} is a broken symbolic link") from None
        raise ctx.error(f"{fld}.path", f"file not found: {raw}") from None
    except (OSError, RuntimeError) as exc:
        raise ctx.error(f"{fld}.path", f"cannot resolve {raw!r}: {exc}") from None
    if not location.is_relative_to(root):
        raise ctx.error(f"{fld}.path", f"{raw!r} lies outside the manifest's folder {root}")
    if not location.is_file():
        raise ctx.error(f"{fld}.path", f"{raw!r} is not a regular file")
    try:
        sha = sha256_file(location)
        size = location.stat().st_size
    except OSError as exc:
        raise ctx.error(f"{fld}.path", f"cannot read {raw!r}: {exc.strerror or exc}") from None
    try:
        media = probe(location)
    except MediaProbeError as exc:
        raise ctx.error(f"{fld}.path", f"{raw!r} is neither a video nor an image nor sound ({exc})") from None
    problem = kind_mismatch(kind, media.kind, raw)
    if problem:
        raise ctx.error(f"{fld}.kind", problem)
    return ReferenceSpec(_normalize_rel(rel), kind, location, sha, size, media)


def _normalize_rel(rel: PurePosixPath) -> str:
    parts: list[str] = []
    for part in rel.parts:
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


def parse_policy(value: Any, *, file: str, entry: str) -> PolicySpec:
    """A work's policy (the manifest's ``policy`` mapping) checked as a manifest's is; :class:`ManifestError`
    naming ``file`` and ``entry`` (a request, a work) when it is invalid."""
    return _policy(_Ctx(file, entry), value)
