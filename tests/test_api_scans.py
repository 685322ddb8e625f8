"""Scan jobs through the real app on SQLite and PostgreSQL: start, progress, report as JSON/CSV/HTML,
findings by scan, confinement to the data roots, cancel, bounded concurrency, resume after a restart."""

from __future__ import annotations

import csv
import io
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from rightsdb import Registry
from rightsdb.jobs import create_job
from rightsdb.models import ScanJob

from .apihelp import (
    BOTH_DATABASES,
    SAMPLE,
    Service,
    fingerprinted_sqlite,
    sample_registry_url,
    sample_service,
    start_service,
)

pytestmark = pytest.mark.slow

CLIPS = ["reupload/e1m1_reencode.mp4", "clean/bikes.mp4", "retro/pong_fast_gamma.mp4"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fingerprinted_sqlite(tmp_path_factory)


def _dataset(root: Path, name: str = "ds", clips: list[str] = CLIPS) -> Path:
    for rel in clips:
        (root / name / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLE / "dataset" / rel, root / name / rel)
    return root / name


def _wait(
    service: Service, job_id: str, until: tuple[str, ...] = ("done", "failed", "cancelled"), timeout: float = 300
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = service.client.get(f"/v1/scans/{job_id}", headers=service.auth("auditor")).json()
        if job["status"] in until:
            return job  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")


service = pytest.fixture(params=BOTH_DATABASES, name="service")(sample_service)


def test_scan_job_end_to_end(service: Service) -> None:
    dataset = _dataset(service.data)
    c, h = service.client, service.auth("auditor")
    r = c.post("/v1/scans", headers=h, json={"dataset": str(dataset), "as_of": "2026-01-01"})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running") and r.headers["location"] == f"/v1/scans/{job['id']}"
    assert job["options"] == {"as_of": "2026-01-01", "territory": None, "rescan": False}
    early = c.get(f"/v1/scans/{job['id']}/report", headers=h)
    if early.status_code != 200:  # still running
        assert early.status_code == 409 and early.json()["code"] == "not_ready"
    done = _wait(service, job["id"])
    assert done["status"] == "done", done
    assert done["progress"] == {"clips_total": 3, "clips_done": 3, "clips_error": 0, "fraction": 1.0}
    assert done["summary"]["high"] == 1 and done["summary"]["none"] == 1 and done["attempts"] == 1

    report = c.get(f"/v1/scans/{job['id']}/report", headers=h).json()
    assert [x["path"] for x in report["clips"]] == sorted(CLIPS)  # folders walked in name order
    by_path = {x["path"]: x for x in report["clips"]}
    assert by_path["reupload/e1m1_reencode.mp4"]["exposure"] == "high"
    assert by_path["clean/bikes.mp4"]["exposure"] == "none"
    assert report["scan"]["as_of"] == "2026-01-01" and report["scan"]["dataset"] == str(dataset)

    r = c.get(f"/v1/scans/{job['id']}/report", headers=h, params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["path"] for row in rows} == set(CLIPS)
    assert any(row["work"] == "freedoom" and row["exposure"] == "high" for row in rows)
    r = c.get(f"/v1/scans/{job['id']}/report", headers=h, params={"format": "html"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "e1m1_reencode.mp4" in r.text and "<html" in r.text.lower()
    assert c.get(f"/v1/scans/{job['id']}/report", headers=h, params={"format": "pdf"}).status_code == 422

    found = c.get("/v1/findings", headers=h, params={"scan": job["id"]}).json()["items"]
    assert found and {f["scan"] for f in found} == {done["scan_id"]}
    assert {f["clip"]["path"] for f in found} >= {"reupload/e1m1_reencode.mp4"}
    listed = c.get("/v1/scans", headers=h).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]] and listed["next_cursor"] is None
    assert c.get("/v1/scans", headers=h, params={"status": "failed"}).json()["items"] == []
    assert c.get("/v1/scans/nope", headers=h).status_code == 404


def test_scan_paths_are_confined(service: Service, tmp_path: Path) -> None:
    c, h = service.client, service.auth("auditor")
    outside = _dataset(tmp_path, "outside", CLIPS[:1])
    for dataset, words in [
        (str(outside), "outside the data roots"),
        (str(service.data / ".." / "outside"), "outside the data roots"),
        ("ds", "must be an absolute path"),
        (str(service.data / "missing"), "no such file"),
    ]:
        r = c.post("/v1/scans", headers=h, json={"dataset": dataset})
        assert r.status_code == 422 and words in r.json()["detail"], (dataset, r.text)
    (service.data / "linked").symlink_to(outside)  # a folder link out of the roots
    r = c.post("/v1/scans", headers=h, json={"dataset": str(service.data / "linked")})
    assert r.status_code == 422 and "outside the data roots" in r.json()["detail"]
    # inside the root, but one clip is a symlink out of it: the scan refuses to read it
    inside = _dataset(service.data, "mixed", CLIPS[1:2])
    (inside / "escape.mp4").symlink_to(outside / CLIPS[0])
    r = c.post("/v1/scans", headers=h, json={"dataset": str(inside)})
    assert r.status_code == 202
    job = _wait(service, r.json()["id"])
    assert job["status"] == "failed" and "escape.mp4" in job["error"] and "outside" in job["error"]
    r = c.post("/v1/scans", headers=h, json={"dataset": str(inside), "territory": "Germany"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "territory"
    r = c.post("/v1/scans", headers={**h, "Content-Type": "application/json"}, content=b"[1, 2")
    assert r.status_code == 422 and r.json()["code"] == "invalid"


def test_cancel_and_bounded_concurrency(template: Path, tmp_path: Path) -> None:
    url = sample_registry_url("sqlite", template, tmp_path, None)
    for service in start_service(url, tmp_path, max_scans=1):
        c, h = service.client, service.auth("auditor")
        first = c.post("/v1/scans", headers=h, json={"dataset": str(_dataset(service.data, "a"))}).json()
        second = c.post(
            "/v1/scans",
            headers=h,  # rescan: the same clips as "a", matched again (slow enough)
            json={"dataset": str(_dataset(service.data, "b")), "rescan": True},
        ).json()
        third = c.post("/v1/scans", headers=h, json={"dataset": str(_dataset(service.data, "c"))}).json()
        cancelled = c.post(f"/v1/scans/{third['id']}/cancel", headers=h).json()
        assert cancelled["status"] == "cancelled"  # a queued job stops at once
        running_at_once = 0
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            jobs = c.get("/v1/scans", headers=h).json()["items"]
            running_at_once = max(running_at_once, sum(j["status"] == "running" for j in jobs))
            second_now = next(j for j in jobs if j["id"] == second["id"])
            if second_now["status"] == "running" and second_now["progress"]["clips_done"] >= 1:
                c.post(f"/v1/scans/{second['id']}/cancel", headers=h)
            if all(j["status"] in ("done", "failed", "cancelled") for j in jobs):
                break
            time.sleep(0.05)
        assert running_at_once == 1
        jobs = {j["id"]: j for j in c.get("/v1/scans", headers=h).json()["items"]}
        assert jobs[first["id"]]["status"] == "done"
        assert jobs[second["id"]]["status"] == "cancelled"
        assert 1 <= jobs[second["id"]]["progress"]["clips_done"] < len(CLIPS)
        assert jobs[third["id"]]["status"] == "cancelled" and jobs[third["id"]]["attempts"] == 0
        r = c.get(f"/v1/scans/{second['id']}/report", headers=h)
        assert r.status_code == 409 and "cancelled" in r.json()["detail"]
        page = c.get("/v1/scans", headers=h, params={"limit": 2}).json()
        rest = c.get("/v1/scans", headers=h, params={"limit": 2, "cursor": page["next_cursor"]}).json()
        assert [j["id"] for j in page["items"] + rest["items"]] == [third["id"], second["id"], first["id"]]


def test_jobs_survive_a_restart(template: Path, tmp_path: Path) -> None:
    """A job the service left running (it was killed) is resumed by the next start; one left queued too."""
    url = sample_registry_url("sqlite", template, tmp_path, None)
    data = tmp_path / "data"
    a, b = _dataset(data, "a", CLIPS[:2]), _dataset(data, "b", CLIPS[1:2])
    registry = Registry(url)
    left_running = create_job(registry, str(a), {"as_of": None, "territory": None, "rescan": False}, None)
    left_queued = create_job(registry, str(b), {"as_of": None, "territory": None, "rescan": False}, None)
    with registry.write() as session:
        row = session.get(ScanJob, left_running.id)
        assert row is not None
        row.status, row.attempts, row.clips_done = "running", 1, 1
        session.add(row)
    registry.dispose()
    for service in start_service(url, tmp_path):
        one = _wait(service, left_running.id)
        two = _wait(service, left_queued.id)
        assert one["status"] == "done" and one["attempts"] == 2 and one["progress"]["clips_done"] == 2
        assert two["status"] == "done" and two["attempts"] == 1
