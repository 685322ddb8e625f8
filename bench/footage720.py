"""Build >= 30 minutes of 720p H.264 footage from the seeded benchmark corpus, for the whole-scan benchmark.

    python bench/footage720.py [--corpus bench/.corpus] [--seed 1] [--limit-minutes M] [--workers 2] [-v]

or from Python ``build(out, corpus_truth, seed=1) -> out/footage720.json``. The speed of a scan is measured on
footage shaped like a training dataset's (1280x720, 30 fps, yuv420p, H.264 at crf 23, GOP 2 s, no audio), not
on the corpus's short 640x360 15 fps clips, where per-file overheads would dominate. Each clip concatenates
clips of the corpus (:mod:`corpus`: registered copies under every edit, stream composites, community maps,
new gameplay and clean filmed clips), each resampled to 30 fps and scaled into the 720p frame (black bars
where its aspect differs), until the clip is full. Three clips in four draw from the whole corpus ("mixed"),
one in four only from its clean clips, so a scan has clean clips to pass as well; longer clips (5 minutes by
default) check that memory stays bounded with the length of a clip.

Layout under ``out``::

    dataset/clip_NNN.mp4   60 s clips (``clips`` of them)
    dataset/long_NNN.mp4   long clips (``long_clips`` of them, ``long_s`` seconds each)
    footage720.json        index, rewritten (atomically) after every clip written

``footage720.json``::

    {"description", "digest": what the footage depends on, "seed", "registry": manifest path relative to out,
     "dataset": "dataset", "settings": {...}, "plan": [relpath, ...] (clip order; --limit-minutes takes a prefix),
     "clips": {relpath: {"duration_s", "frames", "bytes", "sha256", "mix": "mixed|clean",
                         "sources": [{"clip": corpus relpath, "category", "start": s, "end": s}],
                         "truth": [entry, ...]}}}

Truth entries are the corpus's (``footage.truth_entry``: layer, holder, work, segment on the clip, reference,
ref_segment) shifted to where the source sits in the 720p clip, and cut where the clip ends (the reference
interval shortened in proportion). Everything is seeded and the encoder runs single-threaded: the same seed
and the same corpus give the same bytes, whatever ``workers`` is. A clip whose index entry matches the digest
and whose file has the recorded size is not written again; a different digest starts over.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_ROOT / "fixtures"))
sys.path.insert(1, str(_ROOT))
sys.path.insert(2, str(_ROOT / "bench"))

import footage as F  # noqa: E402

from provenance.errors import ConfigError  # noqa: E402

log = logging.getLogger("bench.footage720")

__all__ = ["Settings", "build", "load_index", "main", "select"]

INDEX = "footage720.json"
#: Bump whenever a change here changes the clips written or their truth (the cache is keyed on it).
VERSION = 1
CLEAN_EVERY = 4  # every 4th clip draws from clean corpus clips only


@dataclass(frozen=True)
class Settings:
    """What the footage looks like; every field enters the digest."""

    clips: int = 32
    clip_s: int = 60
    long_clips: int = 1
    long_s: int = 300
    width: int = 1280
    height: int = 720
    fps: int = 30
    crf: int = 23
    gop_s: int = 2
    preset: str = "veryfast"  # an uploader's preset; the decoder's cost hardly depends on it

    def __post_init__(self) -> None:
        checks = {
            "clips": self.clips >= 0,
            "clip_s": self.clip_s >= 1,
            "long_clips": self.long_clips >= 0,
            "long_s": self.long_s >= 1,
            "width": self.width >= 16 and self.width % 2 == 0,
            "height": self.height >= 16 and self.height % 2 == 0,
            "fps": 1 <= self.fps <= 120,
            "crf": 0 <= self.crf <= 51,
            "gop_s": self.gop_s >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            values = ", ".join(f"{b}={getattr(self, b)!r}" for b in bad)
            raise ConfigError(f"footage720 settings out of range: {values}")
        if self.clips + self.long_clips == 0:
            raise ConfigError("footage720 settings: clips + long_clips must be >= 1")


@dataclass(frozen=True)
class _ClipPlan:
    rel: str
    seconds: int
    mix: str
    candidates: tuple[str, ...]  # corpus clips in the order they are used (more than needed)


# ---------------------------------------------------------------------------------------------------------
# plan
# ---------------------------------------------------------------------------------------------------------


def _plan(truth: dict[str, Any], seed: int, s: Settings) -> list[_ClipPlan]:
    """The clips to write and, for each, the corpus clips it draws from (seeded; no corpus clip twice in a row)."""
    kinds = {rel: truth["kinds"][truth["categories"][rel]] for rel in truth["clips"]}
    every = sorted(kinds)
    clean = sorted(rel for rel, k in kinds.items() if k == "clean")
    if not clean:
        raise ConfigError("footage720: the corpus has no clean clips")
    plans: list[_ClipPlan] = []
    specs = [(f"dataset/clip_{i:03d}.mp4", s.clip_s) for i in range(s.clips)]
    specs += [(f"dataset/long_{i:03d}.mp4", s.long_s) for i in range(s.long_clips)]
    for i, (rel, seconds) in enumerate(specs):
        mix = "clean" if i % CLEAN_EVERY == CLEAN_EVERY - 1 else "mixed"
        pool = clean if mix == "clean" else every
        rng = np.random.default_rng([seed, i])
        need = math.ceil(seconds / 2) + 2  # corpus clips last >= ~3 s: this is always enough
        order: list[str] = []
        while len(order) < need:
            perm = [pool[j] for j in rng.permutation(len(pool))]
            if order and len(perm) > 1 and perm[0] == order[-1]:
                perm[0], perm[1] = perm[1], perm[0]
            order += perm
        plans.append(_ClipPlan(rel, seconds, mix, tuple(order[:need])))
    return plans


def _digest(truth: dict[str, Any], seed: int, s: Settings) -> str:
    """What the clips' bytes and truth depend on: the corpus, the writer (footage.py), the plan and settings.

    This file enters through :data:`VERSION` rather than its bytes, so that editing its documentation does
    not throw away ten minutes of encoding.
    """
    h = hashlib.sha256(Path(F.__file__).resolve().read_bytes())
    h.update(
        json.dumps(
            {
                "version": VERSION,
                "corpus": truth.get("generator"),
                "corpus_seed": truth.get("seed"),
                "corpus_scale": truth.get("scale"),
                "seed": seed,
                "settings": asdict(s),
            },
            sort_keys=True,
        ).encode()
    )
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------------
# writing one clip
# ---------------------------------------------------------------------------------------------------------


def _shift(entry: dict[str, Any], offset: float, taken: float) -> dict[str, Any] | None:
    """``entry`` of a source placed at ``offset`` of which ``taken`` seconds are used; None if cut away."""
    s, e = float(entry["segment"][0]), float(entry["segment"][1])
    if s >= taken - 1e-6:
        return None
    e2 = min(e, taken)
    ref = entry.get("ref_segment")
    if ref is not None and e2 < e:
        rs, re_ = float(ref[0]), float(ref[1])
        ref = (rs, rs + (re_ - rs) * (e2 - s) / (e - s)) if e > s else (rs, re_)
    shifted: dict[str, Any] = F.truth_entry(
        entry["layer"],
        entry["holder"],
        entry["work"],
        (offset + s, offset + e2),
        entry.get("reference"),
        None if ref is None else (float(ref[0]), float(ref[1])),
    )
    return shifted


def _frames(data: Path, plan: _ClipPlan, s: Settings, sources: list[dict[str, Any]]) -> Iterator[F.Image]:
    """The clip's frames: corpus clips one after the other, resampled and scaled into the frame.

    Appends to ``sources`` (clip, start, end) as it goes, so the caller knows what was used.
    """
    total = plan.seconds * s.fps
    n = 0
    aspect = s.width / s.height
    for rel in plan.candidates:
        start = n
        for img in F.read_video(data / rel, fps=s.fps):
            if n >= total:
                break
            yield F.letterbox(img, aspect, size=(s.width, s.height))
            n += 1
        if n > start:
            sources.append({"clip": rel, "start": start / s.fps, "end": n / s.fps})
        if n >= total:
            return
    raise ConfigError(f"footage720: {plan.rel}: corpus clips too short to fill {plan.seconds} s")


def _write_clip(out: str, data: str, plan: _ClipPlan, s: Settings, truth: dict[str, Any]) -> dict[str, Any]:
    """Encode one clip (to a hidden temporary name, then renamed) and return its index entry."""
    path = Path(out) / plan.rel
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")  # hidden: a scan never sees it
    sources: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    frames = F.write_video(
        tmp, _frames(Path(data), plan, s, sources), s.fps, crf=s.crf, gop=s.gop_s * s.fps, preset=s.preset
    )
    os.replace(tmp, path)
    entries: list[dict[str, Any]] = []
    for src in sources:
        src["category"] = truth["categories"][src["clip"]]
        for e in truth["clips"][src["clip"]]:
            shifted = _shift(e, src["start"], src["end"] - src["start"])
            if shifted is not None:
                entries.append(shifted)
    blob = path.read_bytes()
    log.info("wrote %s (%d frames, %d bytes) in %.1f s", path, frames, len(blob), time.perf_counter() - t0)
    return {
        "duration_s": frames / s.fps,
        "frames": frames,
        "bytes": len(blob),
        "sha256": hashlib.sha256(blob).hexdigest(),
        "mix": plan.mix,
        "sources": sources,
        "truth": entries,
    }


# ---------------------------------------------------------------------------------------------------------
# the cached build
# ---------------------------------------------------------------------------------------------------------


def load_index(out: Path) -> dict[str, Any] | None:
    """The index of a (possibly partial) build under ``out``, or None."""
    try:
        doc = json.loads((out / INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("clips"), dict):
        return None
    index: dict[str, Any] = doc
    return index


def _write_index(out: Path, doc: dict[str, Any]) -> None:
    tmp = out / f".{INDEX}.partial"
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out / INDEX)


def _done(out: Path, entry: dict[str, Any] | None, rel: str) -> bool:
    try:
        return entry is not None and (out / rel).stat().st_size == entry["bytes"]
    except OSError:
        return False


def select(index: dict[str, Any], limit_s: float | None = None) -> list[str]:
    """The plan's first clips whose durations add up to ``limit_s`` (all of them without a limit)."""
    chosen: list[str] = []
    total = 0.0
    for rel in index["plan"]:
        if limit_s is not None and total >= limit_s - 1e-6:
            break
        chosen.append(rel)
        total += _planned_seconds(index, rel)
    return chosen


def _planned_seconds(index: dict[str, Any], rel: str) -> float:
    s = index["settings"]
    return float(s["long_s"] if Path(rel).name.startswith("long_") else s["clip_s"])


def build(
    out: Path,
    corpus_truth: Path,
    *,
    seed: int = 1,
    settings: Settings = Settings(),
    limit_s: float | None = None,
    workers: int = 2,
) -> Path:
    """Write the footage under ``out`` (only what is missing) and return the index path.

    ``corpus_truth`` is the ``truth.json`` of a built corpus (:func:`corpus.build`). With ``limit_s`` only the
    plan's first clips covering that many seconds are written (the rest can follow later). ``workers``
    processes encode clips side by side; the bytes do not depend on it.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be an int >= 0, got {seed!r}")
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    truth = json.loads(Path(corpus_truth).read_text(encoding="utf-8"))
    corpus_root = Path(corpus_truth).parent
    data = corpus_root / truth["dataset"]
    out = Path(out)
    digest = _digest(truth, seed, settings)
    plans = _plan(truth, seed, settings)
    doc = load_index(out)
    if doc is None or doc.get("digest") != digest:
        shutil.rmtree(out / "dataset", ignore_errors=True)
        doc = {
            "description": "720p H.264 footage for bench/audit_bench.py, concatenated from the corpus's clips "
            "by bench/footage720.py. truth entries: see the corpus's truth.json; times on these clips.",
            "digest": digest,
            "seed": seed,
            "registry": os.path.relpath(corpus_root / truth["registry"], out),
            "dataset": "dataset",
            "settings": asdict(settings),
            "plan": [p.rel for p in plans],
            "clips": {},
        }
    (out / "dataset").mkdir(parents=True, exist_ok=True)
    wanted = set(select(doc, limit_s))
    todo = [p for p in plans if p.rel in wanted and not _done(out, doc["clips"].get(p.rel), p.rel)]
    if not todo:
        _write_index(out, doc)
        return out / INDEX
    log.info("writing %d clips of 720p footage under %s", len(todo), out)
    if workers == 1 or len(todo) == 1:
        for p in todo:
            doc["clips"][p.rel] = _write_clip(str(out), str(data), p, settings, truth)
            _write_index(out, doc)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = multiprocessing.get_context("spawn")
        # longest first, so the pool does not end with one process encoding a long clip alone
        todo.sort(key=lambda p: -p.seconds)
        with ProcessPoolExecutor(min(workers, len(todo)), mp_context=ctx) as pool:
            futures = {pool.submit(_write_clip, str(out), str(data), p, settings, truth): p.rel for p in todo}
            for fut in as_completed(futures):
                doc["clips"][futures[fut]] = fut.result()
                _write_index(out, doc)
    doc["clips"] = {rel: doc["clips"][rel] for rel in doc["plan"] if rel in doc["clips"]}
    _write_index(out, doc)
    return out / INDEX


def main(argv: list[str] | None = None) -> int:
    import corpus

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument(
        "--corpus", type=Path, default=_ROOT / "bench" / ".corpus", help="cache folder of the corpus and of the footage"
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--limit-minutes", type=float, help="write only the first clips covering this many minutes")
    ap.add_argument("--workers", type=int, default=2, help="encoding processes")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    t0 = time.perf_counter()
    try:
        truth = corpus.build(args.corpus / f"seed{args.seed}-x1", seed=args.seed, scale=1)
        path = build(
            args.corpus / f"footage720-seed{args.seed}",
            truth,
            seed=args.seed,
            workers=args.workers,
            limit_s=None if args.limit_minutes is None else args.limit_minutes * 60,
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    index = json.loads(path.read_text(encoding="utf-8"))
    clips = index["clips"]
    seconds = sum(c["duration_s"] for c in clips.values())
    registered = sum(1 for c in clips.values() if c["truth"])
    print(
        f"{path}: {len(clips)} clips, {seconds / 60:.1f} min, {sum(c['bytes'] for c in clips.values()):,d} bytes, "
        f"{registered}/{len(clips)} with registered material, {time.perf_counter() - t0:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
