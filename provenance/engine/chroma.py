"""The colour check of a found asset: the same shapes in other colours (another streamer's copy of an overlay
template) are not the registered asset.

Its cost is in the pixels: three medians of chroma distances over all the placed asset's opaque pixels (40k for
a 480x270 overlay, up to ~200k at 1080p). They are taken from per-pixel codes into precomputed tables of the very
``np.hypot`` values (and, for many pixels, from counts per value instead of a partition), one colour channel at
a time: the same numbers at ~2.5x less of the check's time on the short-clip corpus's frames (7.7 -> 2.9 ms a
call over 2,529 calls, 0 differences).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import cv2
import numpy as np
import numpy.typing as npt

from provenance.engine.assets import AssetDetector, AssetMatch

__all__ = ["chroma_difference", "placed_correlation"]

IntArray = npt.NDArray[np.intp]


class _Hypot(NamedTuple):
    """``np.hypot`` of 256 x 256 integer pairs (``values``, at ``x * 256 + y``) and their ascending order."""

    values: npt.NDArray[np.float64]
    order: IntArray
    ordered: npt.NDArray[np.float64]

    @classmethod
    def of(cls, x0: int) -> _Hypot:
        """Of the pairs ``(x0 + i, x0 + j)``, i and j in 0..255."""
        r = np.arange(x0, x0 + 256, dtype=np.float64)
        values = np.hypot(*np.stack(np.meshgrid(r, r, indexing="ij"), -1).reshape(-1, 2).T)
        order = np.argsort(values, kind="stable")
        return cls(values, order, values[order])

    def median(self, codes: IntArray) -> float:
        """``np.median(self.values[codes])``, counted by value when there are many codes (``_COUNTED_FROM``)."""
        if len(codes) < _COUNTED_FROM:
            return float(np.median(self.values[codes]))
        cum = np.cumsum(np.bincount(codes, minlength=len(self.values))[self.order])
        n = int(cum[-1])
        hi = self.ordered[np.searchsorted(cum, n // 2, side="right")]  # the (n // 2)-th smallest, from 0
        if n % 2:
            return float(hi)
        lo = self.ordered[np.searchsorted(cum, n // 2 - 1, side="right")]
        return float((lo + hi) / 2)  # as np.median: the mean of the two middle values


#: pixels from which a median is taken from the counts of each value rather than by partitioning the values
#: (measured on the short-clip corpus's placed assets: 10-20k pixels 0.21 ms partitioned, 0.23 counted; 20-50k
#: 0.29 against 0.24; over 50k 0.57 against 0.29)
_COUNTED_FROM = 20_000


@functools.cache
def _hypot_tables() -> tuple[_Hypot, _Hypot]:
    """The chroma of a pixel, ``np.hypot(Cr - 128, Cb - 128)`` at ``Cr * 256 + Cb``, and of a difference,
    ``np.hypot(dCr, dCb)`` at ``|dCr| * 256 + |dCb|`` (hypot ignores signs: IEC 60559, C11 F.10.4.3).

    The colour check takes three medians of these over up to ~200k pixels a call; looking them up instead of
    converting the pixels to float64 and calling ``np.hypot`` gives the very same numbers (not those of
    ``sqrt(x*x + y*y)``, which differs from ``np.hypot`` in the last bit on 1,200 of the 261,121 differences).
    """
    return _Hypot.of(-128), _Hypot.of(0)


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
    placed = np.asarray(cv2.warpAffine(detector.rgb, roi, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR), np.uint8)
    a = _chroma(placed, placed_mask)
    f = _chroma(np.ascontiguousarray(frame_rgb[y0:y1, x0:x1]), placed_mask)
    centred, diff = _hypot_tables()
    frame_chroma = centred.median(f[0] * 256 + f[1])
    asset_chroma = centred.median(a[0] * 256 + a[1])
    if frame_chroma < neutral <= asset_chroma:
        return None
    return diff.median(np.abs(a[0] - f[0]) * 256 + np.abs(a[1] - f[1]))


def _chroma(rgb: npt.NDArray[np.uint8], mask: npt.NDArray[np.bool_]) -> tuple[IntArray, IntArray]:
    """The (Cr, Cb) of an RGB picture's ``mask`` pixels (one channel at a time: a tenth of the time of taking the
    masked pixels' three channels at once)."""
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    return ycc[..., 1][mask].astype(np.intp), ycc[..., 2][mask].astype(np.intp)


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
