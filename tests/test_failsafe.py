"""Fail closed (issue 17, items 1-4): what a scan cannot vouch for is never listed clean.

Real processes (``python -m provenance``) on real files, on SQLite and on the real PostgreSQL server: an empty or
missing registry is refused and never created, unreadable clips are ``unknown`` and trip ``--fail-on``, a name
with a line break cannot inject a line into the cleared list, and a reference file replaced after import stops
the scan instead of losing its layer.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provenance.cli.app import EXIT_FINDINGS, EXIT_REGISTRY, EXIT_STORE

from .apihelp import Service

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "fixtures" / "sample"
OVERLAY = SAMPLE / "registry" / "assets" / "nightowl-overlay.png"
OTHER_STILL = SAMPLE / "registry" / "assets" / "freedoom-hud.png"
STREAM_CLIP = SAMPLE / "dataset" / "streams" / "nightowl_highlight.mp4"  # shows NightOwl's overlay
CLEAN_CLIP = SAMPLE / "dataset" / "clean" / "bikes.mp4"
CORRUPT = REPO / "fixtures" / "media" / "corrupt.mp4"
INJECTED = "x\nflagged.mp4"  # a clean clip whose name, read one line at a time, is "x" and "flagged.mp4"

MANIFEST = """\
holders:
  - {id: nightowl, name: NightOwl Plays, kind: streamer}
works:
  - id: nightowl-channel
    title: NightOwl Plays
    holder: nightowl
    layer: stream
    policy: {ai_training: conditional}
    references:
      - {path: assets/nightowl-overlay.png, kind: asset}
"""


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``provenance ARGS`` in a pipeline: no terminal, no PROVENANCE_DB."""
    env = {k: v for k, v in os.environ.items() if k not in ("PROVENANCE_DB", "COLUMNS", "LINES")}
    return subprocess.run(
        [sys.executable, "-m", "provenance", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def overlay_registry(root: Path, db_url: str) -> Path:
    """A registry of one streamer's overlay (an asset: nothing to fingerprint), imported into ``db_url``."""
    (root / "reg" / "assets").mkdir(parents=True)
    shutil.copyfile(OVERLAY, root / "reg" / "assets" / OVERLAY.name)
    manifest = root / "reg" / "manifest.yaml"
    manifest.write_text(MANIFEST)
    result = run("registry", "import", str(manifest), "--db", db_url, cwd=root)
    assert result.returncode == 0, result.stderr
    return manifest


def dataset(root: Path, clips: dict[str, Path]) -> Path:
    (root / "ds").mkdir(exist_ok=True)
    for name, src in clips.items():
        shutil.copyfile(src, root / "ds" / name)
    return root / "ds"


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


# ------------------------------------------------------------------------------------------------ item 1


def test_a_forgotten_db_creates_nothing_and_is_refused(tmp_path: Path) -> None:
    """No ``--db``: the default ``./provenance.db`` does not exist, so scan and read-only commands fail with one
    line naming it (exit 3) and leave no file behind; ``report --html`` renders without reference thumbnails."""
    ds = dataset(tmp_path, {"clean.mp4": CLEAN_CLIP})
    work = _mkdir(tmp_path / "elsewhere")
    default = work / "provenance.db"
    scanned = run("scan", str(ds), "--out", "r.json", "--emit-clean", "clean.txt", cwd=work)
    assert scanned.returncode == EXIT_STORE, scanned.stderr
    assert str(default) in error_line(scanned) and "nothing was created" in error_line(scanned)
    for command in (("registry", "list"), ("registry", "show", "w"), ("keys", "list")):
        result = run(*command, cwd=work)
        assert result.returncode == EXIT_STORE and str(default) in error_line(result), (command, result.stderr)
    stored = tmp_path / "stored.json"
    stored.write_text(json.dumps({"clips": [{**_plain("a.mp4"), "exposure": "none"}]}))
    page = run("report", str(stored), "--html", "r.html", cwd=work)
    assert page.returncode == 0, page.stderr
    assert (work / "r.html").stat().st_size > 0 and str(default) in page.stderr
    assert sorted(p.name for p in work.iterdir()) == ["r.html"]  # no provenance.db, no report.json, no list


def test_an_empty_zero_byte_database_is_not_migrated_by_a_read_only_command(tmp_path: Path) -> None:
    empty = tmp_path / "provenance.db"
    empty.touch()
    listed = run("registry", "list", cwd=tmp_path)
    assert listed.returncode == EXIT_STORE and "no schema" in error_line(listed)
    assert empty.stat().st_size == 0


def test_an_empty_registry_is_refused_unless_forced_and_then_clears_nothing(tmp_path: Path, db_url: str) -> None:
    upgraded = run("db", "upgrade", "--db", db_url, cwd=tmp_path)  # a registry with its schema and no reference
    assert upgraded.returncode == 0, upgraded.stderr
    ds = dataset(tmp_path, {"a.mp4": CLEAN_CLIP, "b.mp4": STREAM_CLIP})
    refused = run("scan", str(ds), "--db", db_url, "--out", "r.json", "--emit-clean", "c.txt", "-j", "1", cwd=tmp_path)
    assert refused.returncode == EXIT_REGISTRY, refused.stderr
    assert "holds no references" in error_line(refused) and "--allow-empty-registry" in error_line(refused)
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "c.txt").exists()

    forced = run(
        "scan", str(ds), "--db", db_url, "--allow-empty-registry", "--out", "r.json",
        "--emit-clean", "c.txt", "--emit-flagged", "f.txt", "-j", "1", cwd=tmp_path,
    )  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert {c["exposure"] for c in report["clips"]} == {"unknown"}
    assert all(c["reason"].startswith("Not checked") for c in report["clips"])
    assert (tmp_path / "c.txt").read_text() == ""
    assert sorted((tmp_path / "f.txt").read_text().splitlines()) == ["a.mp4", "b.mp4"]
    assert "2 clips: 0 high, 0 medium, 0 low, 0 none, 2 unknown, 0 errors" in forced.stderr
    gate = run("report", str(tmp_path / "r.json"), "--fail-on", "high", cwd=tmp_path)
    assert gate.returncode == EXIT_FINDINGS, gate.stderr


# ------------------------------------------------------------------------------------------------ items 2 and 3


def _plain(path: str) -> dict[str, Any]:
    return {"path": path, "sha256": "0" * 64, "duration_s": 1.0, "error": None, "layers": []}


def test_unreadable_clips_are_unknown_and_names_cannot_inject_lines(tmp_path: Path, db_url: str) -> None:
    """A scan with an unreadable clip, a flagged clip and a clean clip named ``x\\nflagged.mp4``."""
    overlay_registry(tmp_path, db_url)
    ds = dataset(tmp_path, {"flagged.mp4": STREAM_CLIP, INJECTED: CLEAN_CLIP, "broken.mp4": CORRUPT})
    result = run(
        "scan", str(ds), "--db", db_url, "--out", "r.json", "--emit-clean", "c.txt", "--emit-flagged", "f.txt",
        "--fail-on", "high", "-j", "1", cwd=tmp_path,
    )  # fmt: skip
    # nothing is high: only the unreadable clip, exposure unknown, trips the gate
    assert result.returncode == EXIT_FINDINGS, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    clips = {c["path"]: c for c in report["clips"]}
    assert clips["broken.mp4"]["exposure"] == "unknown" and clips["broken.mp4"]["error"]
    assert clips["flagged.mp4"]["exposure"] == "medium"
    assert [la["work"] for la in clips["flagged.mp4"]["layers"]] == ["nightowl-channel"]
    assert clips[INJECTED]["exposure"] == "none"
    assert report["scan"]["summary"] == {"none": 1, "low": 0, "medium": 1, "high": 0, "unknown": 1, "errors": 1}
    assert "3 clips: 0 high, 1 medium, 0 low, 1 none, 1 unknown, 1 errors" in result.stderr
    assert "e.g. broken.mp4" in result.stderr

    cleared = (tmp_path / "c.txt").read_text()
    assert "flagged.mp4" not in cleared.splitlines() and cleared == ""  # the only clean clip cannot be a line
    held = (tmp_path / "f.txt").read_text().splitlines()
    assert sorted(held) == sorted(["flagged.mp4", "x\\nflagged.mp4", "broken.mp4"])  # escaped, on one line
    assert "use --lists-format nul or jsonl" in result.stderr

    for fmt in ("nul", "jsonl"):
        again = run(
            "report", str(tmp_path / "r.json"), "--lists-format", fmt,
            "--emit-clean", f"c.{fmt}", "--emit-flagged", f"f.{fmt}", cwd=tmp_path,
        )  # fmt: skip
        assert again.returncode == 0, again.stderr
    assert (tmp_path / "c.nul").read_bytes() == INJECTED.encode() + b"\0"
    assert sorted((tmp_path / "f.nul").read_bytes().split(b"\0")) == [b"", b"broken.mp4", b"flagged.mp4"]
    rows = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert rows == [{"path": INJECTED, "exposure": "none", "reason": clips[INJECTED]["reason"]}]
    held_rows = {r["path"]: r for r in map(json.loads, (tmp_path / "f.jsonl").read_text().splitlines())}
    assert set(held_rows) == {"flagged.mp4", "broken.mp4"} and held_rows["broken.mp4"]["exposure"] == "unknown"


def test_stored_reports_from_before_unknown_still_hold_unreadable_clips_back(tmp_path: Path) -> None:
    """A report written when unreadable clips were ``none``: the gate and the lists still hold them back."""
    stored = tmp_path / "old.json"
    old = [
        {**_plain("bad.mp4"), "exposure": "none", "error": "bad.mp4: empty file"},
        {**_plain("ok.mp4"), "exposure": "none"},
    ]
    stored.write_text(json.dumps({"clips": old}))
    result = run("report", str(stored), "--emit-clean", "c.txt", "--fail-on", "medium", cwd=tmp_path)
    assert result.returncode == EXIT_FINDINGS, result.stderr
    assert (tmp_path / "c.txt").read_text() == "ok.mp4\n"
    assert "2 clips: 0 high, 0 medium, 0 low, 1 none, 1 unknown, 1 errors" in result.stderr


# ------------------------------------------------------------------------------------------------ item 4


def test_a_replaced_asset_stops_the_scan_instead_of_losing_its_layer(tmp_path: Path, db_url: str) -> None:
    overlay_registry(tmp_path, db_url)
    ds = dataset(tmp_path, {"stream.mp4": STREAM_CLIP})
    first = run("scan", str(ds), "--db", db_url, "--out", "r1.json", "-j", "1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    layers = json.loads((tmp_path / "r1.json").read_text())["clips"][0]["layers"]
    assert [la["layer"] for la in layers] == ["stream"]

    shutil.copyfile(OTHER_STILL, tmp_path / "reg" / "assets" / OVERLAY.name)  # replaced after import
    second = run(
        "scan", str(ds), "--db", db_url, "--out", "r2.json", "--emit-clean", "c.txt", "--rescan", "-j", "1",
        cwd=tmp_path,
    )  # fmt: skip
    assert second.returncode == EXIT_REGISTRY, second.stderr
    line = error_line(second)
    assert "nightowl-channel" in line and "assets/nightowl-overlay.png" in line and "re-import" in line
    assert not (tmp_path / "r2.json").exists() and not (tmp_path / "c.txt").exists()

    (tmp_path / "reg" / "assets" / OVERLAY.name).unlink()  # missing: the same
    third = run("scan", str(ds), "--db", db_url, "--out", "r3.json", "-j", "2", cwd=tmp_path)
    assert third.returncode == EXIT_REGISTRY and "missing or has changed" in error_line(third)

    shutil.copyfile(OTHER_STILL, tmp_path / "reg" / "assets" / OVERLAY.name)
    reimported = run("registry", "import", str(tmp_path / "reg" / "manifest.yaml"), "--db", db_url, cwd=tmp_path)
    assert reimported.returncode == 0, reimported.stderr  # the new content registered: scans go on
    fourth = run("scan", str(ds), "--db", db_url, "--out", "r4.json", "-j", "1", cwd=tmp_path)
    assert fourth.returncode == 0, fourth.stderr


# ------------------------------------------------------------------------------------------------ item 5


def test_tar_member_names_are_normalised_and_escaping_ones_refused(tmp_path: Path) -> None:
    """Members ``./a//b.mp4`` and ``x/../c.mp4`` are listed normalised and read; ``../../evil.mp4`` and
    ``/abs.mp4`` are refused one by one, named by one harmless path component, never by a path leading out."""
    import tarfile

    data = CLEAN_CLIP.read_bytes()
    shard = tmp_path / "ds" / "shard.tar"
    shard.parent.mkdir()
    with tarfile.open(shard, "w", format=tarfile.GNU_FORMAT) as tf:
        for name in ("ok.mp4", "./a//b.mp4", "x/../c.mp4", "../../evil.mp4", "/abs.mp4"):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    dry = run("scan", str(tmp_path / "ds"), "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    listed = dry.stdout.splitlines()
    good = ["shard.tar/ok.mp4", "shard.tar/a/b.mp4", "shard.tar/c.mp4"]
    assert [p for p in listed if p in good] == good  # in archive order
    refused = [p for p in listed if p not in good]
    assert sorted(refused) == ["shard.tar/%2E%2E%2F%2E%2E%2Fevil%2Emp4", "shard.tar/%2Fabs%2Emp4"], listed
    problems = [line for line in dry.stderr.splitlines() if line.startswith("cannot read")]
    assert len(problems) == 2, dry.stderr  # the three good members are read (probed) under their new names
    assert any("'../../evil.mp4' not read: its name leads out of the archive" in line for line in problems)
    assert any("'/abs.mp4' not read" in line for line in problems)
    assert "dry run: 5 clips (2 unreadable)" in dry.stderr


def test_a_normalised_member_is_scanned_and_its_source_names_it(tmp_path: Path, db_url: str) -> None:
    import tarfile

    overlay_registry(tmp_path, db_url)
    data = STREAM_CLIP.read_bytes()
    shard = tmp_path / "ds" / "shard.tar"
    shard.parent.mkdir()
    with tarfile.open(shard, "w", format=tarfile.GNU_FORMAT) as tf:
        for name in ("./s//stream.mp4", "../evil.mp4"):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    result = run(
        "scan", str(tmp_path / "ds"), "--db", db_url, "--out", "r.json", "--emit-clean", "c.txt",
        "--emit-flagged", "f.txt", "-j", "1", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    clips = {c["path"]: c for c in json.loads((tmp_path / "r.json").read_text())["clips"]}
    good = clips["shard.tar/s/stream.mp4"]
    assert good["path"] == "shard.tar/s/stream.mp4" and good["source"] == {
        "shard": "shard.tar",
        "member": "s/stream.mp4",
    }
    assert [la["layer"] for la in good["layers"]] == ["stream"]  # read and matched under its normalised name
    bad = clips["shard.tar/%2E%2E%2Fevil%2Emp4"]
    assert bad["exposure"] == "unknown" and "leads out of the archive" in bad["error"]
    assert (tmp_path / "c.txt").read_text() == ""
    assert sorted((tmp_path / "f.txt").read_text().splitlines()) == sorted(clips)  # medium, and the refused one


# ------------------------------------------------------------------------------------------------ the service


@pytest.fixture
def service(tmp_path: Path, db_url: str) -> Iterator[Service]:
    """The service on a registry with nothing in it (a fresh database on SQLite or PostgreSQL), an auditor key."""
    from fastapi.testclient import TestClient

    from api import ApiSettings, create_app
    from rightsdb.keys import create_key

    data = _mkdir(tmp_path / "data")
    cfg = ApiSettings(db=db_url, data_roots=str(data), media_dir=str(tmp_path / "media"), upload_dir=str(tmp_path))  # type: ignore[call-arg]
    app = create_app(cfg)
    keys = {"auditor": create_key(app.state.registry, "auditor", None)[1]}
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Service(app, client, app.state.registry, keys, data, cfg)


def test_service_refuses_to_check_or_scan_against_an_empty_registry(service: Service) -> None:
    ds = service.data / "ds"
    ds.mkdir()
    shutil.copyfile(CLEAN_CLIP, ds / "clean.mp4")
    auth = service.auth("auditor")
    scan = service.client.post("/v1/scans", json={"dataset": str(ds)}, headers=auth)
    assert scan.status_code == 409, scan.text
    assert scan.json()["code"] == "empty_registry" and "holds no references" in scan.json()["detail"]
    assert service.client.get("/v1/scans", headers=auth).json()["items"] == []  # no job was queued
    by_path = service.client.post("/v1/clips/check", json={"path": str(ds / "clean.mp4")}, headers=auth)
    assert by_path.status_code == 409 and by_path.json()["code"] == "empty_registry", by_path.text
    with CLEAN_CLIP.open("rb") as f:
        upload = service.client.post("/v1/clips/check", files={"file": ("clean.mp4", f, "video/mp4")}, headers=auth)
    assert upload.status_code == 409 and upload.json()["code"] == "empty_registry", upload.text
    assert upload.headers["content-type"].startswith("application/problem+json")


def test_service_refuses_a_check_when_an_asset_changed_since_import(service: Service, tmp_path: Path) -> None:
    from provenance.audit.manifests import import_manifest_file

    (tmp_path / "reg" / "assets").mkdir(parents=True)
    shutil.copyfile(OVERLAY, tmp_path / "reg" / "assets" / OVERLAY.name)
    (tmp_path / "reg" / "manifest.yaml").write_text(MANIFEST)
    import_manifest_file(service.registry, tmp_path / "reg" / "manifest.yaml")
    shutil.copyfile(OTHER_STILL, tmp_path / "reg" / "assets" / OVERLAY.name)
    shutil.copyfile(STREAM_CLIP, service.data / "stream.mp4")
    r = service.client.post(
        "/v1/clips/check", json={"path": str(service.data / "stream.mp4")}, headers=service.auth("auditor")
    )
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "reference_changed"
    assert "nightowl-channel" in r.json()["detail"] and "assets/nightowl-overlay.png" in r.json()["detail"]
