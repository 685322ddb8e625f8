"""Opt-out signals: the vocabularies (C2PA/CAWG training-mining, TDMRep, X-Robots-Tag, IETF Content-Usage,
robots.txt, ai.txt, tdmrep.json), the signals embedded in real files (a clip signed with C2PA here, with a
certificate chain made at test time; XMP; container tags) and their join with a clip's layers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from provenance.dataset import ClipSource
from provenance.media.probe import probe
from provenance.media.signals import read_signals
from provenance.report import (
    Clip,
    Layer,
    Policy,
    Signal,
    apply_signals,
    content_usage,
    embedded_signals,
    header_signals,
    reason,
    robots_verdict,
    tdmrep_verdict,
    x_robots_tag,
)
from provenance.report.outputs import cleared
from provenance.report.robots import ai_txt_verdict, robots_usage
from tests.signing import sign_clip

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "fixtures" / "sample" / "dataset" / "clean" / "bikes.mp4"
FFMPEG = ("ffmpeg", "-v", "error", "-y", "-i")


# --- vocabularies --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "effect"),
    [
        ("train-ai=n", "reserves"),
        ("train-ai=y, train-genai=n", "reserves"),  # the more specific category says no
        ("train-ai=y, train-ai=n", "reserves"),  # n wins over y
        ("train-ai=n, train-ai=y", "reserves"),
        ("bots=n", "reserves"),  # train-ai unset takes its parent's
        ("bots=n, train-ai=y", "allows"),  # train-genai unset takes train-ai's
        ("train-ai=y", "allows"),
        ("search=n", "info"),
        ("train-ai=maybe", "info"),
        ("", "info"),
    ],
)
def test_content_usage_follows_the_aipref_vocabulary(value: str, effect: str) -> None:
    assert content_usage(value) == effect


@pytest.mark.parametrize(
    ("value", "effect"),
    [("noai", "reserves"), ("noindex, noimageai", "reserves"), ("otherbot: noai", "reserves"), ("noindex", "info")],
)
def test_x_robots_tag(value: str, effect: str) -> None:
    assert x_robots_tag(value) == effect


ROBOTS = """# a site's robots.txt
User-agent: *
Disallow: /private/

User-agent: GPTBot
User-agent: CCBot
Disallow: /videos/
Allow: /videos/public/

User-agent: Googlebot
Disallow: /

User-agent: ClaudeBot
Disallow: /*.mp4$
Content-Usage: /clips/ train-ai=n
"""


@pytest.mark.parametrize(
    ("path", "reserves", "who"),
    [
        ("/videos/cat.mp4", True, "GPTBot: Disallow: /videos/"),
        ("/videos/public/cat.webm", None, ""),  # the longer Allow wins for GPTBot; ClaudeBot only bars .mp4
        ("/videos/public/cat.mp4", True, "ClaudeBot: Disallow: /*.mp4$"),
        ("/private/x.webm", True, "every crawler (User-agent: *): Disallow: /private/"),
        ("/about.webm", None, ""),  # Googlebot's Disallow: / is not an AI crawler's
    ],
)
def test_robots_rules_for_ai_crawlers(path: str, reserves: bool | None, who: str) -> None:
    verdict = robots_verdict(ROBOTS, path)
    assert verdict.reserves is reserves
    assert who in verdict.detail


def test_robots_content_usage_lines_by_path() -> None:
    assert robots_usage(ROBOTS, "/clips/a.mp4") == ["train-ai=n"]
    assert robots_usage(ROBOTS, "/other/a.mp4") == []


def test_ai_txt_and_tdmrep_json() -> None:
    ai_txt = "User-Agent: *\nDisallow: *.mp4\nAllow: /free/*.mp4\n"
    assert ai_txt_verdict(ai_txt, "/v/a.mp4").reserves is True
    assert ai_txt_verdict(ai_txt, "/free/a.mp4").reserves is False
    assert ai_txt_verdict(ai_txt, "/v/a.txt").reserves is None
    rules = '[{"location": "/media/*", "tdm-reservation": 1, "tdm-policy": "https://x.example/p.json"},' + (
        '{"location": "/*", "tdm-reservation": 0}]'
    )
    first = tdmrep_verdict(rules, "/media/a.mp4")
    assert (first.reserves, first.policy) == (True, "https://x.example/p.json")
    assert tdmrep_verdict(rules, "/other.mp4").reserves is False
    with pytest.raises(ValueError, match="tdm-reservation must be 0 or 1"):
        tdmrep_verdict('[{"location": "/*", "tdm-reservation": 2}]', "/a")


def test_headers_from_manifest_columns_and_nested_objects() -> None:
    found = header_signals(
        {
            "source_url": "https://v.example/a.mp4",
            "X_Robots_Tag": "noai",
            "headers": {"Content-Usage": "train-ai=y", "tdm-reservation": "1", "TDM-Policy": "https://p.example"},
            "fetched_at": "2025-03-01T10:00:00Z",
        }
    )
    got = {(s.kind, s.value, s.effect, s.source, s.date) for s in found}
    assert got == {
        ("X-Robots-Tag", "noai", "reserves", "header", "2025-03-01"),
        ("Content-Usage", "train-ai=y", "allows", "header", "2025-03-01"),
        ("tdm-reservation", "1", "reserves", "header", "2025-03-01"),
        ("tdm-policy", "https://p.example", "info", "header", "2025-03-01"),
    }
    assert header_signals({"license": "cc-by"}) == []


@pytest.mark.parametrize(
    ("entries", "effect"),
    [
        ({"cawg.ai_training": "notAllowed"}, "reserves"),
        ({"c2pa.data_mining": "constrained", "c2pa.ai_training": "allowed"}, "reserves"),
        ({"cawg.ai_training": "allowed", "cawg.ai_generative_training": "allowed"}, "allows"),
        ({"cawg.ai_inference": "notAllowed"}, "info"),  # inference is not training
        ({"cawg.ai_training": "perhaps"}, "unreadable"),  # outside the vocabulary: fail closed
        ({}, "unreadable"),
    ],
)
def test_training_mining_entries(entries: dict[str, str], effect: str) -> None:
    fact = {"kind": "cawg.training-mining", "value": "", "source": "c2pa", "entries": entries}
    (signal,) = embedded_signals([fact])
    assert signal.effect == effect


# --- signals in real files -----------------------------------------------------------------------------------


def test_a_clip_signed_with_cawg_training_mining_is_read(tmp_path: Path) -> None:
    entries = {
        "ai_training": "notAllowed",
        "ai_generative_training": "constrained",
        "data_mining": "allowed",
        "ai_inference": "allowed",
    }
    signed = sign_clip(CLIP, tmp_path / "signed.mp4", entries)
    facts = read_signals(signed)
    assert len(facts) == 1
    fact = facts[0]
    assert fact["kind"] == "cawg.training-mining" and fact["source"] == "c2pa"
    assert fact["validation"] == "untrusted"  # signature and hashes hold; the test root is on no trust list
    assert {k.split(".", 1)[1]: v for k, v in fact["entries"].items()} == entries
    (signal,) = embedded_signals(facts)
    assert signal.effect == "reserves"  # ai_training notAllowed; constrained counts as not allowed too
    assert "ai_training=notAllowed" in signal.value


def test_the_old_c2pa_label_and_constrained_alone(tmp_path: Path) -> None:
    allowed = sign_clip(
        CLIP,
        tmp_path / "allowed.mp4",
        {"ai_training": "allowed", "ai_generative_training": "allowed", "data_mining": "allowed"},
        label="c2pa.training-mining",
    )
    (signal,) = embedded_signals(read_signals(allowed))
    assert (signal.kind, signal.effect) == ("c2pa.training-mining", "allows")
    constrained = sign_clip(CLIP, tmp_path / "constrained.mp4", {"ai_generative_training": "constrained"})
    (signal,) = embedded_signals(read_signals(constrained))
    assert signal.effect == "reserves"


def test_a_tampered_signed_clip_is_invalid_and_still_an_opt_out(tmp_path: Path) -> None:
    signed = sign_clip(CLIP, tmp_path / "signed.mp4", {"ai_training": "notAllowed"})
    data = bytearray(signed.read_bytes())
    data[data.find(b"mdat") + 4000] ^= 0xFF
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(bytes(data))
    (signal,) = embedded_signals(read_signals(tampered))
    assert (signal.validation, signal.effect) == ("invalid", "reserves")  # fail closed, marked invalid


def test_container_tags_and_xmp(tmp_path: Path) -> None:
    mkv = tmp_path / "tagged.mkv"
    subprocess.run(
        [*FFMPEG, str(CLIP), "-c", "copy", "-metadata", "tdm-reservation=1", "-metadata", "copyright=Acme", str(mkv)],
        check=True,
    )
    got = {(f["kind"], f["value"]) for f in read_signals(mkv)}
    assert got == {("tdm-reservation", "1"), ("rights", "Acme")}
    mp4 = tmp_path / "comment.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(CLIP),
            "-c",
            "copy",
            "-metadata",
            "comment=tdm-reservation: 1",
            str(mp4),
        ],
        check=True,
    )
    assert [(f["kind"], f["value"]) for f in read_signals(mp4)] == [("tdm-reservation", "1")]
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:tdm="http://www.w3.org/ns/tdmrep/" xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/" tdm:reservation="1" tdm:policy="https://h.example/policy">'
        "<plus:DataMining>http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING</plus:DataMining>"
        '<dc:rights><rdf:Alt><rdf:li xml:lang="x-default">All rights reserved</rdf:li></rdf:Alt></dc:rights>'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    png = tmp_path / "still.png"
    Image.new("RGB", (32, 24), (10, 20, 30)).save(png, pnginfo=info)
    effects = {(s.kind, s.effect) for s in embedded_signals(read_signals(png))}
    assert effects == {
        ("tdm-reservation", "reserves"),
        ("tdm-policy", "info"),
        ("plus:DataMining", "reserves"),
        ("rights", "info"),
    }
    assert read_signals(CLIP) == []  # the sample clip carries nothing
    assert read_signals(tmp_path / "missing.mp4") == []


def test_a_probed_clips_tags_are_not_read_again_unless_the_file_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clip is probed (decoded) before its signals are read: the tags the probe read serve, without opening the
    container again; a file changed since its probe is read anew."""
    import av

    mkv = tmp_path / "tagged.mkv"

    def tag(value: str) -> None:
        subprocess.run([*FFMPEG, str(CLIP), "-c", "copy", "-metadata", f"copyright={value}", str(mkv)], check=True)

    tag("Acme")
    unprobed = read_signals(mkv)
    assert [(f["kind"], f["value"]) for f in unprobed] == [("rights", "Acme")]
    probe(mkv)
    opened: list[object] = []
    real_open = av.open
    monkeypatch.setattr(av, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    assert read_signals(mkv) == unprobed
    assert opened == []  # the probe's tags served
    tag("Other Corp")  # rewritten in place after the probe: another size, another modification time
    assert [(f["kind"], f["value"]) for f in read_signals(mkv)] == [("rights", "Other Corp")]
    assert len(opened) == 1
    # a scan's clip is a dataset entry, not a path: the probe of its plain file serves it the same way
    entry = ClipSource("tagged.mkv", mkv)
    probe(entry)
    before = len(opened)
    assert [(f["kind"], f["value"]) for f in read_signals(entry)] == [("rights", "Other Corp")]
    assert len(opened) == before  # the probe's tags served
    tag("Acme")
    assert [(f["kind"], f["value"]) for f in read_signals(entry)] == [("rights", "Acme")]
    assert len(opened) == before + 1


# --- the join ------------------------------------------------------------------------------------------------


def _clip(*layers: Layer) -> Clip:
    clip = Clip(path="a.mp4", sha256=None, duration_s=4.0, exposure="none", error=None, layers=list(layers))
    from provenance.report import exposure_of

    clip.exposure = exposure_of([x.policy.ai_training for x in layers])
    return clip


def _layer(ai: str, source: str | None = None) -> Layer:
    policy = Policy(ai_training=ai)  # type: ignore[arg-type]
    if source:
        policy.source = source
    return Layer(layer="game", holder="acme", work="racer", title="Racer", policy=policy, confidence=0.9, segments=[])


def _opt_out(validation: str | None = None) -> Signal:
    signal = Signal(kind="cawg.training-mining", value="ai_training=notAllowed", source="c2pa", effect="reserves")
    if validation:
        signal.validation = validation
    return signal


def test_join_flags_an_opt_out_without_a_registered_work() -> None:
    clip = _clip()
    apply_signals(clip, [_opt_out("invalid")], reason(clip))
    assert clip.signals is not None and clip.signals.opt_out and clip.signals.verdict == "opt_out_unregistered"
    assert clip.exposure == "high" and not cleared(clip)
    assert clip.reason is not None and clip.reason.startswith("High exposure: no registered work matched")
    assert "manifest invalid" in clip.reason


def test_join_flags_a_stripped_reservation_and_keeps_plain_clips_as_they_were() -> None:
    stripped = _clip(_layer("deny", "tdm-reservation"))
    apply_signals(stripped, [], reason(stripped))
    assert stripped.signals is not None and stripped.signals.verdict == "reservation_stripped"
    assert "no longer carries the reservation of Racer (tdm-reservation)" in (stripped.reason or "")
    plain_deny = _clip(_layer("deny"))  # terms the holder registered, not a machine-readable reservation
    apply_signals(plain_deny, [], reason(plain_deny))
    assert plain_deny.signals is None and plain_deny.to_dict().keys() == _clip(_layer("deny")).to_dict().keys() | {
        "reason"
    }
    allowed = _clip(_layer("allow"))
    apply_signals(allowed, [_opt_out()], reason(allowed))
    assert (allowed.exposure, allowed.signals.verdict if allowed.signals else None) == ("high", "opt_out")
    unreadable = _clip()
    signal = Signal(kind="c2pa", value="unreadable", source="c2pa", effect="unreadable")
    apply_signals(unreadable, [signal], reason(unreadable))
    assert unreadable.exposure == "medium" and not cleared(unreadable)
    yes = _clip()
    apply_signals(yes, [Signal(kind="Content-Usage", value="train-ai=y", source="header", effect="allows")], "x")
    assert yes.exposure == "none" and yes.signals is not None and yes.signals.verdict == "allowed" and cleared(yes)


# --- bad input: never a hang, never a clip cleared on a signal that could not be read ---------------------------


def test_a_corrupt_c2pa_manifest_is_never_cleared(tmp_path: Path) -> None:
    signed = sign_clip(CLIP, tmp_path / "signed.mp4", {"ai_training": "notAllowed"})
    data = bytearray(signed.read_bytes())
    at = data.find(b"c2pa.signature")
    assert at > 0
    data[at - 64 : at + 64] = bytes(128)  # the manifest store's boxes around the signature zeroed
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    (signal,) = embedded_signals(read_signals(broken))  # a manifest that is there is never read as no signal
    assert (signal.kind, signal.value, signal.effect, signal.validation) == (
        "c2pa",
        "unreadable",
        "unreadable",
        "invalid",
    )
    clip = _clip()
    apply_signals(clip, [signal], reason(clip))
    assert not cleared(clip) and clip.exposure == "medium"
    assert clip.reason == (
        "Medium exposure: a signal could not be read (c2pa unreadable in its C2PA manifest, manifest invalid): "
        "a person has to look."
    )
    # a file the C2PA library cannot parse, holding no manifest store, is no signal (its decoder reports it)
    for name in ("text.mp4", "corrupt.mp4", "empty.mp4"):
        assert read_signals(REPO / "fixtures" / "media" / name) == []


def test_hostile_xmp_and_huge_tags(tmp_path: Path) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:tdm="http://www.w3.org/ns/tdmrep/" tdm:reservation="&b;"/></rdf:RDF></x:xmpmeta>'
    )
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", bomb)
    png = tmp_path / "bomb.png"
    Image.new("RGB", (8, 8)).save(png, pnginfo=info)
    assert read_signals(png) == []  # a packet with a DTD is not parsed
    mkv = tmp_path / "huge.mkv"
    subprocess.run([*FFMPEG, str(CLIP), "-c", "copy", "-metadata", "license=" + "x" * 5000, str(mkv)], check=True)
    (fact,) = read_signals(mkv)
    assert fact["kind"] == "rights" and len(fact["value"]) == 512 and fact["value"].endswith("\u2026")


def test_unreadable_snapshots_are_signals_that_hold_the_clip_back(tmp_path: Path) -> None:
    from provenance.audit import Snapshots, collected_signals
    from provenance.errors import ConfigError

    site = tmp_path / "snap" / "a.example"
    (site / ".well-known").mkdir(parents=True)
    (site / "robots.txt").write_bytes(b"User-agent: GPTBot\nDisallow: /\xff\xfe\n")
    (site / ".well-known" / "tdmrep.json").write_text('{"location": "/"}')
    (site / "ai.txt").write_text("User-Agent: *\nDisallow: /v/\n")
    found = collected_signals({"source_url": "https://a.example/v/1.mp4"}, Snapshots(tmp_path / "snap"))
    got = {(s.kind, s.source, s.effect) for s in found}
    assert got == {
        ("robots.txt", "robots", "unreadable"),
        ("tdmrep.json", "tdmrep", "unreadable"),
        ("ai.txt", "ai.txt", "reserves"),
    }
    assert next(s for s in found if s.source == "robots").detail == "a.example/robots.txt: not UTF-8 text"
    assert all(s.date for s in found if s.source == "ai.txt")
    clip = _clip()
    unreadable = [s for s in found if s.effect == "unreadable"]
    apply_signals(clip, unreadable, reason(clip))
    assert clip.exposure == "medium" and clip.signals is not None and clip.signals.verdict == "unreadable"
    assert collected_signals({"source_url": "https://b.example/x.mp4"}, Snapshots(tmp_path / "snap")) == []
    assert collected_signals({"source_url": "ftp://a.example/v/1.mp4"}, Snapshots(tmp_path / "snap")) == []
    with pytest.raises(ConfigError, match="not a folder"):
        Snapshots(tmp_path / "none")
