"""Decoding audio: a media file's first audio stream, resampled to mono at a fixed rate, in chunks.

    for chunk in decode_audio("clip.mp4", rate=8000):   # float32 mono arrays, in order, never the whole track
        ...

* Only the first audio stream is read (a video's soundtrack, an audio file's track); the video is not decoded.
* Resampling is FFmpeg's (``av.AudioResampler``, mono, float): the chunks are what a player would hear at
  ``rate`` Hz, in [-1, 1].
* A file with no audio stream yields nothing (:func:`has_audio` tells it beforehand); a file that is no media,
  or whose audio cannot be opened, raises :class:`DecodeError` naming it. A stream damaged midway ends early
  without raising (what decoded is kept) and the reason is logged.
* ``max_seconds`` stops decoding after that much audio (a bound for files from outside).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from provenance.errors import DecodeError
from provenance.media.probe import MediaInput, MediaSource, media_input, open_container, opened

log = logging.getLogger(__name__)

__all__ = ["AUDIO_SUFFIXES", "audio_duration", "decode_audio", "has_audio"]

#: Suffixes of audio-only files a registry may hold (a soundtrack, a song, a VOD's audio track).
AUDIO_SUFFIXES = frozenset({".ogg", ".oga", ".opus", ".mp3", ".wav", ".flac", ".m4a", ".aac", ".wma", ".mka"})

_CHUNK_SAMPLES = 1 << 16


def _reason(exc: BaseException) -> str:
    strerror = getattr(exc, "strerror", None)
    return str(strerror) if strerror else " ".join(str(exc).split()) or type(exc).__name__


@contextmanager
def _container(inp: MediaInput) -> Iterator[Any]:
    """The file opened as a media container (closed on exit); :class:`DecodeError` naming it when it is none."""
    import av

    with opened(inp) as target:
        try:
            container = open_container(target)
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise DecodeError(inp.label, f"cannot open media: {_reason(exc)}") from exc
        try:
            yield container
        finally:
            container.close()


def has_audio(source: str | Path | MediaSource | MediaInput) -> bool:
    """Whether the file has an audio stream; :class:`DecodeError` when it cannot be opened as media."""
    with _container(media_input(source)) as container:
        return bool(container.streams.audio)


def audio_duration(source: str | Path | MediaSource | MediaInput) -> float:
    """The first audio stream's duration in seconds from the container's header (0.0 when unknown or none)."""
    with _container(media_input(source)) as container:
        if not container.streams.audio:
            return 0.0
        stream = container.streams.audio[0]
        if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
            return float(stream.duration * stream.time_base)
        if container.duration is not None and container.duration > 0:
            return float(container.duration) / 1_000_000.0
        return 0.0


def decode_audio(
    source: str | Path | MediaSource | MediaInput, rate: int = 8000, *, max_seconds: float | None = None
) -> Iterator[npt.NDArray[np.float32]]:
    """The first audio stream as mono float32 chunks at ``rate`` Hz, in order (see the module's contract)."""
    import av

    if not 1000 <= rate <= 192_000:
        raise ValueError(f"audio rate out of range: {rate}")
    inp = media_input(source)
    limit = None if max_seconds is None else int(max_seconds * rate)
    emitted = 0
    with _container(inp) as container:
        if not container.streams.audio:
            return
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        pending: list[npt.NDArray[np.float32]] = []
        size = 0
        try:
            for frame in container.decode(stream):
                frame.pts = None  # the resampler keeps its own clock (gaps in pts confuse it)
                for out in resampler.resample(frame):
                    data = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                    pending.append(data)
                    size += data.size
                if size >= _CHUNK_SAMPLES:
                    chunk = np.concatenate(pending)
                    pending, size = [], 0
                    if limit is not None and emitted + chunk.size >= limit:
                        yield chunk[: limit - emitted]
                        return
                    emitted += chunk.size
                    yield chunk
            for out in resampler.resample(None):
                pending.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
        except (av.error.FFmpegError, ValueError) as exc:
            log.warning("%s: audio decoding stopped early: %s", inp.label, _reason(exc))
        if pending:
            chunk = np.concatenate(pending)
            if limit is not None:
                chunk = chunk[: max(0, limit - emitted)]
            if chunk.size:
                yield chunk
