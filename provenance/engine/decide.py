"""Step 3 of matching a clip: decide which references it holds, from the votes of its frames.

Votes are aligned in time (Hough voting on offset and speed, :mod:`~provenance.engine.align`) into segments on
both timelines; scattered chance matches are rejected. Static pictures: where a game's screen hardly changes (a
maze, a playfield), every clip frame matches the reference at many times and no time line stands out from
chance. When most of the clip's informative frames match a reference as whole pictures (vPDQ's rule:
``coverage`` of them), the work is reported anyway, with the best line the votes give.

A segment is verified on its own frames: at least one of its matches must stand where a hash can judge it (a hash
lookup's own, or the picture a local match warps into the reference's geometry, hashed and placed among the
reference's dense frames, or too flat for a hash to tell). Local features alone can line up on what every frame
of a game shares (its HUD, the walls of its levels): new gameplay of Freedoom's E1M2 matched the E1M1
playthrough by 8 such matches, at half speed, every warped picture of which the hash said was another picture;
such a line is dropped, not reported with a lower confidence. (Requiring a hash to place a match, rather than not
to contradict it, also lost a crop of Atari Boxing, whose flat picture no hash can judge.)

A holder's layer rests on what that holder alone owns (DESIGN: layers). A community map (``ugc``) is played on its
game's engine, with the game's status bar and textures; a streamer's VOD (``stream``) shows the game it played.
So a segment of a ``ugc`` or ``stream`` reference is kept only when at least ``min_matches`` of its clip frames
match it clearly better than any other work's reference: by local features, ``owner_ratio`` times the inliers
another work's reference gives the same frame (:mod:`~provenance.engine.localpass` verifies the next-best works
for such a frame); by hashes, ``owner_hash_margin`` bits closer than another work's hash match of the same kind
(whole picture, region, panel) of the frame.
Unregistered maps of Freedoom's engine matched a registered community map with 116-335 inliers, all but the
scene's own: the status bar every map shows gave another work's reference 0.72-0.97 as many.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np

from provenance.engine.align import AlignParams, Segment, align, drop_echoes
from provenance.engine.references import HOLDER_LAYERS, ReferenceIndex
from provenance.engine.results import ReferenceMatch
from provenance.engine.votes import WHOLE_METHODS, Votes, carries_segment

__all__ = ["align_votes"]

#: Hash matches are aligned both ways in time: a clip playing a reference backwards is an edit of re-uploads (the
#: same frames, each found by its hashes; only their order is reversed). Local-feature matches only forwards: they
#: are where a still screen matches many moments alike (Atari playfields, a map's walls), and backwards lines of
#: them were chance (aligned both ways, 7 clips of the short-clip corpus changed: a cropped copy lost, a false line
#: in new gameplay, extra lines in 5); hash matches both ways change none of its 320 clips.
_HASHED = AlignParams(reversed=True)
_LOCAL = AlignParams()


def align_votes(index: ReferenceIndex, votes: Votes) -> list[ReferenceMatch]:
    if not votes.q_t:
        return []
    params = index.params
    q_t = np.asarray(votes.q_t, np.float64)
    ref = np.asarray(votes.ref, np.int64)
    r_t = np.asarray(votes.r_t, np.float64)
    score = np.asarray(votes.score, np.float64)
    # Hash and local-feature matches are aligned apart: they are sampled differently, and the scattered
    # matches of one family must not count as chance against the other's line.
    local = np.array([m.startswith("orb") for m in votes.method])
    segments: list[Segment] = []
    for family, step, how in ((~local, 1.0 / params.ref_fps, _HASHED), (local, 1.0 / params.local_ref_fps, _LOCAL)):
        idx = np.flatnonzero(family)
        if not len(idx):
            continue
        for seg in align(
            q_t[idx],
            ref[idx],
            r_t[idx],
            score[idx],
            how,
            query_step_s=1.0 / params.query_fps,
            ref_step_s=step,
        ):
            kept = tuple(int(idx[e]) for e in seg.evidence)
            if not any(votes.confirmed[e] for e in kept):
                continue  # local matches that the hashes of their pictures all contradict: see the module
            segments.append(replace(seg, evidence=kept))
    segments += _static_matches(index, votes, {int(s.reference) for s in segments}, 1.0 / params.ref_fps)
    if any(index.refs[int(s.reference)].layer in HOLDER_LAYERS for s in segments):
        hashed = _hash_matches(index, votes)
        segments = [s for s in segments if _owned(index, votes, hashed, s)]
    by_ref: dict[int, list[Segment]] = defaultdict(list)
    for seg in segments:
        by_ref[int(seg.reference)].append(seg)
    by_ref = {r: drop_echoes(segs, AlignParams().overlap_drop) for r, segs in by_ref.items()}
    out: list[ReferenceMatch] = []
    for ref_i, segs in sorted(by_ref.items()):
        evidence = sorted({int(e) for s in segs for e in s.evidence})
        methods: dict[str, int] = defaultdict(int)
        for e in evidence:
            methods[votes.method[e]] += 1
        dists = [votes.distance[e] for e in evidence if votes.distance[e] >= 0]
        quads = [votes.quad[e] for e in evidence if votes.quad[e] is not None]
        region: tuple[float, float, float, float] | None = None
        if quads:
            x0, y0, x1, y1 = (float(v) for v in np.median(np.asarray(quads, np.float64), axis=0))
            region = (x0, y0, x1, y1)
        mirrored = sum(v for k, v in methods.items() if "mirror" in k) > sum(methods.values()) / 2
        meta = index.refs[ref_i]
        out.append(
            ReferenceMatch(
                meta.key,
                meta.layer,
                tuple(sorted(segs, key=lambda s: s.query_start)),
                dict(methods),
                mirrored,
                min(dists) if dists else None,
                region,
            )
        )
    return out


def _hash_matches(index: ReferenceIndex, votes: Votes) -> dict[float, dict[tuple[str, str], int]]:
    """The closest hash match of each work (group) and method (whole picture, region, panel, mirrored or not) for
    each clip frame (by time)."""
    out: dict[float, dict[tuple[str, str], int]] = defaultdict(dict)
    for q, ref, method, d in zip(votes.q_t, votes.ref, votes.method, votes.distance, strict=True):
        if not method.startswith("orb"):
            works = out[q]
            key = (index.refs[ref].group, method)
            works[key] = min(d, works.get(key, d))
    return out


def _owned(index: ReferenceIndex, votes: Votes, hashed: dict[float, dict[tuple[str, str], int]], seg: Segment) -> bool:
    """Whether a segment rests on what its reference's holder alone owns (see the module): always, for a ``game``
    or ``other`` reference; for a ``ugc`` or ``stream`` one, when ``min_matches`` of its clip frames match it
    clearly better than any other work's reference. A hash match is weighed against other works' matches of the
    same kind only: a game's picture found as a panel of a frame does not explain the streamer's whole frame."""
    meta = index.refs[int(seg.reference)]
    if meta.layer not in HOLDER_LAYERS:
        return True
    params = index.params
    owned: set[float] = set()
    for e in seg.evidence:
        q, d, method = votes.q_t[e], votes.distance[e], votes.method[e]
        if method.startswith("orb"):
            mine = -d >= params.owner_ratio * votes.rival[e]
        else:
            others = hashed.get(q, {})
            rival = min((x for (g, m), x in others.items() if g != meta.group and m == method), default=None)
            mine = rival is None or d + params.owner_hash_margin <= rival
        if mine:
            owned.add(q)
    return len(owned) >= AlignParams().min_matches


def _static_matches(index: ReferenceIndex, votes: Votes, aligned: set[int], ref_step: float) -> list[Segment]:
    """Segments for references that most clip frames match, but with no clear time line.

    A frame counts when it matches the reference as a whole picture (hashes of the frame, a panel, the
    mirror) or through local features (a RANSAC homography of at least ``local_min_inliers``); the
    share is taken of the frames each method could judge (informative frames; frames tried with local
    features). Region hashes never count: a game's status bar matches every playthrough.
    """
    params = index.params
    min_frames = AlignParams().min_matches
    hashed: dict[int, set[float]] = defaultdict(set)
    local: dict[int, set[float]] = defaultdict(set)
    for q, ref, method in zip(votes.q_t, votes.ref, votes.method, strict=True):
        if ref in aligned:
            continue
        if method in WHOLE_METHODS:
            hashed[ref].add(q)
        elif method.startswith("orb"):
            local[ref].add(q)
    out: list[Segment] = []
    for ref in sorted(set(hashed) | set(local)):
        shares = [
            len(qs) / n
            for qs, n in ((hashed[ref], votes.informative), (local[ref], votes.local_tried))
            if n >= min_frames and len(qs) >= min_frames
        ]
        if not shares or max(shares) < params.coverage:
            continue
        idx = [
            i for i, (r, m) in enumerate(zip(votes.ref, votes.method, strict=True)) if r == ref and carries_segment(m)
        ]
        lines = align(
            np.asarray([votes.q_t[i] for i in idx]),
            np.zeros(len(idx), np.int64),
            np.asarray([votes.r_t[i] for i in idx]),
            np.asarray([votes.score[i] for i in idx]),
            AlignParams(alpha=1.0, min_density=0.0),
            query_step_s=1.0 / params.query_fps,
            ref_step_s=ref_step,
        )
        if lines:
            best = max(lines, key=lambda s: (s.query_frames, s.score))
            if not any(votes.confirmed[idx[i]] for i in best.evidence):
                continue  # the hashes of its pictures contradict all of its matches (see the module)
            out.append(
                replace(
                    best, reference=ref, evidence=tuple(idx[i] for i in best.evidence), score=best.score * max(shares)
                )
            )
    return out
