"""What the HTTP service does with the audit, kept out of the web layer: one-clip checks against a cached
reference index, stored results by content, and scan jobs confined to data roots.

It wraps :mod:`provenance.audit` (the scan, matching and rendering of one clip) without changing it.
"""

from __future__ import annotations

import inspect
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

from provenance.audit import scan as audit
from provenance.audit.executors import make_executor
from provenance.engine import EngineParams, ReferenceIndex
from provenance.errors import ProvenanceError, ScanError
from provenance.report import Clip, render_clip, with_layers
from rightsdb import NotFoundError, Registry, RegistryError, Scan, StoreError
from rightsdb.jobs import (
    DEFAULT_LEASE_SECONDS,
    JobCancelled,
    LeaseLost,
    claim_job,
    finish_job,
    new_owner,
    record_progress,
    release_job,
    renew_lease,
    set_scan_id,
)
from rightsdb.models import ScanJob
from rightsdb.queries import stored_results

log = logging.getLogger(__name__)

__all__ = ["CHECKS_SCAN_ID", "Checker", "add_reference_file", "confine_dataset", "run_scan_job", "stored_clip"]

#: The scan row under which single clip checks store their results (``clip_results`` needs a scan).
CHECKS_SCAN_ID = "api-clip-checks"


class Checker:
    """Matches single clips against the registry, in a bounded pool of threads.

    Each thread keeps its own reference index (engine objects are not shared between threads), built once
    per :func:`audit.match_key`: a registry whose references change is fingerprinted and indexed again on the
    next check; policy changes need no new index (results are rendered with the current terms).
    """

    def __init__(self, registry: Registry, params: EngineParams | None = None, threads: int = 2) -> None:
        self.registry = registry
        self.params = params or EngineParams()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="clip-check")
        self._local = threading.local()
        self._ready_lock = threading.Lock()
        self._ready_key: str | None = None

    def submit(self, path: Path, name: str, as_of: date, territory: str | None, rescan: bool = False
               ) -> Future[Clip]:
        return self._pool.submit(self.check, path, name, as_of, territory, rescan)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def ready_key(self) -> str:
        """The registry's current match key, with every footage reference fingerprinted for it."""
        key = audit.match_key(self.registry, self.params)
        if key != self._ready_key:
            with self._ready_lock:
                if key != self._ready_key:
                    audit.ensure_fingerprints(self.registry, self.params)
                    self._ready_key = key
        return key

    def _index(self) -> tuple[str, ReferenceIndex]:
        key = self.ready_key()
        local = self._local
        if getattr(local, "key", None) != key:
            while True:
                index, _ = audit.load_index(self.registry, self.params)
                again = self.ready_key()
                if again == key:
                    break
                key = again  # the references changed while the index was read
            local.key, local.index = key, index
        return key, local.index

    def check(self, path: Path, name: str, as_of: date, territory: str | None, rescan: bool = False
              ) -> Clip:
        """The report's clip object for the media file ``path`` (called ``name``); stored by content hash.
        A content already matched against the same references is not matched again unless ``rescan``."""
        key, index = self._index()
        lookup = audit.stored_lookup(self.registry, rescan)
        sha, cache_key, raw, _cached = audit.match_source(path, index, key, lookup)
        infos = audit.load_infos(self.registry)
        clip = render_clip(name, sha, raw, infos, as_of, territory)
        if sha is not None:
            _ensure_checks_scan(self.registry)
            audit.store_clip(self.registry, CHECKS_SCAN_ID, {**clip.to_dict(), "path": f"{sha}/{name}"}, cache_key,
                             raw, replace_cached=rescan)
        return clip


def _ensure_checks_scan(registry: Registry) -> None:
    with registry.session() as session:
        if session.get(Scan, CHECKS_SCAN_ID) is not None:
            return
    with registry.write() as session:
        if session.get(Scan, CHECKS_SCAN_ID) is None:
            session.add(Scan(id=CHECKS_SCAN_ID, dataset="(single clip checks through the service)",
                             registry_digest="", engine=audit.engine_id(), settings={}, status="service"))


def stored_clip(registry: Registry, sha256: str, as_of: date, territory: str | None,
                params: EngineParams | None = None, holder: str | None = None) -> Clip:
    """The stored result of a clip's content rendered with the registry's current terms.

    Raises :class:`NotFoundError` when the content was never checked or scanned, or only against other
    references than the registry holds now (its stored matches may miss a new reference).

    With ``holder`` (what a holder may see) only the layers of that holder's works are shown, and the
    exposure and the reason are those of these layers alone; a clip with none of them, like any other clip
    this holder may not see, is a :class:`NotFoundError` that does not say whether the clip is stored.
    """
    if holder is not None:
        try:
            clip = stored_clip(registry, sha256, as_of, territory, params)
        except NotFoundError:
            clip = None
        mine = [x for x in clip.layers if x.holder == holder] if clip is not None else []
        if clip is None or not mine:
            raise NotFoundError(f"clip: no stored result for sha256 {sha256} with a work of holder {holder!r}")
        return with_layers(clip, mine)
    rows = stored_results(registry, sha256)
    if not rows:
        raise NotFoundError(f"clip: no stored result for sha256 {sha256}; check the clip first "
                            "(POST /v1/clips/check) or scan a dataset holding it")
    key = audit.match_key(registry, params or EngineParams())
    for scan_id, path, cache_key, raw in rows:
        if cache_key == f"{sha256}:{key}":
            name = path.split("/", 1)[1] if scan_id == CHECKS_SCAN_ID and "/" in path else path
            return render_clip(name, sha256, raw, audit.load_infos(registry), as_of, territory)
    raise NotFoundError(f"clip: the stored results for sha256 {sha256} were matched against other references "
                        "than the registry holds now; check the clip again")


def confine_dataset(dataset: Path, roots: list[Path], label: str = "dataset") -> Path:
    """The dataset's resolved path when it lies under one of ``roots`` (symbolic links followed);
    :class:`ScanError` naming it (as ``label``) otherwise."""
    if not roots:
        raise ScanError(f"{label}: this service reads no server-side data (PROVENANCE_DATA_ROOTS is not set)")
    if not dataset.is_absolute():
        raise ScanError(f"{label}: {str(dataset)!r} must be an absolute path under a data root")
    try:
        real = dataset.resolve(strict=True)
    except (OSError, RuntimeError):
        raise ScanError(f"{label}: {dataset}: no such file or folder") from None
    if not any(real == r or real.is_relative_to(r) for r in roots):
        raise ScanError(f"{label}: {dataset} is outside the data roots")
    return real


def _check_entries(dataset: Path, roots: list[Path]) -> None:
    """Refuse a dataset any of whose clips resolves outside the roots (a symlink or a manifest row)."""
    from provenance.dataset import BadEntry, iter_sources

    for entry in iter_sources(dataset, allowed_roots=roots):
        if isinstance(entry, BadEntry) and entry.outside_roots:
            raise ScanError(f"dataset: {entry.error}; nothing was scanned")


class _Stopping(Exception):
    """The service is stopping: leave the job to be resumed when it starts again."""


class _Lease:
    """Keeps a claimed job's lease alive from a thread while the job runs (renewed three times a lease); sets
    ``lost`` when the job turns out not to be this runner's any more."""

    def __init__(self, registry: Registry, job_id: str, owner: str, seconds: float) -> None:
        self.registry, self.job_id, self.owner, self.seconds = registry, job_id, owner, seconds
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"lease-{job_id[:8]}", daemon=True)

    def _renew(self) -> None:
        while not self._done.wait(self.seconds / 3):
            try:
                if not renew_lease(self.registry, self.job_id, self.owner, self.seconds):
                    self.lost.set()
                    return
            except Exception as exc:  # the database is away for a moment: try again at the next beat
                log.warning("scan job %s: cannot renew its lease: %s", self.job_id, " ".join(str(exc).split())[:300])

    def __enter__(self) -> _Lease:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()


def run_scan_job(registry: Registry, job_id: str, roots: list[Path], workers: int = 1,
                 params: EngineParams | None = None, stop: threading.Event | None = None,
                 executor: str = "local", address: str | None = None, *, owner: str | None = None,
                 claimed: ScanJob | None = None, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> str:
    """Run one scan job to its end; returns its final status. Never raises for a failed scan: the job row says
    what went wrong. When ``stop`` is set the scan stops after the clip it is on and the job is queued again (a
    restarted service resumes it). ``executor`` (``local`` or ``ray``, with the Ray cluster's ``address``:
    none joins the cluster this process is connected to, or starts a local one) matches the clips, as the
    CLI's ``--executor``.

    The job is claimed for ``owner`` (default: a new owner id) unless the caller ``claimed`` it already for
    that owner; ``skipped`` when it could not be claimed. Its lease is renewed while it runs; a job taken over
    by another runner meanwhile (this one was presumed dead) stops after the clip it is on, writing nothing
    more: ``lost``."""
    owner = owner or new_owner()
    job = claimed if claimed is not None else claim_job(registry, job_id, owner, lease_seconds=lease_seconds)
    if job is None:
        return "skipped"
    with _Lease(registry, job_id, owner, lease_seconds) as lease:
        return _run_claimed(registry, job, roots, workers, params, stop, executor, address, owner, lease)


def _run_claimed(registry: Registry, job: ScanJob, roots: list[Path], workers: int, params: EngineParams | None,
                 stop: threading.Event | None, executor: str, address: str | None, owner: str, lease: _Lease
                 ) -> str:
    job_id = job.id
    options = dict(job.options)
    dataset = Path(job.dataset)
    errors = 0
    scan_known = False

    def check() -> None:
        if stop is not None and stop.is_set():
            raise _Stopping
        if lease.lost.is_set():
            raise LeaseLost(job_id)

    def progress(what: str, done: int, total: int) -> None:
        check()
        record_progress(registry, job_id, phase=what, owner=owner, lease_seconds=lease.seconds)

    def on_clip(event: audit.ClipDone) -> None:
        nonlocal errors, scan_known
        check()
        errors += bool(event.clip.get("error"))
        if not scan_known:
            scan_known = set_scan_id(registry, job_id, str(dataset)) is not None
        record_progress(registry, job_id, phase="scanning", done=event.done, total=event.total, errors=errors,
                        owner=owner, lease_seconds=lease.seconds)

    try:
        dataset = confine_dataset(dataset, roots)
        kwargs: dict[str, Any] = {}
        if "allowed_roots" in inspect.signature(audit.scan).parameters:
            kwargs["allowed_roots"] = roots
        else:
            _check_entries(dataset, roots)
        as_of = date.fromisoformat(options["as_of"]) if options.get("as_of") else None
        runner = make_executor(executor, workers, address)
        report = audit.scan(registry, dataset, params or EngineParams(), progress, workers, as_of=as_of,
                            territory=options.get("territory"), on_clip=on_clip,
                            rescan=bool(options.get("rescan")), executor=runner, **kwargs)
        set_scan_id(registry, job_id, str(dataset))
        if not finish_job(registry, job_id, "done", report=report.to_dict(), owner=owner):
            raise LeaseLost(job_id)
        return "done"
    except _Stopping:
        release_job(registry, job_id, owner)
        return "queued"
    except LeaseLost:
        log.warning("scan job %s was taken over by another runner (this one's lease expired); stopped", job_id)
        return "lost"
    except JobCancelled:
        finish_job(registry, job_id, "cancelled", owner=owner)
        return "cancelled"
    except (ProvenanceError, RegistryError, OSError) as exc:
        log.warning("scan job %s failed: %s", job_id, exc)
        status = "failed"
        message = str(exc)
    except Exception as exc:
        log.exception("scan job %s failed", job_id)
        status = "failed"
        message = f"internal error: {type(exc).__name__}: {exc}"
    try:
        finish_job(registry, job_id, status, error=message, owner=owner)
    except StoreError:
        log.exception("cannot record the end of scan job %s", job_id)
    return status


def add_reference_file(checker: Checker, work_id: str, kind: str, upload: Path, filename: str, media_dir: Path
                       ) -> str:
    """Make an uploaded file a reference of a work and index it; returns its registry path.

    The file is probed (a video for footage, a still for an asset), kept under ``media_dir`` by content hash
    and decoded whole (footage is fingerprinted, an asset loaded) before the work is answered: a file that
    does not decode is removed again and raises :class:`DecodeError`/:class:`RegistryError`.
    """
    import os
    import shutil

    from provenance.audit.manifests import media_probe
    from provenance.engine import load_asset
    from provenance.errors import DecodeError, NotMediaError
    from rightsdb import MediaProbeError, sha256_file
    from rightsdb.edit import add_reference, remove_reference
    from rightsdb.queries import get_work

    registry = checker.registry
    get_work(registry, work_id)  # NotFoundError before any work
    try:
        facts = media_probe(upload)
    except MediaProbeError as exc:
        raise NotMediaError(filename, str(exc)) from None
    sha = sha256_file(upload)
    dest = media_dir.resolve() / sha[:2] / f"{sha}{upload.suffix.lower()}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        tmp = dest.with_name(dest.name + ".part")
        shutil.copyfile(upload, tmp)
        os.replace(tmp, dest)
    if kind == "asset" and facts.kind == "image":
        try:
            load_asset(dest)
        except (OSError, ValueError) as exc:
            raise DecodeError(filename, f"the still does not decode: {exc}") from None
    path = f"uploads/{filename}"
    add_reference(registry, work_id, path, kind, dest, sha, upload.stat().st_size, facts)
    try:
        checker.ready_key()  # fingerprints new footage: the next check and scan use it
    except ProvenanceError:
        remove_reference(registry, work_id, path)
        raise
    return path
