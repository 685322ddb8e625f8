"""Whole-scan speed and memory benchmark: the product's scan against decoding alone and Meta's real vPDQ.

    python bench/audit_bench.py [--workers 2] [--limit-minutes M] [--repeat N] [--json OUT] [--keep]

On >= 30 minutes of 720p H.264 footage (:mod:`footage720`, built from the seeded corpus and cached under
``bench/.corpus``) it runs, each in its own subprocess so that its whole process tree can be measured:

* **decode-only**: ``provenance.engine.decode_only(path, params)`` over every file (the frames a scan
  samples, decoded the way the scan decodes them, nothing else), files spread over ``--workers`` spawned
  processes. The floor a scan can reach;
* **scan**: the product command, ``provenance --db sqlite:///... scan DIR --out ... --workers N``, on a copy
  of a registry database whose reference fingerprints were computed beforehand (``registry import`` then
  a scan of an empty folder: timed apart as "reference fingerprinting"), so every timed scan starts
  with fingerprinted references and without any stored per-clip result;
* **vPDQ**: Meta's C++ vPDQ with its published recipe (:mod:`vpdq_runner`: ``vpdq.computeHash`` at 1 hash a
  second, quality >= 50, distance <= 31, a clip matches a reference when >= 80 % of its hashes match) over the
  same files in as many spawned processes of one thread each; the references' hashes are computed once
  beforehand, timed apart. Needs ``vpdq`` (``pip install -e '.[bench]'``, see :mod:`vpdq_runner` for the apt
  packages); without it the benchmark stops with exit status 2 unless ``--skip-vpdq``.

Wall time is the subprocess's, start to exit (interpreter start, imports and worker start-up included, as a
user would wait); CPU time is the user + system time of its whole process tree. Peak memory is the largest sum
of PSS (else RSS) over the subprocess and all its descendants, sampled every 0.5 s with psutil
(:mod:`proctree`). It prints wall seconds, CPU seconds, x realtime (seconds of video per wall second; also
hours of video per hour, the same number), peak MB, the ratios the engine aims at (scan / decode-only <= 1.5,
scan / vPDQ <= 1, peak of the scan < 1536 MB with 2 workers), the scan's findings summary and both systems'
findings against the truth of the footage, per (clip, work) pair. ``bench/speed_bench.py --corpus long``
measures the same footage with alternated runs; this one adds the decode-only floor.

``--audio``: the audio path's cost on this footage. The footage has no sound, so each clip is copied with a
soundtrack (its video packets as they are; :mod:`soundtrack`: game music, registered in one clip in three,
under a streamer's commentary) and the registry gets a label's songs (``kind: audio``); every row is then
measured on those copies, and the scan is run a second time with ``--no-audio`` (the picture only), the two
alternated in each round (which goes first alternates too). It prints the median of each, how much audio
matching adds to the scan's wall time (the issue's budget: <= 20 %) and its share of it, with the load
average at each step. Needs Debian's ``frozen-bubble-data`` and ``espeak-ng``.

Other agents share this machine's cores: a load average above 0.5 at the start is reported, since the
figures are then slower than the machine can do. ``--repeat N`` takes the median of N runs of each;
``--skip-decode`` leaves the decode-only row out.
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
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Only light imports at module level: the spawned workers of the phases import this module again.

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
for _p in (str(BENCH), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import proctree  # noqa: E402
import vpdq_runner  # noqa: E402
from proctree import BenchError, Run  # noqa: E402

TARGET_SCAN_OVER_DECODE = 1.5
TARGET_SCAN_OVER_VPDQ = 1.0
TARGET_PEAK_MB = 1536.0
DECODE_ROW = "decode-only (floor: the scan's frames decoded)"
SCAN_ROW = "provenance scan"
NO_AUDIO_ROW = "provenance scan --no-audio"
TARGET_AUDIO_ADDS = 0.20
VPDQ_ROW = "vPDQ (Meta's C++ vpdq)"
LOAD_WARNING = 0.5


def measure(cmd: Sequence[str], log_path: Path, what: str) -> Run:
    """Run ``cmd`` from the repository's root to completion (:func:`proctree.measure`)."""
    return proctree.measure(cmd, log_path, what, ROOT)


# ---------------------------------------------------------------------------------------------------------
# the phases run in subprocesses (python bench/audit_bench.py --phase ...)
# ---------------------------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _decode_fn() -> tuple[Callable[..., int], str]:
    """``provenance.engine.decode_only``: the frames a scan's worker decodes, decoded as it decodes them (one
    thread, the non-reference frames no sample takes left undecoded).

    An import, not a lookup with a stand-in: a stand-in that decoded otherwise (threaded, every frame) once
    measured this floor at 0.9 of vPDQ where the scan's own decoding was 0.6 of it.
    """
    from provenance.engine import decode_only

    return decode_only, "provenance.engine.decode_only"


def _decode_worker_init() -> None:
    from provenance.engine import EngineParams, one_thread_per_process

    one_thread_per_process()  # as the scan's workers decode

    _WORKER["fn"], _ = _decode_fn()
    _WORKER["params"] = EngineParams()


def _decode_file(path: str) -> int:
    return int(_WORKER["fn"](path, _WORKER["params"]))


def _pool(workers: int, initializer: Callable[..., None], initargs: tuple[Any, ...] = ()) -> Any:
    """Spawned processes, as the scan's (no fork: decoders keep threads)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=initializer, initargs=initargs
    )


def _ordered(pool: Any, fn: Callable[..., Any], jobs: list[tuple[Any, ...]]) -> list[Any]:
    """Results of ``fn(*job)`` for every job, in job order; submitted all at once, the largest file (a job's
    last argument) first, as the scan submits its clips."""
    order = sorted(range(len(jobs)), key=lambda i: -os.path.getsize(jobs[i][-1]))
    futures = {i: pool.submit(fn, *jobs[i]) for i in order}
    return [futures[i].result() for i in range(len(jobs))]


def phase_decode(files: list[str], workers: int) -> dict[str, Any]:
    _, which = _decode_fn()
    with _pool(workers, _decode_worker_init) as pool:
        frames = _ordered(pool, _decode_file, [(f,) for f in files])
    return {"frames": sum(frames), "decode_only": which}


def run_phase(args: argparse.Namespace) -> int:
    """Entry point of a phase subprocess: reads its job file, writes its result file."""
    job = json.loads(Path(args.job).read_text(encoding="utf-8"))
    result = phase_decode(job["files"], job["workers"])
    Path(job["result"]).write_text(json.dumps(result) + "\n", encoding="utf-8")
    return 0


# ---------------------------------------------------------------------------------------------------------
# the benchmark
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Footage:
    """The clips measured: a folder of links, in scan order, with their truth."""

    dataset: Path
    rels: list[str]
    seconds: float
    truth: dict[str, list[dict[str, Any]]]
    mix: dict[str, str]
    manifest: Path
    durations: dict[str, float]  # seconds of each clip
    sound_manifest: Path | None = None  # --audio: the songs, imported after ``manifest``


def prepare_footage(args: argparse.Namespace, work: Path) -> Footage:
    import corpus
    import footage720

    t0 = time.perf_counter()
    truth_path = corpus.build(args.corpus / f"seed{args.seed}-x1", seed=args.seed, scale=1)
    out = args.corpus / f"footage720-seed{args.seed}"
    limit = None if args.limit_minutes is None else args.limit_minutes * 60
    index = json.loads(
        footage720.build(out, truth_path, seed=args.seed, limit_s=limit, workers=args.workers).read_text(
            encoding="utf-8"
        )
    )
    chosen = footage720.select(index, limit)
    dataset = work / "dataset"
    dataset.mkdir()
    for rel in chosen:  # links: the folder scanned holds exactly the chosen clips
        src, dst = (out / rel).resolve(), dataset / Path(rel).name
        try:
            os.link(src, dst)
        except OSError:
            dst.symlink_to(src)
    rels = sorted(Path(rel).name for rel in chosen)  # the scan's order (provenance.audit.iter_dataset)
    by_name = {Path(rel).name: index["clips"][rel] for rel in chosen}
    print(
        f"footage {out}: {len(rels)} clips, {sum(c['duration_s'] for c in by_name.values()) / 60:.1f} min of "
        f"{index['settings']['width']}x{index['settings']['height']} at {index['settings']['fps']} fps "
        f"(ready in {time.perf_counter() - t0:.1f} s)",
        flush=True,
    )
    return Footage(
        dataset,
        rels,
        sum(c["duration_s"] for c in by_name.values()),
        {n: c["truth"] for n, c in by_name.items()},
        {n: c["mix"] for n, c in by_name.items()},
        (out / index["registry"]).resolve(),
        {n: float(c["duration_s"]) for n, c in by_name.items()},
    )


def with_sound(fx: Footage, work: Path, seed: int) -> Footage:
    """The footage's clips with a soundtrack each (:mod:`soundtrack`), the truth their sound adds, the songs'
    manifest."""
    import soundtrack

    t0 = time.perf_counter()
    added = soundtrack.add_sound(fx.dataset, fx.rels, fx.durations, work / "dataset-sound", seed)
    manifest = soundtrack.sound_registry(work / "sound-registry")
    with_song = sum(1 for v in added.values() if v)
    print(
        f"soundtracks: {len(fx.rels)} clips copied with sound, {with_song} with a registered song "
        f"(ready in {time.perf_counter() - t0:.1f} s)",
        flush=True,
    )
    truth = {r: fx.truth[r] + added[r] for r in fx.rels}
    return Footage(work / "dataset-sound", fx.rels, fx.seconds, truth, fx.mix, fx.manifest, fx.durations, manifest)


def provenance_exe() -> str:
    """The installed ``provenance`` command, its packages' bytecode compiled first (:func:`compile_bytecode`)."""
    exe = Path(sys.executable).parent / "provenance"
    found = str(exe) if exe.is_file() else shutil.which("provenance")
    if not found:
        raise BenchError("the `provenance` command is not installed next to this Python (pip install -e .)")
    compile_bytecode()
    return found


def compile_bytecode() -> None:
    """Compile the project's packages to bytecode (``__pycache__``, git-ignored), as installing a wheel does.

    An editable install writes bytecode when a module is first imported, unless the environment forbids it
    (``PYTHONDONTWRITEBYTECODE``, set on the machines these benchmarks run on): then every process of every run
    compiles the project's ~130 modules from source again, ~0.2 s of CPU each (the scan's process and each of its
    workers), which an installed product never pays and the vPDQ wheel does not either."""
    global _COMPILED
    if _COMPILED:
        return
    packages = [str(ROOT / name) for name in ("provenance", "rightsdb", "api")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], check=True, stdout=subprocess.DEVNULL)
    _COMPILED = True
    why = " (PYTHONDONTWRITEBYTECODE is set here)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else ""
    print(f"provenance's packages compiled to bytecode first, as a wheel install does{why}", flush=True)


_COMPILED = False


def phase_cmd(phase: str, job: dict[str, Any], work: Path, name: str) -> list[str]:
    """The command running ``phase`` (``decode``: the decode-only floor) on ``job`` in a subprocess."""
    path = work / f"{name}.job.json"
    path.write_text(json.dumps(job), encoding="utf-8")
    return [sys.executable, str(Path(__file__).resolve()), "--phase", phase, "--job", str(path)]


def copy_db(src: Path, dst: Path, *, with_index: bool = False) -> None:
    """A fresh copy of the fingerprinted SQLite database (and its WAL files, if any).

    ``with_index``: its reference index folder too (``DB.index``, written beside a SQLite registry by the scan
    that fingerprinted the references; a registry whose references are ready has it, and a scan opens it by
    memory map instead of writing it again). Without it, every copy's first scan writes the index (matching the
    stream references' VODs as clips included): a cost of reference ingest, counted there."""
    for suffix in ("", "-wal", "-shm"):
        if Path(str(src) + suffix).exists():
            shutil.copyfile(str(src) + suffix, str(dst) + suffix)
    index = Path(str(src) + ".index")
    if with_index:
        if not index.is_dir():
            raise BenchError(f"{index}: no reference index beside the fingerprinted registry")
        shutil.rmtree(str(dst) + ".index", ignore_errors=True)
        shutil.copytree(index, str(dst) + ".index", ignore=shutil.ignore_patterns(".building-*", "*.lock"))


def stored_results(db: Path) -> int:
    """Clip results stored in a scan's SQLite database (0 when the schema has no such table).

    The timed scan must start with none: with them it would only read back what an earlier scan found.
    """
    import sqlite3

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        if not con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='clip_results'").fetchone():
            return 0
        return int(con.execute("SELECT COUNT(*) FROM clip_results").fetchone()[0])
    finally:
        con.close()


@dataclass
class Results:
    decode: list[Run]
    scan: list[Run]
    vpdq: list[Run]
    scan_refs: Run
    vpdq_refs: Run | None
    frames: int
    decode_only: str
    report: dict[str, Any]
    vpdq_layers: dict[str, list[dict[str, Any]]]
    stored: int = 0  # clip results the last timed scan stored
    no_audio: list[Run] = field(default_factory=list)  # --audio: the scan with --no-audio


def run_bench(args: argparse.Namespace, fx: Footage, work: Path) -> Results:
    exe = provenance_exe()
    files = [str(fx.dataset / r) for r in fx.rels]
    w = str(args.workers)

    def step(what: str) -> None:
        print(f"  {time.strftime('%H:%M:%S')} {what} (load {os.getloadavg()[0]:.2f})", flush=True)

    fp_db = work / "fingerprinted.db"
    url = f"sqlite:///{fp_db}"

    def registry_import(manifest: Path) -> None:
        done = subprocess.run(
            [exe, "--db", url, "registry", "import", str(manifest)], cwd=ROOT, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise BenchError(f"registry import of {manifest} failed: {done.stderr.strip()[-500:]}")

    def empty_scan(suffix: str, what: str, *flags: str) -> Run:
        """A scan of an empty folder: it fingerprints the references and writes the index its settings open."""
        out = str(work / f"empty{suffix}.json")
        cmd = [exe, "--db", url, "scan", str(work / "empty"), "--out", out, "--workers", w, *flags]
        return measure(cmd, work / f"scan-refs{suffix}.log", what)

    step("registry import")
    registry_import(fx.manifest)
    if fx.sound_manifest is not None:
        step("registry import of the songs")
        registry_import(fx.sound_manifest)
    (work / "empty").mkdir()
    step("reference fingerprinting (scan of an empty folder)")
    scan_refs = empty_scan("", "reference fingerprinting")
    if fx.sound_manifest:  # the --no-audio scans match with other settings, so with an index of their own: ready too
        step("the reference index for --no-audio (scan of an empty folder)")
        empty_scan("-no-audio", "reference index for --no-audio", "--no-audio")
    refs_pickle = work / "vpdq-refs.pickle"
    vpdq_refs = None
    if not args.skip_vpdq:
        step("vPDQ reference hashing")
        job = {
            "manifest": str(fx.manifest),
            "workers": args.workers,
            "refs": str(refs_pickle),
            "result": str(work / "vpdq-refs.json"),
        }
        vpdq_refs = measure(
            vpdq_runner.command("refs", job, work / "vpdq-refs.job.json"),
            work / "vpdq-refs.log",
            "vPDQ reference hashing",
        )

    res = Results([], [], [], scan_refs, vpdq_refs, 0, "", {}, {})

    def timed_scan(k: int, audio: bool) -> None:
        name = f"scan-{k}" if audio else f"scan-no-audio-{k}"
        step(f"run {k + 1}/{args.repeat}: scan" + ("" if audio else " --no-audio"))
        db = work / f"{name}.db"
        copy_db(fp_db, db, with_index=True)  # fingerprinted references and their index, no clip results
        if stored_results(db):
            raise BenchError(f"{db}: the copied database already holds clip results: the scan would reuse them")
        report = work / f"report-{name}.json"
        cmd = [exe, "--db", f"sqlite:///{db}", "scan", str(fx.dataset), "--out", str(report), "--workers", w]
        run = measure(cmd + ([] if audio else ["--no-audio"]), work / f"{name}.log", name)
        if audio:
            res.scan.append(run)
            res.report = json.loads(report.read_text(encoding="utf-8"))
            res.stored = stored_results(db)
        else:
            res.no_audio.append(run)

    for k in range(args.repeat):
        if not args.skip_decode:
            step(f"run {k + 1}/{args.repeat}: decode-only")
            result = work / f"decode-{k}.json"
            res.decode.append(
                measure(
                    phase_cmd(
                        "decode", {"files": files, "workers": args.workers, "result": str(result)}, work, f"decode-{k}"
                    ),
                    work / f"decode-{k}.log",
                    "decode-only",
                )
            )
            dec = json.loads(result.read_text(encoding="utf-8"))
            res.frames, res.decode_only = dec["frames"], dec["decode_only"]

        # --audio: with and without audio matching, alternated, which goes first alternating too
        for audio in ((True, False) if k % 2 == 0 else (False, True)) if fx.sound_manifest else (True,):
            timed_scan(k, audio)

        if not args.skip_vpdq:
            step(f"run {k + 1}/{args.repeat}: vPDQ")
            result = work / f"vpdq-{k}.json"
            job = {
                "files": files,
                "rels": fx.rels,
                "refs": str(refs_pickle),
                "workers": args.workers,
                "result": str(result),
            }
            res.vpdq.append(
                measure(vpdq_runner.command("clips", job, work / f"vpdq-{k}.job.json"), work / f"vpdq-{k}.log", "vPDQ")
            )
            res.vpdq_layers = json.loads(result.read_text(encoding="utf-8"))["clips"]
    return res


# ---------------------------------------------------------------------------------------------------------
# printing
# ---------------------------------------------------------------------------------------------------------


def median_run(runs: list[Run]) -> Run | None:
    if not runs:
        return None
    return Run(
        statistics.median(r.wall_s for r in runs),
        statistics.median(r.peak_mb for r in runs),
        sum(r.samples for r in runs),
        statistics.median(r.cpu_s for r in runs),
        runs[0].memory,
    )


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def figures(res: Results, seconds: float) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for name, runs in (
        (DECODE_ROW, res.decode),
        (SCAN_ROW, res.scan),
        (NO_AUDIO_ROW, res.no_audio),
        (VPDQ_ROW, res.vpdq),
    ):
        m = median_run(runs)
        if m is not None:
            rows[name] = {
                "wall_s": m.wall_s,
                "cpu_s": m.cpu_s,
                "x_realtime": seconds / m.wall_s,
                "peak_mb": m.peak_mb,
                "memory": m.memory,
                "runs": [asdict(r) for r in runs],
            }
    scan, dec, base = rows.get(SCAN_ROW), rows.get(DECODE_ROW), rows.get(VPDQ_ROW)
    ratios: dict[str, Any] = {"peak_scan_mb": scan["peak_mb"] if scan else None}
    if scan and dec:
        ratios["scan_over_decode"] = scan["wall_s"] / dec["wall_s"]
    if scan and base:
        ratios["scan_over_vpdq"] = scan["wall_s"] / base["wall_s"]
    silent = rows.get(NO_AUDIO_ROW)
    if scan and silent:
        ratios["audio_adds"] = scan["wall_s"] / silent["wall_s"] - 1.0
        ratios["audio_share"] = 1.0 - silent["wall_s"] / scan["wall_s"]
        ratios["audio_adds_cpu"] = scan["cpu_s"] / silent["cpu_s"] - 1.0
        ratios["audio_adds_per_round"] = [
            a.wall_s / b.wall_s - 1.0 for a, b in zip(res.scan, res.no_audio, strict=True)
        ]
    return {"rows": rows, "ratios": ratios}


def print_table(fig: dict[str, Any], res: Results, seconds: float, workers: int) -> None:
    print()
    mem = res.scan_refs.memory.upper()
    print(f"{'':<44}{'wall s':>9}{'CPU s':>9}{'x realtime':>12}{'h video/h':>11}{'peak MB ' + mem:>13}")
    for name, row in fig["rows"].items():
        print(
            f"{name:<44}{row['wall_s']:>9.1f}{row['cpu_s']:>9.1f}{row['x_realtime']:>12.2f}{row['x_realtime']:>11.2f}"
            f"{row['peak_mb']:>13.0f}"
        )
    once = [("reference fingerprinting (scan)", res.scan_refs), ("reference hashing (vPDQ)", res.vpdq_refs)]
    for name, run in once:
        if run is not None:
            print(
                f"{name:<44}{run.wall_s:>9.1f}{run.cpu_s:>9.1f}{'':>12}{'':>11}{run.peak_mb:>13.0f}"
                "   (once, not in the rows above)"
            )
    r = fig["ratios"]
    print()
    if "scan_over_decode" in r:
        v = r["scan_over_decode"]
        print(
            f"scan / decode-only   {v:6.2f}   target <= {TARGET_SCAN_OVER_DECODE}: "
            f"{_verdict(v <= TARGET_SCAN_OVER_DECODE)}"
        )
    if "scan_over_vpdq" in r:
        v = r["scan_over_vpdq"]
        print(
            f"scan / vPDQ          {v:6.2f}   target <= {TARGET_SCAN_OVER_VPDQ}: {_verdict(v <= TARGET_SCAN_OVER_VPDQ)}"
        )
    if "audio_adds" in r:
        v = r["audio_adds"]
        rounds = ", ".join(f"{x * 100:+.1f}" for x in r["audio_adds_per_round"])
        print(
            f"audio adds           {v * 100:5.1f} %  target <= {TARGET_AUDIO_ADDS * 100:.0f} %: "
            f"{_verdict(v <= TARGET_AUDIO_ADDS)}  (wall, medians of {len(res.scan)} alternated rounds; per round "
            f"{rounds} %; CPU {r['audio_adds_cpu'] * 100:+.1f} %); audio's share of the scan's wall time "
            f"{r['audio_share'] * 100:.1f} %"
        )
    if r["peak_scan_mb"] is not None:
        v = r["peak_scan_mb"]
        note = "" if workers == 2 else f" (the target is for 2 workers; ran with {workers})"
        print(f"peak scan MB        {v:7.0f}   target < {TARGET_PEAK_MB:.0f}: {_verdict(v < TARGET_PEAK_MB)}{note}")
    print(
        f"decode-only decoded {res.frames} frames with {res.decode_only}; {seconds / 60:.1f} min of video, "
        f"{workers} worker processes each"
    )


def findings(fx: Footage, res: Results) -> dict[str, Any]:
    """The scan's summary, and both systems' findings scored against the footage's truth per (clip, work)."""
    import engine_bench

    out: dict[str, Any] = {"summary": res.report["scan"]["summary"]}
    systems = {"scan": {Path(c["path"]).name: c["layers"] for c in res.report["clips"]}}
    errors = {c["path"]: c["error"] for c in res.report["clips"] if c["error"]}
    if res.vpdq_layers:
        systems["vpdq"] = res.vpdq_layers
    for name, layers in systems.items():
        total, clean = engine_bench.Tally(), engine_bench.Tally()
        for rel in fx.rels:
            t = engine_bench.score_clip(fx.truth[rel], layers.get(rel, []))
            total.add(t)
            if not fx.truth[rel]:
                clean.add(t)
        out[name] = {
            "precision": total.precision,
            "recall": total.recall,
            "f1": total.f1,
            "tp": total.tp,
            "fp": total.fp,
            "fn": total.fn,
            "clips_flagged": total.flagged,
            "clean_flagged": clean.flagged,
            "clean_clips": clean.clips,
        }
    scan_layers = systems["scan"]
    out["scan_misses"] = sorted(
        f"{rel}: {work}"
        for rel in fx.rels
        for work in {e["work"] for e in fx.truth[rel]} - {la["work"] for la in scan_layers.get(rel, [])}
    )
    out["scan_false"] = sorted(
        f"{rel}: {work}"
        for rel in fx.rels
        for work in {la["work"] for la in scan_layers.get(rel, [])} - {e["work"] for e in fx.truth[rel]}
    )
    out["errors"] = errors
    out["stored_results"] = res.stored
    return out


def print_findings(fx: Footage, fnd: dict[str, Any]) -> None:
    s = fnd["summary"]
    with_truth = sum(1 for r in fx.rels if fx.truth[r])
    print()
    print(
        f"footage: {with_truth}/{len(fx.rels)} clips contain registered material "
        f"({sum(1 for r in fx.rels if fx.mix[r] == 'clean')} drawn from clean corpus clips only)"
    )
    print(
        f"scan summary: {s.get('high', 0)} high, {s.get('medium', 0)} medium, {s.get('low', 0)} low, "
        f"{s.get('none', 0)} none, {s.get('errors', 0)} errors; {fnd['stored_results']} clip results stored "
        f"by the scan (its database had none before)"
    )
    for name in ("scan", "vpdq"):
        if name in fnd:
            f = fnd[name]
            label = {"scan": "scan", "vpdq": "vPDQ"}[name]
            print(
                f"{label:<9} per (clip, work): P {f['precision']:.3f}  R {f['recall']:.3f}  F1 {f['f1']:.3f}  "
                f"(tp {f['tp']}, fp {f['fp']}, fn {f['fn']}); clips flagged {f['clips_flagged']}/{len(fx.rels)}, "
                f"clean clips flagged {f['clean_flagged']}/{f['clean_clips']}"
            )
    for label, key in (("missed by the scan", "scan_misses"), ("reported by the scan, not in the truth", "scan_false")):
        if fnd.get(key):
            print(f"{label} ({len(fnd[key])}): " + "; ".join(fnd[key]))
    if fnd["errors"]:
        print(f"scan errors: {fnd['errors']}")


def load_warning() -> str | None:
    load = os.getloadavg()[0]
    if load <= LOAD_WARNING:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"warning: load average {load:.2f} at start (> {LOAD_WARNING}) on {cores} cores: other processes "
        f"compete for the CPU, the figures below are slower than this machine can do"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--corpus", type=Path, default=BENCH / ".corpus", help="cache folder of corpus and footage")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2, help="processes of the scan, decode-only and vPDQ")
    ap.add_argument("--limit-minutes", type=float, help="only the first clips covering this many minutes")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each measurement; the median is printed")
    ap.add_argument("--skip-vpdq", action="store_true", help="without Meta's vPDQ (when it is not installed)")
    ap.add_argument("--skip-decode", action="store_true", help="without the decode-only row")
    ap.add_argument(
        "--audio",
        action="store_true",
        help="the clips with soundtracks and the registry with songs; the scan also timed with --no-audio",
    )
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (databases, reports, logs)")
    ap.add_argument("--phase", choices=["decode"], help=argparse.SUPPRESS)
    ap.add_argument("--job", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.phase:
        return run_phase(args)
    for name, ok in (
        ("--workers", args.workers >= 1),
        ("--repeat", args.repeat >= 1),
        ("--limit-minutes", args.limit_minutes is None or args.limit_minutes > 0),
    ):
        if not ok:
            ap.error(f"{name} must be positive")
    if args.audio:
        import soundtrack

        if not soundtrack.have_material():
            print("error: --audio needs Debian's frozen-bubble-data and espeak-ng", file=sys.stderr)
            return 2
    why = None if args.skip_vpdq else vpdq_runner.missing()
    if why:
        print(f"error: {why} (or run with --skip-vpdq)", file=sys.stderr)
        return 2

    warning = load_warning()
    if warning:
        print(warning, flush=True)
    (BENCH / "out").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="audit-bench-", dir=BENCH / "out"))
    try:
        fx = prepare_footage(args, work)
        if args.audio:
            fx = with_sound(fx, work, args.seed)
        res = run_bench(args, fx, work)
        fig = figures(res, fx.seconds)
        print_table(fig, res, fx.seconds, args.workers)
        fnd = findings(fx, res)
        print_findings(fx, fnd)
        if res.vpdq:
            print(f"recipe of the vPDQ row: {vpdq_runner.LABEL}")
        print(f"load average at the end: {os.getloadavg()[0]:.2f}")
        if args.json:
            payload = {
                "footage_s": fx.seconds,
                "clips": len(fx.rels),
                "workers": args.workers,
                "repeat": args.repeat,
                "audio": args.audio,
                "load_warning": warning,
                "decode_only": res.decode_only,
                "frames": res.frames,
                "reference_fingerprinting": asdict(res.scan_refs),
                "vpdq_reference_hashing": asdict(res.vpdq_refs) if res.vpdq_refs else None,
                **fig,
                "findings": fnd,
                "settings": res.report["scan"].get("settings"),
            }
            tmp = args.json.with_name(args.json.name + ".partial")
            tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
            os.replace(tmp, args.json)
    except BenchError as exc:
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
