"""How the kernel pages an opened index in: at random, a page where a search lands, not the next hundred kilobytes,
when the index is large beside the memory it may have.

An index directory is opened by memory map (NumPy's ``mmap_mode``, FAISS's ``IO_FLAG_MMAP``), and a scan reads it
where its searches land: a vote list of a few tens of kilobytes among tens of thousands, a bucket of hash keys, a
shortlisted frame's descriptors. By default Linux reads ahead around every page a mapping faults in (128 KB and
more), as if the file were read from start to end. While the index fits in memory that only loads it sooner; where
it does not (a catalogue's index, or a scan given less memory than its index), every fault evicts pages still in
use to make room for pages no search wants, and the scan thrashes: a 2-worker scan of the 10-hour registry of
``bench/scale_bench.py`` (a 5.3 GB index) in 1 GB, page cache included, took 345 s instead of 12 s; told that the
mappings are read at random (``MADV_RANDOM``), 27 s. The advice costs a cold start in memory enough for the whole
index (a page read a fault: 18 s instead of 12 s there), so it is given only to an index larger than
:data:`RANDOM_SHARE` of the memory this process may use (``docs/scale-out.md``, "A scan in less memory than its
index").
"""

from __future__ import annotations

import ctypes
import logging
import mmap
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["RANDOM_SHARE", "advise_random", "memory_budget", "reads_at_random"]

#: An index mapped larger than this share of :func:`memory_budget` is read at random (the rest of the memory is the
#: scan's workers', its clips' and the other processes').
RANDOM_SHARE = 0.25

_MEMINFO = Path("/proc/meminfo")
_GROUPS = Path("/proc/self/cgroup")
_CGROUP = Path("/sys/fs/cgroup")


def memory_budget() -> int | None:
    """The bytes this process may fill, page cache included: the memory the system has available
    (``MemAvailable``), or less where its control group's limit is lower; None where neither can be read."""
    found: list[int] = []
    try:
        for line in _MEMINFO.read_text("ascii").splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    try:
        for line in _GROUPS.read_text("utf-8").splitlines():
            hierarchy, controllers, path = line.split(":", 2)
            if hierarchy == "0" and not controllers:  # cgroup v2
                limit = _limit(_CGROUP / path.lstrip("/") / "memory.max")
            elif "memory" in controllers.split(","):  # cgroup v1
                limit = _limit(_CGROUP / "memory" / path.lstrip("/") / "memory.limit_in_bytes")
            else:
                continue
            if limit is not None:
                found.append(limit)
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def reads_at_random(nbytes: int, budget: int | None) -> bool:
    """Whether an index of ``nbytes`` mapped is paged in at random with ``budget`` bytes to use (None: unknown, so
    yes): past :data:`RANDOM_SHARE` of it."""
    return budget is None or nbytes > RANDOM_SHARE * budget


def _limit(path: Path) -> int | None:
    try:
        text = path.read_text("ascii").strip()
    except OSError:
        return None
    if not text.isdigit() or int(text) >= 1 << 60:  # "max", or v1's page-rounded "no limit"
        return None
    return int(text)


def advise_random(directory: Path, budget: int | None = None) -> int:
    """Tell the kernel that this process's mappings of files under ``directory`` are read at random, if together they
    exceed :data:`RANDOM_SHARE` of ``budget`` (default: :func:`memory_budget`; none known: always); returns how many
    mappings were told (0 where the system has no such advice: not Linux)."""
    advice = getattr(mmap, "MADV_RANDOM", None)
    if advice is None or not sys.platform.startswith("linux"):
        return 0
    root = os.path.realpath(directory).rstrip(os.sep) + os.sep
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            ranges = [_range(f[0]) for f in (line.rstrip("\n").split(maxsplit=5) for line in maps) if _under(f, root)]
        libc = ctypes.CDLL(None, use_errno=True)
        madvise = libc.madvise
        madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    except (OSError, AttributeError) as exc:  # no /proc, no libc: the kernel's default paging
        log.debug("mappings of %s not advised: %s", directory, exc)
        return 0
    budget = memory_budget() if budget is None else budget
    if not reads_at_random(sum(high - low for low, high in ranges), budget):
        return 0
    told = 0
    for low, high in ranges:
        if madvise(low, high - low, advice) == 0:
            told += 1
        else:
            log.debug("madvise(%#x-%#x): errno %d", low, high, ctypes.get_errno())
    return told


def _under(fields: list[str], root: str) -> bool:
    return len(fields) == 6 and fields[5].startswith(root)


def _range(span: str) -> tuple[int, int]:
    low, high = span.split("-")
    return int(low, 16), int(high, 16)
