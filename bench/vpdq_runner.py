"""Meta's real vPDQ (PyPI ``vpdq``, C++) with its published recipe, for the benchmarks.

Hashing is ``vpdq.computeHash(path, seconds_per_hash=1, thread_count=1)``: the C++ library decodes the
video with FFmpeg and hashes one frame a second with PDQ. Matching follows the published brute-force matcher
(ThreatExchange's ``vpdq_brute_matcher.match_VPDQ_hash_brute`` and ``vpdq_util``): both sides' features are
deduplicated (identical hashes once) and filtered to quality >= 50; a query feature matches when some
reference feature is within Hamming distance 31 of 256; a clip matches a reference when >= 80 % of its
features match (the query-match percentage; the reference-match threshold is 0 %). The distances are
computed here with numpy (the same numbers as the Python matcher, faster); a clip without a feature of
quality >= 50 matches nothing (the published matcher would divide by zero).

Install (the wheel builds against FFmpeg's development libraries)::

    sudo apt-get install libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libavfilter-dev \\
        libavdevice-dev libswresample-dev pkg-config
    pip install -e '.[bench]'          # or: pip install vpdq

The findings are shaped like the report's layers (``work``, ``segments`` with ``reference``, ``ref_start``,
``ref_end``: the span of the matched reference features, plus one second) so that ``engine_bench.score_clip``
scores them. Still assets (PNG references) are left out: vPDQ matches videos only.

Runs in N processes, one thread each (``run_clips``, ``hash_references``): spawned, as the scan's workers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "DISTANCE",
    "INSTALL_HINT",
    "LABEL",
    "QUALITY",
    "QUERY_MATCH",
    "SECONDS_PER_HASH",
    "Features",
    "RefFeatures",
    "clip_layers",
    "command",
    "hash_file",
    "hash_references",
    "main",
    "match_percent",
    "missing",
    "reference_jobs",
    "run_clips",
]

SECONDS_PER_HASH = 1.0
QUALITY = 50
DISTANCE = 31
QUERY_MATCH = 80.0  # percent of the clip's features
LABEL = "vPDQ (Meta's C++ vpdq: 1 hash/s, quality >= 50, distance <= 31, >= 80 % of the clip's hashes)"
INSTALL_HINT = (
    "sudo apt-get install libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libavfilter-dev "
    "libavdevice-dev libswresample-dev pkg-config && pip install vpdq"
)
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)


def missing() -> str | None:
    """None when ``vpdq`` imports; else a one-line message naming what to install."""
    try:
        import vpdq  # noqa: F401
    except ImportError as exc:
        return f"Meta's vpdq is not importable ({exc}); install it with: {INSTALL_HINT}"
    return None


@dataclass
class Features:
    """A video's vPDQ features: timestamps (s), qualities (0-100) and 256-bit hashes as 32 bytes each."""

    times: npt.NDArray[np.float64]
    quality: npt.NDArray[np.int16]
    hashes: npt.NDArray[np.uint8]

    def __len__(self) -> int:
        return len(self.times)

    def prepared(self) -> Features:
        """Identical hashes once (the first), then quality >= QUALITY: as the published matcher filters."""
        if not len(self):
            return self
        _, first = np.unique(self.hashes, axis=0, return_index=True)
        keep = np.sort(first)
        keep = keep[self.quality[keep] >= QUALITY]
        return Features(self.times[keep], self.quality[keep], self.hashes[keep])


@dataclass
class RefFeatures:
    """A registered reference video's prepared features, with its work and manifest path."""

    work: str
    reference: str
    features: Features


def hash_file(path: str | Path, seconds_per_hash: float = SECONDS_PER_HASH) -> Features:
    """vPDQ features of a video: one PDQ hash every ``seconds_per_hash`` (0: every frame), computed by the
    C++ library on one thread."""
    import vpdq

    feats = vpdq.computeHash(str(path), seconds_per_hash=seconds_per_hash, thread_count=1)
    if not feats:
        return Features(np.zeros(0, np.float64), np.zeros(0, np.int16), np.zeros((0, 32), np.uint8))
    return Features(
        np.array([f.timestamp for f in feats], np.float64),
        np.array([f.quality for f in feats], np.int16),
        np.frombuffer(bytes.fromhex("".join(f.hex for f in feats)), np.uint8).reshape(len(feats), 32),
    )


def _distances(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint16]:
    """Hamming distances between every row of ``a`` and every row of ``b`` (256-bit hashes as 32 bytes)."""
    d: npt.NDArray[np.uint16] = _POPCOUNT[np.bitwise_xor(a[:, None, :], b[None, :, :])].sum(axis=2, dtype=np.uint16)
    return d


def match_percent(query: Features, ref: Features) -> tuple[float, float, npt.NDArray[np.bool_]]:
    """(query-match %, reference-match %, which reference features matched) of two *prepared* feature sets."""
    if not len(query) or not len(ref):
        return 0.0, 0.0, np.zeros(len(ref), np.bool_)
    hit = _distances(query.hashes, ref.hashes) <= DISTANCE
    matched: npt.NDArray[np.bool_] = np.asarray(hit.any(axis=0), np.bool_)
    return 100.0 * float(hit.any(axis=1).mean()), 100.0 * float(matched.mean()), matched


def clip_layers(query: Features, refs: Sequence[RefFeatures]) -> list[dict[str, Any]]:
    """Report-shaped layers of the works whose reference footage the clip matches by the vPDQ rule."""
    q = query.prepared()
    by_work: dict[str, dict[str, Any]] = {}
    for ref in refs:
        q_pct, _, matched = match_percent(q, ref.features)
        if q_pct < QUERY_MATCH or not len(q):
            continue
        t = ref.features.times[matched]
        layer = by_work.setdefault(ref.work, {"work": ref.work, "segments": []})
        layer["segments"].append(
            {
                "reference": ref.reference,
                "ref_start": float(t.min()),
                "ref_end": float(t.max()) + SECONDS_PER_HASH,
                "query_match_percent": q_pct,
            }
        )
    return list(by_work.values())


# ---------------------------------------------------------------------------------------------------------
# N processes, one thread each
# ---------------------------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init(refs: list[RefFeatures] | None) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    _WORKER["refs"] = refs or []


def _hash_ref(work: str, reference: str, seconds_per_hash: float, path: str) -> RefFeatures:
    return RefFeatures(work, reference, hash_file(path, seconds_per_hash).prepared())


def _clip(path: str) -> list[dict[str, Any]]:
    return clip_layers(hash_file(path), _WORKER["refs"])


def _pool(workers: int, refs: list[RefFeatures] | None) -> Any:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init, initargs=(refs,)
    )


def _ordered(pool: Any, fn: Callable[..., Any], jobs: list[tuple[Any, ...]]) -> list[Any]:
    """``fn(*job)`` for every job, in job order; submitted at once, the largest file (last argument) first."""
    order = sorted(range(len(jobs)), key=lambda i: -os.path.getsize(jobs[i][-1]))
    futures = {i: pool.submit(fn, *jobs[i]) for i in order}
    return [futures[i].result() for i in range(len(jobs))]


def reference_jobs(manifest: Path) -> list[tuple[str, str, str]]:
    """(work, reference path as in the manifest, file) of every footage reference of a registry manifest."""
    import yaml

    doc = yaml.safe_load(Path(manifest).read_text(encoding="utf-8"))
    return [
        (work["id"], r["path"], str(Path(manifest).parent / r["path"]))
        for work in doc["works"]
        for r in work.get("references", [])
        if r.get("kind", "footage") == "footage" and Path(r["path"]).suffix.lower() not in {".png", ".jpg", ".jpeg"}
    ]


def hash_references(manifest: Path, workers: int, seconds_per_hash: float = SECONDS_PER_HASH) -> list[RefFeatures]:
    """Prepared features of every footage reference of ``manifest``, hashed in ``workers`` processes.

    ``seconds_per_hash`` 0 hashes every reference frame: not the published recipe, but its most favourable
    setting (no sampling phase between a clip's hashes and the reference's)."""
    jobs = [(work, ref, seconds_per_hash, path) for work, ref, path in reference_jobs(manifest)]
    with _pool(workers, None) as pool:
        refs: list[RefFeatures] = _ordered(pool, _hash_ref, jobs)
    return refs


def run_clips(files: Sequence[str], refs: list[RefFeatures], workers: int) -> list[list[dict[str, Any]]]:
    """Each clip hashed and matched against ``refs`` in ``workers`` processes; layers in the order of ``files``."""
    with _pool(workers, refs) as pool:
        return _ordered(pool, _clip, [(f,) for f in files])


# ---------------------------------------------------------------------------------------------------------
# as a measured subprocess: python bench/vpdq_runner.py refs|clips JOB.json
# ---------------------------------------------------------------------------------------------------------


def command(phase: str, job: dict[str, Any], job_path: Path) -> list[str]:
    """The command running ``phase`` (``refs``: hash the references of ``job["manifest"]`` into ``job["refs"]``;
    ``clips``: hash and match ``job["files"]``) in a subprocess; the job is written to ``job_path``."""
    import json
    import sys

    job_path.write_text(json.dumps(job), encoding="utf-8")
    return [sys.executable, str(Path(__file__).resolve()), phase, str(job_path)]


def main(argv: Sequence[str] | None = None) -> int:
    import json
    import pickle
    import sys

    phase, job_path = (sys.argv[1:] if argv is None else list(argv))[:2]
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    if phase == "refs":
        refs = hash_references(Path(job["manifest"]), job["workers"], job.get("seconds_per_hash", SECONDS_PER_HASH))
        with open(job["refs"], "wb") as f:
            pickle.dump(refs, f)
        result: dict[str, Any] = {"references": len(refs), "features": sum(len(r.features) for r in refs)}
    elif phase == "clips":
        with open(job["refs"], "rb") as f:
            refs = pickle.load(f)
        result = {"clips": dict(zip(job["rels"], run_clips(job["files"], refs, job["workers"]), strict=True))}
    else:
        raise SystemExit(f"unknown phase {phase!r} (refs or clips)")
    Path(job["result"]).write_text(json.dumps(result) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
