"""Shared set-up of the HTTP service tests (tests/test_api_*.py): a registry with the bundled sample,
fingerprinted once per session, copied per test on SQLite or the real PostgreSQL server; an app on it
with one key per role."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from api import ApiSettings, create_app
from rightsdb import Fingerprint, Registry
from rightsdb.keys import create_key

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "fixtures" / "sample"


_TEMPLATE: list[Path] = []


def fingerprinted_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file holding the sample registry with every footage reference fingerprinted (made once per
    session; callers copy it)."""
    if _TEMPLATE and _TEMPLATE[0].exists():
        return _TEMPLATE[0]
    from provenance.audit import ensure_fingerprints
    from provenance.audit.manifests import import_manifest_file
    from provenance.engine import EngineParams

    path = tmp_path_factory.mktemp("api-db") / "sample.db"
    registry = Registry(f"sqlite:///{path}")
    try:
        import_manifest_file(registry, SAMPLE / "registry" / "manifest.yaml")
        ensure_fingerprints(registry, EngineParams())
    finally:
        registry.dispose()
    _TEMPLATE[:] = [path]
    return path


def sample_registry_url(kind: str, template: Path, tmp_path: Path, pg_url: str | None) -> str:
    """A database holding the fingerprinted sample: a copy of ``template`` (SQLite) or the same rows in a
    fresh PostgreSQL database (imported, fingerprints copied from the template)."""
    if kind == "sqlite":
        dst = tmp_path / "registry.db"
        shutil.copyfile(template, dst)
        return f"sqlite:///{dst}"
    assert pg_url is not None
    from provenance.audit.manifests import import_manifest_file

    source = Registry(f"sqlite:///{template}", auto_migrate=False)
    target = Registry(pg_url)
    try:
        import_manifest_file(target, SAMPLE / "registry" / "manifest.yaml")
        with source.session() as session:
            prints = session.exec(select(Fingerprint)).all()
        with target.write() as session:
            for fp in prints:
                session.add(Fingerprint(**{k: v for k, v in fp.model_dump().items() if k != "id"}))
    finally:
        source.dispose()
        target.dispose()
    return pg_url


@dataclass
class Service:
    app: FastAPI
    client: TestClient
    registry: Registry
    keys: dict[str, str]
    data: Path
    settings: ApiSettings
    extra: dict[str, str] = field(default_factory=dict)

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


def start_service(url: str, tmp_path: Path, **settings: object) -> Iterator[Service]:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    cfg = ApiSettings(
        db=url, data_roots=str(data), media_dir=str(tmp_path / "media"), upload_dir=str(tmp_path), **settings
    )  # type: ignore[arg-type]
    app = create_app(cfg)
    registry: Registry = app.state.registry
    keys = {
        role: create_key(registry, role, "hellgate" if role == "holder" else None)[1]
        for role in ("admin", "auditor", "holder")
    }
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Service(app, client, registry, keys, data, cfg)


def sample_service(request: pytest.FixtureRequest, template: Path, tmp_path: Path) -> Iterator[Service]:
    """Body of a ``service`` fixture parametrised over :data:`BOTH_DATABASES`: the app on the fingerprinted
    sample, on a SQLite copy or a fresh PostgreSQL database (dropped afterwards)."""
    pg = None
    if request.param == "postgres":
        server = request.getfixturevalue("pg_server")
        pg = server.fresh()
    try:
        url = sample_registry_url(request.param, template, tmp_path, pg)
        yield from start_service(url, tmp_path)
    finally:
        if pg is not None:
            server.drop(pg)


BOTH_DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
