"""Rights packs over HTTP, on SQLite and PostgreSQL: a holder key downloads the pack of its own works (no other
holder's), an admin uploads it into a registry without footage (idempotent; a tampered pack or one not signed by
the expected key is 422 naming what failed, nothing imported), and that registry's clip checks find the work."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from rightsdb import Reference, Registry, Work
from rightsdb.edit import create_holder

from .apihelp import BOTH_DATABASES, SAMPLE, Service, fingerprinted_sqlite, sample_service, start_service


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fingerprinted_sqlite(tmp_path_factory)


#: The holder side (the sample with its footage): SQLite; the lab's side, where packs are imported, runs on both.
service = pytest.fixture(params=["sqlite"], name="service")(sample_service)


@pytest.fixture(params=BOTH_DATABASES)
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    """A service on a registry without works, references or footage (SQLite or PostgreSQL); it knows the holder
    only, for the holder key the service helper makes."""
    folder = tmp_path / "lab"
    folder.mkdir()
    server = request.getfixturevalue("pg_server") if request.param == "postgres" else None
    url = server.fresh() if server is not None else f"sqlite:///{folder / 'lab.db'}"
    try:
        registry = Registry(url)
        try:
            create_holder(registry, "hellgate", "Hellgate Interactive", "publisher")
        finally:
            registry.dispose()
        yield from start_service(url, folder)
    finally:
        if server is not None:
            server.drop(url)


def _upload(lab: Service, data: bytes, name: str = "hellgate.pack", **params: str) -> object:
    return lab.client.post("/v1/registry/packs", params=params, files={"file": (name, data)}, headers=lab.auth("admin"))


@pytest.mark.slow
def test_download_upload_and_check(service: Service, lab: Service, tmp_path: Path) -> None:
    got = service.client.get("/v1/holders/hellgate/pack", headers=service.auth("holder"))
    assert got.status_code == 200, got.text
    pack = got.content
    assert got.headers["content-type"] == "application/octet-stream"
    (tmp_path / "hellgate.pack").write_bytes(pack)
    with zipfile.ZipFile(tmp_path / "hellgate.pack") as zf:
        assert "pack.json" in zf.namelist() and not any(n.endswith((".mp4", ".png")) for n in zf.namelist())
    assert list(Path(str(service.settings.upload_dir)).glob("provenance-pack-*")) == []  # the temporary pack: gone

    assert service.client.get("/v1/holders/pixelworks/pack", headers=service.auth("holder")).status_code == 403
    assert service.client.get("/v1/holders/hellgate/pack", headers=service.auth("auditor")).status_code == 403
    missing = service.client.get("/v1/holders/nobody/pack", headers=service.auth("admin"))
    assert missing.status_code == 404 and "nobody" in missing.json()["detail"]

    tampered = bytearray(pack)
    tampered[len(tampered) // 2] ^= 1
    bad = _upload(lab, bytes(tampered), "evil.pack")
    assert bad.status_code == 422 and bad.json()["detail"].startswith("evil.pack: ")  # type: ignore[attr-defined]
    wrong = _upload(lab, pack, signer="ab" * 32)
    assert wrong.status_code == 422 and "not signed" in wrong.json()["detail"]  # type: ignore[attr-defined]
    with lab.registry.session() as session:
        assert session.exec(select(Work)).all() == []  # nothing of a refused pack

    first = _upload(lab, pack)
    assert first.status_code == 201, first.text  # type: ignore[attr-defined]
    body = first.json()  # type: ignore[attr-defined]
    assert body["holder"] == "hellgate" and body["created"] == {"holders": 0, "works": 1, "references": 2}
    again = _upload(lab, pack).json()  # type: ignore[attr-defined]
    assert again["created"] == {"holders": 0, "works": 0, "references": 0} and again["id"] == body["id"]
    with lab.registry.session() as session:
        refs = session.exec(select(Reference)).all()
    assert len(refs) == 2 and all(r.pack_id == body["id"] for r in refs)

    clip = SAMPLE / "dataset" / "reupload" / "e1m1_reencode.mp4"
    checked = lab.client.post(
        "/v1/clips/check", files={"file": (clip.name, clip.read_bytes())}, headers=lab.auth("auditor")
    )
    assert checked.status_code == 200, checked.text
    assert [la["work"] for la in checked.json()["layers"]] == ["freedoom"]
    assert checked.json()["exposure"] == "high"
