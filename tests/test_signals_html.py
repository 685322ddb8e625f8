"""The HTML report shows each clip's opt-out signals, in headless Chromium: the join's verdict beside the exposure,
and in the clip's details the note and every signal with its source, meaning, date and validation."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from provenance.audit.pages import clip_locator
from provenance.report import Thumbnailer
from tests.test_html_report import Loaded, browser, open_page, write_html

__all__ = ["browser", "open_page"]  # the browser fixtures, shared with the HTML report's tests

_PLAIN: dict[str, Any] = {"sha256": "0" * 64, "duration_s": 4.0, "error": None, "layers": []}
_DENY_LAYER: dict[str, Any] = {
    "layer": "game",
    "holder": "acme",
    "work": "racer",
    "title": "Acme Racer",
    "verdict": "denied",
    "policy": {"ai_training": "deny", "source": "tdm-reservation"},
    "confidence": 0.9,
    "segments": [{"start": 0.0, "end": 3.0, "reference": "footage/racer.mp4", "ref_start": 1.0, "ref_end": 4.0}],
}
REPORT: dict[str, Any] = {
    "clips": [
        {
            **_PLAIN,
            "path": "signed.mp4",
            "exposure": "high",
            "reason": "High exposure: no registered work matched, but the clip carries an opt-out (...).",
            "signals": {
                "opt_out": True,
                "verdict": "opt_out_unregistered",
                "note": "no registered work matched, but the clip carries an opt-out",
                "items": [
                    {
                        "kind": "cawg.training-mining",
                        "value": "ai_training=notAllowed",
                        "source": "c2pa",
                        "effect": "reserves",
                        "validation": "invalid",
                        "detail": "signed by Test Signer",
                    },
                    {
                        "kind": "X-Robots-Tag",
                        "value": "noai",
                        "source": "header",
                        "effect": "reserves",
                        "date": "2025-05-02",
                    },
                ],
            },
        },
        {
            **_PLAIN,
            "path": "stripped.mp4",
            "exposure": "high",
            "layers": [_DENY_LAYER],
            "reason": "High exposure: game footage of Acme Racer; stripped on re-upload.",
            "signals": {
                "opt_out": False,
                "verdict": "reservation_stripped",
                "note": "the clip no longer carries the reservation of Acme Racer (tdm-reservation)",
                "items": [],
            },
        },
        {**_PLAIN, "path": "clean.mp4", "exposure": "none", "reason": "No registered work was found."},
    ]
}


def test_signals_are_shown_beside_the_exposure_and_in_the_details(
    tmp_path: Path, open_page: Callable[[Path], Loaded]
) -> None:
    out = tmp_path / "signals.html"
    write_html(REPORT, out, Thumbnailer(clip_locator(tmp_path), lambda _: None))
    page = open_page(out)
    tags = page.page.eval_on_selector_all(
        "#clips tr.clip-row",
        "rows => rows.map(r => [r.querySelector('td.path').textContent,"
        " (r.querySelector('.sig-tag') || {}).textContent || ''])",
    )
    assert dict(tags) == {
        "signed.mp4": "opt-out, no registered work",
        "stripped.mp4": "reservation stripped",
        "clean.mp4": "",
    }
    signed = page.page.locator("article.signals[data-verdict='opt_out_unregistered']")
    assert signed.is_visible()  # a flagged clip's details are open without a click
    assert "no registered work matched, but the clip carries an opt-out" in signed.inner_text()
    cells = signed.locator("tr.signal").evaluate_all("rs => rs.map(r => [...r.cells].map(c => c.textContent))")
    assert cells == [
        ["cawg.training-mining", "ai_training=notAllowed", "c2pa", "reserves", "", "invalid", "signed by Test Signer"],
        ["X-Robots-Tag", "noai", "header", "reserves", "2025-05-02", "", ""],
    ]
    stripped = page.page.locator("article.signals[data-verdict='reservation_stripped']")
    assert stripped.is_visible() and "(tdm-reservation)" in stripped.inner_text()
    assert stripped.locator("tr.signal").count() == 0
    assert page.page.locator("article.signals").count() == 2  # the clean clip shows none
    colour = page.page.eval_on_selector(
        "article.signals[data-verdict='opt_out_unregistered'] tr.e-reserves .sig-effect",
        "c => getComputedStyle(c).color",
    )
    assert colour == "rgb(164, 0, 0)"  # a reservation stands out
    cards = page.page.inner_text("#cards")
    assert re.search(r"\b1\s+clips with registered works", cards), cards  # an opt-out alone is not a work
    assert re.search(r"\b1\s+carry an opt-out", cards) and re.search(r"\b1\s+reservations stripped", cards), cards
    assert not page.problems, page.problems
