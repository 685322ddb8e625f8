"""The audit: fingerprint the registry's references, scan a dataset folder, build the report.

This module joins the pure engine (:mod:`provenance.engine`) and the registry
(:mod:`rightsdb`). Reference fingerprints are cached in the registry, keyed by
the file's sha256 and the engine's fingerprint version, so they are computed
once per file, whatever manifest or path names it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from provenance import ENGINE_NAME, __version__
from provenance.engine import (
    ENGINE_VERSION,
    FINGERPRINT_VERSION,
    ClipMatches,
    EngineParams,
    FootagePrint,
    ReferenceIndex,
    fingerprint_footage,
    load_asset,
    match_clip,
)
from provenance.errors import ProvenanceError, ScanError
from provenance.report import (
    EXPOSURE_ORDER,
    Clip,
    References,
    RefInfo,
    Report,
    ScanFacts,
    Source,
    Terms,
    render_clip,
    report_json,
)
from rightsdb import (
    ClipResult,
    Finding,
    Fingerprint,
    Holder,
    Reference,
    Registry,
    Scan,
    Work,
    atomic_write_text,
    registry_digest,
    sha256_file,
)

if TYPE_CHECKING:
    from provenance.audit.executors import Executor

log = logging.getLogger(__name__)

FOOTAGE_ALGORITHM = "provenance-footage"

Progress = Callable[[str, int, int], None]  # (what, done, total)
Lookup = Callable[[str], dict[str, Any] | None]  # cache key -> a stored raw result


def _current_prints() -> tuple[Any, Any]:
    """The ``where`` conditions of the stored footage fingerprints this engine uses."""
    return Fingerprint.algorithm == FOOTAGE_ALGORITHM, Fingerprint.version == FINGERPRINT_VERSION


def ref_key(work: str, path: str) -> str:
    """A reference's key in stored results: its work and manifest path (stable across re-imports)."""
    return f"{work}::{path}"


def engine_id() -> str:
    return f"{ENGINE_NAME}+{__version__}/engine-{ENGINE_VERSION}"


def ensure_fingerprints(registry: Registry, params: EngineParams, progress: Progress | None = None) -> int:
    """Fingerprint every footage reference that has no stored fingerprint of this engine version.

    Returns how many were computed. Each is committed on its own, so an
    interrupted run keeps what it finished.
    """
    with registry.session() as session:
        refs = session.exec(select(Reference).where(Reference.kind == "footage")).all()
        done = set(session.exec(select(Fingerprint.sha256).where(*_current_prints())).all())
    todo: dict[str, Reference] = {}
    for ref in refs:
        if ref.sha256 not in done and ref.sha256 not in todo:
            todo[ref.sha256] = ref
    for i, (sha, ref) in enumerate(sorted(todo.items(), key=lambda kv: kv[1].path)):
        if progress:
            progress(f"fingerprinting {ref.path}", i, len(todo))
        location = Path(ref.location)
        if not location.is_file() or sha256_file(location) != sha:
            raise ScanError(f"reference {ref.path} of work {ref.work_id}: file {location} is missing or has "
                            "changed since import; re-import the manifest")
        fp = fingerprint_footage(location, params)
        timestamps, data, quality = fp.to_payload()
        with registry.write() as session:
            exists = session.exec(select(Fingerprint).where(
                Fingerprint.sha256 == sha, *_current_prints())).first()
            if exists is None:
                session.add(Fingerprint(sha256=sha, algorithm=FOOTAGE_ALGORITHM, version=FINGERPRINT_VERSION,
                                        params=params.as_dict(), count=len(fp.timestamps),
                                        timestamps=timestamps, data=data, quality=quality))
    if progress:
        progress("fingerprints ready", len(todo), len(todo))
    return len(todo)


def load_infos(registry: Registry) -> dict[str, RefInfo]:
    """What the report says of each reference (work, holder, layer, terms), by :func:`ref_key`."""
    with registry.session() as session:
        rows = session.exec(
            select(Reference, Work, Holder)
            .join(Work, col(Reference.work_id) == col(Work.id))
            .join(Holder, col(Work.holder_id) == col(Holder.id))
            .order_by(col(Reference.id))
        ).all()
    infos: dict[str, RefInfo] = {}
    for ref, work, holder in rows:
        terms = Terms(work.ai_training, work.license, work.valid_from, work.valid_until,
                      tuple(work.territories) if work.territories else None, work.terms_source, work.terms_url)
        infos[ref_key(work.id, ref.path)] = RefInfo(
            int(ref.id or 0), ref.path, ref.kind, work.id, work.title, holder.id, holder.name, work.layer, terms,
            ref.sha256, ref.location)
    return infos


IndexPayload = list[tuple[str, str, str, Any]]
"""What a :class:`ReferenceIndex` is built from, as plain data that pickles (the index holds OpenCV matchers,
which do not): ``(kind, key, layer, data)`` in reference id order, ``data`` the stored footage print's
``(timestamps, data, quality)`` blobs or an asset's RGBA array."""


def index_payload(registry: Registry, infos: dict[str, RefInfo] | None = None) -> IndexPayload:
    """Read everything the reference index is built from (stored footage prints, asset images) once.

    ``infos`` (from :func:`load_infos`) saves reading the references again when the caller has them.
    """
    infos = load_infos(registry) if infos is None else infos
    with registry.session() as session:
        prints = {
            fp.sha256: fp
            for fp in session.exec(select(Fingerprint).where(*_current_prints())).all()
        }
    payload: IndexPayload = []
    for key, info in infos.items():  # reference id order
        if info.kind == "footage":
            stored = prints.get(info.sha256)
            if stored is None:
                raise ScanError(f"reference {info.path} of work {info.work} has no fingerprint; run the scan again")
            payload.append(("footage", key, info.layer, (stored.timestamps, stored.data, stored.quality or b"")))
        else:
            payload.append(("asset", key, info.layer, load_asset(info.location)))
    return payload


def build_index(params: EngineParams, payload: IndexPayload) -> ReferenceIndex:
    """The in-memory reference index from :func:`index_payload` (in any process: no database needed)."""
    index = ReferenceIndex(params)
    for kind, key, layer, data in payload:
        if kind == "footage":
            index.add_footage(key, layer, FootagePrint.from_payload(*data))
        else:
            index.add_asset(key, layer, data)
    return index


def load_index(registry: Registry, params: EngineParams, infos: dict[str, RefInfo] | None = None
               ) -> tuple[ReferenceIndex, dict[str, RefInfo]]:
    """Build the in-memory reference index of the whole registry (footage prints and assets).

    ``infos`` (from :func:`load_infos`) saves reading the references again when the caller has them.
    """
    infos = load_infos(registry) if infos is None else infos
    return build_index(params, index_payload(registry, infos)), infos


def match_key(registry: Registry, params: EngineParams) -> str:
    """What a clip's matches depend on: the engine, its settings and the registry's references (content and
    layer, in index order). Policies, titles and holder names are not in it: changing them re-renders stored
    results instead of matching again. A reference added or removed changes it (any clip may hold it)."""
    with registry.session() as session:
        rows = session.exec(
            select(Reference, Work).join(Work, col(Reference.work_id) == col(Work.id)).order_by(col(Reference.id))
        ).all()
        refs = [[ref.sha256, ref.kind, ref.path, work.id, work.layer] for ref, work in rows]
    payload = {"engine": engine_id(), "params": params.as_dict(), "references": refs}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _r(x: float) -> float:
    return round(float(x), 3)


# ---------------------------------------------------------------------------------------------------------
# one clip: match (in a worker) -> raw result (JSON, policy-free) -> rendered report object
# ---------------------------------------------------------------------------------------------------------


def raw_matches(matches: ClipMatches) -> dict[str, Any]:
    """The engine's findings for one clip as JSON, keyed by reference (``ref_key``), without any policy."""
    footage = []
    for ref in matches.footage:
        footage.append({
            "ref": ref.key,
            "segments": [{"start": _r(s.query_start), "end": _r(min(s.query_end, matches.duration_s)),
                          "ref_start": _r(s.ref_start), "ref_end": _r(s.ref_end), "speed": _r(s.speed),
                          "score": _r(s.score)} for s in ref.segments],
            "methods": dict(sorted(ref.methods.items())), "mirrored": ref.mirrored,
            "best_distance": ref.best_distance, "confidence": _r(ref.confidence),
            "region": [_r(v) for v in ref.region] if ref.region else None,
        })
    assets = []
    for hit in matches.assets:
        w, h = hit.frame_size
        x, y, bw, bh = hit.box
        assets.append({
            "ref": hit.key, "frames": [_r(t) for t in hit.frames], "score": _r(hit.score), "method": hit.method,
            "mirrored": hit.mirrored, "region": [_r(x / w), _r(y / h), _r((x + bw) / w), _r((y + bh) / h)],
        })
    return {"duration_s": _r(matches.duration_s), "frames": matches.frames,
            "frame_size": list(matches.frame_size), "footage": footage, "assets": assets, "error": None}


def _error_text(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def match_source(source: Any, index: ReferenceIndex, key: str, lookup: Lookup
                 ) -> tuple[str | None, str | None, dict[str, Any], bool]:
    """``(sha256, cache_key, raw result, from_cache)`` of one clip; errors become the raw ``error``.

    ``lookup(cache_key)`` returns a stored raw result of the same content, registry references and engine.
    A clip whose bytes cannot be read has no sha256 and no cache key (it is tried again next time); a clip
    whose content does not decode is stored like any other (the same bytes will not decode next time either).
    """
    try:
        sha = source.sha256() if hasattr(source, "sha256") else sha256_file(Path(source))
    except (ProvenanceError, OSError) as exc:
        return None, None, {"error": _error_text(exc)}, False
    cache_key = f"{sha}:{key}"
    stored = lookup(cache_key)
    if stored is not None:
        return sha, cache_key, stored, True
    try:
        raw = raw_matches(match_clip(source, index))
    except (ProvenanceError, OSError) as exc:
        raw = {"error": _error_text(exc)}
    return sha, cache_key, raw, False


# ---------------------------------------------------------------------------------------------------------
# workers
# ---------------------------------------------------------------------------------------------------------


def stored_lookup(registry: Registry, rescan: bool) -> Lookup:
    """``lookup(cache_key)``: a stored raw result of the same clip content, references and engine (none when
    rescanning)."""
    def lookup(cache_key: str) -> dict[str, Any] | None:
        if rescan:
            return None
        with registry.session() as session:
            row = session.exec(select(ClipResult.result).where(ClipResult.cache_key == cache_key).limit(1)).first()
        return dict(row) if row is not None else None

    return lookup


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


# ---------------------------------------------------------------------------------------------------------
# the scan
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClipDone:
    """What a progress display learns as each clip finishes."""

    clip: dict[str, Any]
    done: int
    total: int
    cached: bool
    size: int  # bytes of the clip
    total_bytes: int  # bytes of the whole dataset (for an ETA)


ClipCallback = Callable[[ClipDone], None]


def scan(registry: Registry, dataset: Path, params: EngineParams = EngineParams(),
         progress: Progress | None = None, workers: int = 1, *, as_of: date | None = None,
         territory: str | None = None, on_clip: ClipCallback | None = None, rescan: bool = False,
         executor: Executor | None = None) -> Report:
    """Scan a dataset (a folder, a WebDataset shard, or a JSONL/CSV/Parquet manifest) and return the report.

    Every clip's raw result is committed to the registry database as it finishes (``clip_results``, keyed by
    the clip's sha256 and :func:`match_key`), so an interrupted scan run again picks up where it stopped, a
    clip already scanned (here or in another dataset) is not matched again, and the report is the same as an
    uninterrupted run's. ``rescan`` ignores stored results (and replaces them). Policies are applied as of
    ``as_of`` (default: today, UTC) in ``territory`` (ISO 3166-1 alpha-2, optional).

    ``executor`` matches the clips (:mod:`provenance.executors`: local processes or a Ray cluster); by
    default a :class:`~provenance.executors.LocalExecutor` of ``workers`` processes, each loading the
    reference index once. An in-memory database cannot be shared with other processes, so it always scans
    in this one. Whatever the executor, results are stored here, one transaction per clip, and the report is
    the same.
    """
    from contextlib import closing

    from provenance.audit.executors import LocalExecutor, MatchJob
    from provenance.dataset import BadEntry, ClipSource, iter_sources

    root = dataset.resolve()
    if not root.exists():
        raise ScanError(f"{dataset}: no such folder or file")
    if workers < 1:
        raise ScanError(f"workers must be >= 1, got {workers}")
    if territory is not None and not (len(territory) == 2 and territory.isalpha()):
        raise ScanError(f"territory must be an ISO 3166-1 alpha-2 code, got {territory!r}")
    territory = territory.upper() if territory else None
    as_of = as_of or datetime.now(UTC).date()
    ensure_fingerprints(registry, params, progress)
    with registry.session() as session:
        digest = registry_digest(session)
    key = match_key(registry, params)
    scan_id = hashlib.sha256(f"{root}\n{key}".encode()).hexdigest()[:32]
    entries = list(iter_sources(root))
    total = len(entries)
    sizes = [_size(entry) for entry in entries]
    total_bytes = sum(sizes)
    _begin_scan(registry, scan_id, root, digest, params, total)
    infos = load_infos(registry)
    clips: list[Clip | None] = [None] * total
    done = 0

    def finish(i: int, sha: str | None, cache_key: str | None, raw: dict[str, Any], cached: bool) -> None:
        nonlocal done
        entry = entries[i]
        source_info = None
        if isinstance(entry, ClipSource) and entry.member is not None:
            source_info = Source(shard=entry.rel[: -len(entry.member) - 1], member=entry.member)
        clip = render_clip(entry.rel, sha, raw, infos, as_of, territory, entry.metadata, source_info)
        data = clip.to_dict()
        store_clip(registry, scan_id, data, cache_key, raw, replace_cached=rescan)
        clips[i] = clip
        done += 1
        if on_clip:
            on_clip(ClipDone(data, done, total, cached, sizes[i], total_bytes))

    todo: list[int] = []
    for i, entry in enumerate(entries):
        if isinstance(entry, BadEntry):
            finish(i, None, None, {"error": entry.error}, False)
        else:
            todo.append(i)
    # the largest clips first: a long video started last would keep one worker busy while the others idle
    # (the report keeps the dataset's order whatever the order clips finish in)
    todo.sort(key=lambda i: -sizes[i])
    runner = executor if executor is not None else LocalExecutor(workers)
    job = MatchJob(registry, params, key, rescan, infos)
    with closing(runner.run(job, [(i, entries[i]) for i in todo])) as results:
        for i, result in results:
            finish(i, *result)
    _end_scan(registry, scan_id, clips)
    if progress:
        progress("done", total, total)
    final = [c for c in clips if c is not None]
    summary: dict[str, int] = {level: sum(1 for c in final if c.exposure == level) for level in EXPOSURE_ORDER}
    summary["errors"] = sum(1 for c in final if c.error)
    footage_count = sum(1 for info in infos.values() if info.kind == "footage")
    return Report(
        scan=ScanFacts(
            dataset=str(root), registry_digest=digest, engine=engine_id(),
            settings=params.as_dict(), date=datetime.now(UTC).date().isoformat(),
            as_of=as_of.isoformat(), territory=territory, match_key=key,
            references=References(footage=footage_count, assets=len(infos) - footage_count),
            summary=summary,
        ),
        clips=final,
    )


def _size(entry: Any) -> int:
    """Bytes of a clip (0 when unknown: an unreadable or broken entry)."""
    if getattr(entry, "size", None) is not None:
        return int(entry.size)
    local = getattr(entry, "local_file", None)
    try:
        return local.stat().st_size if local is not None else 0
    except OSError:
        return 0


def _begin_scan(registry: Registry, scan_id: str, root: Path, digest: str, params: EngineParams,
                total: int) -> None:
    with registry.write() as session:
        row = session.get(Scan, scan_id)
        if row is None:
            session.add(Scan(id=scan_id, dataset=str(root), registry_digest=digest, engine=engine_id(),
                             settings=params.as_dict(), clips_total=total))
        else:
            row.status, row.registry_digest, row.clips_total, row.finished_at = "running", digest, total, None
            session.add(row)


def store_clip(registry: Registry, scan_id: str, clip: dict[str, Any], cache_key: str | None,
               raw: dict[str, Any], *, replace_cached: bool) -> None:
    """Commit one clip's result (and its findings) at once: an interrupted scan loses nothing it finished."""
    with registry.write() as session:
        old = session.exec(select(ClipResult).where(ClipResult.scan_id == scan_id,
                                                    ClipResult.path == clip["path"])).first()
        if old is not None:
            session.delete(old)
            session.flush()
        if replace_cached and cache_key is not None:
            for stale in session.exec(select(ClipResult).where(ClipResult.cache_key == cache_key)).all():
                stale.result = raw
                session.add(stale)
        row = ClipResult(scan_id=scan_id, path=clip["path"], sha256=clip["sha256"], cache_key=cache_key,
                         duration_s=clip["duration_s"], exposure=clip["exposure"], error=clip["error"], result=raw)
        session.add(row)
        session.flush()
        for layer in clip["layers"]:
            session.add(Finding(clip_id=int(row.id or 0), layer=layer["layer"], holder_id=layer["holder"],
                                work_id=layer["work"], ai_training=layer["policy"]["ai_training"],
                                confidence=float(layer["confidence"]), segments=layer["segments"],
                                evidence={"items": layer["evidence"]}))


def _end_scan(registry: Registry, scan_id: str, clips: list[Clip | None]) -> None:
    with registry.write() as session:
        row = session.get(Scan, scan_id)
        if row is not None:
            final = [c for c in clips if c is not None]
            row.status, row.clips_done = "done", len(final)
            row.clips_error = sum(1 for c in final if c.error)
            row.finished_at = datetime.now(UTC)
            session.add(row)


def write_report(report: Report, path: Path) -> None:
    """Write the report JSON to ``path`` atomically (a reader never sees half a file)."""
    atomic_write_text(path, report_json(report))
