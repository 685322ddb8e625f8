"""The local pass's vote search as the feature bank grows: FAISS's IVF search against the engine's, whose lists are
chosen by the C kernel (:func:`~provenance.engine.binsearch.search_binary`).

    python bench/vote_search_bench.py [--hours 0.1,0.3,1] [--frames 40] [--json OUT]

The bank's rows are real where they can be: the vote descriptors (each frame's 300 strongest ORB descriptors, at
the bank's 3 frames a second) of the short-clip corpus's reference videos (:mod:`shortclips`: real Freedoom and
Atari footage, extracted here as the engine extracts them), then perturbed copies up to H hours' worth of rows
(3 frames a second x 300 rows: 3.24 million an hour): each copy is the real rows XORed with one random 256-bit
pattern of its own, which keeps every distance inside the copy and puts it as far from the others as unrelated
footage is. The search is the engine's (:func:`~provenance.engine.bank.binary_index`: an IVF index, one list per
128 rows up to 65,536, 12 lists probed). The queries are real: the vote descriptors of ``--frames`` frames of the
corpus's clips, searched both ways round as the local pass does (4 nearest).

Per size it prints the rows, the lists, the time to build the index (both cores), and per query frame (300
descriptors) the CPU of FAISS's own search and of the engine's, their ratio, and whether every answer is the same
(distances and rows). The load average is printed: other processes share the cores.

    python bench/vote_search_bench.py --coarse 2,10 [--hours 1]

Past 65,536 lists (2^25 rows, ~10.4 h) the engine's lists hold 512 rows and are chosen through coarse lists of the
centroids (:func:`~provenance.engine.binsearch._quantizer`). ``--coarse R`` measures that choice at a size this
machine holds: the same rows in lists of 512, the coarse lists as many as the centroids / R (R 2 is the shape of a
~20 h registry, 10 of ~1,000 h: 632,812 lists over 65,536 coarse ones), against (1) the flat choice over every
centroid (the reference: the 12 nearest lists) and (2) the rule before (the lists lengthening past the cap: R times
fewer lists, R times as long, chosen flat). Per R: the query frame's CPU each way, how many of the flat choice's 12
lists the coarse choice finds, and how often a query's 4 nearest distances are the flat choice's (the same, worse,
better: a row placed by the coarse choice can sit in a list the flat one would not read).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
for _p in (str(BENCH), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from proctree import load_averages  # noqa: E402

ROWS_AN_HOUR = 300 * 3 * 3600


def vote_rows(video: Path, fps: float) -> Any:
    """The vote descriptors of ``video``'s frames at ``fps``, as the feature bank stores them."""
    import numpy as np

    from provenance.engine import EngineParams
    from provenance.engine.features import extract
    from provenance.engine.params import local_params
    from provenance.engine.sampling import Sampled

    params = EngineParams()
    lp = local_params(params)
    rows = [
        extract(image, lp, mirror=False).descriptors[: lp.vote_features]
        for _, image, _ in Sampled(video, fps, params.analysis_side, 0, params.asset_spacing_s)
    ]
    return np.concatenate(rows) if rows else np.zeros((0, 32), np.uint8)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--hours", default="0.1,0.3,1", help="bank sizes in hours of reference, comma-separated")
    ap.add_argument("--frames", type=int, default=40, help="query frames (from the corpus's clips)")
    ap.add_argument("--corpus", type=Path, default=BENCH / ".corpus" / "shortclips-seed1-n320")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--coarse", help="instead: the coarse choice of lists, coarse lists = centroids / each of these")
    args = ap.parse_args(argv)

    import numpy as np

    from provenance.engine import EngineParams
    from provenance.engine.binsearch import binary_index, search_binary
    from provenance.engine.features import extract, single_thread_faiss
    from provenance.engine.hamming import hamming_kernel
    from provenance.engine.params import local_params
    from provenance.engine.sampling import Sampled

    if not hamming_kernel():
        print("the Hamming kernels are not built or this CPU lacks POPCNT: nothing to compare")
        return 2
    print("at start: " + load_averages(), flush=True)
    if not (args.corpus / "truth.json").exists():
        print(f"{args.corpus}: no short-clip corpus (python bench/shortclips.py builds it)")
        return 2
    real = np.concatenate([vote_rows(v, 3.0) for v in sorted((args.corpus / "registry" / "footage").glob("*.mp4"))])
    print(f"real rows: {len(real):,} (the corpus's references at 3 frames a second, {len(real) / ROWS_AN_HOUR:.3f} h)")
    doc = json.loads((args.corpus / "truth.json").read_text(encoding="utf-8"))
    rels = sorted(doc["clips"])
    params = EngineParams()
    lp = local_params(params)
    queries: list[Any] = []
    for rel in rels[:: max(1, len(rels) // args.frames)][: args.frames]:
        for _, image, _ in Sampled(args.corpus / doc["dataset"] / rel, 0.5, params.analysis_side, 0, 5.0):
            f = extract(image, lp, mirror=True)
            queries += [f.descriptors[: lp.vote_features], f.mirror.descriptors[: lp.vote_features]]  # type: ignore[union-attr]
            break
    queries = [q for q in queries if len(q)]
    faiss = single_thread_faiss()
    rng = np.random.default_rng(1)
    out: list[dict[str, Any]] = []
    if args.coarse:
        for hours in [float(h) for h in args.hours.split(",")]:
            rows = _bank_rows(real, hours, rng)
            out += coarse_rows(rows, queries, hours, [int(r) for r in args.coarse.split(",")], lp.bank_knn)
        print("at end: " + load_averages(), flush=True)
        if args.json:
            args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
        return 0
    for hours in [float(h) for h in args.hours.split(",")]:
        n = max(len(real), round(hours * ROWS_AN_HOUR))
        rows = _bank_rows(real, hours, rng)
        t = time.perf_counter()
        search = binary_index(rows, 0)[0]
        built = time.perf_counter() - t
        faiss.omp_set_num_threads(1)
        same = True
        theirs: list[float] = []
        ours: list[float] = []
        for q in queries:
            for _ in range(2):  # alternated, twice each
                c = time.process_time()
                want = search.search(q, lp.bank_knn)
                theirs.append(time.process_time() - c)
                c = time.process_time()
                got = search_binary(search, q, lp.bank_knn)
                ours.append(time.process_time() - c)
            same = same and np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
        a, b = statistics.median(theirs) * 1e3, statistics.median(ours) * 1e3
        row = {
            "hours": hours,
            "rows": n,
            "lists": int(search.nlist),
            "build_s": built,
            "faiss_ms": a,
            "engine_ms": b,
            "ratio": b / a,
            "same": same,
        }
        out.append(row)
        print(
            f"{hours:g} h: {n:,} rows, {search.nlist:,} lists, built in {built:.1f} s; a query frame "
            f"({len(queries)} searched): FAISS {a:.2f} ms, engine {b:.2f} ms ({b / a:.2f}x), "
            f"same answers: {'yes' if same else 'NO'}",
            flush=True,
        )
        del search, rows
    print("at end: " + load_averages(), flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0 if all(r["same"] for r in out) else 1


def _bank_rows(real: Any, hours: float, rng: Any) -> Any:
    """``real`` followed by perturbed copies of it (each XORed with a random pattern of its own) up to ``hours``."""
    import numpy as np

    n = max(len(real), round(hours * ROWS_AN_HOUR))
    copies = [real]
    while sum(len(c) for c in copies) < n:
        copies.append(real ^ rng.integers(0, 256, 32, dtype=np.uint8)[None, :])
    return np.ascontiguousarray(np.concatenate(copies)[:n])


def coarse_rows(rows: Any, queries: list[Any], hours: float, ratios: list[int], k: int) -> list[dict[str, Any]]:
    """The engine's coarse choice of lists on ``rows`` (lists of 512), coarse lists = centroids / each of ``ratios``,
    against the flat choice over every centroid and against the rule before (lists R times as long)."""
    import numpy as np

    from provenance.engine import binsearch

    def timed(index: Any) -> tuple[float, list[Any]]:
        spent, answers = [], []
        for q in queries:
            c = time.process_time()
            answers.append(binsearch.search_binary(index, q, k))
            spent.append(time.process_time() - c)
        return statistics.median(spent) * 1e3, answers

    def built(flat_lists: int, list_size: int) -> tuple[Any, float]:
        binsearch._FLAT_LISTS, binsearch._LONG_LIST_SIZE, binsearch._IVF_LIST_SIZE = flat_lists, list_size, list_size
        t = time.perf_counter()
        index = binsearch.ivf_index(rows)
        return index, time.perf_counter() - t

    saved = binsearch._FLAT_LISTS, binsearch._LONG_LIST_SIZE, binsearch._IVF_LIST_SIZE
    out: list[dict[str, Any]] = []
    try:
        lists = len(rows) // 512
        flat, flat_s = built(1 << 40, 512)  # every centroid compared: the 12 nearest lists
        flat_ms, want = timed(flat[0])
        probe = np.concatenate(queries[:30])
        exact = binsearch._chosen_lists(flat[0], probe, 12)[1]
        print(
            f"{hours:g} h: {len(rows):,} rows in {lists:,} lists of 512; the flat choice built in {flat_s:.1f} s, "
            f"{flat_ms:.2f} ms a query frame",
            flush=True,
        )
        del flat
        for r in ratios:
            before, before_s = built(1 << 40, 512 * r)  # the rule before: R times fewer lists, R times as long
            before_ms, _ = timed(before[0])
            del before
            coarse, coarse_s = built(max(1, lists // r), 512)
            coarse_ms, got = timed(coarse[0])
            chosen = binsearch._chosen_lists(coarse[0], probe, 12)[1]
            del coarse
            found = float(np.mean([len(set(a) & set(b)) / 12 for a, b in zip(exact, chosen, strict=True)]))
            d_got = np.concatenate([g[0] for g in got]).astype(np.int64)
            d_want = np.concatenate([w[0] for w in want]).astype(np.int64)
            row = {
                "hours": hours,
                "ratio": r,
                "lists": lists,
                "coarse_lists": max(1, lists // r),
                "flat_ms": flat_ms,
                "before_ms": before_ms,
                "coarse_ms": coarse_ms,
                "built_s": {"flat": flat_s, "before": before_s, "coarse": coarse_s},
                "lists_found": found,
                "same": float(np.mean((d_got == d_want).all(1))),
                "worse": float(np.mean((d_got > d_want).any(1))),
                "better": float(np.mean((d_got < d_want).any(1))),
            }
            out.append(row)
            print(
                f"  R {r} ({row['coarse_lists']:,} coarse lists): a query frame {coarse_ms:.2f} ms (the rule before, "
                f"lists of {512 * r}: {before_ms:.2f} ms; the flat choice {flat_ms:.2f}); the flat choice's 12 lists "
                f"found {found:.3f}; 4 nearest the same {row['same']:.3f}, worse {row['worse']:.3f}, better "
                f"{row['better']:.3f}; built {coarse_s:.1f} s (before {before_s:.1f} s)",
                flush=True,
            )
    finally:
        binsearch._FLAT_LISTS, binsearch._LONG_LIST_SIZE, binsearch._IVF_LIST_SIZE = saved
    return out


if __name__ == "__main__":
    raise SystemExit(main())
