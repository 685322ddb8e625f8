"""Reference ingest: footage references fingerprinted in parallel processes store what one process stores, and a
reference file changed since import stops the ingest with a message naming it, whichever way it runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provenance.audit import ensure_fingerprints
from provenance.audit.manifests import import_manifest_file
from provenance.audit.references import FOOTAGE_ALGORITHM
from provenance.engine import FINGERPRINT_VERSION, EngineParams
from provenance.errors import ScanError
from rightsdb import Registry
from rightsdb.references import stored_fingerprints

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample" / "registry"
FILES = ("pixelworks-breakout-attract.mp4", "pixelworks-pong-attract.mp4")

MANIFEST = """\
holders:
  - {id: pixelworks, name: Pixelworks Arcade, kind: publisher}
works:
  - id: pw-breakout
    title: Breakout
    holder: pixelworks
    layer: game
    policy: {ai_training: deny}
    references:
      - {path: footage/pixelworks-breakout-attract.mp4, kind: footage}
  - id: pw-pong
    title: Pong
    holder: pixelworks
    layer: game
    policy: {ai_training: deny}
    references:
      - {path: footage/pixelworks-pong-attract.mp4, kind: footage}
"""


def _registry(folder: Path) -> Registry:
    (folder / "footage").mkdir(parents=True)
    for name in FILES:
        shutil.copyfile(SAMPLE / "footage" / name, folder / "footage" / name)
    (folder / "manifest.yaml").write_text(MANIFEST, encoding="utf-8")
    registry = Registry(f"sqlite:///{folder / 'registry.db'}")
    import_manifest_file(registry, folder / "manifest.yaml")
    return registry


def test_parallel_ingest_stores_what_one_process_stores(tmp_path: Path) -> None:
    serial, parallel = _registry(tmp_path / "serial"), _registry(tmp_path / "parallel")
    try:
        seen: list[tuple[str, int, int]] = []
        assert ensure_fingerprints(serial, EngineParams(), workers=1) == 2
        assert ensure_fingerprints(parallel, EngineParams(), lambda w, d, t: seen.append((w, d, t)), workers=2) == 2
        one = stored_fingerprints(serial, FOOTAGE_ALGORITHM, FINGERPRINT_VERSION)
        two = stored_fingerprints(parallel, FOOTAGE_ALGORITHM, FINGERPRINT_VERSION)
        assert len(one) == 2 and one == two
        assert [d for _, d, _ in seen] == [1, 2, 2] and seen[-1][0] == "fingerprints ready"
        assert ensure_fingerprints(parallel, EngineParams(), workers=2) == 0  # stored: nothing to do again
    finally:
        serial.dispose()
        parallel.dispose()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_reference_changed_since_import_is_named(tmp_path: Path, workers: int) -> None:
    registry = _registry(tmp_path)
    try:
        with (tmp_path / "footage" / FILES[1]).open("ab") as fh:
            fh.write(b"\0" * 16)
        with pytest.raises(
            ScanError, match=r"reference footage/pixelworks-pong-attract\.mp4 of work pw-pong: .*changed"
        ):
            ensure_fingerprints(registry, EngineParams(), workers=workers)
    finally:
        registry.dispose()


def test_registry_fingerprint_command(tmp_path: Path) -> None:
    _registry(tmp_path).dispose()
    db = f"sqlite:///{tmp_path / 'registry.db'}"
    env = {k: v for k, v in os.environ.items() if k != "PROVENANCE_DB"}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "provenance", "--db", db, "registry", "fingerprint", "-j", "2"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    first = run()
    assert first.returncode == 0, first.stderr
    assert "2 reference(s) fingerprinted" in first.stderr
    # the index scans open is written too: a directory under PROVENANCE_INDEX_DIR (the test session's), complete
    ready = re.search(r"reference index ready in (\S+)", " ".join(first.stderr.split()))
    assert ready is not None, first.stderr
    assert (Path(ready.group(1)) / "index.json").is_file()
    again = run()
    assert again.returncode == 0 and "0 reference(s) fingerprinted" in again.stderr
    assert ready.group(1) in " ".join(again.stderr.split())  # the same state: the same directory


def test_registry_fingerprint_creates_no_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PROVENANCE_DB"}
    done = subprocess.run(
        [sys.executable, "-m", "provenance", "--db", f"sqlite:///{tmp_path / 'none.db'}", "registry", "fingerprint"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3 and "no registry database at" in done.stderr
    assert not (tmp_path / "none.db").exists()
