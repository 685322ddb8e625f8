"""Cost and accuracy of a scan as the registry grows in registered stills (assets), on the same clips.

    python bench/scale_bench.py [--assets 0,100,1000] [--limit 80] [--workers 2] [--json OUT] [--keep]
    python bench/scale_bench.py --hours 0,1,10 [--memory-limits 2048,1024,768] [--limit 80] ...

The registry is the short-clip corpus's (:mod:`shortclips`: 10 reference videos, 3 real assets: the Freedoom
HUD and two streamer overlays) plus N distractor assets, each its own work of a holder ``distractors``:
half streamer overlays drawn from the same template as the corpus's registered ones in other colours, names
and seeds (``fixtures.footage.make_overlay_png``: the hardest look-alikes for the real overlays), half
logos (``make_logo_png``). They are synthetic: the asset images are drawn here, the clips and the real
assets are the corpus's (real Freedoom and Atari footage, filmed clips). None of the distractors is in any
clip, so every finding of one is a false positive, and a clean clip that holds one is flagged.

Per N it prints:

* ``registry import`` of the N distractors (wall);
* **index**: in one process, the time to read the registry and build the reference index (footage prints and
  every asset's detector), its memory (the process's resident peak, less the interpreter's after imports),
  and CPU per clip of the engine alone for clean clips and for clips that hold a registered work; then what a
  scan's worker does instead: the index directory written once for the registry's state (built again, then
  written), the time to open it (every asset's detector and the shortlist read by memory map, not built), and
  on how many clips the opened index's matches are the built one's (all of them, or the opened one is wrong);
* **scan**: ``provenance scan --workers N`` of the same clips (:mod:`proctree`: wall, CPU, peak PSS of its
  process tree), and its accuracy (``engine_bench`` scoring: precision, recall, clean clips flagged).

``--limit N`` keeps a seeded sample of N clips of the corpus (all categories). The load average is printed:
other processes share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
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

import catalogue  # noqa: E402
from proctree import BenchError, load_averages, machine, measure  # noqa: E402

HOLDER = "distractors"


def write_distractors(folder: Path, n: int, seed: int) -> list[str]:
    """``n`` distractor PNGs (overlays and logos, alternating), written once; their paths relative to
    ``folder``'s parent."""
    import numpy as np
    from PIL import Image

    from fixtures import footage as F

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 41])
    names = ["Live", "Plays", "TV", "Gaming", "Stream", "Arcade", "Retro", "Speedruns"]
    out: list[str] = []
    for i in range(n):
        path = folder / f"d{i:05d}.png"
        if not path.exists():
            if i % 2 == 0:
                title = f"{chr(65 + int(rng.integers(26)))}{int(rng.integers(1000))} {names[int(rng.integers(8))]}"
                img = F.make_overlay_png(None, (640, 360), 50_000 + seed * 10_000 + i, title)
            else:
                img = F.make_logo_png(None, int(rng.integers(64, 192)), 90_000 + seed * 10_000 + i, f"X{i}")
            tmp = path.with_suffix(".tmp.png")
            Image.fromarray(img).save(tmp)
            os.replace(tmp, path)
        out.append(f"{folder.name}/{path.name}")
    return out


def distractor_manifest(path: Path, rels: list[str]) -> None:
    lines = ["holders:", f"  - {{id: {HOLDER}, name: Distractor assets, kind: other}}", "works:"]
    for i, rel in enumerate(rels):
        lines += [
            f"  - id: distractor-{i:05d}",
            f"    title: Distractor {i}",
            f"    holder: {HOLDER}",
            f"    layer: {'stream' if i % 2 == 0 else 'other'}",
            "    policy: {ai_training: deny}",
            f"    references: [{{path: {rel}, kind: asset}}]",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def phase_index(job: dict[str, Any]) -> None:
    """In this process: build the index from the registry, then time the engine on each clip."""
    from provenance.audit.indexdir import open_index_dir, write_index_dir
    from provenance.audit.references import index_payload, load_index
    from provenance.engine import EngineParams, match_clip
    from provenance.engine.sampling import one_thread_per_process
    from rightsdb import Registry

    one_thread_per_process()
    base = _hwm_mb()
    reg = Registry(job["url"], create=False)
    t0, c0 = time.perf_counter(), time.process_time()
    index, _ = load_index(reg, EngineParams())
    index.asset_shortlist()  # built on first use in a scan: counted with the index here
    open_s, open_cpu = time.perf_counter() - t0, time.process_time() - c0
    index_mb = _hwm_mb() - base
    # what a scan's worker does instead: open the index directory written once for this state of the registry
    directory = Path(job["index_dir"])
    t0 = time.perf_counter()
    write_index_dir(EngineParams(), index_payload(reg), directory)
    write_s = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    opened = open_index_dir(directory, EngineParams())
    opened.asset_shortlist()
    dir_s, dir_cpu = time.perf_counter() - t0, time.process_time() - c0
    per: dict[str, list[float]] = {"clean": [], "match": []}
    same = 0
    for path, kind in job["clips"]:
        c = time.process_time()
        built = match_clip(Path(path), index)
        per[kind].append(time.process_time() - c)
        same += repr(built) == repr(match_clip(Path(path), opened))
    result = {
        "open_s": open_s,
        "open_cpu_s": open_cpu,
        "dir_write_s": write_s,
        "dir_open_s": dir_s,
        "dir_open_cpu_s": dir_cpu,
        "dir_same": same,
        "index_mb": index_mb,
        "assets": index.asset_count,
        "shortlist_descriptors": index.asset_shortlist().stored,
        "cpu_per_clip": {k: statistics.median(v) if v else None for k, v in per.items()},
        "cpu_mean_per_clip": {k: statistics.fmean(v) if v else None for k, v in per.items()},
    }
    Path(job["result"]).write_text(json.dumps(result), encoding="utf-8")


def _hwm_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    import speed_bench
    from audit_bench import copy_db, provenance_exe

    exe = provenance_exe()
    ds = speed_bench.short_dataset(args, work)
    print(ds.describe, flush=True)
    sizes = sorted({int(x) for x in args.assets.split(",")})
    rels = write_distractors(args.cache / f"distractors-seed{args.seed}", max(sizes), args.seed)
    fp_db = work / "fingerprinted.db"
    url = f"sqlite:///{fp_db}"
    speed_bench.step("registry import and reference fingerprints (the corpus's registry)")
    measure([exe, "--db", url, "registry", "import", str(ds.manifest)], work / "import.log", "registry import", ROOT)
    fingerprint = [exe, "--db", url, "registry", "fingerprint", "-j", str(args.workers)]
    measure(fingerprint, work / "fp.log", "reference fingerprinting", ROOT)
    clips = [
        (str(ds.dataset / r), "clean" if not ds.truth[r] else "match") for r in ds.rels
    ]  # the engine alone, per clip
    rows = []
    for n in sizes:
        db = work / f"registry-{n}.db"
        copy_db(fp_db, db)
        u = f"sqlite:///{db}"
        row: dict[str, Any] = {"assets_added": n}
        if n:
            manifest = args.cache / f"distractors-seed{args.seed}-{n}.yaml"
            distractor_manifest(manifest, rels[:n])
            speed_bench.step(f"{n} assets: registry import")
            imp = measure([exe, "--db", u, "registry", "import", str(manifest)], work / f"imp-{n}.log", "import", ROOT)
            row["import_s"] = imp.wall_s
        speed_bench.step(f"{n} assets: index and engine per clip (one process)")
        job = {"url": u, "clips": clips, "result": str(work / f"index-{n}.json"), "index_dir": str(work / f"dir-{n}")}
        jp = work / f"index-{n}.job.json"
        jp.write_text(json.dumps(job), encoding="utf-8")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", "index", "--job", str(jp)]
        measure(cmd, work / f"index-{n}.log", "index phase", ROOT)
        row["index"] = json.loads(Path(job["result"]).read_text(encoding="utf-8"))
        speed_bench.step(f"{n} assets: provenance scan --workers {args.workers}")
        found = catalogue.scan_row(exe, u, ds, work, str(n), args.workers, HOLDER)
        row["scan"], row["accuracy"], row["distractor_findings"] = found
        rows.append(row)
        db.unlink()
        _print_row(row, len(ds.rels))
    return rows


def _f(x: float | None, fmt: str = "{:.3f}") -> str:
    return "-" if x is None else fmt.format(x)


def _print_row(row: dict[str, Any], clips: int) -> None:
    ix, sc, acc = row["index"], row["scan"], row["accuracy"]
    print(
        f"  +{row['assets_added']:>5} assets ({ix['assets']} in all, {ix['shortlist_descriptors']} shortlist "
        f"descriptors): index built {ix['open_s']:.1f} s ({ix['open_cpu_s']:.1f} s CPU), {ix['index_mb']:.0f} MB; "
        f"directory written once {ix['dir_write_s']:.1f} s, opened {ix['dir_open_s']:.2f} s "
        f"({ix['dir_open_cpu_s']:.2f} s CPU), same matches as built on {ix['dir_same']}/{clips} clips; "
        f"engine CPU a clip (median) clean {_f(ix['cpu_per_clip']['clean'])} s, matching "
        f"{_f(ix['cpu_per_clip']['match'])} s | scan {sc['wall_s']:.1f} s wall, {sc['cpu_s']:.1f} s CPU, "
        f"{sc['peak_mb']:.0f} MB {sc['memory']} ({1000 * sc['wall_s'] / clips:.0f} ms a clip) | P "
        f"{acc['precision']:.3f} R {acc['recall']:.3f} clean flagged {acc['clean_flagged']}, distractor "
        f"findings {row['distractor_findings']}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    import speed_bench

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--assets", default="0,100,1000", help="distractor assets added, comma-separated sizes")
    speed_bench.sample_options(ap, "distractors")
    ap.add_argument(
        "--hours",
        help="instead of assets: registries of these hours of reference footage, comma-separated (real prints and "
        "perturbed copies of them: bench/catalogue.py)",
    )
    ap.add_argument(
        "--memory-limits",
        help="with --hours: the scan again, cold, with its memory capped at each of these MB, page cache included "
        "(a control group of its own: needs root; bench/memcap.py)",
    )
    ap.add_argument("--phase", choices=["index", "engine"], help=argparse.SUPPRESS)
    ap.add_argument("--job", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.phase == "index":
        phase_index(json.loads(args.job.read_text(encoding="utf-8")))
        return 0
    if args.phase == "engine":
        catalogue.phase_engine(json.loads(args.job.read_text(encoding="utf-8")))
        return 0
    print(f"load average at start: {load_averages()}; {machine()}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    try:
        rows = catalogue.run(args, work, Path(__file__).resolve()) if args.hours else run(args, work)
    except BenchError as exc:
        print(f"scale_bench: {exc} (work folder {work})", file=sys.stderr)
        return 1
    print(f"load average at end: {load_averages()}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "limit": args.limit}, indent=2) + "\n", encoding="utf-8")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"work folder kept: {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
