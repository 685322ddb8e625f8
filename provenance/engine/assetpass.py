"""Registered stills (HUDs, logos, overlays) found in a clip's colour frames: grey search, colour check.

Each asset is looked for in each frame by its features (ORB, a similarity by RANSAC); small appearances, and
assets without texture, by masked templates over many scales, which costs several times as much. A HUD or an
overlay stays where it is while the picture under it changes: in the median of the frames it stays sharp and the
rest blurs away. So the template search runs once on that still picture first, and in the frames only when it
finds the asset there (on the short-clip corpus, this left the template search out of 5 frames in 6 with the
same findings). An asset found by its features runs it only when they miss it in a frame searched: on every 5th
clip of the short-clip corpus the still was searched in 40 clips of 64 instead of all, with the same findings. An
asset that moves (a zooming edit) is still found by its features in every frame. (The
feature search is not gated the same way: in the sample's stream highlight, a zooming edit, the Freedoom HUD is
found by features in 4 of 6 frames, each at another place and scale, and with 9 inliers of 12 in the still.)

In a registry with many assets, a frame is verified against the few its features point to
(:class:`~provenance.engine.assetshortlist.AssetShortlist`), in two rounds: when the first finds the shape of
something (a streamer's overlay covering the frame, whether or not its colours or its own features then confirm
it), the frame's features on the found asset's opaque pixels are set aside and the rest vote again, so that a small
HUD in the overlay's hole is not crowded out by the overlay's look-alikes.

A clip's frames are searched in two passes. An asset must be found in ``asset_min_frames`` (``need``) frames,
and what is shown (a HUD, an overlay, a logo) is shown for a stretch of the clip, so every ``need`` consecutive
frames of those it is found in hold one of the frames ``need`` apart: the first pass searches every asset in
those frames only (frames 0, 2, 4... for two), the second searches the other frames for the assets whose shapes
the first pass found (colour not checked yet, so that a look-alike that would veto a find is searched too), when
the first pass found an asset: what is shown is found in one of its frames, so a clip where the first pass found
only shapes that their colours or their look-alikes ruled out is searched no further (a look-alike overlay in a
clean stream, a HUD's shape matched by a game's other screens). A clean clip's frames are searched for no asset in
the second pass: on the short-clip corpus's 858 (clip, asset) pairs, 35 % fewer frame searches, and none of the
195 assets found in two frames or more was missed. Nor is a frame searched for an asset the first pass found in the
frames on both sides of it: what a still shows two frames apart it shows between them, and the frame would only
add a time inside the stretch already found (on every other clip of the short-clip corpus, 199 of the 884 frames
whose features were computed; the same assets over the same stretches in all 320 clips, their scores the median
of fewer frames).

An asset found where another asset (of another work) matches as strongly is evidence for neither: one overlay
template in two colourways, a logo on two holders' assets. A found asset must beat every other asset's shape match
at the same place by a clear margin (``_UNIQUE_RATIO`` of RANSAC inliers, Lowe's ratio test at the level of
assets), else it is dropped in that frame. And a large asset found by its features must look like the frame where
it is placed (a grey correlation over its opaque pixels, :func:`~provenance.engine.chroma.placed_correlation`):
matching a template's repeated shapes can place it where the picture is another's overlay.

Among many look-alikes (one overlay template in many colourways registered by many streamers), the shortlist
verifies a few of them, ranked by a few votes each, and another streamer's colourway of the template (not
registered) can match one of them by shape while coming close enough in colour. What tells a registered asset
from its look-alikes is its own features: those that none of the other works' assets sharing most of its features
has (:func:`~provenance.engine.generic.distinctive`; a channel's name, its badges). A found asset that has
look-alikes must have ``min_inliers`` of them among its inliers. On the short-clip corpus with 150 look-alike
overlays registered (bench/scale_bench.py's distractors), the registered NightOwl overlay shown had 36-39 of them
in most frames (5 in one), the look-alike found in a clean stream 3-6, while their inliers were alike (354-456
against 392-424).

Nor is an asset found whose matches, in every frame where a stronger find of another work's asset was matched
beside it, were mostly on that find's own frame inliers (:func:`_explained`): the template's panels and frames that
two overlays share match wherever the weaker one is placed (in a cut of NightOwl's VOD, LunaFox's overlay, placed
mostly outside the frame, on 91-96 % of the shown overlay's inliers, passed every other rule by a hair).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import numpy.typing as npt

from provenance.engine.assets import AssetDetector, AssetMatch
from provenance.engine.chroma import chroma_difference, placed_correlation
from provenance.engine.features import Features, LocalParams
from provenance.engine.generic import distinctive
from provenance.engine.references import ReferenceIndex
from provenance.engine.results import AssetHit

__all__ = ["find_assets"]

Frame = tuple[float, npt.NDArray[np.uint8], npt.NDArray[np.uint8]]  # (time, grey, RGB)

_BOTH = (False, True)
#: a found asset's inliers over another's at the same place above which neither is evidence
_UNIQUE_RATIO = 0.8
#: box overlap (intersection over union: a HUD inside an overlay's box is not at the overlay's place) at which two
#: found assets are at the same place
_SAME_PLACE = 0.5


def find_assets(index: ReferenceIndex, frames: list[Frame]) -> list[AssetHit]:
    """Registered stills in the frames that have an RGB copy (grey search, colour check).

    In two passes (see the module's docstring), frame by frame: the assets found by their features are verified
    against the frame's features (computed once for all of them), every one of them while they have at most
    ``asset_top_k`` sides (direct, mirrored), else only the most voted sides of the asset shortlist; templates are
    searched in a frame only for an asset whose template search found it in the still picture first.
    """
    params = index.params
    if not index.assets or params.asset_frames == 0 or not frames:
        return []
    need = min(params.asset_min_frames, len(frames))
    search = _Search(index, frames, need)
    featured = [a for a, (_, d) in enumerate(index.assets) if d.method == "features"]
    templated = {a: _BOTH for a, (_, d) in enumerate(index.assets) if d.method != "features"}
    first_pass = list(range(0, len(frames), need))  # every `need` consecutive frames hold one of these
    second_pass = [i for i in range(len(frames)) if i % need]
    seen: set[int] = set()  # assets whose shapes the first pass found
    for k, i in enumerate(first_pass):
        search.start(len(first_pass) - k - 1 + len(second_pass))
        grey = frames[i][1]
        if 2 * len(featured) <= params.asset_top_k:  # two sides each: direct and mirrored
            search.verify(i, {a: _BOTH for a in range(len(index.assets))})
        else:
            ff = search.features(index.assets[featured[0]][1].frame_params, grey)
            owners = index.asset_shortlist().nearest(ff)
            first = index.asset_shortlist().top(owners, params.asset_top_k)
            search.verify(i, {**templated, **_by_asset(first)})
            if search.shapes:  # a second round with what the assets found (by shape) do not cover
                free = ~_covered(index, ff.keypoints[: len(owners)], search.shapes)
                extra = index.asset_shortlist().top(owners[free], params.asset_top_k // 2, skip=first)
                search.verify(i, _by_asset(extra))
        seen.update(search.shapes)
        search.finish(i)
    if not any(search.found.values()):
        return []  # nothing shown: a shape whose colours or look-alikes ruled it out in every frame searched is none
    for k, i in enumerate(second_pass):
        search.start(len(second_pass) - k - 1)
        before, after = i - i % need, i - i % need + need  # the first pass's frames around this one
        around = search.found_in.get(before, set()) & search.found_in.get(after, set())
        search.verify(i, {a: _BOTH for a in sorted(seen - around)})
        search.finish(i)
    return search.hits()


#: a placed asset covering at least this share of the frame must correlate with it at least ``_MIN_CORRELATION``;
#: smaller ones (a HUD in a picture-in-picture) have too few pixels for the correlation to judge (true ones fell
#: to 0.0-0.4 there)
_JUDGED_AREA = 0.05
_MIN_CORRELATION = 0.4


def _looks_alike(detector: AssetDetector, grey: npt.NDArray[np.uint8], m: AssetMatch) -> bool:
    """Whether a feature match's placed asset looks like the frame where it was placed (see :data:`_JUDGED_AREA`)."""
    judged = placed_correlation(detector, grey, m)
    return judged is None or judged[1] < _JUDGED_AREA or judged[0] >= _MIN_CORRELATION


def _by_asset(sides: list[tuple[int, bool]]) -> dict[int, tuple[bool, ...]]:
    out: dict[int, tuple[bool, ...]] = {}
    for a, mirrored in sides:
        out[a] = (*out.get(a, ()), mirrored)
    return out


class _Search:
    """One clip's asset search: the still picture's template gates, each frame's features and matches, and
    the frames each asset was found in."""

    def __init__(self, index: ReferenceIndex, frames: list[Frame], need: int) -> None:
        self.index = index
        self.frames = frames
        self.need = need
        self._still: npt.NDArray[np.uint8] | None = None  # the frames' median, made when a template search needs it
        self.templates: dict[int, bool] = {}  # asset -> whether its template search found it in the still
        self.found: dict[int, list[tuple[float, AssetMatch]]] = {a: [] for a in range(len(index.assets))}
        self.matches: dict[int, AssetMatch] = {}  # this frame's, colour checked
        self.shapes: dict[int, AssetMatch] = {}  # this frame's, before the colour check
        self._features: dict[LocalParams, Features] = {}  # this frame's, shared by every asset
        self.left = len(frames)  # frames that may still be searched after the current one
        self.found_in: dict[int, set[int]] = {}  # frame -> the assets found in it
        # asset -> for each frame where it was matched beside a stronger match of another work's asset, whether on
        # that one's frame features (_explained)
        self.explained: dict[int, list[bool]] = {}

    def start(self, left: int) -> None:
        """A frame's search begins; ``left``: frames that may still be searched after this one."""
        self.left = left
        self.matches = {}
        self.shapes = {}
        self._features.clear()

    def features(self, params: LocalParams, grey: npt.NDArray[np.uint8]) -> Features:
        ff = self._features.get(params)
        if ff is None:
            detector = next(d for _, d in self.index.assets if d.frame_params == params)
            ff = self._features[params] = detector.frame_features(grey)
        return ff

    def verify(self, i: int, candidates: dict[int, tuple[bool, ...]]) -> None:
        _, grey, colour = self.frames[i]
        for a, sides in sorted(candidates.items()):
            if a in self.matches or len(self.found[a]) + 1 + self.left < self.need:
                continue  # found already, or too few frames left to find it in enough of them
            detector = self.index.assets[a][1]
            ff = self.features(detector.frame_params, grey) if detector.method == "features" else None
            # the template search runs in a frame only for an asset it found in the still picture
            m = detector.detect(grey, ff, templates=functools.partial(self._in_still, a), sides=sides)
            if not m.found:
                continue
            self.shapes[a] = m
            diff = chroma_difference(detector, colour, m)
            if diff is not None and diff > self.index.params.asset_max_chroma:
                continue  # the same shapes in other colours: another's copy of a template
            if m.method == "features" and not _looks_alike(detector, grey, m):
                continue  # placed where the picture is another (a template's repeated shapes matched)
            if m.method == "features" and not self._distinct(a, m):
                continue  # what tells it from its registered look-alikes is not there
            self.matches[a] = m

    def _distinct(self, a: int, m: AssetMatch) -> bool:
        """Whether a feature match of asset ``a`` has among its inliers ``min_inliers`` of the asset's features
        that its registered look-alikes do not share (True when it has none)."""
        if a not in self.index.distinct_cache:
            self.index.distinct_cache[a] = distinctive(self.index, a)
        masks = self.index.distinct_cache[a]
        if masks is None or m.inlier_features is None:
            return True
        own = masks[int(m.mirrored)][m.inlier_features]
        return int(own.sum()) >= self.index.assets[a][1].params.min_inliers

    def _in_still(self, a: int) -> bool:
        """Whether asset ``a``'s template search finds it in the still picture (searched once per clip, and only
        when asked: an asset its features find in every frame searched never needs it)."""
        found = self.templates.get(a)
        if found is None:
            detector = self.index.assets[a][1]
            if detector.template_top is None:
                found = False
            else:
                if self._still is None:
                    self._still = _median_picture([grey for _, grey, _ in self.frames])
                found = detector.match_template(self._still).found
            self.templates[a] = found
        return found

    def finish(self, i: int) -> None:
        for a, judged in _explained(self.index, self.matches, self.shapes).items():
            self.explained.setdefault(a, []).append(judged)
        unique = _unique(self.index, self.matches, self.shapes)
        for a, m in unique.items():
            self.found[a].append((self.frames[i][0], m))
        self.found_in[i] = set(unique)

    def hits(self) -> list[AssetHit]:
        out: list[AssetHit] = []
        h, w = self.frames[0][1].shape[:2]
        for a, (meta, _) in enumerate(self.index.assets):
            found = sorted(self.found[a], key=lambda tm: tm[0])  # the passes searched the frames out of order
            if len(found) < self.need:
                continue
            judged = self.explained.get(a, [])
            if judged and all(judged):
                continue  # wherever it was matched beside a stronger find of another work, on that one's features
            first = found[0][1]
            x, y, bw, bh = (int(v) for v in first.box)
            out.append(
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
        return out


def _median_picture(pictures: list[npt.NDArray[np.uint8]]) -> npt.NDArray[np.uint8]:
    """``np.median(np.stack(pictures), axis=0).astype(np.uint8)``, the same pixels in ~1/30 of the time.

    The pictures are sorted pixel by pixel by an odd-even transposition network (``n`` rounds of elementwise
    minimum and maximum of neighbours: sorted), and the middle taken: the middle value, or the mean of the two
    middle ones rounded down, which is what converting np.median's ``(a + b) / 2`` (exact: ``x`` or ``x.5``) to
    uint8 gives. Eight 640x360 frames: 23 ms by np.median, 0.7 ms here (np.sort along the frames: 23 ms too).
    """
    s = np.stack(pictures)
    n = len(s)
    for r in range(n):
        lo, hi = s[r % 2 : n - 1 : 2], s[r % 2 + 1 : n : 2]  # the pairs (i, i + 1) from i = r % 2
        least = np.minimum(lo, hi)
        np.maximum(lo, hi, out=hi)
        lo[...] = least
    if n % 2:
        return np.array(s[n // 2], np.uint8)
    return np.asarray((s[n // 2 - 1].astype(np.uint16) + s[n // 2]) >> 1, np.uint8)


def _unique(
    index: ReferenceIndex, matches: dict[int, AssetMatch], shapes: dict[int, AssetMatch]
) -> dict[int, AssetMatch]:
    """The ``matches`` that no other asset's shape match (``shapes``: colour not checked; of another group: work)
    at the same place explains as well. Shapes, not colours: another streamer's overlay bought from the same
    template matches the registered ones of that template by shape (with about as many inliers each), and
    whichever comes closest in colour would pass the colour check alone; the registered overlay itself, shown,
    has several times the inliers of its look-alikes."""
    out: dict[int, AssetMatch] = {}
    for a, ma in matches.items():
        group = index.assets[a][0].group
        rivals = [
            mb
            for b, mb in shapes.items()
            if b != a
            and not (group and index.assets[b][0].group == group)  # one work's assets: either is evidence for it
            and ma.method == "features"
            and mb.method == "features"
            and _overlap(ma.box, mb.box) >= _SAME_PLACE
        ]
        if all(mb.inliers < _UNIQUE_RATIO * ma.inliers for mb in rivals):
            out[a] = ma
    return out


#: share of a feature match's frame inliers that are also a stronger match's (of another work's asset, in the same
#: frame) from which the frame's features are that one's evidence, not its own
_EXPLAINED_SHARE = 0.5


def _explained(index: ReferenceIndex, matches: dict[int, AssetMatch], shapes: dict[int, AssetMatch]) -> dict[int, bool]:
    """For each feature match of ``matches`` beside a stronger feature match (more inliers) of another work's asset
    in ``shapes``: whether :data:`_EXPLAINED_SHARE` of its frame inliers are inliers of one of those too.

    Two overlays of one template share its panels and frames wherever they are placed: in a cut of a registered
    streamer's VOD, its overlay shown whole, another streamer's overlay of the same template was matched by 48-57
    inliers, placed mostly outside the frame, on the shown overlay's own panel edges (matched by 363-427), and passed
    the grey correlation (0.40-0.42) and the look-alike rule (13-18 own features) by a hair in three frames (the
    bench's seed-3 corpus). Where a stronger find explains a match's features, the frame is no evidence for it; a
    logo shown over an overlay is matched on the logo's features, which the overlay's match does not hold."""
    out: dict[int, bool] = {}
    for a, ma in matches.items():
        if ma.method != "features" or ma.frame_inliers is None or not len(ma.frame_inliers):
            continue
        meta, detector = index.assets[a]
        rivals: list[npt.NDArray[np.intp]] = [
            mb.frame_inliers
            for b, mb in shapes.items()
            if b != a
            and mb.method == "features"
            and mb.frame_inliers is not None
            and mb.inliers > ma.inliers
            and not (meta.group and index.assets[b][0].group == meta.group)
            and index.assets[b][1].frame_params == detector.frame_params  # the same frame features
        ]
        if rivals:
            out[a] = any(np.isin(ma.frame_inliers, theirs).mean() >= _EXPLAINED_SHARE for theirs in rivals)
    return out


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = float(iw * ih)
    return inter / max(1.0, float(a[2] * a[3] + b[2] * b[3]) - inter)


def _covered(
    index: ReferenceIndex, points: npt.NDArray[np.float32], matches: dict[int, AssetMatch]
) -> npt.NDArray[np.bool_]:
    """Which frame points fall on the opaque pixels of a found asset, placed where it was found."""
    covered = np.zeros(len(points), bool)
    for a, m in matches.items():
        detector = index.assets[a][1]
        if not np.isfinite(m.quad).all():
            continue
        aw, ah = detector.size
        src = np.array([[0.0, 0.0], [aw - 1.0, 0.0], [aw - 1.0, ah - 1.0]], np.float32)
        back = cv2.invertAffineTransform(cv2.getAffineTransform(src, np.asarray(m.quad[:3], np.float32)))
        xy = np.hstack([points.astype(np.float64), np.ones((len(points), 1))]) @ back.T
        x, y = np.rint(xy[:, 0]).astype(np.int64), np.rint(xy[:, 1]).astype(np.int64)
        inside = (x >= 0) & (y >= 0) & (x < aw) & (y < ah)
        covered[inside] |= detector.alpha[y[inside], x[inside]]
    return covered
