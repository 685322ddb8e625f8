"""The scan job runner: a bounded pool of threads running queued jobs (``PROVENANCE_MAX_SCANS`` at once).

Jobs are rows (``rightsdb.jobs``); this only schedules them. On start it queues again whatever a stopped
service left queued or running; on stop it lets running scans finish the clip they are on and leaves them
queued, to be resumed by the next start.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from provenance.service import run_scan_job
from rightsdb import Registry
from rightsdb.jobs import requeue_interrupted

log = logging.getLogger(__name__)

__all__ = ["JobRunner"]


class JobRunner:
    def __init__(self, registry: Registry, roots: list[Path], max_scans: int = 1, workers: int = 1,
                 executor: str = "local", address: str | None = None) -> None:
        self.registry = registry
        self.roots = roots
        self.workers = workers
        self.executor = executor
        self.address = address
        self._pool = ThreadPoolExecutor(max_scans, thread_name_prefix="scan-job")
        self._stop = threading.Event()
        self._futures: dict[str, Future[str]] = {}
        self._lock = threading.Lock()

    def start(self) -> list[str]:
        """Queue again the jobs a previous run left unfinished; returns their ids."""
        ids = requeue_interrupted(self.registry)
        for job_id in ids:
            log.info("resuming scan job %s", job_id)
            self.submit(job_id)
        return ids

    def submit(self, job_id: str) -> None:
        with self._lock:
            self._futures[job_id] = self._pool.submit(self._run, job_id)

    def _run(self, job_id: str) -> str:
        try:
            return run_scan_job(self.registry, job_id, self.roots, self.workers, stop=self._stop,
                                executor=self.executor, address=self.address)
        finally:
            with self._lock:
                self._futures.pop(job_id, None)

    def wait(self, job_id: str, timeout: float | None = None) -> str | None:
        """Wait for a job submitted in this process (tests, benchmarks); None when it is not running here."""
        with self._lock:
            future = self._futures.get(job_id)
        return future.result(timeout) if future is not None else None

    def stop(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
