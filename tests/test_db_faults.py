"""Database faults (issue 17, item 13): a read-only database or a full disk is exit code 3 with one line saying
what happened and what to do at the command line, 503 with a problem body in the service, never "internal
error" or 500; the data is as it was. Real faults: a SQLite file opened read-only (``?mode=ro``: root ignores
file permissions), a PostgreSQL database set read-only (``default_transaction_read_only``), a SQLite database
whose page limit (``PRAGMA max_page_count``) is reached, as on a full disk.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api import ApiSettings, create_app
from rightsdb import (
    DatabaseFull,
    DatabaseLocked,
    DatabaseReadOnly,
    DatabaseUnavailable,
    Registry,
    import_manifest,
    load_manifest,
    store_fault,
)
from rightsdb.keys import create_key

MANIFEST = "holders:\n  - {id: acme, name: Acme Games, kind: publisher}\n"


def _more(n: int) -> str:
    return "holders:\n" + "".join(f"  - {{id: h{i}, name: {'Holder ' * 20}{i}, kind: other}}\n" for i in range(n))


def _no_probe(path: Path) -> Any:
    raise AssertionError("no references")


def _count(url: str) -> int:
    registry = Registry(url)
    try:
        with registry.engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM holders")).scalar_one())
    finally:
        registry.dispose()


@pytest.fixture
def read_only(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(writable URL, read-only URL) of one database holding MANIFEST and an admin key (in ``os.environ``)."""
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    registry = Registry(db_url)
    import_manifest(registry, load_manifest(manifest, _no_probe))
    key = create_key(registry, "admin")[1]
    registry.dispose()
    os.environ["_TEST_ADMIN_KEY"] = key
    if db_url.startswith("sqlite"):
        path = make_url(db_url).database
        yield db_url, f"sqlite:///file:{path}?mode=ro&uri=true"
    else:
        server = request.getfixturevalue("pg_server")
        name = make_url(db_url).database
        with server.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        yield db_url, db_url
    os.environ.pop("_TEST_ADMIN_KEY", None)


def _cli(*args: str, cwd: Path, prelude: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PROVENANCE_DB"}
    code = prelude + "import sys\nfrom provenance.cli import main\nmain(sys.argv[1:])\n"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_read_only_database_is_exit_3(read_only: tuple[str, str], tmp_path: Path) -> None:
    writable, ro = read_only
    manifest = tmp_path / "more.yaml"
    manifest.write_text(_more(3))
    done = _cli("--db", ro, "registry", "import", str(manifest), cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "read-only" in lines[0] and "nothing was written" in lines[0] and "internal error" not in lines[0]
    listed = _cli("--db", ro, "registry", "list", cwd=tmp_path)  # reading still works
    assert listed.returncode == 0, listed.stderr
    assert _count(writable) == 1


def test_cli_full_disk_is_exit_3(tmp_path: Path) -> None:
    """A SQLite database that cannot grow (its page limit, as a full disk): exit 3, the import rolled back."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    registry = Registry(url)
    import_manifest(registry, load_manifest(manifest, _no_probe))
    registry.dispose()
    pages = sqlite3.connect(tmp_path / "r.db").execute("PRAGMA page_count").fetchone()[0]
    limit = (
        "from sqlalchemy import event\nfrom sqlalchemy.pool import Pool\n"
        "@event.listens_for(Pool, 'connect')\n"
        "def _limit(conn, record):\n"
        f"    conn.execute('PRAGMA max_page_count = {pages}')\n"
    )
    big = tmp_path / "big.yaml"
    big.write_text(_more(2000))
    done = _cli("--db", url, "registry", "import", str(big), cwd=tmp_path, prelude=limit)
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "disk is full" in lines[0] and "rolled back" in lines[0], done.stderr
    assert _count(url) == 1


def test_service_read_only_database_is_503(read_only: tuple[str, str], tmp_path: Path) -> None:
    writable, ro = read_only
    cfg = ApiSettings(db=ro, data_roots=str(tmp_path), media_dir=str(tmp_path / "media"), upload_dir=str(tmp_path))  # type: ignore[call-arg]
    auth = {"Authorization": f"Bearer {os.environ['_TEST_ADMIN_KEY']}"}
    with TestClient(create_app(cfg), raise_server_exceptions=False) as client:
        assert client.get("/v1/holders", headers=auth).status_code == 200
        writes = [
            client.post("/v1/holders", headers=auth, json={"id": "new", "name": "New", "kind": "other"}),
            client.patch("/v1/holders/acme", headers=auth, json={"name": "Renamed"}),
        ]
        for r in writes:
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert "read-only" in r.json()["detail"] and r.json()["code"] == "database"
    assert _count(writable) == 1


def test_store_fault_kinds() -> None:
    def sqlite_error(code: int) -> sqlite3.Error:
        err = sqlite3.OperationalError("x")
        err.sqlite_errorcode = code  # type: ignore[attr-defined]
        return err

    class PgError(Exception):
        def __init__(self, state: str) -> None:
            self.sqlstate = state

    assert isinstance(store_fault(sqlite_error(sqlite3.SQLITE_READONLY)), DatabaseReadOnly)
    assert isinstance(store_fault(sqlite_error(sqlite3.SQLITE_READONLY_DBMOVED)), DatabaseReadOnly)
    assert isinstance(store_fault(sqlite_error(sqlite3.SQLITE_FULL)), DatabaseFull)
    assert isinstance(store_fault(sqlite_error(sqlite3.SQLITE_IOERR_WRITE)), DatabaseFull)
    assert isinstance(store_fault(sqlite_error(sqlite3.SQLITE_BUSY)), DatabaseLocked)
    assert isinstance(store_fault(sqlite_error(sqlite3.SQLITE_CANTOPEN)), DatabaseUnavailable)
    assert isinstance(store_fault(PgError("25006")), DatabaseReadOnly)
    assert isinstance(store_fault(PgError("53100")), DatabaseFull)
    assert isinstance(store_fault(PgError("55P03")), DatabaseLocked)
    assert isinstance(store_fault(PgError("08006")), DatabaseUnavailable)
    assert store_fault(PgError("23505")) is None  # a unique violation is no fault of the database
    assert store_fault(ValueError("x")) is None
    with create_engine("sqlite://").connect() as conn:
        try:
            conn.execute(text("SELECT * FROM missing"))
        except Exception as exc:
            assert store_fault(exc) is None  # SQLite's plain error (a missing table, bad SQL): no fault of the disk


def test_new_database_opened_read_only_says_so(tmp_path: Path) -> None:
    """Migrating a new (empty) SQLite file opened read-only: the read-only fault, not "folder does not exist"."""
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    with pytest.raises(DatabaseReadOnly, match=r"migration of .*: the database is read-only"):
        Registry(f"sqlite:///file:{path}?mode=ro&uri=true")
