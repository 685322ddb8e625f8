"""Helpers of the never-hang tests: a small real registry, inputs that would block a reader for ever, a clip that
blocks its worker, bounded waits, and the worker processes of a process."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psutil

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample"
T = TypeVar("T")

TINY_MANIFEST = """\
holders:
  - {id: pixelworks, name: Pixelworks Arcade, kind: publisher}
works:
  - id: pw-pong
    title: Pong
    holder: pixelworks
    layer: game
    policy: {ai_training: deny, license: All rights reserved}
    references:
      - {path: footage/pixelworks-pong-attract.mp4, kind: footage}
"""


def cli(db_url: str, *args: str, timeout: float = 300, **kw: Any) -> subprocess.CompletedProcess[str]:
    """``provenance --db DB ARGS`` in a real process, killed (and the test failed) after ``timeout`` seconds."""
    return subprocess.run(
        [sys.executable, "-m", "provenance", "--db", db_url, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        **kw,
    )


def tiny_registry(root: Path) -> Path:
    """A registry manifest with one short footage reference (real footage), in ``root``."""
    (root / "footage").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(
        SAMPLE / "registry" / "footage" / "pixelworks-pong-attract.mp4",
        root / "footage" / "pixelworks-pong-attract.mp4",
    )
    manifest = root / "manifest.yaml"
    manifest.write_text(TINY_MANIFEST)
    return manifest


def blocking_inputs(root: Path) -> dict[str, Path]:
    """Paths a naive reader waits on, or reads, for ever: a FIFO, ``/dev/zero``, a link to it, a socket, a
    folder with a clip's name. The socket stays bound while the test process lives."""
    root.mkdir(parents=True, exist_ok=True)
    fifo = root / "pipe.mp4"
    os.mkfifo(fifo)
    (root / "zero.mp4").symlink_to("/dev/zero")
    (root / "folder.mp4").mkdir()
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "sock.mp4"))
    _KEEP.append(sock)
    return {
        "fifo": fifo,
        "dev-zero": Path("/dev/zero"),
        "link-to-zero": root / "zero.mp4",
        "folder": root / "folder.mp4",
        "socket": root / "sock.mp4",
    }


_KEEP: list[socket.socket] = []


def within(seconds: float, call: Callable[[], T]) -> T:
    """``call()``'s result, or its exception; an AssertionError when it has not returned after ``seconds`` (the
    call is left in a daemon thread: a regression fails the test instead of hanging it)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise AssertionError(f"still running after {seconds} s: it hangs")
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def worker_pids(parent: int) -> list[int]:
    """Pids of the spawned worker processes (multiprocessing's ``spawn_main``) whose parent is ``parent``."""
    pids = []
    for proc in psutil.process_iter(["pid", "ppid", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if proc.info["ppid"] == parent and "spawn_main" in cmd:
            pids.append(int(proc.info["pid"]))
    return pids


def dying_with_parent(pid: int) -> bool:
    """Whether worker ``pid`` has asked to die with its parent (it then renames itself)."""
    from provenance.audit.workers import WORKER_NAME

    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == WORKER_NAME
    except OSError:
        return False


def alive(pids: list[int]) -> list[int]:
    """Those of ``pids`` still running (zombies count as gone)."""
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def wait_until(what: Callable[[], bool], seconds: float, step: float = 0.05) -> bool:
    """Whether ``what()`` became true within ``seconds`` (polled: an event in another process)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(step)
    return what()


class StuckSource:
    """A clip whose reading blocks for ever (it opens a FIFO nobody writes to), as a file on a hung mount or a
    device does: picklable, so that a worker process reads it."""

    def __init__(self, rel: str, fifo: Path) -> None:
        self.rel = rel
        self.fifo = fifo

    def sha256(self) -> str:
        with open(self.fifo, "rb") as fh:  # blocks: no writer
            fh.read()
        return "0" * 64


def no_init() -> None:
    """A worker's ``init`` that does nothing (:func:`provenance.audit.workers.run_tasks` tests)."""


def started_at(task: Any) -> float:
    """A worker's ``work``: the time (``time.time()``) the task started."""
    return time.time()
