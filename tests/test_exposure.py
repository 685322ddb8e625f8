"""Policies applied as of a date and a territory, the exposure rule, and the one-sentence reason."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from provenance.report import Clip, Terms, effective_terms, exposure_of
from provenance.report import reason as clip_reason

DAY = date(2026, 11, 25)


def reason(clip: dict[str, Any]) -> str:
    """The reason of a clip given by the fields the sentence reads, as a typed clip (the rest filled in)."""
    layers = [
        {
            "confidence": 1.0,
            "segments": [],
            **layer,
            "evidence": [{"reference": "r.mp4", **e} for e in layer.get("evidence", [])],
        }
        for layer in clip["layers"]
    ]
    return clip_reason(
        Clip.model_validate({"path": "c.mp4", "sha256": None, "duration_s": None, **clip, "layers": layers})
    )


@pytest.mark.parametrize(
    ("terms", "territory", "expected", "note"),
    [
        (Terms("deny"), None, "deny", None),
        (Terms("allow", valid_until=date(2026, 12, 31)), None, "allow", None),
        (Terms("allow", valid_until=date(2026, 11, 24)), None, "unknown", "expired on 2026-11-24"),
        (Terms("deny", valid_from=date(2027, 1, 1)), None, "unknown", "only from 2027-01-01"),
        (Terms("allow", valid_from=date(2026, 11, 25)), None, "allow", None),  # the first valid day counts
        (Terms("allow", territories=("DE", "FR")), "de", "allow", None),
        (Terms("allow", territories=("DE", "FR")), "US", "unknown", "cover only DE, FR, not US"),
        (Terms("allow", territories=("DE",)), None, "conditional", "allowed only in DE"),
        (Terms("deny", territories=("US",)), None, "deny", None),  # a denial somewhere still stands
    ],
)
def test_terms_in_force_on_the_scan_date(terms: Terms, territory: str | None, expected: str, note: str | None) -> None:
    got, why = effective_terms(terms, DAY, territory)
    assert got == expected
    if note is None:
        assert why is None
    else:
        assert why is not None and note in why


def test_exposure_rule_over_layers() -> None:
    assert exposure_of([]) == "none"
    assert exposure_of(["allow", "allow"]) == "low"
    assert exposure_of(["allow", "unknown"]) == "medium"
    assert exposure_of(["conditional", "allow"]) == "medium"
    assert exposure_of(["allow", "conditional", "deny"]) == "high"


def _layer(kind: str, title: str, holder: str, ai: str, evidence: str, note: str | None = None) -> dict[str, Any]:
    policy: dict[str, Any] = {"ai_training": ai}
    if note:
        policy["note"] = note
    return {
        "layer": kind,
        "title": title,
        "holder_name": holder,
        "work": title.lower(),
        "holder": holder.lower(),
        "policy": policy,
        "evidence": [{"kind": evidence}],
    }


def test_reason_names_every_layer_its_holder_and_terms() -> None:
    clip = {
        "exposure": "high",
        "error": None,
        "layers": [
            _layer("game", "Acme Racer", "Acme Games", "deny", "footage"),
            _layer("stream", "Y channel", "Streamer Y", "allow", "asset"),
        ],
    }
    text = reason(clip)
    assert text == (
        "High exposure: game footage of Acme Racer (Acme Games, AI training denied) under the overlay "
        "of streamer Streamer Y (AI training allowed)."
    )
    clip["layers"] = [
        _layer("ugc", "Corridor", "Mapsmith", "unknown", "footage", "the stated terms expired on 2020-01-01")
    ]
    clip["exposure"] = "medium"
    assert reason(clip) == (
        "Medium exposure: the community content Corridor by Mapsmith (terms for AI training "
        "unknown: the stated terms expired on 2020-01-01)."
    )


def test_reason_for_clean_and_unreadable_clips() -> None:
    assert reason({"exposure": "none", "error": None, "layers": []}) == "No registered work was found."
    assert reason({"exposure": "none", "error": "x.mp4: empty file (0 bytes)", "layers": []}) == (
        "Not checked: x.mp4: empty file (0 bytes)"
    )
