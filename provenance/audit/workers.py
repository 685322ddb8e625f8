"""Local worker processes that can be stopped one at a time, and that die with the process that started them.

:func:`run_tasks` hands tasks to ``size`` spawned processes, one task at a time each (the next as soon as a result
comes, before the caller handles it), and yields each result as
it comes. Unlike ``concurrent.futures.ProcessPoolExecutor``, whose shutdown waits for every running task, it
never waits on a task without bound:

- a task still running after ``timeout`` seconds has its process killed (and replaced): the task's result is a
  :class:`Lost` saying so;
- a process that dies in a task (killed, out of memory) gives that task a :class:`Lost` and is replaced;
- ``heartbeat()`` is called at least every ``beat`` seconds while tasks run; what it raises (a cancelled scan
  job, a stopping service) comes out of the generator, and closing the generator kills every process at once.

Each worker asks the kernel to kill it when its parent dies (Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``) and
watches its parent's pid from a thread (every platform, and a parent killed before the ``prctl``): a scan
killed with ``kill -9`` leaves no worker behind. (A worker still starting, importing its modules, when its
parent dies ends as soon as it reaches that point; from then on its name is :data:`WORKER_NAME`.)
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from provenance.errors import ScanError

log = logging.getLogger(__name__)

__all__ = ["WORKER_NAME", "Lost", "die_with_parent", "run_tasks"]

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
#: The process name (Linux ``comm``, 15 characters at most) of a worker once it dies with its parent.
WORKER_NAME = "provenance-work"
_WATCH_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Lost:
    """A task that gave no result: ``reason`` is one line (it ran out of time, its process died)."""

    reason: str


def die_with_parent(parent: int) -> None:
    """Make this process end when process ``parent`` does: ``PR_SET_PDEATHSIG`` on Linux, and a watchdog thread
    that exits when the parent pid changes (also when the parent died before the ``prctl``)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            libc.prctl(_PR_SET_NAME, WORKER_NAME.encode(), 0, 0, 0)  # what ps and top show from now on
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl: the watchdog alone
            log.debug("prctl(PR_SET_PDEATHSIG) unavailable; parent watchdog only")
    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watchdog", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(_WATCH_SECONDS)
        if os.getppid() != parent:
            os._exit(1)


def _serve(
    conn: Connection,
    parent: int,
    init: Callable[..., None],
    init_args: tuple[Any, ...],
    work: Callable[[Any], Any],
) -> None:
    """A worker process: die with ``parent``, ``init(*init_args)`` once, then ``work(task)`` for each task
    received, sending ``("ok", result)`` or ``("raise", exception)``; ``None`` ends it."""
    die_with_parent(parent)
    try:
        init(*init_args)
    except BaseException as exc:
        conn.send(("init", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            # the results are all sent: end without the interpreter's teardown (unloading OpenCV, FAISS, numpy...:
            # a quarter of a second a worker, which the scan waited for)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        try:
            reply: tuple[str, Any] = ("ok", work(task))
        except Exception as exc:
            reply = ("raise", exc)
        try:
            conn.send(reply)
        except Exception as exc:  # an exception that does not pickle
            conn.send(("raise", ScanError(f"worker failed: {type(reply[1]).__name__}: {exc}")))


class _Worker:
    def __init__(self, ctx: Any, init: Callable[..., None], init_args: tuple[Any, ...], work: Callable[[Any], Any]):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=_serve, args=(child, os.getpid(), init, init_args, work), name="provenance-worker", daemon=True
        )
        self.proc.start()
        child.close()
        self.ready = False
        self.task: tuple[int, Any] | None = None
        self.started = 0.0

    def give(self, task: tuple[int, Any]) -> None:
        self.task, self.started = task, time.monotonic()
        self.conn.send(task[1])

    def kill(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()

    def exit_text(self) -> str:
        self.proc.join(1)
        code = self.proc.exitcode
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"


def run_tasks(
    size: int,
    init: Callable[..., None],
    init_args: tuple[Any, ...],
    work: Callable[[Any], Any],
    tasks: Sequence[tuple[int, Any]],
    *,
    timeout: float | None = None,
    heartbeat: Callable[[], None] | None = None,
    beat: float = 1.0,
) -> Generator[tuple[int, Any], None, None]:
    """``(i, work(task))`` for each ``(i, task)``, in the order they finish, from ``size`` spawned processes
    (each running ``init(*init_args)`` first), or ``(i, Lost(reason))``; see the module docstring.

    ``init``, ``work`` and the tasks must pickle. An exception ``work`` raises, or ``init`` failing, is raised
    here (:class:`ScanError` for ``init``)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # no fork: decoders and OpenCV keep threads
    todo = deque(tasks)
    pool = [_Worker(ctx, init, init_args, work) for _ in range(max(1, min(size, len(todo))))]
    try:
        while todo or any(w.task is not None for w in pool):
            for w in pool:
                if w.ready and w.task is None and todo:
                    w.give(todo.popleft())
            now = time.monotonic()
            wait_for = beat
            if timeout is not None:
                for w in pool:
                    if w.task is not None:
                        wait_for = min(wait_for, max(0.0, w.started + timeout - now))
            ready = wait([w.conn for w in pool] + [w.proc.sentinel for w in pool], wait_for)
            for k, w in enumerate(pool):
                if w.conn in ready:
                    try:
                        kind, value = w.conn.recv()
                    except (EOFError, OSError):
                        kind, value = "dead", None
                else:
                    kind, value = ("dead", None) if w.proc.sentinel in ready else ("", None)
                if kind == "ready":
                    w.ready = True
                elif kind == "init":
                    raise ScanError(f"a worker process could not start: {value}")
                elif kind in ("ok", "raise"):
                    assert w.task is not None
                    i, w.task = w.task[0], None
                    if kind == "raise":
                        raise value
                    if todo:  # its next task before the caller handles this result (stores it): no idle worker
                        w.give(todo.popleft())
                    yield i, value
                elif kind == "dead":
                    if w.task is None and not w.ready:
                        raise ScanError(f"a worker process died while starting ({w.exit_text()})")
                    pool[k] = _replace(ctx, w, init, init_args, work, f"its worker process died ({w.exit_text()})")
                    if w.task is not None:
                        yield w.task[0], Lost(f"the worker process matching this clip died ({w.exit_text()})")
                elif timeout is not None and w.task is not None and time.monotonic() - w.started >= timeout:
                    pool[k] = _replace(ctx, w, init, init_args, work, "out of time")
                    yield w.task[0], Lost(f"not finished after {timeout:g} s: stopped (time limit per clip)")
            if heartbeat is not None:
                heartbeat()
    finally:
        _stop(pool)


def _replace(
    ctx: Any, w: _Worker, init: Callable[..., None], init_args: tuple[Any, ...], work: Callable[[Any], Any], why: str
) -> _Worker:
    log.warning("%s: %s; killed and replaced", getattr(w.task[1] if w.task else None, "rel", "worker"), why)
    w.kill()
    return _Worker(ctx, init, init_args, work)


def _stop(pool: list[_Worker]) -> None:
    """Idle workers are told to end; every worker still alive a moment later (a task running) is killed."""
    for w in pool:
        if w.task is None:
            with contextlib.suppress(OSError, ValueError):
                w.conn.send(None)
    deadline = time.monotonic() + 2.0
    for w in pool:
        if w.task is None:
            w.proc.join(max(0.0, deadline - time.monotonic()))
        w.kill()
