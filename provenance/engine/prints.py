"""Step 1 of matching a clip: fingerprint a window of its frames, without the registry.

The window's borders (letterbox, pillarbox) are trimmed; each frame is hashed as a whole picture, its quadrants
and centre crops, and as its mirror image (:mod:`~provenance.engine.fingerprint.grids`); a run of frames whose
own borders differ from the window's (a compilation cutting between 4:3 and 16:9 pictures) is hashed again with
its own; pictures pasted inside the frames (panels: a picture-in-picture inset, a stream layout's game box) are
hashed as whole pictures. What comes out are :class:`HashQuery` rows for the index.

Thin borders are not trusted alone: whether a dark edge a few pixels wide is a bar depends on the resolution it is
judged at (lines are judged flat over blocks of pixels), so a copy smaller than its reference can be trimmed where
the reference was not. A 320x180 cut of a 640x360 streamer's VOD had 3 and 4 pixels trimmed off the overlay's
dark edge, which the VOD kept: its whole-picture hashes were 24-36 bits from the VOD's (over the 31 accepted) and
no nearer the right moment than any other, against 2-6 bits at the right moment untrimmed. A window whose borders
are all thinner than :data:`THIN_BORDER` of its frame is also hashed untrimmed, as whole pictures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from provenance.engine.fingerprint.regions import BorderParams, BorderStats, Box, trim
from provenance.engine.layout import find_panels
from provenance.engine.pairs import HASHER, PANEL, REGIONS, WHOLE, WHOLE_ONLY
from provenance.engine.sampling import border_step

__all__ = ["THIN_BORDER", "HashQuery", "WindowPrint", "fingerprint_window"]

#: The widest border, as a share of the frame's side, that is also hashed untrimmed (module docstring): letterbox
#: and pillarbox bars are an eighth of a side or more; 3 pixels of 320 are a hundredth, 4 of 180 a fortieth.
THIN_BORDER = 0.04


class HashQuery(NamedTuple):
    """Hashes to look up, of one kind (``method``): ``hashes (M, 32)``, their ``quality (M,)``, the clip region
    of each (``regions (M,)``, :mod:`~provenance.engine.pairs` numbering) and the window frame of each
    (``frames (M,)``)."""

    method: str
    hashes: npt.NDArray[np.uint8]
    quality: npt.NDArray[np.int64]
    regions: npt.NDArray[np.int64]
    frames: npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class WindowPrint:
    """The fingerprint of a window of clip frames: its borders, the hash queries, and how many of its frames are
    informative as whole pictures (quality at least ``min_quality``)."""

    box: Box
    queries: list[HashQuery]
    informative: int
    panels: tuple[Box, ...] = ()  # pictures pasted in the frames (inside ``box``, in its coordinates), best first


#: Shortest run of frames (at the clip's sampling) whose own borders are judged apart from their window's.
_MIN_SHOT_FRAMES = 3
#: Largest difference of an edge, as a share of the frame's side, between boxes taken as the same.
_BOX_TOLERANCE = 0.02
#: Bars judged again with twice the flatness tolerance. A reference is trimmed on clean footage; a copy is
#: compressed, and the ringing of the content's edges next to its bars (a score's bright digits over the black rows
#: above them) makes the rows beside them look textured, so the strict trim stops a row or two short of where the
#: reference's did. On the sample's picture-in-picture of Breakout (an inset: 182 rows), two rows short put the
#: inset's hashes 28-46 bits from its reference's, the loose trim's box 4-10 bits. Of the short-clip corpus's 80
#: barred, cropped, scaled and re-encoded copies, the window's loose box differed in 20, and there it came closer to
#: the reference in 205 frames and farther in 16 (medians 1-6 bits closer; 27 -> 22 bits in a noisy copy). Both
#: boxes are looked up, so that no match of the strict one is lost.
_LOOSE_BARS = BorderParams(flat_spread=2 * BorderParams().flat_spread)


def _same_box(a: Box, b: Box, width: int, height: int) -> bool:
    tx, ty = _BOX_TOLERANCE * width, _BOX_TOLERANCE * height
    return abs(a.x0 - b.x0) <= tx and abs(a.x1 - b.x1) <= tx and abs(a.y0 - b.y0) <= ty and abs(a.y1 - b.y1) <= ty


def _shot_boxes(
    images: list[npt.NDArray[np.uint8]], box: Box, stats: BorderStats | None = None
) -> list[tuple[Box, list[int]]]:
    """Runs of consecutive frames whose borders are not the window's ``box``: ``(their box, their frames)``.

    A window's borders are those of all its frames, so a video that cuts between pictures of other shapes (a
    compilation, a stream that shows a 4:3 game between full-frame scenes) gets no trim at all, and a
    pillarboxed shot is then hashed with its bars. Frames are grouped by their own box (edges within
    :data:`_BOX_TOLERANCE`); a run of at least :data:`_MIN_SHOT_FRAMES` gets the borders of its frames taken
    together (a dark frame alone looks barred). ``stats``: the frames' line statistics (:class:`BorderStats`) when
    the caller has them already.
    """
    if len(images) < _MIN_SHOT_FRAMES:
        return []
    h, w = images[0].shape[:2]
    stats = stats or BorderStats(images)
    own = stats.frame_boxes()
    runs: list[tuple[Box, list[int]]] = []
    start = 0
    for i in range(1, len(images) + 1):
        if i < len(images) and _same_box(own[i], own[start], w, h):
            continue
        if i - start >= _MIN_SHOT_FRAMES and not _same_box(own[start], box, w, h):
            shot = stats.box(slice(start, i))
            if not _same_box(shot, box, w, h):
                runs.append((shot, list(range(start, i))))
        start = i
    return runs


def _region_queries(
    hashes: npt.NDArray[np.uint8], quality: npt.NDArray[np.int64], frames: list[int]
) -> list[HashQuery]:
    """The queries of region hashes ``(K, 2R, 32)`` (direct, then mirrored) and their quality ``(K, 2R)`` of the
    window's frames ``frames``, and of each whole frame's negative (:func:`_negative_queries`)."""
    r = len(REGIONS)
    k = len(frames)
    regions, frame_of = np.tile(np.arange(r), k), np.repeat(np.asarray(frames, np.int64), r)
    return [
        HashQuery(name, hashes[:, side].reshape(k * r, 32), quality[:, side].reshape(k * r), regions, frame_of)
        for name, side in (("pdq", slice(0, r)), ("pdq-mirror", slice(r, 2 * r)))
    ] + [_negative_queries(hashes[:, WHOLE], quality[:, WHOLE], frames)]


def _negative_queries(hashes: npt.NDArray[np.uint8], quality: npt.NDArray[np.int64], frames: list[int]) -> HashQuery:
    """The whole frames' hashes ``(K, 32)`` as their negatives (an inverted copy: ``255 - grey``) would hash.

    Inverting a picture negates every DCT coefficient but the mean, so each coefficient's side of their median
    flips and the hash is the complement (but for coefficients at the median: the same few bits as a re-encode
    moves; the quality, a sum of absolute gradients, stays). An inverted copy's whole-frame hashes come within the
    usual distances of the complements of its reference's, where the direct hashes lie ~256 bits away and ORB's
    descriptors (comparisons of pixel pairs) are complemented too. Whole frames only, not mirrored: one query a
    frame more, for a whole-picture edit."""
    return HashQuery(
        "pdq-invert",
        np.ascontiguousarray(np.bitwise_not(hashes)),
        quality,
        np.full(len(frames), WHOLE, np.int64),
        np.asarray(frames, np.int64),
    )


def fingerprint_window(images: list[npt.NDArray[np.uint8]], min_quality: int) -> WindowPrint:
    """Region hashes of the window's frames (each shot whose borders are not the window's also trimmed to its
    own), and of pictures pasted in them (panels)."""
    n = len(images)
    stats = BorderStats(images)  # every frame's line statistics, once: the window's borders, each shot's
    box = stats.box(slice(None, None, border_step(n)))
    hashes, quality = HASHER.regions(images, box, mirror=True)
    informative = int((quality[:, WHOLE] >= min_quality).sum())
    queries = _region_queries(hashes, quality, list(range(n)))
    h, w = images[0].shape[:2]
    edges = (box.x0 / w, box.y0 / h, 1 - box.x1 / w, 1 - box.y1 / h)
    wholes = [Box(0, 0, w, h)] if 0 < max(edges) <= THIN_BORDER else []  # a thin border: the frames untrimmed too
    loose = stats.box(slice(None, None, border_step(n)), _LOOSE_BARS)
    if loose != box and loose not in wholes:
        wholes.append(loose)
    for picture in wholes:
        queries += _whole_queries(images, picture, "pdq", WHOLE)
    for shot, members in _shot_boxes(images, box, stats):
        queries += _region_queries(*HASHER.regions([images[f] for f in members], shot, mirror=True), members)
    trimmed = [trim(im, box) for im in images]
    panels: list[Box] = []
    for panel in find_panels(trimmed):
        # shave the line itself (a drawn frame around an inset), then trim the pasted picture's own
        # bars as its reference's were trimmed
        sx, sy = max(2, panel.width // 100), max(2, panel.height // 100)
        panel = Box(panel.x0 + sx, panel.y0 + sy, panel.x1 - sx, panel.y1 - sy)
        crops = BorderStats([np.ascontiguousarray(panel.crop(im)) for im in trimmed[:: border_step(n)]])
        inner = crops.box(slice(None))
        inside = Box(panel.x0 + inner.x0, panel.y0 + inner.y0, panel.x0 + inner.x1, panel.y0 + inner.y1)
        panels.append(inside)
        queries += _whole_queries(trimmed, inside, "pdq-panel", PANEL)
        loose = crops.box(slice(None), _LOOSE_BARS)  # the same line statistics, judged by the looser tolerance
        if loose != inner:
            box2 = Box(panel.x0 + loose.x0, panel.y0 + loose.y0, panel.x0 + loose.x1, panel.y0 + loose.y1)
            queries += _whole_queries(trimmed, box2, "pdq-panel", PANEL)
    return WindowPrint(box, queries, informative, tuple(panels))


def _whole_queries(images: list[npt.NDArray[np.uint8]], box: Box, method: str, region: int) -> list[HashQuery]:
    """The queries of every frame's ``box`` hashed as a whole picture, direct (``method``) and mirrored
    (``method-mirror``, with the direct picture's quality), as the index's region ``region``."""
    n = len(images)
    hashes, quality = HASHER.regions(images, box, mirror=True, regions=WHOLE_ONLY)
    return [
        HashQuery(name, hashes[:, side], quality[:, 0], np.full(n, region), np.arange(n))
        for name, side in ((method, 0), (f"{method}-mirror", 1))
    ]
