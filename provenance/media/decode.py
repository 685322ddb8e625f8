"""Decoding: media files in, sampled small frames out.

One interface, a registry filled by guarded imports, a factory::

    with open_video("clip.mp4") as reader:          # backend "pyav" (default) or "opencv"
        print(reader.info.duration_s)
        for frame in reader.frames(fps=1.0, size=(64, 64), gray=True):
            ...                                      # Frame(index, t, image)

Contract every backend keeps (``tests/test_decode.py`` runs it over all of them):

* ``frames()`` is a generator: it decodes sequentially and never holds the
  whole video in memory. End of stream ends iteration; no frame is ever
  ``None``.
* ``fps=None`` yields every decoded frame. ``fps=f`` yields, for each sample
  time ``k / f`` (``k = 0, 1, ...``), the first decoded frame whose
  presentation time is ``>=`` that time; a decoded frame is yielded at most
  once, so asking for more than the native rate gives the native frames. No
  seeking: sampling is done on the sequential decode.
* ``size=(width, height)`` scales each frame (after rotation, i.e. in the
  orientation a player shows); ``None`` keeps the native size. ``gray=True``
  gives ``(H, W) uint8`` (full-range luma), ``gray=False`` ``(H, W, 3) uint8`` RGB.
* ``colour_every=k`` (with ``gray=True``) also gives every k-th yielded frame an RGB copy of the
  same size in ``Frame.colour`` (one decode serves hashing in grey and colour checks); a fractional ``k``
  (at least 1) spreads the copies as evenly as whole frames allow (the frames ``ceil(j * k)``,
  :func:`~provenance.media.frames.colour_due`).
* ``keyframes_only=True`` yields only key frames (one per GOP), which skips
  most of the decoding work; ``fps`` still thins them.
* Sampling (``fps``) on one thread (``threads=False``, as a scan's workers decode) leaves undecoded the
  non-reference frames (most B-frames) that no sample time takes; the frames yielded are the same, from about
  two thirds of the frames decoded.
* ``anchors=True`` (with ``fps``, PyAV only) lets a sample time take the first *anchor* picture (I or P) at or
  after it, where the stream says its anchors decode exactly without its B pictures (an x264 stream with one
  reference frame, a strict pyramid or Blu-ray compatibility, whose B runs are short): then no B picture is
  decoded, threaded or not (a third of the pictures decoded instead of about half), and ``reader.anchors`` says
  so; elsewhere the frames are those of ``anchors=False`` (:mod:`provenance.media.sampled`).
* ``Frame.t`` is seconds from the start of the stream (the first frame is at
  or near 0); timestamps increase strictly.
* Rotation metadata (display matrix) is applied: frames look as a player
  shows them.
* Still images (PNG, JPEG, WebP, ...) give one frame at ``t = 0`` (EXIF
  orientation applied). Animated GIFs are videos.
* Errors: a missing or unreadable file raises :class:`DecodeError`; a file that
  is no media raises :class:`NotMediaError`; a file of which no frame decodes
  raises :class:`DecodeError` (from ``frames()``, at the first ``next()``); an
  image or video larger than ``media.MAX_SIDE`` / ``media.MAX_PIXELS`` raises
  :class:`DecodeError` before anything is decoded. Messages name the path, or
  the source's ``name``.
* Sources: besides a path, ``open_video`` takes a :class:`~provenance.media.MediaSource`
  (e.g. :class:`provenance.sources.ClipSource`, a member of a tar shard). A
  source backed by a plain file is read by path exactly as that path would be;
  any other is read through the seekable file object of its ``open()`` (PyAV
  and Pillow read file objects; the ``opencv`` backend refuses them).
* A damaged or truncated file whose first frames decode yields those frames
  and then ends *without raising*; what went wrong is appended to
  ``reader.warnings`` (a list of one-line strings) and logged. A stream that
  ends more than a second before the duration its header announces is also
  noted there. Callers that need complete coverage must check
  ``reader.warnings`` after iterating.

Backends: ``"pyav"`` (FFmpeg through PyAV; scaling by ``frame.reformat``, which
is far faster than resizing full frames, threaded decoding for dense reads and
``skip_frame="NONKEY"`` for key frames) and ``"opencv"`` (``cv2.VideoCapture``;
a fallback, slower, key frames found by a packet-only PyAV pass).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from provenance.errors import ConfigError, DecodeError
from provenance.media.frames import Frame, VideoReader
from provenance.media.probe import (
    MediaInfo,
    MediaInput,
    MediaSource,
    media_input,
    open_container,
    opened,
    probe,
    probe_open,
)
from provenance.media.readers import OpenCVReader, PyAVReader, rotate

log = logging.getLogger(__name__)

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "VideoBackend", "available_backends", "frame_at", "iter_frames", "open_video"]


class VideoBackend(Protocol):
    """A decoder backend: called with the media input (and options), returns an opened reader."""

    def __call__(self, source: MediaInput, info: MediaInfo, *, threads: bool = True) -> VideoReader: ...


#: name -> backend, filled by guarded imports below.
BACKENDS: dict[str, VideoBackend] = {}
DEFAULT_BACKEND = "pyav"


def available_backends() -> list[str]:
    """Names of the backends whose libraries imported."""
    return sorted(BACKENDS)


def open_video(path: str | Path | MediaSource, backend: str = DEFAULT_BACKEND, *, threads: bool = True) -> VideoReader:
    """Open ``path`` (a path or a media source) with ``backend`` and return its reader.

    ``threads=False`` asks for single-threaded decoding (better when one
    decoder per core runs over many files). Raises :class:`ConfigError` for an
    unknown or unavailable backend, :class:`DecodeError` /
    :class:`NotMediaError` when the file cannot be opened as media.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"decode backend {backend!r} is not available (have: {available_backends()})")
    source = media_input(path)
    if source.path is not None and source.path.is_dir():
        raise DecodeError(source.label, "is a directory")
    # raises DecodeError / NotMediaError; no first frame decoded for the rotation: the readers turn every frame as
    # its own display matrix says
    if backend != "pyav":
        return BACKENDS[backend](source, probe(source, first_frame=False), threads=threads)
    info, container = probe_open(source)  # the probe's container, decoded from: the file's headers read once
    return PyAVReader(source, info, threads=threads, container=container)


def iter_frames(
    path: str | Path | MediaSource,
    fps: float | None = None,
    size: tuple[int, int] | None = None,
    gray: bool = True,
    keyframes_only: bool = False,
    backend: str = DEFAULT_BACKEND,
) -> Iterator[Frame]:
    """Open ``path``, yield its sampled frames, close it. Warnings go to the log only."""
    with open_video(path, backend) as reader:
        yield from reader.frames(fps=fps, size=size, gray=gray, keyframes_only=keyframes_only)


def frame_at(source: str | Path | MediaSource, t: float, max_side: int) -> npt.NDArray[np.uint8] | None:
    """The RGB frame shown at ``t`` seconds from the stream start (the first frame whose time is ``>= t``, the last
    one when none is), at most ``max_side`` pixels on its longer side, turned as a player shows it; None when the
    file has no video stream. One seek to the key frame at or before ``t``, then decoding forward (thumbnails of
    a report: a frame here and there, never the whole stream). Raises :class:`DecodeError` when nothing decodes.
    """
    import av

    inp = media_input(source)
    with opened(inp) as target:
        try:
            container = open_container(target)
        except (av.error.FFmpegError, OSError) as exc:
            raise DecodeError(inp.label, f"cannot open: {exc}") from exc
        with container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            tb = float(stream.time_base) if stream.time_base else 0.0
            start = int(stream.start_time) if stream.start_time is not None else None
            if start is not None and tb > 0 and t > 0:  # without a known start, times count from the first frame
                container.seek(start + int(t / tb), stream=stream)
            best: Any = None
            t0: float | None = start * tb if start is not None and tb > 0 else None
            frames = container.decode(stream)
            while True:
                try:
                    frame = next(frames)
                except StopIteration:
                    break
                except (av.error.FFmpegError, OSError, ValueError) as exc:  # damaged further on: keep what decoded
                    if best is None:
                        raise DecodeError(inp.label, f"no frame at {t:.3f}s could be decoded: {exc}") from exc
                    break
                if frame.pts is not None and tb > 0:
                    t_abs = float(frame.pts) * tb
                    t0 = t_abs if t0 is None else t0
                    ft = t_abs - t0
                else:  # no timestamps: take the first frame that decodes
                    ft = math.inf
                best = frame
                if ft + 1e-6 >= t:
                    break
            if best is None:
                return None
            rot = round(float(getattr(best, "rotation", 0) or 0)) % 360
            scale = min(1.0, max_side / max(best.width, best.height, 1))
            w, h = max(2, round(best.width * scale)), max(2, round(best.height * scale))
            img = best.reformat(width=w, height=h, format="rgb24").to_ndarray()
            return rotate(np.ascontiguousarray(img, dtype=np.uint8), rot)


# --------------------------------------------------------------------------- registry


def _register(name: str, factory: Callable[..., VideoReader]) -> None:
    BACKENDS[name] = factory


try:
    import av as _av  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    log.debug("PyAV not importable; backend 'pyav' unavailable")
else:
    _register("pyav", PyAVReader)

try:
    import cv2 as _cv2  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    log.debug("OpenCV not importable; backend 'opencv' unavailable")
else:
    _register("opencv", OpenCVReader)
