"""An opened index's mappings are read at random where the index is large beside the memory the process may use, and
left to the kernel's read-ahead where it fits: told by the kernel's own flags for each mapping (``rr`` in
``/proc/self/smaps``), on the sample registry's real index."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from provenance.audit.indexdir import open_index_dir, write_index_dir
from provenance.audit.manifests import import_manifest_file
from provenance.audit.references import ensure_fingerprints, index_payload
from provenance.engine import EngineParams, match_clip, paging
from provenance.engine.paging import RANDOM_SHARE, advise_random, memory_budget
from rightsdb import Registry

from .conftest import FIXTURES

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's paging advice: Linux")

SAMPLE = FIXTURES / "sample"
PARAMS = EngineParams()


def _flags(root: Path) -> dict[str, set[str]]:
    """The kernel's flags (``VmFlags``) of this process's mappings of files under ``root``, by file name."""
    prefix = os.path.realpath(root) + os.sep
    out: dict[str, set[str]] = {}
    name: str | None = None
    with open("/proc/self/smaps", encoding="utf-8") as smaps:
        for line in smaps:
            head = line.split(maxsplit=5)
            if "-" in head[0] and ":" not in head[0]:  # a mapping's first line: range perms offset dev inode path
                name = head[5].strip() if len(head) == 6 and head[5].startswith(prefix) else None
            elif name is not None and line.startswith("VmFlags:"):
                out.setdefault(Path(name).name, set()).update(line.split()[1:])
    return out


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("paging")
    registry = Registry(f"sqlite:///{folder / 'r.db'}")
    try:
        import_manifest_file(registry, SAMPLE / "registry" / "manifest.yaml")
        ensure_fingerprints(registry, PARAMS)
        write_index_dir(PARAMS, index_payload(registry), folder / "index")
    finally:
        registry.dispose()
    yield folder / "index"


def test_an_index_large_beside_the_memory_is_read_at_random_and_finds_the_same(
    index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = next((SAMPLE / "dataset" / "reupload").glob("*.mp4"))
    roomy = open_index_dir(index_dir, PARAMS)  # this machine has far more memory than the sample's index
    roomy_flags = _flags(index_dir)  # (FAISS maps a flat search's file for random reads itself)
    assert roomy_flags and not any("rr" in f for name, f in roomy_flags.items() if name.endswith(".npy"))
    want = repr(match_clip(clip, roomy))
    del roomy
    monkeypatch.setattr(paging, "memory_budget", lambda: 1 << 20)  # 1 MB to spare: the index is large beside it
    tight = open_index_dir(index_dir, PARAMS)
    flags = _flags(index_dir)
    for name in ("bank_descriptors.npy", "bank_votes.faiss", "print_hashes.npy", "rows_ref.npy"):
        assert "rr" in flags.get(name, set()), name
    assert all("rr" in f for f in flags.values())  # every mapping of the directory, FAISS's too
    assert repr(match_clip(clip, tight)) == want


def test_the_advice_is_given_past_a_share_of_the_budget_and_to_files_under_the_directory_only(tmp_path: Path) -> None:
    inside, outside = tmp_path / "index", tmp_path / "other"
    inside.mkdir()
    outside.mkdir()
    size = 1 << 20
    arrays = []
    for folder in (inside, outside):
        np.save(folder / "a.npy", np.zeros(size, np.uint8))
        arrays.append(np.load(folder / "a.npy", mmap_mode="r"))
    assert advise_random(inside, budget=int(2 * size / RANDOM_SHARE)) == 0  # within its share: read ahead
    assert "rr" not in _flags(inside)["a.npy"]
    assert advise_random(inside, budget=size) == 1  # the mapping is more than its share of the budget
    assert "rr" in _flags(inside)["a.npy"] and "rr" not in _flags(outside).get("a.npy", set())
    assert advise_random(tmp_path / "missing", budget=1) == 0
    assert int(np.asarray(arrays[0][:16]).sum()) == 0  # still readable


def test_the_budget_is_the_available_memory_or_a_control_groups_lower_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = memory_budget()
    assert real is not None and real > 0  # this machine's: /proc/meminfo at least
    meminfo, groups, root = tmp_path / "meminfo", tmp_path / "cgroup", tmp_path / "sys"
    monkeypatch.setattr(paging, "_MEMINFO", meminfo)
    monkeypatch.setattr(paging, "_GROUPS", groups)
    monkeypatch.setattr(paging, "_CGROUP", root)
    assert memory_budget() is None  # nothing to read
    meminfo.write_text("MemTotal:       24683772 kB\nMemAvailable:    4000000 kB\n")
    assert memory_budget() == 4_000_000 * 1024
    (root / "memory" / "job").mkdir(parents=True)
    (root / "memory" / "job" / "memory.limit_in_bytes").write_text("1073741824\n")
    (root / "job2").mkdir()
    (root / "job2" / "memory.max").write_text("max\n")
    groups.write_text("4:memory:/job\n3:cpu,cpuacct:/job\n0::/job2\n")  # v1's memory limited to 1 GB, v2 not
    assert memory_budget() == 1 << 30
    groups.write_text("0::/job2\n")  # v2 alone, "max": the available memory
    assert memory_budget() == 4_000_000 * 1024
    (root / "job2" / "memory.max").write_text("2147483648\n")
    assert memory_budget() == 2 << 30
    (root / "memory" / "job" / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1's "no limit"
    groups.write_text("4:memory:/job\n")
    assert memory_budget() == 4_000_000 * 1024
