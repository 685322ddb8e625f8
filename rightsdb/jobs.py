"""Scan jobs of the HTTP service: rows in ``scan_jobs`` that outlive the process running them.

States: ``queued`` -> ``running`` -> ``done`` | ``failed`` | ``cancelled``.

Several service processes may share one database; a job is run by one of them at a time. A runner
*claims* a job (:func:`claim_job`) with one conditional ``UPDATE`` (it changes the row only while the job is
still claimable and unchanged since it was read; the row count says whether this runner won), which gives it
a *lease*: its owner id and an expiry time, renewed while it runs (:func:`renew_lease`, and every progress
write). A job is claimable while it is ``queued``, or ``running`` under a lease that expired (its owner died:
killed, crashed, its machine lost) or under none (rows of an older service). A runner whose lease was taken
over meanwhile is told so (:class:`LeaseLost`) at its next write, and none of its writes land. A job taken
over after ``max_attempts`` tries is marked ``failed`` instead. Lease times are the runners' clocks (UTC):
machines sharing a database need clocks in step (NTP), well within a lease.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, or_, update
from sqlmodel import Session, col, select

from ._errors import JobCancelled, LeaseLost, NotFoundError
from .models import JobStatus, Scan, ScanJob, utcnow
from .store import Registry

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "FINAL",
    "JobCancelled",
    "LeaseLost",
    "cancel_job",
    "check_job",
    "claim_job",
    "claimable_jobs",
    "create_job",
    "finish_job",
    "get_job",
    "job_dict",
    "list_jobs",
    "new_owner",
    "record_progress",
    "release_job",
    "renew_lease",
    "running_count",
    "set_scan_id",
]

FINAL = frozenset({JobStatus.done, JobStatus.failed, JobStatus.cancelled})

#: How long a claimed job stays its runner's without a renewal; runners renew it a few times per lease.
DEFAULT_LEASE_SECONDS = 30.0

_TABLE = ScanJob.__table__  # type: ignore[attr-defined]
_T = _TABLE.c


def new_owner() -> str:
    """A runner's owner id: host, process and a random part (unique even when a pid is reused)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


def _claimable(now: Any) -> Any:
    """SQL condition: a job a runner may claim at ``now``."""
    return or_(
        _T.status == JobStatus.queued,
        and_(_T.status == JobStatus.running, or_(_T.lease_expires_at.is_(None), _T.lease_expires_at < now)),
    )


def job_dict(job: ScanJob) -> dict[str, Any]:
    """A job as the service shows it (the report itself is fetched on its own)."""

    def iso(t: Any) -> str | None:
        return t.isoformat() if t is not None else None

    return {
        "id": job.id,
        "dataset": job.dataset,
        "status": job.status,
        "phase": job.phase,
        "options": dict(job.options),
        "scan_id": job.scan_id,
        "progress": {
            "clips_total": job.clips_total,
            "clips_done": job.clips_done,
            "clips_error": job.clips_error,
            "fraction": round(job.clips_done / job.clips_total, 4) if job.clips_total else None,
        },
        "attempts": job.attempts,
        "cancel_requested": job.cancel_requested,
        "error": job.error,
        "created_by": job.created_by,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "summary": (job.report or {}).get("scan", {}).get("summary") if job.report else None,
    }


def create_job(registry: Registry, dataset: str, options: dict[str, Any], created_by: str | None) -> ScanJob:
    with registry.write() as session:
        job = ScanJob(id=secrets.token_hex(16), dataset=dataset, options=options, created_by=created_by)
        session.add(job)
    return job


def get_job(registry: Registry, job_id: str) -> ScanJob:
    with registry.session() as session:
        job = session.get(ScanJob, job_id)
    if job is None:
        raise NotFoundError(f"scan: no scan job with id {job_id!r}")
    return job


def list_jobs(registry: Registry, status: str | None, after: str | None, limit: int) -> tuple[list[ScanJob], bool]:
    """Jobs newest first (by creation time, then id); ``after`` is the id of the last job of the previous
    page. Returns the page and whether more follow."""
    with registry.session() as session:
        q = select(ScanJob)
        if status is not None:
            q = q.where(ScanJob.status == status)
        if after is not None:
            last = session.get(ScanJob, after)
            if last is None:
                raise NotFoundError(f"cursor: no scan job with id {after!r}")
            q = q.where(
                (col(ScanJob.created_at) < last.created_at)
                | ((col(ScanJob.created_at) == last.created_at) & (col(ScanJob.id) < last.id))
            )
        rows = list(
            session.exec(q.order_by(col(ScanJob.created_at).desc(), col(ScanJob.id).desc()).limit(limit + 1)).all()
        )
    return rows[:limit], len(rows) > limit


def claimable_jobs(registry: Registry) -> list[str]:
    """Ids of the jobs a runner may claim now (queued, or running under an expired lease), oldest first."""
    with registry.session() as session:
        rows = session.execute(select(_T.id).where(_claimable(utcnow())).order_by(_T.created_at, _T.id)).all()
    return [str(r[0]) for r in rows]


def running_count(registry: Registry) -> int:
    """How many jobs run now under a live lease (over every runner sharing the database)."""
    with registry.session() as session:
        return _live_count(session, utcnow())


def _live_count(session: Any, now: Any) -> int:
    """Jobs running under a lease still live at ``now``."""
    return int(
        session.execute(
            select(func.count()).select_from(_TABLE).where(_T.status == JobStatus.running, _T.lease_expires_at >= now)
        ).scalar_one()
    )


def claim_job(
    registry: Registry,
    job_id: str,
    owner: str | None = None,
    *,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    max_running: int | None = None,
    max_attempts: int = 3,
) -> ScanJob | None:
    """Claim a job for ``owner`` (default: a new owner id, see :func:`new_owner`): mark it running (one more
    attempt) under a lease of ``lease_seconds``. Returns the job, or None when this runner did not get it: it is
    not claimable (another runner holds it, it finished...), ``max_running`` jobs already run under live
    leases, or it was cancelled (it is marked so) or taken over from dead owners ``max_attempts`` times already
    (it is marked failed).

    The claim is one conditional ``UPDATE`` (the row is changed only while still claimable and at the attempt
    count read) in a serialised write transaction: of runners racing for a job exactly one gets it, on SQLite
    and PostgreSQL alike."""
    owner = owner or new_owner()
    with registry.write() as session:
        now = utcnow()
        row = session.execute(
            select(_T.status, _T.attempts, _T.cancel_requested).where(_T.id == job_id, _claimable(now))
        ).first()
        if row is None:
            return None
        status, attempts, cancel_requested = row
        ended: dict[str, Any] | None = None
        if cancel_requested:
            ended = {"status": JobStatus.cancelled, "phase": "cancelled"}
        elif status == JobStatus.running and attempts >= max_attempts:
            ended = {
                "status": JobStatus.failed,
                "phase": JobStatus.failed,
                "error": f"interrupted {attempts} times (the service stopped or died while it ran); gave up",
            }
        if ended is not None:
            session.execute(
                update(_TABLE)
                .where(_T.id == job_id, _T.attempts == attempts, _claimable(now))
                .values(finished_at=now, lease_expires_at=None, **ended)
            )
            return None
        if max_running is not None and _live_count(session, now) >= max_running:
            return None
        claimed = session.execute(
            update(_TABLE)
            .where(_T.id == job_id, _T.attempts == attempts, _claimable(now))
            .values(
                status=JobStatus.running,
                attempts=attempts + 1,
                started_at=now,
                error=None,
                phase="starting" if status == JobStatus.queued else "resuming: its last runner stopped",
                lease_owner=owner,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
            )
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None
        job = session.get(ScanJob, job_id)
    return job


def renew_lease(registry: Registry, job_id: str, owner: str, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
    """Extend ``owner``'s lease on a running job; False when the job is not its own any more."""
    with registry.write() as session:
        done = session.execute(
            update(_TABLE)
            .where(_T.id == job_id, _T.lease_owner == owner, _T.status == JobStatus.running)
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        )
        return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def _owned(job: ScanJob | None, owner: str | None) -> bool:
    return owner is None or (job is not None and job.status == JobStatus.running and job.lease_owner == owner)


def record_progress(
    registry: Registry,
    job_id: str,
    *,
    phase: str | None = None,
    done: int | None = None,
    total: int | None = None,
    errors: int | None = None,
    owner: str | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> None:
    """Store a running job's progress (and, for its ``owner``, renew the lease); raises :class:`JobCancelled`
    when the job was cancelled meanwhile, :class:`LeaseLost` when it is not ``owner``'s any more."""
    with registry.write() as session:
        job = _live_job(session, job_id, owner)
        if phase is not None:
            job.phase = phase[:512]
        if done is not None:
            job.clips_done = done
        if total is not None:
            job.clips_total = total
        if errors is not None:
            job.clips_error = errors
        if owner is not None:
            job.lease_expires_at = utcnow() + timedelta(seconds=lease_seconds)
        session.add(job)


def check_job(registry: Registry, job_id: str, owner: str | None = None) -> None:
    """Read-only: raise :class:`JobCancelled` when the job was cancelled (or deleted), :class:`LeaseLost` when it
    is not ``owner``'s any more; a running job asks this while a clip takes long."""
    with registry.session() as session:
        _live_job(session, job_id, owner)


def _live_job(session: Session, job_id: str, owner: str | None) -> ScanJob:
    """The job, still ``owner``'s and not cancelled: :class:`JobCancelled` when it was cancelled (or deleted),
    :class:`LeaseLost` when another worker holds it now."""
    job = session.get(ScanJob, job_id)
    if job is None:
        raise JobCancelled(job_id)
    if not _owned(job, owner):
        raise LeaseLost(job_id)
    if job.cancel_requested:
        raise JobCancelled(job_id)
    return job


def set_scan_id(registry: Registry, job_id: str, dataset: str) -> str | None:
    """Record the audit's scan id of a running job (the latest scan of its dataset); returns it."""
    with registry.write() as session:
        scan = session.exec(
            select(Scan).where(Scan.dataset == dataset).order_by(col(Scan.started_at).desc()).limit(1)
        ).first()
        job = session.get(ScanJob, job_id)
        if scan is None or job is None:
            return None
        job.scan_id = scan.id
        session.add(job)
        return scan.id


def finish_job(
    registry: Registry,
    job_id: str,
    status: str,
    *,
    report: dict[str, Any] | None = None,
    error: str | None = None,
    owner: str | None = None,
) -> bool:
    """Record a job's end; with ``owner``, only while the job is still that runner's (returns whether it was
    recorded)."""
    with registry.write() as session:
        job = session.get(ScanJob, job_id)
        if job is None or not _owned(job, owner):
            return False
        job.status, job.finished_at = status, utcnow()
        job.phase = status
        job.lease_expires_at = None
        if report is not None:
            job.report = report
            clips = report.get("clips", [])
            job.clips_total = job.clips_done = len(clips)
            job.clips_error = sum(1 for c in clips if c.get("error"))
        if error is not None:
            job.error = " ".join(error.split())[:4096]
        session.add(job)
    return True


def release_job(registry: Registry, job_id: str, owner: str | None = None) -> None:
    """Put a running job back in the queue (the service is stopping; a runner claims it again), when it is
    still ``owner``'s."""
    with registry.write() as session:
        job = session.get(ScanJob, job_id)
        if job is not None and job.status == JobStatus.running and _owned(job, owner):
            job.status, job.phase = JobStatus.queued, "interrupted: the service stopped; resumes on restart"
            job.lease_owner = job.lease_expires_at = None
            session.add(job)


def cancel_job(registry: Registry, job_id: str) -> ScanJob:
    """Ask a job to stop: a queued job is cancelled at once, a running one when its runner next looks.
    A finished job is left as it is."""
    with registry.write() as session:
        job = session.get(ScanJob, job_id)
        if job is None:
            raise NotFoundError(f"scan: no scan job with id {job_id!r}")
        if job.status in FINAL:
            return job
        job.cancel_requested = True
        if job.status == JobStatus.queued:
            job.status, job.finished_at, job.phase = JobStatus.cancelled, utcnow(), "cancelled"
        session.add(job)
    return job
