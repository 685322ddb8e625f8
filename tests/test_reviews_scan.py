"""Review decisions change the next scan, as users run it (the CLI in a real process) on the bundled sample,
with the registry on a SQLite file and on the real PostgreSQL server: the report's layers, exposure and reason,
the cleared and held-back lists and the ``--fail-on`` exit code follow the decisions; a reference stretch marked
generic stops matching."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provenance.audit import scan
from provenance.engine import EngineParams
from rightsdb import Registry
from rightsdb.queries import work_detail
from rightsdb.reviews import GenericSpec, record_decision

from .apihelp import BOTH_DATABASES, SAMPLE, fingerprinted_sqlite, sample_registry_url

pytestmark = pytest.mark.slow

COPY = SAMPLE / "dataset" / "reupload" / "e1m1_reencode.mp4"
PONG_CLIP = SAMPLE / "dataset" / "retro" / "pong_fast_gamma.mp4"
PONG = "footage/pixelworks-pong-attract.mp4"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fingerprinted_sqlite(tmp_path_factory)


@pytest.fixture(params=BOTH_DATABASES)
def db(request: pytest.FixtureRequest, template: Path, tmp_path: Path) -> Iterator[str]:
    """The fingerprinted sample registry on a SQLite file or in a fresh PostgreSQL database."""
    server, pg = None, None
    if request.param == "postgres":
        server = request.getfixturevalue("pg_server")
        pg = server.fresh()
    try:
        yield sample_registry_url(request.param, template, tmp_path, pg)
    finally:
        if server is not None and pg is not None:
            server.drop(pg)


def run(*args: str, cwd: Path, user: str | None = "bob") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PROVENANCE_DB", "USER")}
    env.update(COLUMNS="250", **({"USER": user} if user else {}))
    return subprocess.run(
        [sys.executable, "-m", "provenance", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _scan(db: str, ds: Path, tmp: Path, name: str) -> tuple[int, dict[str, Any], list[str], list[str]]:
    out, clean, flagged = tmp / f"{name}.json", tmp / f"{name}.clean", tmp / f"{name}.flagged"
    done = run(
        "--db", db, "scan", str(ds), "--out", str(out), "--fail-on", "medium", "--workers", "1",
        "--emit-clean", str(clean), "--emit-flagged", str(flagged), cwd=tmp,
    )  # fmt: skip
    assert done.returncode in (0, 4), done.stderr
    report = json.loads(out.read_text())
    return done.returncode, report, clean.read_text().split(), flagged.read_text().split()


def _clip(report: dict[str, Any], path: str) -> dict[str, Any]:
    return next(c for c in report["clips"] if c["path"] == path)


def test_a_decision_changes_the_next_scan(db: str, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    (ds / "reupload").mkdir(parents=True)
    (ds / "retro").mkdir()
    shutil.copyfile(COPY, ds / "reupload" / "e1m1.mp4")
    shutil.copyfile(PONG_CLIP, ds / "retro" / "pong.mp4")

    code, first, clean, flagged = _scan(db, ds, tmp_path, "first")
    assert code == 4 and clean == [] and flagged == ["retro/pong.mp4", "reupload/e1m1.mp4"]
    assert _clip(first, "reupload/e1m1.mp4")["exposure"] == "high"
    assert _clip(first, "retro/pong.mp4")["exposure"] == "medium"
    assert "disputes_open" not in first["scan"]  # no dispute anywhere: the scan facts are as before

    by_path = run(
        "--db", db, "review", "set", "reupload/e1m1.mp4", "freedoom", "--report", str(tmp_path / "first.json"),
        "--decision", "false_match", "--note", "a fan remake, checked frame by frame", "--by", "alice", cwd=tmp_path,
    )  # fmt: skip
    assert by_path.returncode == 0, by_path.stderr
    refused = run(
        "--db", db, "review", "set", _sha(PONG_CLIP), "pw-pong", "--decision", "licensed", "--note", "bought",
        cwd=tmp_path,
    )  # fmt: skip
    assert refused.returncode == 2 and "licence" in refused.stderr  # licensed needs its licence reference
    licensed = run(
        "--db", db, "review", "set", _sha(PONG_CLIP), "pw-pong", "--decision", "licensed", "--note", "bought",
        "--licence", "PX-2026-7", cwd=tmp_path,
    )  # fmt: skip
    assert licensed.returncode == 0, licensed.stderr

    code, second, clean, flagged = _scan(db, ds, tmp_path, "second")
    assert code == 0 and clean == ["retro/pong.mp4", "reupload/e1m1.mp4"] and flagged == []
    e1m1 = _clip(second, "reupload/e1m1.mp4")
    assert e1m1["exposure"] == "none" and [x["work"] for x in e1m1["layers"]] == ["freedoom"]  # kept, dismissed
    review = e1m1["layers"][0]["review"]
    assert review["decision"] == "false_match" and review["by"] == "cli:alice" and "fan remake" in review["note"]
    assert e1m1["reason"].startswith("No registered work remains after review.")
    assert e1m1["layers"][0]["segments"] == _clip(first, "reupload/e1m1.mp4")["layers"][0]["segments"]
    pong = _clip(second, "retro/pong.mp4")
    assert pong["exposure"] == "low" and pong["layers"][0]["verdict"] == "allowed"
    assert pong["layers"][0]["policy"]["stated"] == "unknown"
    assert pong["layers"][0]["review"]["licence"] == "PX-2026-7" and pong["layers"][0]["review"]["by"] == "cli:bob"

    again = run(
        "--db", db, "review", "set", _sha(COPY), "freedoom", "--decision", "confirmed", "--note", "E1M1 after all",
        "--by", "carol", cwd=tmp_path,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    code, third, _, flagged = _scan(db, ds, tmp_path, "third")
    assert code == 4 and flagged == ["reupload/e1m1.mp4"]
    assert _clip(third, "reupload/e1m1.mp4")["exposure"] == "high"
    assert _clip(third, "reupload/e1m1.mp4")["layers"][0]["review"]["decision"] == "confirmed"

    history = run("--db", db, "review", "list", "--clip", _sha(COPY), "--history", cwd=tmp_path)
    assert history.returncode == 0, history.stderr
    lines = [line for line in history.stdout.splitlines() if "freedoom" in line]
    assert len(lines) == 2 and "superseded" in lines[0] and "false_match" in lines[0] and "confirmed" in lines[1]
    current = run("--db", db, "review", "list", cwd=tmp_path)
    assert "false_match" not in current.stdout and "confirmed" in current.stdout and "PX-2026-7" in current.stdout


def test_a_reference_stretch_marked_generic_stops_matching(db: str, tmp_path: Path) -> None:
    registry = Registry(db)
    try:
        first = scan(registry, PONG_CLIP, EngineParams())
        assert [x.work for x in first.clips[0].layers] == ["pw-pong"]
        found = work_detail(registry, "pw-pong")
        assert found is not None
        length = next(r.duration_s for r in found.references if r.path == PONG)
        record_decision(
            registry, _sha(PONG_CLIP), "pw-pong", "false_match", "the attract loop every re-release shows", "cli:a",
            generic=GenericSpec(PONG, 0.0, length),
        )  # fmt: skip
        second = scan(registry, PONG_CLIP, EngineParams())  # no --rescan: the match key changed
        assert second.scan is not None and first.scan is not None
        assert second.scan.match_key != first.scan.match_key
        assert second.scan.registry_digest != first.scan.registry_digest
        assert second.clips[0].layers == [] and second.clips[0].exposure == "none"

        record_decision(registry, _sha(PONG_CLIP), "pw-pong", "confirmed", "a registered copy after all", "cli:b")
        third = scan(registry, PONG_CLIP, EngineParams())  # the stretch is matched again (its result was stored)
        assert third.scan is not None and third.scan.match_key == first.scan.match_key
        assert [x.work for x in third.clips[0].layers] == ["pw-pong"] and third.clips[0].exposure == "medium"
    finally:
        registry.dispose()


def test_a_registered_still_marked_generic_is_no_longer_found(db: str) -> None:
    """New gameplay is found through the game's HUD (a registered still); marked generic as a whole, the HUD is
    not matched any more (what else the clip matches is the engine's own)."""
    clip = SAMPLE / "dataset" / "gameplay" / "freedoom_e1m2_new.mp4"
    hud = "assets/freedoom-hud.png"
    registry = Registry(db)
    try:
        first = scan(registry, clip, EngineParams())
        refs = {e.reference for x in first.clips[0].layers for e in x.evidence}
        assert hud in refs
        record_decision(
            registry, _sha(clip), "freedoom", "false_match", "every map of this engine shows this HUD", "cli:a",
            generic=GenericSpec(hud),
        )  # fmt: skip
        second = scan(registry, clip, EngineParams())
        assert hud not in {e.reference for x in second.clips[0].layers for e in x.evidence}
        assert all(s.reference != hud for x in second.clips[0].layers for s in x.segments)
    finally:
        registry.dispose()
