"""The reference index built in every worker (the baseline: how scans worked before) against the index written
once and opened by memory map (:mod:`provenance.engine.store`), as the registry's footage grows.

    python bench/index_bench.py [--copies 1,8,32] [--clips 24] [--workers 2] [--json OUT]

Registry: the bundled sample's footage references (real Freedoom, Atari and filmed footage, fingerprinted once)
repeated K times under distinct keys, plus its assets; K copies of the same footage are what a catalogue's
size costs the index (rows, bank frames, searches) without K times the fingerprinting. The clips are the
sample dataset's (every category), matched in ``--workers`` spawned processes that each either build the index
from the fingerprints' blobs (as every scan worker did) or open the directory written once.

Per K it prints, for both ways: the time until a worker can match (build or open, and the searches a built
index makes on first use: the hash table, the feature bank's vote search, the asset shortlist), the summed PSS of the
workers after matching (a page shared by the workers counts once in all: what the machine holds), the
directory's size on disk, and the CPU per clip of matching (whose flatness in K is the sub-linear search's).
Every clip's matches are compared between the two ways: they must be identical. The load average is printed:
other processes share the cores.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
for _p in (str(BENCH), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from proctree import own_pss_kb  # noqa: E402

SAMPLE = ROOT / "fixtures" / "sample"


def _payload(work: Path, copies: int) -> list[Any]:
    """The sample registry's index payload with its footage repeated ``copies`` times under distinct keys."""
    from provenance.audit.manifests import import_manifest_file
    from provenance.audit.references import ensure_fingerprints, index_payload
    from provenance.engine import EngineParams
    from rightsdb import Registry

    db = work / "sample.db"
    registry = Registry(f"sqlite:///{db}")
    try:
        import_manifest_file(registry, SAMPLE / "registry" / "manifest.yaml")
        ensure_fingerprints(registry, EngineParams())
        base = index_payload(registry)
    finally:
        registry.dispose()
    out = [item for item in base if item[0] != "footage"]
    for k in range(copies):
        out += [(kind, f"{key}#{k}", layer, data) for kind, key, layer, data in base if kind == "footage"]
    return out


def _worker(mode: str, source: Any, clips: list[str], out: Any) -> None:
    from provenance.audit.indexdir import open_index_dir
    from provenance.audit.references import build_index
    from provenance.engine import EngineParams, one_thread_per_process
    from provenance.engine.match import match_clip

    one_thread_per_process()
    params = EngineParams()
    t0 = time.perf_counter()
    index = build_index(params, source) if mode == "built" else open_index_dir(Path(source), params)
    index.hash_table()  # searches a built index makes on first use: part of being ready
    if len(index.bank):
        index.bank.shortlist(index.bank.reference(0))
    if index.assets:
        index.asset_shortlist()
    ready = time.perf_counter() - t0
    c0 = time.process_time()
    results = [repr(match_clip(Path(c), index)) for c in clips]
    cpu = time.process_time() - c0
    out.put((os.getpid(), ready, cpu, own_pss_kb(), results))


def _run(mode: str, source: Any, clips: list[str], workers: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    parts = [clips[i::workers] for i in range(workers)]
    procs = [ctx.Process(target=_worker, args=(mode, source, part, queue)) for part in parts]
    for p in procs:
        p.start()
    got = [queue.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join()
    results: dict[str, str] = {}
    by_pid = {g[0]: g[4] for g in got}
    for proc, part in zip(procs, parts, strict=True):
        results.update(dict(zip(part, by_pid[proc.pid], strict=True)))
    return {
        "ready_s": max(g[1] for g in got),
        "cpu_per_clip_ms": 1000 * sum(g[2] for g in got) / max(1, len(clips)),
        "pss_mb": sum(g[3] for g in got) / 1024,
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--copies", default="1,8,32", help="footage copies K, comma-separated")
    ap.add_argument("--clips", type=int, default=24, help="sample clips matched (the dataset's, repeated)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    from provenance.audit.indexdir import write_index_dir
    from provenance.engine import EngineParams

    print(f"load average at start: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", flush=True)
    every = sorted(str(p) for p in (SAMPLE / "dataset").rglob("*.mp4"))
    clips = (every * (1 + args.clips // len(every)))[: args.clips]
    work = Path(tempfile.mkdtemp(prefix="index-bench-"))
    rows = []
    try:
        for k in [int(x) for x in args.copies.split(",")]:
            payload = _payload(work, k)
            t0 = time.perf_counter()
            directory = work / f"index-{k}"
            write_index_dir(EngineParams(), payload, directory)
            written = time.perf_counter() - t0
            frames = sum(len(data[0]) // 4 for kind, _, _, data in payload if kind == "footage")
            disk = sum(f.stat().st_size for f in directory.iterdir())
            built = _run("built", payload, clips, args.workers)
            opened = _run("opened", str(directory), clips, args.workers)
            same = sum(built["results"][c] == opened["results"][c] for c in clips)
            row = {
                "copies": k,
                "reference_frames": frames,
                "reference_hours": round(frames / EngineParams().ref_fps / 3600, 2),
                "write_s": round(written, 2),
                "disk_mb": round(disk / 1e6, 1),
                **{f"built_{n}": round(v, 3) for n, v in built.items() if n != "results"},
                **{f"opened_{n}": round(v, 3) for n, v in opened.items() if n != "results"},
                "identical_clips": same,
                "clips": len(clips),
            }
            rows.append(row)
            print(
                f"K={k:3d} ({row['reference_hours']:.2f} h, {frames} frames, {row['disk_mb']} MB on disk, written "
                f"in {written:.1f} s): ready built {built['ready_s']:.2f} s / opened {opened['ready_s']:.2f} s; "
                f"workers' PSS built {built['pss_mb']:.0f} MB / opened {opened['pss_mb']:.0f} MB "
                f"({opened['pss_mb'] / built['pss_mb']:.2f}x); CPU/clip built {built['cpu_per_clip_ms']:.0f} ms / "
                f"opened {opened['cpu_per_clip_ms']:.0f} ms; identical {same}/{len(clips)}",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if all(r["identical_clips"] == r["clips"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
