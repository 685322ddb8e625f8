"""The finding queries' short path (``ServiceApp``: an ordinary ``GET /v1/findings`` answered without FastAPI's
routing and middleware) answers byte for byte what the full application answers, on SQLite and PostgreSQL;
anything not ordinary (errors, keys not verified lately) goes through the full application. The pages hold
what the database holds (checked against the ORM), and the reader survives a connection the server drops."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import col, select
from starlette.types import Receive, Scope, Send

from api.auth import KEY_CACHE_SECONDS
from api.routes import findings
from rightsdb import ClipResult, Finding, Holder, Registry, Scan
from rightsdb.jobs import create_job
from rightsdb.keys import create_key, revoke_key
from rightsdb.models import ScanJob
from rightsdb.queries import FindingFilter, FindingReader

from .apihelp import Service, start_service

LAYERS = ["game", "stream", "ugc", "other"]
EXPOSURES = ["none", "low", "medium", "high"]


def _seed(registry: Registry) -> str:
    """Two holders, two scans (the second run by a scan job, whose id is returned), 40 findings with varied
    values: non-ASCII paths, missing hashes and durations, nested segment lists."""
    with registry.write() as session:
        session.add(Holder(id="hellgate", name="Hellgate", kind="publisher"))
        session.add(Holder(id="nightowl", name="Night Owl", kind="streamer"))
        for scan in ("scan-a", "scan-b"):
            session.add(
                Scan(id=scan, dataset=f"/data/{scan}", registry_digest="d", engine="e", settings={}, status="done")
            )
    with registry.write() as session:
        for i in range(20):
            clip = ClipResult(
                scan_id="scan-a" if i % 3 else "scan-b",
                path=f"clips/{i:02d}-Ünïcode clip ✓.mp4",
                sha256=None if i % 7 == 0 else f"{i:064x}",
                duration_s=None if i % 5 == 0 else i + 0.25,
                exposure=EXPOSURES[i % 4],
                result={},
            )
            session.add(clip)
            session.flush()
            for k in range(2):
                session.add(
                    Finding(
                        clip_id=int(clip.id or 0),
                        layer=LAYERS[(i + k) % 4],
                        holder_id="hellgate" if (i + k) % 2 else "nightowl",
                        work_id=f"work-{(i + k) % 3}",
                        ai_training="deny",
                        confidence=0.5 + i / 100 + k / 1000,
                        segments=[
                            {
                                "start": i * 1.5,
                                "end": i * 1.5 + 2.0,
                                "reference": f"ref/{k}.mp4",
                                "ref_start": 0.1 * i,
                                "ref_end": 0.1 * i + 2,
                                "speed": 1.0 / 3,
                            }
                        ],
                    )
                )
    job = create_job(registry, "/data/scan-b", {}, None)
    with registry.write() as session:
        row = session.get(ScanJob, job.id)
        assert row is not None
        row.scan_id = "scan-b"
        session.add(row)
    return job.id


@pytest.fixture
def service(db_url: str, tmp_path: Path) -> Iterator[Service]:
    registry = Registry(db_url)
    job_id = _seed(registry)
    registry.dispose()
    for service in start_service(db_url, tmp_path):
        service.extra["job"] = job_id
        yield service


class _FullApp:
    """The application without its short path: FastAPI's own entry point."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await FastAPI.__call__(self.app, scope, receive, send)


def _queries(service: Service) -> list[dict[str, str]]:
    first = service.client.get("/v1/findings", headers=service.auth("auditor"), params={"limit": "7"}).json()
    cursor = first["next_cursor"]
    assert cursor is not None
    return [
        {},
        {"limit": "7"},
        {"limit": "7", "cursor": cursor},
        {"holder": "hellgate"},
        {"holder": "nightowl"},
        {"work": "work-1", "limit": "3"},
        {"layer": "stream"},
        {"exposure": "high", "limit": "1000"},
        {"scan": "scan-a"},
        {"scan": service.extra["job"]},
        {"scan": "nope"},
        {"cursor": cursor, "layer": "game"},
        # not ordinary: each is an error the full application renders
        {"layer": "bad"},
        {"limit": "0"},
        {"limit": "x"},
        {"cursor": "!!"},
        {"holder": "h" * 200},
    ]


def test_short_path_answers_as_the_full_app(service: Service) -> None:
    full = TestClient(_FullApp(service.app), raise_server_exceptions=False)
    queries = _queries(service)
    for role in ("auditor", "holder", "admin"):
        for params in queries:
            fast = service.client.get("/v1/findings", headers=service.auth(role), params=params)
            slow = full.get("/v1/findings", headers=service.auth(role), params=params)
            assert (fast.status_code, fast.content) == (slow.status_code, slow.content), (role, params)
            assert fast.headers == slow.headers, (role, params)
    assert (
        service.client.get("/v1/findings", headers=service.auth("holder"), params={"holder": "nightowl"}).status_code
        == 403
    )
    for headers in (
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer nope"},
        {"Authorization": f"bearer  {service.keys['auditor']} "},
    ):
        fast = service.client.get("/v1/findings", headers=headers)
        slow = full.get("/v1/findings", headers=headers)
        assert (fast.status_code, fast.content, fast.headers) == (slow.status_code, slow.content, slow.headers)
    assert service.client.get("/v1/findings", headers={"Authorization": "Bearer nope"}).status_code == 401


def _scope(query: str, key: str | None) -> Scope:
    headers = [(b"host", b"test")] + ([(b"authorization", f"Bearer {key}".encode())] if key else [])
    return {
        "type": "http",
        "method": "GET",
        "path": "/v1/findings",
        "root_path": "",
        "headers": headers,
        "query_string": query.encode(),
    }


def test_short_path_takes_only_ordinary_queries(service: Service) -> None:
    state, key = service.app.state, service.keys["auditor"]

    def fast(query: str, key: str | None = key) -> Any:
        return asyncio.run(findings.fast_response(state, _scope(query, key)))

    assert fast("limit=3") is None  # the key was never verified: the full application authenticates it
    assert service.client.get("/v1/findings", headers=service.auth("auditor")).status_code == 200
    answer = fast("limit=3")
    assert answer is not None and answer.status_code == 200 and answer.media_type == "application/json"
    for query in ("limit=0", "layer=bad", "cursor=!!", "holder=" + "h" * 200):
        assert fast(query) is None
    assert fast("limit=3", None) is None
    # a revoked key is refused once the cache forgets it: the short path hands it to the full application
    info, other = create_key(service.registry, "auditor")
    assert service.client.get("/v1/findings", headers={"Authorization": f"Bearer {other}"}).status_code == 200
    assert fast("limit=3", other) is not None
    revoke_key(service.registry, info.id)
    time.sleep(KEY_CACHE_SECONDS + 0.2)
    assert fast("limit=3", other) is None
    assert service.client.get("/v1/findings", headers={"Authorization": f"Bearer {other}"}).status_code == 401


def _expected(registry: Registry, holder: str | None = None, scan: str | None = None) -> list[dict[str, Any]]:
    with registry.session() as session:
        q = select(Finding, ClipResult).join(ClipResult, col(ClipResult.id) == col(Finding.clip_id))
        if holder is not None:
            q = q.where(Finding.holder_id == holder)
        if scan is not None:
            q = q.where(ClipResult.scan_id == scan)
        rows = session.exec(q.order_by(col(Finding.id))).all()
    return [
        {
            "id": f.id,
            "scan": c.scan_id,
            "clip": {"path": c.path, "sha256": c.sha256, "exposure": c.exposure, "duration_s": c.duration_s},
            "layer": f.layer,
            "holder": f.holder_id,
            "work": f.work_id,
            "ai_training": f.ai_training,
            "confidence": f.confidence,
            "segments": f.segments,
            "modality": f.modality or "video",  # null before migration 0006: the picture's
        }
        for f, c in rows
    ]


def test_pages_hold_what_the_database_holds(service: Service) -> None:
    c, h = service.client, service.auth("auditor")
    everything = _expected(service.registry)
    assert len(everything) == 40
    seen: list[dict[str, Any]] = []
    params: dict[str, str] = {"limit": "6"}
    while True:
        page = c.get("/v1/findings", headers=h, params=params).json()
        seen += page["items"]
        if page["next_cursor"] is None:
            break
        params = {"limit": "6", "cursor": page["next_cursor"]}
    assert seen == everything
    assert c.get("/v1/findings", headers=service.auth("holder")).json()["items"] == _expected(
        service.registry, holder="hellgate"
    )
    by_job = c.get("/v1/findings", headers=h, params={"scan": service.extra["job"]}).json()["items"]
    assert by_job == _expected(service.registry, scan="scan-b") and by_job


def test_reader_replaces_a_dropped_connection(db_url: str) -> None:
    registry = Registry(db_url)
    try:
        _seed(registry)
        reader = FindingReader(registry)
        first, _ = reader.page(FindingFilter(holder="hellgate"), None, 5)
        conn = reader._local.conn
        if registry.dialect == "postgresql":  # the server ends the session, as on a restart
            pid = conn.info.backend_pid
            with registry.engine.connect() as admin:
                admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        else:
            conn.close()
        again, _ = reader.page(FindingFilter(holder="hellgate"), None, 5)
        assert again == first and reader._local.conn is not conn
        reader.close()
    finally:
        registry.dispose()


def test_reader_at_once_never_waits(db_url: str) -> None:
    """``page_now`` answers as ``page`` does, or not at all (then ``page`` does): on PostgreSQL never, on SQLite
    not while a writer holds the database nor past its time budget."""
    registry = Registry(db_url)
    try:
        _seed(registry)
        reader = FindingReader(registry)
        flt = FindingFilter(layer="game")
        if registry.dialect != "sqlite":
            assert reader.page_now(flt, None, 5) is None
            return
        assert reader.page_now(flt, None, 5) == reader.page(flt, None, 5)
        with registry.engine.begin() as conn:  # enough rows for a query to reach the budget's first check
            conn.execute(
                text(
                    "INSERT INTO findings (clip_id, layer, holder_id, work_id, ai_training, confidence, "
                    "segments, evidence) SELECT f.clip_id, 'ugc', f.holder_id, f.work_id, f.ai_training, "
                    "f.confidence, f.segments, f.evidence FROM findings f, findings g, findings h "
                    "LIMIT 20000"
                )
            )
        everything = FindingFilter(layer="ugc")
        assert reader.page_now(everything, None, 1000, budget=5.0) == reader.page(everything, None, 1000)
        assert reader.page_now(everything, None, 1000, budget=-1.0) is None  # interrupted at its first check
        writer = sqlite3.connect(registry.engine.url.database or "", isolation_level=None)
        writer.execute("BEGIN EXCLUSIVE")
        try:
            started = time.monotonic()
            assert reader.page_now(flt, None, 5) is None
            assert time.monotonic() - started < 1.0  # refused at once, not after the busy timeout
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        assert reader.page_now(flt, None, 5) == reader.page(flt, None, 5)  # the same connection goes on
        reader.close()
    finally:
        registry.dispose()


def test_a_locked_database_does_not_hold_up_the_service(tmp_path: Path) -> None:
    """A writer holding the SQLite file: a finding query waits for it on a reader thread (and then answers),
    while the event loop goes on answering other requests."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    registry = Registry(url)
    _seed(registry)
    registry.dispose()
    for service in start_service(url, tmp_path):
        h = service.auth("auditor")
        expected = service.client.get("/v1/findings", headers=h, params={"limit": "5"})
        writer = sqlite3.connect(tmp_path / "registry.db", isolation_level=None)
        writer.execute("BEGIN EXCLUSIVE")
        answers: list[Any] = []

        def query_findings(
            client: TestClient = service.client, headers: dict[str, str] = h, out: list[Any] = answers
        ) -> None:
            out.append(client.get("/v1/findings", headers=headers, params={"limit": "5"}))

        query = threading.Thread(target=query_findings)
        try:
            query.start()
            time.sleep(0.5)
            assert query.is_alive() and not answers  # waiting for the writer
            started = time.monotonic()
            assert service.client.get("/healthz").status_code == 200
            assert time.monotonic() - started < 0.5
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        query.join(30)
        assert answers and answers[0].status_code == 200 and answers[0].content == expected.content
