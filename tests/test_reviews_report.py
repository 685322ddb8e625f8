"""`provenance report` applies the registry's review decisions as they stand now to a stored report (as users run
it: the CLI in a real process, the registry on a SQLite file and on the real PostgreSQL server): a decision made
after the scan changes the rendered lists, the ``--fail-on`` exit code, the CSV and the HTML; a decision changed
again is followed back; without a registry the report is rendered as stored, said in one line."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from provenance.report import Clip, RefInfo, Terms, reviewed_again
from provenance.report.model import Review
from provenance.report.reviews import ClipReviews
from rightsdb import Registry

from . import test_reviews_scan
from .test_reviews_scan import COPY, PONG_CLIP, _sha, run

# the same registries as the scan's review tests: the fingerprinted sample on SQLite and on PostgreSQL
template, db = test_reviews_scan.template, test_reviews_scan.db

NOTE = "a fan remake, checked frame by frame"
BEFORE_REVIEWS = "0003"  # the schema revision before the review tables (0004)


def _render(
    db: str | None, report: Path, tmp: Path, name: str
) -> tuple[int, str, list[str], list[dict[str, str]], str]:
    """``provenance report`` with every output: (exit code, stderr, cleared paths, CSV rows, HTML)."""
    clean, rows, page = tmp / f"{name}.clean", tmp / f"{name}.csv", tmp / f"{name}.html"
    args = [*(("--db", db) if db else ()), "report", str(report), "--fail-on", "medium", "--emit-clean", str(clean)]
    done = run(*args, "--csv", str(rows), "--html", str(page), cwd=tmp)
    assert done.returncode in (0, 4), done.stderr
    table = list(csv.DictReader(io.StringIO(rows.read_text())))
    return done.returncode, done.stderr, clean.read_text().split(), table, page.read_text()


@pytest.mark.slow
def test_a_decision_made_after_the_scan_changes_the_rendered_report(db: str, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    (ds / "reupload").mkdir(parents=True)
    (ds / "retro").mkdir()
    shutil.copyfile(COPY, ds / "reupload" / "e1m1.mp4")
    shutil.copyfile(PONG_CLIP, ds / "retro" / "pong.mp4")
    stored = tmp_path / "report.json"
    scanned = run("--db", db, "scan", str(ds), "--out", str(stored), "--workers", "1", cwd=tmp_path)
    assert scanned.returncode == 0, scanned.stderr
    written = stored.read_text()

    code, err, clean, rows, _ = _render(db, stored, tmp_path, "before")
    assert code == 4 and clean == [] and "0 clips' decisions changed" in err
    assert {r["review"] for r in rows} == {""}

    for work, clip, extra in (("freedoom", COPY, ()), ("pw-pong", PONG_CLIP, ("--licence", "PX-2026-7"))):
        decision = "false_match" if work == "freedoom" else "licensed"
        done = run(
            "--db", db, "review", "set", _sha(clip), work, "--decision", decision, "--note", NOTE, *extra,
            "--by", "alice", cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    code, err, clean, rows, page = _render(db, stored, tmp_path, "after")
    assert code == 0 and clean == ["retro/pong.mp4", "reupload/e1m1.mp4"]  # both cleared now
    assert "2 clips' decisions changed since the report was written" in err
    assert "2 clips: 0 high, 0 medium, 1 low, 1 none" in err
    by_path = {r["path"]: r for r in rows}
    e1m1, pong = by_path["reupload/e1m1.mp4"], by_path["retro/pong.mp4"]
    assert (e1m1["exposure"], e1m1["review"], e1m1["reviewed_by"], e1m1["licence"]) == (
        "none", "false_match", "cli:alice", ""
    )  # fmt: skip
    assert (pong["exposure"], pong["ai_training"], pong["review"], pong["licence"]) == (
        "low", "allow", "licensed", "PX-2026-7"
    )  # fmt: skip
    assert NOTE in page and "false_match" in page  # the decision beside the evidence (the page's data)
    assert stored.read_text() == written  # the stored report is rendered, never rewritten

    again = run("--db", db, "review", "set", _sha(PONG_CLIP), "pw-pong", "--decision", "confirmed", "--note", "no",
                cwd=tmp_path)  # fmt: skip
    assert again.returncode == 0, again.stderr
    code, err, clean, rows, _ = _render(db, stored, tmp_path, "third")
    assert code == 4 and clean == ["reupload/e1m1.mp4"]  # the licence no longer counts: pong is medium again
    pong = next(r for r in rows if r["path"] == "retro/pong.mp4")
    assert (pong["exposure"], pong["ai_training"], pong["review"], pong["licence"]) == (
        "medium", "unknown", "confirmed", ""
    )  # fmt: skip


def test_without_a_registry_the_report_is_rendered_as_stored(tmp_path: Path) -> None:
    layer = {
        "layer": "game",
        "holder": "h",
        "work": "w",
        "policy": {"ai_training": "deny"},
        "confidence": 0.9,
        "segments": [{"start": 0.0, "end": 4.0, "reference": "f.mp4", "ref_start": 0.0, "ref_end": 4.0}],
    }
    clip = {"path": "a.mp4", "sha256": "ab" * 32, "duration_s": 4.0, "exposure": "high", "error": None,
            "layers": [layer]}  # fmt: skip
    stored = tmp_path / "r.json"
    stored.write_text(json.dumps({"clips": [clip]}))
    work = tmp_path / "elsewhere"
    work.mkdir()  # no ./provenance.db here: no registry reachable
    code, err, clean, rows, _ = _render(None, stored, work, "out")
    assert code == 4 and clean == [] and rows[0]["exposure"] == "high"
    lines = [line for line in err.splitlines() if "review" in line or "rendered" in line]
    assert len(lines) == 1 and lines[0].startswith("review decisions not applied, no registry")
    assert "rendered as stored" in lines[0]

    old = Registry(f"sqlite:///{work / 'old.db'}", auto_migrate=False)  # a registry from before review decisions
    try:
        old.upgrade(BEFORE_REVIEWS)
    finally:
        old.dispose()
    code, err, clean, _, _ = _render(f"sqlite:///{work / 'old.db'}", stored, work, "old")
    assert code == 4 and clean == []  # never migrated by a render: as stored
    lines = [line for line in err.splitlines() if "review" in line or "rendered" in line]
    assert len(lines) == 1 and f"schema revision {BEFORE_REVIEWS}" in lines[0] and "rendered as stored" in lines[0]


def _info(work: str, ai: str) -> RefInfo:
    return RefInfo(1, "f.mp4", "footage", work, work.title(), "h", "H", "game", Terms(ai))


def _review(decision: str, licence: str | None = None) -> Review:
    review = Review(decision=decision, note="n", by="cli:a", at="2026-12-04T10:00:00+00:00")  # type: ignore[arg-type]
    if licence:
        review.licence = licence
    return review


def _stored_clip(layers: list[dict[str, Any]]) -> Clip:
    return Clip.model_validate({"path": "a.mp4", "sha256": "ab" * 32, "duration_s": 4.0, "exposure": "high",
                                "error": None, "reason": "stored", "layers": layers})  # fmt: skip


FOUND = {"layer": "game", "holder": "h", "work": "w", "policy": {"ai_training": "deny"}, "verdict": "denied",
         "confidence": 0.9, "segments": [{"start": 0.0, "end": 4.0, "reference": "f.mp4"}],
         "evidence": [{"kind": "asset", "reference": "f.mp4", "frames": [1.0, 2.0]}]}  # fmt: skip


def test_decisions_are_replaced_not_stacked() -> None:
    """Each decision undone before the one in force is applied: a licence gives its terms back, a layer a
    decision added goes, a report from before ``policy.unlicensed`` takes the registry's terms back."""
    infos = {"w": _info("w", "deny"), "v": _info("v", "conditional")}
    day = date(2026, 12, 4)
    licensed = ClipReviews({"w": _review("licensed", "L-1"), "v": _review("confirmed")})
    clip, changed = reviewed_again(_stored_clip([FOUND]), licensed, infos, day, None)
    assert changed and clip.exposure == "medium"  # w licensed (allow), v's claim upheld (conditional)
    w, v = sorted(clip.layers, key=lambda x: x.work, reverse=True)
    assert w.policy.ai_training == "allow" and w.policy.unlicensed is not None and v.segments == []
    assert w.policy.unlicensed.ai_training == "deny" and v.policy.ai_training == "conditional"

    clip, changed = reviewed_again(clip, licensed, infos, day, None)
    assert not changed and clip.exposure == "medium" and len(clip.layers) == 2  # the same decisions: as it was

    clip, changed = reviewed_again(clip, None, infos, day, None)  # every decision withdrawn
    assert changed and clip.exposure == "high" and [x.work for x in clip.layers] == ["w"]
    assert clip.layers[0].to_dict() == FOUND and clip.reason is not None and clip.reason.startswith("High")

    old = {**FOUND, "policy": {"ai_training": "allow", "stated": "deny", "note": "licensed (L-1)"},
           "verdict": "allowed", "review": _review("licensed", "L-1").to_dict()}  # fmt: skip
    clip, changed = reviewed_again(_stored_clip([old]), None, infos, day, None)
    assert changed and clip.exposure == "high" and clip.layers[0].policy.ai_training == "deny"
    gone, _ = reviewed_again(_stored_clip([old]), None, {}, day, None)  # the registry no longer has the work
    assert gone.exposure == "medium" and gone.layers[0].policy.ai_training == "unknown"  # fail closed


def test_csv_has_the_review_in_trailing_columns() -> None:
    """The columns of before keep their places; the decision, who made it and the licence come last."""
    from provenance.report import CSV_COLUMNS, Report, csv_text

    before = ("path", "sha256", "duration_s", "exposure", "error", "layer", "holder", "work", "ai_training",
              "license", "confidence", "segments", "modality")  # fmt: skip
    assert (*before, "review", "reviewed_by", "licence") == CSV_COLUMNS
    infos = {"w": _info("w", "deny")}
    clip, _ = reviewed_again(_stored_clip([FOUND]), ClipReviews({"w": _review("licensed", "L-1")}), infos,
                             date(2026, 12, 4), None)  # fmt: skip
    bare = Clip.model_validate({"path": "b.mp4", "sha256": None, "duration_s": None, "exposure": "unknown",
                                "error": "unreadable", "layers": []})  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(csv_text(Report(clips=[clip, bare])))))
    assert [(r["ai_training"], r["review"], r["reviewed_by"], r["licence"]) for r in rows] == [
        ("allow", "licensed", "cli:a", "L-1"), ("", "", "", "")
    ]  # fmt: skip
