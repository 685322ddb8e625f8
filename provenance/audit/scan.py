"""The scan: every clip of a dataset matched against the registry, each result stored as it finishes, the report.

A scan is resumable and incremental: each clip's raw result is committed to the registry database as it finishes,
keyed by the clip's content (sha256) and :func:`~provenance.audit.references.match_key`; a scan run again picks
up where it stopped, and a clip already scanned (here or in another dataset) is not matched again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.audit.clip import store_clip
from provenance.audit.indexdir import ensure_index
from provenance.audit.references import (
    Progress,
    check_assets,
    engine_id,
    ensure_fingerprints,
    load_infos,
    match_key,
    require_references,
)
from provenance.audit.reviews import load_reviews
from provenance.audit.signals import Snapshots, collected_signals
from provenance.dataset import BadEntry, ClipSource, Entry, Selection, iter_sources
from provenance.engine import EngineParams
from provenance.errors import ScanError
from provenance.report import Clip, References, Report, ScanFacts, Source, exposure_summary, render_clip, report_json
from rightsdb import Registry, atomic_write_text, registry_digest
from rightsdb.results import begin_scan, end_scan
from rightsdb.validation import territory_problem

if TYPE_CHECKING:
    from provenance.audit.executors import Executor

__all__ = ["ClipCallback", "ClipDone", "scan", "selected_entries", "size_of", "write_report"]


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


def scan(
    registry: Registry,
    dataset: Path,
    params: EngineParams = EngineParams(),
    progress: Progress | None = None,
    workers: int = 1,
    *,
    as_of: date | None = None,
    territory: str | None = None,
    on_clip: ClipCallback | None = None,
    rescan: bool = False,
    executor: Executor | None = None,
    allowed_roots: Sequence[Path] | None = None,
    selection: Selection | None = None,
    allow_empty_registry: bool = False,
    heartbeat: Callable[[], None] | None = None,
    signals_dir: Path | None = None,
) -> Report:
    """Scan a dataset (a folder, a WebDataset shard, or a JSONL/CSV/Parquet manifest) and return the report.

    Every clip's raw result is committed to the registry database as it finishes (``clip_results``, keyed by
    the clip's sha256 and :func:`~provenance.audit.references.match_key`), so an interrupted scan run again picks
    up where it stopped, a clip already scanned (here or in another dataset) is not matched again, and the report
    is the same as an uninterrupted run's. ``rescan`` ignores stored results (and replaces them). Policies are
    applied as of ``as_of`` (default: today, UTC) in ``territory`` (ISO 3166-1 alpha-2, optional).

    ``executor`` matches the clips (:mod:`provenance.audit.executors`: local processes or a Ray cluster); by
    default a :class:`~provenance.audit.executors.LocalExecutor` of ``workers`` processes, each loading the
    reference index once. An in-memory database cannot be shared with other processes, so it always scans
    in this one. Whatever the executor, results are stored here, one transaction per clip, and the report is
    the same.

    ``allowed_roots`` (a service's data roots): a dataset any of whose clips resolves outside them (through a
    symbolic link or a manifest row) is refused with :class:`ScanError` before anything is scanned.

    ``selection`` (:class:`~provenance.dataset.Selection`: include/exclude globs over clip paths, a limit) scans
    part of the dataset; the report's scan facts record it.

    Fail-safe: a registry without any reference is refused (:class:`EmptyRegistryError`) unless
    ``allow_empty_registry``, and then every clip's exposure is ``unknown`` (nothing is cleared); a reference
    whose file is missing or changed since import is refused (:class:`ReferenceChangedError`) before any clip
    is matched.

    ``heartbeat()`` is called every second or so while clips are matched (between clips in this process); what
    it raises stops the scan at once (a cancelled service job), its worker processes killed.

    Opt-out signals: those embedded in each file, the HTTP headers recorded in its metadata and, with
    ``signals_dir``, its domain's robots.txt / ai.txt / tdmrep.json snapshots (:mod:`provenance.audit.signals`)
    are joined with its layers in the report.
    """
    from provenance.audit.executors import LocalExecutor, MatchJob

    root = dataset.resolve()
    if not root.exists():
        raise ScanError(f"{dataset}: no such folder or file")
    if workers < 1:
        raise ScanError(f"workers must be >= 1, got {workers}")
    if territory is not None and (problem := territory_problem(territory)) is not None:
        raise ScanError(f"territory: {problem}")
    territory = territory.strip().upper() if territory else None
    as_of = as_of or datetime.now(UTC).date()
    selection = selection if selection is not None and not selection.everything else None
    snapshots = Snapshots(signals_dir) if signals_dir is not None else None
    entries = selected_entries(root, allowed_roots, selection)
    if not allow_empty_registry:
        require_references(registry)
    local = executor.workers if isinstance(executor, LocalExecutor) else workers if executor is None else 1
    ensure_fingerprints(registry, params, progress, workers=local)
    infos = load_infos(registry)
    check_assets(registry, infos)  # the workers match with the index's copies: refuse a changed asset here, once
    with registry.session() as session:
        digest = registry_digest(session)
    key = match_key(registry, params)
    index_dir = ensure_index(registry, params, key, infos)  # built once per state of the registry
    reviews = load_reviews(registry)  # decisions and disputes as they stand when the scan starts
    scope = f"{root}\n{key}" + (f"\n{selection}" if selection is not None else "")  # a part: a scan of its own
    scan_id = hashlib.sha256(scope.encode()).hexdigest()[:32]
    total = len(entries)
    sizes = [size_of(entry) for entry in entries]
    total_bytes = sum(sizes)
    begin_scan(registry, scan_id, str(root), digest, engine_id(), params.as_dict(), total)
    clips: list[Clip | None] = [None] * total
    done = 0

    def finish(i: int, sha: str | None, cache_key: str | None, raw: dict[str, Any], cached: bool) -> None:
        nonlocal done
        entry = entries[i]
        source_info = None
        if isinstance(entry, ClipSource) and entry.member is not None:
            source_info = Source(shard=entry.rel[: -len(entry.member) - 1], member=entry.member)
        signals = collected_signals(entry.metadata, snapshots)
        clip = render_clip(
            entry.rel,
            sha,
            raw,
            infos,
            as_of,
            territory,
            entry.metadata,
            source_info,
            reviews=reviews.for_clip(sha),
            signals=signals,
        )
        store_clip(registry, scan_id, clip, cache_key, raw, replace_cached=rescan)
        clips[i] = clip
        done += 1
        if on_clip:
            on_clip(ClipDone(clip.to_dict(), done, total, cached, sizes[i], total_bytes))

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
    job = MatchJob(registry, params, key, rescan, infos, heartbeat, index_dir)
    with closing(runner.run(job, [(i, entries[i]) for i in todo])) as results:
        for i, result in results:
            finish(i, *result)
    final = [c for c in clips if c is not None]
    end_scan(registry, scan_id, len(final), sum(1 for c in final if c.error))
    if progress:
        progress("done", total, total)
    summary = exposure_summary(final)
    footage_count = sum(1 for info in infos.values() if info.kind == "footage")
    extra: dict[str, Any] = {"selection": selection.as_dict()} if selection is not None else {}
    if reviews.any_disputes:  # open disputes on the scanned clips (absent: the registry has none)
        extra["disputes_open"] = reviews.open_disputes(c.sha256 for c in final)
    audio_count = sum(1 for info in infos.values() if info.kind == "audio")
    return Report(
        scan=ScanFacts(
            dataset=str(root),
            registry_digest=digest,
            engine=engine_id(),
            settings=params.as_dict(),
            date=datetime.now(UTC).date().isoformat(),
            as_of=as_of.isoformat(),
            territory=territory,
            match_key=key,
            references=References(
                footage=footage_count,
                assets=len(infos) - footage_count - audio_count,
                **({"audio": audio_count} if audio_count else {}),
            ),
            summary=summary,
            **extra,
        ),
        clips=final,
    )


def selected_entries(
    root: Path, allowed_roots: Sequence[Path] | None = None, selection: Selection | None = None
) -> list[Entry]:
    """The dataset's entries (those ``selection`` takes); with ``allowed_roots``, :class:`ScanError` when any of
    them lies outside."""
    listed = iter_sources(root, allowed_roots=allowed_roots)
    entries = list(selection.apply(listed) if selection is not None else listed)
    escaped = next((e for e in entries if isinstance(e, BadEntry) and e.outside_roots), None)
    if escaped is not None:
        raise ScanError(f"dataset: {escaped.error}; nothing was scanned")
    return entries


def size_of(entry: Any) -> int:
    """Bytes of a clip (0 when unknown: an unreadable or broken entry)."""
    if getattr(entry, "size", None) is not None:
        return int(entry.size)
    local = getattr(entry, "local_file", None)
    try:
        return local.stat().st_size if local is not None else 0
    except OSError:
        return 0


def write_report(report: Report, path: Path) -> None:
    """Write the report JSON to ``path`` atomically (a reader never sees half a file)."""
    atomic_write_text(path, report_json(report))
