"""Precision among look-alikes: the short corpus scanned against its own registry, then against it plus a console's
whole library (every Atari 2600 game ale-py ships that renders, each registered as another holder's work).

    python bench/library_bench.py [--limit 80] [--seconds 20] [--games N] [--workers 2] [--json OUT] [--keep]

The catalogue issue's test of precision at scale: one console's games share a palette, a resolution, sprites
and black backgrounds, so a registry of them is full of look-alikes, and a false flag is the costliest error. The
dataset is the short-clip corpus's (:mod:`shortclips`: copies and edits of 4 registered Atari games, Freedoom and
stream layouts, new plays of the registered games, and clean clips, among them 9 Atari games nobody registered).
The library adds every other game ale-py ships (the corpus's unregistered games are held out: their clips are
the clean look-alikes), ``--seconds`` of random play each (real emulator frames, nearest-neighbour scaled to the
corpus's 640x480 and encoded), each its own work of a holder ``atari-library``. No clip shows a library game, so
every finding of one is a false positive, and a clean clip that holds one is flagged.

Per registry it prints: references and hours of reference footage, the time to fingerprint what was added
(``registry fingerprint -j N``: x realtime), ``provenance scan --workers N`` of the same clips (:mod:`proctree`:
wall, CPU, peak PSS of its process tree), and its accuracy (``engine_bench`` scoring: precision, recall, clean
clips flagged, library findings); then recall's change with the library (the issue's bar: within 0.02, and no
clean clip flagged). The rendered games are cached under ``--cache``. The load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
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

from proctree import BenchError, load_averages, measure  # noqa: E402

HOLDER = "atari-library"
FPS = 30.0  # the corpus's Atari sources are rendered at this rate too


def library_games(held_out: set[str], limit: int | None, cache: Path) -> list[str]:
    """ale-py's ROMs, less ``held_out``, that render a frame, in name order. Some do not load (ALE exits the
    process on a ROM it cannot wrap), so each is tried in a process of its own, once: the list is cached."""
    import subprocess

    from ale_py import roms

    known = cache / "atari-library-renders.json"
    tried: dict[str, bool] = json.loads(known.read_text(encoding="utf-8")) if known.exists() else {}
    probe = "import sys; from fixtures import footage as F; next(iter(F.atari_frames(sys.argv[1], 1.0, 30.0, 1)))"
    games: list[str] = []
    for game in sorted(roms.get_all_rom_ids()):
        if game in held_out:
            continue
        if game not in tried:
            run = subprocess.run(
                [sys.executable, "-c", probe, game], cwd=ROOT, capture_output=True, timeout=120, check=False
            )
            tried[game] = run.returncode == 0
            if not tried[game]:
                print(f"  skipped {game}: it does not render (exit {run.returncode})", flush=True)
        if tried[game]:
            games.append(game)
        if limit is not None and len(games) >= limit:
            break
    cache.mkdir(parents=True, exist_ok=True)
    tmp = known.with_suffix(".tmp")
    tmp.write_text(json.dumps(tried, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, known)
    return games


def render_library(folder: Path, games: list[str], seconds: float, size: tuple[int, int]) -> list[str]:
    """Each game's reference video (cached), written atomically; paths relative to ``folder``'s parent."""
    from fixtures import footage as F

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for k, game in enumerate(games):
        path = folder / f"{game}-{seconds:g}s.mp4"
        if not path.exists():
            tmp = path.with_name(f".{path.name}.tmp.mp4")
            F.write_video(tmp, F.atari_frames(game, seconds, FPS, 7_000 + k, size=size), FPS)
            os.replace(tmp, path)
        out.append(f"{folder.name}/{path.name}")
    return out


def library_manifest(path: Path, games: list[str], rels: list[str]) -> None:
    lines = ["holders:", f"  - {{id: {HOLDER}, name: A console's library, kind: publisher}}", "works:"]
    for game, rel in zip(games, rels, strict=True):
        lines += [
            f"  - id: lib-{game.replace('_', '-')}",
            f"    title: {game} (library)",
            f"    holder: {HOLDER}",
            "    layer: game",
            "    policy: {ai_training: deny}",
            f"    references: [{{path: {rel}, kind: footage}}]",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _scan(exe: str, url: str, ds: Any, work: Path, name: str, workers: int) -> dict[str, Any]:
    import speed_bench

    report = work / f"report-{name}.json"
    cmd = [exe, "--db", url, "scan", str(ds.dataset), "--out", str(report), "--workers", str(workers)]
    r = measure(cmd, work / f"scan-{name}.log", "scan", ROOT)
    doc = json.loads(report.read_text(encoding="utf-8"))
    layers = {c["path"]: c["layers"] for c in doc["clips"]}
    acc = speed_bench.accuracy(ds, layers)
    library = sorted({c for c, ls in layers.items() for x in ls if x["holder"] == HOLDER})
    return {
        "wall_s": r.wall_s,
        "cpu_s": r.cpu_s,
        "peak_mb": r.peak_mb,
        "memory": r.memory,
        "accuracy": {k: acc[k] for k in ("precision", "recall", "f1", "clean_flagged", "tp", "fp", "fn")},
        "library_findings": sum(1 for ls in layers.values() for x in ls if x["holder"] == HOLDER),
        "clips_with_library_findings": library,
    }


def _fingerprint(exe: str, url: str, work: Path, name: str, workers: int) -> float:
    cmd = [exe, "--db", url, "registry", "fingerprint", "-j", str(workers)]
    return measure(cmd, work / f"fp-{name}.log", "reference fingerprinting", ROOT).wall_s


def _reference_seconds(url: str) -> tuple[int, float]:
    """Footage references and their seconds in the registry at ``url``."""
    from sqlmodel import select

    from rightsdb import Registry
    from rightsdb.models import Reference

    reg = Registry(url, create=False)
    with reg.session() as s:
        refs = s.exec(select(Reference).where(Reference.kind == "footage")).all()
        return len(refs), sum(float(r.duration_s or 0.0) for r in refs)


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import corpus as C
    import speed_bench
    from audit_bench import copy_db, provenance_exe

    exe = provenance_exe()
    ds = speed_bench.short_dataset(args, work)
    print(ds.describe, flush=True)
    held_out = set(C.ATARI_WORKS) | set(C.CLEAN_ATARI) | set(C.PANDA_ATARI)
    speed_bench.step("the library: games that render, rendered once (cached)")
    games = library_games(held_out, args.games, args.cache)
    rels = render_library(args.cache / "atari-library", games, args.seconds, C.ATARI_SIZE)
    print(f"  {len(games)} library games ({args.seconds:g} s each); held out (the corpus's): {sorted(held_out)}")

    small_db = work / "small.db"
    small = f"sqlite:///{small_db}"
    speed_bench.step("the corpus's registry: import, fingerprint, scan")
    measure([exe, "--db", small, "registry", "import", str(ds.manifest)], work / "import.log", "import", ROOT)
    fp_small = _fingerprint(exe, small, work, "small", args.workers)
    big_db = work / "library.db"
    copy_db(small_db, big_db, with_index=True)
    big = f"sqlite:///{big_db}"
    rows: dict[str, Any] = {"games": games, "seconds": args.seconds}
    refs, secs = _reference_seconds(small)
    rows["small"] = {"references": refs, "hours": secs / 3600, "fingerprint_s": fp_small}
    rows["small"]["scan"] = _scan(exe, small, ds, work, "small", args.workers)
    _print_row("corpus registry", rows["small"], len(ds.rels))

    speed_bench.step(f"+ the library ({len(games)} games): import, fingerprint what was added, scan")
    manifest = args.cache / f"atari-library-{len(games)}x{args.seconds:g}s.yaml"
    library_manifest(manifest, games, rels)
    measure([exe, "--db", big, "registry", "import", str(manifest)], work / "import-lib.log", "import", ROOT)
    fp_big = _fingerprint(exe, big, work, "library", args.workers)
    refs, secs = _reference_seconds(big)
    added_s = secs - rows["small"]["hours"] * 3600
    rows["library"] = {"references": refs, "hours": secs / 3600, "fingerprint_s": fp_big, "added_s": added_s}
    rows["library"]["scan"] = _scan(exe, big, ds, work, "library", args.workers)
    _print_row(f"+ {len(games)} library games", rows["library"], len(ds.rels))
    r0 = rows["small"]["scan"]["accuracy"]["recall"]
    r1 = rows["library"]["scan"]["accuracy"]["recall"]
    flagged = rows["library"]["scan"]["accuracy"]["clean_flagged"]
    ok = r0 - r1 <= 0.02 and flagged == 0
    print(
        f"\nrecall {r0:.3f} -> {r1:.3f} ({r1 - r0:+.3f}), clean clips flagged {flagged} with the library: "
        f"{'MET' if ok else 'MISSED'} (bar: recall within 0.02, no clean clip flagged)",
        flush=True,
    )
    if rows["library"]["scan"]["clips_with_library_findings"]:
        print("  clips with a library finding:", ", ".join(rows["library"]["scan"]["clips_with_library_findings"]))
    return rows


def _print_row(name: str, row: dict[str, Any], clips: int) -> None:
    sc = row["scan"]
    acc = sc["accuracy"]
    added = row.get("added_s")
    fp = row["fingerprint_s"]
    speed = f" ({added / fp:.0f}x realtime for the {added / 60:.1f} min added)" if added and fp > 0 else ""
    print(
        f"  {name}: {row['references']} footage references, {row['hours']:.2f} h; fingerprinted in {fp:.1f} s"
        f"{speed} | scan {sc['wall_s']:.1f} s wall, {sc['cpu_s']:.1f} s CPU, {sc['peak_mb']:.0f} MB {sc['memory']} "
        f"({1000 * sc['cpu_s'] / clips:.0f} ms CPU a clip) | P {acc['precision']:.3f} R {acc['recall']:.3f} "
        f"F1 {acc['f1']:.3f} (tp {acc['tp']}, fp {acc['fp']}, fn {acc['fn']}), clean flagged "
        f"{acc['clean_flagged']}, library findings {sc['library_findings']}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    import speed_bench

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--seconds", type=float, default=20.0, help="seconds of play registered per library game")
    ap.add_argument("--games", type=int, help="at most this many library games (default: every one that renders)")
    speed_bench.sample_options(ap, "the library")
    args = ap.parse_args(argv)
    print(f"at start: {load_averages()}", flush=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="library-bench-") as tmp:
        work = Path(tmp)
        try:
            rows = run(args, work)
        except BenchError as exc:
            print(f"library_bench: {exc}", file=sys.stderr)
            return 1
        if args.keep:
            kept = Path(tempfile.mkdtemp(prefix="library-bench-kept-"))
            os.rename(work, kept / "work")
            work.mkdir()
            print(f"work folder kept: {kept / 'work'}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    print(f"at end:   {load_averages()}; {time.perf_counter() - t0:.0f} s in all", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
