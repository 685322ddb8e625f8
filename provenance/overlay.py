"""Static-overlay masking: find what stays still over a clip.

Stream overlays (panels, banners, logos, a facecam's frame) and letterboxing
barely change over time while the game or the video underneath moves. Given
frames sampled sparsely over one clip (1-2 fps is plenty), :func:`find_static`
marks the pixels that stay close to their temporal median in nearly every frame,
keeps the regions that also carry persistent edges (drawn graphics have
outlines and text; a flat patch of still content usually has none), and
returns a :class:`StaticMask`: the mask, the static regions' boxes, and the
"content box", the largest region that changes, i.e. where the work plays.

:func:`static_layer_image` gives the temporal median of the static part: the
image to match against registered overlay assets.

Limits: content under a locked-off camera is static too (a still background is
indistinguishable from an overlay by time alone); an overlay that animates
(tickers, alerts) is only found where it stays still.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from ._errors import FingerprintError, check_ranges

__all__ = ["Box", "OverlayParams", "StaticMask", "find_static", "static_layer_image"]

logger = logging.getLogger(__name__)

#: (x, y, width, height) in pixels of the input frames.
Box = tuple[int, int, int, int]
BoolArray = npt.NDArray[np.bool_]
U8Array = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class OverlayParams:
    """Parameters of static-region detection.

    work_side: frames are resized so their longer side is at most this (speed).
    tol: grey levels within which a pixel counts as "at its median" (codec noise).
    loose_factor: inside areas enclosed by static pixels, ``loose_factor * tol`` is
        used instead (translucent panels let a damped copy of the content through).
    stable_frac: fraction of frames a pixel must be at its median to be static.
    edge_thresh: Sobel gradient magnitude that counts as an edge.
    edge_persist: fraction of frames an edge must be present to persist.
    min_edge_density: persistent-edge pixels per pixel of region perimeter
        (sqrt of area) a region needs to be kept as an overlay.
    min_region_frac: smallest kept region, as a fraction of the frame area.
    open_px, close_px: morphological opening / closing kernel sizes (work pixels).
    min_frames: fewer sampled frames than this is an error (statistics need time).
    """

    work_side: int = 320
    tol: int = 10
    loose_factor: float = 3.0
    stable_frac: float = 0.9
    edge_thresh: float = 40.0
    edge_persist: float = 0.8
    min_edge_density: float = 0.5
    min_region_frac: float = 0.002
    open_px: int = 3
    close_px: int = 5
    min_frames: int = 5

    def __post_init__(self) -> None:
        checks = [
            ("work_side", 32 <= self.work_side <= 4096),
            ("tol", 0 <= self.tol <= 128),
            ("loose_factor", 1.0 <= self.loose_factor <= 10.0),
            ("stable_frac", 0.0 < self.stable_frac <= 1.0),
            ("edge_thresh", self.edge_thresh > 0.0),
            ("edge_persist", 0.0 < self.edge_persist <= 1.0),
            ("min_edge_density", self.min_edge_density >= 0.0),
            ("min_region_frac", 0.0 <= self.min_region_frac < 1.0),
            ("open_px", 0 <= self.open_px <= 64),
            ("close_px", 0 <= self.close_px <= 64),
            ("min_frames", 3 <= self.min_frames <= 100000),
        ]
        check_ranges(self, checks)


@dataclass(frozen=True, slots=True, eq=False)
class StaticMask:
    """What stays still over a clip.

    ``mask``: bool ``(H, W)`` at the input resolution, True where static.
    ``boxes``: one box per static region, largest first.
    ``content_box``: bounding box of the largest changing region, or None when
    nothing changes (a still image shown as video).
    ``stability``: float32 fraction of frames each pixel was at its median, at
    the working resolution (evidence).
    """

    mask: BoolArray
    boxes: list[Box]
    content_box: Box | None
    stability: npt.NDArray[np.float32]

    @property
    def static_fraction(self) -> float:
        return float(self.mask.mean())


def _stack_gray(
    frames: Sequence[npt.NDArray[np.uint8]], params: OverlayParams
) -> tuple[U8Array, tuple[int, int]]:
    if len(frames) < params.min_frames:
        raise FingerprintError(
            f"need at least {params.min_frames} frames for static masking, got {len(frames)}"
        )
    shape = frames[0].shape[:2]
    h, w = shape
    scale = min(1.0, params.work_side / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    out = np.empty((len(frames), size[1], size[0]), np.uint8)
    for i, f in enumerate(frames):
        if f.dtype != np.uint8 or f.shape[:2] != shape:
            raise FingerprintError(f"frame {i}: expected uint8 {shape}, got {f.dtype} {f.shape[:2]}")
        g = f if f.ndim == 2 else cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
        out[i] = g if scale == 1.0 else np.asarray(cv2.resize(g, size, interpolation=cv2.INTER_AREA))
    return out, (w, h)


def _holes(mask: U8Array) -> BoolArray:
    """Pixels not in ``mask`` and not connected to the image border through non-mask pixels."""
    outside = (mask == 0).astype(np.uint8)
    n, labels = cv2.connectedComponents(outside, connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    enclosed = np.ones(n, bool)
    enclosed[border] = False
    enclosed[0] = False  # label 0 is the mask itself
    return enclosed[labels]


def _kernel(px: int) -> U8Array:
    return np.asarray(cv2.getStructuringElement(cv2.MORPH_RECT, (px, px)), dtype=np.uint8)


def find_static(
    frames: Sequence[npt.NDArray[np.uint8]], params: OverlayParams = OverlayParams()
) -> StaticMask:
    """Find the static regions of a clip from its sampled frames (grey or RGB uint8, same shape)."""
    stack, (w, h) = _stack_gray(frames, params)
    t, sh, sw = stack.shape
    med = np.median(stack, axis=0).astype(np.int16)
    near = np.abs(stack.astype(np.int16) - med[None]) <= params.tol
    stability = near.mean(axis=0, dtype=np.float32)
    stable = (stability >= params.stable_frac).astype(np.uint8)
    # a translucent panel lets a damped copy of the content through: inside regions enclosed
    # by static pixels, accept pixels that are still at a looser tolerance (a facecam or the
    # game inside a frame moves at full contrast and stays dynamic)
    loose = np.abs(stack.astype(np.int16) - med[None]) <= params.loose_factor * params.tol
    loose_stable = loose.mean(axis=0) >= params.stable_frac
    stable |= (_holes(stable) & loose_stable).astype(np.uint8)

    edge_count = np.zeros((sh, sw), np.int32)
    for g in stack:
        gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
        edge_count += (cv2.magnitude(gx, gy) >= params.edge_thresh).astype(np.int32)
    persistent = edge_count >= params.edge_persist * t

    if params.open_px > 1:
        stable = np.asarray(cv2.morphologyEx(stable, cv2.MORPH_OPEN, _kernel(params.open_px)), np.uint8)
    if params.close_px > 1:
        stable = np.asarray(cv2.morphologyEx(stable, cv2.MORPH_CLOSE, _kernel(params.close_px)), np.uint8)

    n, labels, stats, _ = cv2.connectedComponentsWithStats(stable, connectivity=8)
    # persistent edges of each component (edges lie on region borders: dilate to catch them)
    edge_in = cv2.dilate(persistent.astype(np.uint8), _kernel(3)).astype(bool)
    edge_per_label = np.bincount(labels[edge_in & (stable > 0)], minlength=n)
    min_area = params.min_region_frac * sh * sw
    keep = np.zeros(n, bool)
    for i in range(1, n):
        area = stats[i, cv2.CC_STAT_AREA]
        if area < min_area:
            continue
        if edge_per_label[i] < params.min_edge_density * np.sqrt(area):
            continue
        keep[i] = True
    small_mask = keep[labels]

    sx, sy = w / sw, h / sh
    order = sorted((i for i in range(1, n) if keep[i]), key=lambda i: -stats[i, cv2.CC_STAT_AREA])
    boxes: list[Box] = [_scale_box(np.asarray(stats[i, :4], dtype=np.int64), sx, sy, w, h) for i in order]

    dynamic = (~small_mask).astype(np.uint8)
    if params.open_px > 1:
        dynamic = np.asarray(cv2.morphologyEx(dynamic, cv2.MORPH_OPEN, _kernel(params.open_px)), np.uint8)
    dn, _, dstats, _ = cv2.connectedComponentsWithStats(dynamic, connectivity=8)
    content: Box | None = None
    if dn > 1:
        j = 1 + int(np.argmax(dstats[1:, cv2.CC_STAT_AREA]))
        content = _scale_box(np.asarray(dstats[j, :4], dtype=np.int64), sx, sy, w, h)

    mask = small_mask
    if (sw, sh) != (w, h):
        mask = cv2.resize(small_mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    logger.debug("static mask: %d regions, %.3f of the frame", len(boxes), float(mask.mean()))
    return StaticMask(mask=mask, boxes=boxes, content_box=content, stability=stability)


def _scale_box(b: npt.NDArray[np.integer[Any]], sx: float, sy: float, w: int, h: int) -> Box:
    x0, y0 = int(np.floor(b[0] * sx)), int(np.floor(b[1] * sy))
    x1, y1 = min(w, int(np.ceil((b[0] + b[2]) * sx))), min(h, int(np.ceil((b[1] + b[3]) * sy)))
    return (x0, y0, x1 - x0, y1 - y0)


def static_layer_image(frames: Sequence[npt.NDArray[np.uint8]], mask: BoolArray | StaticMask) -> U8Array:
    """Temporal median of the frames where ``mask`` is static, 0 elsewhere.

    Frames are grey ``(H, W)`` or RGB ``(H, W, 3)`` uint8 at the mask's resolution;
    the result has the frames' shape. Use it (with the mask as alpha) to match
    the clip's overlay against registered assets.
    """
    m = mask.mask if isinstance(mask, StaticMask) else mask
    if not frames:
        raise FingerprintError("no frames")
    shape = frames[0].shape
    if m.shape != shape[:2] or m.dtype != np.bool_:
        raise FingerprintError(f"mask must be bool {shape[:2]}, got {m.dtype} {m.shape}")
    for i, f in enumerate(frames):
        if f.shape != shape or f.dtype != np.uint8:
            raise FingerprintError(f"frame {i}: expected uint8 {shape}, got {f.dtype} {f.shape}")
    ys, xs = np.nonzero(m)
    out = np.zeros(shape, np.uint8)
    if len(ys):
        # median only over the static pixels: (T, K[, C]) instead of whole frames
        samples = np.stack([f[ys, xs] for f in frames])
        out[ys, xs] = np.median(samples, axis=0).round().astype(np.uint8)
    return out
