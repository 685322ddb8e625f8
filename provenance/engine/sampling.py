"""How the engine samples a video: small grey frames streamed at a rate, an RGB copy of a few, one decoding
thread per worker process."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from provenance.engine.params import EngineParams
from provenance.errors import DecodeError
from provenance.media import open_video

__all__ = [
    "Sampled",
    "border_step",
    "clip_frames",
    "decode_all",
    "decode_only",
    "one_thread_per_process",
    "size_for",
    "threads_allowed",
]

#: Whether this process may use threads of its own: decoders, a feature bank's IVF writes (see
#: :func:`one_thread_per_process`, :func:`threads_allowed`).
_THREADS_ALLOWED = True


def one_thread_per_process() -> None:
    """Make this process do its work on one thread: decoding, OpenCV, and numpy's BLAS (FAISS searches are
    single-threaded already).

    For processes that each take a core (a scan's workers, one per core): there, extra threads only fight
    over the same cores; on this kind of machine, threaded decoding in two workers took 12 % more CPU than
    single-threaded, and OpenBLAS's helper threads doubled the CPU of the hash DCTs while they spun.
    """
    global _THREADS_ALLOWED
    import cv2
    from threadpoolctl import threadpool_limits

    _THREADS_ALLOWED = False
    cv2.setNumThreads(1)
    threadpool_limits(1)


def threads_allowed() -> bool:
    """Whether this process may spread work over its cores: not once :func:`one_thread_per_process` ran (a scan's
    worker, one of a core's: threads there fight the other workers; measured, two workers each placing a feature bank's
    IVF rows on 2 threads took 3.7-10x as long as on one: bench/index_bench.py, workers that build their index)."""
    return _THREADS_ALLOWED


def size_for(width: int, height: int, side: int) -> tuple[int, int]:
    scale = min(1.0, side / max(width, height))
    return max(16, round(width * scale) // 2 * 2), max(16, round(height * scale) // 2 * 2)


class Sampled:
    """The frames a pass samples from a video, streamed: ``(time, grey, rgb copy or None)``.

    Grey frames at ``fps`` scaled so the longer side is ``side``; with ``colour_frames``, about that many of
    them (spread over the clip, the first included) also come as RGB, and with ``colour_spacing_s`` at least one
    every that many seconds of a clip whose duration the container gives (``colour_frames`` holds the count once
    iteration starts). After iteration ``duration`` holds the
    clip's duration (the container's, else the last frame's time plus one sampling step).
    """

    def __init__(
        self,
        source: Any,
        fps: float,
        side: int,
        colour_frames: int = 0,
        colour_spacing_s: float | None = None,
        anchors: bool = False,
    ) -> None:
        self.source = source
        self.anchors = anchors
        self.fps = fps
        self.side = side
        self.colour_frames = colour_frames
        self.colour_spacing_s = colour_spacing_s
        self.duration = 0.0
        self.expected = 0  # frames the container's duration announces (0: unknown)
        self.count = 0

    def __iter__(self) -> Iterator[tuple[float, npt.NDArray[np.uint8], npt.NDArray[np.uint8] | None]]:
        with open_video(self.source, threads=threads_allowed()) as reader:
            size = size_for(reader.info.width, reader.info.height, self.side)
            self.expected = max(1, round(reader.info.duration_s * self.fps)) if reader.info.duration_s > 0 else 0
            if self.colour_frames and self.colour_spacing_s and reader.info.duration_s > 0:  # a long clip: more
                self.colour_frames = max(self.colour_frames, math.ceil(reader.info.duration_s / self.colour_spacing_s))
            # the colour copies spread over the clip, as many as asked: a whole step (every 3rd of 20 frames for
            # 6) gave up to twice as many to a short clip (all 11 frames of 5.5 s), each one searched for assets
            every = max(1.0, max(1, self.expected) / self.colour_frames) if self.colour_frames else 0.0
            last = 0.0
            frames = reader.frames(fps=self.fps, size=size, gray=True, colour_every=every, anchors=self.anchors)
            for frame in frames:
                self.count += 1
                last = frame.t
                yield frame.t, frame.image, frame.colour
            duration = reader.info.duration_s
        if not self.count:
            raise DecodeError(_source_name(self.source), "no frame could be decoded")
        self.duration = duration if duration > 0 else last + 1.0 / self.fps


def _source_name(source: Any) -> Path:
    return source if isinstance(source, Path) else Path(getattr(source, "name", str(source)))


def decode_all(path: Any, fps: float, side: int) -> tuple[list[float], list[npt.NDArray[np.uint8]], float]:
    """All grey frames at ``fps`` in memory (reference footage, fingerprinted once per file)."""
    sampled = Sampled(path, fps, side)
    times: list[float] = []
    images: list[npt.NDArray[np.uint8]] = []
    for t, image, _ in sampled:
        times.append(t)
        images.append(image)
    return times, images, sampled.duration


def decode_only(source: Any, params: EngineParams = EngineParams()) -> int:
    """Decode exactly the frames :func:`match_clip` samples (grey and RGB copies) and nothing else.

    The floor a scan's speed is measured against (``bench/audit_bench.py``). Returns the frame count.
    """
    sampled = clip_frames(source, params)
    return sum(1 for _ in sampled)


def clip_frames(source: Any, params: EngineParams) -> Sampled:
    """How a clip is sampled for matching: grey frames at ``query_fps``, RGB copies for the asset pass, anchor
    pictures where they decode exactly (:mod:`provenance.media.sampled`: an x264 clip's I and P pictures, a third
    of its pictures decoded instead of about half; a sample at most a B run later). Reference footage is sampled
    densely at its exact times (:func:`decode_all`): its prints are the registry's and do not move."""
    return Sampled(
        source, params.query_fps, params.analysis_side, params.asset_frames, params.asset_spacing_s, anchors=True
    )


def border_step(n: int) -> int:
    """Every how many frames to judge borders on: about 40 of them say as much as all."""
    return max(1, n // 40)
