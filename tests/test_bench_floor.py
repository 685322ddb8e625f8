"""bench/audit_bench.py's decode floor (the ``decode only`` row of the speed benchmarks) decodes what a scan's worker
decodes, the way it decodes it: a floor measured otherwise (threaded, every frame) once overstated decoding by half."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import audit_bench  # noqa: E402

from provenance.engine import EngineParams, decode_only  # noqa: E402

CLIPS = [ROOT / "fixtures" / "sample" / "dataset" / "clean" / name for name in ("bikes.mp4", "space_invaders.mp4")]


def test_the_decode_floor_is_the_engines_decode_only_in_one_thread_workers() -> None:
    fn, which = audit_bench._decode_fn()
    assert fn is decode_only and which == "provenance.engine.decode_only"
    result = audit_bench.phase_decode([str(c) for c in CLIPS], 2)  # spawned workers, one thread each
    assert result == {"frames": sum(decode_only(c, EngineParams()) for c in CLIPS), "decode_only": which}
    assert result["frames"] > 0


def test_the_benchmarks_name_the_hamming_kernel_they_ran_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Figures of different machines are compared knowing the kernel: the phrase names the one the engine uses here
    (the extension's ``isa()``), and FAISS where the extension is not importable."""
    import proctree

    from provenance.engine import hamming

    kernel = hamming._KERNEL.isa() if hamming._KERNEL is not None else "faiss"
    assert proctree.machine().endswith(f", Hamming kernel {kernel}")
    if "provenance.engine.popcount" in sys.modules:
        monkeypatch.delattr("provenance.engine.popcount")
    monkeypatch.setitem(sys.modules, "provenance.engine.popcount", None)  # an import of it fails
    assert proctree.machine().endswith(", Hamming kernel faiss")
