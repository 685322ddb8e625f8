"""The decoder backends: ``pyav`` (FFmpeg through PyAV) and ``opencv`` (``cv2.VideoCapture``), and what they
share (sampling, rotation, stills). Registered by :mod:`provenance.media.decode`, which states their contract."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from provenance.errors import ConfigError, DecodeError
from provenance.media.frames import Frame, VideoReader, colour_due
from provenance.media.probe import MediaInfo, MediaInput, open_container, open_image, opened
from provenance.media.sampled import anchors_exact, decode_all
from provenance.media.sampled import sampled_decode as _sampled_decode

log = logging.getLogger(__name__)

__all__ = ["OpenCVReader", "PyAVReader", "rotate"]

#: A stream ending this many seconds before its announced duration is noted in ``warnings``.
_EARLY_END_S = 1.0


def _check_args(fps: float | None, size: tuple[int, int] | None) -> None:
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ConfigError(f"fps must be a positive number or None, got {fps!r}")
    if size is not None and (len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size)):
        raise ConfigError(f"size must be (width, height) of positive ints or None, got {size!r}")


class _Sampler:
    """Keeps every frame at or after the next sample time ``k / fps``; each frame at most once."""

    def __init__(self, fps: float | None) -> None:
        self.fps = fps
        self.k = 0
        self.last_t = -math.inf

    def take(self, t: float) -> bool:
        if t <= self.last_t:  # duplicate or out-of-order timestamp: never yield time going back
            return False
        if self.fps is None:
            self.last_t = t
            return True
        # tiny tolerance so that a frame at exactly k/fps (float noise) counts
        if t + 1e-9 < self.k / self.fps:
            return False
        self.last_t = t
        self.k = math.floor(t * self.fps + 1e-9) + 1
        return True


def rotate(img: npt.NDArray[np.uint8], rotation: int) -> npt.NDArray[np.uint8]:
    """Rotate by ``rotation`` degrees counter-clockwise (FFmpeg display-matrix convention)."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(img, k)) if k else img


def _to_gray(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """ITU-R 601 luma, with Pillow's fixed-point rounding."""
    r = rgb[..., 0].astype(np.uint32)
    g = rgb[..., 1].astype(np.uint32)
    b = rgb[..., 2].astype(np.uint32)
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)


def _read_still(source: MediaInput, size: tuple[int, int] | None, gray: bool) -> npt.NDArray[np.uint8]:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with opened(source) as target, open_image(target, source.label) as src:
            im: Image.Image = ImageOps.exif_transpose(src).convert("L" if gray else "RGB")
            if size is not None and im.size != size:
                im = im.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DecodeError(source.label, f"cannot decode image: {' '.join(str(exc).split())}") from exc
    return np.ascontiguousarray(arr)


class _ReaderBase:
    backend = "base"

    def __init__(self, source: MediaInput, info: MediaInfo, *, threads: bool = True) -> None:
        self.source = source
        self.name = source.label
        self.path = source.path if source.path is not None else Path(source.label)
        self.info = info
        self.threads = threads
        self.warnings: list[str] = []
        self.rotation = info.rotation
        self.anchors = False  # whether the last frames() took anchor pictures somewhere (``anchors=True``, exact)
        self._closed = False

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True

    def _warn(self, msg: str) -> None:
        self.warnings.append(msg)
        log.warning("%s: %s", self.name, msg)

    def frames(
        self,
        fps: float | None = None,
        size: tuple[int, int] | None = None,
        gray: bool = True,
        keyframes_only: bool = False,
        colour_every: float = 0,
        anchors: bool = False,
    ) -> Iterator[Frame]:
        _check_args(fps, size)
        if not (colour_every == 0 or colour_every >= 1):
            raise ConfigError(f"colour_every must be 0 or >= 1, got {colour_every!r}")
        if self._closed:
            raise DecodeError(self.name, "reader is closed")
        if not self.info.is_video:
            yield from self._still_frames(size, gray, colour_every)
            return
        yield from self._video_frames(fps, size, gray, keyframes_only, colour_every if gray else 0, anchors)

    def _video_frames(
        self,
        fps: float | None,
        size: tuple[int, int] | None,
        gray: bool,
        keyframes_only: bool,
        colour_every: float = 0,
        anchors: bool = False,
    ) -> Iterator[Frame]:
        raise NotImplementedError  # each backend decodes its own way

    def _still_frames(self, size: tuple[int, int] | None, gray: bool, colour_every: float = 0) -> Iterator[Frame]:
        colour = _read_still(self.source, size, False) if gray and colour_every else None
        yield Frame(0, 0.0, _read_still(self.source, size, gray), colour)

    def _check_end(self, n_out: int, last_t: float, error: str | None) -> None:
        """After the stream ends: raise if nothing decoded, else note damage in ``warnings``.

        ``last_t`` is the time of the last frame decoded (yielded or not), ``inf`` to skip
        the early-end check.
        """
        if n_out == 0:
            raise DecodeError(self.name, f"no frame could be decoded{': ' + error if error else ''}")
        if error is not None:
            where = f" after t={last_t:.3f}s" if math.isfinite(last_t) else ""
            self._warn(f"decoding stopped{where}: {error}")
        elif self.info.duration_s > 0 and last_t < self.info.duration_s - _EARLY_END_S - 1e-6:
            self._warn(f"stream ended at t={last_t:.3f}s, before its announced duration {self.info.duration_s:.3f}s")


# --------------------------------------------------------------------------- PyAV


class PyAVReader(_ReaderBase):
    """Decoding through PyAV (FFmpeg). Scaling and grey conversion by swscale, through one reformatter per kind of
    picture for the whole stream: ``frame.reformat`` sets up a new swscale context for every frame, which cost
    4.5 ms a 640 x 480 frame here against 0.3 ms with the context kept (the pictures are the same)."""

    backend = "pyav"

    def __init__(self, source: MediaInput, info: MediaInfo, *, threads: bool = True, container: Any = None) -> None:
        super().__init__(source, info, threads=threads)
        self._container = container  # opened by the probe, for the first decoding (closed with the reader)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
        super().close()

    def _video_frames(
        self,
        fps: float | None,
        size: tuple[int, int] | None,
        gray: bool,
        keyframes_only: bool,
        colour_every: float = 0,
        anchors: bool = False,
    ) -> Iterator[Frame]:
        import av
        from av.video.reformatter import VideoReformatter

        files = ExitStack()  # a source that is no plain file (a tar member) is read through its file object
        container, self._container = self._container, None
        try:
            container = container or open_container(files.enter_context(opened(self.source)))
        except (av.error.FFmpegError, OSError) as exc:
            files.close()
            raise DecodeError(self.name, f"cannot open: {exc}") from exc
        except BaseException:
            files.close()
            raise
        fmt = "gray" if gray else "rgb24"
        main, rgb = VideoReformatter(), VideoReformatter()
        # swscale's own slice threads (0: one a core, made and joined by each reformatter) only where decoding may
        # thread too: in a scan's one-thread workers they fought over the same cores (the same pixels either way)
        scale_threads = 0 if self.threads else 1
        sampler = _Sampler(fps)
        n_out = 0
        last_t = 0.0
        seen_t = 0.0
        shown_end = [0.0]  # the latest time a packet read is shown at (sampled decoding leaves frames out)
        error: str | None = None
        try:
            stream = container.streams.video[0]
            ctx = stream.codec_context
            if keyframes_only:
                ctx.skip_frame = "NONKEY"
            elif self.threads:
                stream.thread_type = "AUTO"
            if not self.threads and not ctx.is_open:  # else FFmpeg's slice threads, one a core, made for every clip
                ctx.thread_count = 1  # (PyAV refuses it once the decoder is open: a container handed over opened)
            tb = float(stream.time_base) if stream.time_base else 0.0
            t0: float | None = float(stream.start_time) * tb if stream.start_time is not None and tb > 0 else None
            rate = self.info.fps if self.info.fps > 0 else 25.0
            prev_t = -1.0 / rate
            self.anchors = False
            chosen = None  # anchors: whether the stream's sample times take anchor pictures, told by its packets
            if anchors and fps is not None and not keyframes_only:
                chosen = functools.partial(self._anchors, str(ctx.name), rate, fps)
            if fps is not None and not keyframes_only and not self.threads and t0 is not None:
                decoded = _sampled_decode(container, stream, fps, tb, t0, shown_end, chosen)
            else:
                decoded = decode_all(container, stream, chosen)
            while True:
                try:
                    frame = next(decoded)
                except StopIteration:
                    break
                except (av.error.FFmpegError, OSError, ValueError) as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    break
                if keyframes_only and not frame.key_frame:
                    continue
                if frame.pts is not None and tb > 0:
                    t_abs = float(frame.pts) * tb
                    if t0 is None:
                        t0 = t_abs
                    t = t_abs - t0
                else:  # no timestamp: assume the nominal rate
                    t = prev_t + 1.0 / rate
                prev_t = t
                seen_t = max(seen_t, t)
                if not sampler.take(t):
                    continue
                rot = frame.rotation
                if rot:
                    self.rotation = rot % 360
                img = self._convert(main, frame, size, fmt, rot, scale_threads)
                colour = None
                if colour_due(n_out, colour_every):
                    colour = self._convert(rgb, frame, size, "rgb24", rot, scale_threads)
                last_t = max(t, 0.0)
                yield Frame(n_out, last_t, img, colour)
                n_out += 1
        except (av.error.FFmpegError, OSError) as exc:  # container-level failure outside next()
            error = f"{type(exc).__name__}: {exc}"
        finally:
            container.close()
            files.close()
        # with key frames only, the last key frame may lie a whole GOP before the end
        self._check_end(n_out, math.inf if keyframes_only else max(seen_t, shown_end[0]), error)

    def _anchors(self, codec: str, rate: float, fps: float, packet: bytes) -> bool:
        vouched = anchors_exact(codec, packet, rate, fps)
        self.anchors = self.anchors or vouched
        return vouched

    @staticmethod
    def _convert(
        reformatter: Any, frame: Any, size: tuple[int, int] | None, fmt: str, rot: int, threads: int
    ) -> npt.NDArray[np.uint8]:
        # 90 / 270: scale to the transposed size, then rotate; no size: the frame's own (PyAV's None)
        w, h = (None, None) if size is None else (size[1], size[0]) if (rot // 90) % 2 else size
        img = reformatter.reformat(frame, width=w, height=h, format=fmt, threads=threads).to_ndarray()
        return rotate(np.ascontiguousarray(img, dtype=np.uint8), rot)


# --------------------------------------------------------------------------- OpenCV


class OpenCVReader(_ReaderBase):
    """Decoding through ``cv2.VideoCapture`` (FFmpeg inside OpenCV). A fallback: slower than PyAV."""

    backend = "opencv"

    def __init__(self, source: MediaInput, info: MediaInfo, *, threads: bool = True) -> None:
        if source.path is None:
            raise DecodeError(
                source.label, "the opencv backend reads only plain files, not members of archives; use the pyav backend"
            )
        super().__init__(source, info, threads=threads)

    def _keyframe_times(self) -> list[float]:
        """Key-frame times (s from stream start) from a packet-only pass (nothing decoded)."""
        try:
            import av
        except ImportError as exc:  # pragma: no cover - av is a core dependency
            raise ConfigError("keyframes_only with the opencv backend needs PyAV to list key frames") from exc
        times: list[float] = []
        try:
            with av.open(str(self.path), mode="r") as container:
                stream = container.streams.video[0]
                tb = float(stream.time_base) if stream.time_base else 0.0
                t0 = float(stream.start_time) * tb if stream.start_time is not None else None
                for packet in container.demux(stream):
                    if packet.is_keyframe and packet.pts is not None:
                        t_abs = float(packet.pts) * tb
                        if t0 is None:
                            t0 = t_abs
                        times.append(t_abs - t0)
        except (av.error.FFmpegError, OSError) as exc:
            self._warn(f"listing key frames stopped: {exc}")
        return sorted(times)

    def _video_frames(
        self,
        fps: float | None,
        size: tuple[int, int] | None,
        gray: bool,
        keyframes_only: bool,
        colour_every: float = 0,
        anchors: bool = False,  # not here: cv2.VideoCapture decodes every picture and says no picture type
    ) -> Iterator[Frame]:
        import cv2

        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise DecodeError(self.name, "OpenCV cannot open the file")
        rate = self.info.fps if self.info.fps > 0 else float(cap.get(cv2.CAP_PROP_FPS) or 25.0)
        half = 0.5 / rate
        keys = self._keyframe_times() if keyframes_only else []
        ki = 0
        sampler = _Sampler(fps)
        n_out = 0
        n_read = 0
        last_t = 0.0
        t0: float | None = None
        prev_t = -1.0 / rate
        try:
            while True:
                if not cap.grab():
                    break
                ms = float(cap.get(cv2.CAP_PROP_POS_MSEC))
                t_abs = ms / 1000.0 if math.isfinite(ms) and (ms > 0 or n_read == 0) else prev_t + 1.0 / rate
                if t0 is None:
                    t0 = t_abs
                t = t_abs - t0
                if t <= prev_t:  # OpenCV sometimes repeats a position; fall back to the nominal rate
                    t = prev_t + 1.0 / rate
                prev_t = t
                n_read += 1
                if keyframes_only:
                    while ki < len(keys) and keys[ki] < t - half:
                        ki += 1
                    if ki >= len(keys) or abs(keys[ki] - t) > half:
                        continue
                if not sampler.take(t):
                    continue
                ok, bgr = cap.retrieve()
                if not ok or bgr is None:
                    continue
                img = self._convert(bgr, size, gray)
                colour = self._convert(bgr, size, False) if colour_due(n_out, colour_every) else None
                last_t = max(t, 0.0)
                yield Frame(n_out, last_t, img, colour)
                n_out += 1
        finally:
            cap.release()
        # OpenCV does not report why a stream stopped; compare with the header instead.
        error = None
        if self.info.frame_count > 1 and n_read < 0.9 * self.info.frame_count - 1:
            error = f"only {n_read} of {self.info.frame_count} announced frames could be read"
        self._check_end(n_out, max(prev_t, 0.0), error)

    @staticmethod
    def _convert(bgr: Any, size: tuple[int, int] | None, gray: bool) -> npt.NDArray[np.uint8]:
        import cv2

        if size is not None and (bgr.shape[1], bgr.shape[0]) != size:
            shrink = size[0] < bgr.shape[1] and size[1] < bgr.shape[0]
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        out = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY if gray else cv2.COLOR_BGR2RGB)
        return np.ascontiguousarray(out, dtype=np.uint8)
