"""Benchmark the matching engine against a vPDQ-style baseline on a seeded corpus of real footage.

    python bench/engine_bench.py [--corpus DIR] [--seed 1] [--scale 1] [--json OUT] [--skip-baseline]

The corpus (:mod:`corpus`, cached in ``--corpus``) holds a registry of games, streamers and community maps
and a dataset of clips in categories: copies under each edit, stream composites, community maps in their
game, new gameplay of registered games, and clean clips (hard ones included). Both systems see the same
files:

* **engine**: the product path: the manifest is imported into a fresh SQLite registry and
  ``provenance.audit.scan`` writes the report of the contract;
* **baseline** ``pyvpdq``: a vPDQ-*style* baseline written here in Python (pdqhash; not Meta's C++ ``vpdq``,
  which ``bench/speed_bench.py`` runs) with Meta's vPDQ recipe: PDQ of every reference and clip frame at
  1 fps, quality >= 50, a frame matches within distance 31 of 256, a clip matches a reference video when
  >= 80 % of its frames match (footage only: vPDQ has no notion of still assets); and ``pyvpdq-all``, the
  same with every reference frame hashed (its most favourable setting: no sampling offset between clip and
  reference).

Scoring is per (clip, work) pair: a work listed in the report is a true positive when the truth lists it
for that clip, else a false positive; a truth work not listed is a false negative. Per category it prints
precision, recall and F1, the number of clean clips flagged, and the mean IoU on the reference timeline of
the copied segments (truth entries with a ``ref_segment``: the union of the reported segments on that
reference against the truth interval; a missed copy counts 0 in "IoU all", and is left out of "IoU found").
"Each occurrence" takes, for each copied segment, only the reported segments of its reference that overlap it
on the clip's timeline (0 when none does): where a clip shows one reference twice (the 720p long form's mixes:
River Raid at 6-12 s and again at 46-54 s), "IoU all" scores each occurrence against the union of both. (The
vPDQ baselines report whole clips, no clip times: their segments overlap every occurrence.)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import corpus  # noqa: E402
from pdq import PDQ  # noqa: E402

from provenance.audit import scan  # noqa: E402
from provenance.audit.manifests import import_manifest_file  # noqa: E402
from provenance.media.decode import open_video  # noqa: E402
from provenance.media.probe import IMAGE_SUFFIXES  # noqa: E402
from rightsdb import Registry  # noqa: E402

Interval = tuple[float, float]

# ---------------------------------------------------------------------------------------------------------
# scoring
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Tally:
    clips: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    flagged: int = 0  # clips with any finding
    ious: list[float] = field(default_factory=list)  # copies found
    missed_copies: int = 0
    #: each copy's IoU against the found segments of its reference that overlap it on the clip's timeline (0: none
    #: does); ``ious`` takes every segment of the reference in the clip, so a clip showing one reference twice
    #: (the 720p long form's mixes) scores each of the two against both
    placed_ious: list[float] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def iou_all(self) -> float | None:
        n = len(self.ious) + self.missed_copies
        return sum(self.ious) / n if n else None

    def iou_found(self) -> float | None:
        return sum(self.ious) / len(self.ious) if self.ious else None

    def iou_placed(self) -> float | None:
        """Mean of ``placed_ious`` over every copy (found or not: a copy no segment overlaps scores 0)."""
        return sum(self.placed_ious) / len(self.placed_ious) if self.placed_ious else None

    def add(self, other: Tally) -> None:
        self.clips += other.clips
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.flagged += other.flagged
        self.ious += other.ious
        self.missed_copies += other.missed_copies
        self.placed_ious += other.placed_ious


def union_iou(pred: Iterable[Interval], truth: Interval) -> float:
    """IoU of the union of ``pred`` intervals with ``truth`` on one timeline."""
    merged: list[list[float]] = []
    for s, e in sorted((min(a, b), max(a, b)) for a, b in pred):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    ts, te = truth
    inter = sum(max(0.0, min(e, te) - max(s, ts)) for s, e in merged)
    union = sum(e - s for s, e in merged) + (te - ts) - inter
    return inter / union if union > 0 else 0.0


def score_clip(truth: list[dict[str, Any]], layers: list[dict[str, Any]]) -> Tally:
    """Tally one clip: ``layers`` in the report's shape (work, segments with reference/ref_start/ref_end)."""
    expected = {e["work"] for e in truth}
    found = {layer["work"] for layer in layers}
    t = Tally(
        clips=1, tp=len(expected & found), fp=len(found - expected), fn=len(expected - found), flagged=int(bool(found))
    )
    by_work = {layer["work"]: layer for layer in layers}
    for e in truth:
        if e.get("ref_segment") is None:
            continue
        layer = by_work.get(e["work"])
        segs = [
            s
            for s in (layer or {}).get("segments", [])
            if s.get("reference") == e["reference"] and s.get("ref_start") is not None
        ]
        pred = [(s["ref_start"], s["ref_end"]) for s in segs]
        truth_ref = (float(e["ref_segment"][0]), float(e["ref_segment"][1]))
        if not pred:
            t.missed_copies += 1
        else:
            t.ious.append(union_iou(pred, truth_ref))
        start, end = (float(v) for v in e["segment"])
        # a segment without clip times (the vPDQ baselines match whole clips) overlaps every occurrence
        over = [
            (s["ref_start"], s["ref_end"])
            for s in segs
            if min(float(s.get("end", math.inf)), end) > max(float(s.get("start", -math.inf)), start)
        ]
        t.placed_ious.append(union_iou(over, truth_ref) if over else 0.0)
    return t


#: confidence bins of the reliability table: [low, high)
CONFIDENCE_BINS = ((0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 0.9), (0.9, 1.01))


def reliability(truth: dict[str, Any], layers: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Of the findings (clip, work) reported with a confidence in each bin, how many the truth holds: what a
    confidence of 0.9 means on this corpus. A work's confidence is its highest layer's (picture or sound)."""
    rows = [{"low": lo, "high": min(hi, 1.0), "findings": 0, "right": 0} for lo, hi in CONFIDENCE_BINS]
    for rel, entries in truth["clips"].items():
        expected = {e["work"] for e in entries}
        best: dict[str, float] = {}
        for layer in layers.get(rel, []):
            best[layer["work"]] = max(best.get(layer["work"], 0.0), float(layer.get("confidence") or 0.0))
        for work, conf in best.items():
            row = next(r for r, (lo, hi) in zip(rows, CONFIDENCE_BINS, strict=True) if lo <= conf < hi)
            row["findings"] += 1
            row["right"] += int(work in expected)
    return rows


def print_reliability(name: str, rows: list[dict[str, Any]]) -> None:
    cells = [
        f"[{r['low']:.2f}, {r['high']:.2f}{']' if r['high'] >= 1.0 else ')'}: {r['right']}/{r['findings']}"
        + (f" ({r['right'] / r['findings']:.2f})" if r["findings"] else "")
        for r in rows
    ]
    print(f"{name} confidence reliability (right / findings per confidence bin): " + "; ".join(cells))


# ---------------------------------------------------------------------------------------------------------
# the vPDQ-style baseline
# ---------------------------------------------------------------------------------------------------------

VPDQ_FPS = 1.0
VPDQ_DISTANCE = 31
VPDQ_QUALITY = 50
VPDQ_MATCH = 0.8


def vpdq_hashes(
    path: Path, pdq: PDQ, fps: float | None = VPDQ_FPS, threads: bool = True
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.uint8]]:
    """(times, hashes) of the frames at ``fps`` (None: all) with PDQ quality >= 50 (full-size frames);
    ``threads``: threaded decoding."""
    times: list[float] = []
    hashes: list[npt.NDArray[np.uint8]] = []
    with open_video(path, threads=threads) as reader:
        for frame in reader.frames(fps=fps, gray=False):
            h, q = pdq.compute_with_quality([frame.image])
            if q[0] >= VPDQ_QUALITY:
                times.append(frame.t)
                hashes.append(h[0])
    return np.asarray(times, np.float64), (np.stack(hashes) if hashes else np.zeros((0, 32), np.uint8))


def hamming(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    x = np.bitwise_xor(a[:, None, :], b[None, :, :])
    return np.unpackbits(x, axis=2).sum(axis=2, dtype=np.int64)


def vpdq_layers(clip: Path, refs: list[dict[str, Any]], pdq: PDQ, threads: bool = True) -> list[dict[str, Any]]:
    """Report-shaped layers for the works whose footage the clip matches by the vPDQ rule."""
    _, q = vpdq_hashes(clip, pdq, threads=threads)
    by_work: dict[str, dict[str, Any]] = {}
    if not len(q):
        return []
    for ref in refs:
        d = hamming(q, ref["hashes"])
        hit = d <= VPDQ_DISTANCE
        if hit.any(axis=1).mean() < VPDQ_MATCH:
            continue
        matched_t = ref["times"][hit.any(axis=0)]
        layer = by_work.setdefault(ref["work"], {"work": ref["work"], "segments": []})
        step = float(np.median(np.diff(ref["times"]))) if len(ref["times"]) > 1 else 1.0 / VPDQ_FPS
        layer["segments"].append(
            {
                "reference": ref["reference"],
                "ref_start": float(matched_t.min()),
                "ref_end": float(matched_t.max()) + step,
            }
        )
    return list(by_work.values())


def run_baseline(
    root: Path, truth: dict[str, Any], ref_fps: float | None = VPDQ_FPS
) -> tuple[dict[str, list[dict[str, Any]]], float]:
    import yaml

    pdq = PDQ()  # full-size frames, as the reference implementation
    t0 = time.perf_counter()
    manifest_path = root / truth["registry"]
    manifest = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
    refs = []
    for work in manifest["works"]:
        for r in work.get("references", []):
            if r.get("kind", "footage") != "footage" or Path(r["path"]).suffix.lower() in IMAGE_SUFFIXES:
                continue
            times, hashes = vpdq_hashes(manifest_path.parent / r["path"], pdq, ref_fps)
            refs.append({"work": work["id"], "reference": r["path"], "times": times, "hashes": hashes})
    out = {rel: vpdq_layers(root / truth["dataset"] / rel, refs, pdq) for rel in truth["clips"]}
    return out, time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------------------
# the engine (product path)
# ---------------------------------------------------------------------------------------------------------


def run_engine(root: Path, truth: dict[str, Any]) -> tuple[dict[str, list[dict[str, Any]]], float, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="engine-bench-") as tmp:
        registry = Registry(f"sqlite:///{tmp}/registry.db")
        try:
            t0 = time.perf_counter()
            import_manifest_file(registry, root / truth["registry"])
            report = scan(registry, root / truth["dataset"]).to_dict()
            elapsed = time.perf_counter() - t0
        finally:
            registry.dispose()
    out = {c["path"]: c["layers"] for c in report["clips"]}
    errors = {c["path"]: c["error"] for c in report["clips"] if c["error"]}
    if errors:
        raise SystemExit(f"engine failed on clips: {errors}")
    return out, elapsed, report


def run_engine_via_packs(root: Path, truth: dict[str, Any]) -> tuple[dict[str, list[dict[str, Any]]], float]:
    """The product path with the registry shipped as rights packs: the manifest imported and fingerprinted in one
    registry, one pack written per holder (``registry pack``: works, terms and fingerprints, no footage), the
    packs imported into a fresh registry (``registry import-pack``) and the dataset scanned against that one."""
    from provenance.audit import ensure_fingerprints
    from provenance.audit.packs import build_pack, import_pack_file
    from provenance.engine import EngineParams
    from rightsdb.queries import list_holders

    with tempfile.TemporaryDirectory(prefix="engine-bench-packs-") as tmp:
        source = Registry(f"sqlite:///{tmp}/source.db")
        lab = Registry(f"sqlite:///{tmp}/lab.db")
        try:
            t0 = time.perf_counter()
            import_manifest_file(source, root / truth["registry"])
            ensure_fingerprints(source, EngineParams())
            packs = []
            for holder in list_holders(source):
                packs.append(Path(tmp) / f"{holder['id']}.pack")
                build_pack(source, holder["id"], packs[-1])
            for pack in packs:
                import_pack_file(lab, pack)
            report = scan(lab, root / truth["dataset"]).to_dict()
            elapsed = time.perf_counter() - t0
        finally:
            source.dispose()
            lab.dispose()
    return {c["path"]: c["layers"] for c in report["clips"]}, elapsed


def _findings(layers: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What a clip's layers say, for comparing two runs: work, layer, verdict, and segments (rounded)."""
    return sorted(
        (
            x["work"],
            x["layer"],
            x["policy"]["ai_training"],
            tuple(sorted((s["reference"], round(s["start"], 1), round(s["end"], 1)) for s in x.get("segments", []))),
        )
        for x in layers
    )


# ---------------------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------------------


def tally(truth: dict[str, Any], layers: dict[str, list[dict[str, Any]]]) -> dict[str, Tally]:
    per: dict[str, Tally] = defaultdict(Tally)
    for rel, entries in truth["clips"].items():
        per[truth["categories"][rel]].add(score_clip(entries, layers.get(rel, [])))
    return per


def _f(x: float | None) -> str:
    return "   -" if x is None else f"{x:4.2f}"


def summary(truth: dict[str, Any], per: dict[str, Tally]) -> dict[str, Any]:
    kinds = truth["kinds"]
    total, copies = Tally(), Tally()
    clean_flagged = 0
    for cat, t in per.items():
        total.add(t)
        if kinds[cat] == "copy":
            copies.add(t)
        if kinds[cat] == "clean":
            clean_flagged += t.flagged
    copy_recalls = {cat: t.recall for cat, t in per.items() if kinds[cat] == "copy"}
    return {
        "precision": total.precision,
        "recall": total.recall,
        "f1": total.f1,
        "clean_flagged": clean_flagged,
        "clean_clips": sum(t.clips for c, t in per.items() if kinds[c] == "clean"),
        "min_copy_recall": min(copy_recalls.values()) if copy_recalls else None,
        "copy_iou_all": copies.iou_all(),
        "copy_iou_found": copies.iou_found(),
        "copy_iou_placed": copies.iou_placed(),
        "per_category": {
            c: {
                "clips": t.clips,
                "tp": t.tp,
                "fp": t.fp,
                "fn": t.fn,
                "precision": t.precision,
                "recall": t.recall,
                "f1": t.f1,
                "flagged": t.flagged,
                "iou_all": t.iou_all(),
                "iou_found": t.iou_found(),
            }
            for c, t in sorted(per.items())
        },
    }


def print_table(truth: dict[str, Any], results: dict[str, dict[str, Tally]]) -> None:
    names = list(results)
    head = f"{'category':<16}{'kind':<7}{'clips':>5} " + "".join(
        f"| {n[:10]:<10} {'P':>4} {'R':>4} {'F1':>4} {'IoU':>4} {'flag':>4} " for n in names
    )
    print(head)
    print("-" * len(head))
    order = ["copy", "stream", "ugc", "new", "clean"]
    cats = sorted(truth["kinds"], key=lambda c: (order.index(truth["kinds"][c]), c))
    for cat in cats:
        row = f"{cat:<16}{truth['kinds'][cat]:<7}{results[names[0]][cat].clips:>5} "
        for n in names:
            t = results[n][cat]
            row += f"| {'':<10} {_f(t.precision)} {_f(t.recall)} {_f(t.f1)} {_f(t.iou_all())} {t.flagged:>4} "
        print(row)
    print("-" * len(head))
    for n in names:
        s = summary(truth, results[n])
        print(
            f"{n:<9} overall P {s['precision']:.3f}  R {s['recall']:.3f}  F1 {s['f1']:.3f}  "
            f"clean flagged {s['clean_flagged']}/{s['clean_clips']}  "
            f"min copy-category recall {_f(s['min_copy_recall'])}  "
            f"copy IoU all {_f(s['copy_iou_all'])} / found {_f(s['copy_iou_found'])} / "
            f"each occurrence {_f(s['copy_iou_placed'])}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument(
        "--corpus",
        type=Path,
        default=ROOT / "bench" / ".corpus",
        help="corpus folder (built there from the seed when missing)",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scale", type=int, default=1, help="clips per category multiplier")
    ap.add_argument("--json", type=Path, help="also write the figures and every clip's findings here")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--only", help="score only clips whose path contains this text (engine debugging)")
    ap.add_argument(
        "--via-packs",
        action="store_true",
        help="also scan against the registry shipped as rights packs (one per holder) and compare the findings",
    )
    args = ap.parse_args(argv)

    out = args.corpus / f"seed{args.seed}-x{args.scale}"
    t0 = time.perf_counter()
    truth = json.loads(corpus.build(out, seed=args.seed, scale=args.scale).read_text(encoding="utf-8"))
    if args.only:
        truth["clips"] = {k: v for k, v in truth["clips"].items() if args.only in k}
        truth["kinds"] = {
            c: k for c, k in truth["kinds"].items() if any(truth["categories"][p] == c for p in truth["clips"])
        }
    print(
        f"corpus {out}: {len(truth['clips'])} clips in {len(truth['kinds'])} categories "
        f"(ready in {time.perf_counter() - t0:.1f} s)"
    )

    engine_layers, engine_s, report = run_engine(out, truth)
    print(f"engine: {engine_s:.1f} s (import, reference fingerprints, scan)")
    results = {"engine": tally(truth, engine_layers)}
    if args.via_packs:
        pack_layers, pack_s = run_engine_via_packs(out, truth)
        differ = [r for r in truth["clips"] if _findings(engine_layers[r]) != _findings(pack_layers.get(r, []))]
        print(
            f"engine via rights packs: {pack_s:.1f} s (import, fingerprints, one pack per holder, packs imported "
            f"into a fresh registry, scan); findings identical to the registry's on "
            f"{len(truth['clips']) - len(differ)} of {len(truth['clips'])} clips"
            + (f"; differ: {', '.join(differ)}" if differ else "")
        )
        results["engine-packs"] = tally(truth, pack_layers)
    base_layers: dict[str, list[dict[str, Any]]] = {}
    if not args.skip_baseline:
        base_layers, base_s = run_baseline(out, truth)
        print(f"pyvpdq, a vPDQ-style baseline in Python (pdqhash, not Meta's vpdq): {base_s:.1f} s")
        results["pyvpdq"] = tally(truth, base_layers)
        dense_layers, dense_s = run_baseline(out, truth, ref_fps=None)
        print(f"pyvpdq-all, the same with every reference frame hashed: {dense_s:.1f} s")
        results["pyvpdq-all"] = tally(truth, dense_layers)
    print()
    print_table(truth, results)
    print_reliability("engine", reliability(truth, engine_layers))

    wrong = []
    for rel, entries in truth["clips"].items():
        exp = {e["work"] for e in entries}
        got = {layer["work"] for layer in engine_layers.get(rel, [])}
        if exp != got:
            wrong.append(f"  {rel}: expected {sorted(exp)} got {sorted(got)}")
    if wrong:
        print("\nengine errors:")
        print("\n".join(wrong))
    if args.json:
        payload = {
            "corpus": str(out),
            "seed": args.seed,
            "scale": args.scale,
            "engine_s": engine_s,
            "figures": {n: summary(truth, r) for n, r in results.items()},
            "engine_clips": engine_layers,
            "baseline_clips": base_layers,
            "settings": report["scan"],
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
