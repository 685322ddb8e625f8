"""The game inside a stream layout: the streamer's overlay and facecam over registered game footage. Real footage:
the bundled sample's Freedoom E1M1 playthrough (the game), its NightOwl overlay and VOD (the streamer's
composition, a ``stream``-layer reference of the same layout), and a filmed clip as the facecam."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fixtures import footage as F
from provenance.engine import ReferenceIndex, fingerprint_footage, load_asset, match_clip

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample"
REG = SAMPLE / "registry"


@pytest.fixture(scope="module")
def index() -> ReferenceIndex:
    index = ReferenceIndex()
    index.add_footage("freedoom", "game", fingerprint_footage(REG / "footage" / "freedoom-e1m1-playthrough.mp4"))
    index.add_footage("nightowl-vod", "stream", fingerprint_footage(REG / "footage" / "nightowl-vod-2024-03-14.mp4"))
    index.add_asset("nightowl-overlay", "stream", load_asset(REG / "assets" / "nightowl-overlay.png"))
    return index


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s of the registered E1M1 footage (from 4 s on) in the game box of the NightOwl layout, under its overlay,
    with a filmed facecam, at 480 x 270: a new live stream over a copy of registered game footage."""
    overlay = load_asset(REG / "assets" / "nightowl-overlay.png")
    layout = F.StreamLayout(size=(overlay.shape[1], overlay.shape[0]))
    game = F.read_video(REG / "footage" / "freedoom-e1m1-playthrough.mp4", start=4.0, end=12.0, fps=15)
    cam = F.loop(F.read_video(SAMPLE / "dataset" / "clean" / "bikes.mp4", fps=15), 8 * 15)
    frames = (F.stream_composite(g, overlay, layout, c) for g, c in zip(game, cam, strict=False))
    path = tmp_path_factory.mktemp("stream") / "live.mp4"
    assert F.write_video(path, frames, 15, size=(480, 270), crf=26) >= 100
    return path


def test_the_game_in_a_stream_layout_is_found_in_its_box(index: ReferenceIndex, live: Path) -> None:
    found = match_clip(live, index)
    game = [f for f in found.footage if f.key == "freedoom"]
    assert game, f"the game under the overlay was not found: {[f.key for f in found.footage]}"
    assert all(f.key != "nightowl-vod" for f in found.footage)  # the VOD shows other gameplay
    seg = max(game[0].segments, key=lambda s: s.matches)
    assert abs((seg.ref_start - seg.query_start) - 4.0) < 1.0  # where in the reference: 4 s on
    assert "nightowl-overlay" in {a.key for a in found.assets}


def test_the_game_box_searched_on_its_own_finds_what_the_whole_frame_does_not(index: ReferenceIndex) -> None:
    """In a stream frame the overlay's and the facecam's keypoints outvote the game picture's: the whole frame's
    search finds nothing, the game box's finds the game, placed inside the box in the frame's coordinates."""
    import cv2

    from provenance.engine import localpass
    from provenance.engine.fingerprint.regions import Box
    from provenance.engine.params import local_params
    from provenance.engine.votes import Votes

    overlay = load_asset(REG / "assets" / "nightowl-overlay.png")
    layout = F.StreamLayout(size=(overlay.shape[1], overlay.shape[0]))
    game = list(F.read_video(REG / "footage" / "freedoom-e1m1-playthrough.mp4", start=4.0, end=8.0, fps=2))
    cam = list(F.read_video(SAMPLE / "dataset" / "clean" / "bikes.mp4", end=4.0, fps=2))
    scale = 480 / layout.size[0]
    x, y, w, h = (round(v * scale) for v in layout.game_box)
    box = Box(x, y, x + w, y + h)
    lp = local_params(index.params)
    for i in (0, 4):
        frame = F.resize(F.stream_composite(game[i], overlay, layout, cam[i]), (480, 270))
        grey = np.ascontiguousarray(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
        t = 4.0 + i / 2
        whole = localpass._local_frame(index, lp, t, grey, Votes())
        assert not any(abs(h.r_t - t) <= 0.5 for h in whole)  # at most a chance match elsewhere in the reference
        hits = localpass._local_frame(index, lp, t, grey, Votes(), panel=box)
        assert hits and {index.refs[h.ref].key for h in hits} == {"freedoom"}
        best = max(hits, key=lambda h: h.match.inliers)
        assert abs(best.r_t - t) <= 0.5
        assert best.match.inliers >= 3 * max([h.match.inliers for h in whole], default=index.params.local_min_inliers)
        x0, y0, x1, y1 = best.region
        assert (
            x0 >= x / 480 - 0.02 and x1 <= (x + w) / 480 + 0.02 and y0 >= y / 270 - 0.02 and y1 <= (y + h) / 270 + 0.02
        )
