"""`provenance serve` as a real process: keys from the CLI, a scan job that survives `kill -9` and a
graceful stop (SIGTERM) of the service, and finishes with the report an uninterrupted scan gives."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from .apihelp import SAMPLE, fingerprinted_sqlite, sample_registry_url

pytestmark = pytest.mark.slow

CLIPS = ["reupload/e1m1_reencode.mp4", "clean/bikes.mp4", "retro/pong_fast_gamma.mp4", "streams/nightowl_highlight.mp4"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(db: str, data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PROVENANCE_DATA_ROOTS": str(data)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "provenance", "--db", db, "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the service exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("the service did not start")


def _job(db_file: Path, job_id: str) -> tuple[str, int, int]:
    with sqlite3.connect(db_file) as conn:
        row = conn.execute("SELECT status, clips_done, attempts FROM scan_jobs WHERE id = ?", (job_id,)).fetchone()
    return str(row[0]), int(row[1]), int(row[2])


def _until(what: Any, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_scan_job_survives_kill_and_stop(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, sample_report: dict[str, Any]
) -> None:
    db = sample_registry_url("sqlite", fingerprinted_sqlite(tmp_path_factory), tmp_path, None)
    db_file = tmp_path / "registry.db"
    data = tmp_path / "data"
    for rel in CLIPS:
        (data / "ds" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLE / "dataset" / rel, data / "ds" / rel)
    made = subprocess.run(
        [sys.executable, "-m", "provenance", "--db", db, "keys", "create", "--role", "auditor"],
        capture_output=True,
        text=True,
        check=True,
    )
    headers = {"Authorization": f"Bearer {made.stdout.strip().splitlines()[-1]}"}

    port = _port()
    proc = _serve(db, data, port)
    try:
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/scans",
            headers=headers,
            json={"dataset": str(data / "ds"), "as_of": sample_report["scan"]["as_of"]},
        )
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        _until(lambda: _job(db_file, job_id)[1] >= 1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # mid-scan, no chance to clean up
        proc.wait()
    status, done, attempts = _job(db_file, job_id)
    assert status == "running" and 1 <= done < len(CLIPS) and attempts == 1

    proc = _serve(db, data, port)  # resumes the job; then stopped gracefully while it runs
    try:
        _until(lambda: _job(db_file, job_id)[0] == "running" and _job(db_file, job_id)[2] == 2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
    status, done, attempts = _job(db_file, job_id)
    assert status in ("queued", "done") and attempts == 2  # queued again, unless it was already finishing

    proc = _serve(db, data, port)
    try:
        _until(lambda: _job(db_file, job_id)[0] == "done")
        report = httpx.get(f"http://127.0.0.1:{port}/v1/scans/{job_id}/report", headers=headers).json()
        job = httpx.get(f"http://127.0.0.1:{port}/v1/scans/{job_id}", headers=headers).json()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
    assert job["attempts"] in (2, 3) and job["progress"]["clips_done"] == len(CLIPS)
    expected = {c["path"]: c for c in sample_report["clips"]}
    assert [c["path"] for c in report["clips"]] == sorted(CLIPS)
    for clip in report["clips"]:  # the same findings an uninterrupted scan of the same clips gives
        assert clip["exposure"] == expected[clip["path"]]["exposure"]
        assert clip["layers"] == expected[clip["path"]]["layers"], clip["path"]
