"""Resumable and incremental scans, through the real CLI in real processes.

A scan killed with SIGKILL in the middle, run again, must finish with the report an uninterrupted scan
writes (nothing lost, nothing counted twice), and a registry change that cannot change matches (a policy)
must re-render stored results without matching again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample"
CLIPS = [  # a copy, new gameplay (local-feature matches), a stream composite, clean footage
    "reupload/e1m1_mirrored_watermark.mp4",
    "gameplay/freedoom_e1m2_new.mp4",
    "streams/nightowl_highlight.mp4",
    "clean/bikes.mp4",
    "retro/pong_fast_gamma.mp4",
]

pytestmark = pytest.mark.slow


def _cli(db: Path, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provenance", "--db", f"sqlite:///{db}", *args],
        capture_output=True,
        text=True,
        check=False,
        **kw,
    )


def _done(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM clip_results").fetchone()[0])


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("resume")
    dataset = root / "dataset"
    for rel in CLIPS:
        (dataset / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLE / "dataset" / rel, dataset / rel)
    registry = root / "registry"
    shutil.copytree(SAMPLE / "registry", registry)
    db = root / "fingerprinted.db"
    assert _cli(db, "registry", "import", str(registry / "manifest.yaml")).returncode == 0
    (root / "empty").mkdir()
    first = _cli(db, "scan", str(root / "empty"), "--out", str(root / "empty.json"))  # fingerprints the registry
    assert first.returncode == 0, first.stderr
    uninterrupted = root / "a.db"
    shutil.copyfile(db, uninterrupted)
    run = _cli(uninterrupted, "scan", str(dataset), "--out", str(root / "a.json"), "--workers", "1")
    assert run.returncode == 0, run.stderr
    return {"root": root, "dataset": dataset, "db": db, "registry": registry, "a": root / "a.json"}


def test_killed_scan_resumes_to_the_same_report(setup: dict[str, Path]) -> None:
    root, dataset = setup["root"], setup["dataset"]
    db = root / "b.db"
    shutil.copyfile(setup["db"], db)
    out = root / "b.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "provenance",
            "--db",
            f"sqlite:///{db}",
            "scan",
            str(dataset),
            "--out",
            str(out),
            "--workers",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while _done(db) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the scan and its worker processes, mid-scan
    proc.wait()
    killed_at = _done(db)
    assert 2 <= killed_at < len(CLIPS), f"the scan was not interrupted in the middle ({killed_at} done)"
    assert not out.exists()

    again = _cli(db, "scan", str(dataset), "--out", str(out), "--workers", "2")
    assert again.returncode == 0, again.stderr
    assert f"{killed_at} clips reused" in again.stderr
    resumed = json.loads(out.read_text())
    expected = json.loads(setup["a"].read_text())
    assert resumed == expected  # whole report: segments, evidence, confidences, order
    assert _done(db) == len(CLIPS)  # one stored result per clip: nothing counted twice


def test_policy_change_rerenders_without_matching(setup: dict[str, Path]) -> None:
    root = setup["root"]
    db = root / "c.db"
    shutil.copyfile(root / "a.db", db)
    before = json.loads(setup["a"].read_text())
    flagged = {c["path"]: c for c in before["clips"] if any(x["work"] == "freedoom" for x in c["layers"])}
    assert flagged, "the sample's Freedoom copies must be found"
    assert all(c["exposure"] == "high" for c in flagged.values())

    manifest = yaml.safe_load((setup["registry"] / "manifest.yaml").read_text())
    for work in manifest["works"]:
        if work["id"] == "freedoom":
            work["policy"] = {"ai_training": "allow", "license": "BSD-3-Clause", "valid_until": "2020-12-31"}
    edited = setup["registry"] / "edited.yaml"
    edited.write_text(yaml.safe_dump(manifest))
    assert _cli(db, "registry", "import", str(edited)).returncode == 0

    out = root / "c.json"
    run = _cli(db, "scan", str(setup["dataset"]), "--out", str(out), "--as-of", "2026-06-01")
    assert run.returncode == 0, run.stderr
    assert f"{len(CLIPS)} clips reused" in run.stderr  # nothing matched again
    after = {c["path"]: c for c in json.loads(out.read_text())["clips"]}
    for path, clip in flagged.items():
        layer = next(x for x in after[path]["layers"] if x["work"] == "freedoom")
        assert layer["policy"]["ai_training"] == "unknown"  # allowed, but only until 2020
        assert layer["policy"]["stated"] == "allow"
        assert "expired on 2020-12-31" in layer["policy"]["note"]
        assert layer["segments"] == next(x for x in clip["layers"] if x["work"] == "freedoom")["segments"]
        assert after[path]["exposure"] in ("medium", "high")  # high only if another layer denies
        assert "expired on 2020-12-31" in after[path]["reason"]

    valid = _cli(db, "scan", str(setup["dataset"]), "--out", str(out), "--as-of", "2020-06-01")
    assert valid.returncode == 0, valid.stderr
    again = {c["path"]: c for c in json.loads(out.read_text())["clips"]}
    for path in flagged:
        layer = next(x for x in again[path]["layers"] if x["work"] == "freedoom")
        assert layer["policy"]["ai_training"] == "allow" and layer["verdict"] == "allowed"
