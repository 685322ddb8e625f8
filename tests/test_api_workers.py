"""Scan jobs with several service processes on one database (SQLite file and PostgreSQL): a job is claimed by
exactly one runner even when processes race for it, at most ``max_scans`` run at once over all of them, a
running job's lease is kept while it runs, and a job whose runner died is taken over once its lease expires
and finishes (the dead runner, were it to come back, writes nothing). Last, the real ``provenance serve
--workers 2``: jobs run once each, one at a time, and a job whose worker process is killed (-9) is resumed by
the service while it goes on serving."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import suppress
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.jobs import JobRunner
from provenance.audit import run_scan_job
from rightsdb import Registry
from rightsdb.jobs import (
    LeaseLost,
    claim_job,
    claimable_jobs,
    create_job,
    finish_job,
    get_job,
    new_owner,
    record_progress,
    renew_lease,
)
from rightsdb.models import ScanJob, utcnow

from .apihelp import BOTH_DATABASES, SAMPLE, fingerprinted_sqlite, sample_registry_url

OPTIONS = {"as_of": None, "territory": None, "rescan": False}
CLIPS = ["reupload/e1m1_reencode.mp4", "clean/bikes.mp4", "retro/pong_fast_gamma.mp4"]
MORE = ["reupload/e1m1_mirrored_watermark.mp4", "reupload/e1m1_crop_letterbox.mp4", "retro/breakout_pip.mp4"]


def _dataset(root: Path, name: str, clips: list[str]) -> Path:
    for rel in clips:
        (root / name / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLE / "dataset" / rel, root / name / rel)
    return root / name


def _set(registry: Registry, job_id: str, **values: Any) -> None:
    with registry.write() as session:
        row = session.get(ScanJob, job_id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)
        session.add(row)


# -- claims racing in real processes --------------------------------------------------------------------------


def _claimer(url: str, ready: Any, go: Any, out: Any, max_running: int | None, seed: int) -> None:
    """A runner in its own process: three passes over the claimable jobs, in a random order, claiming each."""
    registry = Registry(url)
    owner = new_owner()
    rng = random.Random(seed)
    ready.put(owner)
    go.wait()
    mine: list[str] = []
    for _ in range(3):
        ids = claimable_jobs(registry)
        rng.shuffle(ids)
        for job_id in ids:
            if claim_job(registry, job_id, owner, max_running=max_running) is not None:
                mine.append(job_id)
    registry.dispose()
    out.put((owner, mine))


def _race(url: str, processes: int, max_running: int | None = None) -> dict[str, list[str]]:
    ctx = multiprocessing.get_context("spawn")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_claimer, args=(url, ready, go, out, max_running, k)) for k in range(processes)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=120)
    go.set()  # all at once
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    return results


def test_racing_processes_claim_each_job_once(db_url: str) -> None:
    registry = Registry(db_url)
    try:
        queued = [create_job(registry, f"/data/q{i}", OPTIONS, None).id for i in range(24)]
        orphans = [create_job(registry, f"/data/o{i}", OPTIONS, None).id for i in range(8)]
        held = [create_job(registry, f"/data/h{i}", OPTIONS, None).id for i in range(4)]
        for job_id in orphans:  # their runner died: the lease expired a minute ago
            _set(
                registry,
                job_id,
                status="running",
                attempts=1,
                lease_owner="gone:1:dead",
                lease_expires_at=utcnow() - timedelta(seconds=60),
            )
        for job_id in held:  # a live runner elsewhere holds these
            _set(
                registry,
                job_id,
                status="running",
                attempts=1,
                lease_owner="alive:2:live",
                lease_expires_at=utcnow() + timedelta(seconds=600),
            )
        assert set(claimable_jobs(registry)) == set(queued + orphans)

        results = _race(db_url, 3)
        claimed = [job_id for ids in results.values() for job_id in ids]
        assert sorted(claimed) == sorted(queued + orphans)  # each exactly once, none of the held ones
        for owner, ids in results.items():
            for job_id in ids:
                job = get_job(registry, job_id)
                assert job.status == "running" and job.lease_owner == owner
                assert job.attempts == (2 if job_id in orphans else 1)
        for job_id in held:
            assert get_job(registry, job_id).lease_owner == "alive:2:live"
        assert claimable_jobs(registry) == []
    finally:
        registry.dispose()


def test_at_most_max_running_over_all_processes(db_url: str) -> None:
    registry = Registry(db_url)
    try:
        ids = [create_job(registry, f"/data/q{i}", OPTIONS, None).id for i in range(20)]
        held = ids[0]
        assert claim_job(registry, held, "alive:2:live", max_running=5) is not None
        results = _race(db_url, 3, max_running=5)
        claimed = [job_id for got in results.values() for job_id in got]
        assert len(claimed) == len(set(claimed)) == 4  # 5 at once, one of them held before the race
        running = [j for j in ids if get_job(registry, j).status == "running"]
        assert sorted(running) == sorted([held, *claimed])
    finally:
        registry.dispose()


# -- leases with real scans ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fingerprinted_sqlite(tmp_path_factory)


@pytest.fixture(params=BOTH_DATABASES)
def sample_url(request: pytest.FixtureRequest, template: Path, tmp_path: Path) -> Any:
    pg = None
    if request.param == "postgres":
        server = request.getfixturevalue("pg_server")
        pg = server.fresh()
    try:
        yield sample_registry_url(request.param, template, tmp_path, pg)
    finally:
        if pg is not None:
            server.drop(pg)


@pytest.mark.slow
def test_job_of_a_dead_runner_is_taken_over(sample_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    dataset = _dataset(data, "ds", CLIPS[:2])
    registry = Registry(sample_url)
    runner = JobRunner(registry, [data.resolve()], lease_seconds=3, poll_seconds=0.2)
    try:
        job = create_job(registry, str(dataset.resolve()), OPTIONS, None)
        dead = "gone:1:dead"
        assert claim_job(registry, job.id, dead, lease_seconds=4) is not None  # then it died, renewing nothing
        claimed_at = time.monotonic()
        assert claim_job(registry, job.id, "rival:3:x") is None  # a live lease: nobody else may take it
        assert runner.start() == []
        time.sleep(1.0)
        if time.monotonic() - claimed_at < 3.5:  # (a stalled test process proves nothing here)
            assert get_job(registry, job.id).lease_owner == dead
        deadline = time.monotonic() + 300
        while get_job(registry, job.id).status not in ("done", "failed") and time.monotonic() < deadline:
            time.sleep(0.1)
        done = get_job(registry, job.id)
        assert done.status == "done", done.error
        assert done.attempts == 2 and done.lease_owner == runner.owner and done.clips_done == 2
        assert done.report is not None and [c["path"] for c in done.report["clips"]] == sorted(CLIPS[:2])
        # the dead runner comes back: it is told, and nothing it writes lands
        with pytest.raises(LeaseLost):
            record_progress(registry, job.id, phase="scanning", done=1, owner=dead)
        assert not renew_lease(registry, job.id, dead)
        assert not finish_job(registry, job.id, "failed", error="late", owner=dead)
        after = get_job(registry, job.id)
        assert (after.status, after.error, after.clips_done) == ("done", None, 2)
    finally:
        runner.stop()
        registry.dispose()


@pytest.mark.slow
def test_lease_is_kept_while_the_job_runs(sample_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scan that runs several times its lease keeps its job: the runner renews the lease; a rival asking all
    along never gets the job."""
    import provenance.audit.executors

    real_match = provenance.audit.executors.match_source

    def slow_match(*args: Any, **kwargs: Any) -> Any:  # each clip at least 0.4 s, however fast the engine gets
        started = time.monotonic()
        result = real_match(*args, **kwargs)
        time.sleep(max(0.0, 0.4 - (time.monotonic() - started)))
        return result

    monkeypatch.setattr(provenance.audit.executors, "match_source", slow_match)  # where clips match in this process
    data = tmp_path / "data"
    dataset = _dataset(data, "ds", CLIPS + MORE)
    for k, rel in itertools.product(range(5), CLIPS + MORE):  # six times the clips (other names, matched again): in
        # worker processes, where slow_match does not reach, a scan ~1.5 times its worker start, ~3.5 s here
        shutil.copyfile(dataset / rel, dataset / Path(rel).with_name(f"again{k}_{Path(rel).name}"))
    registry = Registry(sample_url)
    try:
        job = create_job(registry, str(dataset.resolve()), {**OPTIONS, "rescan": True}, None)
        stolen: list[ScanJob] = []
        finished = threading.Event()

        def rival() -> None:
            while not finished.is_set():
                got = claim_job(registry, job.id, "rival:3:x", lease_seconds=60)
                if got is not None:
                    stolen.append(got)
                time.sleep(0.1)

        owner = new_owner()
        # a short lease, so that the scan outlives it twice at least; renewed every 0.4 s. (0.8 s, renewed every 0.27
        # s, was stolen once in four loaded CI runs: on SQLite the renewal waits for the write lock behind the scan's
        # own transactions and the rival's claims every 0.1 s, and once it waited past the lease's last 0.53 s.)
        lease = 1.2
        claimed = claim_job(registry, job.id, owner, lease_seconds=lease)
        assert claimed is not None
        thread = threading.Thread(target=rival)
        thread.start()
        started = time.monotonic()
        try:
            status = run_scan_job(registry, job.id, [data.resolve()], owner=owner, claimed=claimed, lease_seconds=lease)
        finally:
            finished.set()
            thread.join()
        took = time.monotonic() - started
        assert stolen == [] and status == "done"
        done = get_job(registry, job.id)
        assert done.status == "done" and done.attempts == 1 and done.clips_done == 6 * len(CLIPS + MORE)
        assert done.lease_owner == owner
        assert took > 2 * lease, f"the scan took {took:.1f} s, not long enough to outlive its lease twice"
    finally:
        registry.dispose()


# -- the real service with two worker processes ---------------------------------------------------------------


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _jobs(db_file: Path) -> dict[str, tuple[str, int, int, str | None]]:
    with sqlite3.connect(db_file, timeout=60) as conn:
        rows = conn.execute("SELECT id, status, clips_done, attempts, lease_owner FROM scan_jobs").fetchall()
    return {r[0]: (r[1], int(r[2]), int(r[3]), r[4]) for r in rows}


@pytest.mark.slow
def test_serve_with_two_workers(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, sample_report: dict[str, Any]
) -> None:
    db = sample_registry_url("sqlite", fingerprinted_sqlite(tmp_path_factory), tmp_path, None)
    db_file = tmp_path / "registry.db"
    data = tmp_path / "data"
    small = [_dataset(data, name, [clip]) for name, clip in zip("abc", CLIPS, strict=True)]
    big = _dataset(data, "big", CLIPS)
    made = subprocess.run(
        [sys.executable, "-m", "provenance", "--db", db, "keys", "create", "--role", "auditor"],
        capture_output=True,
        text=True,
        check=True,
    )
    headers = {"Authorization": f"Bearer {made.stdout.strip().splitlines()[-1]}"}
    port = _port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PROVENANCE_DATA_ROOTS": str(data),
        "PROVENANCE_MAX_SCANS": "1",
        "PROVENANCE_JOB_LEASE_SECONDS": "3",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "provenance",
            "--db",
            db,
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, "the service exited"
            assert time.monotonic() < deadline, "the service did not start"
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        import psutil

        assert len(psutil.Process(proc.pid).children()) >= 2  # the supervisor and its worker processes

        # three jobs posted at once (to whichever worker answers): each runs once, one at a time
        ids = [httpx.post(f"{base}/v1/scans", headers=headers, json={"dataset": str(d)}).json()["id"] for d in small]
        most = 0
        deadline = time.monotonic() + 300
        while True:
            jobs = _jobs(db_file)
            most = max(most, sum(j[0] == "running" for j in jobs.values()))
            if all(jobs[i][0] in ("done", "failed", "cancelled") for i in ids):
                break
            assert time.monotonic() < deadline, jobs
            time.sleep(0.02)
        assert most == 1
        assert all(jobs[i][0] == "done" and jobs[i][2] == 1 for i in ids), jobs

        # the worker running a job is killed: the supervisor starts another, the job is taken over and ends
        job_id = httpx.post(
            f"{base}/v1/scans",
            headers=headers,
            json={"dataset": str(big), "as_of": sample_report["scan"]["as_of"], "rescan": True},
        ).json()["id"]
        deadline = time.monotonic() + 300
        while not (_jobs(db_file)[job_id][0] == "running" and _jobs(db_file)[job_id][1] >= 1):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        owner = _jobs(db_file)[job_id][3]
        assert owner is not None
        victim = int(owner.split(":")[-2])
        assert victim in {p.pid for p in psutil.Process(proc.pid).children()}
        os.kill(victim, signal.SIGKILL)
        while _jobs(db_file)[job_id][0] not in ("done", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        status, done, attempts, last_owner = _jobs(db_file)[job_id]
        assert (status, done, attempts) == ("done", len(CLIPS), 2)
        assert last_owner is not None and int(last_owner.split(":")[-2]) != victim
        report = httpx.get(f"{base}/v1/scans/{job_id}/report", headers=headers).json()
        expected = {c["path"]: c for c in sample_report["clips"]}
        assert [c["path"] for c in report["clips"]] == sorted(CLIPS)
        for clip in report["clips"]:  # what an uninterrupted scan finds
            assert clip["layers"] == expected[clip["path"]]["layers"], clip["path"]
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(120)
        with suppress(ProcessLookupError):  # whatever is left of the service's process group
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_serve_refuses_a_bad_worker_count(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "provenance", "--db", f"sqlite:///{tmp_path / 'r.db'}", "serve", "--workers", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 2 and "--workers" in run.stderr and "0 is not in the range 1<=x<=64" in run.stderr
    assert not (tmp_path / "r.db").exists()  # refused before anything was opened
