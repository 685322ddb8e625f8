"""Measure a benchmark subprocess: wall time, CPU time and peak memory of its whole process tree.

* wall: ``perf_counter`` from start to exit (interpreter start, imports and worker start-up included);
* CPU: user + system seconds of the subprocess and every descendant it waited for (``getrusage`` of this
  process's children before and after: a worker pool's processes are joined, so they count);
* memory: the largest sum over the subprocess and its descendants, sampled every :data:`SAMPLE_S` with psutil, of
  PSS (proportional set size: a page shared by k processes counts 1/k in each, so the sum is what the tree
  holds) where the kernel gives it, else of RSS (shared pages counted once per process: an upper bound).
  ``Run.memory`` says which.

The sampling is not free: reading a process's PSS makes the kernel walk its whole address space, and while it does
the process's own page faults wait. Every 50 ms it slowed a 2-worker scan of the short corpus (processes that map
a reference index) from 32.6 s to 37.3 s of wall and 62.0 to 64.7 s of CPU on 2 cores (two runs each, 2026-12-05),
far more than it slows processes with few mappings such as vPDQ's; every 0.5 s: 33.2 s, the same peak (463-468 MB
against 464-469).
"""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["BenchError", "Run", "TreeSampler", "load_averages", "measure", "own_pss_kb"]

#: Seconds between two samples of the tree's memory (the module docstring says why not more often).
SAMPLE_S = 0.5
TREE_REFRESH_S = 0.25


class BenchError(Exception):
    """A step of a benchmark failed (the message names the step and what to look at)."""


@dataclass
class Run:
    """One measured subprocess."""

    wall_s: float
    peak_mb: float
    samples: int
    cpu_s: float = 0.0
    memory: str = "rss"  # what peak_mb sums: "pss" or "rss"


class TreeSampler(threading.Thread):
    """Samples the summed PSS (else RSS) of a process and its descendants until stopped; keeps the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        import psutil

        self._psutil = psutil
        self._root = psutil.Process(pid)
        self._stop_event = threading.Event()
        self.peak = 0
        self.samples = 0
        self.memory = "pss" if self._pss(self._root) is not None else "rss"

    def _pss(self, p: Any) -> int | None:
        try:
            value = getattr(p.memory_full_info(), "pss", None)
        except self._psutil.AccessDenied:
            return None
        except self._psutil.Error:
            return 0
        return None if value is None else int(value)

    def _tree(self) -> list[Any]:
        try:
            return [self._root, *self._root.children(recursive=True)]
        except self._psutil.Error:
            return [self._root]

    def _total(self, procs: list[Any]) -> int:
        total = 0
        for p in procs:
            try:
                total += (self._pss(p) or 0) if self.memory == "pss" else int(p.memory_info().rss)
            except self._psutil.Error:  # exited between listing and reading: it holds nothing any more
                continue
        return total

    def run(self) -> None:
        procs = self._tree()
        refreshed = time.monotonic()
        while not self._stop_event.is_set():
            if time.monotonic() - refreshed >= TREE_REFRESH_S:
                procs = self._tree()
                refreshed = time.monotonic()
            self.peak = max(self.peak, self._total(procs))
            self.samples += 1
            self._stop_event.wait(SAMPLE_S)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def measure(cmd: Sequence[str], log_path: Path, what: str, cwd: Path | None = None) -> Run:
    """Run ``cmd`` to completion, output to ``log_path``; raises :class:`BenchError` if it fails.

    One measurement at a time per process (the CPU time is a difference of this process's children's).
    """
    with log_path.open("wb") as log:
        cpu0 = _children_cpu()
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        try:
            rc = proc.wait()
        finally:
            wall = time.perf_counter() - t0
            sampler.stop()
        cpu = _children_cpu() - cpu0
    if rc != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
        raise BenchError(f"{what} failed (exit {rc}; log {log_path}): " + " | ".join(tail))
    return Run(wall, sampler.peak / 2**20, sampler.samples, cpu, sampler.memory)


def load_averages() -> str:
    """The 1, 5 and 15 minute load averages and the cores this process may use, as one phrase."""
    one, five, fifteen = os.getloadavg()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min) on {cores} cores"


def machine() -> str:
    """The CPU (``/proc/cpuinfo``'s model name) and the kernel the engine's Hamming searches run on here
    (``popcount.isa()``: avx512, avx2 or popcnt; faiss where the extension is not built), as one phrase: figures of
    different machines are compared knowing both."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            model = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), model)
    except OSError:
        pass
    try:
        from provenance.engine import popcount

        kernel = popcount.isa() or "faiss"
    except ImportError:
        kernel = "faiss"
    return f"{model}, Hamming kernel {kernel}"


def own_pss_kb() -> int:
    """This process's PSS in kB (``/proc/self/smaps_rollup``): what it holds, a page shared by k processes counted
    1/k; 0 where the kernel does not give it."""
    try:
        with open("/proc/self/smaps_rollup", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
