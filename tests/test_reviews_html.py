"""The HTML report in headless Chromium: evidence captioned in plain words with the measure in a tooltip, and
review decisions and disputes beside the evidence (a dismissed layer shown, marked, not counted)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from provenance.report import Report, render_html
from rightsdb import atomic_write_text

from .test_html_report import Loaded, browser, open_page  # noqa: F401  (the Chromium harness)

SEGMENT = {"start": 0.0, "end": 6.0, "reference": "f.mp4", "ref_start": 2.0, "ref_end": 8.0}


def _layer(work: str, verdict: str, ai: str, evidence: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "layer": "game",
        "holder": "hellgate",
        "holder_name": "Hellgate",
        "work": work,
        "title": work.title(),
        "verdict": verdict,
        "policy": {"ai_training": ai},
        "confidence": 0.9,
        "segments": [SEGMENT],
        "evidence": evidence,
        **extra,
    }


WHOLE = {"kind": "footage", "reference": "f.mp4", "methods": {"pdq": 11}, "mirrored": False, "best_pdq_distance": 14,
         "region": None, "clip_time": 1.0, "ref_time": 3.0}  # fmt: skip
INSIDE = {**WHOLE, "methods": {"orb-mirror": 5}, "mirrored": True, "region": [0.1, 0.1, 0.6, 0.7]}
STILL = {"kind": "asset", "reference": "hud.png", "method": "features", "mirrored": False, "frames": [1.0, 2.0],
         "score": 41.0, "region": [0.0, 0.8, 1.0, 1.0], "clip_time": 1.0}  # fmt: skip
VIA = {**STILL, "region": None, "via": {"reference": "footage/vod.mp4", "ref_start": 3.0, "ref_end": 9.25}}
REVIEW = {"decision": "false_match", "note": "a fan remake", "by": "cli:alice", "at": "2026-12-04T10:00:00+00:00"}
LICENSED = {**REVIEW, "decision": "licensed", "licence": "PX-7"}
DISPUTE = {"id": 7, "work": "doom", "holder": "hellgate", "note": "our level", "at": "2026-12-04T09:00:00+00:00"}


def _licensed(layer: dict[str, Any]) -> dict[str, Any]:
    return {**layer, "policy": {"ai_training": "allow", "stated": "deny", "note": "licensed (PX-7)",
                                "unlicensed": {"ai_training": "deny"}}}  # fmt: skip


def _report() -> dict[str, Any]:
    clip = {"sha256": None, "duration_s": 6.0, "error": None, "frame_size": [320, 240]}
    return {
        "scan": {"dataset": "ds", "registry_digest": "d", "engine": "e", "settings": {}, "disputes_open": 1},
        "clips": [
            {**clip, "path": "a.mp4", "exposure": "high", "reason": "High exposure: game footage of Doom.",
             "layers": [_layer("doom", "denied", "deny", [WHOLE, INSIDE, STILL, VIA], dispute=DISPUTE)]},
            {**clip, "path": "b.mp4", "exposure": "none", "reason": "No registered work remains after review.",
             "layers": [_layer("quake", "denied", "deny", [WHOLE], review=REVIEW)]},
            {**clip, "path": "c.mp4", "exposure": "low", "reason": "Low exposure: game footage of Heretic.",
             "layers": [_licensed(_layer("heretic", "allowed", "allow", [WHOLE], review=LICENSED))]},
        ],
    }  # fmt: skip


def test_evidence_in_plain_words_and_reviews_beside_it(
    open_page: Callable[[Path], Loaded],  # noqa: F811
    tmp_path: Path,
) -> None:
    page_file = tmp_path / "r.html"
    atomic_write_text(page_file, render_html(Report.model_validate(_report())))
    loaded = open_page(page_file)
    page = loaded.page
    captions = page.eval_on_selector_all(
        "tr.detail[data-index='0'] .ev-caption", "ps => ps.map(p => [p.textContent, p.getAttribute('title')])"
    )
    assert [c[0] for c in captions] == [
        "The whole picture matches",
        "Found inside the frame, mirrored",
        "A registered still (HUD/logo/overlay) found inside the frame",
        "A registered still (HUD/logo/overlay) covering the picture — seen in the streamer's VOD footage/vod.mp4"
        " (3.0-9.3 s), which this clip copies",
    ]
    assert "best distance 14 of 256 bits" in captions[0][1] and "11 matching frame(s)" in captions[0][1]
    assert "41 inliers" in captions[2][1]
    assert page.is_visible("tr.detail[data-index='0'] .ev-caption")
    dispute = page.inner_text("tr.detail[data-index='0'] .layer .dispute")
    assert "Open dispute #7 by hellgate" in dispute and "our level" in dispute

    # the clip whose only layer was dismissed is not flagged, yet its detail (with the decision) opens
    assert page.query_selector("tr.detail[data-index='1']") is None
    page.click("button.toggle[data-index='1']")
    review = page.inner_text("tr.detail[data-index='1'] .layer.dismissed .review")
    assert "Dismissed on review as a false match" in review and "cli:alice" in review and "a fan remake" in review
    assert page.inner_text("tr.clip-row[data-index='1'] td.verdict") == ""  # a dismissed layer's verdict does not count
    # a licensed layer (low exposure: its detail is open): the terms it counts under, and those the licence replaced
    assert page.inner_text("tr.detail[data-index='2'] .layer dd.ai-training") == "allow"
    assert page.inner_text("tr.detail[data-index='2'] .layer dd.unlicensed") == "deny"
    assert loaded.problems == []
