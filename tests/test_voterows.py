"""Vote rows a reference repeats, stored once (:mod:`provenance.engine.voterows`), on real footage's ORB rows: the
rows stored, expanded by their runs, are every row; a search's answer votes as every row's would; an IVF bank that
stores them once votes as the exhaustive one of every row."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from provenance.engine import voterows
from provenance.engine.bank import FeatureBank
from provenance.engine.features import DEFAULT_PARAMS, Features
from provenance.engine.references import fingerprint_footage
from provenance.engine.voterows import RUN_SHIFT, repeats, row_numbers, votes_of

FOOTAGE = Path(__file__).resolve().parents[1] / "fixtures" / "sample" / "registry" / "footage"
U8 = npt.NDArray[np.uint8]


@pytest.fixture(scope="module")
def pong() -> list[Features]:
    """An Atari attract loop: a still field, a score, moving paddles (many rows repeat)."""
    return list(fingerprint_footage(FOOTAGE / "pixelworks-pong-attract.mp4").local_features)


@pytest.fixture(scope="module")
def doom() -> list[Features]:
    """First-person gameplay: the view moves, the status bar stays."""
    return list(fingerprint_footage(FOOTAGE / "corridor-of-doom-showcase.mp4").local_features)


def _rows(frames: list[Features]) -> list[U8]:
    return [f.descriptors[: DEFAULT_PARAMS.vote_features] for f in frames]


def _expanded(rows: list[U8], ids: npt.NDArray[np.int64]) -> list[tuple[int, bytes]]:
    """(frame, row) of every stored row and of every frame after its own that it stands for."""
    starts = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    stacked = np.concatenate(rows)
    out = []
    for row, run in zip(row_numbers(ids), (ids >> RUN_SHIFT) + 1, strict=True):
        frame = int(np.searchsorted(starts, row, side="right")) - 1
        out += [(frame + k, stacked[row].tobytes()) for k in range(int(run))]
    return sorted(out)


def _every(rows: list[U8]) -> list[tuple[int, bytes]]:
    return sorted((f, r.tobytes()) for f, frame in enumerate(rows) for r in frame)


@pytest.mark.parametrize("max_run", [voterows.MAX_RUN, 2])
def test_the_stored_rows_expanded_by_their_runs_are_every_row(
    pong: list[Features], doom: list[Features], max_run: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(voterows, "MAX_RUN", max_run)
    # three references: the Atari loop, the gameplay, the Atari loop again (the same rows as the first, another group)
    rows = _rows(pong) + _rows(doom) + _rows(pong)
    groups = [0] * len(pong) + [1] * len(doom) + [2] * len(pong)
    total = sum(len(r) for r in rows)
    keep, ids = repeats(zip(rows, groups, strict=True), total)
    assert keep.shape == (total,) and int(keep.sum()) == len(ids)
    assert _expanded(rows, ids) == _every(rows)
    assert keep.mean() < 0.8  # what the Atari loop repeats is stored once
    runs = (ids >> RUN_SHIFT) + 1
    assert runs.max() == (max_run if max_run == 2 else runs.max()) and runs.max() <= max_run
    # a stored row is the first of its run: each reference's first frame is stored whole
    starts = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    for first in (0, len(pong), len(pong) + len(doom)):
        assert keep[starts[first] : starts[first + 1]].all()
    # numbered from a given row on: the same, shifted
    _, shifted = repeats(zip(rows, groups, strict=True), total, first_row=1000)
    np.testing.assert_array_equal(row_numbers(shifted), row_numbers(ids) + 1000)
    np.testing.assert_array_equal(shifted >> RUN_SHIFT, ids >> RUN_SHIFT)


def test_a_frame_repeating_another_references_frame_is_stored(pong: list[Features]) -> None:
    frame = _rows(pong)[3]
    keep, ids = repeats([(frame, 0), (frame, 0), (frame, 1)], 3 * len(frame))
    n = len(frame)
    assert keep[:n].all() and not keep[n : 2 * n].any() and keep[2 * n :].all()
    assert sorted((ids[:n] >> RUN_SHIFT).tolist()) == [1] * n  # the first frame's rows stand for the second too


def test_announced_rows_that_do_not_add_up_are_refused(pong: list[Features]) -> None:
    frame = _rows(pong)[0]
    with pytest.raises(ValueError, match="announced"):
        repeats([(frame, 0)], len(frame) + 1)
    with pytest.raises(ValueError, match="announced"):
        repeats([(frame, 0)], len(frame) - 1)


def test_votes_of_expand_runs_as_every_row_would_vote() -> None:
    rng = np.random.default_rng(7)
    nq, k, far = 200, 4, 30
    rows = rng.integers(0, 10_000, (nq, 6))
    runs = rng.integers(1, 5, (nq, 6))
    dist = np.sort(rng.integers(0, 60, (nq, 6)), axis=1).astype(np.int32)
    ids = rows | ((runs - 1) << RUN_SHIFT)
    ids[rng.random((nq, 6)) < 0.1] = -1  # nothing found there (FAISS's answer for missing neighbours)
    dist[ids < 0] = np.iinfo(np.int32).max
    order = np.argsort(ids < 0, axis=1, kind="stable")  # found ones first, as FAISS answers
    ids, dist = np.take_along_axis(ids, order, axis=1), np.take_along_axis(dist, order, axis=1)

    def frame_of(r: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return r // 3

    expected = []
    for q in range(nq):
        copies = [(d, i) for d, i in zip(dist[q], ids[q], strict=True) if i >= 0 for _ in range((i >> RUN_SHIFT) + 1)]
        seen: dict[int, int] = {}
        for d, i in copies[:k]:
            if d <= far:
                seen[i] = seen.get(i, -1) + 1
                expected.append((q, (i & ((1 << RUN_SHIFT) - 1)) // 3 + seen[i]))
    qi, frames = votes_of(dist, ids, k, far, frame_of)
    assert sorted(zip(qi.tolist(), frames.tolist(), strict=True)) == sorted(expected)
    assert len(expected) > nq  # runs expanded


def test_an_ivf_bank_storing_repeats_once_votes_as_the_exhaustive_bank(
    pong: list[Features], doom: list[Features]
) -> None:
    """Every list probed, so the IVF search is exact; the query rows are those with fewer rows within the vote
    distance than the neighbours asked (the k nearest are then all of them, whatever the order of equal ones)."""
    params = dataclasses.replace(DEFAULT_PARAMS, bank_knn=64, bank_max_distance=10, try_mirror=False)
    frames = pong + doom + pong
    groups = [0] * len(pong) + [1] * len(doom) + [2] * len(pong)
    ivf, flat = FeatureBank(params, backend="ivf"), FeatureBank(params, backend="bf")
    for f, g in zip(frames, groups, strict=True):
        ivf.add(f, group=g)
        flat.add(f, group=g)
    search = ivf._build()[0]
    search.nprobe = search.nlist
    assert search.ntotal < 0.8 * flat._build()[0].ntotal  # repeats stored once
    # what an extension's growth is weighed against (RETRAIN_FACTOR): the rows stored, as its segments count theirs
    assert ivf.trained_rows() == search.ntotal and flat.trained_rows() == flat._build()[0].ntotal
    every = np.concatenate(_rows(frames))
    for query in (doom[5], pong[10], pong[30]):
        descs = query.descriptors[: params.vote_features]
        near = (np.unpackbits(descs[:, None, :] ^ every[None, :, :], axis=2).sum(axis=2)) <= params.bank_max_distance
        clear = near.sum(axis=1) < params.bank_knn
        assert clear.sum() >= 20
        q = Features(query.keypoints[: len(descs)][clear], np.ascontiguousarray(descs[clear]), query.size)
        starts = np.concatenate([[0], np.cumsum([len(r) for r in _rows(frames)])])
        expected = np.zeros(len(frames), np.int64)
        for row_hits in near[clear]:
            expected[np.unique(np.searchsorted(starts, np.flatnonzero(row_hits), side="right") - 1)] += 1
        np.testing.assert_array_equal(flat.votes(q), expected)
        np.testing.assert_array_equal(ivf.votes(q), expected)
