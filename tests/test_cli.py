"""The command line as users run it: a real process, its exit code, stdout and stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.test_registry import make_manifest


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "PROVENANCE_DB"}
    full_env.update(COLUMNS="200", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "provenance", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def sample(tmp_path: Path, footage_dir: Path) -> Path:
    return make_manifest(tmp_path / "reg", footage_dir, 4)


@pytest.mark.slow
def test_import_list_show_export(sample: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    first = run("--db", db, "registry", "import", str(sample), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "registry digest" in first.stdout
    again = run("--db", db, "registry", "import", str(sample), cwd=tmp_path)
    assert again.returncode == 0
    assert again.stdout == first.stdout  # same digest: nothing changed
    listed = run("--db", db, "registry", "list", "--layer", "stream", cwd=tmp_path)
    assert listed.returncode == 0
    assert "work-01" in listed.stdout and "work-00" not in listed.stdout
    shown = run("--db", db, "registry", "show", "work-01", cwd=tmp_path)
    assert "Holder 1" in shown.stdout and "footage/carphone_pristine.mp4" in shown.stdout
    out = sample.parent / "export.yaml"
    exported = run("--db", db, "registry", "export", str(out), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert len(yaml.safe_load(out.read_text())["works"]) == 4


def test_default_database_is_sqlite_in_cwd_and_env_overrides(sample: Path, tmp_path: Path) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    assert run("registry", "import", str(sample), cwd=work).returncode == 0
    assert (work / "provenance.db").is_file()
    env_db = tmp_path / "env.db"
    env = {"PROVENANCE_DB": f"sqlite:///{env_db}"}
    assert run("registry", "import", str(sample), cwd=work, env=env).returncode == 0
    assert env_db.is_file()
    assert run("registry", "list", cwd=work, env=env).returncode == 0


def test_bad_manifest_is_one_line_and_exit_2(sample: Path, tmp_path: Path) -> None:
    doc = yaml.safe_load(sample.read_text())
    doc["works"][0]["layer"] = "soundtrack"
    bad = sample.parent / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    result = run("--db", f"sqlite:///{tmp_path / 'r.db'}", "registry", "import", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "works[0] (work-00): layer:" in lines[0]
    assert "Traceback" not in result.stderr
    debug = run("--debug", "--db", f"sqlite:///{tmp_path / 'r.db'}", "registry", "import", str(bad), cwd=tmp_path)
    assert debug.returncode == 2 and "Traceback" in debug.stderr


def test_store_errors_exit_3(tmp_path: Path) -> None:
    result = run("--db", f"sqlite:///{tmp_path}/no/such/dir/r.db", "registry", "list", cwd=tmp_path)
    assert result.returncode == 3
    assert "does not exist" in result.stderr


def test_unknown_work_and_usage_errors_exit_2(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    assert run("--db", db, "db", "upgrade", cwd=tmp_path).returncode == 0  # read-only commands create nothing
    assert run("--db", db, "registry", "show", "nope", cwd=tmp_path).returncode == 2
    assert run("--db", db, "registry", "import", cwd=tmp_path).returncode == 2


def test_db_upgrade_and_current(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    missing = run("--db", db, "db", "current", cwd=tmp_path)
    assert missing.returncode == 3 and "no registry database at" in missing.stderr
    assert not (tmp_path / "r.db").exists()  # a read-only command creates nothing
    (tmp_path / "r.db").touch()
    schemaless = run("--db", db, "db", "current", cwd=tmp_path)
    assert schemaless.returncode == 3 and "holds no registry (no schema)" in schemaless.stderr
    assert (tmp_path / "r.db").stat().st_size == 0  # not migrated either
    up = run("--db", db, "db", "upgrade", cwd=tmp_path)
    assert up.returncode == 0 and "upgraded from empty" in up.stderr
    again = run("--db", db, "db", "upgrade", cwd=tmp_path)
    assert "up to date" in again.stderr
    from rightsdb import head_revision

    assert run("--db", db, "db", "current", cwd=tmp_path).stdout.strip() == head_revision()


@pytest.mark.postgres
def test_cli_on_postgres(sample: Path, tmp_path: Path, pg_url: str) -> None:
    url = pg_url.replace("postgresql+psycopg://", "postgres://")  # the spelling users paste
    result = run("--db", url, "registry", "import", str(sample), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "work-03" in run("--db", url, "registry", "list", cwd=tmp_path).stdout


def test_in_process_calls_each_open_their_own_database(sample: Path, tmp_path: Path) -> None:
    # a library user (or a test) calling the entry point twice in one process: the second --db is the one used
    from provenance.cli import main
    from provenance.cli.app import state

    first, second = tmp_path / "first.db", tmp_path / "second.db"
    for db in (first, second):
        with pytest.raises(SystemExit) as done:
            main(["--db", f"sqlite:///{db}", "registry", "import", str(sample)])
        assert done.value.code in (0, None)
        assert state.registry is None  # closed when the command returned
    from rightsdb import Registry
    from rightsdb.queries import list_works

    for db in (first, second):
        registry = Registry(f"sqlite:///{db}", create=False)
        try:
            assert len(list_works(registry)) == 4, db
        finally:
            registry.dispose()
