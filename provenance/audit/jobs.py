"""Scan jobs of the service: a dataset confined to the data roots, claimed under a lease that a thread renews while
the scan runs, and the job's row kept up to date (progress, cancel, the report or the error)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import date
from pathlib import Path

from provenance.audit.executors import make_executor
from provenance.audit.scan import ClipDone, scan
from provenance.engine import EngineParams
from provenance.errors import ProvenanceError, ScanError
from rightsdb import JobCancelled, LeaseLost, Registry, RegistryError, StoreError
from rightsdb.jobs import (
    DEFAULT_LEASE_SECONDS,
    check_job,
    claim_job,
    finish_job,
    new_owner,
    record_progress,
    release_job,
    renew_lease,
    set_scan_id,
)
from rightsdb.models import ScanJob

log = logging.getLogger(__name__)

__all__ = ["confine_dataset", "run_scan_job"]


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


def run_scan_job(
    registry: Registry,
    job_id: str,
    roots: list[Path],
    workers: int = 1,
    params: EngineParams | None = None,
    stop: threading.Event | None = None,
    executor: str = "local",
    address: str | None = None,
    *,
    owner: str | None = None,
    claimed: ScanJob | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    clip_timeout: float | None = None,
) -> str:
    """Run one scan job to its end; returns its final status. Never raises for a failed scan: the job row says
    what went wrong. When ``stop`` is set the scan stops (the clips in progress are matched again later) and the
    job is queued again (a restarted service resumes it). ``executor`` (``local`` or ``ray``, with the Ray
    cluster's ``address``: none joins the cluster this process is connected to, or starts a local one) matches
    the clips, as the CLI's ``--executor``.

    The job is claimed for ``owner`` (default: a new owner id) unless the caller ``claimed`` it already for
    that owner; ``skipped`` when it could not be claimed. Its lease is renewed while it runs; a job taken over
    by another runner meanwhile (this one was presumed dead) stops within a second or so, writing nothing more:
    ``lost``.

    A cancel, a stop or a lost lease is seen within a second or so even while a clip is being matched: its
    worker processes are killed (a clip that hangs cannot hold the job, nor the jobs queued after it), and no
    clip is given more than ``clip_timeout`` seconds (default: the executor's)."""
    owner = owner or new_owner()
    job = claimed if claimed is not None else claim_job(registry, job_id, owner, lease_seconds=lease_seconds)
    if job is None:
        return "skipped"
    with _Lease(registry, job_id, owner, lease_seconds) as lease:
        return _run_claimed(registry, job, roots, workers, params, stop, executor, address, owner, lease, clip_timeout)


def _run_claimed(
    registry: Registry,
    job: ScanJob,
    roots: list[Path],
    workers: int,
    params: EngineParams | None,
    stop: threading.Event | None,
    executor: str,
    address: str | None,
    owner: str,
    lease: _Lease,
    clip_timeout: float | None,
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

    last_look = 0.0

    def heartbeat() -> None:  # while a clip takes long: stop, lease and cancel looked at, cancel once a second
        nonlocal last_look
        check()
        if time.monotonic() - last_look >= 1.0:
            last_look = time.monotonic()
            check_job(registry, job_id, owner)

    def progress(what: str, done: int, total: int) -> None:
        check()
        record_progress(registry, job_id, phase=what, owner=owner, lease_seconds=lease.seconds)

    def on_clip(event: ClipDone) -> None:
        nonlocal errors, scan_known
        check()
        errors += bool(event.clip.get("error"))
        if not scan_known:
            scan_known = set_scan_id(registry, job_id, str(dataset)) is not None
        record_progress(
            registry,
            job_id,
            phase="scanning",
            done=event.done,
            total=event.total,
            errors=errors,
            owner=owner,
            lease_seconds=lease.seconds,
        )

    try:
        dataset = confine_dataset(dataset, roots)
        as_of = date.fromisoformat(options["as_of"]) if options.get("as_of") else None
        runner = make_executor(executor, workers, address, clip_timeout)
        report = scan(
            registry,
            dataset,
            params or EngineParams(),
            progress,
            workers,
            as_of=as_of,
            territory=options.get("territory"),
            on_clip=on_clip,
            rescan=bool(options.get("rescan")),
            executor=runner,
            allowed_roots=roots,
            heartbeat=heartbeat,
        )
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
