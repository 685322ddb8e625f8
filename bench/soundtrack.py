"""Sound for the whole-scan benchmark's footage (``bench/audit_bench.py --audio``): each clip given a soundtrack,
and the registry given songs, so that the scan's audio path does the work it does on a real dataset.

The 720p footage (:mod:`footage720`) has no sound. :func:`add_sound` writes a copy of each clip whose video
packets are copied as they are (the picture, and so what the visual engine finds, is unchanged) with an AAC
track of 64 kbit/s mono muxed beside them, mixed from material nobody here wrote (Debian's
``frozen-bubble-data`` music and a streamer's commentary spoken by ``espeak-ng``, as ``bench/audio_bench.py``),
seeded:

* one clip in three: a registered track (``song`` or ``intro``) under the commentary at equal loudness; its
  truth gains the song's work (layer ``music``);
* one in three: the unregistered track under the commentary (nothing to find);
* one in three: the commentary alone (nothing to find);
* a clip longer than 2 minutes: a registered track in its first half, the unregistered one in the second.

:func:`sound_registry` writes a second manifest beside the clips (a label, two songs of ``kind: audio``), imported
after the footage registry's.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.audiomedia import COMMENTARY, RATE, SONGS, have_material, load, mix, speech  # noqa: E402

__all__ = ["LABEL_WORKS", "add_sound", "have_material", "sound_registry"]

#: The registered tracks' works (id, title, SONGS key).
LABEL_WORKS = (("bench-frozen-theme", "Frozen Theme", "song"), ("bench-frozen-intro", "Frozen Intro", "intro"))
_WORK_OF = {key: work for work, _, key in LABEL_WORKS}
_LONG_S = 120.0

MANIFEST = """# Written by bench/soundtrack.py: the songs of the whole-scan benchmark (music from frozen-bubble-data).
holders:
  - {id: bench-frostbite, name: Frostbite Records, kind: label}
works:
"""


def sound_registry(out: Path) -> Path:
    """A manifest of the registered tracks (copied beside it), to import after the footage registry's."""
    music = out / "music"
    music.mkdir(parents=True, exist_ok=True)
    text = MANIFEST
    for work, title, key in LABEL_WORKS:
        dst = music / SONGS[key].name
        dst.write_bytes(SONGS[key].read_bytes())
        text += (
            f"  - id: {work}\n    title: {title}\n    holder: bench-frostbite\n    layer: music\n"
            "    policy: {ai_training: deny, license: All rights reserved}\n"
            f"    references:\n      - {{path: music/{dst.name}, kind: audio}}\n"
        )
    path = out / "manifest.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _stretch(track: npt.NDArray[np.float32], seconds: float, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """``seconds`` of ``track`` from a seeded place (the track repeated when it is shorter)."""
    n = int(seconds * RATE)
    reps = -(-(n + track.size) // track.size)
    start = int(rng.uniform(0, track.size))
    return np.tile(track, reps + 1)[start : start + n]


def _soundtrack(
    i: int,
    seconds: float,
    tracks: dict[str, npt.NDArray[np.float32]],
    voice: npt.NDArray[np.float32],
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.float32], list[str]]:
    """Clip ``i``'s sound and the works in it."""
    v = _stretch(voice, seconds, rng)
    song = ("song", "intro")[(i // 3) % 2]
    if seconds > _LONG_S:  # registered music in the first half, unregistered in the second
        half = int(seconds * RATE) // 2
        music = np.concatenate([_stretch(tracks[song], half / RATE, rng), _stretch(tracks["other"], seconds, rng)])
        return mix(v, music[: v.size], 0.0), [_WORK_OF[song]]
    if i % 3 == 0:
        return mix(v, _stretch(tracks[song], seconds, rng), 0.0), [_WORK_OF[song]]
    if i % 3 == 1:
        return mix(v, _stretch(tracks["other"], seconds, rng), 0.0), []
    return (v / max(1.0, float(np.abs(v).max()) / 0.9)).astype(np.float32), []


def _remux(src: Path, dst: Path, sound: npt.NDArray[np.float32]) -> None:
    """``src``'s video packets as they are, with ``sound`` (mono at RATE) as an AAC track of 64 kbit/s."""
    import av

    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".partial.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream_from_template(vin)
        aout = out.add_stream("aac", rate=RATE)  # every stream before the first packet (the header)
        aout.bit_rate = 64000
        aout.layout = "mono"
        for packet in inp.demux(vin):
            if packet.dts is None:
                continue
            packet.stream = vout
            out.mux(packet)
        for k in range(0, sound.size, 1024):
            frame = av.AudioFrame.from_ndarray(
                sound[None, k : k + 1024].astype(np.float32), format="flt", layout="mono"
            )
            frame.sample_rate, frame.pts, frame.time_base = RATE, k, Fraction(1, RATE)
            for packet in aout.encode(frame):
                out.mux(packet)
        for packet in aout.encode(None):
            out.mux(packet)
    tmp.replace(dst)


def add_sound(
    dataset: Path, rels: list[str], durations: dict[str, float], out: Path, seed: int
) -> dict[str, list[dict[str, Any]]]:
    """Write each clip of ``dataset`` (``rels``, in order) with its soundtrack into ``out``; returns the truth
    entries their sound adds, per clip (``work``, ``layer: music``, ``modality: audio``)."""
    rng = np.random.default_rng(seed)
    tracks = {k: load(SONGS[k]) for k in ("song", "intro", "other")}
    voice = speech(" ".join([COMMENTARY] * 3), out.parent / "commentary.wav")
    added: dict[str, list[dict[str, Any]]] = {}
    for i, rel in enumerate(rels):
        sound, works = _soundtrack(i, durations[rel], tracks, voice, rng)
        _remux(dataset / rel, out / rel, sound)
        added[rel] = [{"work": w, "layer": "music", "modality": "audio"} for w in works]
    return added
