"""Find a registered still asset (HUD, logo, overlay panel) inside frames.

An asset is an RGBA image; alpha 0 means "don't care" (the transparent middle of
an overlay frame, the space around a logo). :class:`AssetDetector` prepares the
asset once and scans many frames:

* ``features``: ORB keypoints on the asset's opaque area (the alpha mask eroded
  so that no descriptor patch reaches far into the transparent part), matched
  with a ratio test against the frame's ORB features, then a RANSAC similarity
  (rotation, uniform scale, translation) - assets appear scaled and moved, not
  warped. The mirrored asset is matched as well. Accepts scales 0.3x-2x.
* ``template``: for low-texture assets (few keypoints), multi-scale masked
  template matching (normalised cross-correlation over the opaque pixels),
  coarse on a reduced frame then refined at full resolution, mirrored too.

The method is chosen per asset (``AssetParams.min_asset_keypoints``); with
``template_fallback`` the template search also runs when features find nothing.
A miss is an :class:`AssetMatch` with ``found=False`` and a reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from provenance.engine.features import Features, LocalParams, extract, ratio_pairs
from provenance.engine.ncc import Image, Template, TemplateCache, ncc
from provenance.errors import FingerprintError, check_ranges

__all__ = ["TEMPLATES", "TEMPLATE_CACHE_BYTES", "AssetDetector", "AssetMatch", "AssetParams", "Pictures"]

logger = logging.getLogger(__name__)

F64Array = npt.NDArray[np.float64]
U8Array = npt.NDArray[np.uint8]
Box = tuple[int, int, int, int]

#: The coarse template search's prepared templates, of every asset of the process: at most this many bytes, the least
#: recently used dropped first. Unbounded (one cache per detector) a scan's worker held 150 MB of them against the
#: short-clip corpus with 300 distractor assets registered (every template-searched asset, at every frame size of
#: the clips); this holds one clip's still searches of a few hundred assets.
TEMPLATE_CACHE_BYTES = 64 * 2**20
TEMPLATES = TemplateCache(TEMPLATE_CACHE_BYTES)
#: A prepared asset's pictures: grey, opaque mask, RGB (its opaque area's box), the colour check's mask.
Pictures = tuple[U8Array, npt.NDArray[np.bool_], U8Array, U8Array]


@dataclass(frozen=True, slots=True)
class AssetParams:
    """Parameters of asset detection.

    asset_features / frame_features: ORB keypoints on the asset (per scale) and on each frame. (1,000 frame
        keypoints found the same assets as 1,500 in the 395 clips of the engine benchmark, the short-clip corpus
        and the sample, at 17 % less of the asset pass's time; 700 lost 3 of 165.)
    ratio: Lowe ratio test threshold.
    min_inliers: RANSAC inliers for a feature match.
    ransac_reproj: RANSAC threshold in frame pixels.
    min_scale / max_scale: accepted size of the asset in the frame relative to its own size.
    max_rotation_deg: accepted in-plane rotation (overlays are not rotated much).
    try_mirror: also look for the horizontally mirrored asset.
    alpha_threshold: alpha at or above which an asset pixel is opaque.
    erode_px: erosion of the opaque mask before placing keypoints.
    asset_scales: the asset is resized to each of these before extracting its features.
    min_asset_keypoints: below this many keypoints the asset is matched by template.
    template_fallback: also run the template search when features find nothing,
        over scales ``min_scale``..``fallback_max_scale`` (where features are weak), and only as far as the
        asset's shorter side stays under ``fallback_max_side`` pixels: features need pixels, not scale. (On
        real frames, features found the Freedoom HUD, 58 pixels high, in 0/6 frames at 0.4x, 3/6 at 0.5x and
        6/6 from 0.6x, 35 pixels, on; two full-frame overlays in 6/6 from 0.3x, 108 pixels, on.)
    template_threshold: masked normalised correlation needed for a template match.
    template_scales: scales tried between min_scale and max_scale (geometric).
    template_candidates: coarse hits refined at full resolution.
    template_coarse_margin: coarse hits scoring below ``template_threshold`` minus this are not refined. The
        coarse search correlates blurred, reduced pictures, which scores a true match higher than full
        resolution does: on the engine benchmark's 22 template matches, 0.89-0.94 coarse for 0.85-0.90 fine,
        while 87 % of the searches that found nothing scored below 0.70 coarse.
    template_work_side: longer side of the reduced frame for the coarse template search (at most).
    template_coarse_side: a large asset is searched on a frame reduced further, as long as the asset at the
        smallest scale searched keeps this many pixels on its shorter side: a full-frame overlay at 0.3x
        is still 108 pixels high at 640, and its correlation peak needs no more than a third of them, at a
        seventh of the cost.
    """

    asset_features: int = 500
    frame_features: int = 1000
    ratio: float = 0.8
    min_inliers: int = 12
    ransac_reproj: float = 4.0
    min_scale: float = 0.3
    max_scale: float = 2.0
    max_rotation_deg: float = 20.0
    try_mirror: bool = True
    alpha_threshold: int = 128
    erode_px: int = 5
    min_asset_keypoints: int = 40
    asset_scales: tuple[float, ...] = (0.6, 1.0, 1.5, 2.0)
    template_fallback: bool = True
    fallback_max_scale: float = 0.75
    fallback_max_side: int = 64
    template_threshold: float = 0.85
    template_scales: int = 24
    template_candidates: int = 3
    template_coarse_margin: float = 0.15
    template_work_side: int = 320
    template_coarse_side: int = 32

    def __post_init__(self) -> None:
        checks = [
            ("asset_features", 16 <= self.asset_features <= 20000),
            ("frame_features", 16 <= self.frame_features <= 20000),
            ("ratio", 0.0 < self.ratio < 1.0),
            ("min_inliers", 3 <= self.min_inliers <= 10000),
            ("ransac_reproj", 0.0 < self.ransac_reproj <= 50.0),
            ("min_scale", 0.05 <= self.min_scale <= self.max_scale),
            ("max_scale", self.max_scale <= 20.0),
            ("max_rotation_deg", 0.0 <= self.max_rotation_deg <= 180.0),
            ("alpha_threshold", 1 <= self.alpha_threshold <= 255),
            ("erode_px", 0 <= self.erode_px <= 64),
            ("min_asset_keypoints", 0 <= self.min_asset_keypoints <= 20000),
            ("asset_scales", len(self.asset_scales) > 0 and all(0.05 <= x <= 10 for x in self.asset_scales)),
            ("fallback_max_scale", self.min_scale <= self.fallback_max_scale <= self.max_scale),
            ("fallback_max_side", 8 <= self.fallback_max_side <= 4096),
            ("template_threshold", 0.0 < self.template_threshold <= 1.0),
            ("template_scales", 1 <= self.template_scales <= 200),
            ("template_candidates", 1 <= self.template_candidates <= 100),
            ("template_coarse_margin", 0.0 <= self.template_coarse_margin <= 2.0),
            ("template_work_side", 32 <= self.template_work_side <= 4096),
            ("template_coarse_side", 6 <= self.template_coarse_side <= 4096),
        ]
        check_ranges(self, checks)

    def local_params(self, n_features: int) -> LocalParams:
        return LocalParams(
            n_features=n_features,
            ratio=self.ratio,
            min_inliers=max(4, self.min_inliers),
            ransac_reproj=self.ransac_reproj,
            try_mirror=False,
            fast_threshold=12,
        )


@dataclass(frozen=True, slots=True, eq=False)
class AssetMatch:
    """Where an asset was found in a frame.

    ``box`` is ``(x, y, w, h)`` of the asset's opaque bounding box in the frame,
    ``quad`` its four corners (asset TL, TR, BR, BL) ``float64 (4, 2)``; ``scale``
    the asset's size in the frame over its own size. ``score`` is the RANSAC inlier
    count for ``method="features"`` and the masked correlation for ``"template"``;
    ``inlier_features`` the asset's features among the inliers (rows of its direct or,
    when ``mirrored``, mirrored features; None for a template match or a miss), and
    ``frame_inliers`` the frame's (rows of the frame features it was matched in).
    """

    found: bool
    method: Literal["features", "template", "none"]
    score: float
    box: Box
    quad: F64Array
    scale: float
    mirrored: bool
    inliers: int = 0
    reason: str = ""
    inlier_features: npt.NDArray[np.intp] | None = None
    frame_inliers: npt.NDArray[np.intp] | None = None


def _miss(
    reason: str,
    method: Literal["features", "template", "none"] = "none",
    score: float = 0.0,
    inliers: int = 0,
) -> AssetMatch:
    return AssetMatch(False, method, score, (0, 0, 0, 0), np.full((4, 2), np.nan), 0.0, False, inliers, reason)


def _gray(image: npt.NDArray[np.uint8]) -> U8Array:
    if image.dtype != np.uint8:
        raise FingerprintError(f"image must be uint8, got {image.dtype}")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return np.asarray(cv2.cvtColor(image[..., :3], cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    raise FingerprintError(f"image must be (H, W) or (H, W, 3|4), got {image.shape}")


class AssetDetector:
    """A still asset prepared once, then looked for in many frames with :meth:`detect`."""

    def __init__(self, asset: npt.NDArray[np.uint8], params: AssetParams = AssetParams()) -> None:
        if asset.dtype != np.uint8 or asset.ndim not in (2, 3):
            raise FingerprintError(f"asset must be uint8 (H, W[, C]), got {asset.dtype} {asset.shape}")
        if asset.ndim == 3 and asset.shape[2] == 4:
            alpha = asset[..., 3] >= params.alpha_threshold
        else:
            alpha = np.ones(asset.shape[:2], bool)
        if not alpha.any():
            raise FingerprintError("asset is fully transparent")
        ys, xs = np.nonzero(alpha)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        gray = np.ascontiguousarray(_gray(asset)[y0:y1, x0:x1])
        alpha = np.ascontiguousarray(alpha[y0:y1, x0:x1])
        rgb = asset[..., :3] if asset.ndim == 3 else np.repeat(asset[..., None], 3, axis=2)
        h, w = gray.shape
        if h < 8 or w < 8:
            raise FingerprintError(f"asset's opaque area is too small: {w}x{h}")
        mask = alpha.astype(np.uint8) * 255
        if params.erode_px > 0:
            kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (params.erode_px, params.erode_px))
            mask = np.asarray(cv2.erode(mask, kernel), dtype=np.uint8)
        self.params = params
        features = self._multiscale_features(gray, mask)
        mirrored = self._multiscale_features(np.ascontiguousarray(gray[:, ::-1]), np.ascontiguousarray(mask[:, ::-1]))
        chroma = np.asarray(cv2.erode(alpha.astype(np.uint8) * 255, np.ones((5, 5), np.uint8)), np.uint8)
        self._adopt(params, (gray, alpha, np.ascontiguousarray(rgb[y0:y1, x0:x1]), chroma), (features, mirrored))
        logger.debug("asset %dx%d: %d keypoints, method %s", w, h, len(self.features), self.method)

    @classmethod
    def prepared(cls, params: AssetParams, pictures: Pictures, sides: tuple[Features, Features]) -> AssetDetector:
        """The detector another one prepared (its :attr:`gray`, :attr:`alpha`, :attr:`rgb`, :attr:`chroma_mask`;
        its features and its mirror's), computing nothing: opened from an index directory, it detects as that one
        (:mod:`~provenance.engine.assetstore`: memory-mapped arrays)."""
        detector = cls.__new__(cls)
        detector._adopt(params, pictures, sides)
        return detector

    def _adopt(self, params: AssetParams, pictures: Pictures, sides: tuple[Features, Features]) -> None:
        self.params = params
        #: ``chroma_mask``: the opaque pixels whose colour the colour check compares (eroded: edges do not count)
        self.gray, self.alpha, self.rgb, self.chroma_mask = pictures
        self.size = (int(self.gray.shape[1]), int(self.gray.shape[0]))
        self.features, self.mirror_features = sides
        self.method: Literal["features", "template"] = (
            "features" if len(self.features) >= params.min_asset_keypoints else "template"
        )
        self.frame_params = params.local_params(params.frame_features)
        #: this detector's part of the keys of :data:`TEMPLATES`: an object of its own (an id or a count could be
        #: another detector's once this one is gone, or in another process)
        self._token = object()

    # -- features ---------------------------------------------------------------------------

    def _multiscale_features(self, gray: U8Array, mask: U8Array) -> Features:
        """ORB on the asset resized to each of ``asset_scales``, keypoints in asset coordinates."""
        p = self.params
        h, w = gray.shape
        kps: list[npt.NDArray[np.float32]] = []
        des: list[U8Array] = []
        for s in p.asset_scales:
            size = (round(w * s), round(h * s))
            if min(size) < 32:
                continue
            interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
            g = np.asarray(cv2.resize(gray, size, interpolation=interp), np.uint8) if s != 1.0 else gray
            m = np.asarray(cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST), np.uint8) if s != 1.0 else mask
            lp = LocalParams(
                n_features=p.asset_features,
                ratio=p.ratio,
                min_inliers=max(4, p.min_inliers),
                ransac_reproj=p.ransac_reproj,
                try_mirror=False,
                fast_threshold=12,
                max_side=max(64, *size),
            )
            f = extract(np.ascontiguousarray(g), lp, mirror=False, mask=m if m.any() else None)
            kps.append(((f.keypoints + 0.5) / np.float32(s) - 0.5).astype(np.float32))
            des.append(f.descriptors)
        if not kps:
            return Features(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8), (w, h))
        return Features(np.concatenate(kps), np.concatenate(des), (w, h))

    def nbytes(self) -> int:
        """Bytes of the arrays this detector holds (pictures, masks, features; not the templates it made, which
        the process's :data:`TEMPLATES` holds, bounded)."""
        arrays = [self.gray, self.alpha, self.rgb, self.chroma_mask]
        feats = [self.features, self.mirror_features]
        return sum(a.nbytes for a in arrays) + sum(f.keypoints.nbytes + f.descriptors.nbytes for f in feats)

    def frame_features(self, frame: npt.NDArray[np.uint8]) -> Features:
        """The frame features :meth:`detect` uses (compute once, pass to every detector whose
        :attr:`frame_params` are the same)."""
        return extract(frame, self.frame_params, mirror=False)

    def _quad(self, m: F64Array, mirrored: bool) -> F64Array:
        w, h = self.size
        c = np.array([[0.0, 0.0], [w - 1.0, 0.0], [w - 1.0, h - 1.0], [0.0, h - 1.0]])
        if mirrored:  # asset corner (x, y) is at (w-1-x, y) in the flipped asset
            c[:, 0] = w - 1.0 - c[:, 0]
        return np.asarray(np.hstack([c, np.ones((4, 1))]) @ m.T, dtype=np.float64)

    def _match_features(self, ff: Features, sides: tuple[bool, ...]) -> AssetMatch:
        p = self.params
        best = _miss("no feature match", "features")
        if len(ff) < 2:
            return _miss("frame has no features", "features")
        for mirrored, af in ((False, self.features), (True, self.mirror_features)):
            if (mirrored and not p.try_mirror) or mirrored not in sides:
                continue
            if len(af) < 2:
                continue
            idx = ratio_pairs(af.descriptors, ff.descriptors, p.ratio)
            if len(idx) < max(3, p.min_inliers):
                continue  # RANSAC cannot find more inliers than there are pairs
            src = af.keypoints[idx[:, 0]].astype(np.float64)
            dst = ff.keypoints[idx[:, 1]].astype(np.float64)
            m, inl = cv2.estimateAffinePartial2D(
                src,
                dst,
                method=cv2.RANSAC,
                ransacReprojThreshold=p.ransac_reproj,
                maxIters=2000,
                confidence=0.995,
            )
            if m is None or inl is None:
                continue
            n_in = int(inl.sum())
            scale = float(np.hypot(m[0, 0], m[1, 0]))
            rot = float(np.degrees(np.arctan2(m[1, 0], m[0, 0])))
            reason = ""
            if n_in < p.min_inliers:
                reason = f"{n_in} inliers < {p.min_inliers}"
            elif not p.min_scale / 1.05 <= scale <= p.max_scale * 1.05:
                reason = f"scale {scale:.2f} outside [{p.min_scale}, {p.max_scale}]"
            elif abs(rot) > p.max_rotation_deg:
                reason = f"rotation {rot:.1f} deg"
            if reason:
                if n_in > best.inliers:
                    best = _miss(reason, "features", float(n_in), n_in)
                continue
            quad = self._quad(np.asarray(m, np.float64), mirrored)
            kept = inl.ravel().astype(bool)
            res = AssetMatch(
                True,
                "features",
                float(n_in),
                _bbox(quad),
                quad,
                scale,
                mirrored,
                n_in,
                inlier_features=idx[kept, 0],
                frame_inliers=idx[kept, 1],
            )
            if not best.found or n_in > best.inliers:
                best = res
        return best

    # -- template ---------------------------------------------------------------------------

    def _match_template(self, frame: U8Array, max_scale: float) -> AssetMatch:
        p = self.params
        fh, fw = frame.shape
        r = min(
            1.0,
            p.template_work_side / max(fh, fw),
            max(p.template_coarse_side / (min(self.size) * p.min_scale), 32 / min(fh, fw)),
        )
        small = frame if r == 1.0 else cv2.resize(frame, (round(fw * r), round(fh * r)), interpolation=cv2.INTER_AREA)
        step = (p.max_scale / p.min_scale) ** (1 / max(1, p.template_scales - 1))
        n_scales = max(1, 1 + round(np.log(max_scale / p.min_scale) / np.log(step))) if max_scale > p.min_scale else 1
        scales = p.min_scale * step ** np.arange(n_scales)
        # coarse pass on a reduced, blurred frame (blur widens the correlation peak in scale)
        small_b = Image(np.asarray(cv2.GaussianBlur(small, (0, 0), 1.0), dtype=np.uint8), many=True)
        coarse: list[tuple[float, float, bool, tuple[int, int]]] = []
        for mirrored in (False, True) if p.try_mirror else (False,):
            for sc in scales:
                score, loc = ncc(small_b, self._template(mirrored, float(sc) * r, blur=1.0))
                if score > -1.0:
                    coarse.append((score, float(sc), mirrored, loc))
        if not coarse:
            return _miss("asset larger than the frame at every scale", "template")
        coarse.sort(key=lambda c: -c[0])
        gate = p.template_threshold - p.template_coarse_margin
        if coarse[0][0] < gate:
            return _miss(f"coarse template correlation {coarse[0][0]:.3f} < {gate:.2f}", "template", coarse[0][0])
        # refine the best coarse candidates at full resolution, finer in scale
        w, h = self.size
        pad = int(3 / r) + 3
        best = (-1.0, 0.0, False, (0, 0))
        for score, sc, mirrored, loc in coarse[: p.template_candidates]:
            if score < gate:
                break  # sorted: the rest score lower still
            cx, cy = round(loc[0] / r), round(loc[1] / r)
            for s2 in sc * step ** np.linspace(-0.5, 0.5, 5):
                tw, th = round(w * s2), round(h * s2)
                x0, y0 = max(0, cx - pad), max(0, cy - pad)
                x1, y1 = min(fw, cx + tw + pad), min(fh, cy + th + pad)
                sc2, l2 = ncc(Image(frame[y0:y1, x0:x1]), self._template(mirrored, float(s2)))
                if sc2 > best[0]:
                    best = (sc2, float(s2), mirrored, (l2[0] + x0, l2[1] + y0))
        score, s, mirrored, loc = best
        if score < p.template_threshold:
            return _miss(f"template correlation {score:.3f} < {p.template_threshold}", "template", score)
        tw, th = round(w * s), round(h * s)
        x, y = loc
        quad = np.array([[x, y], [x + tw - 1, y], [x + tw - 1, y + th - 1], [x, y + th - 1]], np.float64)
        if mirrored:
            quad = quad[[1, 0, 3, 2]]
        return AssetMatch(True, "template", float(score), (int(x), int(y), tw, th), quad, s, mirrored)

    def _template(self, mirrored: bool, scale: float, blur: float = 0.0) -> Template:
        """The (mirrored) asset resized by ``scale`` (and blurred) and its mask (None when all opaque).

        The coarse search's templates (blurred, for the reduced frame: small) are kept in the process's
        :data:`TEMPLATES`, since every frame of a size searches the same scales; the refinement's full-size ones
        are not (up to 2x the asset, many scales).
        """
        h, w = self.gray.shape
        th, tw = max(1, round(h * scale)), max(1, round(w * scale))

        def make() -> Template:
            g, a = (self.gray[:, ::-1], self.alpha[:, ::-1]) if mirrored else (self.gray, self.alpha)
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            t = np.asarray(cv2.resize(np.ascontiguousarray(g), (tw, th), interpolation=interp), np.uint8)
            if blur > 0:
                t = np.asarray(cv2.GaussianBlur(t, (0, 0), blur), np.uint8)
            m = np.asarray(
                cv2.resize(np.ascontiguousarray(a).astype(np.uint8), (tw, th), interpolation=cv2.INTER_NEAREST),
                np.uint8,
            )
            return Template.of(t, m)

        return TEMPLATES.get((self._token, mirrored, tw, th, blur), make) if blur > 0 else make()

    # -- public -----------------------------------------------------------------------------

    @property
    def template_top(self) -> float | None:
        """The largest scale the template search looks at (None: this asset is never searched by template)."""
        if self.method == "template":
            return self.params.max_scale
        if not self.params.template_fallback:
            return None
        # features miss small appearances: the template search covers the small scales
        top = min(self.params.fallback_max_scale, self.params.fallback_max_side / min(self.size))
        return top if top >= self.params.min_scale else None  # None: large enough for features at every scale

    def match_template(self, frame: npt.NDArray[np.uint8]) -> AssetMatch:
        """The template search alone, over the scales of :attr:`template_top` (a miss when there are none)."""
        top = self.template_top
        if top is None:
            return _miss("no template search for this asset", "template")
        return self._match_template(np.ascontiguousarray(_gray(frame)), top)

    def detect(
        self,
        frame: npt.NDArray[np.uint8],
        features: Features | None = None,
        *,
        templates: bool | Callable[[], bool] = True,
        sides: tuple[bool, ...] = (False, True),
    ) -> AssetMatch:
        """Look for the asset in ``frame`` (grey or RGB uint8).

        ``features`` may be precomputed with :meth:`frame_features` (the same
        frame); they are only used by the ``features`` method. ``templates=False`` leaves the template search
        out (a caller that knows it cannot find anything: see :func:`~provenance.engine.assetpass.find_assets`); a
        callable is asked only when the template search would run (the features missed, or a template asset).
        ``sides`` are the asset's orientations its features are looked for in (``True``: mirrored).
        """
        gray = _gray(frame)
        if self.method == "features":
            ff = features if features is not None else self.frame_features(gray)
            if ff.size != (gray.shape[1], gray.shape[0]):
                raise FingerprintError(f"features are of a {ff.size} image, frame is {gray.shape[::-1]}")
            res = self._match_features(ff, sides)
            if res.found or self.template_top is None or not _wanted(templates):
                return res
            fallback = self.match_template(gray)
            return fallback if fallback.found else res
        if not _wanted(templates):
            return _miss("template search not run", "template")
        return self.match_template(gray)


def _wanted(templates: bool | Callable[[], bool]) -> bool:
    return templates() if callable(templates) else templates


def _bbox(quad: F64Array) -> Box:
    x0, y0 = np.floor(quad.min(axis=0))
    x1, y1 = np.ceil(quad.max(axis=0)) + 1
    return (int(x0), int(y0), int(x1 - x0), int(y1 - y0))
