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
    """Registered stills in the frames that have an RGB copy (grey search, colour check)."""
    params = index.params
    if not index.assets or params.asset_frames == 0 or not frames:
        return []
    need = min(params.asset_min_frames, len(frames))
    hits: list[AssetHit] = []
    features: dict[tuple[int, LocalParams], Features] = {}  # a frame's features serve every asset
    still = np.median(np.stack([grey for _, grey, _ in frames]), axis=0).astype(np.uint8)
    for meta, detector in index.assets:
        templates = detector.template_top is not None and detector.match_template(still).found
        if detector.method == "template" and not templates:
            continue  # found by templates only, and not in the still picture
        found: list[tuple[float, AssetMatch]] = []
        for i, (t, grey, colour) in enumerate(frames):
            if len(found) + len(frames) - i < need:
                break  # too few frames left to find it in enough of them
            ff = None
            if detector.method == "features":
                key = (i, detector.frame_params)
                ff = features.get(key)
                if ff is None:
                    ff = features[key] = detector.frame_features(grey)
            m = detector.detect(grey, ff, templates=templates)
            if not m.found:
                continue
            diff = chroma_difference(detector, colour, m)
            if diff is not None and diff > params.asset_max_chroma:
                continue  # the same shapes in other colours: another's copy of a template
            found.append((t, m))
        if len(found) >= need:
            first = found[0][1]
            x, y, bw, bh = (int(v) for v in first.box)
            h, w = frames[0][1].shape[:2]
            hits.append(
                AssetHit(
                    meta.key,
                    meta.layer,
                    tuple(t for t, _ in found),
                    (x, y, bw, bh),
                    (w, h),
                    float(np.median([m.score for _, m in found])),
                    first.method,
                    first.mirrored,
                )
            )
    return hits
