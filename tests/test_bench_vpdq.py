"""bench/vpdq_runner.py: the published vPDQ match rule, on constructed features and on two real clips.

The rule's tests need only numpy; the real-clip test needs Meta's ``vpdq`` (the ``bench`` extra, which builds
against FFmpeg's development packages) and is skipped where it is not installed, as in CI's ``.[dev]``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import vpdq_runner as V  # noqa: E402

SAMPLE = ROOT / "fixtures" / "sample"


def _flip(h: np.ndarray, bits: int) -> np.ndarray:
    """``h`` (32 bytes) with its first ``bits`` bits inverted: Hamming distance ``bits`` from ``h``."""
    flipped = np.unpackbits(h.copy())
    flipped[:bits] ^= 1
    return np.packbits(flipped)


def _features(hashes: list[np.ndarray], quality: list[int] | None = None) -> V.Features:
    n = len(hashes)
    return V.Features(
        np.arange(n, dtype=np.float64),
        np.asarray(quality if quality is not None else [100] * n, np.int16),
        np.stack(hashes).astype(np.uint8),
    )


@pytest.fixture
def reference() -> V.RefFeatures:
    rng = np.random.default_rng(3)
    hashes = [rng.integers(0, 256, 32, dtype=np.uint8) for _ in range(10)]
    return V.RefFeatures("acme-racer", "footage/racer.mp4", _features(hashes).prepared())


def _query(ref: V.RefFeatures, near: int, far: int, bits: int = 31) -> V.Features:
    rng = np.random.default_rng(4)
    hashes = [_flip(ref.features.hashes[i], bits) for i in range(near)]
    hashes += [rng.integers(0, 256, 32, dtype=np.uint8) for _ in range(far)]
    return _features(hashes)


def test_distance_31_matches_and_32_does_not(reference: V.RefFeatures) -> None:
    assert [la["work"] for la in V.clip_layers(_query(reference, 5, 0, bits=31), [reference])] == ["acme-racer"]
    assert V.clip_layers(_query(reference, 5, 0, bits=32), [reference]) == []


def test_80_percent_of_the_clip_hashes_must_match(reference: V.RefFeatures) -> None:
    (layer,) = V.clip_layers(_query(reference, 4, 1), [reference])  # 4 of 5: 80 %
    (seg,) = layer["segments"]
    assert seg["query_match_percent"] == pytest.approx(80.0)
    assert (seg["reference"], seg["ref_start"], seg["ref_end"]) == ("footage/racer.mp4", 0.0, 4.0)
    assert V.clip_layers(_query(reference, 3, 1), [reference]) == []  # 75 %


def test_low_quality_and_repeated_hashes_do_not_count(reference: V.RefFeatures) -> None:
    q = _query(reference, 4, 2)  # 4 of 6: 67 %, no match ...
    assert V.clip_layers(q, [reference]) == []
    q.quality[-1] = 49  # ... unless a non-matching hash is below quality 50 (4 of 5)
    assert len(V.clip_layers(q, [reference])) == 1
    dup = _features([*q.hashes[:1]] * 6 + [q.hashes[4]])  # one matching hash six times, one far: 1 of 2
    assert V.clip_layers(dup, [reference]) == []


@pytest.mark.skipif(
    importlib.util.find_spec("vpdq") is None,
    reason="Meta's vpdq is not installed (pip install -e '.[bench]' after the FFmpeg -dev apt packages)",
)
def test_real_clips_with_meta_vpdq() -> None:
    ref_path = SAMPLE / "registry" / "footage" / "freedoom-e1m1-playthrough.mp4"
    ref = V.RefFeatures("freedoom", "footage/freedoom-e1m1-playthrough.mp4", V.hash_file(ref_path).prepared())
    assert len(ref.features) >= 10  # 1 hash a second of a ~20 s reference
    copy = V.hash_file(SAMPLE / "dataset" / "reupload" / "e1m1_reencode.mp4")
    (layer,) = V.clip_layers(copy, [ref])
    assert layer["work"] == "freedoom"
    assert layer["segments"][0]["query_match_percent"] >= V.QUERY_MATCH
    assert V.clip_layers(V.hash_file(SAMPLE / "dataset" / "clean" / "bikes.mp4"), [ref]) == []
