"""Hostile input against every route of the service, on SQLite and on PostgreSQL: no answer is a 5xx, and every
error is a problem details object (``application/problem+json``) whose ``status`` is the response's.

The routes are read from the app itself (``app.routes``, walking included routers): a new route is sent the same
hostile values through its path parameters, its query parameters (as the OpenAPI document declares them) and its
JSON body (each field of the body's example replaced in turn), and a route the suite cannot drive (one missing
from the OpenAPI document) fails the test. The values: NUL and other control characters, huge, negative and
unicode-digit integers, forged and garbage cursors, overlong strings, wrong types, missing fields, path traversal.
Deterministic and table-driven (the same requests every run).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from sqlmodel import select

from rightsdb import ClipResult, Finding, Scan

from .apihelp import BOTH_DATABASES, Service, fingerprinted_sqlite, sample_service


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fingerprinted_sqlite(tmp_path_factory)


service = pytest.fixture(params=BOTH_DATABASES, name="service")(sample_service)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


#: Strings no field should take without a clean 4xx (or take harmlessly).
HOSTILE_TEXT: list[str] = [
    "\x00",
    "a\x00b",
    "acme\x00",
    "\x01\x07\x1b[31m",
    "line\nbreak",
    "\x7f",
    "../../../../etc/passwd",
    "..\\..\\windows",
    "/etc/passwd",
    "%00",
    "%2e%2e%2f",
    "A" * 5000,
    "",
    " ",
    "²",
    "\u0661\u0662\u0663",
    "9" * 30,
    "9" * 5000,
    "-1",
    "-9223372036854775809",
    "0",
    "1e309",
    "NaN",
    "null",
    "true",
    "ǅ\u202e\ufeff✓",
    _b64(b"9" * 30),
    _b64(b"-1"),
    _b64("²".encode()),
    _b64(b"\x00"),
    _b64(b"9" * 400),
    "!!!!",
    "====",
    "2027-02-30",
    "2027-13-01",
    "UK",
]

#: JSON values of every type for body fields.
HOSTILE_JSON: list[Any] = [
    *HOSTILE_TEXT[:14],
    None,
    True,
    0,
    -1,
    10**30,
    -(10**30),
    1e308,
    [],
    {},
    ["\x00"],
    [[["deep"]]],
    {"\x00": "\x00"},
    "2027-02-30",
    "2027-13-01",
    "UK",
    ["UK"],
    ["QQ", "\x00"],
    "9" * 30,
    "²",
]

#: Whole bodies that are not the route's object at all.
HOSTILE_BODIES: list[bytes] = [
    b"",
    b"null",
    b"[]",
    b'"text"',
    b"123",
    b"{not json",
    b"\x00",
    b'{"a": "\x00"}',
    b'{"a": 1, "a": 2}',
    b"\xff\xfe\xfd",
    b"[" * 20000 + b"]" * 20000,
    b"{}",
]

#: Routes that are not in the OpenAPI document, and why none of them takes input (their own tests cover them).
NOT_DOCUMENTED = {
    ("GET", "/openapi.json"),
    ("HEAD", "/openapi.json"),
    ("GET", "/docs"),
    ("HEAD", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("HEAD", "/docs/oauth2-redirect"),
}


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app routes, walking included routers (as ``app.routes`` holds them)."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            original = getattr(route, "original_router", None)
            if original is not None:
                walk(list(original.routes), prefix + route.include_context.prefix)
            elif hasattr(route, "routes") and not hasattr(route, "methods"):
                continue  # a mount of static files (/docs-assets): no parameters
            else:
                for method in getattr(route, "methods", None) or ():
                    found.add((method, prefix + route.path))

    walk(list(app.routes), "")
    return found


def _operations(app: FastAPI) -> dict[tuple[str, str], dict[str, Any]]:
    paths = app.openapi()["paths"]
    return {(m.upper(), p): op for p, ops in paths.items() for m, op in ops.items()}


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return components[ref.rsplit("/", 1)[1]] if ref else schema


def _example_body(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    schema = _resolve(schema, components)
    examples = schema.get("examples") or []
    if examples:
        return dict(examples[0])
    body = {}
    for name in schema.get("required", []):
        body[name] = "x"
    return body


def _path_values(path: str) -> list[str]:
    return re.findall(r"\{(\w+)\}", path)


VALID_PATH = {"holder_id": "hellgate", "work_id": "freedoom", "sha256": "0" * 64, "job_id": "0" * 32, "dispute_id": "1"}


def _url(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: quote(values[m.group(1)], safe=""), path)


def _requests(app: FastAPI, root: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, url, request keywords) for every hostile request of every documented route; ``root`` is the
    service's data root (paths under it get past the confinement to where a NUL byte would reach the system)."""
    under_root = [f"{root}/a\x00b.mp4", f"{root}/\x00", f"{root}/../{root.name}/x", f"{root}/" + "x/" * 3000]
    spec = app.openapi()
    components = spec.get("components", {}).get("schemas", {})
    for (method, path), op in sorted(_operations(app).items()):
        names = _path_values(path)
        for name in names:
            for value in HOSTILE_TEXT:
                if "/" in value or "\\" in value:
                    continue  # another route (or none): answered 404, covered below by the quoted traversal
                yield method, _url(path, {**VALID_PATH, name: value}), {}
            yield method, _url(path, {**VALID_PATH, name: "..%2F..%2Fetc"}), {}
        base = _url(path, VALID_PATH)
        for param in op.get("parameters", []):
            if param["in"] != "query":
                continue
            for value in [*HOSTILE_TEXT, *under_root]:
                yield method, base, {"params": {param["name"]: value}}
            yield method, base + f"?{param['name']}=%ff%fe", {}
            yield method, base + f"?{param['name']}=a&{param['name']}=%00", {}
        content = op.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            example = _example_body(content["application/json"]["schema"], components)
            for body in HOSTILE_BODIES:
                yield method, base, {"content": body, "headers": {"Content-Type": "application/json"}}
            for field in list(example):
                rest = {k: v for k, v in example.items() if k != field}
                yield method, base, {"json": rest}  # a missing field
                for value in [*HOSTILE_JSON, *under_root]:
                    yield method, base, {"json": {**example, field: value}}
                if isinstance(example[field], dict):  # one level down (a work's policy)
                    for sub in example[field]:
                        for value in HOSTILE_JSON:
                            yield method, base, {"json": {**example, field: {**example[field], sub: value}}}
        if "multipart/form-data" in content:
            for filename in ("a\x00b.mp4", "../../../etc/passwd", "\x01.png", "A" * 5000 + ".mp4", ""):
                yield method, base, {"files": {"file": (filename, b"\x00\x00\x00 ftypisom", "video/mp4")}}
            yield method, base, {"files": {"fi\x00le": ("clip.mp4", b"x", "video/mp4")}}
            yield method, base, {"data": {"file": "\x00" * 100}}


def _check(r: Any, method: str, url: str, kwargs: dict[str, Any]) -> str | None:
    what = f"{method} {url} {_short(kwargs)} -> {r.status_code}"
    if r.status_code >= 500:
        return f"{what}: {r.text[:200]}"
    if r.status_code >= 400:
        if not r.headers.get("content-type", "").startswith("application/problem+json"):
            return f"{what}: not problem+json ({r.headers.get('content-type')})"
        body = r.json()
        if body.get("status") != r.status_code or not body.get("detail") or "\n" in body["detail"]:
            return f"{what}: bad problem body {str(body)[:200]}"
    return None


def _short(kwargs: dict[str, Any]) -> str:
    text = repr(kwargs)
    return text if len(text) < 160 else text[:160] + "..."


def test_every_route_is_driven(service: Service) -> None:
    """Every route the app has is either documented (and so driven below) or known to take no input."""
    routes = app_routes(service.app)
    documented = set(_operations(service.app))
    assert documented <= routes
    assert routes - documented <= NOT_DOCUMENTED, f"routes the hostile suite does not drive: {routes - documented}"
    driven = {(m, re.sub(r"\?.*", "", u)) for m, u, _ in _requests(service.app, service.data)}
    assert {m for m, _ in driven} >= {"GET", "POST", "PATCH", "PUT", "DELETE"}


@pytest.mark.parametrize("role", ["admin", "holder"])
def test_hostile_requests_never_5xx(service: Service, role: str) -> None:
    failures: list[str] = []
    count = 0
    for method, url, kwargs in _requests(service.app, service.data):
        headers = {**service.auth(role), **kwargs.pop("headers", {})}
        r = service.client.request(method, url, headers=headers, **kwargs)
        count += 1
        problem = _check(r, method, url, kwargs)
        if problem:
            failures.append(problem)
    assert count > 1000
    assert not failures, f"{len(failures)} of {count} hostile requests failed:\n" + "\n".join(failures[:60])


def test_unauthenticated_hostile_requests_are_401(service: Service) -> None:
    """Hostile values do not get past authentication: a caller without a key learns nothing more than 401."""
    for method, url, kwargs in list(_requests(service.app, service.data))[::7]:
        if not url.startswith("/v1"):
            continue
        r = service.client.request(method, url, **kwargs)
        # a traversal or an empty value makes another path: no route (404), or another route's method (405)
        no_route = r.status_code == 405 or (r.status_code == 404 and r.json()["detail"].startswith("no such route"))
        assert r.status_code == 401 or no_route, (method, url, _short(kwargs), r.status_code, r.text[:200])


def test_the_check_can_fail() -> None:
    """The assertion helper sees a 500 and a plain-JSON error (so a green run means something)."""

    class R:
        def __init__(self, status: int, ctype: str, body: dict[str, Any]) -> None:
            self.status_code, self.headers, self._body = status, {"content-type": ctype}, body
            self.text = json.dumps(body)

        def json(self) -> dict[str, Any]:
            return self._body

    assert _check(R(500, "application/problem+json", {"status": 500, "detail": "x"}), "GET", "/", {})
    assert _check(R(422, "application/json", {"detail": "x"}), "GET", "/", {})
    assert _check(R(422, "application/problem+json", {"status": 422, "detail": "x"}), "GET", "/", {}) is None


def _nul_cases(root: Path) -> list[tuple[str, str, dict[str, Any], str]]:
    policy = {"ai_training": "deny", "license": "All\x00rights"}
    return [
        ("POST", "/v1/clips/check", {"json": {"path": f"{root}/a\x00b.mp4"}}, "path"),
        ("POST", "/v1/scans", {"json": {"dataset": f"{root}/\x00"}}, "dataset"),
        ("GET", "/v1/findings", {"params": {"holder": "hellgate\x00"}}, "holder"),
        ("GET", "/v1/findings", {"params": {"scan": "\x00"}}, "scan"),
        ("GET", "/v1/works", {"params": {"holder": "\x00"}}, "holder"),
        ("GET", "/v1/holders/hell%00gate", {}, "holder_id"),
        ("GET", "/v1/works/free%00doom", {}, "work_id"),
        ("GET", "/v1/scans/%00", {}, "job_id"),
        ("GET", "/v1/scans", {"params": {"cursor": "\x00"}}, "cursor"),
        ("DELETE", "/v1/works/freedoom/references", {"params": {"path": "a\x00.mp4"}}, "path"),
        ("POST", "/v1/holders", {"json": {"id": "acme", "name": "Acme\x00", "kind": "publisher"}}, "name"),
        ("PATCH", "/v1/holders/hellgate", {"json": {"name": "Hell\x00gate"}}, "name"),
        ("PATCH", "/v1/works/freedoom", {"json": {"title": "Free\x1bdoom"}}, "title"),
        ("PUT", "/v1/works/freedoom/policy", {"json": policy}, "license"),
        ("GET", "/v1/clips/" + "0" * 64, {"params": {"territory": "D\x00"}}, "territory"),
    ]


def test_nul_bytes_are_422_naming_the_field(service: Service) -> None:
    """NUL bytes (and control characters in names) are refused with 422 naming the field, the same on SQLite and
    PostgreSQL, and nothing is written."""
    before = service.client.get("/v1/works", headers=service.auth("admin")).json()
    for method, url, kwargs, field in _nul_cases(service.data):
        r = service.client.request(method, url, headers=service.auth("admin"), **kwargs)
        assert r.status_code == 422, (method, url, r.status_code, r.text[:300])
        body = r.json()
        detail = body["detail"]
        assert detail.startswith(f"{field}: ") and ("NUL byte" in detail or "control character" in detail), body
        assert body["errors"][0]["field"] in (field, f"policy.{field}"), body
    assert service.client.get("/v1/works", headers=service.auth("admin")).json() == before
    holders = service.client.get("/v1/holders", headers=service.auth("admin")).json()
    assert "acme" not in {h["id"] for h in holders}


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("cursor", _b64(b"9" * 30)),
        ("cursor", _b64(b"9" * 19)),
        ("cursor", _b64(b"-1")),
        ("cursor", _b64("²".encode())),
        ("cursor", _b64("\u0661\u0662".encode())),
        ("cursor", _b64(b" 12")),
        ("cursor", "é"),
        ("limit", "²"),
        ("limit", "\u0661\u0660"),
        ("limit", "9" * 5000),
        ("limit", "-1"),
        ("limit", "0"),
        ("limit", "1001"),
        ("limit", "1e3"),
    ],
)
def test_cursors_and_integers_are_strict(service: Service, param: str, value: str) -> None:
    """A forged cursor or a page size that is not ASCII digits in range is 422 naming the parameter, never a 500
    (SQLite cannot bind an integer of 2**63 or more; ``int('²')`` raises although ``'²'.isdigit()``)."""
    for role in ("auditor", "holder"):
        r = service.client.get("/v1/findings", headers=service.auth(role), params={param: value})
        assert r.status_code == 422, (role, r.status_code, r.text[:300])
        assert r.json()["detail"].startswith(f"{param}: ")


def test_cursors_this_service_gives_still_page(service: Service) -> None:
    """The strict cursor takes every cursor the service hands out: paging one by one sees each finding once."""
    with service.registry.write() as session:
        session.add(Scan(id="s", dataset="/d", registry_digest="d", engine="e", settings={}, status="done"))
        session.flush()
        for i in range(5):
            clip = ClipResult(
                scan_id="s", path=f"c{i}.mp4", sha256=f"{i:064x}", duration_s=1.0, exposure="high", result={}
            )
            session.add(clip)
            session.flush()
            session.add(
                Finding(
                    clip_id=int(clip.id or 0),
                    layer="game",
                    holder_id="hellgate",
                    work_id="freedoom",
                    ai_training="deny",
                    confidence=0.9,
                    segments=[],
                )
            )
    with service.registry.session() as session:
        total = len(session.exec(select(Finding)).all())
    seen: list[int] = []
    params: dict[str, str] = {"limit": "1"}
    while True:
        page = service.client.get("/v1/findings", headers=service.auth("auditor"), params=params).json()
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert total > 0 and len(seen) == len(set(seen)) == total


@pytest.mark.parametrize("code", ["UK", "EU", "QQ", "WW"])
def test_territories_are_iso_codes(service: Service, code: str) -> None:
    """Non-ISO territory codes are refused in terms, scans and clip renderings (422 naming the field)."""
    admin = service.auth("admin")
    r = service.client.put(
        "/v1/works/freedoom/policy", headers=admin, json={"ai_training": "deny", "territories": [code]}
    )
    assert r.status_code == 422 and "territories" in r.json()["detail"] and f"'{code}'" in r.json()["detail"], r.text
    r = service.client.post("/v1/scans", headers=admin, json={"dataset": str(service.data), "territory": code})
    assert r.status_code == 422 and r.json()["detail"].startswith("territory: "), r.text
    r = service.client.get("/v1/clips/" + "0" * 64, headers=admin, params={"territory": code})
    assert r.status_code == 422 and r.json()["detail"].startswith("territory: "), r.text
    if code == "UK":
        assert "GB" in r.json()["detail"]
    ok = service.client.put(
        "/v1/works/freedoom/policy", headers=admin, json={"ai_training": "deny", "territories": ["gb"]}
    )
    assert ok.status_code == 200 and ok.json()["policy"]["territories"] == ["GB"], ok.text
