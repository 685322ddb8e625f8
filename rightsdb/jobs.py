"""Scan jobs of the HTTP service: rows in ``scan_jobs`` that outlive the process running them.

States: ``queued`` -> ``running`` -> ``done`` | ``failed`` | ``cancelled``. A job found ``running`` or
``queued`` when the service starts was interrupted (the service stopped): :func:`requeue_interrupted`
queues it again (the scan itself resumes from the clips it committed) unless it already took
``max_attempts`` tries, when it is marked ``failed``.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlmodel import col, select

from ._errors import NotFoundError
from .models import JobStatus, Scan, ScanJob, utcnow
from .store import Registry

__all__ = ["FINAL", "JobCancelled", "cancel_job", "claim_job", "create_job", "finish_job", "get_job",
           "job_dict", "list_jobs", "record_progress", "release_job", "requeue_interrupted", "set_scan_id"]

FINAL = frozenset({JobStatus.done, JobStatus.failed, JobStatus.cancelled})


class JobCancelled(Exception):
    """Raised inside a running scan's callbacks when its job was cancelled."""


def job_dict(job: ScanJob) -> dict[str, Any]:
    """A job as the service shows it (the report itself is fetched on its own)."""
    def iso(t: Any) -> str | None:
        return t.isoformat() if t is not None else None

    return {
        "id": job.id, "dataset": job.dataset, "status": job.status, "phase": job.phase,
        "options": dict(job.options), "scan_id": job.scan_id,
        "progress": {"clips_total": job.clips_total, "clips_done": job.clips_done,
                     "clips_error": job.clips_error,
                     "fraction": round(job.clips_done / job.clips_total, 4) if job.clips_total else None},
        "attempts": job.attempts, "cancel_requested": job.cancel_requested, "error": job.error,
        "created_by": job.created_by, "created_at": iso(job.created_at), "started_at": iso(job.started_at),
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
            q = q.where((col(ScanJob.created_at) < last.created_at)
                        | ((col(ScanJob.created_at) == last.created_at) & (col(ScanJob.id) < last.id)))
        rows = list(session.exec(q.order_by(col(ScanJob.created_at).desc(), col(ScanJob.id).desc())
                                 .limit(limit + 1)).all())
    return rows[:limit], len(rows) > limit


def claim_job(registry: Registry, job_id: str) -> ScanJob | None:
    """Mark a queued job running (one more attempt); None when it is not queued any more (cancelled...)."""
    with registry.write() as session:
        job = session.get(ScanJob, job_id)
        if job is None or job.status != JobStatus.queued:
            return None
        if job.cancel_requested:
            job.status, job.finished_at = JobStatus.cancelled, utcnow()
            session.add(job)
            return None
        job.status, job.started_at, job.attempts = JobStatus.running, utcnow(), job.attempts + 1
        job.phase, job.error = "starting", None
        session.add(job)
    return job


def record_progress(registry: Registry, job_id: str, *, phase: str | None = None, done: int | None = None,
                    total: int | None = None, errors: int | None = None) -> None:
    """Store a running job's progress; raises :class:`JobCancelled` when the job was cancelled meanwhile."""
    with registry.write() as session:
        job = session.get(ScanJob, job_id)
        if job is None:
            raise JobCancelled(job_id)
        if job.cancel_requested:
            raise JobCancelled(job_id)
        if phase is not None:
            job.phase = phase[:512]
        if done is not None:
            job.clips_done = done
        if total is not None:
            job.clips_total = total
        if errors is not None:
            job.clips_error = errors
        session.add(job)


def set_scan_id(registry: Registry, job_id: str, dataset: str) -> str | None:
    """Record the audit's scan id of a running job (the latest scan of its dataset); returns it."""
    with registry.write() as session:
        scan = session.exec(select(Scan).where(Scan.dataset == dataset)
                            .order_by(col(Scan.started_at).desc()).limit(1)).first()
        job = session.get(ScanJob, job_id)
        if scan is None or job is None:
            return None
        job.scan_id = scan.id
        session.add(job)
        return scan.id


def finish_job(registry: Registry, job_id: str, status: str, *, report: dict[str, Any] | None = None,
               error: str | None = None) -> None:
    with registry.write() as session:
        job = session.get(ScanJob, job_id)
        if job is None:
            return
        job.status, job.finished_at = status, utcnow()
        job.phase = status
        if report is not None:
            job.report = report
            clips = report.get("clips", [])
            job.clips_total = job.clips_done = len(clips)
            job.clips_error = sum(1 for c in clips if c.get("error"))
        if error is not None:
            job.error = " ".join(error.split())[:4096]
        session.add(job)


def release_job(registry: Registry, job_id: str) -> None:
    """Put a running job back in the queue (the service is stopping; it resumes on the next start)."""
    with registry.write() as session:
        job = session.get(ScanJob, job_id)
        if job is not None and job.status == JobStatus.running:
            job.status, job.phase = JobStatus.queued, "interrupted: the service stopped; resumes on restart"
            session.add(job)


def cancel_job(registry: Registry, job_id: str) -> ScanJob:
    """Ask a job to stop: a queued job is cancelled at once, a running one after the clip it is on.
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


def requeue_interrupted(registry: Registry, max_attempts: int = 3) -> list[str]:
    """At start-up: queue again the jobs a stopped service left queued or running; returns their ids in
    creation order. A job interrupted ``max_attempts`` times is marked failed instead."""
    out: list[str] = []
    with registry.write() as session:
        rows = session.exec(select(ScanJob).where(col(ScanJob.status).in_([JobStatus.queued, JobStatus.running]))
                            .order_by(col(ScanJob.created_at), col(ScanJob.id))).all()
        for job in rows:
            if job.cancel_requested:
                job.status, job.finished_at, job.phase = JobStatus.cancelled, utcnow(), "cancelled"
            elif job.status == JobStatus.running and job.attempts >= max_attempts:
                job.status, job.finished_at = JobStatus.failed, utcnow()
                job.error = f"interrupted {job.attempts} times (the service stopped while it ran); gave up"
            else:
                if job.status == JobStatus.running:
                    job.phase = "resuming after a restart"
                job.status = JobStatus.queued
                out.append(job.id)
            session.add(job)
    return out
