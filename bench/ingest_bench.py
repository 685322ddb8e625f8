"""Fingerprinting long references: speed and memory as a reference grows, streamed in windows against the whole
decode it replaced.

    python bench/ingest_bench.py [--minutes 1,4,16] [--json OUT]

The references are real footage: the short-clip corpus's registered videos (Freedoom, its community maps, the
streamers' VODs; :mod:`shortclips`, built if missing) joined end to end (stream copy, no re-encode) and repeated
until each is ``M`` minutes long. For each, in its own subprocess (:mod:`proctree`: wall, CPU, peak PSS):

* **windows**: :func:`~provenance.engine.fingerprint_footage`, which decodes the reference in windows of at most
  about :data:`~provenance.engine.references.REF_WINDOW_FRAMES` frames, one held at a time;
* **whole decode** (the baseline, written here: how references were fingerprinted before windows): every frame
  decoded and held, one border box for the whole video, all hashed at once; run up to ``--whole-max`` minutes
  (it needs ~0.47 GB a minute: an hour's reference does not fit a 24 GB machine).

Both run on one thread (as the ingest's worker processes). Printed per length: wall, CPU, x realtime (reference
seconds per wall second), peak PSS, and whether the two prints are identical (they are when the reference has one
layout throughout: the windows' boxes are then the whole video's). The load average is printed: other processes
share the cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
for _p in (str(BENCH), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from proctree import BenchError, load_averages, measure  # noqa: E402


def long_reference(sources: list[Path], minutes: float, out: Path) -> float:
    """Join ``sources`` end to end (repeated) into ``out`` of at least ``minutes``; its duration in seconds."""
    import av

    with av.open(str(sources[0])) as c:
        first = float(c.duration or 0) / 1e6
    if first <= 0:
        raise BenchError(f"{sources[0]}: no duration")
    listing = out.with_suffix(".txt")
    lines: list[str] = []
    total = 0.0
    while total < 60 * minutes:
        for src in sources:
            with av.open(str(src)) as c:
                total += float(c.duration or 0) / 1e6
            lines.append(f"file '{src}'")
            if total >= 60 * minutes:
                break
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise BenchError("ffmpeg not found: install Debian's ffmpeg package")
    cmd = [ffmpeg, "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out)]
    subprocess.run(cmd, check=True)
    with av.open(str(out)) as c:
        return float(c.duration or 0) / 1e6


def _one_size(paths: list[Path]) -> list[Path]:
    """The videos of the most common picture size (a stream copy cannot join pictures of other sizes well)."""
    import av

    sizes: dict[tuple[int, int], list[Path]] = {}
    for p in paths:
        with av.open(str(p)) as c:
            s = c.streams.video[0].codec_context
            sizes.setdefault((s.width, s.height), []).append(p)
    return max(sizes.values(), key=len)


def _whole(path: Path) -> Any:
    """The baseline: every frame decoded and held, one border box, all hashed at once."""
    import numpy as np

    from provenance.engine import EngineParams, FootagePrint
    from provenance.engine.features import extract
    from provenance.engine.fingerprint.regions import detect_borders, trim
    from provenance.engine.pairs import HASHER
    from provenance.engine.params import local_params
    from provenance.engine.sampling import border_step, decode_all

    params = EngineParams()
    times, images, duration = decode_all(path, params.ref_fps, params.analysis_side)
    box = detect_borders(images[:: border_step(len(images))])
    hashes, quality = HASHER.regions(images, box)
    step = max(1, round(params.ref_fps / params.local_ref_fps))
    idx = list(range(0, len(images), step))
    lp = local_params(params)
    return FootagePrint(
        timestamps=np.asarray(times, np.float32),
        hashes=hashes,
        quality=np.clip(quality, 0, 100).astype(np.uint8),
        local_times=np.asarray([times[i] for i in idx], np.float32),
        local_features=tuple(extract(trim(images[i], box), lp, mirror=False) for i in idx),
        duration_s=float(duration),
    )


def phase(way: str, path: Path, out: Path) -> None:
    """In a subprocess: fingerprint ``path`` one ``way`` (``windows`` or ``whole``) and save the print's arrays."""
    import numpy as np

    from provenance.engine import fingerprint_footage
    from provenance.engine.sampling import one_thread_per_process

    one_thread_per_process()
    fp = fingerprint_footage(path) if way == "windows" else _whole(path)
    np.savez(out, t=fp.timestamps, h=fp.hashes, q=fp.quality, lt=fp.local_times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--minutes", default="1,4,16", help="reference lengths, comma-separated")
    ap.add_argument("--whole-max", type=float, default=16.0, help="longest reference the baseline is run on")
    ap.add_argument("--cache", type=Path, default=BENCH / ".corpus")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--phase", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.phase:
        phase(args.phase[0], Path(args.phase[1]), Path(args.phase[2]))
        return 0
    import numpy as np
    import shortclips

    from provenance.engine.references import REF_WINDOW_FRAMES

    truth = shortclips.build_default(args.cache)
    sources = _one_size(sorted((truth.parent / "registry" / "footage").glob("*.mp4")))
    print(f"at start: {load_averages()}", flush=True)
    registry = truth.parent / "registry"
    print(f"references: {len(sources)} real videos of {registry} (one picture size) joined end to end", flush=True)
    print(f"windows of at most {REF_WINDOW_FRAMES} frames", flush=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        work = Path(tmp)
        for minutes in [float(m) for m in args.minutes.split(",")]:
            ref = work / f"ref-{minutes:g}min.mp4"
            seconds = long_reference(sources, minutes, ref)
            row: dict[str, Any] = {"minutes": minutes, "seconds": seconds}
            for way in ("windows", "whole"):
                if way == "whole" and minutes > args.whole_max:
                    continue
                out = work / f"{way}-{minutes:g}.npz"
                cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", way, str(ref), str(out)]
                run = measure(cmd, work / f"{way}-{minutes:g}.log", f"{way} {minutes:g} min", ROOT)
                row[way] = {"wall_s": run.wall_s, "cpu_s": run.cpu_s, "peak_mb": run.peak_mb, "memory": run.memory}
                print(
                    f"  {minutes:5g} min {way:>7}: {run.wall_s:7.1f} s wall {run.cpu_s:7.1f} s CPU "
                    f"{seconds / run.wall_s:6.1f}x realtime  peak {run.memory.upper()} {run.peak_mb:7.0f} MB",
                    flush=True,
                )
            if "whole" in row:
                a, b = np.load(work / f"windows-{minutes:g}.npz"), np.load(work / f"whole-{minutes:g}.npz")
                row["identical"] = all(np.array_equal(a[k], b[k]) for k in ("t", "h", "q", "lt"))
                print(f"  {minutes:5g} min prints identical to the whole decode's: {row['identical']}", flush=True)
            rows.append(row)
    print()
    print(f"{'minutes':>8}{'windows MB':>12}{'whole MB':>10}{'windows x rt':>14}{'whole x rt':>12}")
    for r in rows:
        whole = r.get("whole")
        print(
            f"{r['minutes']:>8g}{r['windows']['peak_mb']:>12.0f}{whole['peak_mb'] if whole else float('nan'):>10.0f}"
            f"{r['seconds'] / r['windows']['wall_s']:>14.1f}"
            f"{r['seconds'] / whole['wall_s'] if whole else float('nan'):>12.1f}"
        )
    print(f"at end: {load_averages()}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
