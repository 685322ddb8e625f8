"""Speed, memory and accuracy of ``provenance scan`` against Meta's real vPDQ, on the same files, runs alternated.

    python bench/speed_bench.py [--corpus short|long] [--workers 2] [--repeat 3] [--limit N] [--json OUT] [--keep]

Corpora (built and cached under ``--cache``, default ``bench/.corpus``):

* ``short`` (default): :mod:`shortclips`, 320 clips of 2-20 s at 360p-1080p (copies, edits, layered streams,
  new gameplay, clean footage), the shape of a video-generation training set;
* ``long``: :mod:`footage720`, ~37 minutes of 720p 30 fps clips (60 s, and one of 5 minutes).

Both use the registry of :mod:`corpus` (10 reference videos, 3 still assets). ``--limit N`` keeps N clips
(short: a seeded sample; long: the first N of its plan).

The two systems, each run in its own subprocess so that its whole process tree is measured
(:mod:`proctree`: wall, CPU seconds, peak PSS):

* **scan**: the product command ``provenance --db sqlite:///COPY scan DATASET --out R --workers N`` on a fresh
  copy of a registry database whose references were fingerprinted beforehand, with no stored clip result;
* **vPDQ**: Meta's C++ vPDQ (:mod:`vpdq_runner`: ``vpdq.computeHash`` at 1 hash a second, quality >= 50,
  distance <= 31, a clip matches a reference when >= 80 % of its hashes match) in N spawned processes of one
  thread each over the same files, against the references' features hashed beforehand.

and, measured once before the rounds, a floor: **decode only** (:mod:`audit_bench`'s decode phase), the frames the
scan samples from the same clips decoded in N processes of one thread and nothing else done with them. What the
scan spends beyond it is matching; its ratio to vPDQ is the part of the gap no matching change can close.

Each of the ``--repeat`` rounds runs both, in alternating order (scan first in odd rounds, vPDQ first in even
ones); the medians are printed. Reference ingest is measured once for each and printed apart: ours is
``registry import`` plus the first scan of an empty folder (which fingerprints the references), vPDQ's is
hashing the reference videos. The ratios printed are scan / vPDQ of wall time with references ready, and with
ingest added to both. Accuracy of both against the corpus's truth uses ``engine_bench``'s scoring: precision,
recall and F1 per (clip, work) pair, segment IoU on the reference timeline, clean clips flagged. The load
average is printed at the start and at the end: other processes share the cores.

Exit status: 0 done, 1 a step failed, 2 ``vpdq`` is not importable (the message says how to install it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
for _p in (str(BENCH), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from proctree import BenchError, Run, load_averages, machine, measure  # noqa: E402

TARGET = 1.0  # issue 16: scan wall <= vPDQ wall
AIM = 0.5


@dataclass
class Dataset:
    """The clips measured (a folder of links, POSIX paths relative to it) with their truth."""

    name: str
    dataset: Path
    rels: list[str]
    seconds: float
    truth: dict[str, list[dict[str, Any]]]
    categories: dict[str, str]
    kinds: dict[str, str]
    manifest: Path
    describe: str


def _link_all(src_root: Path, rels: list[str], dst_root: Path) -> None:
    for rel in rels:
        src, dst = (src_root / rel).resolve(), dst_root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            dst.symlink_to(src)


def sample_options(ap: argparse.ArgumentParser, kept: str) -> None:
    """The options of a benchmark that scans a seeded sample of the short corpus (what :func:`short_dataset` reads,
    and the scan's workers, the figures' JSON, the work folder kept); ``kept``: what ``--cache`` also holds."""
    ap.add_argument("--limit", type=int, default=80, help="clips of the short corpus (a seeded sample)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--clips", type=int, default=320, help="clips in the short corpus (a different corpus)")
    ap.add_argument("--cache", type=Path, default=BENCH / ".corpus", help=f"where corpora and {kept} are kept")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")


def short_dataset(args: argparse.Namespace, work: Path) -> Dataset:
    import numpy as np
    import shortclips

    t0 = time.perf_counter()
    truth_path = shortclips.build_default(args.cache, seed=args.seed, clips=args.clips, workers=args.workers)
    doc = json.loads(truth_path.read_text(encoding="utf-8"))
    rels = sorted(doc["clips"])
    if args.limit is not None and args.limit < len(rels):
        rng = np.random.default_rng([args.seed, 7])
        rels = sorted(rels[i] for i in rng.permutation(len(rels))[: args.limit])
    root = truth_path.parent
    _link_all(root / doc["dataset"], rels, work / "dataset")
    info = doc["clip_info"]
    heights: dict[int, int] = {}
    for r in rels:
        heights[info[r]["height"]] = heights.get(info[r]["height"], 0) + 1
    seconds = sum(info[r]["seconds"] for r in rels)
    describe = (
        f"short clips {root}: {len(rels)} clips, {seconds / 60:.1f} min ({seconds / len(rels):.1f} s a clip on "
        f"average), heights {dict(sorted(heights.items()))} (ready in {time.perf_counter() - t0:.1f} s)"
    )
    return Dataset(
        "short",
        work / "dataset",
        rels,
        seconds,
        {r: doc["clips"][r] for r in rels},
        {r: doc["categories"][r] for r in rels},
        doc["kinds"],
        (root / doc["registry"]).resolve(),
        describe,
    )


def long_dataset(args: argparse.Namespace, work: Path) -> Dataset:
    import corpus
    import footage720

    t0 = time.perf_counter()
    truth_path = corpus.build(args.cache / f"seed{args.seed}-x1", seed=args.seed, scale=1)
    out = args.cache / f"footage720-seed{args.seed}"
    # --limit N: the plan's first N clips (60 s each), and only those are written if missing
    limit_s = None if args.limit is None else 60.0 * args.limit
    built = footage720.build(out, truth_path, seed=args.seed, workers=args.workers, limit_s=limit_s)
    index = json.loads(built.read_text("utf-8"))
    rels = footage720.select(index, limit_s)[: args.limit]
    names = sorted(Path(r).name for r in rels)
    _link_all(out / "dataset", names, work / "dataset")
    clips = {Path(r).name: index["clips"][r] for r in rels}
    seconds = sum(c["duration_s"] for c in clips.values())
    s = index["settings"]
    describe = (
        f"720p footage {out}: {len(names)} clips, {seconds / 60:.1f} min of {s['width']}x{s['height']} at "
        f"{s['fps']} fps (ready in {time.perf_counter() - t0:.1f} s)"
    )
    return Dataset(
        "long",
        work / "dataset",
        names,
        seconds,
        {n: c["truth"] for n, c in clips.items()},
        {n: f"long_{c['mix']}" for n, c in clips.items()},
        {"long_mixed": "mixed", "long_clean": "clean"},
        (out / index["registry"]).resolve(),
        describe,
    )


# ---------------------------------------------------------------------------------------------------------
# the benchmark
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Results:
    scan: list[Run] = field(default_factory=list)
    vpdq: list[Run] = field(default_factory=list)
    ingest_scan: list[Run] = field(default_factory=list)  # registry import, first scan of an empty folder
    ingest_vpdq: Run | None = None
    floor: Run | None = None  # decode only: the frames the scan samples (audit_bench's decode phase)
    scan_layers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    vpdq_layers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    scan_errors: dict[str, str] = field(default_factory=dict)
    stored: int = 0
    order: list[str] = field(default_factory=list)


def step(what: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')} {what} (load {os.getloadavg()[0]:.2f})", flush=True)


def run_bench(args: argparse.Namespace, ds: Dataset, work: Path) -> Results:
    import vpdq_runner
    from audit_bench import copy_db, phase_cmd, provenance_exe, stored_results

    exe = provenance_exe()
    w = str(args.workers)
    files = [str(ds.dataset / r) for r in ds.rels]
    res = Results()
    fp_db = work / "fingerprinted.db"
    url = f"sqlite:///{fp_db}"

    step("reference ingest, provenance: registry import")
    res.ingest_scan.append(
        measure(
            [exe, "--db", url, "registry", "import", str(ds.manifest)], work / "import.log", "registry import", ROOT
        )
    )
    (work / "empty").mkdir()
    step("reference ingest, provenance: first scan of an empty folder (fingerprints the references)")
    res.ingest_scan.append(
        measure(
            [exe, "--db", url, "scan", str(work / "empty"), "--out", str(work / "empty.json"), "--workers", w],
            work / "ingest-scan.log",
            "reference fingerprinting",
            ROOT,
        )
    )
    refs = work / "vpdq-refs.pickle"
    step("reference ingest, vPDQ: hashing the reference videos")
    job = {
        "manifest": str(ds.manifest),
        "workers": args.workers,
        "refs": str(refs),
        "result": str(work / "r.json"),
        "seconds_per_hash": 0.0 if args.vpdq_every_ref_frame else vpdq_runner.SECONDS_PER_HASH,
    }
    res.ingest_vpdq = measure(
        vpdq_runner.command("refs", job, work / "vpdq-refs.job.json"),
        work / "vpdq-refs.log",
        "vPDQ reference hashing",
        ROOT,
    )

    step("decode floor: the frames the scan samples, decoded and nothing else (measured once)")
    floor_job = {"files": files, "workers": args.workers, "result": str(work / "floor.json")}
    res.floor = measure(phase_cmd("decode", floor_job, work, "floor"), work / "floor.log", "decode floor", ROOT)

    def scan(k: int) -> None:
        db = work / f"scan-{k}.db"
        copy_db(fp_db, db, with_index=True)  # references ready: their prints and their index
        if stored_results(db):
            raise BenchError(f"{db}: the copied database already holds clip results: the scan would reuse them")
        report = work / f"report-{k}.json"
        cmd = [exe, "--db", f"sqlite:///{db}", "scan", str(ds.dataset), "--out", str(report), "--workers", w]
        res.scan.append(measure(cmd, work / f"scan-{k}.log", "scan", ROOT))
        doc = json.loads(report.read_text(encoding="utf-8"))
        res.scan_layers = {c["path"]: c["layers"] for c in doc["clips"]}
        res.scan_errors = {c["path"]: c["error"] for c in doc["clips"] if c["error"]}
        res.stored = stored_results(db)
        db.unlink()

    def vpdq(k: int) -> None:
        result = work / f"vpdq-{k}.json"
        job = {"files": files, "rels": ds.rels, "refs": str(refs), "workers": args.workers, "result": str(result)}
        cmd = vpdq_runner.command("clips", job, work / f"vpdq-{k}.job.json")
        res.vpdq.append(measure(cmd, work / f"vpdq-{k}.log", "vPDQ", ROOT))
        res.vpdq_layers = json.loads(result.read_text(encoding="utf-8"))["clips"]

    for k in range(args.repeat):
        order = [("scan", scan), ("vPDQ", vpdq)]
        if k % 2:
            order.reverse()
        for name, fn in order:
            step(f"round {k + 1}/{args.repeat}: {name}")
            fn(k)
            res.order.append(name)
            last = (res.scan if name == "scan" else res.vpdq)[-1]
            print(f"           {name}: {last.wall_s:.1f} s wall, {last.cpu_s:.1f} s CPU", flush=True)
    return res


# ---------------------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------------------


def _median(runs: list[Run]) -> dict[str, Any]:
    return {
        "wall_s": statistics.median(r.wall_s for r in runs),
        "cpu_s": statistics.median(r.cpu_s for r in runs),
        "peak_mb": statistics.median(r.peak_mb for r in runs),
        "memory": runs[0].memory,
        "runs": [asdict(r) for r in runs],
    }


def _sum(runs: list[Run]) -> dict[str, Any]:
    return {
        "wall_s": sum(r.wall_s for r in runs),
        "cpu_s": sum(r.cpu_s for r in runs),
        "peak_mb": max(r.peak_mb for r in runs),
        "memory": runs[0].memory,
        "runs": [asdict(r) for r in runs],
    }


def accuracy(ds: Dataset, layers: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    import engine_bench

    truth = {"clips": ds.truth, "categories": ds.categories, "kinds": ds.kinds}
    per = engine_bench.tally(truth, layers)
    s = engine_bench.summary(truth, per)
    total = engine_bench.Tally()
    by_kind: dict[str, Any] = {}
    for cat, t in per.items():
        total.add(t)
        by_kind.setdefault(ds.kinds[cat], engine_bench.Tally()).add(t)
    s.update(
        tp=total.tp,
        fp=total.fp,
        fn=total.fn,
        iou_all=total.iou_all(),
        iou_found=total.iou_found(),
        iou_placed=total.iou_placed(),
        per_kind={
            k: {"clips": t.clips, "precision": t.precision, "recall": t.recall, "f1": t.f1, "flagged": t.flagged}
            for k, t in by_kind.items()
        },
    )
    return s


def figures(ds: Dataset, res: Results) -> dict[str, Any]:
    rows = {"scan": _median(res.scan), "vpdq": _median(res.vpdq)}
    for row in rows.values():
        row["ms_per_clip"] = 1000 * row["wall_s"] / len(ds.rels)
        row["x_realtime"] = ds.seconds / row["wall_s"]
    ingest = {"scan": _sum(res.ingest_scan), "vpdq": _median([res.ingest_vpdq] if res.ingest_vpdq else [])}
    ratio = rows["scan"]["wall_s"] / rows["vpdq"]["wall_s"]
    with_ingest = (rows["scan"]["wall_s"] + ingest["scan"]["wall_s"]) / (
        rows["vpdq"]["wall_s"] + ingest["vpdq"]["wall_s"]
    )
    return {
        "rows": rows,
        "ingest": ingest,
        "ratio_wall": ratio,
        "ratio_cpu": rows["scan"]["cpu_s"] / rows["vpdq"]["cpu_s"],
        "ratio_peak": rows["scan"]["peak_mb"] / rows["vpdq"]["peak_mb"],
        "ratio_wall_with_ingest": with_ingest,
        "decode_floor": None if res.floor is None else asdict(res.floor),
        "accuracy": {"scan": accuracy(ds, res.scan_layers), "vpdq": accuracy(ds, res.vpdq_layers)},
    }


def _f(x: float | None) -> str:
    return "   -" if x is None else f"{x:4.2f}"


def print_figures(args: argparse.Namespace, ds: Dataset, fig: dict[str, Any], res: Results) -> None:
    import vpdq_runner

    mem = fig["rows"]["scan"]["memory"].upper()
    names = {
        "scan": f"provenance scan --workers {args.workers}",
        "vpdq": f"vPDQ (Meta's C++ vpdq), {args.workers} procs x 1 thread"
        + (", every ref frame" if args.vpdq_every_ref_frame else ""),
    }
    print()
    print(f"{len(ds.rels)} clips, {ds.seconds / 60:.1f} min of video; medians of {args.repeat} alternated runs")
    floor_name = "decode only (the frames the scan samples; once)"
    n = max(42, len(floor_name) + 1, *(len(name) + 1 for name in names.values()))
    head = f"{'':<{n}}{'wall s':>8}{'CPU s':>8}{'ms/clip':>9}{'x realtime':>11}{'peak MB ' + mem:>14}"
    print(head)
    for key, name in names.items():
        r = fig["rows"][key]
        print(
            f"{name:<{n}}{r['wall_s']:>8.1f}{r['cpu_s']:>8.1f}{r['ms_per_clip']:>9.0f}{r['x_realtime']:>11.1f}"
            f"{r['peak_mb']:>14.0f}"
        )
    verdict = "ok" if fig["ratio_wall"] <= TARGET else "MISSED"
    print(
        f"{'scan / vPDQ':<{n}}{fig['ratio_wall']:>8.2f}{fig['ratio_cpu']:>8.2f}{'':>20}{fig['ratio_peak']:>14.2f}"
        f"   (wall: target <= {TARGET}, aim {AIM}: {verdict})"
    )
    walls = {k: ", ".join(f"{r.wall_s:.1f}" for r in getattr(res, k)) for k in ("scan", "vpdq")}
    if res.floor is not None:
        f = res.floor
        print(
            f"{floor_name:<{n}}{f.wall_s:>8.1f}{f.cpu_s:>8.1f}"
            f"{1000 * f.wall_s / len(ds.rels):>9.0f}{ds.seconds / f.wall_s:>11.1f}{f.peak_mb:>14.0f}"
        )
        v = fig["rows"]["vpdq"]
        print(
            f"{'decode only / vPDQ':<{n}}{f.wall_s / v['wall_s']:>8.2f}{f.cpu_s / v['cpu_s']:>8.2f}"
            f"   (the scan's matching is the rest: {fig['rows']['scan']['cpu_s'] - f.cpu_s:.1f} s CPU)"
        )
    print(f"every run, wall s: scan [{walls['scan']}], vPDQ [{walls['vpdq']}]; order {' -> '.join(res.order)}")
    print()
    print("reference ingest (once each; not in the rows above)")
    ing = fig["ingest"]
    parts = " + ".join(f"{r['wall_s']:.1f}" for r in ing["scan"]["runs"])
    print(
        f"  provenance: registry import + first scan of an empty folder  {ing['scan']['wall_s']:7.1f} s wall "
        f"({parts}), {ing['scan']['cpu_s']:7.1f} s CPU, peak {ing['scan']['peak_mb']:.0f} MB"
    )
    print(
        f"  vPDQ: hashing the reference videos                            {ing['vpdq']['wall_s']:7.1f} s wall, "
        f"          {ing['vpdq']['cpu_s']:7.1f} s CPU, peak {ing['vpdq']['peak_mb']:.0f} MB"
    )
    print(f"  scan / vPDQ including reference ingest: {fig['ratio_wall_with_ingest']:.2f}")
    print()
    print("accuracy per (clip, work) pair against the truth (engine_bench scoring)")
    for key, name in (("scan", "provenance scan"), ("vpdq", "vPDQ")):
        a = fig["accuracy"][key]
        print(
            f"  {name:<16} P {a['precision']:.3f}  R {a['recall']:.3f}  F1 {a['f1']:.3f}  (tp {a['tp']}, fp {a['fp']}, "
            f"fn {a['fn']})  segment IoU all {_f(a['iou_all'])} / found {_f(a['iou_found'])} / each occurrence "
            f"{_f(a['iou_placed'])}  "
            f"clean clips flagged {a['clean_flagged']}/{a['clean_clips']}"
        )
    order = ("copy", "stream", "ugc", "new", "mixed", "clean")
    kinds = sorted(fig["accuracy"]["scan"]["per_kind"], key=lambda k: order.index(k) if k in order else len(order))
    clips = fig["accuracy"]["scan"]["per_kind"]
    print("  per kind (clips): " + ", ".join(f"{k} ({clips[k]['clips']})" for k in kinds) + "; F1 (clean: flagged)")
    for key, name in (("scan", "provenance scan"), ("vpdq", "vPDQ")):
        pk = fig["accuracy"][key]["per_kind"]
        cells = [
            f"{k} {pk[k]['flagged']}/{pk[k]['clips']}" if k == "clean" else f"{k} {pk[k]['f1']:.2f}" for k in kinds
        ]
        print(f"  {name:<16} " + "  ".join(cells))
    import engine_bench

    truth = {"clips": ds.truth}
    engine_bench.print_reliability("  provenance scan", engine_bench.reliability(truth, res.scan_layers))
    if res.scan_errors:
        print(f"scan errors ({len(res.scan_errors)}): {res.scan_errors}")
    print(f"the last scan stored {res.stored} clip results (its database had none before)")
    dense = "; references hashed at EVERY frame (--vpdq-every-ref-frame)" if args.vpdq_every_ref_frame else ""
    print(f"recipe of the vPDQ row: {vpdq_runner.LABEL}; matching in numpy{dense}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--corpus", choices=["short", "long"], default="short")
    ap.add_argument("--workers", type=int, default=2, help="processes of the scan and of vPDQ")
    ap.add_argument("--repeat", type=int, default=3, help="alternated runs of each; medians are printed")
    ap.add_argument("--limit", type=int, help="measure only this many clips")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--clips", type=int, default=320, help="clips in the short corpus (a different corpus)")
    ap.add_argument("--cache", type=Path, default=BENCH / ".corpus", help="where the corpora are built and kept")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (databases, reports, logs)")
    ap.add_argument(
        "--vpdq-every-ref-frame",
        action="store_true",
        help="vPDQ hashes every reference frame (not the published recipe: its most favourable setting)",
    )
    args = ap.parse_args(argv)
    for name, value in (("--workers", args.workers), ("--repeat", args.repeat), ("--limit", args.limit)):
        if value is not None and value < 1:
            ap.error(f"{name} must be positive")

    import vpdq_runner

    why = vpdq_runner.missing()
    if why:
        print(f"error: {why}", file=sys.stderr)
        return 2

    t_start = time.perf_counter()
    start_load = load_averages()
    print(f"at start: {start_load}; {machine()}", flush=True)
    (BENCH / "out").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="speed-bench-", dir=BENCH / "out"))
    try:
        ds = short_dataset(args, work) if args.corpus == "short" else long_dataset(args, work)
        print(ds.describe, flush=True)
        if time.perf_counter() - t_start > 60:  # the corpus was built: the load may have changed since
            print(f"before measuring: {load_averages()}", flush=True)
        res = run_bench(args, ds, work)
        fig = figures(ds, res)
        print_figures(args, ds, fig, res)
        end_load = load_averages()
        print(f"at start: {start_load}")
        print(f"at end:   {end_load}")
        if args.json:
            payload = {
                "corpus": args.corpus,
                "describe": ds.describe,
                "clips": len(ds.rels),
                "video_s": ds.seconds,
                "workers": args.workers,
                "repeat": args.repeat,
                "load_start": start_load,
                "load_end": end_load,
                "order": res.order,
                **fig,
                "vpdq_recipe": vpdq_runner.LABEL,
                "vpdq_every_ref_frame": args.vpdq_every_ref_frame,
                "scan_clips": res.scan_layers,
                "vpdq_clips": res.vpdq_layers,
            }
            tmp = args.json.with_name(args.json.name + ".partial")
            tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
            os.replace(tmp, args.json)
    except (BenchError, subprocess.SubprocessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
