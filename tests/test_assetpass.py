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
    """An asset is found over the same stretch as when every asset is searched in every frame (``asset_min_frames``
    1: one pass over all of them, then kept only where found in two frames or more), in the same frames but those
    of the second pass that lie between two first-pass frames it was found in (not searched: the stretch is the
    same); the second pass's other frames are searched and found."""
    params = EngineParams()
    need = params.asset_min_frames
    frames = _kept(clip, params)
    times = [t for t, _, _ in frames]
    two_passes = {h.key: h.frames for h in find_assets(_index(params), frames)}
    every = {h.key: h.frames for h in find_assets(_index(replace(params, asset_min_frames=1)), frames)}
    assert two_passes, f"nothing found in {clip}"
    assert two_passes.keys() == {k for k, found in every.items() if len(found) >= need}

    def between(i: int, found: tuple[float, ...]) -> bool:
        before, after = i - i % need, i - i % need + need
        return after < len(times) and times[before] in found and times[after] in found

    for key, found in two_passes.items():
        skipped = {times[i] for i in range(len(times)) if i % need and between(i, every[key])}
        assert found == tuple(t for t in every[key] if t not in skipped)
        assert (found[0], found[-1]) == (every[key][0], every[key][-1])
    second = {times[i] for i in range(len(times)) if i % need}
    assert any(second & set(found) for found in two_passes.values())  # the second pass searched and found


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


def test_shapes_ruled_out_in_every_first_pass_frame_are_not_searched_further(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clean stream whose overlay is another streamer's colourway of the registered overlay's template: the first
    pass matches the registered overlay's shape and its colours rule it out; nothing was found, so the other frames
    are not searched (the second pass looks for what the first one found, and its look-alikes)."""
    params = EngineParams()
    frames = _kept("clean/pixelpanda_stream.mp4", params)
    searched: list[tuple[int, bool]] = []  # (frame, shape found)
    detect = AssetDetector.detect

    def counted(self: AssetDetector, grey: npt.NDArray[np.uint8], *args: Any, **kwargs: Any) -> Any:
        m = detect(self, grey, *args, **kwargs)
        searched.append((next(i for i, (_, g, _) in enumerate(frames) if g is grey), m.found))
        return m

    monkeypatch.setattr(AssetDetector, "detect", counted)
    assert find_assets(_index(params), frames) == []
    need = params.asset_min_frames
    assert any(found for _, found in searched)  # a shape was matched...
    assert {i for i, _ in searched} == set(range(0, len(frames), need))  # ...and the other frames left alone


@pytest.mark.parametrize("clip", ["streams/nightowl_highlight.mp4", "clean/bikes.mp4"])
def test_the_still_picture_is_the_median_of_the_frames(clip: str) -> None:
    """The sorting network's still picture is np.median's, converted to uint8, for every number of real frames
    (odd: the middle value; even: the two middle ones' mean rounded down) and for frames in another order."""
    from provenance.engine.assetpass import _median_picture

    greys = [grey for _, grey, _ in _kept(clip, EngineParams())]
    assert len(greys) >= 6
    copies = [g.copy() for g in greys]
    for pictures in [greys[:n] for n in range(1, len(greys) + 1)] + [greys[::-1], greys[1::2] + greys[::2]]:
        expected = np.median(np.stack(pictures), axis=0).astype(np.uint8)
        got = _median_picture(pictures)
        assert got.dtype == np.uint8 and np.array_equal(got, expected)
    assert all(np.array_equal(g, c) for g, c in zip(greys, copies, strict=True))  # the frames are left as they were


@pytest.mark.parametrize(
    ("clip", "still_searched"),
    [
        ("gameplay/freedoom_e1m2_new.mp4", False),  # the HUD's features find it in every frame searched
        ("reupload/e1m1_mirrored_watermark.mp4", False),
        ("streams/nightowl_highlight.mp4", True),  # a zooming edit: features miss the HUD in some frames
        ("clean/bikes.mp4", True),  # nothing registered: features miss everywhere
    ],
)
def test_the_still_is_template_searched_only_where_features_miss_with_the_same_finds(
    clip: str, still_searched: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The still picture's template search (the gate of an asset's template fallback in the frames) runs for an
    asset found by its features only once they miss it in a frame, at most once a clip; the finds are those of
    searching the still for every asset before the first frame."""
    from provenance.engine import assetpass

    params = EngineParams()
    frames = _kept(clip, params)
    stills: list[tuple[int, int]] = []
    match_template = AssetDetector.match_template

    def counted(self: AssetDetector, picture: npt.NDArray[np.uint8]) -> Any:
        if not any(picture is grey for _, grey, _ in frames):
            stills.append(self.size)
        return match_template(self, picture)

    monkeypatch.setattr(AssetDetector, "match_template", counted)
    index = _index(params)
    lazy = find_assets(index, frames)
    hud = next(d.size for _, d in index.assets if d.template_top is not None)
    assert stills == ([hud] if still_searched else [])  # once at most, and only an asset that has a fallback

    init = assetpass._Search.__init__

    def eager(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        for a in range(len(self.index.assets)):
            self._in_still(a)

    monkeypatch.setattr(assetpass._Search, "__init__", eager)
    assert find_assets(_index(params), frames) == lazy
    assert stills.count(hud) == 1 + still_searched  # the eager search did search it


def test_a_lookalike_matched_on_a_stronger_finds_features_is_not_found() -> None:
    """Two streamers' overlays made from one template share its panels and frames. In a cut of NightOwl's VOD (its
    overlay shown whole), LunaFox's overlay was matched by 48-57 inliers placed mostly outside the frame, on panel
    edges the shown overlay's own match holds (91-96 % of them), passing the colour check, the grey correlation
    (0.40-0.42) and the look-alike rule (13-18 own features) in three frames: a false stream-layer finding of
    another channel. A match whose frame features are a stronger find's of another work is no evidence for it.
    (``fixtures/lookalike``: bench/corpus.py's seed-3 corpus, ``stream/00_nightowl_vod_cut.mp4`` and its
    registry's assets.)"""
    from provenance.engine import assetpass

    root = SAMPLE.parent / "lookalike"
    params = EngineParams()
    index = ReferenceIndex(params)
    for name, layer, group in (
        ("freedoom-hud.png", "game", "freedoom"),
        ("nightowl-overlay.png", "stream", "nightowl-channel"),
        ("lunafox-overlay.png", "stream", "lunafox-channel"),
    ):
        index.add_asset(name, layer, load_asset(root / name), group)
    sampled = Sampled(root / "nightowl_vod_cut.mp4", params.query_fps, params.analysis_side, params.asset_frames)
    frames = [(t, grey, colour) for t, grey, colour in sampled if colour is not None]
    found = {h.key for h in find_assets(index, frames)}
    assert found == {"freedoom-hud.png", "nightowl-overlay.png"}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(assetpass, "_EXPLAINED_SHARE", 1.01)  # no share of a match's features explains it
        assert "lunafox-overlay.png" in {h.key for h in find_assets(index, frames)}
