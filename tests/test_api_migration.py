"""Migrations 0002 (the service's tables) and 0003 (scan job leases) upgrade an existing database on SQLite and
PostgreSQL, keep its data, the result matches the models exactly, and they go back down."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel, select

from provenance.audit.manifests import import_manifest_file
from rightsdb import Holder, Registry, head_revision
from rightsdb.jobs import claim_job, claimable_jobs
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


def _write_sample_as_0001(old: Registry) -> None:
    """The sample registry's rows as a 0001 version wrote them: its tables (unchanged since 0001) copied from a
    current import (today's import also writes the policy history, a table 0001 does not have)."""
    scratch = Registry("sqlite://")
    try:
        import_manifest_file(scratch, SAMPLE / "registry" / "manifest.yaml")
        with scratch.engine.connect() as src, old.engine.begin() as dst:
            for name in ("holders", "works", "work_references"):
                table = SQLModel.metadata.tables[name]
                old_columns = {c["name"] for c in inspect(dst).get_columns(name)}  # later columns (pack_id) left out
                rows = [
                    {k: v for k, v in row._mapping.items() if k in old_columns} for row in src.execute(table.select())
                ]
                dst.execute(table.insert(), rows)
    finally:
        scratch.dispose()


def test_0001_database_upgrades_to_head(empty_url: str) -> None:
    old = Registry(empty_url, auto_migrate=False)
    old.upgrade("0001")
    _write_sample_as_0001(old)
    assert old.current_revision() == "0001"
    assert "api_keys" not in inspect(old.engine).get_table_names()
    old.dispose()

    if old.dialect == "postgresql":  # a server database is upgraded on purpose (`provenance db upgrade`)
        upgrading = Registry(empty_url, auto_migrate=False)
        upgrading.upgrade()
        upgrading.dispose()
    registry = Registry(empty_url)  # SQLite files are migrated on open
    try:
        assert registry.current_revision() == head_revision()
        tables = set(inspect(registry.engine).get_table_names())
        assert {
            "api_keys",
            "policy_changes",
            "scan_jobs",
            "packs",
            "reference_thumbnails",
            "review_decisions",
            "work_references",
        } <= tables
        with registry.session() as session:
            assert len(session.exec(select(Holder)).all()) == 4  # the data survived
        _, key = create_key(registry, "holder", "hellgate")
        assert verify_key(registry, key) is not None
        with registry.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
        assert diff == []
        with registry.engine.begin() as conn:  # and back down: the service's tables go, the registry stays
            command.downgrade(_alembic_config(conn), "0001")
        assert "api_keys" not in inspect(registry.engine).get_table_names()
        with registry.session() as session:
            assert len(session.exec(select(Holder)).all()) == 4
    finally:
        registry.dispose()


def _columns(registry: Registry, table: str) -> set[str]:
    return {c["name"] for c in inspect(registry.engine).get_columns(table)}


def test_0002_database_upgrades_to_leases_and_back(empty_url: str) -> None:
    """0003 adds the lease columns to the scan jobs of a 0002 database, keeping them (a job left running by an
    older service has no lease: it is claimable at once); downgrading removes the columns, not the jobs."""
    old = Registry(empty_url, auto_migrate=False)
    old.upgrade("0002")
    with old.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO scan_jobs (id, dataset, options, status, clips_total, clips_done, clips_error, "
                "attempts, cancel_requested, created_at) VALUES ('j1', '/data/ds', '{}', 'running', 3, 1, "
                "0, 1, false, CURRENT_TIMESTAMP)"
            )
        )
    assert "lease_owner" not in _columns(old, "scan_jobs")
    old.upgrade()
    old.dispose()
    registry = Registry(empty_url)
    try:
        assert registry.current_revision() == head_revision()
        assert {"lease_owner", "lease_expires_at"} <= _columns(registry, "scan_jobs")
        with registry.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
        assert diff == []
        assert claimable_jobs(registry) == ["j1"]
        job = claim_job(registry, "j1", "host:1:abcd")
        assert job is not None and job.attempts == 2 and job.lease_owner == "host:1:abcd"
        assert job.clips_done == 1 and job.dataset == "/data/ds"
        with registry.engine.begin() as conn:
            command.downgrade(_alembic_config(conn), "0002")
        assert "lease_owner" not in _columns(registry, "scan_jobs")
        with registry.engine.connect() as conn:
            row = conn.execute(text("SELECT status, attempts, clips_done FROM scan_jobs WHERE id = 'j1'")).one()
            assert tuple(row) == ("running", 2, 1)
            checks = inspect(registry.engine).get_check_constraints("scan_jobs")
            assert [c["name"] for c in checks] == ["ck_scan_jobs_status"]  # the table rebuilt on SQLite keeps it
            assert "ix_scan_jobs_status" in {i["name"] for i in inspect(registry.engine).get_indexes("scan_jobs")}
    finally:
        registry.dispose()
