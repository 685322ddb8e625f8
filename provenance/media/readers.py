"""The decoder backends: ``pyav`` (FFmpeg through PyAV) and ``opencv`` (``cv2.VideoCapture``), and what they
share (sampling, rotation, stills). Registered by :mod:`provenance.media.decode`, which states their contract."""

from __future__ import annotations

import bisect
import itertools
import logging
import math
from collections import deque
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


#: Packets read ahead of the one being decoded: more than any stream reorders frames by (B-frames), so the frames
#: shown before a packet's frame are known when its turn comes.
_LOOKAHEAD = 32
#: A group of pictures (a key frame and the packets up to the next) is read whole before its key frame is decoded
#: when it holds at most this many packets and bytes; a longer one is decoded as it comes (see _sampled_decode).
_GOP_PACKETS = 600
_GOP_BYTES = 48 << 20
#: Packets after a key frame among which a frame shown before it (a leading picture, which may refer to the
#: group before: an open GOP) is looked for: a decoder's picture buffer holds at most 16 frames.
_REORDER = 16
#: NAL unit types of a picture that decoding can start at: H.264's IDR; HEVC's IRAP (BLA, IDR, CRA; a CRA's or
#: BLA's leading pictures are caught by the leading-picture check).
_RESTART_NALS = {"h264": frozenset({5}), "hevc": frozenset(range(16, 22))}
#: Codecs whose key frames refresh every reference (VP8, VP9 and AV1 key frames).
_RESTART_CODECS = frozenset({"vp8", "vp9", "av1", "libdav1d", "libaom-av1"})


def _nal_types(data: bytes, codec: str, length_size: int) -> set[int]:
    """The NAL unit types in a packet of H.264 or HEVC: length-prefixed (``length_size`` bytes, MP4 / Matroska)
    or, with ``length_size`` 0, after Annex B start codes (MPEG-TS, raw streams)."""
    shift, mask = (1, 0x3F) if codec == "hevc" else (0, 0x1F)
    found: set[int] = set()
    if length_size:
        i = 0
        while i + length_size < len(data):
            n = int.from_bytes(data[i : i + length_size], "big")
            found.add((data[i + length_size] >> shift) & mask)
            i += length_size + max(n, 1)
        return found
    i = data.find(b"\x00\x00\x01")
    while 0 <= i < len(data) - 3:
        found.add((data[i + 3] >> shift) & mask)
        i = data.find(b"\x00\x00\x01", i + 3)
    return found


def _restarts(ctx: Any) -> Any:
    """``restarts(packet)``: whether decoding can start at this key-frame packet with nothing before it, for codecs
    where that can be told (H.264 and HEVC by their NAL units, VP8 / VP9 / AV1 by the key flag); None for others."""
    codec = str(ctx.name)
    if codec in _RESTART_CODECS:
        return lambda packet: True
    if codec not in _RESTART_NALS:
        return None
    extra = bytes(ctx.extradata or b"")
    length_size = 0
    if extra[:1] == b"\x01":  # avcC / hvcC: NAL units prefixed by their length
        at = 21 if codec == "hevc" else 4
        length_size = (extra[at] & 3) + 1 if len(extra) > at else 4
    wanted = _RESTART_NALS[codec]
    return lambda packet: bool(wanted & _nal_types(bytes(packet), codec, length_size))


def _sampled_decode(container: Any, stream: Any, fps: float, tb: float, t0: float, end: list[float]) -> Iterator[Any]:
    """The stream's decoded frames, without the frames that no sample time takes and no taken frame refers to.

    A sample time ``k / fps`` takes the first frame shown at or after it (:class:`_Sampler`). Packets are read
    ahead, so a packet's frame is decoded when it is a reference of other frames (FFmpeg decides: the decoder
    skips non-reference frames under ``skip_frame=NONREF``, set per packet) or when it is the first frame at or
    after a sample time. And a group of pictures is read whole before its key frame is decoded (when it is not
    longer than :data:`_GOP_PACKETS`): its packets after the last one a sample takes are not decoded at all
    when decoding can start again at the next key frame (an IDR picture, a VP8 / VP9 / AV1 key frame; checked
    in the packet, :func:`_restarts`) and no frame after that key frame is shown before it (an open GOP's
    leading pictures may refer to the group before), nor at the end of the stream. Every frame that is decoded
    is what a full decode gives (its references are all decoded), and the sampler takes the same frames.
    For single-threaded decoding only (frame threads would apply the setting to other packets). ``end[0]`` is
    kept at the latest time a packet read is shown at (the stream's end, for the early-end check).
    """
    ctx = stream.codec_context
    restarts = _restarts(ctx)
    ahead: deque[tuple[Any, float | None]] = deque()  # (packet, time shown) read and not yet decoded
    size = 0  # their bytes
    keys: deque[int] = deque()  # the positions (counted from the stream start) of the key frames among them
    first = 0  # the position of ahead[0]
    shown: list[float] = []  # the times (from the stream start) of every frame read so far, sorted
    keep = drop = 0  # the head's group: packets still to decode as usual, then packets to leave undecoded
    count = 0  # packets read

    def needed(t: float | None) -> bool:
        if t is None:
            return True
        before = bisect.bisect_left(shown, t)
        previous = shown[before - 1] if before else -math.inf
        k = math.floor((t + 1e-9) * fps)  # the last sample time at or before t (its tolerance is _Sampler's)
        return k / fps > previous + 1e-9

    def plan(ended: bool) -> tuple[int, int] | None:
        """(packets to decode, packets to leave) of the group the head's key frame starts (at the stream's end,
        of what is left when the head is no key frame); None: unknown yet."""
        nxt = keys[1] - first if len(keys) > 1 and keys[0] == first else None  # the next group, when the head is a key
        if nxt is not None and restarts is not None:
            after = list(itertools.islice(ahead, nxt + 1, nxt + 1 + _REORDER))
            if len(after) < _REORDER and not ended:
                return None  # the next group's leading pictures are not all read yet
            key_t = ahead[nxt][1]
            clean = key_t is not None and all(t is not None and t > key_t for _, t in after)
            n = nxt if clean and restarts(ahead[nxt][0]) else 0
        elif ended:
            n = len(ahead)  # the rest of the stream: nothing after it refers to it
        else:
            return None
        last = max((i for i in range(n) if needed(ahead[i][1])), default=-1)
        return (last + 1, n - last - 1) if n else (0, 0)

    def ready() -> bool:
        """Whether the head can be decoded before the stream ends: read far enough ahead, and when it is a key
        frame, its group and the next group's first packets read (or the group is too long to wait for)."""
        if len(ahead) <= _LOOKAHEAD:
            return False
        if restarts is None or keep or drop or not keys or keys[0] != first:
            return True
        return (len(keys) > 1 and count - keys[1] > _REORDER) or len(ahead) > _GOP_PACKETS or size > _GOP_BYTES

    def pop(ended: bool) -> Iterator[Any]:
        nonlocal keep, drop, first, size
        if not (keep or drop) and (ended or (keys and keys[0] == first)):  # no plan: make one when it can be made
            keep, drop = plan(ended) or (0, 0)
        packet, t = ahead.popleft()
        size -= packet.size
        if keys and keys[0] == first:
            keys.popleft()
        first += 1
        if drop and not keep:
            drop -= 1  # left undecoded: nothing taken refers to it
            return
        keep = max(0, keep - 1)
        ctx.skip_frame = "DEFAULT" if needed(t) else "NONREF"
        yield from ctx.decode(packet)

    for packet in container.demux(stream):
        if packet.pts is None and packet.size == 0:
            continue  # the demuxer's end-of-stream packet: the decoder is drained below
        t = float(packet.pts) * tb - t0 if packet.pts is not None else None
        if t is not None:
            bisect.insort(shown, t)
            end[0] = max(end[0], t)
        if packet.is_keyframe:
            keys.append(count)
        count += 1
        ahead.append((packet, t))
        size += packet.size
        while ready():
            yield from pop(False)
    while ahead:
        yield from pop(True)
    ctx.skip_frame = "DEFAULT"
    yield from ctx.decode(None)


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
    ) -> Iterator[Frame]:
        _check_args(fps, size)
        if not (colour_every == 0 or colour_every >= 1):
            raise ConfigError(f"colour_every must be 0 or >= 1, got {colour_every!r}")
        if self._closed:
            raise DecodeError(self.name, "reader is closed")
        if not self.info.is_video:
            yield from self._still_frames(size, gray, colour_every)
            return
        yield from self._video_frames(fps, size, gray, keyframes_only, colour_every if gray else 0)

    def _video_frames(
        self,
        fps: float | None,
        size: tuple[int, int] | None,
        gray: bool,
        keyframes_only: bool,
        colour_every: float = 0,
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
            if fps is not None and not keyframes_only and not self.threads and t0 is not None:
                decoded = _sampled_decode(container, stream, fps, tb, t0, shown_end)
            else:
                decoded = container.decode(stream)
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
