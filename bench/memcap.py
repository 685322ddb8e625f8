"""A command run with its memory capped, page cache included: a control group of its own (cgroup v1's memory
controller, or v2's ``memory.max``) that the command enters before it starts; the kernel's caches dropped first, so
every run starts cold. Needs root (a writable ``/sys/fs/cgroup``); :func:`unavailable` says why not where it is not.

What it measures is the memory a command needs rather than what it happens to hold: a process's PSS counts every
page of a mapped file it touched while the page cache had room, where under a cap the kernel drops pages it has not
used lately and the command goes on, slower by what it must read again (``bench/scale_bench.py --memory-limits``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


def _v1() -> bool:
    return (ROOT / "memory" / "cgroup.procs").exists()


def unavailable() -> str | None:
    """Why commands cannot be capped here (None: they can)."""
    if os.geteuid() != 0:
        return "not root"
    if _v1():
        return None if os.access(ROOT / "memory", os.W_OK) else "cgroup v1 memory controller not writable"
    controllers = ROOT / "cgroup.controllers"
    if not controllers.exists() or "memory" not in controllers.read_text("ascii").split():
        return "no cgroup memory controller"
    return None if os.access(ROOT, os.W_OK) else "cgroup v2 not writable"


def drop_caches() -> bool:
    """Drop the page cache (clean pages), dentries and inodes; False where this process may not."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n", encoding="ascii")
    except OSError:
        return False
    return True


@contextmanager
def capped(limit_mb: int, name: str = "provenance-bench") -> Iterator[list[str]]:
    """A control group of ``limit_mb`` MB; yields the prefix that runs a command in it (``prefix + cmd``). Removed on
    exit (after the command: a group with processes in it cannot be)."""
    group = (ROOT / "memory" if _v1() else ROOT) / f"{name}-{os.getpid()}"
    group.mkdir(exist_ok=True)
    try:
        if _v1():
            (group / "memory.limit_in_bytes").write_text(str(limit_mb << 20), encoding="ascii")
        else:
            (group / "memory.max").write_text(str(limit_mb << 20), encoding="ascii")
            (group / "memory.swap.max").write_text("0", encoding="ascii")
        procs = group / "cgroup.procs"
        yield ["sh", "-c", f'echo $$ > "{procs}" && exec "$@"', "capped"]
    finally:
        _remove(group)


def _remove(group: Path, timeout_s: float = 30.0) -> None:
    """Remove ``group`` once the processes that were in it have left (a command's children may still be exiting)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            group.rmdir()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
