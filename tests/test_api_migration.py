"""Migration 0002 (the service's tables) upgrades an existing 0001 database on SQLite and PostgreSQL, keeps
its data, and the result matches the models exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel, select

from provenance.registry import import_manifest_file
from rightsdb import Holder, Registry, head_revision
from rightsdb.keys import create_key, verify_key
from rightsdb.store import _alembic_config

from .apihelp import SAMPLE


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> object:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    server = request.getfixturevalue("pg_server")
    url = server.fresh(migrated=False)
    yield url
    server.drop(url)


def test_0001_database_upgrades_to_head(empty_url: str) -> None:
    old = Registry(empty_url, auto_migrate=False)
    old.upgrade("0001")
    import_manifest_file(old, SAMPLE / "registry" / "manifest.yaml")
    assert old.current_revision() == "0001"
    assert "api_keys" not in inspect(old.engine).get_table_names()
    old.dispose()

    if old.dialect == "postgresql":  # a server database is upgraded on purpose (`provenance db upgrade`)
        upgrading = Registry(empty_url, auto_migrate=False)
        upgrading.upgrade()
        upgrading.dispose()
    registry = Registry(empty_url)  # SQLite files are migrated on open
    try:
        assert registry.current_revision() == head_revision() == "0002"
        assert {"api_keys", "policy_changes", "scan_jobs"} <= set(inspect(registry.engine).get_table_names())
        with registry.session() as session:
            assert len(session.exec(select(Holder)).all()) == 4  # the data survived
        _, key = create_key(registry, "holder", "hellgate")
        assert verify_key(registry, key) is not None
        with registry.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                    SQLModel.metadata)
        assert diff == []
        with registry.engine.begin() as conn:  # and back down: the service's tables go, the registry stays
            command.downgrade(_alembic_config(conn), "0001")
        assert "api_keys" not in inspect(registry.engine).get_table_names()
        with registry.session() as session:
            assert len(session.exec(select(Holder)).all()) == 4
    finally:
        registry.dispose()
