"""The hash search as the registry grows to catalogue size: 1, 10 and 100 hours of reference footage.

    python bench/hash_search_bench.py [--hours 1,10,100] [--clips 40] [--baseline-max 10] [--wide] [--json OUT]

The stored hashes are real: the region hashes the engine keeps of the short-clip corpus's references
(:mod:`shortclips`: real Freedoom and Atari footage, fingerprinted here), ~0.06 h. A registry of H hours holds
them once as they are (the real part) and then in perturbed copies up to H hours' worth of rows: each copy is
the real rows XORed with one random 256-bit pattern of its own, which keeps every distance inside the copy (its
shots, near-duplicate frames, static scenes: the structure that fills an index's buckets unevenly) and puts the
copy as far from the others as unrelated footage is. The queries are real too: every hash query the engine
makes for ``--clips`` clips of the corpus (copies, edits, streams, new gameplay, clean), decoded and
fingerprinted as a scan does.

Per size it prints, for the engine's index (:class:`~provenance.engine.index.StaticHashIndex`: multi-index
hashing in 23-24-bit chunks, written as arrays and memory-mapped) and, up to ``--baseline-max`` hours, for
the baseline it replaced (FAISS's ``IndexBinaryMultiHash``, 16-bit chunks, one bit flipped: exact, what the
engine used until this benchmark, built here in the same run): rows, build time, size on disk, time to open,
CPU of a clip's searches (median and mean over the clips), the memory (PSS) a process holds after searching
every clip (the mapped pages it touched; the baseline's whole structure), and whether the answers are the same
(every (query, row, distance) the baseline gives, and for sizes above it, the real part's answers are those of
the smallest registry: the copies add nothing). Each size is measured in a fresh process. The load average is
printed: other processes share the cores.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import shutil
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

import shortclips  # noqa: E402
from proctree import load_averages, own_pss_kb  # noqa: E402


def real_rows(corpus: Path, work: Path) -> tuple[Any, float]:
    """The kept region hashes of the corpus's references (fingerprinted in a registry under ``work``) and their
    hours of footage."""
    import numpy as np

    from provenance.audit.manifests import import_manifest_file
    from provenance.audit.references import ensure_fingerprints, load_index
    from provenance.engine import EngineParams
    from provenance.engine.store import _kept_hashes
    from rightsdb import Registry

    registry = Registry(f"sqlite:///{work / 'registry.db'}")
    try:
        import_manifest_file(registry, corpus / "registry" / "manifest.yaml")
        ensure_fingerprints(registry, EngineParams())
        index, _ = load_index(registry, EngineParams())
    finally:
        registry.dispose()
    kept = np.concatenate([_kept_hashes(p, index.params.min_quality) for p in index.prints])
    return kept, sum(p.duration_s for p in index.prints) / 3600


def clip_queries(clips: list[Path]) -> list[Any]:
    """Per clip, its hash queries as a scan searches them (every window's, every variant's), stacked."""
    import numpy as np

    from provenance.engine import EngineParams
    from provenance.engine.match import _windows
    from provenance.engine.prints import fingerprint_window
    from provenance.engine.sampling import clip_frames

    params = EngineParams()
    out = []
    for clip in clips:
        sampled = clip_frames(clip, params)
        flats = []
        for _, images in _windows(sampled, []):
            prints = fingerprint_window(images, params.min_quality)
            flats += [np.asarray(q[1], np.uint8) for q in prints.queries]
        out.append(np.concatenate(flats) if flats else np.zeros((0, 32), np.uint8))
    return out


def registry_rows(real: Any, rows: int, seed: int) -> Any:
    """``real`` followed by perturbed copies of it (each XORed with its own random pattern), ``rows`` in all."""
    import numpy as np

    rng = np.random.default_rng(seed)
    copies = -(-rows // len(real))
    out = np.empty((copies * len(real), 32), np.uint8)
    out[: len(real)] = real
    for c in range(1, copies):
        out[c * len(real) : (c + 1) * len(real)] = real ^ rng.integers(0, 256, 32, dtype=np.uint8)
    return out[:rows]


def _build(kind: str, rows_path: str, folder: str, out: Any) -> None:
    """In a fresh process: build ``kind``'s index of the rows and write it into ``folder``."""
    import numpy as np

    from provenance.engine import EngineParams, one_thread_per_process

    one_thread_per_process()
    radius = EngineParams().max_distance
    rows = np.ascontiguousarray(np.load(rows_path, mmap_mode="r"))
    t0 = time.perf_counter()
    if kind in ("engine", "wide"):
        from provenance.engine import multiindex
        from provenance.engine.index import StaticHashIndex

        if kind == "wide":  # wide chunks at any size
            multiindex._WIDE_FROM = 0
        StaticHashIndex(rows, 256, radius).save(Path(folder), "hashes")
    else:
        import faiss

        base = faiss.IndexBinaryMultiHash(256, 16, 16)
        base.nflip = radius // 16
        base.add(rows)
        faiss.write_index_binary(base, str(Path(folder) / "hashes.faiss"))
    out.put({"built_s": time.perf_counter() - t0})


def _search(kind: str, hours: float, queries_path: str, folder: str, out: Any) -> None:
    """In another fresh process: open the index ``folder`` holds and search every clip's queries (the memory it
    then holds is what opening and searching took: mapped pages touched, or the structure read)."""
    import numpy as np

    from provenance.engine import EngineParams, one_thread_per_process

    one_thread_per_process()
    radius = EngineParams().max_distance
    queries = list(np.load(queries_path, allow_pickle=False).values())
    directory = Path(folder)
    pss0 = own_pss_kb()
    t1 = time.perf_counter()
    if kind in ("engine", "wide"):
        from provenance.engine.index import StaticHashIndex

        index: Any = StaticHashIndex.load(directory, "hashes", 256, radius)
        opened = time.perf_counter() - t1

        def search(q: Any) -> Any:
            return index.search(q, radius)
    else:
        import faiss

        index = faiss.read_index_binary(str(directory / "hashes.faiss"))
        opened = time.perf_counter() - t1

        def search(q: Any) -> Any:
            lims, dist, ids = index.range_search(q, radius + 1)
            qrows = np.repeat(np.arange(len(q)), np.diff(lims.astype(np.int64)))
            order = np.lexsort((ids, dist, qrows))
            return qrows[order], ids[order].astype(np.int64), dist[order].astype(np.int32)

    disk = sum(f.stat().st_size for f in directory.iterdir())
    cpu: list[float] = []
    answers = []
    for q in queries:
        c0 = time.process_time()
        got = search(q)
        cpu.append(time.process_time() - c0)
        answers.append(np.stack([np.asarray(a, np.int64) for a in got]) if len(got[0]) else np.zeros((3, 0), np.int64))
    held = (own_pss_kb() - pss0) / 1024
    np.savez(directory.parent / f"answers-{kind}-{hours}.npz", *answers)
    out.put({"opened_s": opened, "disk_mb": disk / 2**20, "held_mb": held, "cpu_s": cpu})


def _spawned(target: Any, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, out))
    proc.start()
    result: dict[str, Any] = out.get()
    proc.join()
    return result


def run_one(kind: str, hours: float, rows_path: Path, queries_path: Path, work: Path) -> dict[str, Any]:
    folder = work / f"{kind}-{hours}"
    folder.mkdir()
    built = _spawned(_build, kind, str(rows_path), str(folder))
    searched = _spawned(_search, kind, hours, str(queries_path), str(folder))
    shutil.rmtree(folder)
    return {**built, **searched}


def _answers(work: Path, kind: str, hours: float) -> list[Any]:
    import numpy as np

    with np.load(work / f"answers-{kind}-{hours}.npz") as z:
        return [z[f"arr_{i}"] for i in range(len(z.files))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", default="1,10,100", help="registry sizes in hours of reference, comma-separated")
    ap.add_argument("--clips", type=int, default=40, help="corpus clips whose queries are searched")
    ap.add_argument("--baseline-max", type=float, default=10, help="largest size the FAISS baseline is run at")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--wide", action="store_true", help="also the multi-index with wide chunks at every size")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import numpy as np

    corpus = shortclips.build_default(BENCH / ".corpus").parent  # built and cached on first use
    sizes = sorted(float(h) for h in args.hours.split(","))
    print(f"load average at start: {load_averages()}")
    report: dict[str, Any] = {"sizes": []}
    with tempfile.TemporaryDirectory(prefix="hashbench-") as tmp:
        work = Path(tmp)
        real, real_hours = real_rows(corpus, work)
        per_hour = len(real) / real_hours
        clips = sorted(p for p in (corpus / "dataset").rglob("*.mp4"))
        clips = random.Random(args.seed).sample(clips, min(args.clips, len(clips)))
        queries = clip_queries(clips)
        np.savez(work / "queries.npz", *queries)
        n_q = [len(q) for q in queries]
        print(
            f"real part: {len(real):,} kept region hashes of {real_hours:.3f} h of reference "
            f"({per_hour:,.0f} an hour); "
            f"{len(clips)} clips, {statistics.median(n_q):.0f} hash queries a clip (median)"
        )
        first: list[Any] | None = None
        for hours in sizes:
            rows = registry_rows(real, round(hours * per_hour), args.seed)
            rows_path = work / "rows.npy"
            np.save(rows_path, rows)
            line: dict[str, Any] = {"hours": hours, "rows": len(rows), "real_rows": min(len(real), len(rows))}
            del rows
            for kind in ("engine", "wide", "baseline"):
                if (kind == "baseline" and hours > args.baseline_max) or (kind == "wide" and not args.wide):
                    continue
                r = run_one(kind, hours, rows_path, work / "queries.npz", work)
                line[kind] = {
                    **r,
                    "cpu_median_ms": 1e3 * statistics.median(r["cpu_s"]),
                    "cpu_mean_ms": 1e3 * statistics.mean(r["cpu_s"]),
                }
                del line[kind]["cpu_s"]
            mine = _answers(work, "engine", hours)
            if "baseline" in line:
                theirs = _answers(work, "baseline", hours)
                line["same_as_baseline"] = all(np.array_equal(a, b) for a, b in zip(mine, theirs, strict=True))
            if "wide" in line:
                wide = _answers(work, "wide", hours)
                line["wide_same"] = all(np.array_equal(a, b) for a, b in zip(mine, wide, strict=True))
            real_part = [a[:, a[1] < len(real)] for a in mine]
            if first is None:
                first = real_part
            line["real_part_as_smallest"] = all(np.array_equal(a, b) for a, b in zip(real_part, first, strict=True))
            report["sizes"].append(line)
            e = line["engine"]
            text = (
                f"{hours:>6g} h ({line['rows']:>11,} rows): engine built {e['built_s']:.1f} s, "
                f"{e['disk_mb']:,.0f} MB on disk, opened {1e3 * e['opened_s']:.1f} ms, "
                f"clip search {e['cpu_median_ms']:.1f} ms median / {e['cpu_mean_ms']:.1f} mean, "
                f"held {e['held_mb']:,.0f} MB"
            )
            if "baseline" in line:
                b = line["baseline"]
                text += (
                    f" | FAISS multi-hash built {b['built_s']:.1f} s, opened {1e3 * b['opened_s']:.0f} ms, "
                    f"clip search {b['cpu_median_ms']:.1f} / {b['cpu_mean_ms']:.1f} ms, held {b['held_mb']:,.0f} MB; "
                    f"ratio (engine/FAISS) search {e['cpu_mean_ms'] / b['cpu_mean_ms']:.2f}, held "
                    f"{e['held_mb'] / max(1.0, b['held_mb']):.2f}; "
                    f"same answers: {'yes' if line['same_as_baseline'] else 'NO'}"
                )
            if "wide" in line:
                w = line["wide"]
                text += (
                    f" | wide chunks at this size: {w['disk_mb']:,.0f} MB on disk, clip search "
                    f"{w['cpu_median_ms']:.1f} ms median / {w['cpu_mean_ms']:.1f} mean, held {w['held_mb']:,.0f} MB, "
                    f"the engine's answers: {'yes' if line['wide_same'] else 'NO'}"
                )
            text += (
                f"; real part's answers as the smallest registry's: {'yes' if line['real_part_as_smallest'] else 'NO'}"
            )
            print(text, flush=True)
            os.unlink(rows_path)
    print(f"load average at end: {load_averages()}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
