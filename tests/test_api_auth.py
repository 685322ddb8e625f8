"""The service's keys, roles and errors, through the real app on SQLite and PostgreSQL.

The auth matrix sends every route (read from the app itself, so a new route must be listed here) with no
key, a malformed header, an unknown key, a revoked key, and each role's key.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from provenance.audit.manifests import import_manifest_file
from rightsdb import Registry
from rightsdb.keys import create_key, revoke_key, verify_key

from .apihelp import SAMPLE, Service, start_service

ADMIN, AUDIT, ALL, PUBLIC = {"admin"}, {"admin", "auditor"}, {"admin", "auditor", "holder"}, None

#: Every route of the service and the roles that may use it (None: no key needed).
ROUTES: dict[tuple[str, str], set[str] | None] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/v1/holders"): ALL,
    ("POST", "/v1/holders"): ADMIN,
    ("GET", "/v1/holders/{holder_id}"): ALL,
    ("PATCH", "/v1/holders/{holder_id}"): ADMIN,
    ("GET", "/v1/works"): ALL,
    ("POST", "/v1/works"): ADMIN,
    ("GET", "/v1/works/{work_id}"): ALL,
    ("PATCH", "/v1/works/{work_id}"): ADMIN,
    ("PUT", "/v1/works/{work_id}/policy"): ADMIN,
    ("GET", "/v1/works/{work_id}/policy/history"): ALL,
    ("POST", "/v1/works/{work_id}/references"): ADMIN,
    ("DELETE", "/v1/works/{work_id}/references"): ADMIN,
    ("POST", "/v1/clips/check"): AUDIT,
    ("GET", "/v1/clips/{sha256}"): ALL,  # a holder: only its own layers (tests/test_api_clips.py)
    ("GET", "/v1/findings"): ALL,
    ("POST", "/v1/scans"): AUDIT,
    ("GET", "/v1/scans"): AUDIT,
    ("GET", "/v1/scans/{job_id}"): AUDIT,
    ("POST", "/v1/scans/{job_id}/cancel"): AUDIT,
    ("GET", "/v1/scans/{job_id}/report"): AUDIT,
}
PARAMS = {"holder_id": "hellgate", "work_id": "freedoom", "sha256": "0" * 64, "job_id": "0" * 32}


@pytest.fixture
def service(db_url: str, tmp_path: Path) -> Iterator[Service]:
    registry = Registry(db_url)
    import_manifest_file(registry, SAMPLE / "registry" / "manifest.yaml")
    registry.dispose()
    yield from start_service(db_url, tmp_path)


def _routes(service: Service) -> set[tuple[str, str]]:
    """Every (method, path) the app documents (its routes, as clients see them)."""
    paths = service.app.openapi()["paths"]
    return {(method.upper(), path) for path, operations in paths.items() for method in operations}


def _send(service: Service, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, object], str]:
    url = re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], path)
    # a malformed body: whoever is not allowed must still get 401/403, not 422
    r = service.client.request(
        method, url, headers={**headers, "Content-Type": "application/json"}, content=b"{not json"
    )
    return r.status_code, (r.json() if r.content else {}), r.headers.get("content-type", "")


def test_every_route_is_in_the_matrix(service: Service) -> None:
    assert _routes(service) == set(ROUTES)


def test_auth_matrix(service: Service) -> None:
    _, revoked = create_key(service.registry, "auditor")
    revoke_key(service.registry, revoked.split("_")[1])
    unknown = "prov_0123456789ab_" + "A" * 43
    bad_headers = {
        "no key": {},
        "basic auth": {"Authorization": "Basic YWRtaW46YWRtaW4="},
        "empty bearer": {"Authorization": "Bearer "},
        "malformed key": {"Authorization": "Bearer not-a-key"},
        "unknown key": {"Authorization": f"Bearer {unknown}"},
        "revoked key": {"Authorization": f"Bearer {revoked}"},
        "wrong secret": {"Authorization": f"Bearer {service.keys['admin'][:-4]}AAAA"},
    }
    for (method, path), roles in ROUTES.items():
        if roles is None:
            status, _, _ = _send(service, method, path, {})
            assert status == 200, (method, path)
            continue
        for what, headers in bad_headers.items():
            status, body, ctype = _send(service, method, path, headers)
            assert status == 401, (method, path, what, body)
            assert ctype.startswith("application/problem+json")
            assert body["status"] == 401 and body["code"] == "unauthorized" and body["detail"]
        for role in ("admin", "auditor", "holder"):
            status, body, ctype = _send(service, method, path, service.auth(role))
            if role in roles:
                assert status not in (401, 403), (method, path, role, body)
            else:
                assert status == 403, (method, path, role, body)
                assert body["code"] == "forbidden" and role in str(body["detail"])
                assert ctype.startswith("application/problem+json")


def test_401_carries_a_bearer_challenge(service: Service) -> None:
    r = service.client.get("/v1/holders")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization" in r.json()["detail"]


def test_holder_key_sees_only_its_own(service: Service) -> None:
    c = service.client
    h = service.auth("holder")
    assert [x["id"] for x in c.get("/v1/holders", headers=h).json()] == ["hellgate"]
    assert [x["id"] for x in c.get("/v1/works", headers=h).json()] == ["freedoom"]
    assert c.get("/v1/works", headers=h, params={"holder": "hellgate"}).status_code == 200
    assert c.get("/v1/works", headers=h, params={"holder": "nightowl"}).status_code == 403
    assert c.get("/v1/works/freedoom", headers=h).status_code == 200
    assert c.get("/v1/works/nightowl-channel", headers=h).status_code == 403
    assert c.get("/v1/holders/nightowl", headers=h).status_code == 403
    assert c.get("/v1/findings", headers=h, params={"holder": "nightowl"}).status_code == 403
    everything = c.get("/v1/works", headers=service.auth("auditor")).json()
    assert {w["id"] for w in everything} == {
        "freedoom",
        "pw-breakout",
        "pw-pong",
        "nightowl-channel",
        "corridor-of-doom",
    }
    freedoom = next(w for w in everything if w["id"] == "freedoom")
    assert freedoom["policy"] == {"ai_training": "deny", "license": "All rights reserved"}
    assert {r["kind"] for r in freedoom["references"]} == {"footage", "asset"}
    assert (
        c.get("/v1/works", headers=service.auth("auditor"), params={"layer": "stream"}).json()[0]["id"]
        == "nightowl-channel"
    )


def test_errors_are_problem_details(service: Service) -> None:
    c = service.client
    r = c.get("/v1/works/no-such-work", headers=service.auth("admin"))
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "work: no work with id 'no-such-work'",
        "instance": "/v1/works/no-such-work",
        "code": "not_found",
    }
    r = c.get("/v1/nothing-here", headers=service.auth("admin"))
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = c.get("/v1/works", headers=service.auth("admin"), params={"layer": "bogus"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "layer"
    assert r.json()["detail"].startswith("layer: ")
    r = c.delete("/v1/holders", headers=service.auth("admin"))
    assert r.status_code == 405 and r.headers["content-type"] == "application/problem+json"


def test_health_and_readiness(service: Service) -> None:
    assert service.client.get("/healthz").json() == {"status": "ok"}
    ready = service.client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["schema"] == "0006"


def test_keys_are_stored_hashed(service: Service) -> None:
    from sqlmodel import select

    from rightsdb.models import ApiKey

    info, key = create_key(service.registry, "holder", "nightowl", name="NightOwl's key")
    with service.registry.session() as session:
        row = session.exec(select(ApiKey).where(ApiKey.id == info.id)).one()
    secret = key.split("_", 2)[2]
    assert secret not in row.secret_sha256 and len(row.secret_sha256) == 64
    assert verify_key(service.registry, key) == info
    with pytest.raises(Exception, match="holder key needs"):
        create_key(service.registry, "holder")
    with pytest.raises(Exception, match="only holder keys"):
        create_key(service.registry, "auditor", "nightowl")
    with pytest.raises(Exception, match="no holder with id 'ghost'"):
        create_key(service.registry, "holder", "ghost")


def test_cli_keys_create_prints_the_key_last(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'k.db'}"
    registry = Registry(db)
    import_manifest_file(registry, SAMPLE / "registry" / "manifest.yaml")
    registry.dispose()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "provenance", "--db", db, "keys", *args], capture_output=True, text=True, check=False
        )

    made = cli("create", "--role", "holder", "--holder", "mapsmith")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    registry = Registry(db)
    info = verify_key(registry, key)
    assert info is not None and info.role == "holder" and info.holder_id == "mapsmith"
    listed = cli("list")
    assert info.id in listed.stdout and key not in listed.stdout
    assert cli("revoke", info.id).returncode == 0
    assert verify_key(registry, key) is None
    registry.dispose()
    bad = cli("create", "--role", "holder")
    assert bad.returncode == 2 and "needs --holder" in bad.stderr
    bad = cli("create", "--role", "holder", "--holder", "ghost")
    assert bad.returncode == 2 and "ghost" in bad.stderr
