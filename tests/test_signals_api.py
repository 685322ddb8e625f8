"""The service's clip check answers a clip's opt-out signals too (SQLite and PostgreSQL, the fingerprinted sample
registry): a C2PA-signed re-upload of a registered work, a signed clip of nothing registered; the stored result
and a holder's view keep them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.signing import sign_clip

from .apihelp import BOTH_DATABASES, SAMPLE, Service, fingerprinted_sqlite, sample_service

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fingerprinted_sqlite(tmp_path_factory)


service = pytest.fixture(params=BOTH_DATABASES, name="service")(sample_service)


def _check(service: Service, path: Path) -> Any:
    with path.open("rb") as fh:
        r = service.client.post(
            "/v1/clips/check", headers=service.auth("auditor"), files={"file": (path.name, fh, "video/mp4")}
        )
    assert r.status_code == 200, r.text
    return r.json()


def test_clip_check_returns_the_signals(service: Service, tmp_path: Path) -> None:
    copy = sign_clip(
        SAMPLE / "dataset" / "reupload" / "e1m1_reencode.mp4",
        tmp_path / "copy.mp4",
        {"ai_training": "notAllowed", "ai_inference": "allowed"},
    )
    clip = _check(service, copy)
    assert [x["work"] for x in clip["layers"]] == ["freedoom"] and clip["exposure"] == "high"
    assert clip["signals"]["verdict"] == "opt_out" and clip["signals"]["opt_out"] is True
    (item,) = clip["signals"]["items"]
    assert item["kind"] == "cawg.training-mining" and item["validation"] == "untrusted"
    assert item["value"] == "ai_inference=allowed; ai_training=notAllowed"
    # the stored result of the same content, and the holder's own view of it, carry them as well
    stored = service.client.get(f"/v1/clips/{clip['sha256']}", headers=service.auth("auditor")).json()
    assert stored["signals"] == clip["signals"]
    mine = service.client.get(f"/v1/clips/{clip['sha256']}", headers=service.auth("holder")).json()
    assert mine["signals"] == clip["signals"] and mine["exposure"] == "high"

    bikes = sign_clip(SAMPLE / "dataset" / "clean" / "bikes.mp4", tmp_path / "bikes.mp4", {"ai_training": "allowed"})
    allowed = _check(service, bikes)
    assert allowed["layers"] == [] and allowed["exposure"] == "none"
    assert allowed["signals"]["verdict"] == "allowed" and allowed["signals"]["opt_out"] is False
    plain = _check(service, SAMPLE / "dataset" / "clean" / "bigbuckbunny.mp4")
    assert "signals" not in plain and plain["exposure"] == "none"  # nothing to say: the field is left out
