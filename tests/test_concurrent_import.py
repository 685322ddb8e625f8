"""Imports at once into a new SQLite file (issue 17, item 14): real processes, each creating and migrating the
database if it finds none; all succeed (the manifest is the same: re-import updates in place), none fails with
"database is locked"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rightsdb import Registry, head_revision
from tests.hangs import tiny_registry

pytestmark = pytest.mark.slow


# The CLI in a real process, its imports done, started when a byte arrives on stdin: every process reaches the
# database at the same moment (Python's start-up would otherwise spread them apart by more than the race).
_READY_THEN_RUN = (
    "import sys; from provenance.cli import main; import provenance.audit.manifests; "
    "sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read(1); "
    "sys.argv = ['provenance', *sys.argv[1:]]; main()"
)


@pytest.mark.parametrize("round_", range(3))
def test_imports_at_once_into_a_new_sqlite_file(tmp_path: Path, round_: int) -> None:
    manifest = tiny_registry(tmp_path / "registry")
    db = tmp_path / "new.db"
    argv = [sys.executable, "-c", _READY_THEN_RUN, "--db", f"sqlite:///{db}", "registry", "import", str(manifest)]
    procs = [
        subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline() == "ready\n"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("x")
            p.stdin.flush()
        outs = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    for p, (_, err) in zip(procs, outs, strict=True):
        assert "locked" not in err, err
        assert p.returncode == 0, err
    registry = Registry(f"sqlite:///{db}", auto_migrate=False)
    try:
        assert registry.current_revision() == head_revision()
    finally:
        registry.dispose()
