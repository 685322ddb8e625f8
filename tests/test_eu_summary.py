"""``provenance summary``: the EU AI Act summary of the bundled sample's report, checked field by field against the
sample's ground truth and the clips' own durations (ffprobe); and as-of drift from the registry's policy history
(SQLite file and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from provenance.audit import terms_on
from provenance.audit.manifests import import_manifest_file
from provenance.cli import main
from provenance.cli.app import state
from provenance.report import PROVIDER_FIELDS, TO_FILL, size_band
from rightsdb import Registry
from rightsdb.edit import set_policy

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample"
KNOWN_MISSES: set[str] = set()  # clips whose expected works the engine misses (none at present)
HOLDER_NAMES = {
    "hellgate": "Hellgate Interactive",
    "pixelworks": "Pixelworks Arcade",
    "nightowl": "NightOwl Plays",
    "mapsmith": "Mapsmith",
}


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


def _seconds(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout)


@pytest.fixture(scope="module")
def summary(sample_report: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    folder = tmp_path_factory.mktemp("eu")
    report = folder / "report.json"
    report.write_text(json.dumps(sample_report))
    assert _run(["summary", str(report), "--eu-ai-act", "--out", str(folder / "out")]) == 0
    page = (folder / "out" / "eu-ai-act-summary.md").read_text()
    return json.loads((folder / "out" / "eu-ai-act-summary.json").read_text()), page


def test_sample_summary_field_by_field(summary: tuple[dict[str, Any], str], sample_report: dict[str, Any]) -> None:
    data, _ = summary
    truth = json.loads((SAMPLE / "expected.json").read_text())["clips"]
    seconds = {path: _seconds(SAMPLE / "dataset" / path) for path in truth}
    total = sum(seconds.values())
    assert set(data) == {
        "template",
        "generated",
        "report",
        "modalities",
        "clips",
        "domains",
        "holders",
        "layers",
        "opt_outs",
        "provider_declarations",
    }
    assert data["generated"] == datetime.now(UTC).date().isoformat()
    scan = sample_report["scan"]
    assert data["report"] == {
        "dataset": scan["dataset"],
        "date": scan["date"],
        "as_of": scan["as_of"],
        "registry_digest": scan["registry_digest"],
    }
    assert data["modalities"] == {
        "video": {"clips": 12, "hours": round(total / 3600, 3), "size_band": "less than 10,000 hours"}
    }
    assert data["clips"] == {
        "total": 12,
        "errors": 0,
        "by_exposure": {"none": 4, "low": 1, "medium": 1, "high": 6, "unknown": 0},  # the README's summary line
    }
    assert data["domains"] == {"clips_with_source_url": 0, "hours_with_source_url": 0.0, "top": []}  # a folder
    # holders and layers: the ground truth's works, less any known miss, over the clips' own durations
    found = {path: works for path, works in truth.items() if path not in KNOWN_MISSES}
    for key, field in (("holder", "holder"), ("layer", "layer")):
        expected: dict[str, list[str]] = {}
        for path, works in found.items():
            for name in {w[field] for w in works}:
                expected.setdefault(name, []).append(path)
        got = {row[key]: row for row in data[f"{key}s"]}
        assert set(got) == set(expected)
        for name, paths in expected.items():
            part = sum(seconds[p] for p in paths)
            assert got[name]["clips"] == len(paths)
            assert got[name]["hours"] == round(part / 3600, 3)
            assert got[name]["share"] == round(part / total, 4)
    assert {row["holder"]: row["name"] for row in data["holders"]} == HOLDER_NAMES
    assert [row["layer"] for row in data["layers"]] == ["game", "stream", "ugc"]
    held = [c for c in sample_report["clips"] if c["exposure"] not in ("none", "low")]
    assert data["opt_outs"] == {
        "clips_with_opt_out": 0,
        "by_source": {},
        "opt_out_without_registered_work": 0,
        "reservation_stripped": 0,
        "unreadable_signals": 0,
        "honoured": {
            "rule": data["opt_outs"]["honoured"]["rule"],
            "clips_removed_by_emit_clean": 7,
            "hours_removed_by_emit_clean": round(sum(seconds[c["path"]] for c in held) / 3600, 3),
            "opted_out_clips_removed": 0,
            "opted_out_clips_cleared": 0,
        },
    }
    assert "--emit-clean" in data["opt_outs"]["honoured"]["rule"]
    assert data["provider_declarations"] == {
        name: {"value": None, "to_fill": True, "help": help_text} for name, help_text in PROVIDER_FIELDS
    }


def test_sample_summary_page_is_readable(summary: tuple[dict[str, Any], str]) -> None:
    data, page = summary
    assert page.startswith("# Training content summary (EU AI Act, Art. 53(1)(d))")
    assert f"- Video: 12 clips, {data['modalities']['video']['hours']} hours: **less than 10,000 hours**" in page
    assert "| Hellgate Interactive |" in page and "| game |" in page
    assert "No clip of the report has a source URL." in page
    assert page.count(TO_FILL) == len(PROVIDER_FIELDS)


def test_size_bands() -> None:
    assert [size_band(h) for h in (0.0, 9_999.9, 10_000, 1_000_000, 1_000_001)] == [
        "less than 10,000 hours",
        "less than 10,000 hours",
        "10,000 to 1 million hours",
        "10,000 to 1 million hours",
        "more than 1 million hours",
    ]


def test_summary_refuses_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "r.json"
    report.write_text('{"clips": []}')
    assert _run(["summary", str(report)]) == 2
    assert "give one of --eu-ai-act or --drift" in capsys.readouterr().err
    assert _run(["summary", str(report), "--drift", "--as-of", "2025-01-01"]) == 2
    assert "--drift needs --as-of twice" in capsys.readouterr().err
    assert _run(["summary", str(tmp_path / "none.json"), "--eu-ai-act", "--out", str(tmp_path / "o")]) == 2
    assert "no such report file" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_drift_between_two_dates_from_the_policy_history(
    db_url: str, sample_report: dict[str, Any], tmp_path: Path
) -> None:
    registry = Registry(db_url)
    try:
        import_manifest_file(registry, SAMPLE / "registry" / "manifest.yaml")
        with registry.write() as session:  # the import happened in 2024
            session.execute(text("UPDATE policy_changes SET changed_at = :t"), {"t": datetime(2024, 1, 10)})
        set_policy(registry, "freedoom", {"ai_training": "allow", "license": "BSD-3-Clause"}, "key:test")
        since = (date.today() - timedelta(days=30)).isoformat()
        set_policy(registry, "pw-pong", {"ai_training": "deny", "valid_from": since}, "key:test")
    finally:
        registry.dispose()
    report = tmp_path / "report.json"
    report.write_text(json.dumps(sample_report))
    out = tmp_path / "drift.json"
    today = date.today().isoformat()
    argv = ["--db", db_url, "summary", str(report), "--drift", "--as-of", "2024-06-01", "--as-of", today]
    assert _run([*argv, "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["as_of"] == ["2024-06-01", today] and result["clips"] == 12
    changed = {c["path"]: c for c in result["changed"]}
    freedoom_clips = {c["path"] for c in sample_report["clips"] if any(x["work"] == "freedoom" for x in c["layers"])}
    pong = {c["path"] for c in sample_report["clips"] if any(x["work"] == "pw-pong" for x in c["layers"])}
    assert set(changed) == freedoom_clips | pong
    for path in freedoom_clips:
        (work,) = [w for w in changed[path]["works"] if w["work"] == "freedoom"]
        assert (work["before"], work["after"]) == ("denied", "allowed")
        assert work["why_before"].startswith("as set on 2024-01-10 by manifest import: ")
        assert work["why_after"] == f"as set on {today} by key:test"
        assert changed[path]["before"] == "high"
    reencode = changed["reupload/e1m1_reencode.mp4"]
    assert reencode["after"] == "low"  # only Freedoom in it, now allowed
    (pong_change,) = [changed[p] for p in pong]
    assert (pong_change["before"], pong_change["after"]) == ("medium", "high")
    (work,) = pong_change["works"]
    assert (work["work"], work["before"], work["after"]) == ("pw-pong", "unknown", "denied")
    unchanged = {c["path"] for c in sample_report["clips"]} - set(changed)
    assert "clean/bikes.mp4" in unchanged
    # a work's verdict changed, the clip's did not: the community map on the same clip still denies
    corridor = changed["ugc/corridor_titled.mp4"]
    assert (corridor["before"], corridor["after"]) == ("high", "high")
    assert [w["work"] for w in corridor["works"]] == ["freedoom"]


def test_terms_on_a_date_apply_validity_and_the_first_recorded_terms() -> None:
    history = [
        {
            "changed_at": "2025-02-01T09:00:00",
            "actor": "manifest import: m.yaml",
            "before": None,
            "after": {"ai_training": "allow", "valid_until": "2025-12-31"},
        },
        {
            "changed_at": "2026-03-01T09:00:00",
            "actor": "key:k1",
            "before": {"ai_training": "allow"},
            "after": {"ai_training": "deny"},
        },
    ]
    early = terms_on(history, {"ai_training": "deny"}, date(2024, 5, 1), None)
    assert (early.ai_training, early.why) == ("allow", "the registry recorded its terms only from 2025-02-01")
    mid = terms_on(history, {"ai_training": "deny"}, date(2025, 6, 1), None)
    assert (mid.ai_training, mid.why) == ("allow", "as set on 2025-02-01 by manifest import: m.yaml")
    lapsed = terms_on(history, {"ai_training": "deny"}, date(2026, 1, 15), None)
    assert lapsed.ai_training == "unknown" and lapsed.why.endswith("the stated terms expired on 2025-12-31")
    late = terms_on(history, {"ai_training": "deny"}, date(2026, 3, 1), None)
    assert (late.ai_training, late.why) == ("deny", "as set on 2026-03-01 by key:k1")
