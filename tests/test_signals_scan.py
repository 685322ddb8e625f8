"""Opt-out signals through a real scan (CLI, SQLite file and PostgreSQL): a JSONL manifest dataset whose rows
carry the headers a crawler captured, a robots.txt snapshot (--signals-dir), clips signed with C2PA, and a
stripped re-upload of a registered work whose terms come from a TDM reservation."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from provenance.cli import main
from provenance.cli.app import state
from tests.signing import sign_clip

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample"
REUPLOAD = SAMPLE / "dataset" / "reupload" / "e1m1_reencode.mp4"

ROBOTS = "User-agent: GPTBot\nDisallow: /videos/\n\nUser-agent: *\nDisallow: /admin/\n"


def _run(argv: list[str]) -> int:
    """The CLI run in this process as from a shell: its registry (kept by the CLI's state for one invocation)
    is closed afterwards, so that the next run opens the database its own ``--db`` names."""
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
    finally:
        if state.registry is not None:
            state.registry.dispose()
            state.registry = None
    return int(exit_info.value.code or 0)


def _registry(root: Path) -> Path:
    (root / "footage").mkdir(parents=True)
    shutil.copyfile(SAMPLE / "registry" / "footage" / "freedoom-e1m1-playthrough.mp4", root / "footage" / "e1m1.mp4")
    manifest = {
        "holders": [{"id": "hellgate", "name": "Hellgate Interactive", "kind": "publisher"}],
        "works": [
            {
                "id": "freedoom",
                "title": "Freedoom",
                "holder": "hellgate",
                "layer": "game",
                "policy": {"ai_training": "deny", "source": "tdm-reservation", "url": "https://hellgate.example/tdm"},
                "references": [{"path": "footage/e1m1.mp4", "kind": "footage"}],
            }
        ],
    }
    path = root / "manifest.yaml"
    path.write_text(yaml.safe_dump(manifest))
    return path


def _dataset(root: Path) -> Path:
    clips = root / "clips"
    clips.mkdir(parents=True)
    shutil.copyfile(REUPLOAD, clips / "reupload.mp4")
    sign_clip(REUPLOAD, clips / "reupload_signed.mp4", {"ai_training": "notAllowed"})
    sign_clip(SAMPLE / "dataset" / "clean" / "bikes.mp4", clips / "bikes_signed.mp4", {"data_mining": "constrained"})
    for name in ("bigbuckbunny", "space_invaders", "pixelpanda_stream"):
        shutil.copyfile(SAMPLE / "dataset" / "clean" / f"{name}.mp4", clips / f"{name}.mp4")
    rows: list[dict[str, Any]] = [
        {"path": "clips/reupload.mp4", "source_url": "https://cdn.other.example/u/1.mp4"},
        {"path": "clips/reupload_signed.mp4"},
        {"path": "clips/bikes_signed.mp4"},
        {"path": "clips/bigbuckbunny.mp4", "source_url": "https://www.videos.example/videos/bbb.mp4"},
        {
            "path": "clips/space_invaders.mp4",
            "source_url": "https://videos.example/games/si.mp4",
            "headers": {"X-Robots-Tag": "noai, noimageai"},
            "fetched_at": "2025-05-02",
        },
        {
            "path": "clips/pixelpanda_stream.mp4",
            "source_url": "https://videos.example/admin-free/pp.mp4",
            "content_usage": "train-ai=y, train-genai=y",
            "tdm_reservation": "0",
        },
    ]
    manifest = root / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return manifest


def test_signals_are_joined_with_the_layers_in_a_scan(db_url: str, tmp_path: Path) -> None:
    assert _run(["--db", db_url, "registry", "import", str(_registry(tmp_path / "reg"))]) == 0
    manifest = _dataset(tmp_path / "data")
    snaps = tmp_path / "snapshots" / "videos.example"
    snaps.mkdir(parents=True)
    (snaps / "robots.txt").write_text(ROBOTS)
    out, clean, flagged = tmp_path / "report.json", tmp_path / "clean.txt", tmp_path / "flagged.txt"
    argv = ["--db", db_url, "scan", str(manifest), "--out", str(out), "--signals-dir", str(tmp_path / "snapshots")]
    code = _run([*argv, "-j", "1", "--emit-clean", str(clean), "--emit-flagged", str(flagged), "--fail-on", "high"])
    assert code == 4  # opted-out clips are high
    report = json.loads(out.read_text())
    clips = {c["path"]: c for c in report["clips"]}

    stripped = clips["clips/reupload.mp4"]
    assert [x["work"] for x in stripped["layers"]] == ["freedoom"]
    assert stripped["layers"][0]["policy"]["source"] == "tdm-reservation"
    assert stripped["signals"] == {
        "opt_out": False,
        "verdict": "reservation_stripped",
        "note": "the clip no longer carries the reservation of Freedoom (tdm-reservation): stripped on re-upload",
        "items": [],
    }
    assert stripped["exposure"] == "high" and "stripped on re-upload" in stripped["reason"]
    assert stripped["source_url"] == "https://cdn.other.example/u/1.mp4"  # no snapshot of that domain: nothing

    carried = clips["clips/reupload_signed.mp4"]
    assert [x["work"] for x in carried["layers"]] == ["freedoom"]
    assert carried["signals"]["verdict"] == "opt_out" and carried["signals"]["opt_out"] is True
    (item,) = carried["signals"]["items"]
    assert item["kind"] == "cawg.training-mining" and item["source"] == "c2pa" and item["validation"] == "untrusted"
    assert item["value"] == "ai_training=notAllowed" and item["effect"] == "reserves"

    signed = clips["clips/bikes_signed.mp4"]
    assert signed["layers"] == [] and signed["exposure"] == "high"
    assert signed["signals"]["verdict"] == "opt_out_unregistered"
    assert signed["signals"]["items"][0]["value"] == "data_mining=constrained"
    assert signed["reason"].startswith("High exposure: no registered work matched, but the clip carries an opt-out")

    robots = clips["clips/bigbuckbunny.mp4"]
    (item,) = robots["signals"]["items"]
    assert (item["kind"], item["source"], item["effect"]) == ("robots.txt", "robots", "reserves")
    assert item["detail"] == "videos.example/robots.txt: GPTBot: Disallow: /videos/"  # www. finds the domain
    assert robots["signals"]["verdict"] == "opt_out_unregistered" and robots["exposure"] == "high"

    header = clips["clips/space_invaders.mp4"]
    (item,) = header["signals"]["items"]
    assert item == {
        "kind": "X-Robots-Tag",
        "value": "noai, noimageai",
        "source": "header",
        "effect": "reserves",
        "date": "2025-05-02",
    }

    allowed = clips["clips/pixelpanda_stream.mp4"]
    assert allowed["exposure"] == "none" and allowed["signals"]["verdict"] == "allowed"
    assert {(i["kind"], i["effect"]) for i in allowed["signals"]["items"]} == {
        ("Content-Usage", "allows"),
        ("tdm-reservation", "allows"),
    }
    assert clean.read_text() == "clips/pixelpanda_stream.mp4\n"  # the only clip cleared for training
    assert len(flagged.read_text().splitlines()) == 5
    assert report["scan"]["summary"]["high"] == 5

    # a stored report renders the same lists and gate again
    again = tmp_path / "again.txt"
    assert _run(["report", str(out), "--emit-clean", str(again), "--fail-on", "high"]) == 4
    assert again.read_text() == clean.read_text()

    # the EU summary counts the domains of source_url and how the opt-outs were honoured
    assert _run(["summary", str(out), "--eu-ai-act", "--out", str(tmp_path / "eu")]) == 0
    summary = json.loads((tmp_path / "eu" / "eu-ai-act-summary.json").read_text())
    seconds = {c["path"]: c["duration_s"] for c in report["clips"]}
    ours = sum(seconds[f"clips/{n}.mp4"] for n in ("bigbuckbunny", "space_invaders", "pixelpanda_stream"))
    other = seconds["clips/reupload.mp4"]
    assert summary["domains"] == {
        "clips_with_source_url": 4,
        "hours_with_source_url": round((ours + other) / 3600, 3),
        "top": [
            {
                "domain": "videos.example",
                "clips": 3,
                "hours": round(ours / 3600, 3),
                "share": round(ours / (ours + other), 4),
            },
            {
                "domain": "cdn.other.example",
                "clips": 1,
                "hours": round(other / 3600, 3),
                "share": round(other / (ours + other), 4),
            },
        ],
    }
    opt = summary["opt_outs"]
    assert (opt["clips_with_opt_out"], opt["by_source"]) == (4, {"c2pa": 2, "header": 1, "robots": 1})
    assert (opt["opt_out_without_registered_work"], opt["reservation_stripped"]) == (3, 1)
    honoured = opt["honoured"]
    assert (honoured["clips_removed_by_emit_clean"], honoured["opted_out_clips_removed"]) == (5, 4)
    assert honoured["opted_out_clips_cleared"] == 0


def test_a_bad_signals_dir_is_refused_before_scanning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope"
    code = _run(
        ["--db", f"sqlite:///{tmp_path / 'x.db'}", "scan", str(SAMPLE / "dataset"), "--signals-dir", str(missing)]
    )
    assert code == 2
    assert f"--signals-dir {missing}: not a folder" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()


def test_signals_of_webdataset_shards(db_url: str, tmp_path: Path) -> None:
    """A shard's ``KEY.json`` metadata carries the captured headers and URL; a signed member is read in place."""
    import tarfile

    assert _run(["--db", db_url, "registry", "import", str(_registry(tmp_path / "reg"))]) == 0
    signed = sign_clip(SAMPLE / "dataset" / "clean" / "bikes.mp4", tmp_path / "a.mp4", {"ai_training": "notAllowed"})
    members: list[tuple[str, bytes]] = [
        ("a.mp4", signed.read_bytes()),
        ("b.mp4", (SAMPLE / "dataset" / "clean" / "space_invaders.mp4").read_bytes()),
        (
            "b.json",
            json.dumps({"url": "https://videos.example/b.mp4", "headers": {"Content-Usage": "train-ai=n"}}).encode(),
        ),
        ("c.mp4", (SAMPLE / "dataset" / "clean" / "pixelpanda_stream.mp4").read_bytes()),
        ("c.json", json.dumps({"url": "https://videos.example/ok/c.mp4"}).encode()),
    ]
    shard = tmp_path / "data" / "shard-000.tar"
    shard.parent.mkdir()
    with tarfile.open(shard, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    snaps = tmp_path / "snapshots" / "videos.example"
    snaps.mkdir(parents=True)
    (snaps / "robots.txt").write_text(ROBOTS)
    out, clean = tmp_path / "report.json", tmp_path / "clean.txt"
    argv = ["--db", db_url, "scan", str(shard), "--out", str(out), "--signals-dir", str(tmp_path / "snapshots")]
    assert _run([*argv, "-j", "1", "--emit-clean", str(clean)]) == 0
    clips = {c["path"]: c for c in json.loads(out.read_text())["clips"]}
    a, b, c = (clips[f"shard-000.tar/{k}.mp4"] for k in "abc")
    assert a["signals"]["items"][0]["kind"] == "cawg.training-mining" and a["exposure"] == "high"
    assert [(i["kind"], i["source"], i["effect"]) for i in b["signals"]["items"]] == [
        ("Content-Usage", "header", "reserves")
    ]
    assert b["source_url"] == "https://videos.example/b.mp4" and b["exposure"] == "high"
    assert "signals" not in c and c["exposure"] == "none"  # /ok/ is not under GPTBot's Disallow: /videos/
    assert clean.read_text() == "shard-000.tar/c.mp4\n"
