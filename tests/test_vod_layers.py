"""What a streamer's VOD shows passes on to the clips cut from it (:mod:`provenance.audit.shown`), on the sample's
NightOwl VOD (Freedoom gameplay with the game's HUD inside the streamer's layout, real footage): the VOD is matched
once when the index is written, and a cut too small for its own pixels to show the HUD inherits it, on the clip's
timeline, with the VOD named as the evidence's source. Also: thin borders judged at a copy's resolution do not hide
a copy from its reference (:data:`~provenance.engine.prints.THIN_BORDER`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from provenance.audit import scan
from provenance.audit.clip import match_source, raw_matches
from provenance.audit.indexdir import ensure_index, extend_index_dir, open_index_dir, write_index_dir
from provenance.audit.references import index_payload, load_infos, match_key
from provenance.audit.shown import SHOWN, with_shown
from provenance.engine import EngineParams, match_clip
from provenance.engine.pairs import WHOLE
from provenance.engine.prints import fingerprint_window
from provenance.engine.sampling import decode_all
from provenance.errors import IndexStoreError
from rightsdb import Registry

from .apihelp import SAMPLE, fingerprinted_sqlite

sys.path.insert(0, str(SAMPLE.parents[1] / "fixtures"))
import footage as F

pytestmark = pytest.mark.slow

PARAMS = EngineParams()
VOD_PATH = "footage/nightowl-vod-2024-03-14.mp4"
VOD = SAMPLE / "registry" / VOD_PATH
VOD_KEY = f"nightowl-channel::{VOD_PATH}"
HUD = "freedoom::assets/freedoom-hud.png"
CUT_START = 3.0  # seconds of the VOD where the cuts start
CUT_S = 6.0


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Any:
    db = shutil.copyfile(fingerprinted_sqlite(tmp_path_factory), tmp_path_factory.mktemp("vod") / "registry.db")
    reg = Registry(f"sqlite:///{db}", auto_migrate=False, create=False)
    yield reg
    reg.dispose()


@pytest.fixture(scope="module")
def opened(registry: Registry) -> Any:
    directory = ensure_index(registry, PARAMS, match_key(registry, PARAMS))
    assert directory is not None and (directory / SHOWN).is_file()
    return open_index_dir(directory, PARAMS)


@pytest.fixture(scope="module")
def cuts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Cuts of the VOD from :data:`CUT_START`, downscaled as re-uploads are: by name ``WxH``."""
    out = tmp_path_factory.mktemp("cuts")
    made = {}
    for size in ((384, 216), (320, 180)):
        path = out / f"{size[0]}x{size[1]}.mp4"
        F.write_video(path, F.read_video(VOD, start=CUT_START, end=CUT_START + CUT_S), 15, size=size, crf=26)
        made[f"{size[0]}x{size[1]}"] = path
    return made


def test_the_vod_shows_the_game_hud_and_nothing_of_its_own_work(opened: Any) -> None:
    shown = opened.shown[VOD_KEY]
    assert HUD in [a["ref"] for a in shown["assets"]]
    own = [e["ref"] for e in (*shown["footage"], *shown["assets"]) if e["ref"].startswith("nightowl-channel::")]
    assert own == []  # the VOD's own hashes and overlay are ignored when it is matched, and never passed on
    hud = next(a for a in shown["assets"] if a["ref"] == HUD)
    assert max(hud["frames"]) - min(hud["frames"]) >= CUT_S  # seen across the stretch the cuts copy


def test_registry_fingerprint_says_what_each_vod_shows(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    db = shutil.copyfile(fingerprinted_sqlite(tmp_path_factory), tmp_path / "registry.db")
    cmd = [sys.executable, "-m", "provenance", "--db", f"sqlite:///{db}", "registry", "fingerprint", "-j", "1"]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    lines = [x for x in done.stderr.splitlines() if " shows " in x]
    assert lines == [f"{VOD_KEY} shows freedoom: passed on to clips that copy it"]


def test_a_small_cut_inherits_the_hud_on_its_own_timeline(opened: Any, cuts: dict[str, Path]) -> None:
    cut = cuts["384x216"]
    direct = raw_matches(match_clip(cut, opened))
    copies = [f for f in direct["footage"] if f["ref"] == VOD_KEY]
    assert copies and abs(copies[0]["segments"][0]["ref_start"] - CUT_START) < 0.5
    assert HUD not in [a["ref"] for a in direct["assets"]]  # the cut's own pixels are too small for the HUD
    _, _, raw, _ = match_source(cut, opened, "k", lambda key: None)
    hud = next(a for a in raw["assets"] if a["ref"] == HUD)
    assert hud["via"]["ref"] == VOD_KEY and abs(hud["via"]["start"] - CUT_START) < 0.5
    assert 0.0 <= min(hud["frames"]) < 0.5 and max(hud["frames"]) <= CUT_S
    # mapped through the copy: the VOD's frames minus where the cut starts in it
    vod_frames = [t for t in opened.shown[VOD_KEY]["assets"][0]["frames"] if CUT_START < t < CUT_START + CUT_S]
    for t in vod_frames:
        assert min(abs(f - (t - CUT_START)) for f in hud["frames"]) < 0.1
    x0, y0, x1, y1 = hud["region"]
    assert 0 <= x0 < x1 <= 1 and 0.5 < y0 < y1 <= 1  # the HUD's place at the bottom of the game box


def test_the_report_names_the_vod_as_the_source_of_the_evidence(registry: Registry, cuts: dict[str, Path]) -> None:
    report = scan(registry, cuts["384x216"].parent).to_dict()
    clip = next(c for c in report["clips"] if c["path"] == "384x216.mp4")
    layers = {layer["work"]: layer for layer in clip["layers"]}
    assert {"nightowl-channel", "freedoom"} <= set(layers)
    evidence = layers["freedoom"]["evidence"]
    assert evidence and all(e["via"]["reference"] == VOD_PATH for e in evidence)
    assert abs(evidence[0]["via"]["ref_start"] - CUT_START) < 0.5
    assert all(e.get("via") is None for e in layers["nightowl-channel"]["evidence"])  # found in the clip itself


def test_a_reference_found_in_the_clip_itself_is_not_inherited_again(opened: Any) -> None:
    shown = opened.shown
    raw = {
        "footage": [{"ref": VOD_KEY, "segments": [_seg(0.0, 6.0, CUT_START, CUT_START + 6.0)], "region": None}],
        "assets": [{"ref": HUD, "frames": [1.0, 2.0], "score": 30.0, "method": "features", "region": None}],
    }
    assert with_shown(raw, shown) is raw


def test_times_and_places_map_through_the_copy() -> None:
    shown = {
        "vod": {
            "footage": [
                {
                    "ref": "game::ref",
                    "segments": [_seg(10.0, 20.0, 100.0, 110.0)],
                    "methods": {"orb": 9},
                    "mirrored": False,
                    "best_distance": None,
                    "confidence": 0.5,
                    "region": [0.5, 0.0, 1.0, 0.5],
                }
            ],
            "assets": [],
        }
    }
    # the clip plays VOD 12-18 s at double speed in 0-3 s, in the left half of its frame, mirrored
    copy = {"ref": "vod", "segments": [_seg(0.0, 3.0, 12.0, 18.0)], "region": [0.0, 0.0, 0.5, 1.0], "mirrored": True}
    out = with_shown({"footage": [copy], "assets": []}, shown)
    found = out["footage"][1]
    assert found["via"] == {"ref": "vod", "start": 12.0, "end": 18.0}
    (seg,) = found["segments"]
    assert (seg["start"], seg["end"], seg["ref_start"], seg["ref_end"], seg["speed"]) == (0.0, 3.0, 102.0, 108.0, 2.0)
    assert found["region"] == [0.0, 0.0, 0.25, 0.5] and found["mirrored"] is True
    # a copy of another stretch of the VOD shares less than a second of it with the finding: nothing passes on
    elsewhere = {"ref": "vod", "segments": [_seg(0.0, 5.0, 19.5, 24.5)], "region": None}
    assert with_shown({"footage": [elsewhere], "assets": []}, shown)["footage"] == [elsewhere]
    # the clip plays VOD 12-18 s backwards in 0-6 s: VOD 18 s at 0, 12 s at 6; the finding's 12-18 s of the VOD
    # is reference 102-108 s, which the clip shows backwards from 0 to 6 s
    backwards = {"ref": "vod", "segments": [{**_seg(0.0, 6.0, 12.0, 18.0), "speed": -1.0}], "region": None}
    (seg,) = with_shown({"footage": [backwards], "assets": []}, shown)["footage"][1]["segments"]
    assert (seg["start"], seg["end"], seg["ref_start"], seg["ref_end"], seg["speed"]) == (0.0, 6.0, 102.0, 108.0, -1.0)


def test_what_vods_show_is_kept_when_the_index_is_extended(registry: Registry, tmp_path: Path) -> None:
    infos = load_infos(registry)
    payload = index_payload(registry, infos)
    vod_only = [p for p in payload if p[1] == VOD_KEY]
    hud_only = [p for p in payload if p[1] == HUD]
    # the VOD added to an index without it: matched when added
    write_index_dir(PARAMS, [p for p in payload if p[1] != VOD_KEY], tmp_path / "a", None, infos)
    assert open_index_dir(tmp_path / "a", PARAMS).shown == {}
    extend_index_dir(PARAMS, tmp_path / "a", vod_only, tmp_path / "b", None, infos)
    assert HUD in [a["ref"] for a in open_index_dir(tmp_path / "b", PARAMS).shown[VOD_KEY]["assets"]]
    # the game's HUD added after the VOD: the VOD is not matched again (that would cost every VOD's hours on each
    # addition); it shows the HUD once the index is built whole
    write_index_dir(PARAMS, [p for p in payload if p[1] != HUD], tmp_path / "c", None, infos)
    kept = open_index_dir(tmp_path / "c", PARAMS).shown
    assert HUD not in json.dumps(kept)
    extend_index_dir(PARAMS, tmp_path / "c", hud_only, tmp_path / "d", None, infos)
    assert open_index_dir(tmp_path / "d", PARAMS).shown == kept
    write_index_dir(PARAMS, payload, tmp_path / "e", None, infos)
    assert HUD in [a["ref"] for a in open_index_dir(tmp_path / "e", PARAMS).shown[VOD_KEY]["assets"]]


def test_a_damaged_findings_file_is_refused_by_name(registry: Registry, tmp_path: Path) -> None:
    infos = load_infos(registry)
    write_index_dir(PARAMS, index_payload(registry, infos), tmp_path / "x", None, infos)
    (tmp_path / "x" / SHOWN).write_text('{"format": 1, "vods": {"a": {"footage": [{}]}}}', "utf-8")
    with pytest.raises(IndexStoreError, match=SHOWN):
        open_index_dir(tmp_path / "x", PARAMS)


def test_a_thin_border_is_also_hashed_untrimmed(opened: Any, cuts: dict[str, Path]) -> None:
    """The 320x180 cut loses 4 pixels of the overlay's dark bottom edge to border detection, which the VOD at
    640x360 keeps; its untrimmed whole-picture hashes are nearer the VOD's at the copied moments."""
    times, images, _ = decode_all(cuts["320x180"], 2.0, PARAMS.analysis_side)
    window = fingerprint_window(images, PARAMS.min_quality)
    assert window.box.as_tuple() != (0, 0, 320, 180)
    whole = [q for q in window.queries if q.method == "pdq" and (q.regions == WHOLE).all()]
    # the untrimmed frames first (the trimmed ones are among all regions' query), then the loosely trimmed ones
    # where that box differs
    assert len(whole) in (1, 2) and whole[0].hashes.shape[0] == len(images)
    trimmed = next(q for q in window.queries if q.method == "pdq" and not (q.regions == WHOLE).all())
    vod = opened.prints[[m.key for m in opened.refs].index(VOD_KEY)]
    vod_bits = np.unpackbits(np.asarray(vod.hashes[:, WHOLE]), axis=1)
    for f, t in enumerate(times):
        at = int(np.argmin(np.abs(np.asarray(vod.timestamps) - (CUT_START + t))))
        untrimmed_d = int((np.unpackbits(whole[0].hashes[f]) != vod_bits[at]).sum())
        row = int(np.flatnonzero((trimmed.frames == f) & (trimmed.regions == WHOLE))[0])
        trimmed_d = int((np.unpackbits(trimmed.hashes[row]) != vod_bits[at]).sum())
        assert untrimmed_d <= trimmed_d and untrimmed_d <= PARAMS.max_distance


def _seg(start: float, end: float, ref_start: float, ref_end: float) -> dict[str, float]:
    speed = (ref_end - ref_start) / (end - start)
    return {"start": start, "end": end, "ref_start": ref_start, "ref_end": ref_end, "speed": speed, "score": 0.8}
