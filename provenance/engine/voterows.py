"""Vote rows a reference repeats, stored once: the feature bank's IVF vote search holds a descriptor that the next
frames of the same reference repeat (the same 32 bytes: a HUD, a score, a still background) once, with how many
frames it stands for.

A reference's frames are 1/3 s apart in the bank; what does not move between them has the same keypoints and the
same descriptors. On the short corpus's footage references, 37.8 % of the vote rows repeat a row of the frame
before, byte for byte. The search's lists (32 bytes of code and 8 of id a row, read for every query frame) were
most of a scan's memory at many hours of reference.

A stored row's id (FAISS's, in the lists) is its row number (the vote rows of every frame counted in frame order,
as if none were left out) with, above :data:`RUN_SHIFT`, the number of frames after its own that repeat it: the
rows left out are exactly those frames' copies. A search's ``k`` nearest stored rows expanded by their runs, in
order, cut at ``k`` (:func:`votes_of`) are the ``k`` nearest of every row (up to the order of rows equally near):
each copy is as near as its row, and the rows nearer than it come first. An id of a search that stored every row
(the exhaustive one, indexes written before) is its row number: a run of one frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_RUN", "RUN_SHIFT", "repeats", "row_numbers", "votes_of"]

#: Bits of a stored row's id that hold its row number; the frames that repeat it are counted above them.
RUN_SHIFT = 40
#: Frames one stored row stands for at most (a longer repeat is stored again): what the id's bits above
#: :data:`RUN_SHIFT` can count.
MAX_RUN = 1 << 20
_ROW_MASK = (1 << RUN_SHIFT) - 1

IntArray = npt.NDArray[np.int64]


def repeats(
    frames: Iterable[tuple[npt.NDArray[np.uint8], int]], rows: int, first_row: int = 0
) -> tuple[npt.NDArray[np.bool_], IntArray]:
    """Which of ``rows`` vote rows to store, and the stored ones' ids: ``frames`` are the frames' vote rows and their
    groups (their reference), in frame order; a row is left out when the frame before, of the same group, has the same
    row (32 bytes) not already standing for another of this frame's (one to one), and the row stored for that one
    then stands for this frame too. Row numbers count from ``first_row``."""
    keep = np.ones(rows, np.bool_)
    runs = np.ones(rows, np.int32)  # how many frames each stored row stands for, by its place among the stored
    at = stored = 0
    prev: npt.NDArray[np.uint8] | None = None
    prev_rep = np.zeros(0, np.int64)  # the previous frame's rows: the stored row each one is
    prev_group: int | None = None
    for descs, group in frames:
        n = len(descs)
        if at + n > rows:
            raise ValueError(f"vote rows: more than the {rows} rows announced")
        rep = np.empty(n, np.int64)
        mine = np.ones(n, np.bool_)
        if prev is not None and group == prev_group and n and len(prev):
            here, there = _same_rows(descs, prev)
            reps = prev_rep[there]
            room = runs[reps] < MAX_RUN
            here, reps = here[room], reps[room]
            runs[reps] += 1
            mine[here] = False
            rep[here] = reps
        own = np.flatnonzero(mine)
        rep[own] = stored + np.arange(len(own))
        keep[at : at + n] = mine
        stored += len(own)
        at += n
        prev, prev_rep, prev_group = descs, rep, group
    if at != rows:
        raise ValueError(f"vote rows: {at} rows, {rows} were announced")
    return keep, (first_row + np.flatnonzero(keep)) | ((runs[:stored].astype(np.int64) - 1) << RUN_SHIFT)


def row_numbers(ids: IntArray) -> IntArray:
    """The row numbers of stored rows' ids (their runs left out)."""
    return np.asarray(ids, np.int64) & _ROW_MASK


def _same_rows(cur: npt.NDArray[np.uint8], prev: npt.NDArray[np.uint8]) -> tuple[IntArray, IntArray]:
    """Pairs ``(i, j)`` of equal rows ``cur[i] == prev[j]``, one to one (the k-th copy of a row in one with the k-th in
    the other)."""
    both = np.ascontiguousarray(np.concatenate([prev, cur])).view(np.dtype((np.void, 32))).ravel()
    _, key = np.unique(both, return_inverse=True)
    key = key.astype(np.int64).ravel()
    width = len(both) + 1
    a = key[: len(prev)] * width + _occurrence(key[: len(prev)])
    b = key[len(prev) :] * width + _occurrence(key[len(prev) :])
    _, there, here = np.intersect1d(a, b, assume_unique=True, return_indices=True)
    return here.astype(np.int64), there.astype(np.int64)


def _occurrence(key: IntArray) -> IntArray:
    """For each entry, how many equal ones come before it."""
    order = np.argsort(key, kind="stable")
    ranked = key[order]
    out = np.empty(len(key), np.int64)
    out[order] = np.arange(len(key)) - np.searchsorted(ranked, ranked, side="left")
    return out


def votes_of(
    dist: npt.NDArray[np.int32],
    ids: IntArray,
    k: int,
    max_distance: int,
    frame_of: Callable[[IntArray], IntArray],
) -> tuple[IntArray, IntArray]:
    """The (query, frame) pairs of a search's answer (``dist``, ``ids``: each query's nearest stored rows, nearest
    first; -1 where none): each row expanded into the frames it stands for, the ``k`` nearest of those kept, and of
    them those within ``max_distance``. ``frame_of`` gives a row number's frame."""
    found = ids >= 0
    run = np.where(found, (ids >> RUN_SHIFT) + 1, 0)
    before = np.cumsum(run, axis=1) - run
    take = np.clip(np.minimum(run, k - before), 0, None)
    take[~found | (dist > max_distance)] = 0
    q, j = np.nonzero(take)
    counts = take[q, j]
    first = frame_of(row_numbers(ids[q, j]))
    total = int(counts.sum())
    step = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(q.astype(np.int64), counts), np.repeat(first, counts) + step
