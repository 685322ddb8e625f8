"""Step 2 of matching a clip, by hashes: look a window's hash queries up in the reference index and vote."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from provenance.engine.pairs import COMPAT_TABLE, COMPOSITION_TABLE, FULL_TABLE
from provenance.engine.prints import HashQuery
from provenance.engine.references import ReferenceIndex
from provenance.engine.votes import Votes

__all__ = ["hash_votes"]

#: Largest spread (seconds) of the reference times of a frame's kept matches (of one kind, to one reference)
#: that still places the frame in time.
_PLACED_SPAN_S = 2.0


def hash_votes(
    index: ReferenceIndex,
    times: list[float],
    queries: list[HashQuery],
    votes: Votes,
    ignored: npt.NDArray[np.bool_] | None = None,
) -> set[int]:
    """Search the query hashes and vote for the best pair of regions of each (frame, reference, time); matches of
    ``ignored`` references (a mask over the footage references) are dropped first, as if not registered.

    A whole-picture pair (a composition) outranks any region pair of the same frames (it says more), then
    the smaller distance, then the first found. A frame's matches to a reference far worse than its best
    one are the reference's static parts (a wall, a score bar) matching everywhere; they carry no time and
    would drown the true line, so they are dropped.

    Returns the frames placed in time: those with one kind of kept matches (whole picture, region) to one
    reference within :data:`_PLACED_SPAN_S` of one another.
    """
    params = index.params
    mih, row_ref, row_time, row_region = index.hash_table()
    stream = np.array([m.layer == "stream" for m in index.refs], bool)
    cols: dict[str, list[Any]] = {k: [] for k in ("f", "ref", "t", "d", "comp", "variant")}
    for vi, (_, flat, qual, qregion_of, frame_of) in enumerate(queries):
        found = mih.search(flat, params.max_distance)
        qrows, ids, dists = (np.asarray(a, dtype=np.int64) for a in found)
        qr = np.asarray(qregion_of)[qrows].astype(np.int64)
        rr = row_region[ids].astype(np.int64)
        ref = row_ref[ids].astype(np.int64)
        comp = COMPOSITION_TABLE[qr, rr]
        ok = (np.asarray(qual)[qrows] >= params.min_quality) & COMPAT_TABLE[qr, rr]
        ok &= FULL_TABLE[qr] | (dists <= params.region_max_distance)
        ok &= ~stream[ref] | comp  # a streamer's VOD counts only through its whole composition
        if ignored is not None:
            ok &= ~ignored[ref]
        cols["f"].append(np.asarray(frame_of, np.int64)[qrows[ok]])
        cols["ref"].append(ref[ok])
        cols["t"].append(row_time[ids[ok]].astype(np.float64))
        cols["d"].append(dists[ok])
        cols["comp"].append(comp[ok])
        cols["variant"].append(np.full(int(ok.sum()), vi, np.int64))
    f, ref, t, d, comp, variant = (np.concatenate(cols[k]) for k in ("f", "ref", "t", "d", "comp", "variant"))
    if not len(f):
        return set()
    seq = np.arange(len(f))
    order = np.lexsort((seq, d, ~comp, t, ref, f))
    f, ref, t, d, comp, variant, seq = (a[order] for a in (f, ref, t, d, comp, variant, seq))
    new_key = np.ones(len(f), bool)
    new_key[1:] = (f[1:] != f[:-1]) | (ref[1:] != ref[:-1]) | (t[1:] != t[:-1])
    starts = np.flatnonzero(new_key)
    first_seen = np.minimum.reduceat(seq, starts)
    f, ref, t, d, comp, variant = (a[starts] for a in (f, ref, t, d, comp, variant))
    # the margin is taken within each kind of evidence: a whole picture against the frame's best whole-picture
    # match to the reference, a region against its best region match (a static region matching closely at
    # other times says nothing against a whole picture that matches)
    comp = comp.astype(bool)
    pair = f * (int(ref.max()) + 1) + ref  # (frame, reference)
    _, group = np.unique(pair * 2 + comp, return_inverse=True)
    closest = np.full(int(group.max()) + 1, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(closest, group, d)
    kept = d <= closest[group] + params.distance_margin
    # a frame that matches a reference as a whole picture is placed in time by that: its region matches to the
    # reference at other moments are the parts that stay the same (a score bar, a playfield's frame), and
    # a still region matches all along, which would swamp the whole pictures' time line
    kept &= comp | ~np.isin(pair, pair[kept & comp])
    keep = np.flatnonzero(kept)
    keep = keep[np.argsort(first_seen[keep], kind="stable")]  # votes in the order they were first found
    names = [name for name, *_ in queries]
    for i in keep.tolist():
        method = names[variant[i]] if comp[i] else f"{names[variant[i]]}-region"
        votes.add(
            times[int(f[i])], int(ref[i]), float(t[i]), 1.0 - int(d[i]) / (params.max_distance + 1), method, int(d[i])
        )
    # a frame is explained when one kind of its matches to one reference places it in time; a still screen
    # (a maze, a menu) matches its reference all along, and is left to local features, which tell its moments
    # apart by what moves in it
    lo = np.full(len(closest), np.inf)
    hi = np.full(len(closest), -np.inf)
    np.minimum.at(lo, group[keep], t[keep])
    np.maximum.at(hi, group[keep], t[keep])
    placed = np.flatnonzero(hi - lo <= _PLACED_SPAN_S)
    frame_of_group = np.zeros(len(closest), np.int64)
    frame_of_group[group] = f
    return {int(x) for x in frame_of_group[placed]}
