"""Request bodies cannot hold the service, and refused uploads leave nothing behind (issue 17, items 8 and 16).

- A client that stops sending its body gets 408 (a problem object) and its connection closed within the
  configured bound, through a real server on a real socket.
- A multipart body of many small fields, or of fields too large in all, is refused (413 with a problem body).
- A reference upload refused (422) leaves no file in the media folder, nor a partial one; a file another
  reference keeps stays.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from api import ApiSettings, create_app
from rightsdb.keys import create_key

from .apihelp import BOTH_DATABASES, SAMPLE, Service, fingerprinted_sqlite, sample_service
from .hangs import wait_until

pytestmark = pytest.mark.slow

CLIP = SAMPLE / "dataset" / "clean" / "bikes.mp4"
STILL = SAMPLE / "registry" / "assets" / "freedoom-hud.png"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fingerprinted_sqlite(tmp_path_factory)


service = pytest.fixture(params=BOTH_DATABASES, name="service")(sample_service)


def _media_files(service: Service) -> list[Path]:
    media = Path(service.settings.media_dir)
    return sorted(p for p in media.rglob("*") if p.is_file()) if media.exists() else []


def _post_reference(service: Service, work: str, kind: str, name: str, data: bytes) -> tuple[int, dict[str, object]]:
    r = service.client.post(
        f"/v1/works/{work}/references",
        headers=service.auth("admin"),
        params={"kind": kind},
        files={"file": (name, data, "application/octet-stream")},
    )
    return r.status_code, r.json()


def test_a_refused_reference_upload_leaves_no_file(service: Service, tmp_path: Path) -> None:
    c, a = service.client, service.auth("admin")
    assert c.post("/v1/holders", headers=a, json={"id": "acme", "name": "Acme", "kind": "publisher"}).status_code == 201
    work = {"id": "acme-bikes", "title": "Bikes", "holder": "acme", "layer": "game", "policy": {"ai_training": "deny"}}
    assert c.post("/v1/works", headers=a, json=work).status_code == 201
    video, still = CLIP.read_bytes(), STILL.read_bytes()

    status, body = _post_reference(service, "acme-bikes", "asset", "bikes.mp4", video)  # a video as an asset
    assert status == 422 and "asset must be a still" in str(body["detail"]), body
    assert _media_files(service) == []
    status, body = _post_reference(service, "acme-bikes", "footage", "hud.png", still)  # a still as footage
    assert status == 422 and "footage must be a video" in str(body["detail"]), body
    assert _media_files(service) == []

    status, body = _post_reference(service, "acme-bikes", "footage", "bikes.mp4", video)
    assert status == 201, body
    (kept,) = _media_files(service)
    # the same content refused for another use: the file the footage reference keeps stays
    status, body = _post_reference(service, "acme-bikes", "asset", "again.mp4", video)
    assert status == 422, body
    assert _media_files(service) == [kept]
    assert not [p for p in tmp_path.rglob("provenance-upload-*")]  # no upload left in the upload folder


def _multipart(parts: list[tuple[str, bytes, str | None]], boundary: str = "b0und") -> bytes:
    out = b""
    for name, data, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ([(f"f{n}", b"x", None) for n in range(5000)], "more than 32 parts"),
        ([(f"f{n}", b"x" * 60_000, None) for n in range(20)], "larger than 256 KiB in all"),
    ],
    ids=["many-fields", "large-fields"],
)
def test_many_or_large_form_fields_are_refused(
    service: Service, tmp_path: Path, fields: list[tuple[str, bytes, str | None]], words: str
) -> None:
    body = _multipart([*fields, ("file", CLIP.read_bytes(), "bikes.mp4")])
    r = service.client.post(
        "/v1/clips/check",
        content=body,
        headers={**service.auth("auditor"), "Content-Type": "multipart/form-data; boundary=b0und"},
    )
    assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json"), r.text
    assert words in r.json()["detail"]
    assert not [p for p in tmp_path.rglob("provenance-upload-*")]


@pytest.fixture
def server(template: Path, tmp_path: Path) -> Iterator[tuple[int, str]]:
    """The service on a real socket (uvicorn), bodies allowed 1 s of silence, uploads streamed to ``tmp_path``;
    yields (port, an auditor key)."""
    db = tmp_path / "registry.db"
    db.write_bytes(template.read_bytes())
    (tmp_path / "data").mkdir()
    settings = ApiSettings(
        db=f"sqlite:///{db}",
        data_roots=str(tmp_path / "data"),
        media_dir=str(tmp_path / "media"),
        upload_dir=str(tmp_path),
        body_timeout_seconds=1.0,
    )  # type: ignore[call-arg]
    app = create_app(settings)
    _, key = create_key(app.state.registry, "auditor", None)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "the server did not start"
    try:
        yield port, key
    finally:
        srv.should_exit = True
        thread.join(30)
        sock.close()


def _stall(port: int, head: bytes, sent: bytes) -> tuple[bytes, float]:
    """Send ``head`` and the first bytes of a body, then nothing: what the server answers before it closes the
    connection (or 15 s pass), and after how long."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as conn:
        conn.sendall(head + sent)
        t0 = time.monotonic()
        got = b""
        try:
            while chunk := conn.recv(65536):
                got += chunk
        except TimeoutError:
            pass
        return got, time.monotonic() - t0


@pytest.mark.parametrize("route", ["/v1/clips/check", "/v1/scans"])
def test_a_stalled_body_gets_408_and_the_connection_closed(server: tuple[int, str], route: str, tmp_path: Path) -> None:
    port, key = server
    multipart = route == "/v1/clips/check"
    ctype = "multipart/form-data; boundary=b0und" if multipart else "application/json"
    sent = (
        b'--b0und\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\nxxxx'
        if multipart
        else b'{"data'
    )
    head = (
        f"POST {route} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: 100000\r\n\r\n"
    ).encode()
    got, took = _stall(port, head, sent)
    assert took < 10, f"the connection was held {took:.1f} s"
    status_line, _, rest = got.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 408"), got[:300]
    problem = json.loads(rest.split(b"\r\n\r\n", 1)[1])
    assert problem["status"] == 408 and problem["code"] == "timeout" and "stalled" in problem["detail"]
    # the part of the upload written so far is removed (the route cleans up as the read fails)
    assert wait_until(lambda: not list(tmp_path.glob("provenance-upload-*")), 10)
