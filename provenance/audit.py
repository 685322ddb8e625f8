"""The audit: fingerprint the registry's references, scan a dataset folder, build the report.

This module joins the pure engine (:mod:`provenance.engine`) and the registry
(:mod:`rightsdb`). Reference fingerprints are cached in the registry, keyed by
the file's sha256 and the engine's fingerprint version, so they are computed
once per file, whatever manifest or path names it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from rightsdb import (
    Fingerprint,
    Holder,
    Reference,
    Registry,
    Work,
    atomic_write_text,
    registry_digest,
    sha256_file,
)

from . import ENGINE_NAME, __version__
from ._errors import ProvenanceError, ScanError
from .engine import (
    ENGINE_VERSION,
    ClipMatches,
    EngineParams,
    FootagePrint,
    ReferenceIndex,
    fingerprint_footage,
    load_asset,
    match_clip,
)
from .media import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from .outputs import EXPOSURE_ORDER

log = logging.getLogger(__name__)

FOOTAGE_ALGORITHM = "provenance-footage"

Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass(frozen=True, slots=True)
class RefInfo:
    """What the report says of a reference: its path and its work's holder, layer and terms."""

    reference_id: int
    path: str
    kind: str
    work: str
    title: str
    holder: str
    holder_name: str
    layer: str
    ai_training: str
    license: str | None


def engine_id() -> str:
    return f"{ENGINE_NAME}+{__version__}/engine-{ENGINE_VERSION}"


def ensure_fingerprints(registry: Registry, params: EngineParams, progress: Progress | None = None) -> int:
    """Fingerprint every footage reference that has no stored fingerprint of this engine version.

    Returns how many were computed. Each is committed on its own, so an
    interrupted run keeps what it finished.
    """
    with registry.session() as session:
        refs = session.exec(select(Reference).where(Reference.kind == "footage")).all()
        done = set(session.exec(select(Fingerprint.sha256).where(
            Fingerprint.algorithm == FOOTAGE_ALGORITHM, Fingerprint.version == ENGINE_VERSION)).all())
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
                Fingerprint.sha256 == sha, Fingerprint.algorithm == FOOTAGE_ALGORITHM,
                Fingerprint.version == ENGINE_VERSION)).first()
            if exists is None:
                session.add(Fingerprint(sha256=sha, algorithm=FOOTAGE_ALGORITHM, version=ENGINE_VERSION,
                                        params=params.as_dict(), count=len(fp.timestamps),
                                        timestamps=timestamps, data=data, quality=quality))
    if progress:
        progress("fingerprints ready", len(todo), len(todo))
    return len(todo)


def load_index(registry: Registry, params: EngineParams) -> tuple[ReferenceIndex, dict[str, RefInfo]]:
    """Build the in-memory reference index of the whole registry (footage prints and assets)."""
    index = ReferenceIndex(params)
    infos: dict[str, RefInfo] = {}
    with registry.session() as session:
        rows = session.exec(
            select(Reference, Work, Holder)
            .join(Work, col(Reference.work_id) == col(Work.id))
            .join(Holder, col(Work.holder_id) == col(Holder.id))
            .order_by(col(Reference.id))
        ).all()
        prints = {
            fp.sha256: fp
            for fp in session.exec(select(Fingerprint).where(
                Fingerprint.algorithm == FOOTAGE_ALGORITHM, Fingerprint.version == ENGINE_VERSION)).all()
        }
    for ref, work, holder in rows:
        key = str(ref.id)
        infos[key] = RefInfo(int(ref.id or 0), ref.path, ref.kind, work.id, work.title, holder.id, holder.name,
                             work.layer, work.ai_training, work.license)
        if ref.kind == "footage":
            stored = prints.get(ref.sha256)
            if stored is None:
                raise ScanError(f"reference {ref.path} of work {work.id} has no fingerprint; run the scan again")
            index.add_footage(key, work.layer, FootagePrint.from_payload(stored.timestamps, stored.data,
                                                                         stored.quality or b""))
        else:
            index.add_asset(key, work.layer, load_asset(ref.location))
    return index, infos


def iter_dataset(root: Path) -> Iterator[Path]:
    """Media files below ``root`` (recursively, sorted, hidden entries skipped)."""
    suffixes = VIDEO_SUFFIXES | IMAGE_SUFFIXES
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and Path(name).suffix.lower() in suffixes:
                yield Path(dirpath) / name


def exposure_of(ai_trainings: list[str]) -> str:
    """The contract's rule: none / low (all allow) / medium (some conditional or unknown) / high (any deny)."""
    if not ai_trainings:
        return "none"
    if "deny" in ai_trainings:
        return "high"
    if any(a in ("conditional", "unknown") for a in ai_trainings):
        return "medium"
    return "low"


def _r(x: float) -> float:
    return round(float(x), 3)


def clip_layers(matches: ClipMatches, infos: dict[str, RefInfo]) -> list[dict[str, Any]]:
    """Group footage and asset matches by work into the report's layer objects."""
    by_work: dict[str, dict[str, Any]] = {}

    def entry(info: RefInfo) -> dict[str, Any]:
        if info.work not in by_work:
            policy: dict[str, Any] = {"ai_training": info.ai_training}
            if info.license is not None:
                policy["license"] = info.license
            by_work[info.work] = {
                "layer": info.layer, "holder": info.holder, "work": info.work, "title": info.title,
                "holder_name": info.holder_name, "policy": policy, "confidence": 0.0, "segments": [],
                "evidence": [],
            }
        return by_work[info.work]

    for ref in matches.footage:
        info = infos[ref.key]
        e = entry(info)
        for seg in ref.segments:
            e["segments"].append({
                "start": _r(seg.query_start), "end": _r(min(seg.query_end, matches.duration_s)),
                "reference": info.path, "ref_start": _r(seg.ref_start), "ref_end": _r(seg.ref_end),
                "speed": _r(seg.speed), "score": _r(seg.score),
            })
        e["confidence"] = max(e["confidence"], _r(ref.confidence))
        e["evidence"].append({
            "reference": info.path, "kind": "footage", "methods": ref.methods, "mirrored": ref.mirrored,
            "best_pdq_distance": ref.best_distance,
            "region": [_r(v) for v in ref.region] if ref.region else None,
        })
    for hit in matches.assets:
        info = infos[hit.key]
        e = entry(info)
        confidence = min(1.0, hit.score / 36.0) if hit.method == "features" else hit.score
        e["confidence"] = max(e["confidence"], _r(confidence))
        e["segments"].append({"start": _r(min(hit.frames)), "end": _r(max(hit.frames)), "reference": info.path,
                              "ref_start": None, "ref_end": None})
        w, h = hit.frame_size
        x, y, bw, bh = hit.box
        e["evidence"].append({
            "reference": info.path, "kind": "asset", "method": hit.method, "mirrored": hit.mirrored,
            "frames": [_r(t) for t in hit.frames], "score": _r(hit.score),
            "region": [_r(x / w), _r(y / h), _r((x + bw) / w), _r((y + bh) / h)],
        })
    layers = list(by_work.values())
    for layer in layers:
        layer["segments"].sort(key=lambda s: (s["start"], s["reference"]))
    layers.sort(key=lambda item: (["game", "stream", "ugc", "other"].index(item["layer"]), item["work"]))
    return layers


def scan_clip(path: Path, rel: str, index: ReferenceIndex, infos: dict[str, RefInfo]) -> dict[str, Any]:
    """One clip's report object. Errors become the clip's ``error``; they never escape."""
    clip: dict[str, Any] = {"path": rel, "sha256": None, "duration_s": None, "exposure": "none",
                            "error": None, "layers": []}
    try:
        clip["sha256"] = sha256_file(path)
        matches = match_clip(path, index)
    except (ProvenanceError, OSError) as exc:
        clip["error"] = " ".join(str(exc).split()) or type(exc).__name__
        return clip
    clip["duration_s"] = _r(matches.duration_s)
    clip["layers"] = clip_layers(matches, infos)
    clip["exposure"] = exposure_of([layer["policy"]["ai_training"] for layer in clip["layers"]])
    return clip


_WORKER: dict[str, Any] = {}


def _worker_init(url: str, params: EngineParams) -> None:
    """Load the reference index once per worker process (not once per clip)."""
    registry = Registry(url, auto_migrate=False)
    try:
        _WORKER["index"], _WORKER["infos"] = load_index(registry, params)
    finally:
        registry.dispose()


def _worker_scan(path: str, rel: str) -> dict[str, Any]:
    return scan_clip(Path(path), rel, _WORKER["index"], _WORKER["infos"])


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def scan(registry: Registry, dataset: Path, params: EngineParams = EngineParams(),
         progress: Progress | None = None, workers: int = 1) -> dict[str, Any]:
    """Scan every media file below ``dataset`` and return the report (contract in README / DESIGN.md).

    ``workers`` > 1 scans clips in that many processes, each loading the reference index once: the
    same clips in dataset order, with the same works and exposures as one process (the segments of
    spurious local-feature matches can still differ between processes: a known bug). An in-memory
    database cannot be shared with other processes, so it always scans in this one.
    """
    root = dataset.resolve()
    if not root.is_dir():
        raise ScanError(f"{dataset}: not a folder")
    if workers < 1:
        raise ScanError(f"workers must be >= 1, got {workers}")
    ensure_fingerprints(registry, params, progress)
    with registry.session() as session:
        digest = registry_digest(session)
    files = list(iter_dataset(root))
    rels = [path.relative_to(root).as_posix() for path in files]
    workers = min(workers, max(1, len(files)))
    if workers > 1 and registry.in_memory:
        log.info("in-memory registry: scanning in one process")
        workers = 1
    clips: list[dict[str, Any]] = []
    if workers == 1:
        index, infos = load_index(registry, params)
        footage_count, asset_count = index.footage_count, index.asset_count
        for i, (path, rel) in enumerate(zip(files, rels, strict=True)):
            if progress:
                progress(rel, i, len(files))
            clips.append(scan_clip(path, rel, index, infos))
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        footage_count, asset_count = _reference_counts(registry)
        done: dict[int, dict[str, Any]] = {}
        ctx = multiprocessing.get_context("spawn")  # no fork: decoders and OpenCV keep threads
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                                 initargs=(registry.url, params)) as pool:
            futures = {pool.submit(_worker_scan, str(path), rel): i
                       for i, (path, rel) in enumerate(zip(files, rels, strict=True))}
            for n, future in enumerate(as_completed(futures)):
                i = futures[future]
                done[i] = future.result()
                if progress:
                    progress(rels[i], n + 1, len(files))
        clips = [done[i] for i in range(len(files))]
    if progress:
        progress("done", len(files), len(files))
    summary = {level: sum(1 for c in clips if c["exposure"] == level) for level in EXPOSURE_ORDER}
    summary["errors"] = sum(1 for c in clips if c["error"])
    return {
        "scan": {
            "dataset": str(root), "registry_digest": digest, "engine": engine_id(),
            "settings": params.as_dict(), "date": datetime.now(UTC).date().isoformat(),
            "references": {"footage": footage_count, "assets": asset_count},
            "summary": summary,
        },
        "clips": clips,
    }


def _reference_counts(registry: Registry) -> tuple[int, int]:
    with registry.session() as session:
        kinds = session.exec(select(Reference.kind)).all()
    footage = sum(1 for k in kinds if k == "footage")
    return footage, len(kinds) - footage


def write_report(report: dict[str, Any], path: Path) -> None:
    atomic_write_text(path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
