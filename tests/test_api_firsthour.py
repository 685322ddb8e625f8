"""The service as a new user meets it: ``/docs`` in Chromium with no internet, a start-up warning for a data
root that is not there, and an upload under the wrong field name answered 422 naming ``file``."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .apihelp import SAMPLE, Service, fingerprinted_sqlite, sample_registry_url, start_service

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
CLIP = SAMPLE / "dataset" / "reupload" / "e1m1_reencode.mp4"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fingerprinted_sqlite(tmp_path_factory)


@pytest.fixture
def service(template: Path, tmp_path: Path) -> Iterator[Service]:
    yield from start_service(sample_registry_url("sqlite", template, tmp_path, None), tmp_path)


def test_a_file_under_another_field_name_is_422_naming_file(service: Service, tmp_path: Path) -> None:
    c, h = service.client, service.auth("auditor")
    data = CLIP.read_bytes()
    assert len(data) > 64 * 1024  # larger than a form field may be
    r = c.post("/v1/clips/check", headers=h, files={"upload": ("clip.mp4", data, "video/mp4")})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail.startswith("field 'file': missing") and "the file came as field 'upload'" in detail
    r = c.post("/v1/clips/check", headers=h, files={"upload": ("clip.mp4", b"small", "video/mp4")})
    assert r.status_code == 422 and "field 'upload'" in r.json()["detail"]
    big_text = {"note": "x" * (70 * 1024)}  # an ordinary form field too large is still 413
    r = c.post("/v1/clips/check", headers=h, data=big_text, files={"file": ("clip.mp4", data, "video/mp4")})
    assert r.status_code == 413 and "'note'" in r.json()["detail"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("provenance-upload-")]  # nothing left behind


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(template: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``provenance serve`` as a real process, one data root that does not exist; (base URL, its stderr)."""
    db = sample_registry_url("sqlite", template, tmp_path, None)
    port = _port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "PROVENANCE_DATA_ROOTS": str(tmp_path / "no-such-folder")}
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "provenance", "serve", "--db", db, "--port", str(port), "--workers", "1"],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = None if CHROMIUM.is_file() and shutil.which(str(CHROMIUM)) else f"{CHROMIUM} is not installed"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "the playwright package is not installed"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}: CI must run the browser tests")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        yield b
        b.close()


def _offline_page(browser: Any, base: str) -> tuple[Any, list[str], list[str]]:
    """A page that can reach ``base`` only (no internet), with the requests it tried elsewhere and its errors."""
    page = browser.new_page()
    outside: list[str] = []
    problems: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith(base):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    def failed(request: Any) -> None:
        problems.append(f"failed: {request.url}")

    def error(exc: Any) -> None:
        problems.append(str(exc))

    page.route("**/*", route)
    page.on("pageerror", error)
    page.on("requestfailed", failed)
    return page, outside, problems


@pytest.mark.slow
def test_docs_render_offline_and_a_missing_data_root_is_warned(served: tuple[str, Path], browser: Any) -> None:
    base, log = served
    assert "warning: data root" in log.read_text() and "no-such-folder is not a folder" in log.read_text()
    page, outside, problems = _offline_page(browser, base)
    page.goto(base + "/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    assert "provenance" in page.inner_text(".swagger-ui .info .title")
    assert page.locator(".swagger-ui .opblock").count() >= 10  # every route is listed
    assert "/v1/clips/check" in page.inner_text(".swagger-ui")
    assert not outside and not problems, (outside, problems)
    page.close()
    assert httpx.get(base + "/docs/oauth2-redirect").status_code == 200
