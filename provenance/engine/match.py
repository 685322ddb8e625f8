"""Matching a clip against the reference index: the recipe, window by window.

Pure: paths and arrays in, matches out; no database, no web. For each window of sampled clip frames (streamed,
so memory stays bounded whatever the clip's length):

1. **fingerprint** the window (:mod:`~provenance.engine.prints`): borders trimmed (the window's, and each shot's
   whose bars differ), 256-bit hashes of fixed regions of every frame and of its mirror image, and of panels
   (pictures pasted inside the frame). Nothing of the registry is needed: this step can run anywhere;
2. **find candidates** in the reference index: the hash queries looked up exactly (only compatible region
   pairs vote, a frame's matches far worse than its best are dropped; :mod:`~provenance.engine.hashsearch`),
   then, where hashes leave frames unexplained, local features (ORB + RANSAC, mirror too) against the feature
   bank, for crops, picture-in-picture and the work shrunk into a layout (:mod:`~provenance.engine.localpass`);

and once the clip is read:

3. **decide**: temporal alignment turns the votes into segments on both timelines and rejects scattered chance
   matches; a clip mostly matching a too-static reference is reported by coverage
   (:mod:`~provenance.engine.decide`); registered stills (HUD, logos, overlays) are looked for in a few colour
   frames (:mod:`~provenance.engine.assetpass`).

Layers: a ``stream``-layer reference (a streamer's VOD) counts only through the streamer's whole composition,
never through the game picture it shows (:mod:`~provenance.engine.references`). What such a VOD shows of other
works is found by matching the VOD itself as a clip with its own work's references ignored (``ignore``), once,
when the index is built (:mod:`provenance.audit.shown`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from provenance.engine.assetpass import find_assets
from provenance.engine.decide import align_votes
from provenance.engine.hashsearch import hash_votes
from provenance.engine.localpass import local_pass
from provenance.engine.prints import WindowPrint, fingerprint_window
from provenance.engine.references import ReferenceIndex
from provenance.engine.results import ClipMatches
from provenance.engine.sampling import Sampled, clip_frames
from provenance.engine.votes import Votes

__all__ = ["WINDOW_FRAMES", "match_clip"]

#: Clip frames analysed together (borders, panels, hashes, local features): 60 s at 2 fps. Long clips are
#: streamed window by window, so memory stays bounded whatever their length; only the votes (a few numbers per
#: frame match) and the frames kept for the asset pass outlive a window.
WINDOW_FRAMES = 120

ColourFrame = tuple[float, npt.NDArray[np.uint8], npt.NDArray[np.uint8]]  # (time, grey, RGB)


def match_clip(source: Any, index: ReferenceIndex, ignore: Collection[str] = ()) -> ClipMatches:
    """Find the indexed references and assets in a clip (a path, or a source object with ``open()``).

    ``ignore`` (reference keys) are matched as if they were not registered: their hashes vote for nothing, so
    the frames they would explain are searched by local features; their asset finds are left out.

    The clip is decoded once, as a stream, in windows of about :data:`WINDOW_FRAMES` frames (split evenly, so
    no window is a short remainder); layout (borders, panels) is found per window, so a long video whose
    layout changes is followed.
    """
    params = index.params
    sampled = clip_frames(source, params)
    votes = Votes()
    kept: list[ColourFrame] = []  # the asset pass's frames
    first: tuple[WindowPrint, tuple[int, int]] | None = None
    ignored = np.array([m.key in ignore for m in index.refs], bool) if ignore else None
    for times, images in _windows(sampled, kept):
        prints = fingerprint_window(images, params.min_quality)
        _find_candidates(index, times, images, prints, votes, ignored)
        first = first or (prints, (images[0].shape[1], images[0].shape[0]))
    assert first is not None  # Sampled raises when no frame decodes
    box, size = first[0].box, first[1]
    result = ClipMatches(sampled.duration, sampled.count, (box.x0, box.y0, box.width, box.height), size)
    result.footage = align_votes(index, votes)
    result.assets = [hit for hit in find_assets(index, kept) if hit.key not in ignore]
    return result


def _windows(sampled: Sampled, kept: list[ColourFrame]) -> Iterator[tuple[list[float], list[npt.NDArray[np.uint8]]]]:
    """The clip's grey frames in windows ``(times, images)``; frames that come with an RGB copy are kept in
    ``kept`` (thinned when the clip's duration was unknown)."""
    times: list[float] = []
    images: list[npt.NDArray[np.uint8]] = []
    window = WINDOW_FRAMES
    for n, (t, image, colour) in enumerate(sampled):
        if n == 0 and sampled.expected:  # the container's duration is known once the first frame decodes
            parts = max(1, -(-sampled.expected // WINDOW_FRAMES))
            window = max(1, -(-sampled.expected // parts))
        if colour is not None:
            kept.append((t, image, colour))
            if len(kept) > 2 * max(1, sampled.colour_frames):
                kept[:] = kept[::2]  # duration unknown: thin the copies instead of keeping them all
        times.append(t)
        images.append(image)
        if len(images) >= window:
            yield times, images
            times, images = [], []
    if images:
        yield times, images


def _find_candidates(
    index: ReferenceIndex,
    times: list[float],
    images: list[npt.NDArray[np.uint8]],
    prints: WindowPrint,
    votes: Votes,
    ignored: npt.NDArray[np.bool_] | None = None,
) -> None:
    """Hash lookups, then local features where hashes leave the window unexplained; all found goes to ``votes``
    (not the hash matches of ``ignored`` references, a mask over the index's footage references)."""
    params = index.params
    votes.informative += prints.informative
    matched_frames = hash_votes(index, times, prints.queries, votes, ignored)
    if len(matched_frames) < params.explained_fraction * len(images) and len(index.bank):
        local_pass(index, times, images, prints.box, votes, matched_frames, prints.panels)
