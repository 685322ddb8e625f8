"""Where a scan's clips are matched: in this process, in a pool of local processes, or on a Ray cluster.

An executor is one method, ``run(job, clips)``: it matches each ``(i, source)`` of ``clips`` with
:func:`provenance.audit.clip.match_source` and yields ``(i, result)`` as each clip finishes, in any order. It
never writes the database: the scan (:func:`provenance.audit.scan.scan`) renders and stores every result in the
driver, one transaction per clip keyed by the clip's path, so a clip matched twice (a task retried after its
worker died) is still one stored row, and the progress callbacks are the same whatever the executor.

- :class:`LocalExecutor`: ``workers`` spawned processes on this machine, each opening the registry's index
  directory (:mod:`provenance.audit.indexdir`: memory-mapped, so the workers share one copy in the page cache)
  once, or building the index from the database when there is none (a registry in memory); or this process
  alone when ``workers`` is 1 or the database is in memory.
- :class:`RayExecutor`: Ray tasks on a cluster (``address``) or on a local one started for the scan. What is
  shipped is the index directory's location, not its data: each Ray worker process opens it once, on its
  first clip, and keeps it for every later clip; a node that does not see the directory (no shared file
  system) builds the index from the database instead. A worker killed mid-clip has its clip retried on
  another (``max_retries``).

Workers read the clips at their paths (a cluster needs the dataset on a shared file system at the same
path) and look up stored results in the registry database by its URL (a cluster needs a database every node
reaches: PostgreSQL; a SQLite file only on a one-machine cluster).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from provenance.audit.clip import Lookup, MatchResult, error_text, match_source, stored_lookup
from provenance.audit.indexdir import reference_index
from provenance.audit.references import engine_id
from provenance.audit.workers import Lost, run_tasks
from provenance.engine import EngineParams, ReferenceIndex, one_thread_per_process
from provenance.errors import ScanError
from provenance.report import RefInfo
from rightsdb import Registry

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CLIP_TIMEOUT",
    "EXECUTORS",
    "Executor",
    "LocalExecutor",
    "MatchJob",
    "MatchResult",
    "RayExecutor",
    "RayStats",
    "Results",
    "default_workers",
    "make_executor",
]

Results = Generator[tuple[int, MatchResult], None, None]
"""``(i, result)`` as each clip finishes; closing it early stops the work still queued."""

EXECUTORS = ("local", "ray")

#: Seconds one clip may take in a local worker by default (hashing, decoding and matching it): generous (an
#: hour of 1080p video decodes in minutes); a clip still running then is an error, never waited on for ever.
DEFAULT_CLIP_TIMEOUT = 1800.0


@dataclass(frozen=True, slots=True)
class MatchJob:
    """What every worker of one scan needs: the registry, the engine settings, the match key, --rescan; and
    ``heartbeat``, called at least every second or so while clips are matched (what it raises stops the scan:
    a cancelled job, a stopping service), between clips when they are matched in this process. ``index_dir``:
    the registry's index directory for ``key`` (:func:`~provenance.audit.indexdir.ensure_index`), None to build
    the index from the database in each process."""

    registry: Registry
    params: EngineParams
    key: str
    rescan: bool
    infos: dict[str, RefInfo]
    heartbeat: Callable[[], None] | None = None
    index_dir: Path | None = None


class Executor(Protocol):
    """Matches clips and yields ``(i, result)`` as each finishes (any order); writes nothing."""

    name: str

    def run(self, job: MatchJob, clips: Sequence[tuple[int, Any]]) -> Results: ...


# ---------------------------------------------------------------------------------------------------------
# local: this process, or a pool of spawned processes
# ---------------------------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _worker_init(url: str, params: EngineParams, key: str, rescan: bool, index_dir: Path | None = None) -> None:
    """Open the reference index once per worker process (not once per clip); one thread per worker."""
    one_thread_per_process()
    registry = Registry(url, auto_migrate=False)
    _WORKER["index"] = reference_index(registry, params, index_dir)
    _WORKER["lookup"] = stored_lookup(registry, rescan)
    _WORKER["key"] = key


def _worker_match(source: Any) -> MatchResult:
    return match_source(source, _WORKER["index"], _WORKER["key"], _WORKER["lookup"])


@dataclass
class LocalExecutor:
    """Clips matched in ``workers`` spawned processes on this machine (or in this one when ``workers`` is 1 and
    there is no ``clip_timeout``, or the database is in memory).

    ``clip_timeout``: seconds a clip may take in its worker (hashing, decoding, matching); a clip still running
    then has its worker killed and replaced and gets a one-line ``error`` (it is never cleared). Workers die
    with the process that started them (:mod:`provenance.audit.workers`)."""

    workers: int = 1
    clip_timeout: float | None = None
    name: str = field(default="local", init=False)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ScanError(f"workers must be >= 1, got {self.workers}")
        if self.clip_timeout is not None and not self.clip_timeout > 0:
            raise ScanError(f"clip timeout must be > 0 seconds, got {self.clip_timeout}")

    def run(self, job: MatchJob, clips: Sequence[tuple[int, Any]]) -> Results:
        workers = min(self.workers, max(1, len(clips)))
        if job.registry.in_memory and (workers > 1 or self.clip_timeout is not None):
            log.info("in-memory registry: scanning in one process (no time limit per clip)")
        if job.registry.in_memory or (workers == 1 and self.clip_timeout is None):
            index = reference_index(job.registry, job.params, job.index_dir, job.infos)
            lookup = stored_lookup(job.registry, job.rescan)
            for i, source in clips:
                if job.heartbeat is not None:
                    job.heartbeat()
                yield i, match_source(source, index, job.key, lookup)
            return
        if not clips:
            return
        results = run_tasks(
            workers,
            _worker_init,
            (job.registry.url, job.params, job.key, job.rescan, job.index_dir),
            _worker_match,
            clips,
            timeout=self.clip_timeout,
            heartbeat=job.heartbeat,
        )
        with closing(results):  # also when the caller stops early: every worker is stopped at once
            for i, result in results:
                yield i, ((None, None, {"error": result.reason}, False) if isinstance(result, Lost) else result)


# ---------------------------------------------------------------------------------------------------------
# Ray
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _RayContext:
    url: str
    params: EngineParams
    key: str
    rescan: bool
    engine: str  # the driver's engine id: a node running another version would match differently
    index_dir: str | None = None  # the index directory's location (the driver's file system)


_RAY_PROCESS: dict[str, Any] = {}  # per Ray worker process: the opened index and what it was opened for


def _ray_state(ctx: _RayContext) -> tuple[ReferenceIndex, Lookup, bool]:
    """This worker process's index (opened once per match key, kept across tasks), its stored-result lookup, and
    whether this call opened the index."""
    if ctx.engine != engine_id():
        raise ScanError(
            f"node {socket.gethostname()} runs {engine_id()}, the driver {ctx.engine}: "
            "install the same provenance version on every node"
        )
    db: tuple[str, Registry] | None = _RAY_PROCESS.get("db")
    if db is None or db[0] != ctx.url:  # one database at a time; connections are opened on the first lookup
        if db is not None:
            db[1].dispose()
        db = _RAY_PROCESS["db"] = (ctx.url, Registry(ctx.url, auto_migrate=False))
    wanted = (ctx.key, ctx.index_dir)
    built = _RAY_PROCESS.get("opened") != wanted
    if built:
        one_thread_per_process()  # a Ray worker takes one CPU
        _RAY_PROCESS.pop("index", None)  # one index at a time in a process
        where = None if ctx.index_dir is None else Path(ctx.index_dir)
        seen = where if where is not None and where.is_dir() else None  # else: no shared file system here
        _RAY_PROCESS["index"] = reference_index(db[1], ctx.params, seen)
        _RAY_PROCESS["opened"] = wanted
    return _RAY_PROCESS["index"], stored_lookup(db[1], ctx.rescan), built


def _ray_match(ctx: _RayContext, source: Any) -> tuple[int, bool, MatchResult]:
    """One clip in a Ray worker: ``(pid, whether this task opened the index, result)``."""
    index, lookup, built = _ray_state(ctx)
    return os.getpid(), built, match_source(source, index, ctx.key, lookup)


@dataclass
class RayStats:
    """What a Ray scan did: tasks finished, and per worker process that ran them its tasks and index builds."""

    tasks: int = 0
    per_worker: dict[int, int] = field(default_factory=dict)  # worker pid -> tasks it finished
    builds: dict[int, int] = field(default_factory=dict)  # worker pid -> index builds in it

    @property
    def index_builds(self) -> int:
        return sum(self.builds.values())


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ScanError(
            f"--executor ray needs Ray, which is not installed ({exc}): pip install 'provenance[ray]'"
        ) from exc
    return ray


def _check_reachable(address: str, timeout: float) -> None:
    """Fail fast, in one line, when nothing listens at a Ray address (``ray://host[:port]`` or ``host:port``);
    Ray itself waits 30 s to minutes, or exits the process, on an unreachable cluster."""
    if address in ("auto", "local"):
        return
    parts = urlsplit(address if "://" in address else f"gcs://{address}")
    default = 10001 if parts.scheme == "ray" else 6379
    try:
        host, port = parts.hostname, parts.port or default
    except ValueError as exc:
        raise ScanError(f"--address {address}: not a Ray address ({exc})") from exc
    if not host or parts.scheme not in ("ray", "gcs"):
        raise ScanError(f"--address {address}: not a Ray address (ray://HOST[:PORT] or HOST:PORT)")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise ScanError(f"cannot reach the Ray cluster at {address}: {error_text(exc)}") from exc


@dataclass
class RayExecutor:
    """Clips matched as Ray tasks; see the module docstring.

    ``address``: a running cluster (``ray://head:10001`` through Ray Client, ``head:6379`` on a cluster
    node, or ``auto``); None starts a local cluster of ``num_cpus`` CPUs for the scan (default: every core)
    and stops it afterwards. A Ray already initialised in this process is used as it is. ``max_retries``:
    how often a clip whose worker died is tried again; a clip that still fails gets a one-line ``error``
    (and is tried again by the next scan). ``in_flight``: tasks submitted ahead (default: twice the
    cluster's CPUs), so the driver never lists millions of pending tasks.
    """

    address: str | None = None
    num_cpus: int | None = None
    max_retries: int = 3
    in_flight: int | None = None
    connect_timeout: float = 5.0
    name: str = field(default="ray", init=False)
    stats: RayStats = field(default_factory=RayStats, init=False)

    def __post_init__(self) -> None:
        if self.num_cpus is not None and self.num_cpus < 1:
            raise ScanError(f"workers must be >= 1, got {self.num_cpus}")
        if self.max_retries < 0:
            raise ScanError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.in_flight is not None and self.in_flight < 1:
            raise ScanError(f"in_flight must be >= 1, got {self.in_flight}")

    def _connect(self, ray: Any) -> bool:
        """Join or start a cluster; True when this call started it (and so must stop it)."""
        if ray.is_initialized():
            return False
        quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
        if self.address is None:
            try:
                ray.init(num_cpus=self.num_cpus, include_dashboard=False, **quiet)
            except (Exception, SystemExit) as exc:
                raise ScanError(f"cannot start a local Ray cluster: {error_text(exc)}") from exc
            return True
        if self.num_cpus is not None:
            log.info("--workers is ignored with --address: the cluster's CPUs are used")
        _check_reachable(self.address, self.connect_timeout)
        try:
            ray.init(address=self.address, **quiet)
        except (Exception, SystemExit) as exc:  # Ray exits the process when its GCS never answers
            raise ScanError(f"cannot join the Ray cluster at {self.address}: {error_text(exc)}") from exc
        return True

    def run(self, job: MatchJob, clips: Sequence[tuple[int, Any]]) -> Results:
        if not clips:
            return
        if job.registry.in_memory:
            raise ScanError(
                "an in-memory database cannot be shared with Ray workers: use a SQLite file or PostgreSQL (--db)"
            )
        ray = _import_ray()
        started = self._connect(ray)
        try:
            yield from self._run(ray, job, clips)
        finally:
            if started:
                ray.shutdown()

    def _run(self, ray: Any, job: MatchJob, clips: Sequence[tuple[int, Any]]) -> Results:
        from ray.exceptions import RayError, RayTaskError

        index_dir = None if job.index_dir is None else str(job.index_dir)
        ctx = _RayContext(job.registry.url, job.params, job.key, job.rescan, engine_id(), index_dir)
        remote = ray.remote(num_cpus=1, max_retries=self.max_retries, retry_exceptions=False)(_ray_match)
        window = self.in_flight or max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
        todo = iter(clips)
        pending: dict[Any, tuple[int, Any]] = {}

        def submit() -> None:
            for i, source in todo:
                pending[remote.remote(ctx, source)] = (i, source)
                if len(pending) >= window:
                    return

        submit()
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                if job.heartbeat is not None:
                    job.heartbeat()
                if not ready:
                    continue
                i, source = pending.pop(ready[0])
                try:
                    pid, built, result = ray.get(ready[0])
                except RayTaskError as exc:  # our code raised in the worker: not the clip's fault
                    cause = exc.cause if isinstance(exc.cause, BaseException) else exc
                    raise ScanError(
                        f"{getattr(source, 'rel', source)}: Ray worker failed: {error_text(cause)}"
                    ) from exc
                except RayError as exc:  # the worker or its node died on every try
                    log.warning("%s: %s", getattr(source, "rel", source), error_text(exc))
                    tries = self.max_retries + 1
                    result = (
                        None,
                        None,
                        {
                            "error": f"the Ray worker matching this clip died (tried {tries} "
                            f"time{'s' if tries > 1 else ''}: {type(exc).__name__})"
                        },
                        False,
                    )
                else:
                    self.stats.tasks += 1
                    self.stats.per_worker[pid] = self.stats.per_worker.get(pid, 0) + 1
                    self.stats.builds[pid] = self.stats.builds.get(pid, 0) + built
                submit()
                yield i, result
        finally:
            for ref in pending:  # the caller stopped early: drop what is queued, stop what runs
                ray.cancel(ref, force=True)


def default_workers() -> int:
    """Processes by default: one per CPU core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def make_executor(
    name: str, workers: int | None = None, address: str | None = None, clip_timeout: float | None = None
) -> Executor:
    """The executor a command line names: ``local`` (``workers`` processes, default every core, each clip given
    at most ``clip_timeout`` seconds, default :data:`DEFAULT_CLIP_TIMEOUT`) or ``ray`` (on ``address``, or on a
    local cluster of ``workers`` CPUs, default every core)."""
    if name == "local":
        if address is not None:
            raise ScanError("--address needs --executor ray")
        return LocalExecutor(workers or default_workers(), clip_timeout or DEFAULT_CLIP_TIMEOUT)
    if name == "ray":
        _import_ray()  # fail before the scan starts, in one line
        if address is not None:
            _check_reachable(address, RayExecutor.connect_timeout)
        return RayExecutor(address, num_cpus=workers)
    raise ScanError(f"unknown executor {name!r}: choose one of {', '.join(EXECUTORS)}")
