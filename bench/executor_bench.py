"""Local vs Ray executor: clips/s of the same scan on the same data, and the overhead of Ray.

    python bench/executor_bench.py [--workers 2] [--copies 3] [--runs 1] [--json OUT]
    python bench/executor_bench.py --data footage720 [--limit-minutes 10] ...
    python bench/executor_bench.py --index-scale 1,10,40     # index size and search cost vs registry size

Data: ``sample`` (default) is the bundled sample dataset copied ``--copies`` times (12 clips of 4-10 s each per
copy, real footage edited as re-uploads and streams edit it) against the sample registry; ``footage720`` is
the 720p benchmark footage of ``bench/footage720.py`` (60 s clips; ``--limit-minutes`` takes a prefix) against
the corpus registry, built and cached under ``bench/.corpus`` as ``bench/audit_bench.py`` does.

The registry (a SQLite file) is imported and its references fingerprinted once, before anything is timed.
Then each run scans the whole dataset with ``rescan=True`` (every clip matched, nothing reused), alternating
local and Ray (local, ray, local, ray, ...) so that the load of other processes falls on both alike:

* **local**: :class:`provenance.executors.LocalExecutor` with ``--workers`` spawned processes (their start-up
  and index loading are inside the timed scan, as in every CLI scan);
* **ray**: :class:`provenance.executors.RayExecutor` on a local Ray cluster of ``--workers`` CPUs started once
  before the runs (its start-up is timed apart: a cluster outlives scans). Ray's worker processes are kept
  between runs, so the first Ray run pays their imports and index builds and later ones only the builds.

It prints clips/s, seconds of video per wall second and wall seconds of each run, the medians, and the
overhead ``ray / local - 1`` of the median wall times (target: under 25 %). It also measures what the
scale-out plan (docs/scale-out.md) extrapolates from: the reference index's size (payload bytes, and the RSS
its build adds to a fresh process) per reference frame, and the CPU seconds a clip and a second of video
cost a local worker (its processes' CPU time, which the load of others barely changes). ``--index-scale``
measures only how the index grows: the sample registry's footage repeated K times under distinct keys, in a
fresh process per K, its RSS and build time per reference frame and the CPU time of matching clean clips
(which match nothing, so it is the search alone) against it. Other agents share this machine's cores: the
load average is printed with every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
for _p in (str(BENCH), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

SAMPLE = ROOT / "fixtures" / "sample"
TARGET_OVERHEAD = 0.25


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _index_memory(url: str) -> dict[str, float]:
    """In a fresh process: the index payload's bytes and frames, and the RSS its build adds."""
    import gc

    import psutil

    from provenance.audit import build_index, index_payload
    from provenance.audit.references import asset_picture
    from provenance.engine import EngineParams, FootagePrint
    from rightsdb import Registry

    registry = Registry(url, auto_migrate=False)
    payload = index_payload(registry)
    registry.dispose()
    frames = local_frames = 0
    ref_seconds = 0.0
    payload_bytes = 0
    for kind, _key, _layer, data in payload:
        if kind == "footage":
            fp = FootagePrint.from_payload(*data)
            frames += len(fp.timestamps)
            local_frames += len(fp.local_times)
            ref_seconds += float(fp.duration_s)
            payload_bytes += sum(len(b) for b in data)
        else:
            payload_bytes += int(asset_picture(data).nbytes)  # read now: the payload holds the file
    gc.collect()
    before = psutil.Process().memory_info().rss
    t0 = time.perf_counter()
    index = build_index(EngineParams(), payload)
    lazy = getattr(index, "_built", None)  # the hash index is built on the first query: count it (if it is)
    if callable(lazy):
        lazy()
    build_s = time.perf_counter() - t0
    gc.collect()
    grown = psutil.Process().memory_info().rss - before
    return {
        "footage_refs": sum(1 for p in payload if p[0] == "footage"),
        "assets": sum(1 for p in payload if p[0] == "asset"),
        "ref_seconds": ref_seconds,
        "hash_frames": frames,
        "feature_frames": local_frames,
        "payload_mb": payload_bytes / 2**20,
        "index_rss_mb": grown / 2**20,
        "build_s": build_s,
    }


SCALE_CLIPS = ["clean/bikes.mp4", "clean/bigbuckbunny.mp4", "clean/space_invaders.mp4"]  # no match: pure search


def _index_scale(url: str, copies: int) -> dict[str, float]:
    """In a fresh process: the index of the registry's footage repeated ``copies`` times (distinct keys), its
    RSS and build time, and the time to match clean clips against it (clips that match nothing: the search
    cost alone, without the alignment work that copies of a matching reference would multiply)."""
    import gc

    import psutil

    from provenance.audit import build_index, index_payload
    from provenance.engine import EngineParams, FootagePrint, match_clip
    from rightsdb import Registry

    registry = Registry(url, auto_migrate=False)
    base = [p for p in index_payload(registry) if p[0] == "footage"]
    registry.dispose()
    payload = [(kind, f"{key}#{k}", layer, data) for k in range(copies) for kind, key, layer, data in base]
    frames = sum(len(FootagePrint.from_payload(*data).timestamps) for _, _, _, data in payload)
    gc.collect()
    before = psutil.Process().memory_info().rss
    t0 = time.perf_counter()
    index = build_index(EngineParams(), payload)
    del payload
    lazy = getattr(index, "_built", None)
    if callable(lazy):
        lazy()
    build_s = time.perf_counter() - t0
    gc.collect()
    grown = psutil.Process().memory_info().rss - before
    match_clip(SAMPLE / "dataset" / SCALE_CLIPS[0], index)  # warm-up: lazy structures, caches
    t0 = time.process_time()
    for rel in SCALE_CLIPS:
        found = match_clip(SAMPLE / "dataset" / rel, index)
        if found.footage:
            raise SystemExit(f"{rel} matched {[m.key for m in found.footage]}: not a clean clip any more")
    match_cpu = (time.process_time() - t0) / len(SCALE_CLIPS)
    return {
        "copies": copies,
        "frames": frames,
        "index_rss_mb": grown / 2**20,
        "build_s": build_s,
        "clean_clip_cpu_s": match_cpu,
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _sample_data(work: Path, copies: int) -> tuple[Path, Path]:
    dataset = work / "dataset"
    for k in range(copies):
        shutil.copytree(SAMPLE / "dataset", dataset / f"copy{k}")
    return dataset, SAMPLE / "registry" / "manifest.yaml"


def _footage_data(work: Path, args: argparse.Namespace) -> tuple[Path, Path]:
    import audit_bench

    ns = argparse.Namespace(
        corpus=BENCH / ".corpus", seed=args.seed, limit_minutes=args.limit_minutes, workers=args.workers
    )
    footage = audit_bench.prepare_footage(ns, work)
    return footage.dataset, footage.manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--workers", type=int, default=2, help="local processes = Ray CPUs")
    ap.add_argument("--data", choices=["sample", "footage720"], default="sample")
    ap.add_argument("--copies", type=int, default=3, help="sample: copies of the sample dataset")
    ap.add_argument("--limit-minutes", type=float, default=10.0, help="footage720: minutes of footage")
    ap.add_argument("--seed", type=int, default=1, help="footage720: corpus seed")
    ap.add_argument("--runs", type=int, default=1, help="runs of each executor (medians are reported)")
    ap.add_argument("--json", type=Path, help="write the figures here as JSON")
    ap.add_argument(
        "--store-rate",
        metavar="DB_URL",
        help="only measure how many clip results per second the "
        "driver stores (one transaction each, as a scan does) into this database (a scratch one: a "
        "scan row and its results are added and deleted)",
    )
    ap.add_argument(
        "--index-scale",
        metavar="K,K,...",
        help="only measure the index of the sample registry's "
        "footage repeated K times: RSS and build time per reference frame, CPU time of a clean clip",
    )
    args = ap.parse_args(argv)
    if args.store_rate:
        return _store_main(args.store_rate)
    if args.index_scale:
        return _scale_main([int(k) for k in args.index_scale.split(",")], args.json)

    import multiprocessing

    import ray

    from provenance.audit import engine_id, ensure_fingerprints, scan
    from provenance.audit.executors import LocalExecutor, RayExecutor
    from provenance.audit.manifests import import_manifest_file
    from provenance.engine import EngineParams
    from rightsdb import Registry

    work = Path(tempfile.mkdtemp(prefix="executor-bench-"))
    try:
        dataset, manifest = _sample_data(work, args.copies) if args.data == "sample" else _footage_data(work, args)
        url = f"sqlite:///{work / 'registry.db'}"
        registry = Registry(url)
        import_manifest_file(registry, manifest)
        t0 = time.perf_counter()
        ensure_fingerprints(registry, EngineParams())
        print(
            f"engine {engine_id()}; references fingerprinted in {time.perf_counter() - t0:.1f} s (not timed below)",
            flush=True,
        )
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            mem = pool.apply(_index_memory, (url,))
        frames = mem["hash_frames"]
        print(
            f"index: {mem['footage_refs']:.0f} footage refs ({mem['ref_seconds']:.0f} s, {frames:.0f} hashed "
            f"frames, {mem['feature_frames']:.0f} with local features), {mem['assets']:.0f} assets; payload "
            f"{mem['payload_mb']:.2f} MB ({mem['payload_mb'] * 2**20 / max(frames, 1):.0f} B/frame); built in "
            f"{mem['build_s']:.2f} s, +{mem['index_rss_mb']:.1f} MB RSS "
            f"({mem['index_rss_mb'] * 2**20 / max(frames, 1):.0f} B/frame)",
            flush=True,
        )

        t0 = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        ray_start = time.perf_counter() - t0
        print(f"Ray local cluster of {args.workers} CPUs started in {ray_start:.1f} s (load {_load()})", flush=True)
        runs: dict[str, list[dict[str, float]]] = {"local": [], "ray": []}
        for r in range(args.runs):
            for name in ("local", "ray"):
                executor = LocalExecutor(args.workers) if name == "local" else RayExecutor()
                load = _load()
                cpu0 = _children_cpu()
                t0 = time.perf_counter()
                report = scan(
                    registry, dataset, EngineParams(), workers=args.workers, rescan=True, executor=executor
                ).to_dict()
                wall = time.perf_counter() - t0
                cpu = _children_cpu() - cpu0  # the local pool's workers, reaped at its shutdown
                clips = len(report["clips"])
                errors = report["scan"]["summary"]["errors"]
                video = sum(float(c["duration_s"] or 0.0) for c in report["clips"])
                row = {
                    "wall_s": wall,
                    "clips": clips,
                    "clips_per_s": clips / wall,
                    "video_x": video / wall,
                    "errors": errors,
                    "video_s": video,
                }
                if name == "local":
                    row["worker_cpu_s"] = cpu
                runs[name].append(row)
                extra = ""
                if isinstance(executor, RayExecutor):
                    extra = (
                        f", {len(executor.stats.per_worker)} Ray workers, {executor.stats.index_builds} index builds"
                    )
                print(
                    f"run {r + 1} {name:5s}: {clips} clips ({video:.0f} s of video) in {wall:.1f} s = "
                    f"{clips / wall:.3f} clips/s, {video / wall:.1f}x realtime, {errors} errors{extra} "
                    f"(load at start {load})",
                    flush=True,
                )
        ray.shutdown()
        registry.dispose()
        med = {name: statistics.median(r["wall_s"] for r in rows) for name, rows in runs.items()}
        clips = runs["local"][0]["clips"]
        overhead = med["ray"] / med["local"] - 1
        cpu = statistics.median(r["worker_cpu_s"] for r in runs["local"])
        per_clip = cpu / clips
        video = runs["local"][0]["video_s"]
        print(
            f"median local {clips / med['local']:.3f} clips/s, ray {clips / med['ray']:.3f} clips/s; "
            f"Ray overhead {overhead * 100:+.1f} % (target < {TARGET_OVERHEAD * 100:.0f} %: "
            f"{'met' if overhead < TARGET_OVERHEAD else 'NOT met'})"
        )
        print(
            f"local workers' CPU time: {per_clip:.2f} CPU-s per clip, {cpu / video:.3f} CPU-s per second of "
            f"video ({video / cpu:.1f}x realtime per busy core; load {_load()})"
        )
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "data": args.data,
                        "workers": args.workers,
                        "index": mem,
                        "ray_start_s": ray_start,
                        "runs": runs,
                        "median_wall_s": med,
                        "overhead": overhead,
                        "cpu_s_per_clip": per_clip,
                    },
                    indent=2,
                )
                + "\n"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _store_main(url: str, n: int = 300) -> int:
    """Clip results stored per second by the driver: a clean clip (no layer) and a flagged one (two layers)."""
    import hashlib
    from datetime import date

    from provenance.audit import engine_id, store_clip
    from provenance.engine import EngineParams
    from provenance.report import RefInfo, Terms, render_clip
    from rightsdb import Registry, Scan
    from rightsdb.results import begin_scan

    registry = Registry(url)
    infos = {
        f"w{k}::ref": RefInfo(
            k,
            "footage/ref.mp4",
            "footage",
            f"w{k}",
            "Work",
            "h",
            "Holder",
            "game",
            Terms("deny", None, None, None, None, None, None),
        )
        for k in range(2)
    }
    flagged = {
        "duration_s": 6.0,
        "frames": 12,
        "frame_size": [480, 270],
        "assets": [],
        "error": None,
        "footage": [
            {
                "ref": key,
                "segments": [{"start": 0.0, "end": 6.0, "ref_start": 1.0, "ref_end": 7.0, "speed": 1.0, "score": 0.9}],
                "methods": {"hash": 12},
                "mirrored": False,
                "best_distance": 10,
                "confidence": 0.9,
                "region": None,
            }
            for key in infos
        ],
    }
    clean = {**flagged, "footage": []}
    scan_id = hashlib.sha256(f"store-rate {time.time()}".encode()).hexdigest()[:32]
    begin_scan(registry, scan_id, "/bench", "0" * 64, engine_id(), EngineParams().as_dict(), 2 * n)
    try:
        for name, raw in (("clean", clean), ("flagged", flagged)):
            t0 = time.perf_counter()
            for i in range(n):
                sha = hashlib.sha256(f"{name}{i}".encode()).hexdigest()
                clip = render_clip(f"{name}/{i:05d}.mp4", sha, raw, infos, date(2026, 1, 1), None)
                store_clip(registry, scan_id, clip, f"{sha}:bench", raw, replace_cached=False)
            rate = n / (time.perf_counter() - t0)
            print(
                f"{name:7s} clips stored: {rate:.0f}/s into {registry.url.split('://')[0]} (load {_load()})", flush=True
            )
    finally:
        with registry.write() as session:
            row = session.get(Scan, scan_id)
            if row is not None:
                session.delete(row)  # its results go with it (ON DELETE CASCADE)
        registry.dispose()
    return 0


def _scale_main(copies: list[int], out: Path | None) -> int:
    import multiprocessing

    from provenance.audit import engine_id, ensure_fingerprints
    from provenance.audit.manifests import import_manifest_file
    from provenance.engine import EngineParams
    from rightsdb import Registry

    work = Path(tempfile.mkdtemp(prefix="index-scale-"))
    rows = []
    try:
        url = f"sqlite:///{work / 'registry.db'}"
        registry = Registry(url)
        import_manifest_file(registry, SAMPLE / "registry" / "manifest.yaml")
        ensure_fingerprints(registry, EngineParams())
        registry.dispose()
        print(f"engine {engine_id()}", flush=True)
        for k in copies:
            with multiprocessing.get_context("spawn").Pool(1) as pool:  # a fresh process for each size
                row = pool.apply(_index_scale, (url, k))
            rows.append(row)
            print(
                f"x{k:<4d} {row['frames']:8.0f} reference frames: index +{row['index_rss_mb']:7.1f} MB RSS "
                f"({row['index_rss_mb'] * 2**20 / row['frames']:6.0f} B/frame), built in {row['build_s']:6.2f} s; "
                f"a clean sample clip costs {row['clean_clip_cpu_s']:.2f} CPU-s (load {_load()})",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if out:
        out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
