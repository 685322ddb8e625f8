"""The scan job runner of one service process: a bounded pool of threads running the jobs it claims.

Jobs are rows (``rightsdb.jobs``); several processes (``provenance serve --workers N``, or services on other
machines sharing the database) each run a :class:`JobRunner`, and a job runs in one of them at a time: a
runner *claims* it in the database, atomically, under a lease it renews while the job runs. The runner's
scheduler thread claims the oldest claimable jobs whenever a job is submitted or ends, and every few seconds
in any case: queued jobs, and jobs whose runner died (its lease expired: a process killed, crashed or lost
with its machine), which resume from the clips they committed. At most ``max_scans`` jobs run at once over
all the processes sharing the database. On stop, running scans stop (their worker processes killed) and
their jobs go back to the queue, for another process or the next start.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from provenance.audit import run_scan_job
from rightsdb import Registry, StoreError
from rightsdb.jobs import DEFAULT_LEASE_SECONDS, claim_job, claimable_jobs, new_owner, release_job, running_count
from rightsdb.models import ScanJob

log = logging.getLogger(__name__)

__all__ = ["JobRunner"]


class JobRunner:
    def __init__(
        self,
        registry: Registry,
        roots: list[Path],
        max_scans: int = 1,
        workers: int = 1,
        executor: str = "local",
        address: str | None = None,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        poll_seconds: float | None = None,
        clip_timeout: float | None = None,
    ) -> None:
        self.registry = registry
        self.roots = roots
        self.max_scans = max_scans
        self.workers = workers
        self.executor = executor
        self.address = address
        self.lease_seconds = lease_seconds
        self.clip_timeout = clip_timeout
        #: how often the database is asked for claimable jobs when nothing else wakes the scheduler
        self.poll_seconds = poll_seconds if poll_seconds is not None else min(2.0, lease_seconds / 3)
        #: this runner's id in the jobs' leases
        self.owner = new_owner()
        self._pool = ThreadPoolExecutor(max_scans, thread_name_prefix="scan-job")
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._futures: dict[str, Future[str]] = {}
        self._lock = threading.Lock()
        self._scheduler: threading.Thread | None = None

    def start(self) -> list[str]:
        """Claim what can run now (jobs queued, or left by a runner that died) and keep claiming from a thread;
        returns the ids of the jobs claimed at once."""
        started = self._schedule()
        self._scheduler = threading.Thread(target=self._loop, name="scan-scheduler", daemon=True)
        self._scheduler.start()
        return started

    def submit(self, job_id: str) -> None:
        """A job was queued: claim it (or an older one) now if a slot is free here. Another process may claim
        it first; the queue is served oldest first."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self._schedule()
            except StoreError as exc:  # the database is away for a moment: the next round tries again
                log.warning("scan scheduler: %s", exc)
            except Exception:
                log.exception("scan scheduler failed; it goes on")

    def _schedule(self) -> list[str]:
        started: list[str] = []
        with self._lock:
            if self._stop.is_set() or len(self._futures) >= self.max_scans:
                return started
        if running_count(self.registry) >= self.max_scans:  # busy elsewhere: no claim would succeed
            return started
        for job_id in claimable_jobs(self.registry):
            with self._lock:
                if self._stop.is_set() or len(self._futures) >= self.max_scans:
                    break
                if job_id in self._futures:
                    continue
            job = claim_job(
                self.registry, job_id, self.owner, lease_seconds=self.lease_seconds, max_running=self.max_scans
            )
            if job is None:
                continue
            log.info("scan job %s claimed (attempt %d)", job_id, job.attempts)
            with self._lock:
                self._futures[job_id] = self._pool.submit(self._run, job)
            started.append(job_id)
        return started

    def _run(self, job: ScanJob) -> str:
        try:
            return run_scan_job(
                self.registry,
                job.id,
                self.roots,
                self.workers,
                stop=self._stop,
                executor=self.executor,
                address=self.address,
                owner=self.owner,
                claimed=job,
                lease_seconds=self.lease_seconds,
                clip_timeout=self.clip_timeout,
            )
        finally:
            with self._lock:
                self._futures.pop(job.id, None)
            self._wake.set()  # a slot is free

    def wait(self, job_id: str, timeout: float | None = None) -> str | None:
        """Wait for a job running in this process (tests, benchmarks); None when it is not running here."""
        with self._lock:
            future = self._futures.get(job_id)
        return future.result(timeout) if future is not None else None

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._scheduler is not None:
            self._scheduler.join()
        with self._lock:
            futures = dict(self._futures)
        self._pool.shutdown(wait=True, cancel_futures=True)
        for job_id, future in futures.items():
            if future.cancelled():  # claimed but never started: back to the queue
                release_job(self.registry, job_id, self.owner)
