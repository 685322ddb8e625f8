"""Temporal alignment on synthetic match sets with exact ground truth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from provenance.engine.align import AlignParams, Segment, align, scores_from_distances
from provenance.errors import ConfigError


@dataclass(frozen=True)
class Truth:
    ref: int
    q0: float
    q1: float  # exclusive: the query samples in [q0, q1) copy the reference
    r0: float
    speed: float = 1.0

    @property
    def r1(self) -> float:
        return self.r0 + self.speed * (self.q1 - self.q0)


@dataclass(frozen=True)
class Matches:
    q: np.ndarray
    ref: np.ndarray
    r: np.ndarray
    score: np.ndarray
    is_noise: np.ndarray


def synth(
    seed: int,
    truths: list[Truth],
    *,
    q_fps: float = 1.0,
    r_fps: float = 10.0,
    query_len: float = 60.0,
    ref_len: float = 300.0,
    n_refs: int = 3,
    p_detect: float = 0.8,
    noise_frac: float = 0.0,
) -> Matches:
    """Frame matches a fingerprint index would return for a query made of ``truths``.

    Each query sample inside a true segment matches, with probability ``p_detect`` (always for the
    segment's first and last sample, whose position is otherwise unknowable, and after two misses in
    a row, so no gap reaches ``max_gap_s``), 1-3 adjacent
    reference frames around its true position on the reference's sampling grid. Noise matches are
    uniform over query samples, references and reference time: ``noise_frac`` of all matches.
    """
    rng = np.random.default_rng(seed)
    q_grid = np.arange(0.0, query_len, 1.0 / q_fps)
    qs: list[float] = []
    refs: list[int] = []
    rs: list[float] = []
    for tr in truths:
        inside = q_grid[(q_grid >= tr.q0 - 1e-9) & (q_grid < tr.q1 - 1e-9)]
        misses = 0
        for i, t in enumerate(inside):
            if 0 < i < inside.size - 1 and misses < 2 and rng.random() > p_detect:
                misses += 1
                continue
            misses = 0
            true_r = tr.r0 + tr.speed * (t - tr.q0)
            nearest = round(true_r * r_fps)
            k = int(rng.integers(1, 4))
            first = nearest - int(rng.integers(0, k))
            for j in range(first, first + k):
                qs.append(float(t))
                refs.append(tr.ref)
                rs.append(j / r_fps)
    n_true = len(qs)
    n_noise = round(noise_frac / (1.0 - noise_frac) * n_true) if noise_frac < 1 else 0
    q = np.concatenate([np.array(qs), rng.choice(q_grid, n_noise)])
    ref = np.concatenate([np.array(refs, dtype=np.int64), rng.integers(0, n_refs, n_noise)])
    r = np.concatenate([np.array(rs), np.round(rng.uniform(0, ref_len, n_noise) * r_fps) / r_fps])
    score = np.concatenate([rng.uniform(0.6, 1.0, n_true), rng.uniform(0.3, 0.9, n_noise)])
    noise = np.concatenate([np.zeros(n_true, bool), np.ones(n_noise, bool)])
    perm = rng.permutation(q.size)
    return Matches(q[perm], ref[perm], r[perm], score[perm], noise[perm])


def run(m: Matches, q_fps: float, r_fps: float, params: AlignParams | None = None) -> list[Segment]:
    return align(m.q, m.ref, m.r, m.score, params, query_step_s=1.0 / q_fps, ref_step_s=1.0 / r_fps)


def assert_found(segs: list[Segment], truths: list[Truth], m: Matches, tol: float = 0.5) -> None:
    assert len(segs) == len(truths), f"expected {len(truths)} segments, got {segs}"
    for tr in truths:
        hits = [
            s
            for s in segs
            if s.reference == tr.ref
            and abs(s.query_start - tr.q0) <= tol
            and abs(s.query_end - tr.q1) <= tol
            and abs(s.ref_start - tr.r0) <= tol
            and abs(s.ref_end - tr.r1) <= tol
        ]
        assert len(hits) == 1, f"{tr} not found exactly once in {segs}"
        s = hits[0]
        assert abs(s.speed - tr.speed) <= 0.03 * tr.speed
        assert 0.0 < s.score <= 1.0
        ev = np.array(s.evidence)
        assert s.matches == ev.size and np.all(np.diff(ev) > 0)
        # Evidence is (almost only) true matches of this reference.
        assert (m.ref[ev] == tr.ref).all()
        assert m.is_noise[ev].mean() <= 0.1


SCENARIOS = {
    "whole_1fps_vs_10fps": ([Truth(1, 0, 30, 100.0)], 1.0, 10.0),
    "trim_2fps_vs_5fps": ([Truth(0, 5, 25, 42.3)], 2.0, 5.0),
    "query_1fps_ref_2fps": ([Truth(2, 10, 50, 200.5)], 1.0, 2.0),
    "speed_0.8": ([Truth(1, 4, 40, 10.0, 0.8)], 1.0, 10.0),
    "speed_1.25": ([Truth(1, 4, 40, 10.0, 1.25)], 1.0, 10.0),
    "speed_0.5": ([Truth(0, 0, 40, 150.0, 0.5)], 2.0, 10.0),
    "speed_2.0": ([Truth(0, 10, 50, 3.0, 2.0)], 1.0, 10.0),
    "two_parts_same_ref": ([Truth(1, 0, 15, 200.0), Truth(1, 15, 40, 20.0)], 1.0, 10.0),
    "two_refs_in_sequence": ([Truth(0, 2, 22, 50.0), Truth(2, 22, 50, 120.0, 1.1)], 1.0, 5.0),
    "looped_ref": ([Truth(1, 0, 20, 0.0), Truth(1, 20, 40, 0.0), Truth(1, 40, 58, 0.0)], 1.0, 10.0),
}


@pytest.mark.parametrize("noise_frac", [0.0, 0.2, 0.35, 0.5])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("seed", [0, 1])
def test_scenarios(name: str, noise_frac: float, seed: int) -> None:
    truths, q_fps, r_fps = SCENARIOS[name]
    m = synth(seed * 1000 + len(name), truths, q_fps=q_fps, r_fps=r_fps, noise_frac=noise_frac)
    if noise_frac:
        assert abs(m.is_noise.mean() - noise_frac) < 0.02
    assert_found(run(m, q_fps, r_fps), truths, m)


@pytest.mark.parametrize("seed", range(12))
def test_only_scattered_matches_make_no_segment(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 400))
    q_len, ref_len = float(rng.choice([30.0, 60.0, 120.0])), float(rng.choice([60.0, 300.0, 1200.0]))
    q = rng.choice(np.arange(0.0, q_len, 1.0), n)
    ref = rng.integers(0, 3, n)
    r = np.round(rng.uniform(0, ref_len, n) * 10) / 10
    segs = align(q, ref, r, rng.uniform(0.3, 1.0, n), query_step_s=1.0, ref_step_s=0.1)
    assert segs == []


def test_too_few_or_too_sparse_matches_are_rejected() -> None:
    # 3 matches on a perfect line: below min_matches=4.
    assert align([0.0, 1.0, 2.0], [0, 0, 0], [10.0, 11.0, 12.0], query_step_s=1.0) == []
    # 6 matches on a line but 3.5 s apart (gap < max_gap_s=4): density 6 / 18.5 s ~ 0.32 passes at
    # min_density 0.2 and fails at 0.5.
    q = np.arange(6) * 3.5
    found = align(q, np.zeros(6, np.int64), q + 7.0, query_step_s=1.0)
    assert len(found) == 1
    assert align(q, np.zeros(6, np.int64), q + 7.0, params=AlignParams(min_density=0.5), query_step_s=1.0) == []
    # Gaps above max_gap_s split the line into runs too short to count.
    q = np.arange(8) * 5.0
    assert align(q, np.zeros(8, np.int64), q + 7.0, query_step_s=1.0) == []


def test_golden_exact_line() -> None:
    q = np.arange(10.0)
    segs = align(q, np.full(10, 4), 2.0 * q + 3.0, np.full(10, 0.9), query_step_s=1.0)
    assert len(segs) == 1
    s = segs[0]
    assert s.reference == 4 and s.speed == pytest.approx(2.0)
    assert (s.query_start, s.query_end) == pytest.approx((0.0, 10.0))
    assert (s.ref_start, s.ref_end) == pytest.approx((3.0, 23.0))
    assert s.matches == s.query_frames == 10 and s.evidence == tuple(range(10))
    # mean similarity 0.9 x support (1 - e^(-10/8)) x sqrt(coverage 1)
    assert s.score == pytest.approx(0.9 * (1 - np.exp(-10 / 8)))


def test_a_reversed_copy_is_a_negative_speed_segment_over_the_reference_span() -> None:
    """The clip plays reference 30-40 s backwards in 0-10 s: with ``reversed`` one segment of speed -1 whose span
    on the reference is 30-40 s (the clip's start shows its end); without, none."""
    q = np.arange(10.0)
    r = 40.0 - q - 0.5  # sample t shows [t, t + 1) of the clip: reference 39.5 .. 30.5 at the sample times
    assert align(q, np.zeros(10, np.int64), r, query_step_s=1.0) == []
    (s,) = align(q, np.zeros(10, np.int64), r, params=AlignParams(reversed=True), query_step_s=1.0)
    assert s.speed == pytest.approx(-1.0)
    assert (s.query_start, s.query_end) == pytest.approx((0.0, 10.0))
    assert (s.ref_start, s.ref_end) == pytest.approx((29.5, 39.5))
    assert s.ref_end + (5.0 - s.query_start) * s.speed == pytest.approx(r[5])  # the line through the samples
    assert s.query_frames == 10 and s.evidence == tuple(range(10))


def test_a_backwards_line_is_kept_only_where_no_forward_one_is() -> None:
    """A static screen's matches lie on lines both ways; the forward segment stands, and a backwards one over the
    same clip time is not added. Backwards lines elsewhere in the clip are."""
    q, r = [], []
    for t in range(10):  # 0-10 s: a screen matching 20-24 s of the reference everywhere, a forward copy at 50 + t
        q += [float(t)] * 6
        r += [20.0 + 0.8 * k for k in range(5)] + [50.0 + t]
    q += [float(t) for t in range(20, 30)]  # 20-30 s: reference 100-90 s backwards
    r += [120.0 - t for t in range(20, 30)]
    segs = align(
        np.array(q), np.zeros(len(q), np.int64), np.array(r), params=AlignParams(reversed=True), query_step_s=1.0
    )
    assert [(round(s.query_start), round(s.speed)) for s in segs] == [(0, 1), (20, -1)]


def test_overlapping_references_both_reported_and_sorted() -> None:
    q = np.arange(20.0)
    segs = align(np.concatenate([q, q]), np.repeat([9, 3], 20), np.concatenate([q + 5, q * 0.5 + 1]), query_step_s=1.0)
    assert [s.reference for s in segs] == [3, 9]
    assert segs[0].speed == pytest.approx(0.5) and segs[1].speed == pytest.approx(1.0)


def test_dense_static_echoes_do_not_make_extra_segments() -> None:
    # Each query frame matches every reference frame within +-2 s (a near-static shot), the
    # nearest ones most closely.
    q, r, w = [], [], []
    for t in range(30):
        for d in np.arange(-2.0, 2.01, 0.2):
            q.append(float(t))
            r.append(50.0 + t + d)
            w.append(1.0 - 0.2 * abs(d))
    segs = align(np.array(q), np.zeros(len(q), np.int64), np.array(r), w, query_step_s=1.0, ref_step_s=0.2)
    assert len(segs) == 1
    assert segs[0].query_start == pytest.approx(0.0) and segs[0].query_end == pytest.approx(30.0)
    assert abs(segs[0].ref_start - 50.0) <= 0.5


def test_a_reference_seen_twice_at_the_same_clip_time_keeps_its_stronger_moment() -> None:
    # A clip frame shows one moment of a reference. Where the reference repeats itself (a scrolling game's
    # terrain), the copy's frames also match a second, distant moment, less often: a second line over the same
    # clip time, which only the stronger one can be.
    q, r, w = [], [], []
    for t in np.arange(0.0, 8.0, 0.5):
        q.append(float(t))
        r.append(10.0 + t)  # the copied moment: every frame
        w.append(0.9)
    for t in np.arange(0.0, 5.0, 1.0):
        q.append(float(t))
        r.append(40.0 + t)  # the repeat, far along the reference: every other frame
        w.append(0.7)
    segs = align(np.array(q), np.zeros(len(q), np.int64), np.array(r), w, query_step_s=0.5, ref_step_s=1 / 15)
    assert len(segs) == 1
    assert abs(segs[0].ref_start - 10.0) <= 0.5 and segs[0].query_end == pytest.approx(8.0)


def test_empty_input_and_validation() -> None:
    assert align([], [], []) == []
    with pytest.raises(ConfigError):
        align([0.0, 1.0], [0], [0.0, 1.0])
    with pytest.raises(ConfigError):
        align([0.0], [0], [np.nan])
    with pytest.raises(ConfigError):
        align([0.0], [0], [1.0], [1.5])
    with pytest.raises(ConfigError):
        align([0.0], [0.5], [1.0])
    with pytest.raises(ConfigError):
        align([0.0], [0], [1.0], query_step_s=-1.0)
    for bad in (
        {"speed_min": 0.0},
        {"speed_min": 1.5},
        {"speed_max": 0.9},
        {"speed_max": 5.0},
        {"tolerance_s": 0.0},
        {"max_gap_s": 0.0},
        {"min_matches": 1},
        {"min_density": -0.1},
        {"max_speed_bins": 2},
        {"max_segments_per_ref": 0},
        {"overlap_drop": 0.0},
        {"alpha": 0.0},
    ):
        with pytest.raises(ConfigError):
            AlignParams(**bad)  # type: ignore[arg-type]


def test_scores_from_distances() -> None:
    np.testing.assert_allclose(scores_from_distances([0, 16, 31, 40], 31), [1.0, 0.5, 0.03125, 0.0])
    with pytest.raises(ConfigError):
        scores_from_distances([0], -1)


def test_chance_is_counted_per_query_frame_not_per_match() -> None:
    # A static screen: some clip frames match the reference everywhere (25 times each). They must not
    # drown a true line that 7 other frames draw at 1.5x speed; and those frames alone draw no line.
    rng = np.random.default_rng(3)
    q_line = np.array([0.0, 0.5, 2.0, 2.5, 4.0, 4.5, 5.0])
    r_line = 1.0 + 1.5 * q_line
    q_static = np.repeat([1.0, 1.5, 3.0, 3.5, 5.5], 25)
    r_static = rng.uniform(0.0, 12.0, q_static.size)
    q = np.concatenate([q_line, q_static])
    r = np.concatenate([r_line, r_static])
    segs = align(q, np.zeros(q.size, np.int64), r, None, query_step_s=0.5, ref_step_s=0.2)
    assert len(segs) == 1
    assert segs[0].speed == pytest.approx(1.5, abs=0.1)
    assert segs[0].ref_start == pytest.approx(1.0, abs=0.3)
    only_static = align(q_static, np.zeros(q_static.size, np.int64), r_static, None, query_step_s=0.5, ref_step_s=0.2)
    assert only_static == []
