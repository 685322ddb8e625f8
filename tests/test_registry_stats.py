"""``provenance registry stats``: what the registry holds, counted in the database, and the index's memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from provenance.audit import ensure_fingerprints, stats
from provenance.audit.manifests import import_manifest_file
from provenance.audit.stats import registry_facts
from provenance.engine import FINGERPRINT_VERSION, EngineParams
from rightsdb import Registry

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample"


def test_counts_and_index_memory_of_the_sample(db_url: str) -> None:
    registry = Registry(db_url)
    try:
        import_manifest_file(registry, SAMPLE / "registry" / "manifest.yaml")
        before = registry_facts(registry, EngineParams())
        assert before["holders"] == 4
        assert before["works"] == {"game": 3, "stream": 1, "ugc": 1}
        assert before["references"]["footage"]["count"] == 5
        assert before["references"]["asset"]["count"] == 2
        assert before["fingerprints"] == {}  # nothing fingerprinted yet
        ensure_fingerprints(registry, EngineParams())
        facts = registry_facts(registry, EngineParams(), measure_index=True)
        stored = facts["fingerprints"]["provenance-footage"]
        assert stored["count"] == 5 and stored["bytes"] > 100_000
        # the references' sound is fingerprinted too, at its own version: none of it is stale
        assert facts["fingerprints"]["provenance-audio"]["count"] >= 1
        assert facts["stale_fingerprints"] == 0
        assert facts["fingerprint_version"] == FINGERPRINT_VERSION
        seconds = facts["references"]["footage"]["seconds"]
        assert 10 < seconds < 600 and facts["footage_hours"] == round(seconds / 3600, 3)
        index = facts["index"]
        assert index["footage_references"] == 5 and index["assets"] == 2
        assert index["total_bytes"] == sum(index["bytes"].values())
        assert all(index["bytes"][part] > 0 for part in ("hash_rows", "feature_bank", "assets", "shortlist"))
        if db_url.startswith("sqlite"):
            assert facts["database_bytes"] > stored["bytes"]
        # on disk: the mapped parts (hash rows, prints, feature bank) are not held by each worker,
        disk = facts["index_on_disk"]
        assert Path(disk["path"]).is_dir() and disk["bytes"] > index["bytes"]["feature_bank"]
        # nor the asset detectors and their shortlist: opened, each worker holds no more than the templates it makes
        assert disk["private_bytes"] == 0
        # a small index beside this machine's memory is read ahead; one past a quarter of it, paged at random
        assert disk["memory_budget_bytes"] > 4 * disk["bytes"] and disk["read_at_random"] is False
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(stats, "memory_budget", lambda: 2 * disk["bytes"])
            tight = registry_facts(registry, EngineParams(), measure_index=True)["index_on_disk"]
        assert tight["memory_budget_bytes"] == 2 * disk["bytes"] and tight["read_at_random"] is True
    finally:
        registry.dispose()


def test_cli_prints_json_and_never_creates_a_database(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    url = f"sqlite:///{db}"
    missing = subprocess.run(
        [sys.executable, "-m", "provenance", "--db", url, "registry", "stats"], capture_output=True, text=True
    )
    assert missing.returncode == 3 and "no registry database" in missing.stderr and not db.exists()
    cmd = [sys.executable, "-m", "provenance", "--db", url]
    subprocess.run([*cmd, "registry", "import", str(SAMPLE / "registry" / "manifest.yaml")], check=True)
    shown = subprocess.run([*cmd, "registry", "stats", "--json"], capture_output=True, text=True, check=True)
    facts = json.loads(shown.stdout)
    assert facts["holders"] == 4 and facts["references"]["asset"]["count"] == 2
