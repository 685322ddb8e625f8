"""A holder's layer rests on what that holder alone owns: maps never registered, played on the engine of a
registered community map (vizdoom's scenarios on Freedoom, real footage rendered here), are not attributed to the
community map through the status bar and textures every map of the engine shows, while a copy of the registered
map that only local features find (cropped, its aspect changed) still is."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from provenance.audit.indexdir import ensure_index, open_index_dir
from provenance.audit.references import match_key
from provenance.engine import EngineParams, match_clip
from rightsdb import Registry

from .apihelp import SAMPLE, fingerprinted_sqlite

sys.path.insert(0, str(SAMPLE.parents[1] / "fixtures"))
import footage as F

pytestmark = pytest.mark.slow

UGC = "corridor-of-doom"
SHOWCASE = SAMPLE / "registry" / "footage" / "corridor-of-doom-showcase.mp4"
#: Unregistered maps of the engine (vizdoom scenarios, seeds): each matched the registered map's showcase by
#: local features (the status bar) before the rule.
LOOKALIKES = {"health_gathering": 103, "my_way_home": 104}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("maps")
    made: dict[str, Path] = {}
    for scenario, seed in LOOKALIKES.items():
        made[scenario] = out / f"{scenario}.mp4"
        F.write_video(made[scenario], F.doom_frames(8, 15, seed, scenario=scenario, size=(640, 360)), 15, crf=30)
    # the lower left of the showcase (status bar and most of the corridor), stretched: no hash finds it
    made["copy"] = out / "copy.mp4"
    frames = F.take(F.read_video(SHOWCASE, start=2.0), 120)
    F.write_video(made["copy"], F.apply(lambda f: F.crop(f, (0.0, 0.35, 0.8, 1.0), size=(512, 288)), frames), 15)
    return made


def _ugc_found(registry: Registry, params: EngineParams, clip: Path) -> dict[str, str]:
    """The ugc works found in ``clip`` (and how), with the index as a scan opens it: written to its directory
    beside the registry, mapped back (each reference's work kept with it)."""
    directory = ensure_index(registry, params, match_key(registry, params))
    assert directory is not None
    found = match_clip(clip, open_index_dir(directory, params))
    return {m.key.split("::", 1)[0]: ",".join(sorted(m.methods)) for m in found.footage if m.layer == "ugc"}


def test_a_map_of_the_same_engine_is_not_the_registered_map(
    clips: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    db = shutil.copyfile(fingerprinted_sqlite(tmp_path_factory), tmp_path / "registry.db")
    registry = Registry(f"sqlite:///{db}", auto_migrate=False, create=False)
    try:
        for scenario in LOOKALIKES:
            assert _ugc_found(registry, EngineParams(), clips[scenario]) == {}, scenario
        copy = _ugc_found(registry, EngineParams(), clips["copy"])
        assert list(copy) == [UGC] and copy[UGC].startswith("orb")  # found by local features, and kept

        # what the rule weighs: with any margin over the other works' references given up, the look-alikes are
        # attributed to the community map again
        loose = EngineParams(owner_ratio=1.0, owner_hash_margin=0)
        assert all(list(_ugc_found(registry, loose, clips[s])) == [UGC] for s in LOOKALIKES)
    finally:
        registry.dispose()
