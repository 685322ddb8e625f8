"""Registered stills (HUDs, logos, overlays) found in a clip's colour frames: grey search, colour check.

Each asset is looked for in each frame by its features (ORB, a similarity by RANSAC); small appearances, and
assets without texture, by masked templates over many scales, which costs several times as much. A HUD or an
overlay stays where it is while the picture under it changes: in the median of the frames it stays sharp and the
rest blurs away. So the template search runs once on that still picture first, and in the frames only when it
finds the asset there (on the short-clip corpus, this left the template search out of 5 frames in 6 with the
same findings); an asset that moves (a zooming edit) is still found by its features in every frame. (The
feature search is not gated the same way: in the sample's stream highlight, a zooming edit, the Freedoom HUD is
found by features in 4 of 6 frames, each at another place and scale, and with 9 inliers of 12 in the still.)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from provenance.engine.assets import AssetMatch
from provenance.engine.chroma import chroma_difference
from provenance.engine.features import Features, LocalParams
from provenance.engine.references import ReferenceIndex
from provenance.engine.results import AssetHit

__all__ = ["find_assets"]


def find_assets(
    index: ReferenceIndex, frames: list[tuple[float, npt.NDArray[np.uint8], npt.NDArray[np.uint8]]]
) -> list[AssetHit]:
    """Registered stills in the frames that have an RGB copy (grey search, colour check).

    Frame by frame: the assets found by their features are verified against the frame's features (computed once
    for all of them), every one of them while there are at most ``asset_top_k``, else only the most voted of
    the asset shortlist (:meth:`ReferenceIndex.asset_shortlist`); templates are searched in a frame only for an
    asset verified there whose template search found it in the still picture first.
    """
    params = index.params
    if not index.assets or params.asset_frames == 0 or not frames:
        return []
    need = min(params.asset_min_frames, len(frames))
    still = np.median(np.stack([grey for _, grey, _ in frames]), axis=0).astype(np.uint8)
    featured = [a for a, (_, d) in enumerate(index.assets) if d.method == "features"]
    shortlisted = 2 * len(featured) > params.asset_top_k  # two sides each: direct and mirrored
    templates: dict[int, bool] = {}  # asset -> whether its template search found it in the still picture
    found: dict[int, list[tuple[float, AssetMatch]]] = {a: [] for a in range(len(index.assets))}
    features: dict[LocalParams, Features] = {}  # this frame's features serve every asset
    for i, (t, grey, colour) in enumerate(frames):
        features.clear()
        every = {a: _BOTH for a in range(len(index.assets))}
        candidates = _candidates(index, featured, grey, features) if shortlisted else every
        for a, sides in candidates.items():
            if len(found[a]) + len(frames) - i < need:
                continue  # too few frames left to find it in enough of them
            detector = index.assets[a][1]
            if a not in templates:
                templates[a] = detector.template_top is not None and detector.match_template(still).found
            if detector.method == "template" and not templates[a]:
                continue  # found by templates only, and not in the still picture
            ff = None
            if detector.method == "features":
                ff = features.get(detector.frame_params)
                if ff is None:
                    ff = features[detector.frame_params] = detector.frame_features(grey)
            m = detector.detect(grey, ff, templates=templates[a], sides=sides)
            if not m.found:
                continue
            diff = chroma_difference(detector, colour, m)
            if diff is not None and diff > params.asset_max_chroma:
                continue  # the same shapes in other colours: another's copy of a template
            found[a].append((t, m))
    hits: list[AssetHit] = []
    h, w = frames[0][1].shape[:2]
    for a, (meta, _) in enumerate(index.assets):
        if len(found[a]) < need:
            continue
        first = found[a][0][1]
        x, y, bw, bh = (int(v) for v in first.box)
        hits.append(
            AssetHit(
                meta.key,
                meta.layer,
                tuple(t for t, _ in found[a]),
                (x, y, bw, bh),
                (w, h),
                float(np.median([m.score for _, m in found[a]])),
                first.method,
                first.mirrored,
            )
        )
    return hits


_BOTH = (False, True)


def _candidates(
    index: ReferenceIndex, featured: list[int], grey: npt.NDArray[np.uint8], features: dict[LocalParams, Features]
) -> dict[int, tuple[bool, ...]]:
    """The assets to look for in one frame of a large registry, and on which sides (direct, mirrored): the
    shortlist's most voted sides of those found by their features, and every asset found by templates only
    (their own still-picture search gates them), in registry order."""
    detector = index.assets[featured[0]][1]  # every asset's frame features are of the same parameters
    ff = features[detector.frame_params] = detector.frame_features(grey)
    chosen: dict[int, tuple[bool, ...]] = {a: _BOTH for a, (_, d) in enumerate(index.assets) if d.method != "features"}
    for a, mirrored in index.asset_shortlist().shortlist(ff, index.params.asset_top_k):
        chosen[a] = (*chosen.get(a, ()), mirrored)
    return dict(sorted(chosen.items()))
