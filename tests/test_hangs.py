"""Nothing a dataset holds makes a scan wait for ever (issue 17, items 6 and 15), in real files and real processes.

A manifest row naming a FIFO, ``/dev/zero``, a socket or a folder is a per-row error, never opened; every read
refuses what is not a regular file; a clip that still blocks its worker (a hung mount) is stopped after the time
limit and reported as an error; a scan killed with SIGKILL leaves no worker process behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provenance.audit.executors import LocalExecutor, MatchJob
from provenance.audit.manifests import import_manifest_file
from provenance.audit.references import ensure_fingerprints, load_infos, match_key
from provenance.dataset import BadEntry, ClipSource, iter_sources
from provenance.engine import EngineParams
from provenance.errors import DecodeError, SourceError
from provenance.media import open_video, probe
from rightsdb import Registry, sha256_file
from tests.hangs import (
    SAMPLE,
    StuckSource,
    alive,
    blocking_inputs,
    cli,
    dying_with_parent,
    tiny_registry,
    wait_until,
    within,
    worker_pids,
)

CLIP = SAMPLE / "dataset" / "retro" / "pong_fast_gamma.mp4"


def test_manifest_rows_that_are_not_regular_files_are_row_errors(tmp_path: Path) -> None:
    inputs = blocking_inputs(tmp_path / "odd")
    rows = [{"path": str(CLIP)}] + [{"path": str(p)} for p in inputs.values()]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    entries = within(20, lambda: list(iter_sources(manifest)))
    assert isinstance(entries[0], ClipSource)
    bad = entries[1:]
    assert all(isinstance(e, BadEntry) for e in bad), bad
    errors = [e.error for e in bad if isinstance(e, BadEntry)]
    assert errors == [
        f"manifest.jsonl line 2: {str(inputs['fifo'])!r} is not a regular file (a FIFO (named pipe))",
        "manifest.jsonl line 3: '/dev/zero' is not a regular file (a character device)",
        f"manifest.jsonl line 4: {str(inputs['link-to-zero'])!r} is not a regular file (a character device)",
        f"manifest.jsonl line 5: {str(inputs['folder'])!r} is not a regular file (a folder)",
        f"manifest.jsonl line 6: {str(inputs['socket'])!r} is not a regular file (a socket)",
    ]


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "link-to-zero", "folder", "socket"])
def test_every_read_refuses_what_is_not_a_regular_file(tmp_path: Path, kind: str) -> None:
    """Even past the listing (a file swapped after it, a caller with a path): hashing, probing and decoding
    refuse at once, naming the clip, instead of waiting on a FIFO or reading /dev/zero for ever."""
    path = blocking_inputs(tmp_path)[kind]
    source = ClipSource(path.name, path)
    with pytest.raises(DecodeError, match=rf"^{path.name}: cannot read file: not a regular file"):
        within(10, source.sha256)
    with pytest.raises(DecodeError, match=r"not a regular file|is a directory"):
        within(10, lambda: probe(source))
    with pytest.raises(DecodeError, match=r"not a regular file|is a directory"):
        within(10, lambda: open_video(path))
    with pytest.raises(OSError, match="not a regular file"):
        within(10, lambda: sha256_file(path))


def test_a_manifest_or_shard_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    for name in ("rows.jsonl", "rows.csv", "shard.tar"):
        os.mkfifo(tmp_path / name)
        with pytest.raises(SourceError, match=rf"{name}: not a dataset: not a regular file \(a FIFO"):
            within(10, lambda n=name: list(iter_sources(tmp_path / n)))  # type: ignore[misc]


@pytest.fixture(scope="module")
def fingerprinted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SQLite registry with one real footage reference, fingerprinted: a scan starts at once."""
    root = tmp_path_factory.mktemp("tiny")
    url = f"sqlite:///{root / 'registry.db'}"
    registry = Registry(url)
    try:
        import_manifest_file(registry, tiny_registry(root / "registry"))
        ensure_fingerprints(registry, EngineParams(), None)
    finally:
        registry.dispose()
    yield url


def _copy_db(url: str, tmp_path: Path) -> str:
    db = tmp_path / "scan.db"
    db.write_bytes(Path(url.removeprefix("sqlite:///")).read_bytes())
    return f"sqlite:///{db}"


@pytest.mark.slow
def test_cli_scan_of_a_manifest_with_a_fifo_and_dev_zero_ends(fingerprinted: str, tmp_path: Path) -> None:
    """The scan ends (it hung for ever before), each such row is an error clip naming its row, and none of them
    is listed clean."""
    url = _copy_db(fingerprinted, tmp_path)
    inputs = blocking_inputs(tmp_path / "odd")
    manifest = tmp_path / "data" / "manifest.jsonl"
    manifest.parent.mkdir()
    rows = [str(CLIP), str(inputs["fifo"]), "/dev/zero", str(inputs["folder"])]
    manifest.write_text("".join(json.dumps({"path": r}) + "\n" for r in rows))
    out, clean = tmp_path / "report.json", tmp_path / "clean.txt"
    run = cli(url, "scan", str(manifest), "--out", str(out), "--emit-clean", str(clean), "--workers", "1", timeout=240)
    assert run.returncode in (0, 1, 2), run.stderr
    clips = {c["path"]: c for c in json.loads(out.read_text())["clips"]}
    assert clips[str(CLIP)]["error"] is None
    for n, path in enumerate(rows[1:], 2):
        assert clips[path]["error"].startswith(f"manifest.jsonl line {n}: "), clips[path]
        assert "is not a regular file" in clips[path]["error"]
        assert clips[path]["layers"] == []
    assert set(clean.read_text().splitlines()) <= {str(CLIP)}  # what could not be read is never cleared


def _job(url: str) -> tuple[Registry, MatchJob]:
    registry = Registry(url, auto_migrate=False)
    params = EngineParams()
    return registry, MatchJob(registry, params, match_key(registry, params), False, load_infos(registry))


@pytest.mark.slow
def test_a_clip_that_blocks_its_worker_is_stopped_at_the_time_limit(fingerprinted: str, tmp_path: Path) -> None:
    """A clip whose read blocks (as on a hung mount) gets an error after ``clip_timeout``; its worker is killed
    and replaced, and the clips after it are matched."""
    registry, job = _job(fingerprinted)
    os.mkfifo(tmp_path / "hung")
    clips: list[tuple[int, Any]] = [(0, StuckSource("hung.mp4", tmp_path / "hung")), (1, ClipSource("pong.mp4", CLIP))]
    try:
        results = within(120, lambda: dict(LocalExecutor(1, clip_timeout=3.0).run(job, clips)))
    finally:
        registry.dispose()
    assert results[0][2] == {"error": "not finished after 3 s: stopped (time limit per clip)"}
    assert results[0][0] is None  # nothing stored under its content: tried again next time
    assert results[1][2]["error"] is None and results[1][0] is not None


class _Cancelled(Exception):
    pass


@pytest.mark.slow
def test_a_heartbeat_that_raises_kills_the_worker_of_a_stuck_clip(fingerprinted: str, tmp_path: Path) -> None:
    """What the heartbeat raises (a cancelled job) comes out of the executor while a clip hangs, and no worker
    process is left running."""
    registry, job = _job(fingerprinted)
    os.mkfifo(tmp_path / "hung")
    beats: list[list[int]] = []

    def heartbeat() -> None:
        beats.append(worker_pids(os.getpid()))
        if len(beats) >= 3 and beats[-1]:
            raise _Cancelled

    job = MatchJob(job.registry, job.params, job.key, job.rescan, job.infos, heartbeat)
    clips: list[tuple[int, Any]] = [(0, StuckSource("hung.mp4", tmp_path / "hung"))]
    try:
        with pytest.raises(_Cancelled):
            within(120, lambda: list(LocalExecutor(2, clip_timeout=3600).run(job, clips)))
    finally:
        registry.dispose()
    workers = beats[-1]
    assert workers and not alive(workers)


@pytest.mark.slow
def test_workers_die_with_a_scan_killed_by_sigkill(fingerprinted: str, tmp_path: Path) -> None:
    """``kill -9`` of a scan leaves none of its worker processes (each holds the index: hundreds of MB)."""
    url = _copy_db(fingerprinted, tmp_path)
    dataset = tmp_path / "data"
    dataset.mkdir()
    for n in range(4):
        (dataset / f"clip{n}.mp4").write_bytes(CLIP.read_bytes() + bytes([n]))  # four contents: none reused
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "provenance",
            "--db",
            url,
            "scan",
            str(dataset),
            "--out",
            str(tmp_path / "r.json"),
            "--workers",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: list[int] = []
    try:
        assert wait_until(lambda: len(worker_pids(proc.pid)) == 2 or proc.poll() is not None, 120)
        workers = worker_pids(proc.pid)
        assert len(workers) == 2, "the scan ended before its workers could be seen"
        # killed once they run (a worker still importing its modules ends when it gets that far)
        assert wait_until(lambda: all(dying_with_parent(p) for p in workers) or proc.poll() is not None, 120)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        assert wait_until(lambda: not alive(workers), 5), f"workers {alive(workers)} outlived their scan"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in alive(workers):  # a regression must not leave them running
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_fingerprinting_workers_die_with_a_command_killed_by_sigkill(tmp_path: Path) -> None:
    """The same for the processes fingerprinting reference footage (``registry fingerprint -j 2``, or a scan's
    first step)."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    imported = cli(url, "registry", "import", str(SAMPLE / "registry" / "manifest.yaml"))
    assert imported.returncode == 0, imported.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "provenance", "--db", url, "registry", "fingerprint", "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: list[int] = []
    try:
        assert wait_until(lambda: len(worker_pids(proc.pid)) == 2 or proc.poll() is not None, 120)
        workers = worker_pids(proc.pid)
        assert len(workers) == 2, "the command ended before its workers could be seen"
        assert wait_until(lambda: all(dying_with_parent(p) for p in workers) or proc.poll() is not None, 120)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        assert wait_until(lambda: not alive(workers), 5), f"workers {alive(workers)} outlived their parent"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in alive(workers):  # a regression must not leave them running
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_cli_clip_timeout_reports_a_clip_out_of_time_as_an_error(fingerprinted: str, tmp_path: Path) -> None:
    """``--clip-timeout``: a clip not finished in time is an error clip (no layers), held back, never cleared;
    the scan ends and the clip is matched again by the next scan."""
    url = _copy_db(fingerprinted, tmp_path)
    dataset = tmp_path / "data"
    dataset.mkdir()
    (dataset / "pong.mp4").write_bytes(CLIP.read_bytes())
    out, clean, flagged = tmp_path / "r.json", tmp_path / "clean.txt", tmp_path / "flagged.txt"
    run = cli(
        url, "scan", str(dataset), "--out", str(out), "--emit-clean", str(clean), "--emit-flagged", str(flagged),
        "--workers", "1", "--clip-timeout", "0.001", timeout=240,
    )  # fmt: skip
    assert run.returncode in (0, 1, 2), run.stderr
    (clip,) = json.loads(out.read_text())["clips"]
    assert clip["error"] == "not finished after 0.001 s: stopped (time limit per clip)" and clip["layers"] == []
    assert clean.read_text() == "" and flagged.read_text().splitlines() == ["pong.mp4"]
    again = cli(url, "scan", str(dataset), "--out", str(out), "--workers", "1", timeout=240)
    assert again.returncode == 0, again.stderr
    assert json.loads(out.read_text())["clips"][0]["error"] is None  # tried again, not cached as an error


def test_a_worker_gets_its_next_task_before_the_caller_handles_its_result() -> None:
    """The caller of ``run_tasks`` stores each result (a database commit per clip) while the worker that gave it
    matches its next clip: a worker never idles through the caller's handling."""
    from provenance.audit.workers import run_tasks
    from tests.hangs import no_init, started_at

    handled: dict[int, float] = {}
    starts: dict[int, float] = {}
    for i, start in run_tasks(1, no_init, (), started_at, [(k, k) for k in range(4)]):
        starts[i] = start
        time.sleep(0.3)  # the caller's handling: slow
        handled[i] = time.time()
    assert sorted(starts) == [0, 1, 2, 3]
    assert all(starts[k + 1] < handled[k] for k in range(3)), (starts, handled)
