"""The asset pass's two passes over a clip's frames: every asset in every other frame first, then the other frames
for the assets seen. Real footage and the bundled sample's real assets (Freedoom HUD, NightOwl overlay)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from provenance.engine import EngineParams, ReferenceIndex, load_asset
from provenance.engine.assetpass import find_assets
from provenance.engine.assets import AssetDetector
from provenance.engine.sampling import Sampled

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample"
Frames = list[tuple[float, npt.NDArray[np.uint8], npt.NDArray[np.uint8]]]


def _kept(clip: str, params: EngineParams) -> Frames:
    sampled = Sampled(SAMPLE / "dataset" / clip, params.query_fps, params.analysis_side, params.asset_frames)
    return [(t, grey, colour) for t, grey, colour in sampled if colour is not None]


def _index(params: EngineParams) -> ReferenceIndex:
    index = ReferenceIndex(params)
    for name in ("freedoom-hud.png", "nightowl-overlay.png"):
        index.add_asset(name, "game", load_asset(SAMPLE / "registry" / "assets" / name))
    return index


@pytest.mark.parametrize(
    "clip", ["gameplay/freedoom_e1m2_new.mp4", "streams/nightowl_highlight.mp4", "reupload/e1m1_mirrored_watermark.mp4"]
)
def test_two_passes_find_what_searching_every_frame_finds(clip: str) -> None:
    """An asset is found in the same frames as when every asset is searched in every frame (``asset_min_frames``
    1: one pass over all of them, then kept only where found in two frames or more), the second pass's included."""
    params = EngineParams()
    frames = _kept(clip, params)
    two_passes = {h.key: h.frames for h in find_assets(_index(params), frames)}
    every = find_assets(_index(replace(params, asset_min_frames=1)), frames)
    assert two_passes, f"nothing found in {clip}"
    assert two_passes == {h.key: h.frames for h in every if len(h.frames) >= params.asset_min_frames}
    times = [t for t, _, _ in frames]
    odd = {times[i] for i in range(1, len(times), params.asset_min_frames)}
    assert any(odd & set(found) for found in two_passes.values())  # the second pass searched and found


def test_a_clip_without_assets_is_searched_in_the_first_pass_frames_only(monkeypatch: pytest.MonkeyPatch) -> None:
    params = EngineParams()
    frames = _kept("clean/bikes.mp4", params)
    assert len(frames) >= 4
    searched: list[int] = []
    detect = AssetDetector.detect

    def counted(self: AssetDetector, grey: npt.NDArray[np.uint8], *args: Any, **kwargs: Any) -> Any:
        searched.append(next(i for i, (_, g, _) in enumerate(frames) if g is grey))
        return detect(self, grey, *args, **kwargs)

    monkeypatch.setattr(AssetDetector, "detect", counted)
    assert find_assets(_index(params), frames) == []
    need = params.asset_min_frames
    assert set(searched) == set(range(0, len(frames), need))
    assert len(searched) == 2 * len(range(0, len(frames), need))  # both assets, in each of those frames
