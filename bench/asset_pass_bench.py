"""The asset pass alone against a registry of many stills: what it finds in each clip, and its CPU.

    python bench/asset_pass_bench.py [--assets 300] [--limit 0] [--out finds.json] [--compare other.json]

The clips are the short-clip corpus's (:mod:`shortclips`, real footage), decoded once into the frames the asset
pass sees (cached as ``.npz`` under ``--frames``); the index holds the corpus's 3 registered assets plus N
distractors of :mod:`scale_bench` (overlays and logos drawn in other colours; none is in any clip) and no
footage. Per clip it records the assets found (key, frame times, box) and the CPU of
:func:`~provenance.engine.assetpass.find_assets`; ``--compare`` prints where two runs' finds differ (a change
that is to keep every find must show none).
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


def clip_frames(clip: Path, cache: Path) -> list[tuple[float, Any, Any]]:
    """The (time, grey, RGB) frames the asset pass of :func:`~provenance.engine.match_clip` gets for ``clip``."""
    import numpy as np

    from provenance.engine import EngineParams, sampling

    if cache.exists():
        z = np.load(cache)
        return [(float(t), g, c) for t, g, c in zip(z["t"], z["grey"], z["rgb"], strict=True)]
    p = EngineParams()
    sampled = sampling.clip_frames(clip, p)
    kept: list[tuple[float, Any, Any]] = []
    for t, image, colour in sampled:
        if colour is not None:
            kept.append((t, image, colour))
            if len(kept) > 2 * max(1, sampled.colour_frames):
                kept[:] = kept[::2]
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp, t=np.array([k[0] for k in kept]), grey=np.stack([k[1] for k in kept]), rgb=np.stack([k[2] for k in kept])
    )
    tmp.replace(cache)
    return kept


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--assets", type=int, default=300, help="distractor assets added")
    ap.add_argument("--limit", type=int, default=0, help="N clips spread over the corpus (0: all)")
    ap.add_argument("--corpus", type=Path, default=BENCH / ".corpus" / "shortclips-seed1-n320")
    ap.add_argument("--frames", type=Path, default=Path("/tmp/asset-pass-frames"))
    ap.add_argument("--out", type=Path, help="write the finds and CPU here (JSON)")
    ap.add_argument("--compare", type=Path, help="a former --out: print where the finds differ")
    args = ap.parse_args(argv)

    from scale_bench import write_distractors

    from provenance.engine import EngineParams
    from provenance.engine.assetpass import find_assets
    from provenance.engine.references import ReferenceIndex, load_asset
    from provenance.engine.sampling import one_thread_per_process

    one_thread_per_process()
    doc = json.loads((args.corpus / "truth.json").read_text(encoding="utf-8"))
    rels = sorted(doc["clips"])
    if args.limit and args.limit < len(rels):  # spread over the corpus's categories
        rels = [rels[i * len(rels) // args.limit] for i in range(args.limit)]
    index = ReferenceIndex(EngineParams())
    for name in ("freedoom-hud", "nightowl-overlay", "lunafox-overlay"):
        index.add_asset(name, "stream", load_asset(args.corpus / "registry" / "assets" / f"{name}.png"), name)
    cache = BENCH / ".corpus"
    for i, rel in enumerate(write_distractors(cache / "distractors-seed1", args.assets, 1)):
        index.add_asset(f"distractor-{i:05d}", "other", load_asset(cache / rel), f"distractor-{i:05d}")
    index.asset_shortlist()
    methods = [d.method for _, d in index.assets]
    print(f"{len(rels)} clips, {len(index.assets)} assets ({methods.count('template')} template-only)", flush=True)
    out: dict[str, Any] = {}
    for rel in rels:
        frames = clip_frames(args.corpus / doc["dataset"] / rel, args.frames / (rel.replace("/", "__") + ".npz"))
        c = time.process_time()
        hits = find_assets(index, frames)
        cpu = time.process_time() - c
        out[rel] = {
            "cpu": cpu,
            "clean": not doc["clips"][rel],
            "finds": sorted(
                [h.key, [round(t, 3) for t in h.frames], list(h.box), h.method, round(h.score, 4)] for h in hits
            ),
        }
    for kind in (True, False):
        cpus = [v["cpu"] for v in out.values() if v["clean"] is kind]
        if cpus:
            print(
                f"{'clean' if kind else 'matching'} clips: {len(cpus)}, asset pass CPU median "
                f"{statistics.median(cpus):.3f} s, mean {statistics.fmean(cpus):.3f} s",
                flush=True,
            )
    finds = sum(len(v["finds"]) for v in out.values())
    distractors = sum(1 for v in out.values() for f in v["finds"] if f[0].startswith("distractor"))
    print(f"asset finds: {finds} ({distractors} of distractors)", flush=True)
    if args.out:
        args.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    if args.compare:
        other = json.loads(args.compare.read_text(encoding="utf-8"))
        diff = [r for r in out if r in other and out[r]["finds"] != other[r]["finds"]]
        for r in diff:
            print(f"  differs: {r}: {other[r]['finds']} -> {out[r]['finds']}")
        print(f"finds differ on {len(diff)} of {len([r for r in out if r in other])} clips compared", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
