"""Scans on a real local Ray cluster (2 CPUs) against the real PostgreSQL, compared with the local executor.

One cluster for the module (Ray takes seconds to start). The registry is imported and fingerprinted once
into a PostgreSQL database that every test copies (``CREATE DATABASE ... TEMPLATE``), so each test scans
into a fresh database without fingerprinting the references again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import select

from provenance import ScanError
from provenance.audit import ClipDone, ensure_fingerprints, scan, write_report
from provenance.audit.executors import RayExecutor, make_executor
from provenance.audit.manifests import import_manifest_file
from provenance.cli.app import main
from provenance.engine import EngineParams
from provenance.report import Report
from rightsdb import ClipResult, Finding, Registry

ray = pytest.importorskip("ray", reason="the ray extra is part of dev: pip install -e '.[dev]'")

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample"
KILL_CLIPS = [  # a copy, new gameplay, a stream composite, clean footage, a retro game: five clips, 2 workers
    "reupload/e1m1_mirrored_watermark.mp4",
    "gameplay/freedoom_e1m2_new.mp4",
    "streams/nightowl_highlight.mp4",
    "clean/bikes.mp4",
    "retro/pong_fast_gamma.mp4",
]

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def fingerprinted(pg_server: Any) -> Iterator[str]:
    """A PostgreSQL registry holding the sample's references, fingerprinted (a template for each test)."""
    url = pg_server.fresh()
    registry = Registry(url)
    import_manifest_file(registry, SAMPLE / "registry" / "manifest.yaml")
    ensure_fingerprints(registry, EngineParams())
    registry.dispose()  # no connection may stay open on a template
    yield url
    pg_server.drop(url)


@pytest.fixture
def pg_copy(pg_server: Any, fingerprinted: str) -> Iterator[str]:
    name = f"prov_ray_{uuid.uuid4().hex[:12]}"
    with pg_server.admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(fingerprinted).database}"'))
    url: str = pg_server.url(name)
    yield url
    pg_server.drop(url)


def _as_written(report: Report, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / f"{uuid.uuid4().hex}.json"
    write_report(report, out)
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def _one_row_per_clip(registry: Registry, report: dict[str, Any]) -> None:
    """Exactly one stored result per clip of the scan, and one finding per reported layer (none twice)."""
    with registry.session() as session:
        rows = session.exec(select(ClipResult)).all()
        findings = session.exec(select(Finding)).all()
    per_path = Counter(row.path for row in rows)
    assert per_path == Counter(c["path"] for c in report["clips"])
    assert set(per_path.values()) == {1}
    assert len(findings) == sum(len(c["layers"]) for c in report["clips"])


def test_ray_report_equals_the_local_one(
    cluster: Any, pg_copy: str, sample_report: dict[str, Any], tmp_path: Path
) -> None:
    registry = Registry(pg_copy)
    executor = RayExecutor()
    try:
        as_of = date.fromisoformat(sample_report["scan"]["as_of"])  # the local scan's day, had midnight passed since
        report = _as_written(
            scan(registry, SAMPLE / "dataset", EngineParams(), executor=executor, as_of=as_of), tmp_path
        )
        _one_row_per_clip(registry, report)
    finally:
        registry.dispose()
    assert report["clips"] == sample_report["clips"]  # whole clip objects, in the same order
    mine, local = dict(report["scan"]), dict(sample_report["scan"])
    mine.pop("date"), local.pop("date")
    assert mine == local
    # the index is built once per Ray worker process, not once per clip
    assert executor.stats.tasks == len(report["clips"])
    assert 1 <= len(executor.stats.per_worker) <= 2
    assert executor.stats.builds == dict.fromkeys(executor.stats.per_worker, 1)


def _busy_ray_workers() -> list[psutil.Process]:
    """This cluster's worker processes now running a clip (Ray titles them ``ray::<task name>``)."""
    busy = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.cmdline()[:1] == ["ray::_ray_match"]:
                busy.append(proc)
        except psutil.Error:
            continue
    return busy


def _killer(killed: list[int]) -> Any:
    """An ``on_clip`` callback that SIGKILLs a Ray worker busy with a clip once the first clip has finished."""

    def kill_one(event: ClipDone) -> None:
        if killed or event.done != 1:
            return
        deadline = time.monotonic() + 10
        while not (busy := _busy_ray_workers()) and time.monotonic() < deadline:  # between two clips
            time.sleep(0.05)
        assert busy, "no Ray worker was matching a clip after the first one finished"
        busy[0].send_signal(signal.SIGKILL)
        busy[0].wait(10)
        killed.append(busy[0].pid)

    return kill_one


def _copy_clips(dataset: Path, rels: list[str]) -> None:
    for rel in rels:
        (dataset / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLE / "dataset" / rel, dataset / rel)


def test_a_worker_killed_mid_scan_has_its_clip_retried(
    cluster: Any, pg_copy: str, sample_report: dict[str, Any], tmp_path: Path
) -> None:
    dataset = tmp_path / "dataset"
    _copy_clips(dataset, KILL_CLIPS)
    killed: list[int] = []
    registry = Registry(pg_copy)
    executor = RayExecutor()
    try:
        report = _as_written(
            scan(registry, dataset, EngineParams(), on_clip=_killer(killed), executor=executor), tmp_path
        )
        _one_row_per_clip(registry, report)
    finally:
        registry.dispose()
    assert killed and not psutil.pid_exists(killed[0])
    expected = {c["path"]: c for c in sample_report["clips"]}
    assert [c["path"] for c in report["clips"]] == sorted(KILL_CLIPS)
    for clip in report["clips"]:
        assert clip["error"] is None, clip["error"]
        assert clip == expected[clip["path"]]
    assert executor.stats.tasks == len(KILL_CLIPS)
    assert executor.stats.builds == dict.fromkeys(executor.stats.per_worker, 1)  # a new process builds it once too


def test_a_clip_whose_worker_dies_on_every_try_is_an_error_tried_again_next_run(
    cluster: Any, pg_copy: str, sample_report: dict[str, Any], tmp_path: Path
) -> None:
    dataset = tmp_path / "dataset"
    rels = KILL_CLIPS[:4]
    _copy_clips(dataset, rels)
    killed: list[int] = []
    registry = Registry(pg_copy)
    try:
        first = _as_written(
            scan(registry, dataset, EngineParams(), on_clip=_killer(killed), executor=RayExecutor(max_retries=0)),
            tmp_path,
        )
        _one_row_per_clip(registry, first)
        failed = [c for c in first["clips"] if c["error"]]
        assert killed and len(failed) == 1, [c["error"] for c in first["clips"]]
        assert failed[0]["error"].startswith("the Ray worker matching this clip died (tried 1 time: ")
        assert failed[0]["sha256"] is None and failed[0]["layers"] == []
        again = _as_written(scan(registry, dataset, EngineParams(), executor=RayExecutor()), tmp_path)
        _one_row_per_clip(registry, again)
    finally:
        registry.dispose()
    expected = {c["path"]: c for c in sample_report["clips"]}
    assert again["clips"] == [expected[rel] for rel in sorted(rels)]  # the failed clip matched, the rest reused


def test_cli_scan_on_ray_reuses_stored_results(
    cluster: Any, pg_copy: str, sample_report: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = tmp_path / "dataset"
    rel = "retro/breakout_pip.mp4"
    (dataset / "retro").mkdir(parents=True)
    shutil.copyfile(SAMPLE / "dataset" / rel, dataset / rel)
    expected = next(c for c in sample_report["clips"] if c["path"] == rel)
    for attempt in ("first", "again"):
        out = tmp_path / f"{attempt}.json"
        with pytest.raises(SystemExit) as exit_info:
            main(["--db", pg_copy, "scan", str(dataset), "--out", str(out), "--executor", "ray"])
        assert exit_info.value.code in (0, None)
        report = json.loads(out.read_text())
        assert report["clips"] == [expected]
        err = capsys.readouterr().err
        assert "1 clips:" in err
        assert ("reused from stored results" in err) == (attempt == "again")  # looked up by the Ray worker
    assert ray.is_initialized()  # the CLI used the running cluster and left it running


def test_ray_refuses_an_in_memory_registry(cluster: Any) -> None:
    registry = Registry("sqlite://")
    try:
        with pytest.raises(ScanError, match="in-memory database cannot be shared with Ray workers"):
            clean = SAMPLE / "dataset" / "clean"
            scan(registry, clean, EngineParams(), executor=RayExecutor(), allow_empty_registry=True)
    finally:
        registry.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ray_not_installed_is_a_one_line_error(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['ray'] = None  # as if Ray were not installed\n"
        "from provenance.cli import main\n"
        f"main(['--db', 'sqlite:///{tmp_path / 'r.db'}', 'scan', '{SAMPLE / 'dataset' / 'clean'}', "
        f"'--out', '{tmp_path / 'r.json'}', '--executor', 'ray'])"
    )
    env = {k: v for k, v in os.environ.items() if k != "PROVENANCE_DB"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--executor ray needs Ray, which is not installed" in lines[0], done.stderr
    assert "pip install 'provenance[ray]'" in lines[0]
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--executor", "ray", "--address", "ray://127.0.0.1:{port}"], "cannot reach the Ray cluster at ray://"),
        (["--executor", "ray", "--address", "127.0.0.1:{port}"], "cannot reach the Ray cluster at 127.0.0.1"),
        (["--executor", "ray", "--address", "http://x"], "not a Ray address"),
        (["--address", "ray://127.0.0.1:{port}"], "--address needs --executor ray"),
        (["--executor", "dask"], "Invalid value for '--executor'"),
    ],
)
def test_bad_executor_options_are_one_line_errors(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _free_port()  # nothing listens there
    argv = [
        "--db",
        f"sqlite:///{tmp_path / 'r.db'}",
        "scan",
        str(SAMPLE / "dataset" / "clean"),
        "--out",
        str(tmp_path / "r.json"),
        *[a.format(port=port) for a in args],
    ]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err, err
    if "Invalid value" not in message:  # ours; Typer's usage errors are a framed block
        assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r.json").exists()
    assert not (tmp_path / "r.db").exists()  # refused before the database is opened


def test_make_executor_names() -> None:
    assert make_executor("local", 3).name == "local"
    assert make_executor("ray", 2).name == "ray"
    with pytest.raises(ScanError, match="unknown executor 'dask'"):
        make_executor("dask", 2)
    with pytest.raises(ScanError, match="workers must be >= 1"):
        RayExecutor(num_cpus=0)


def test_a_service_scan_job_runs_on_the_cluster(
    cluster: Any, pg_copy: str, sample_report: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service's scan jobs take the executor too (``PROVENANCE_SCAN_EXECUTOR=ray``): the same report, its
    clips matched by Ray tasks on the cluster this process has joined; a cluster that cannot be reached fails
    the job with a one-line error."""
    from provenance.audit import jobs
    from rightsdb.jobs import create_job, get_job

    made: list[Any] = []

    def keep(*args: Any) -> Any:  # the real executor, kept to read its statistics afterwards
        made.append(make_executor(*args))
        return made[-1]

    monkeypatch.setattr(jobs, "make_executor", keep)
    root = tmp_path / "data"
    dataset = root / "sample"
    shutil.copytree(SAMPLE / "dataset", dataset)
    registry = Registry(pg_copy)
    try:
        job = create_job(registry, str(dataset), {}, created_by=None)
        assert jobs.run_scan_job(registry, job.id, [root.resolve()], workers=2, executor="ray") == "done"
        report = get_job(registry, job.id).report
        assert report is not None
        _one_row_per_clip(registry, report)
        bad = create_job(registry, str(dataset), {}, created_by=None)
        assert jobs.run_scan_job(registry, bad.id, [root.resolve()], executor="ray", address="127.0.0.1:1") == "failed"
        error = get_job(registry, bad.id).error or ""
    finally:
        registry.dispose()
    assert report["clips"] == sample_report["clips"]
    assert isinstance(made[0], RayExecutor) and made[0].stats.tasks == len(report["clips"])
    assert "127.0.0.1:1" in error and "\n" not in error
