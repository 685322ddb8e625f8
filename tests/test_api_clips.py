"""Clip checks, stored results, findings and registry writes through the real app, on SQLite and PostgreSQL,
with the bundled sample registry (fingerprinted once per session) and clips of the sample dataset."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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

COPY = SAMPLE / "dataset" / "reupload" / "e1m1_reencode.mp4"
CLEAN = SAMPLE / "dataset" / "clean" / "bikes.mp4"
MEDIA = Path(__file__).resolve().parents[1] / "fixtures" / "media"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fingerprinted_sqlite(tmp_path_factory)


service = pytest.fixture(params=BOTH_DATABASES, name="service")(sample_service)


def _upload(service: Service, path: Path, role: str = "auditor", **params: str) -> Any:
    with path.open("rb") as fh:
        return service.client.post(
            "/v1/clips/check", headers=service.auth(role), params=params, files={"file": (path.name, fh, "video/mp4")}
        )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_check_matches_the_cli_scan(service: Service, sample_report: dict[str, Any]) -> None:
    expected = next(c for c in sample_report["clips"] if c["path"] == "reupload/e1m1_reencode.mp4")
    r = _upload(service, COPY, as_of=sample_report["scan"]["as_of"])
    assert r.status_code == 200, r.text
    clip = r.json()
    assert clip["path"] == "e1m1_reencode.mp4" and clip["sha256"] == _sha(COPY)
    assert clip["exposure"] == expected["exposure"] == "high"
    assert clip["layers"] == expected["layers"]  # works, segments, evidence: the same engine, the same answer
    assert clip["error"] is None and clip["reason"] == expected["reason"]

    stored = service.client.get(
        f"/v1/clips/{clip['sha256']}", headers=service.auth("auditor"), params={"as_of": sample_report["scan"]["as_of"]}
    )
    assert stored.status_code == 200 and stored.json() == clip

    clean = _upload(service, CLEAN).json()
    assert clean["exposure"] == "none" and clean["layers"] == [] and clean["error"] is None

    # a policy change re-renders the stored result with the new terms, without matching again
    r = service.client.put(
        "/v1/works/freedoom/policy",
        headers=service.auth("admin"),
        json={"ai_training": "allow", "license": "BSD-3-Clause"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["policy"] == {"ai_training": "allow", "license": "BSD-3-Clause"}
    again = service.client.get(f"/v1/clips/{clip['sha256']}", headers=service.auth("auditor")).json()
    layer = next(x for x in again["layers"] if x["work"] == "freedoom")
    assert layer["policy"]["ai_training"] == "allow" and layer["verdict"] == "allowed"
    assert layer["segments"] == next(x for x in clip["layers"] if x["work"] == "freedoom")["segments"]
    history = service.client.get("/v1/works/freedoom/policy/history", headers=service.auth("holder")).json()
    assert len(history) == 2  # the sample's import created the work, then the edit
    assert history[0]["actor"].startswith("manifest import: ") and history[0]["before"] is None
    assert history[1]["before"] == {"ai_training": "deny", "license": "All rights reserved"}
    assert history[1]["after"] == {"ai_training": "allow", "license": "BSD-3-Clause"}
    admin_id = service.keys["admin"].split("_")[1]
    assert history[1]["actor"] == f"key:{admin_id}"
    # the same terms again change nothing and record nothing
    service.client.put(
        "/v1/works/freedoom/policy",
        headers=service.auth("admin"),
        json={"ai_training": "allow", "license": "BSD-3-Clause"},
    )
    assert len(service.client.get("/v1/works/freedoom/policy/history", headers=service.auth("admin")).json()) == 2


def test_findings_filters_and_cursor(service: Service) -> None:
    for clip in ("reupload/e1m1_reencode.mp4", "streams/nightowl_highlight.mp4"):
        assert _upload(service, SAMPLE / "dataset" / clip).status_code == 200
    c = service.client
    everything = c.get("/v1/findings", headers=service.auth("auditor")).json()
    works = [f["work"] for f in everything["items"]]
    assert "freedoom" in works and "nightowl-channel" in works and everything["next_cursor"] is None
    # pages of one: every finding once, in order
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = c.get("/v1/findings", headers=service.auth("auditor"), params=params).json()
        seen += [f["id"] for f in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f["id"] for f in everything["items"]]
    only = c.get("/v1/findings", headers=service.auth("auditor"), params={"work": "nightowl-channel"}).json()
    assert {f["work"] for f in only["items"]} == {"nightowl-channel"}
    stream = c.get("/v1/findings", headers=service.auth("auditor"), params={"layer": "stream"}).json()
    assert {f["layer"] for f in stream["items"]} == {"stream"}
    high = c.get("/v1/findings", headers=service.auth("auditor"), params={"exposure": "high"}).json()
    assert high["items"] and all(f["clip"]["exposure"] == "high" for f in high["items"])
    assert c.get("/v1/findings", headers=service.auth("auditor"), params={"exposure": "low"}).json()["items"] == []
    mine = c.get("/v1/findings", headers=service.auth("holder")).json()  # hellgate: freedoom only
    assert mine["items"] and {f["holder"] for f in mine["items"]} == {"hellgate"}
    checks = c.get("/v1/findings", headers=service.auth("auditor"), params={"scan": "api-clip-checks"}).json()
    assert len(checks["items"]) == len(everything["items"])
    bad = c.get("/v1/findings", headers=service.auth("auditor"), params={"cursor": "!!"})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("cursor:")


def test_holder_sees_only_its_own_layers_of_a_stored_clip(service: Service) -> None:
    from rightsdb.keys import create_key

    c = service.client
    nightowl = {"Authorization": f"Bearer {create_key(service.registry, 'holder', 'nightowl')[1]}"}
    mapsmith = {"Authorization": f"Bearer {create_key(service.registry, 'holder', 'mapsmith')[1]}"}
    stream = SAMPLE / "dataset" / "streams" / "nightowl_highlight.mp4"  # NightOwl's VOD showing Freedoom
    pong = SAMPLE / "dataset" / "retro" / "pong_fast_gamma.mp4"  # Pixelworks only
    assert _upload(service, stream, role="holder").status_code == 403  # checks stay with admins and auditors
    for clip in (stream, pong, CLEAN):
        assert _upload(service, clip).status_code == 200
    full = c.get(f"/v1/clips/{_sha(stream)}", headers=service.auth("auditor")).json()
    assert {x["holder"] for x in full["layers"]} == {"hellgate", "nightowl"} and full["exposure"] == "high"

    # each holder: its own layers only, the exposure and reason of those alone
    mine = c.get(f"/v1/clips/{_sha(stream)}", headers=service.auth("holder"))  # hellgate
    assert mine.status_code == 200, mine.text
    hellgate = mine.json()
    assert hellgate["layers"] == [x for x in full["layers"] if x["holder"] == "hellgate"] != []
    assert hellgate["exposure"] == "high"  # Freedoom denies
    assert {k: v for k, v in hellgate.items() if k not in ("layers", "reason")} == {
        k: v for k, v in full.items() if k not in ("layers", "reason")
    }
    theirs = c.get(f"/v1/clips/{_sha(stream)}", headers=nightowl).json()
    assert theirs["layers"] == [x for x in full["layers"] if x["holder"] == "nightowl"] != []
    assert theirs["exposure"] == "medium"  # conditional: Freedoom's denial is none of NightOwl's business
    assert theirs["reason"].startswith("Medium exposure") and "Freedoom" not in theirs["reason"]
    assert "NightOwl" not in hellgate["reason"] and "Freedoom" in hellgate["reason"]

    # a clip with none of the holder's works is as unknown as a clip never checked
    unknown = "f" * 64
    for who, sha in (("hellgate", _sha(pong)), ("hellgate", _sha(CLEAN)), ("mapsmith", _sha(stream))):
        headers = service.auth("holder") if who == "hellgate" else mapsmith
        hidden = c.get(f"/v1/clips/{sha}", headers=headers)
        never = c.get(f"/v1/clips/{unknown}", headers=headers)
        assert hidden.status_code == never.status_code == 404, (who, sha, hidden.text)
        assert hidden.headers["content-type"] == "application/problem+json"
        assert hidden.json()["detail"].replace(sha, unknown) == never.json()["detail"]
        assert hidden.json()["code"] == "not_found"
    assert c.get(f"/v1/clips/{_sha(pong)}", headers=service.auth("auditor")).json()["exposure"] == "medium"


def test_check_by_path_is_confined_to_the_data_roots(service: Service, tmp_path: Path) -> None:
    inside = service.data / "clips" / "copy.mp4"
    inside.parent.mkdir()
    shutil.copyfile(COPY, inside)
    c, h = service.client, service.auth("auditor")
    r = c.post("/v1/clips/check", headers=h, json={"path": str(inside)})
    assert r.status_code == 200 and r.json()["exposure"] == "high" and r.json()["path"] == "copy.mp4"
    outside = tmp_path / "outside.mp4"
    shutil.copyfile(COPY, outside)
    (service.data / "link.mp4").symlink_to(outside)
    for path, words in [
        (str(outside), "outside the data roots"),
        (str(service.data / "link.mp4"), "outside the data roots"),
        (str(service.data / ".." / "outside.mp4"), "outside the data roots"),
        ("clips/copy.mp4", "must be an absolute path"),
        (str(service.data / "missing.mp4"), "no such file"),
        (str(service.data / "clips"), "is not a file"),
    ]:
        r = c.post("/v1/clips/check", headers=h, json={"path": path})
        assert r.status_code == 422, (path, r.text)
        assert words in r.json()["detail"] and r.json()["detail"].startswith("path: ")
    r = c.post("/v1/clips/check", headers=h, json={"path": str(inside), "extra": 1})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "extra"


def test_bad_uploads_are_refused(service: Service, tmp_path: Path) -> None:
    c, h = service.client, service.auth("auditor")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    r = _upload(service, text)
    assert r.status_code == 415 and r.json()["code"] == "not_media" and "notes.mp4" in r.json()["detail"]
    r = _upload(service, MEDIA / "truncated.mp4")
    assert r.status_code in (415, 422) and "truncated.mp4" in r.json()["detail"]
    r = c.post("/v1/clips/check", headers=h, files={"other": ("a.mp4", b"x", "video/mp4")})
    assert r.status_code == 422 and "'file'" in r.json()["detail"]
    r = c.post("/v1/clips/check", headers=h, files={"file": ("empty.mp4", b"", "video/mp4")})
    assert r.status_code == 422 and "empty" in r.json()["detail"]
    r = c.post("/v1/clips/check", headers={**h, "Content-Type": "video/mp4"}, content=b"raw")
    assert r.status_code == 415
    r = c.post(
        "/v1/clips/check",
        headers={**h, "Content-Type": "multipart/form-data; boundary=xyz"},
        content=b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\nabc',
    )
    assert r.status_code == 400 and r.json()["code"] == "bad_request"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("provenance-upload-")]  # nothing left behind


def test_oversize_upload_is_cut_off(template: Path, tmp_path: Path) -> None:
    url = sample_registry_url("sqlite", template, tmp_path, None)
    for service in start_service(url, tmp_path, max_upload_bytes=50_000):
        assert COPY.stat().st_size > 50_000
        r = _upload(service, COPY)
        assert r.status_code == 413 and r.json()["code"] == "too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n\r\n'
            for _ in range(100):
                yield os.urandom(1024)
            yield b"\r\n--b--\r\n"

        r = service.client.post(
            "/v1/clips/check",
            content=chunks(),
            headers={**service.auth("auditor"), "Content-Type": "multipart/form-data; boundary=b"},
        )
        assert r.status_code == 413
        assert not [p for p in tmp_path.iterdir() if p.name.startswith("provenance-upload-")]


def test_registry_writes_and_reference_upload(service: Service) -> None:
    c, a = service.client, service.auth("admin")
    r = c.post("/v1/holders", headers=a, json={"id": "acme", "name": "Acme Games", "kind": "publisher"})
    assert r.status_code == 201 and r.headers["location"] == "/v1/holders/acme"
    assert c.post("/v1/holders", headers=a, json={"id": "acme", "name": "x", "kind": "publisher"}).status_code == 409
    r = c.post("/v1/holders", headers=a, json={"id": "bad id!", "name": "x", "kind": "publisher"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "id"
    assert c.patch("/v1/holders/acme", headers=a, json={"name": "Acme Ltd"}).json()["name"] == "Acme Ltd"
    work = {
        "id": "acme-bikes",
        "title": "Bikes",
        "holder": "acme",
        "layer": "game",
        "policy": {"ai_training": "deny", "territories": ["de", "US"], "valid_until": "2030-01-01"},
    }
    r = c.post("/v1/works", headers=a, json=work)
    assert r.status_code == 201, r.text
    assert r.json()["policy"] == {"ai_training": "deny", "territories": ["DE", "US"], "valid_until": "2030-01-01"}
    r = c.post("/v1/works", headers=a, json={**work, "id": "w2", "holder": "ghost"})
    assert r.status_code == 404 and "ghost" in r.json()["detail"]
    r = c.put("/v1/works/acme-bikes/policy", headers=a, json={"ai_training": "deny", "territories": ["XYZ"]})
    assert r.status_code == 422 and "territories" in r.json()["detail"]
    # the clip is clean before its footage is registered, and matched after
    assert _upload(service, CLEAN).json()["exposure"] == "none"
    with CLEAN.open("rb") as fh:
        r = c.post(
            "/v1/works/acme-bikes/references",
            headers=a,
            params={"kind": "asset"},
            files={"file": ("bikes.mp4", fh, "video/mp4")},
        )
    assert r.status_code == 422 and "asset must be a still" in r.json()["detail"]
    r = c.post(
        "/v1/works/acme-bikes/references",
        headers=a,
        params={"kind": "footage"},
        files={"file": ("junk.mp4", b"\x00" * 4096, "video/mp4")},
    )
    assert r.status_code in (415, 422)
    with CLEAN.open("rb") as fh:
        r = c.post(
            "/v1/works/acme-bikes/references",
            headers=a,
            params={"kind": "footage"},
            files={"file": ("bikes.mp4", fh, "video/mp4")},
        )
    assert r.status_code == 201, r.text
    assert [x["path"] for x in r.json()["references"]] == ["uploads/bikes.mp4"]
    found = _upload(service, CLEAN).json()
    assert found["exposure"] == "high" and [x["work"] for x in found["layers"]] == ["acme-bikes"]
    r = c.delete("/v1/works/acme-bikes/references", headers=a, params={"path": "uploads/bikes.mp4"})
    assert r.status_code == 200 and r.json()["references"] == []
    assert _upload(service, CLEAN).json()["exposure"] == "none"
    holder = c.put("/v1/works/freedoom/policy", headers=service.auth("holder"), json={"ai_training": "allow"})
    assert holder.status_code == 403  # a holder views its works, never edits them
