"""Step 2 of matching a clip, by local features: where hashes leave frames unexplained (crops, picture-in-picture,
the work shrunk into a layout, warped copies), ORB features searched in the reference index's feature bank and
verified by RANSAC, then placed in time by the hash of the warped picture (DESIGN: warp, confirm by hash)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from provenance.engine.align import AlignParams
from provenance.engine.features import Features, LocalParams, RegionMatch, extract, warp_region
from provenance.engine.fingerprint.grids import WORK
from provenance.engine.fingerprint.regions import Box, trim
from provenance.engine.pairs import CENTER70, CENTER70_ONLY, HASHER
from provenance.engine.params import local_params
from provenance.engine.references import HOLDER_LAYERS, ReferenceIndex
from provenance.engine.votes import Votes

__all__ = ["local_pass"]


def local_pass(
    index: ReferenceIndex,
    times: list[float],
    images: list[npt.NDArray[np.uint8]],
    box: Box,
    votes: Votes,
    matched: set[int],
    panels: tuple[Box, ...] = (),
) -> None:
    """Local features on the frames hashes left unexplained: probed sparsely, dense where they find something.

    Every frame at ``local_query_fps`` is a candidate. Candidates ``local_probe_fps`` apart are searched in the
    feature bank first; around each that finds a reference, the candidates up to the next probe on both sides
    are searched as well, and so on outwards while they keep finding one. A crop, a picture-in-picture or a
    layout lasts seconds, so a probe lands in it and its whole run is then matched as densely as before;
    footage with nothing registered in it costs only the probes. A probe searches the frame as it is, and every
    other probe its mirror image too (all of them once a mirrored match was seen in the clip); its neighbours
    only the way round it found something (a mirrored copy is mirrored throughout), which halves the dense
    search.

    A frame's matches lead to its neighbours only once some vote vouches for one of their references
    (:meth:`~provenance.engine.votes.Votes.vouched`: a match no hash contradicts, of a whole picture or by local
    features): a reference without one can have no segment (decide drops a line whose matches the hashes all
    contradict), and what new gameplay of a registered game shares with its footage (Freedoom's status bar and
    walls: 100-200 inliers in every frame, every warped picture another moment's) found a match in every frame
    searched. Until then the neighbours are only tracked from such matches (a copy under an overlay whose probe
    found a look-alike moment is tracked onto the right one, and vouched for so); frames left waiting are searched
    around once something vouches for their references (the probes of a static game's new gameplay, vouched for
    by its playfield's whole-picture hashes). On the short-clip corpus: the local pass 23 % cheaper (new Freedoom
    gameplay: 222 -> 112 ms a clip), the same works found in all 320 clips, five segments longer or closer to the
    truth and one end of a Freedoom crop's reference time 0.12 s off.

    A neighbour is first *tracked* (:func:`_track_frame`): the matches of the frame that found it are tried on
    it as they are (the same reference, the same place in the clip frame, a time moved on by the clip's time
    apart), confirmed by the hash of the warped picture; only when none is confirmed is it searched in the bank.
    A picture-in-picture, a crop or a stream layout keeps its geometry, so most of a found run costs a warp and
    a hash per match instead of a feature search. Every match of the frame is tracked with its own time, so a
    still screen's matches (several moments of the reference alike) stay as many votes as the search gives.

    A frame in which the search finds nothing, or only a streamer's composition (a ``stream``-layer reference),
    is searched again in the window's ``panels`` (the game box of a stream layout, a picture-in-picture inset;
    :func:`_searched_panels`), each on its own: in a stream layout the overlay's and the facecam's sharp edges
    take most of the frame's strongest keypoints, and the game picture between them gets too few votes to be
    shortlisted (on the engine benchmark's live streams over registered game footage, the whole frame's search
    shortlisted other games by 4-8 votes, while the game box alone found its game by 38-98 inliers).

    A frame where pictures covering less than :data:`_REST_MAX_COVER` of it were found (searched or tracked) is
    searched once more beside them (:func:`_rest`): a split screen shows two works, and the whole frame's search
    finds the one whose edges are sharper (two Doom maps side by side: one of them; River Raid beside Freedoom:
    River Raid). What a layout shows beside its picture stays, so a window's searches beside found pictures stop after
    :data:`_REST_TRIES` that found nothing (on the short-clip corpus: 61 such searches, 0.6 % of its CPU, and the
    same findings in all 320 clips).
    """
    params = index.params
    lp = local_params(params)
    stride = max(1, round(params.query_fps / params.local_query_fps))
    candidates = [f for f in range(0, len(images), stride) if f not in matched]
    if not candidates:
        return
    spacing = max(1, round(params.local_query_fps / params.local_probe_fps))
    # probes: every one searched as it is, every other one mirrored too, all of them once the clip has shown a
    # mirrored match (a mirror image is an edit of a whole upload or a long cut, rarely of a moment)
    queue: list[tuple[int, frozenset[bool], tuple[_Hit, ...], bool]] = [
        (f, _BOTH_SIDES if k % 2 == 0 else _DIRECT, (), True) for k, f in enumerate(candidates[::spacing])
    ]
    done: set[int] = set()
    position = {f: i for i, f in enumerate(candidates)}
    inside = _searched_panels(panels, box.width, box.height)
    rest_misses = 0  # searches beside a found picture that found nothing
    waiting: list[tuple[int, tuple[_Hit, ...]]] = []  # found frames whose matches no vote yet vouches for
    while queue or waiting:
        if not queue:  # what the other searches found since may vouch for a waiting frame's references now
            ready = [w for w in waiting if any(votes.vouched(h.ref) for h in w[1])]
            if not ready:
                break
            waiting = [w for w in waiting if not any(votes.vouched(h.ref) for h in w[1])]
            for f, hits in ready:
                queue += _neighbours(f, hits, candidates, position, spacing, done, True)
            continue
        f, sides, origin, search = queue.pop()
        if f in done:
            continue
        if sides == _DIRECT and not origin and votes.mirrored_seen():
            sides = _BOTH_SIDES
        image = trim(images[f], box)
        tried = votes.local_tried
        hits = _track_frame(index, times[f], image, votes, origin) if origin else ()
        if not hits and not search:
            continue  # tracked only, and lost: searched if a waiting frame's references are vouched for later
        done.add(f)
        if not hits:
            hits = _local_frame(index, lp, times[f], image, votes, sides)
        if all(index.refs[h.ref].layer == "stream" for h in hits):  # what the game box shows is still unknown
            for panel in inside:
                extra = _local_frame(index, lp, times[f], image, votes, sides, panel)
                if extra:
                    hits += extra
                    break
        # found in this frame (searched, or tracked from a neighbour): another picture beside it? (a split screen)
        rest = _rest(hits, box.width, box.height) if rest_misses < _REST_TRIES else None
        if rest is not None:
            beside = _local_frame(index, lp, times[f], image, votes, sides, rest)
            rest_misses += not beside
            hits += beside
        # a frame is one frame tried, however many of its parts were searched: the share of tried frames a
        # reference matches is what tells a still screen (decide's static matches), and a stream frame searched
        # whole, then in its game box, halved it
        votes.local_tried = min(votes.local_tried, tried + 1)
        if any(votes.vouched(h.ref) for h in hits):
            queue += _neighbours(f, hits, candidates, position, spacing, done, True)
        elif hits:  # the neighbours tracked from it only, until a vote vouches for what it found
            waiting.append((f, hits))
            queue += _neighbours(f, hits, candidates, position, spacing, done, False)


def _neighbours(
    f: int,
    hits: tuple[_Hit, ...],
    candidates: list[int],
    position: dict[int, int],
    spacing: int,
    done: set[int],
    search: bool,
) -> list[tuple[int, frozenset[bool], tuple[_Hit, ...], bool]]:
    """The candidates up to the next probe on both sides of frame ``f``, not searched yet, each to be tracked from
    ``f``'s matches ``hits`` and, where that fails and ``search``, searched the way round (direct, mirrored) they
    were found."""
    found = frozenset(h.match.mirrored for h in hits)
    i = position[f]
    return [(g, found, hits, search) for g in candidates[max(0, i - spacing) : i + spacing + 1] if g not in done]


@dataclass(frozen=True, slots=True)
class _Hit:
    """A local match of a clip frame (at clip time ``t``) to reference ``ref`` at ``r_t``, as voted."""

    t: float
    ref: int
    r_t: float
    match: RegionMatch
    region: tuple[float, float, float, float]
    rival: int = 0  # the most inliers a reference of another work gave this frame (holder layers only)
    panel: Box | None = None  # the panel of the frame that was searched (None: the whole frame)


#: Reference seconds per clip second a tracked match may move by: the alignment's speed range.
_TRACK_SPEEDS = (AlignParams().speed_min, AlignParams().speed_max)
#: Slack (seconds) around the reference times a tracked match may move to.
_TRACK_SLACK_S = 0.5


def _track_frame(
    index: ReferenceIndex, t: float, image: npt.NDArray[np.uint8], votes: Votes, origin: tuple[_Hit, ...]
) -> tuple[_Hit, ...]:
    """Try the matches ``origin`` (of a neighbouring clip frame) on this (trimmed) frame without a feature search.

    Each match's homography warps this frame into its reference's geometry; the warped picture's centre hash
    must come within ``region_max_distance`` of a reference frame whose time the clip's time apart allows
    (speeds :data:`_TRACK_SPEEDS`, give or take :data:`_TRACK_SLACK_S`): a picture that moved, changed or left
    fails, and the frame is then searched as any other. Confirmed matches vote as the search's do; returns them.
    """
    params = index.params
    hits: list[_Hit] = []
    for h in origin:
        query = image if h.panel is None else np.ascontiguousarray(h.panel.crop(image))
        if h.match.query_size != (query.shape[1], query.shape[0]):
            continue
        dt = t - h.t
        lo, hi = sorted((h.r_t + dt * _TRACK_SPEEDS[0], h.r_t + dt * _TRACK_SPEEDS[1]))
        placed = _place_in_time(index, h.ref, lo - _TRACK_SLACK_S, hi + _TRACK_SLACK_S, query, h.match)
        if not isinstance(placed, tuple):
            continue
        r_t, d = placed
        votes.add(
            t,
            h.ref,
            r_t,
            1.0 - d / (params.max_distance + 1),
            "orb-track-mirror" if h.match.mirrored else "orb-track",
            -h.match.inliers,
            h.region,
            rival=h.rival,
        )
        hits.append(_Hit(t, h.ref, r_t, h.match, h.region, h.rival, h.panel))
    if hits:
        votes.local_tried += 1
    return tuple(hits)


#: Both ways round: the frame as it is (False) and its mirror image (True).
_BOTH_SIDES = frozenset((False, True))
#: The frame as it is only.
_DIRECT = frozenset((False,))


def _oriented_features(image: npt.NDArray[np.uint8], lp: LocalParams, sides: frozenset[bool]) -> Features:
    """The frame's features for the sides asked: direct ones, mirrored ones (in ``.mirror``, the direct set
    left empty), or both."""
    if sides == _BOTH_SIDES:
        return extract(image, lp, mirror=True)
    if False in sides:
        return extract(image, lp, mirror=False)
    flipped = extract(np.ascontiguousarray(image[:, ::-1]), lp, mirror=False)
    return Features(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8), flipped.size, flipped)


def _local_frame(
    index: ReferenceIndex,
    lp: LocalParams,
    t: float,
    image: npt.NDArray[np.uint8],
    votes: Votes,
    sides: frozenset[bool] = _BOTH_SIDES,
    panel: Box | None = None,
) -> tuple[_Hit, ...]:
    """Search one (trimmed) clip frame in the feature bank (the ``sides`` asked: direct, mirrored), or only its
    ``panel``, and vote for what it finds; returns the matches it voted for (none: nothing found)."""
    params = index.params
    frame_size = (image.shape[1], image.shape[0])
    if panel is not None:
        image = np.ascontiguousarray(panel.crop(image))
    feats = _oriented_features(image, lp, sides)
    searched = feats if False in sides else feats.mirror
    if searched is None or len(searched) < params.local_min_inliers:
        return ()
    votes.local_tried += 1
    bank = index.bank
    found: list[tuple[RegionMatch, int, float, float, bool]] = []  # (match, reference, its time, score, placed)
    placed: list[tuple[int, float]] = []  # (reference, time) of found frames the hashes placed in time
    # the best-voted frames of the best-voted video, all verified: each found one is a vote on the time line, and
    # still screens need them (verifying only the best-voted frame, or stopping at the first found, lost 4 and 2
    # of 47 works on 12 minutes of the 720p benchmark footage); two rules spare verifications that cannot add a
    # vote:
    # - a frame within the time window of a found one that the hashes placed in time: that placement already
    #   compared the dense reference frames of the window, the closest won, and this one's would be the same;
    # - all the others, when the best-voted frame shares fewer than half the inliers a match needs even as
    #   ratio-test pairs: the video is not there (on the 720p benchmark footage, 69 % of the searches that find
    #   nothing stop there, against 3 of 1,022 that find something, whose neighbours still find it)
    for rank, (ref_id, _) in enumerate(bank.shortlist(feats, top_groups=1)):
        ref = int(index.bank_ref[ref_id])
        r_t = float(index.bank_time[ref_id])
        if any(ref == other and abs(r_t - at) <= _REFINE_WINDOW_S for other, at in placed):
            continue
        m = bank.verify(ref_id, feats)
        if not m.found or m.inliers < params.local_min_inliers:
            if rank == 0 and m.matches < params.local_min_inliers // 2:
                break
            continue
        score = min(1.0, m.inliers / (3.0 * params.local_min_inliers))
        refined = _refine_time(index, ref, r_t, image, m)
        if isinstance(refined, tuple):  # the warped picture's hash placed it among the dense reference frames
            r_t, d = refined
            score = max(score, 1.0 - d / (params.max_distance + 1))
            placed.append((ref, r_t))
        found.append((m, ref, r_t, score, refined is not False))  # False: the hash says it is another picture
    rival = _rival(index, feats, {index.refs[ref].group for _, ref, *_ in found}) if _holders(index, found) else 0
    hits: list[_Hit] = []
    for m, ref, r_t, score, confirmed in sorted(found, key=lambda f: -f[0].inliers):  # most inliers vote first
        quad = m.quad
        qw, qh = frame_size  # the region is the frame's, wherever the search looked
        dx, dy = (0, 0) if panel is None else (panel.x0, panel.y0)
        x0, y0 = float(quad[:, 0].min()) + dx, float(quad[:, 1].min()) + dy
        x1, y1 = float(quad[:, 0].max()) + dx, float(quad[:, 1].max()) + dy
        region = (max(0.0, x0 / qw), max(0.0, y0 / qh), min(1.0, x1 / qw), min(1.0, y1 / qh))
        method = "orb-mirror" if m.mirrored else "orb"
        votes.add(t, ref, r_t, score, method, -m.inliers, region, confirmed, rival)
        hits.append(_Hit(t, ref, r_t, m, region, rival, panel))
    return tuple(hits)


#: Panels of a window searched on their own (the best ones; find_panels ranks them by area and drawn edges).
_PANEL_SEARCHES = 2
#: A panel covering at least this share of the frame is the frame (its own search says nothing new).
_PANEL_MAX_AREA = 0.8
#: A panel's shorter side must have this many pixels for local features (the smallest game box of the engine
#: benchmark's stream layouts, at 320 x 180, is about 100 pixels high).
_PANEL_MIN_SIDE = 64


def _searched_panels(panels: tuple[Box, ...], width: int, height: int) -> tuple[Box, ...]:
    """The panels the local pass searches on their own: the best :data:`_PANEL_SEARCHES` of those with enough
    pixels that are not (nearly) the whole frame."""
    fit = [
        p
        for p in panels
        if min(p.width, p.height) >= _PANEL_MIN_SIDE and p.width * p.height < _PANEL_MAX_AREA * width * height
    ]
    return tuple(fit[:_PANEL_SEARCHES])


#: Searches beside a found picture (:func:`_rest`) that find nothing after which a window has no more of them: what
#: a layout shows beside its picture (a facecam, an overlay's panel, the footage around an inset) stays, and the
#: frames of a split screen's other picture are all alike found or not.
_REST_TRIES = 2
#: Found pictures covering less than this share of the frame leave room for another beside them.
_REST_MAX_COVER = 0.6
#: ... which is searched when it is at least this share of the frame (and :data:`_PANEL_MIN_SIDE` pixels a side).
_REST_MIN_AREA = 0.2


def _rest(hits: tuple[_Hit, ...], width: int, height: int) -> Box | None:
    """The largest strip of the frame beside the pictures ``hits`` found (left or right of, above or below the box
    around them), when they cover less than :data:`_REST_MAX_COVER` of the frame and the strip is big enough to
    hold another picture; else None.

    A frame's strongest keypoints vote for one picture: in a split screen (two games side by side or one above
    the other) the search found the one with the sharper edges, and the other, searched on its own, is found too
    (Freedoom beside River Raid: River Raid alone before)."""
    if not hits:
        return None
    x0 = min(h.region[0] for h in hits) * width
    y0 = min(h.region[1] for h in hits) * height
    x1 = max(h.region[2] for h in hits) * width
    y1 = max(h.region[3] for h in hits) * height
    if (x1 - x0) * (y1 - y0) >= _REST_MAX_COVER * width * height:
        return None
    left, top = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    right, bottom = min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1)))
    strips = [(0, 0, left, height), (right, 0, width, height), (0, 0, width, top), (0, bottom, width, height)]
    fit = [
        Box(*s)
        for s in strips
        if min(s[2] - s[0], s[3] - s[1]) >= _PANEL_MIN_SIDE
        and (s[2] - s[0]) * (s[3] - s[1]) >= _REST_MIN_AREA * width * height
    ]
    return max(fit, key=lambda s: (s.width * s.height, -s.x0, -s.y0)) if fit else None


#: Works (feature-bank groups) besides the one found whose best frames are verified as rivals.
_RIVAL_GROUPS = 2


def _holders(index: ReferenceIndex, found: list[tuple[RegionMatch, int, float, float, bool]]) -> bool:
    return any(index.refs[ref].layer in HOLDER_LAYERS for _, ref, *_ in found)


def _rival(index: ReferenceIndex, feats: Features, groups: set[str]) -> int:
    """The most inliers the frame's features give with a reference of a work not in ``groups``: the best-voted
    frames of the :data:`_RIVAL_GROUPS` best-voted other works, verified (0: none found)."""
    best = 0
    shortlist = index.bank.shortlist(feats, top_groups=len(groups) + _RIVAL_GROUPS)
    for ref_id, _ in shortlist:
        if index.refs[int(index.bank_ref[ref_id])].group in groups:
            continue
        m = index.bank.verify(ref_id, feats)
        if m.found:
            best = max(best, m.inliers)
    return best


#: Seconds either side of a local match's reference frame in which its hashes place it in time.
_REFINE_WINDOW_S = 1.0


def _refine_time(
    index: ReferenceIndex, ref: int, r_t: float, image: npt.NDArray[np.uint8], match: RegionMatch
) -> tuple[float, int] | bool:
    """Place a local-feature match in time on the dense reference hashes (DESIGN: warp, confirm by hash):
    :func:`_place_in_time` within :data:`_REFINE_WINDOW_S` of the matched reference frame."""
    return _place_in_time(index, ref, r_t - _REFINE_WINDOW_S, r_t + _REFINE_WINDOW_S, image, match)


def _place_in_time(
    index: ReferenceIndex, ref: int, start: float, end: float, image: npt.NDArray[np.uint8], match: RegionMatch
) -> tuple[float, int] | bool:
    """The reference frame in ``[start, end]`` (seconds) that the clip frame's matched picture is.

    The clip frame is warped into the reference frame's geometry by the match's homography; the centre
    70 % of that picture (inside the clip even when the clip is a crop of up to 15 % a side) is hashed
    and compared with the reference's ``center70`` hashes in the interval.
    Returns (time, distance) of the closest within ``region_max_distance``; else ``False`` when the hash says
    the picture is none of them, ``True`` when it cannot tell (a picture too flat for a hash, no reference frame
    in the interval, a clip that holds only part of the reference's centre: a crop of more than 15 % a side
    leaves black in the warped picture that the reference has not; or a picture that covers less than
    :data:`_WHOLE_PICTURE` of the clip frame, where overlays may lie over it).
    """
    fp = index.prints[ref]
    near = np.flatnonzero((fp.timestamps >= start) & (fp.timestamps <= end))
    if not len(near):
        return True
    # warped straight to twice the working picture's size (the reference frame's geometry, scaled), then
    # area-averaged to it as the reference's frames were
    warped = warp_region(image, match, (2 * WORK, 2 * WORK))
    h, q = HASHER.regions([warped], regions=CENTER70_ONLY)
    h, q = h[:, 0], q[:, 0]
    if q[0] < index.params.min_quality:
        return True
    ref_h = fp.hashes[near, CENTER70]
    d = np.unpackbits(np.bitwise_xor(ref_h, h[0][None, :]), axis=1).sum(axis=1)
    best = int(np.argmin(d))
    if d[best] > index.params.region_max_distance:
        return not (match.area_frac >= _WHOLE_PICTURE and _holds_centre(match))
    return float(fp.timestamps[near[best]]), int(d[best])


#: Share of the clip frame a local match's reference picture must cover for its hash to judge it: where it covers
#: less (a picture-in-picture, the game in a stream layout), overlays, a facecam or a banner often lie over part
#: of it, and a hash of that part says nothing (the game under a streamer's overlay, matched by local features,
#: was contradicted by the hash in 35 of 35 matches).
_WHOLE_PICTURE = 0.8


def _holds_centre(match: RegionMatch) -> bool:
    """Whether the clip frame holds the whole centre 70 % of the matched reference frame (what the hash compares)."""
    rw, rh = match.ref_size
    qw, qh = match.query_size
    corners = np.array(
        [
            [0.15 * rw, 0.15 * rh, 1.0],
            [0.85 * rw, 0.15 * rh, 1.0],
            [0.85 * rw, 0.85 * rh, 1.0],
            [0.15 * rw, 0.85 * rh, 1.0],
        ]
    )
    placed = corners @ match.homography.T
    if np.any(np.abs(placed[:, 2]) < 1e-9):
        return False
    xy = placed[:, :2] / placed[:, 2:3]
    return bool(np.all((xy[:, 0] >= -1.0) & (xy[:, 0] <= qw) & (xy[:, 1] >= -1.0) & (xy[:, 1] <= qh)))
