"""Reviews and disputes through the service, on SQLite and the real PostgreSQL server: a holder key disputes its
own works only (403 for another holder's), auditors list and resolve disputes, and a decision changes what the
service answers for the clip (its exposure, the layer's review and dispute markers)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from .apihelp import BOTH_DATABASES, SAMPLE, Service, fingerprinted_sqlite, sample_service

pytestmark = pytest.mark.slow

COPY = SAMPLE / "dataset" / "reupload" / "e1m1_reencode.mp4"
SHA = hashlib.sha256(COPY.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fingerprinted_sqlite(tmp_path_factory)


service = pytest.fixture(params=BOTH_DATABASES, name="service")(sample_service)


def _check(service: Service) -> dict[str, Any]:
    with COPY.open("rb") as fh:
        r = service.client.post(
            "/v1/clips/check", headers=service.auth("auditor"), files={"file": (COPY.name, fh, "video/mp4")}
        )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_disputes_and_decisions_through_the_service(service: Service) -> None:
    c = service.client
    holder, auditor, admin = service.auth("holder"), service.auth("auditor"), service.auth("admin")
    assert _check(service)["exposure"] == "high"

    # a holder key (hellgate) disputes its own work only
    mine = c.post("/v1/disputes", headers=holder, json={"clip": SHA, "work": "freedoom", "note": "our E1M1 run"})
    assert mine.status_code == 201, mine.text
    dispute = mine.json()
    assert dispute["holder"] == "hellgate" and dispute["status"] == "open" and "hellgate" in dispute["by"]
    theirs = c.post("/v1/disputes", headers=holder, json={"clip": SHA, "work": "nightowl-channel", "note": "ours"})
    assert theirs.status_code == 403 and theirs.json()["code"] == "forbidden"
    assert (
        c.post("/v1/disputes", headers=holder, json={"clip": SHA, "work": "freedoom", "note": "x"}).status_code == 409
    )
    assert (
        c.post("/v1/disputes", headers=holder, json={"clip": "x", "work": "freedoom", "note": "x"}).status_code == 422
    )
    assert c.post("/v1/disputes", headers=holder, json={"clip": SHA, "work": "nope", "note": "x"}).status_code == 404
    claim = c.post("/v1/disputes", headers=admin, json={"clip": SHA, "work": "corridor-of-doom", "note": "a claim"})
    assert claim.status_code == 201 and claim.json()["holder"] == "mapsmith"
    assert [d["id"] for d in c.get("/v1/disputes", headers=holder).json()] == [dispute["id"]]
    assert len(c.get("/v1/disputes", headers=auditor, params={"status": "open"}).json()) == 2

    shown = c.get(f"/v1/clips/{SHA}", headers=auditor).json()
    assert shown["layers"][0]["dispute"]["id"] == dispute["id"]
    assert [x["work"] for x in shown["claims"]] == ["corridor-of-doom"] and "2 open disputes." in shown["reason"]
    assert "claims" not in c.get(f"/v1/clips/{SHA}", headers=holder).json()  # another holder's claim is not shown

    # an auditor decides: a false match; every later answer applies it
    bad = c.post(
        "/v1/reviews", headers=auditor, json={"clip": SHA, "work": "freedoom", "decision": "licensed", "note": "x"}
    )
    assert bad.status_code == 422 and "licence" in bad.json()["detail"]
    assert c.post("/v1/reviews", headers=holder, json={}).status_code == 403
    made = c.post(
        "/v1/reviews",
        headers=auditor,
        json={"clip": SHA, "work": "freedoom", "decision": "false_match", "note": "a fan remake"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["by"].startswith("key:") and made.json()["current"] is True
    after = c.get(f"/v1/clips/{SHA}", headers=auditor).json()
    assert after["exposure"] == "none" and after["layers"][0]["review"]["decision"] == "false_match"
    assert _check(service)["exposure"] == "none"  # a check of the same content: the decision applies
    own = c.get(f"/v1/clips/{SHA}", headers=holder).json()
    assert own["exposure"] == "none" and own["layers"][0]["review"]["note"] == "a fan remake"

    # the dispute is resolved into a decision: the finding stands
    resolved = c.post(
        f"/v1/disputes/{dispute['id']}/resolve",
        headers=auditor,
        json={"decision": "confirmed", "note": "their footage, frame for frame"},
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["dispute"]["status"] == "resolved"
    assert resolved.json()["decision"]["dispute"] == dispute["id"]
    again = c.post(
        f"/v1/disputes/{dispute['id']}/resolve", headers=auditor, json={"decision": "confirmed", "note": "x"}
    )
    assert again.status_code == 409
    assert (
        c.post("/v1/disputes/999999/resolve", headers=auditor, json={"decision": "confirmed", "note": "x"}).status_code
        == 404
    )
    final = c.get(f"/v1/clips/{SHA}", headers=auditor).json()
    assert final["exposure"] == "high" and "dispute" not in final["layers"][0]
    assert (
        final["layers"][0]["review"]["decision"] == "confirmed"
        and final["layers"][0]["review"]["dispute"] == dispute["id"]
    )

    history = c.get("/v1/reviews", headers=auditor, params={"clip": SHA, "history": "true"}).json()
    assert [(d["decision"], d["current"]) for d in history] == [("false_match", False), ("confirmed", True)]
    assert [d["decision"] for d in c.get("/v1/reviews", headers=auditor, params={"work": "freedoom"}).json()] == [
        "confirmed"
    ]
