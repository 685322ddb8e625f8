"""The colour check of a found asset: the same shapes in other colours (another streamer's copy of an overlay
template) are not the registered asset."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from provenance.engine.assets import AssetDetector, AssetMatch

__all__ = ["chroma_difference", "placed_correlation"]


def _placed(
    detector: AssetDetector, match: AssetMatch, w: int, h: int
) -> tuple[npt.NDArray[np.float64], tuple[int, int, int, int], npt.NDArray[np.bool_]] | None:
    """Where the asset lands in a ``w`` x ``h`` frame: the affine map of asset pixels into the part of the frame
    it can cover (``roi``), that part ``(x0, y0, x1, y1)``, and the asset's opaque pixels (eroded) there; None
    when fewer than 64 of them land in the frame (too few to judge)."""
    aw, ah = detector.size
    src = np.array([[0.0, 0.0], [aw - 1.0, 0.0], [aw - 1.0, ah - 1.0]], np.float32)
    m = cv2.getAffineTransform(src, np.asarray(match.quad[:3], np.float32))
    corners = np.hstack(
        [np.array([[0.0, 0.0], [aw - 1.0, 0.0], [aw - 1.0, ah - 1.0], [0.0, ah - 1.0]]), np.ones((4, 1))]
    )
    placed_corners = corners @ m.T
    x0, y0 = (max(0, int(np.floor(v)) - 2) for v in placed_corners.min(axis=0))
    x1, y1 = (int(np.ceil(v)) + 3 for v in placed_corners.max(axis=0))
    x1, y1 = min(w, x1), min(h, y1)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    roi = np.asarray(m, np.float64).copy()
    roi[:, 2] -= (x0, y0)
    mask = cv2.warpAffine(detector.chroma_mask, roi, (x1 - x0, y1 - y0), flags=cv2.INTER_NEAREST) > 0
    if mask.sum() < 64:
        return None
    return roi, (x0, y0, x1, y1), mask


def chroma_difference(
    detector: AssetDetector, frame_rgb: npt.NDArray[np.uint8], match: AssetMatch, neutral: float = 4.0
) -> float | None:
    """Median colour (chroma) distance between the asset placed where ``match`` found it and the frame.

    Shape alone cannot tell a registered overlay from another streamer's copy of the same template
    in other colours; colour can. The asset's opaque pixels (eroded, so edges do not count) are
    warped into the RGB frame by the match's corners and both are compared in YCrCb chroma (Cr, Cb),
    which brightness and gamma changes barely move. Returns None when the frame is colourless there
    (a greyscale copy) while the asset is not: colour cannot be checked.
    """
    if not match.found or frame_rgb.ndim != 3:
        return None
    h, w = frame_rgb.shape[:2]
    # only the part of the frame the placed asset can cover is warped and converted (each output pixel is
    # computed on its own: the same values as whole-frame warps, cut)
    where = _placed(detector, match, w, h)
    if where is None:
        return None
    roi, (x0, y0, x1, y1), placed_mask = where
    placed = cv2.warpAffine(detector.rgb, roi, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
    a = cv2.cvtColor(placed, cv2.COLOR_RGB2YCrCb)[placed_mask][:, 1:].astype(np.float64)
    part = np.ascontiguousarray(frame_rgb[y0:y1, x0:x1])
    f = cv2.cvtColor(part, cv2.COLOR_RGB2YCrCb)[placed_mask][:, 1:].astype(np.float64)
    frame_chroma = float(np.median(np.hypot(f[:, 0] - 128, f[:, 1] - 128)))
    asset_chroma = float(np.median(np.hypot(a[:, 0] - 128, a[:, 1] - 128)))
    if frame_chroma < neutral <= asset_chroma:
        return None
    return float(np.median(np.hypot(*(a - f).T)))


def placed_correlation(
    detector: AssetDetector, frame_grey: npt.NDArray[np.uint8], match: AssetMatch
) -> tuple[float, float] | None:
    """``(correlation, area)``: the zero-mean normalised correlation between the asset placed where ``match``
    found it and the grey frame, over the asset's opaque pixels (eroded), and the share of the frame those
    pixels cover. None when too few pixels are placed to judge.

    Features match shapes, and a template's repeated shapes (panels, stripes) can place an asset where the
    picture is another: on the short-clip corpus another streamer's overlay (the registered ones' template in
    another layout) matched the registered LunaFox overlay by 34-105 RANSAC inliers, placed where the frame
    correlates with it at most 0.36; the registered overlays and HUDs found there correlate from 0.77 up in 95 %
    of frames (small ones lower: they are not judged). An overlay of the very same layout in other colours
    correlates in grey as well as the registered one: the colour check (:func:`chroma_difference`) tells those.
    """
    if not match.found:
        return None
    h, w = frame_grey.shape[:2]
    where = _placed(detector, match, w, h)
    if where is None:
        return None
    roi, (x0, y0, x1, y1), mask = where
    count = int(mask.sum())
    a = cv2.warpAffine(detector.gray, roi, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)[mask].astype(np.float64)
    f = np.ascontiguousarray(frame_grey[y0:y1, x0:x1])[mask].astype(np.float64)
    a -= a.mean()
    f -= f.mean()
    norm = float(np.sqrt((a * a).sum() * (f * f).sum()))
    return (float((a * f).sum()) / norm if norm > 0 else 0.0), count / float(w * h)
