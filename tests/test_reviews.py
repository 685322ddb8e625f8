"""Review decisions and disputes: stored with who, when and why, never overwritten; applied when a clip is
rendered; carried through the registry's export and import; generic reference stretches left out of the index.
Stores on a SQLite file and on the real PostgreSQL server."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sqlmodel import func, select

from provenance.audit.manifests import import_manifest_file
from provenance.audit.references import match_key, without_generic
from provenance.audit.reviews import load_reviews
from provenance.engine import EngineParams, FootagePrint
from provenance.engine.pairs import REGIONS
from provenance.report import ClipReviews, DisputeMark, RefInfo, Review, Terms, render_clip
from rightsdb import ConflictError, ManifestError, NotFoundError, Registry, RegistryError, export_manifest
from rightsdb import registry_digest as digest_of
from rightsdb.disputes import list_disputes, open_dispute, resolve_dispute
from rightsdb.models import ReviewDecision
from rightsdb.reviews import GenericSpec, generic_stretches, list_decisions, record_decision

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "fixtures" / "sample"
CLIP = hashlib.sha256(b"a clip").hexdigest()
OTHER = hashlib.sha256(b"another clip").hexdigest()
DAY = date(2026, 12, 4)
PONG = "footage/pixelworks-pong-attract.mp4"


# --------------------------------------------------------------------------- rendering (no database)


def _infos() -> dict[str, RefInfo]:
    return {
        "freedoom::f.mp4": RefInfo(
            1, "f.mp4", "footage", "freedoom", "Freedoom", "hellgate", "Hellgate", "game", Terms("deny")
        ),
        "freedoom::hud.png": RefInfo(
            2, "hud.png", "asset", "freedoom", "Freedoom", "hellgate", "Hellgate", "game", Terms("deny")
        ),
        "pong::p.mp4": RefInfo(3, "p.mp4", "footage", "pong", "Pong", "pixel", "Pixelworks", "game", Terms("unknown")),
        "night::o.png": RefInfo(
            4, "o.png", "asset", "night", "NightOwl", "nightowl", "NightOwl", "stream", Terms("allow")
        ),
    }


def _raw() -> dict[str, Any]:
    segment = {"start": 0.0, "end": 6.0, "ref_start": 2.0, "ref_end": 8.0, "speed": 1.0, "score": 0.9}
    footage = {"segments": [segment], "methods": {"pdq": 12}, "mirrored": False, "best_distance": 9, "region": None}
    return {
        "duration_s": 6.0,
        "frames": 12,
        "frame_size": [320, 240],
        "footage": [
            {"ref": "freedoom::f.mp4", "confidence": 0.95, **footage},
            {"ref": "pong::p.mp4", "confidence": 0.8, **footage},
        ],
        "assets": [],
        "error": None,
    }


def _review(decision: str, licence: str | None = None) -> Review:
    review = Review(decision=decision, note="checked by hand", by="cli:alice", at="2026-12-04T10:00:00+00:00")  # type: ignore[arg-type]
    if licence:
        review.licence = licence
    return review


def test_decisions_change_exposure_reason_and_layers() -> None:
    plain = render_clip("c.mp4", CLIP, _raw(), _infos(), DAY, None)
    assert plain.exposure == "high" and [x.work for x in plain.layers] == ["freedoom", "pong"]
    assert "review" not in plain.to_dict()["layers"][0]  # additive: nothing new without a decision

    dismissed = render_clip(
        "c.mp4", CLIP, _raw(), _infos(), DAY, None, reviews=ClipReviews({"freedoom": _review("false_match")})
    )
    assert dismissed.exposure == "medium"  # pong (unknown) alone counts now
    kept = dismissed.to_dict()["layers"][0]
    assert kept["work"] == "freedoom" and kept["review"]["decision"] == "false_match"  # still shown, dismissed
    assert kept["review"] == {
        "decision": "false_match",
        "note": "checked by hand",
        "by": "cli:alice",
        "at": "2026-12-04T10:00:00+00:00",
    }
    assert "Freedoom" not in dismissed.reason.split(".")[0]
    assert "Dismissed on review as a false match: Freedoom (Hellgate)." in dismissed.reason

    both = ClipReviews({"freedoom": _review("false_match"), "pong": _review("licensed", "PX-2026-7")})
    licensed = render_clip("c.mp4", CLIP, _raw(), _infos(), DAY, None, reviews=both)
    assert licensed.exposure == "low"
    pong = licensed.layers[1]
    assert pong.policy.ai_training == "allow" and pong.policy.stated == "unknown" and pong.verdict == "allowed"
    assert pong.review is not None and pong.review.licence == "PX-2026-7" and "PX-2026-7" in (pong.policy.note or "")

    confirmed = render_clip(
        "c.mp4", CLIP, _raw(), _infos(), DAY, None, reviews=ClipReviews({"freedoom": _review("confirmed")})
    )
    assert confirmed.exposure == "high" and confirmed.layers[0].review is not None


def test_a_claim_upheld_adds_the_layer_and_disputes_are_marked() -> None:
    raw = {**_raw(), "footage": [_raw()["footage"][1]]}  # only pong found
    mark = DisputeMark(id=3, work="freedoom", holder="hellgate", note="our level", at="2026-12-04T09:00:00+00:00")
    claimed = render_clip("c.mp4", CLIP, raw, _infos(), DAY, None, reviews=ClipReviews({}, {"freedoom": [mark]}))
    assert [x.work for x in claimed.layers] == ["pong"] and claimed.exposure == "medium"
    assert claimed.claims == [mark] and "1 open dispute." in claimed.reason
    on_layer = render_clip("c.mp4", CLIP, raw, _infos(), DAY, None, reviews=ClipReviews({}, {"pong": [mark]}))
    assert on_layer.layers[0].dispute == mark and on_layer.claims is None

    upheld = render_clip(
        "c.mp4", CLIP, raw, _infos(), DAY, None, reviews=ClipReviews({"freedoom": _review("confirmed")})
    )
    assert [x.work for x in upheld.layers] == ["freedoom", "pong"] and upheld.exposure == "high"
    assert upheld.layers[0].segments == [] and upheld.layers[0].evidence == []
    gone = render_clip(
        "c.mp4", CLIP, raw, _infos(), DAY, None, reviews=ClipReviews({"freedoom": _review("false_match")})
    )
    assert [x.work for x in gone.layers] == ["pong"]  # nothing to dismiss: nothing added

    broken = render_clip(
        "c.mp4",
        CLIP,
        {"error": "truncated"},
        _infos(),
        DAY,
        None,
        reviews=ClipReviews({"pong": _review("licensed", "L")}),
    )
    assert broken.exposure == "unknown" and broken.layers == []  # fail-safe: a decision never clears an unread clip


# --------------------------------------------------------------------------- the index without generic stretches


def _print(seconds: int) -> FootagePrint:
    rng = np.random.default_rng(1)
    n = seconds * 5
    return FootagePrint(
        timestamps=np.arange(n, dtype=np.float32) / 5,
        hashes=rng.integers(0, 256, (n, len(REGIONS), 32), dtype=np.uint8),
        quality=np.full((n, len(REGIONS)), 90, np.uint8),
        local_times=np.zeros(0, np.float32),  # as many as local feature sets (the real prints are checked on rescan)
        local_features=(),
        duration_s=float(seconds),
    )


def test_generic_stretches_leave_the_index() -> None:
    fp = _print(10)
    rgba = np.zeros((8, 8, 4), np.uint8)
    payload = [("footage", "w::a.mp4", "game", fp.to_payload()), ("asset", "w::hud.png", "game", rgba)]
    assert without_generic(payload, []) is payload
    cut = without_generic(payload, [("w", "a.mp4", "x", 2.0, 4.0), ("w", "hud.png", "y", None, None)])
    assert [(k, key) for k, key, _, _ in cut] == [("footage", "w::a.mp4")]  # the asset is gone whole
    left = FootagePrint.from_payload(*cut[0][3])
    assert len(left.timestamps) == len(fp.timestamps) - 11  # 2.0, 2.2, ..., 4.0
    assert not ((left.timestamps >= 2.0) & (left.timestamps <= 4.0)).any()
    assert np.array_equal(left.hashes, fp.hashes[(fp.timestamps < 2.0) | (fp.timestamps > 4.0)])
    assert without_generic(payload[:1], [("w", "a.mp4", "x", 0.0, 10.0)]) == []  # nothing left: left out


# --------------------------------------------------------------------------- the store


@pytest.fixture
def registry(db_url: str) -> Any:
    reg = Registry(db_url)
    import_manifest_file(reg, SAMPLE / "registry" / "manifest.yaml")
    yield reg
    reg.dispose()


def _count(registry: Registry) -> int:
    with registry.session() as session:
        return int(session.exec(select(func.count()).select_from(ReviewDecision)).one())


def test_decisions_are_kept_with_history(registry: Registry) -> None:
    first = record_decision(registry, CLIP, "freedoom", "confirmed", "HUD clearly visible", "cli:alice")
    second = record_decision(registry, CLIP.upper(), "freedoom", "false_match", "a different game", "key:k1")
    record_decision(registry, OTHER, "pw-pong", "licensed", "bought", "cli:bob", licence="PX-7")
    current = list_decisions(registry, CLIP)
    assert [(d["id"], d["decision"], d["by"]) for d in current] == [(second["id"], "false_match", "key:k1")]
    history = list_decisions(registry, CLIP, history=True)
    assert [(d["decision"], d["current"]) for d in history] == [("confirmed", False), ("false_match", True)]
    assert history[0]["note"] == "HUD clearly visible" and history[0]["at"] <= history[1]["at"]
    assert first["id"] != second["id"]
    assert {d["work"] for d in list_decisions(registry)} == {"freedoom", "pw-pong"}
    assert [d["work"] for d in list_decisions(registry, holder="pixelworks")] == ["pw-pong"]
    reviews = load_reviews(registry)
    got = reviews.for_clip(OTHER)
    assert got is not None and got.decisions["pw-pong"].licence == "PX-7" and reviews.for_clip(None) is None


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "says"),
    [
        (("not-a-sha", "freedoom", "confirmed", "n"), {}, RegistryError, "clip"),
        ((CLIP, "no-such-work", "confirmed", "n"), {}, NotFoundError, "no-such-work"),
        ((CLIP, "freedoom", "maybe", "n"), {}, RegistryError, "decision"),
        ((CLIP, "freedoom", "confirmed", "  "), {}, RegistryError, "note"),
        ((CLIP, "freedoom", "licensed", "n"), {}, RegistryError, "licence"),
        ((CLIP, "freedoom", "confirmed", "n"), {"licence": "L"}, RegistryError, "licence"),
        (
            (CLIP, "freedoom", "confirmed", "n"),
            {"generic": GenericSpec("assets/freedoom-hud.png")},
            RegistryError,
            "false_match",
        ),
        ((CLIP, "freedoom", "false_match", "n"), {"generic": GenericSpec("nope.mp4")}, NotFoundError, "nope.mp4"),
        (
            (CLIP, "freedoom", "false_match", "n"),
            {"generic": GenericSpec("assets/freedoom-hud.png", 0, 1)},
            RegistryError,
            "still",
        ),
        ((CLIP, "pw-pong", "false_match", "n"), {"generic": GenericSpec(PONG, 5, 2)}, RegistryError, "stretch"),
        ((CLIP, "pw-pong", "false_match", "n"), {"generic": GenericSpec(PONG, 5, None)}, RegistryError, "both"),
        ((CLIP, "pw-pong", "confirmed", "bad\x00note"), {}, RegistryError, "NUL"),
    ],
)
def test_bad_decisions_are_refused_and_change_nothing(
    registry: Registry, args: tuple[str, ...], kwargs: dict[str, Any], error: type[Exception], says: str
) -> None:
    with pytest.raises(error, match=says):
        record_decision(registry, *args, "cli:alice", **kwargs)  # type: ignore[misc]
    assert _count(registry) == 0


def test_a_generic_stretch_changes_the_match_key_and_digest(registry: Registry) -> None:
    params = EngineParams()
    key, digest = match_key(registry, params), _digest(registry)
    record_decision(registry, CLIP, "pw-pong", "confirmed", "pong indeed", "cli:a")
    assert match_key(registry, params) == key and _digest(registry) == digest  # a plain decision: no re-match
    made = record_decision(
        registry, CLIP, "pw-pong", "false_match", "attract screen", "cli:a", generic=GenericSpec(PONG, 0.0, 3.5)
    )
    assert made["generic"] == {"reference": PONG, "ref_start": 0.0, "ref_end": 3.5}
    assert generic_stretches(registry) == [("pw-pong", PONG, _sha(PONG), 0.0, 3.5)]
    assert match_key(registry, params) != key and _digest(registry) != digest
    record_decision(registry, CLIP, "pw-pong", "confirmed", "it was pong after all", "cli:b")
    assert generic_stretches(registry) == []  # superseded: the stretch is matched again
    assert match_key(registry, params) == key and _digest(registry) == digest


def _sha(path: str) -> str:
    return hashlib.sha256((SAMPLE / "registry" / path).read_bytes()).hexdigest()


def _digest(registry: Registry) -> str:
    with registry.session() as session:
        return digest_of(session)


def test_disputes_open_once_and_resolve_into_a_decision(registry: Registry) -> None:
    opened = open_dispute(registry, CLIP, "freedoom", "our E1M1 footage at 0:04", "key:h1 (holder hellgate)")
    assert opened["holder"] == "hellgate" and opened["status"] == "open"
    with pytest.raises(ConflictError, match="open dispute already"):
        open_dispute(registry, CLIP, "freedoom", "again", "key:h1")
    with pytest.raises(NotFoundError):
        open_dispute(registry, CLIP, "no-such-work", "x", "key:h1")
    other = open_dispute(registry, OTHER, "pw-pong", "claim", "key:h2")
    assert [d["id"] for d in list_disputes(registry, "open", "hellgate")] == [opened["id"]]
    reviews = load_reviews(registry)
    assert reviews.open_disputes([CLIP, CLIP, OTHER, None]) == 2
    with pytest.raises(RegistryError, match="licence"):
        resolve_dispute(registry, opened["id"], "licensed", "x", "cli:a")
    assert list_disputes(registry, "open", clip=CLIP)  # a refused resolution leaves it open
    done = resolve_dispute(registry, opened["id"], "confirmed", "their footage indeed", "cli:auditor")
    assert done["dispute"]["status"] == "resolved" and done["dispute"]["decision"] == done["decision"]["id"]
    assert done["decision"]["dispute"] == opened["id"] and list_decisions(registry, CLIP)[0]["decision"] == "confirmed"
    with pytest.raises(ConflictError, match="resolved already"):
        resolve_dispute(registry, opened["id"], "confirmed", "again", "cli:auditor")
    with pytest.raises(NotFoundError):
        resolve_dispute(registry, 999999, "confirmed", "x", "cli:auditor")
    assert [d["id"] for d in list_disputes(registry, "open")] == [other["id"]]


# --------------------------------------------------------------------------- export and import


def test_decisions_survive_export_and_import(registry: Registry, tmp_path: Path) -> None:
    record_decision(registry, CLIP, "freedoom", "confirmed", "first look", "cli:alice")
    record_decision(registry, CLIP, "freedoom", "false_match", "a lookalike\nsecond line", "key:k1")
    record_decision(registry, OTHER, "pw-pong", "licensed", "bought", "cli:bob", licence="PX-7")
    record_decision(
        registry, OTHER, "pw-pong", "false_match", "generic", "cli:bob", generic=GenericSpec(PONG, 1.0, 2.0)
    )
    record_decision(
        registry,
        CLIP,
        "nightowl-channel",
        "false_match",
        "template",
        "cli:c",
        generic=GenericSpec("assets/nightowl-overlay.png"),
    )
    out = tmp_path / "bundle" / "manifest.yaml"
    out.parent.mkdir()
    doc = export_manifest(registry, out, copy_references=True)
    assert len(doc["reviews"]) == 5
    before = list_decisions(registry, history=True)

    target = Registry(f"sqlite:///{tmp_path / 'copy.db'}")
    try:
        report = import_manifest_file(target, out)
        assert report.reviews == 5
        strip = lambda rows: [{k: v for k, v in d.items() if k not in ("id",)} for d in rows]  # noqa: E731
        assert strip(list_decisions(target, history=True)) == strip(before)
        assert generic_stretches(target) == generic_stretches(registry)
        assert _digest(target) == _digest(registry)
        assert import_manifest_file(target, out).reviews == 0  # importing again adds nothing
        assert len(list_decisions(target, history=True)) == 5
    finally:
        target.dispose()
    # and back into the first database (SQLite or PostgreSQL): nothing new, nothing lost
    assert import_manifest_file(registry, out).reviews == 0
    assert list_decisions(registry, history=True) == before


def test_manifests_without_reviews_import_as_before_and_bad_reviews_change_nothing(
    registry: Registry, tmp_path: Path
) -> None:
    assert import_manifest_file(registry, SAMPLE / "registry" / "manifest.yaml").reviews == 0
    good = {
        "clip": CLIP,
        "work": "freedoom",
        "decision": "confirmed",
        "note": "n",
        "by": "cli:a",
        "at": "2026-12-01T10:00:00Z",
    }
    cases = [
        ({**good, "decision": "maybe"}, "reviews[0]: decision"),
        ({**good, "work": "nope"}, "reviews[0]: work"),
        ({**good, "clip": "xyz"}, "reviews[0]: clip"),
        ({**good, "at": "yesterday"}, "reviews[0]: at"),
        ({**good, "colour": "red"}, "reviews[0]: colour"),
        ({**good, "decision": "licensed"}, "reviews[0]: licence"),
        ({**good, "decision": "false_match", "exclude": {"reference": "nope.mp4"}}, "reviews[0]: reference"),
    ]
    for item, says in cases:
        path = tmp_path / "m.yaml"
        path.write_text(yaml.safe_dump({"reviews": [item]}))  # works named by a review may be in the registry
        with pytest.raises(ManifestError, match=says.replace("[", r"\[").replace("]", r"\]")):
            import_manifest_file(registry, path)
        assert _count(registry) == 0
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"reviews": [good, good]}))
    assert import_manifest_file(registry, path).reviews == 1  # the same decision twice is one decision
