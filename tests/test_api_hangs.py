"""A clip that never ends does not hold the service (issue 17, item 7), on SQLite and PostgreSQL, with real worker
processes: a manifest row naming a FIFO or ``/dev/zero`` is an error clip and the job ends; a clip whose worker
blocks (as on a hung mount) is stopped by a cancel within seconds, and the jobs queued after it run."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from provenance.audit import jobs as audit_jobs
from provenance.audit.executors import LocalExecutor, MatchJob, Results, make_executor

from .apihelp import BOTH_DATABASES, SAMPLE, Service, fingerprinted_sqlite, sample_service
from .hangs import StuckSource, alive, blocking_inputs, wait_until, worker_pids

pytestmark = pytest.mark.slow

CLIP = "retro/pong_fast_gamma.mp4"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fingerprinted_sqlite(tmp_path_factory)


service = pytest.fixture(params=BOTH_DATABASES, name="service")(sample_service)


def _folder(root: Path, name: str) -> Path:
    (root / name).mkdir()
    shutil.copyfile(SAMPLE / "dataset" / CLIP, root / name / "pong.mp4")
    return root / name


def _wait(service: Service, job_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = service.client.get(f"/v1/scans/{job_id}", headers=service.auth("auditor")).json()
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job.get('status')} after {timeout} s: {job}")


def test_a_manifest_naming_a_fifo_or_a_device_does_not_block_the_jobs(service: Service) -> None:
    try:
        _scan_odd_manifest(service)
    finally:
        _unblock(service.data / "odd" / "pipe.mp4")  # a regression must fail, not hang at the service's stop


def _scan_odd_manifest(service: Service) -> None:
    c, h = service.client, service.auth("auditor")
    inputs = blocking_inputs(service.data / "odd")
    rows = [str(service.data / "odd" / "good.mp4"), str(inputs["fifo"]), str(inputs["socket"])]
    shutil.copyfile(SAMPLE / "dataset" / CLIP, rows[0])
    with contextlib.suppress(PermissionError):  # /dev/zero's twin inside the data root (needs root)
        os.mknod(service.data / "odd" / "chardev.mp4", stat.S_IFCHR | 0o444, os.makedev(1, 5))
        rows.append(str(service.data / "odd" / "chardev.mp4"))
    manifest = service.data / "rows.jsonl"
    manifest.write_text("".join(json.dumps({"path": r}) + "\n" for r in rows))
    first = c.post("/v1/scans", headers=h, json={"dataset": str(manifest)}).json()
    second = c.post("/v1/scans", headers=h, json={"dataset": str(_folder(service.data, "later"))}).json()
    done = _wait(service, first["id"], 240)
    assert done["status"] == "done", done
    clips = {x["path"]: x for x in c.get(f"/v1/scans/{first['id']}/report", headers=h).json()["clips"]}
    assert clips[rows[0]]["error"] is None
    kinds = ["a FIFO", "a socket", "a character device"]
    for n, (row, kind) in enumerate(zip(rows[1:], kinds, strict=False), 2):
        assert clips[row]["error"].startswith(f"rows.jsonl line {n}: ") and kind in clips[row]["error"], clips[row]
        assert clips[row]["layers"] == []
    assert _wait(service, second["id"], 240)["status"] == "done"
    # a row naming /dev/zero itself is outside the data roots: the dataset is refused, its kind not told
    (service.data / "zero.jsonl").write_text(json.dumps({"path": "/dev/zero"}) + "\n")
    job = c.post("/v1/scans", headers=h, json={"dataset": str(service.data / "zero.jsonl")}).json()
    refused = _wait(service, job["id"], 120)
    assert refused["status"] == "failed" and "outside the allowed data roots" in refused["error"], refused
    assert "device" not in refused["error"]


class _OneClipHangs:
    """The service's local executor, with the dataset's first clip read from a FIFO nobody writes to: the worker
    matching it blocks in a read, as on a hung network mount."""

    name = "local"

    def __init__(self, inner: LocalExecutor, fifo: Path) -> None:
        self.inner, self.fifo = inner, fifo

    def run(self, job: MatchJob, clips: Sequence[tuple[int, Any]]) -> Results:
        (i, first), *rest = clips
        return self.inner.run(job, [(i, StuckSource(first.rel, self.fifo)), *rest])


@pytest.fixture
def one_clip_hangs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    fifo = tmp_path / "hung.fifo"
    os.mkfifo(fifo)
    made: list[Any] = []

    def make(*args: Any) -> Any:
        runner = make_executor(*args)
        assert isinstance(runner, LocalExecutor) and runner.clip_timeout is not None
        made.append(runner)
        return _OneClipHangs(runner, fifo) if len(made) == 1 else runner  # the first job only

    monkeypatch.setattr(audit_jobs, "make_executor", make)
    yield fifo


def _unblock(fifo: Path, seconds: float = 3.0) -> None:
    """Give every reader blocked on ``fifo`` meanwhile its end of file (a regression must fail the test, not
    hang it at the service's stop)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):  # ENXIO: no reader at the moment
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        time.sleep(0.05)


def _blocked_on_fifo(pid: int) -> bool:
    """Whether process ``pid`` waits in the kernel for a FIFO's other end (Linux ``wchan``)."""
    try:
        return Path(f"/proc/{pid}/wchan").read_text() in ("wait_for_partner", "fifo_open", "pipe_read")
    except OSError:
        return False


def test_cancel_stops_a_job_whose_clip_hangs_and_the_next_job_runs(service: Service, one_clip_hangs: Path) -> None:
    try:
        _cancel_the_stuck_job(service)
    finally:
        _unblock(one_clip_hangs)


def _cancel_the_stuck_job(service: Service) -> None:
    c, h = service.client, service.auth("auditor")
    stuck = c.post("/v1/scans", headers=h, json={"dataset": str(_folder(service.data, "stuck"))}).json()
    later = c.post("/v1/scans", headers=h, json={"dataset": str(_folder(service.data, "later"))}).json()
    assert wait_until(lambda: bool(worker_pids(os.getpid())), 120), "no worker process started"
    workers = worker_pids(os.getpid())
    assert wait_until(lambda: any(_blocked_on_fifo(p) for p in workers), 120), "no worker blocked on the clip"
    job = c.get(f"/v1/scans/{stuck['id']}", headers=h).json()
    assert job["status"] == "running" and job["progress"]["clips_done"] == 0, job
    r = c.post(f"/v1/scans/{stuck['id']}/cancel", headers=h)
    assert r.status_code == 202, r.text
    t0 = time.monotonic()
    ended = _wait(service, stuck["id"], 30)
    assert ended["status"] == "cancelled" and time.monotonic() - t0 < 15, ended
    assert wait_until(lambda: not alive(workers), 10), "the stuck worker outlived the cancelled job"
    assert _wait(service, later["id"], 240)["status"] == "done"
