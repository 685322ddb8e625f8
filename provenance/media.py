"""Media facts: what a file is (video or still image) and its duration, rate and size.

``probe(path)`` reads only container and stream headers (and, where the
container does not say, counts packets), never decodes the whole file.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ._errors import DecodeError, NotMediaError

log = logging.getLogger(__name__)

MediaKind = Literal["video", "image"]

#: File name endings treated as still images and as videos. Content decides in
#: the end: a mislabelled file is probed by what it holds.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".gif", ".ts", ".mpg", ".mpeg"})


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """Facts about one media file. For a still image ``duration_s`` is 0 and ``fps`` is 0."""

    kind: MediaKind
    width: int
    height: int
    duration_s: float
    fps: float
    frame_count: int
    codec: str
    rotation: int = 0  # degrees clockwise a player applies (display matrix), 0/90/180/270

    @property
    def is_video(self) -> bool:
        return self.kind == "video"


def probe(path: str | Path) -> MediaInfo:
    """Return the media facts of ``path``.

    Raises :class:`NotMediaError` when the file holds neither a decodable image
    nor a video stream, and :class:`DecodeError` when it cannot be read.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise DecodeError(p, f"cannot read file: {exc.strerror or exc}") from exc
    if size == 0:
        raise NotMediaError(p, "empty file (0 bytes)")
    if p.suffix.lower() in IMAGE_SUFFIXES:
        info = _probe_image(p)
        if info is not None:
            return info
    info = _probe_video(p)
    if info is not None:
        return info
    info = _probe_image(p)
    if info is not None:
        return info
    container = _container_signature(p)
    if container is not None:
        raise DecodeError(p, f"corrupt or truncated {container} file: no decodable video stream")
    raise NotMediaError(p, "neither a video nor an image")


def _container_signature(p: Path) -> str | None:
    """The container a file's first bytes announce (mp4/mov, Matroska/WebM, AVI, GIF, MPEG-TS), if any."""
    try:
        with open(p, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    if len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return "MP4/QuickTime"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "Matroska/WebM"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "AVI"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head[:1] == b"\x47" and len(head) >= 1 and p.suffix.lower() in {".ts", ".m2ts"}:
        return "MPEG-TS"
    return None


def _probe_image(p: Path) -> MediaInfo | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as im:
            n_frames = int(getattr(im, "n_frames", 1))
            if n_frames > 1:  # animated GIF/WebP/PNG: a video
                return None
            im.verify()
            width, height = im.size
            fmt = (im.format or "image").lower()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    return MediaInfo("image", width, height, 0.0, 0.0, 1, fmt)


def _probe_video(p: Path) -> MediaInfo | None:
    import av

    try:
        container = av.open(str(p), mode="r")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError):
        return None
    try:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        ctx = stream.codec_context
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        if width <= 0 or height <= 0:
            return None
        codec = ctx.name or "unknown"
        if codec in {"png", "mjpeg", "webp", "bmp", "tiff"} and (stream.frames or 1) <= 1:
            # A still image seen through FFmpeg's image demuxer.
            return None
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        duration_s = _duration(container, stream)
        frames = int(stream.frames or 0)
        if frames <= 0 and fps > 0 and duration_s > 0:
            frames = max(1, round(duration_s * fps))
        if fps <= 0 and duration_s > 0 and frames > 0:
            fps = frames / duration_s
        rotation = _rotation(stream) or _first_frame_rotation(container, stream)
        return MediaInfo("video", width, height, duration_s, fps, frames, codec, rotation)
    except (av.error.FFmpegError, ValueError, ZeroDivisionError) as exc:
        log.debug("probe of %s failed: %s", p, exc)
        return None
    finally:
        container.close()


def _duration(container: object, stream: object) -> float:
    dur = getattr(stream, "duration", None)
    tb = getattr(stream, "time_base", None)
    if dur is not None and tb is not None and dur > 0:
        return float(dur * tb)
    cdur = getattr(container, "duration", None)
    if cdur is not None and cdur > 0:
        return float(cdur) / 1_000_000.0
    return 0.0


def _rotation(stream: object) -> int:
    for frame_side in ("side_data",):
        side = getattr(stream, frame_side, None)
        if not side:
            continue
        try:
            value = side.get("DISPLAYMATRIX")
        except AttributeError:
            value = None
        if value is not None:
            try:
                return round(float(value)) % 360
            except (TypeError, ValueError):
                return 0
    return 0


def _first_frame_rotation(container: object, stream: object) -> int:
    """Rotation from the first decoded frame's display matrix (PyAV >= 13 exposes ``frame.rotation``)."""
    try:
        for frame in container.decode(stream):  # type: ignore[attr-defined]
            return round(float(getattr(frame, "rotation", 0) or 0)) % 360
    except Exception:
        return 0
    return 0


def is_finite_positive(x: float) -> bool:
    return math.isfinite(x) and x > 0
