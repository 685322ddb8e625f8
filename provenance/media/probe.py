"""Media facts: what a file is (video or still image) and its duration, rate and size.

``probe(x)`` reads only container and stream headers (and, where the
container does not say, counts packets), never decodes the whole file.

What can be probed and decoded: a path (``str`` / ``Path``), or a *media
source* (:class:`MediaSource`: anything with ``name``, ``suffix`` and
``open()``, such as :class:`provenance.sources.ClipSource` for a member of a
WebDataset tar shard). A plain file is read by path (FFmpeg and Pillow open it
themselves: the fast path); any other source through the seekable binary file
object its ``open()`` gives. Errors name the path, or the source's ``name``.

Size limit: a still image or video frame wider or taller than
:data:`MAX_SIDE` pixels, or with more than :data:`MAX_PIXELS` pixels, is
refused with a :class:`DecodeError` ("... 20000x20000 exceeds ...") before any
pixel is decoded: one such file would otherwise take gigabytes of memory (a
Pillow "decompression bomb"). Still-image sizes come from the file header
(PNG, JPEG, GIF, BMP, WebP parsed here; other formats from Pillow's header
parse); video sizes from the container and codec headers FFmpeg reads while
probing (FFmpeg may decode one frame to learn them).
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Literal, Protocol, runtime_checkable

from provenance.errors import DecodeError, NotMediaError
from provenance.media.files import open_regular

if TYPE_CHECKING:
    from PIL import Image as PILImage

log = logging.getLogger(__name__)

MediaKind = Literal["video", "image"]

#: File name endings treated as still images and as videos. Content decides in
#: the end: a mislabelled file is probed by what it holds.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".gif", ".ts", ".mpg", ".mpeg"})

#: Largest width or height decoded (16384 covers every video codec level in use, 8K included, and
#: panorama stills); larger is refused with a :class:`DecodeError`.
MAX_SIDE = 16384
#: Most pixels per image or frame decoded: 80 MP (an 8K frame has 35 MP). It stays below Pillow's
#: decompression-bomb warning (89.5 MP), so Pillow never warns or refuses on a file probe accepted.
MAX_PIXELS = 80_000_000


@runtime_checkable
class MediaSource(Protocol):
    """A clip that is not (only) a path: a tar member, a manifest entry.

    ``name`` is what error messages call it, ``suffix`` the lower-case suffix of its file name (the
    decoders' hint, content decides), ``open()`` a binary, seekable file object of its bytes. A
    source may also have ``local_file``: the plain file on disk holding exactly those bytes, which is
    then read by path (the fast path); without it, or when it is ``None``, decoding reads ``open()``.
    """

    @property
    def name(self) -> str: ...

    @property
    def suffix(self) -> str: ...

    def open(self) -> BinaryIO: ...


@dataclass(frozen=True, slots=True)
class MediaInput:
    """What the probe and the decoders read: a plain file by path, or a source through ``open()``.

    ``label`` is what errors name: the path as given for a path, the source's ``name`` for a source.
    """

    label: str
    suffix: str
    path: Path | None = None
    source: MediaSource | None = None

    def open(self) -> BinaryIO:
        """A binary, seekable file object of the media's bytes; :class:`DecodeError` when it cannot be read."""
        try:
            if self.path is not None:
                return open_regular(self.path)  # a FIFO or a device is refused, never waited on
            assert self.source is not None  # one of path / source is always set (media_input)
            return self.source.open()
        except DecodeError:
            raise
        except OSError as exc:
            raise DecodeError(self.label, f"cannot read file: {_os_reason(self.path, exc)}") from exc


def media_input(x: str | Path | MediaSource | MediaInput) -> MediaInput:
    """Normalise what callers pass to :func:`probe` and :func:`provenance.decode.open_video`."""
    if isinstance(x, MediaInput):
        return x
    if isinstance(x, str | os.PathLike):
        p = Path(x)
        return MediaInput(str(p), p.suffix.lower(), path=p)
    if not isinstance(x, MediaSource):
        raise TypeError(f"expected a path or a media source (name, suffix, open()), got {type(x).__name__}")
    local = getattr(x, "local_file", None)
    return MediaInput(x.name, x.suffix.lower(), path=Path(local) if local is not None else None, source=x)


def _os_reason(path: Path | None, exc: OSError) -> str:
    """A one-line reason for an OS error, naming a broken symbolic link as such."""
    if path is not None and isinstance(exc, FileNotFoundError) and path.is_symlink():
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        return f"broken symbolic link to {target!r}"
    return exc.strerror or str(exc)


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


def probe(path: str | Path | MediaSource | MediaInput, *, first_frame: bool = True) -> MediaInfo:
    """Return the media facts of ``path`` (a path or a :class:`MediaSource`).

    A video's rotation comes from its stream's display matrix or, where the container keeps it on frames only,
    from its first frame, which costs decoding that frame (a 1080p key frame: about 10 ms). ``first_frame=False``
    leaves that out (``rotation`` is then 0 unless the stream says otherwise): for a reader about to decode the
    frames, which turns each as its own display matrix says.

    Raises :class:`NotMediaError` when the file holds neither a decodable image
    nor a video stream, and :class:`DecodeError` when it cannot be read or is
    larger than :data:`MAX_SIDE` / :data:`MAX_PIXELS`.
    """
    return _probe(path, first_frame, keep=False)[0]


def probe_open(path: str | Path | MediaSource | MediaInput) -> tuple[MediaInfo, Any]:
    """:func:`probe` without the first frame (``first_frame=False``), and, for a video in a plain file, the PyAV
    container the probe opened, left open for a reader to decode from (``None`` otherwise: a still image, a
    member of an archive). The caller closes it. A reader that opened the file again would read its headers
    twice: about 2 ms a clip, 1 % of a short clip's whole scan."""
    return _probe(path, False, keep=True)


def _probe(path: str | Path | MediaSource | MediaInput, first_frame: bool, keep: bool) -> tuple[MediaInfo, Any]:
    inp = media_input(path)
    with inp.open() as fh:
        head, size = _head(inp, fh)
        if size == 0:
            raise NotMediaError(inp.label, "empty file (0 bytes)")
        header_size = _image_header_size(fh, head)
        if header_size is not None:
            check_size(inp.label, *header_size)
        # a plain file is opened by FFmpeg / Pillow themselves; any other source goes through fh
        target: Path | IO[bytes] = inp.path if inp.path is not None else fh
        if inp.suffix in IMAGE_SUFFIXES:
            info = _probe_image(target, inp.label)
            if info is not None:
                return info, None
        try:
            return _probe_video(target, inp.label, first_frame, keep=keep and isinstance(target, Path))
        except _NoVideo as exc:
            why = str(exc)
        info = _probe_image(target, inp.label)
        if info is not None:
            return info, None
    container = _container_signature(head, inp.suffix)
    if container is not None:
        raise DecodeError(inp.label, f"corrupt or truncated {container} file: {why}")
    raise NotMediaError(inp.label, "neither a video nor an image")


def check_size(label: str, width: int, height: int) -> None:
    """Raise :class:`DecodeError` when ``width`` x ``height`` is above :data:`MAX_SIDE` / :data:`MAX_PIXELS`."""
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise DecodeError(
            label, f"{width}x{height} exceeds the decoding limit ({MAX_SIDE} px a side, {MAX_PIXELS // 1_000_000} MP)"
        )


def _head(inp: MediaInput, fh: BinaryIO) -> tuple[bytes, int]:
    """The first 32 bytes and the size in bytes; :class:`DecodeError` when they cannot be read."""
    try:
        head = fh.read(32)
        size = fh.seek(0, os.SEEK_END)
        fh.seek(0)
    except OSError as exc:
        raise DecodeError(inp.label, f"cannot read file: {_os_reason(inp.path, exc)}") from exc
    return head, size


def _container_signature(head: bytes, suffix: str) -> str | None:
    """The container a file's first bytes announce (mp4/mov, Matroska/WebM, AVI, GIF, MPEG-TS), if any."""
    if len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return "MP4/QuickTime"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "Matroska/WebM"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "AVI"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head[:1] == b"\x47" and suffix in {".ts", ".m2ts"}:
        return "MPEG-TS"
    return None


# --------------------------------------------------------------------------- image header sizes

_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_JPEG_SCAN_LIMIT = 4 << 20  # bytes of JPEG segments walked looking for the frame header


def _image_header_size(fh: BinaryIO, head: bytes) -> tuple[int, int] | None:
    """Width and height a still image's header announces (PNG, GIF, BMP, WebP, JPEG), read without decoding.

    ``None`` for other content or a header too short to say; the file position is left at 0.
    """
    try:
        if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
            w, h = struct.unpack(">II", head[16:24])
            return int(w), int(h)
        if head.startswith((b"GIF87a", b"GIF89a")):
            w, h = struct.unpack("<HH", head[6:10])
            return int(w), int(h)
        if head.startswith(b"BM") and len(head) >= 26:
            (dib,) = struct.unpack("<I", head[14:18])
            if dib == 12:
                w, h = struct.unpack("<HH", head[18:22])
            else:
                w, h = struct.unpack("<ii", head[18:26])
            return abs(int(w)), abs(int(h))
        if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
            return _webp_size(head)
        if head.startswith(b"\xff\xd8"):
            return _jpeg_size(fh)
    except struct.error:
        return None
    finally:
        fh.seek(0)
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8X" and len(head) >= 30:
        return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
    if chunk == b"VP8L" and len(head) >= 25:
        (bits,) = struct.unpack("<I", head[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(head) >= 30:
        w, h = struct.unpack("<HH", head[26:30])
        return int(w) & 0x3FFF, int(h) & 0x3FFF
    return None


def _jpeg_size(fh: BinaryIO) -> tuple[int, int] | None:
    """Walk JPEG marker segments to the first frame header (SOFn) and read its size."""
    fh.seek(2)
    while fh.tell() < _JPEG_SCAN_LIMIT:
        b = fh.read(1)
        while b == b"\xff":  # fill bytes before a marker
            b = fh.read(1)
        if not b:
            return None
        marker = b[0]
        if marker == 0xD8 or 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length field
            continue
        raw = fh.read(2)
        if len(raw) < 2:
            return None
        (length,) = struct.unpack(">H", raw)
        if marker in _JPEG_SOF:
            body = fh.read(5)
            if len(body) < 5:
                return None
            h, w = struct.unpack(">HH", body[1:5])
            return int(w), int(h)
        if marker in (0xD9, 0xDA) or length < 2:  # end of image / start of scan before any frame header
            return None
        fh.seek(length - 2, os.SEEK_CUR)
        b = fh.read(1)
        if b != b"\xff":
            return None
        fh.seek(-1, os.SEEK_CUR)
    return None


# --------------------------------------------------------------------------- Pillow and PyAV, by path or file object


@contextmanager
def opened(source: MediaInput) -> Iterator[Path | IO[bytes]]:
    """What PyAV and Pillow read for ``source``: its path for a plain file, else its file object (closed after)."""
    if source.path is not None:
        yield source.path
        return
    with source.open() as fh:
        yield fh


def _rewind(target: Path | IO[bytes]) -> Path | IO[bytes]:
    if not isinstance(target, Path):
        target.seek(0)
    return target


@contextmanager
def open_image(target: Path | IO[bytes], label: str) -> Iterator[PILImage.Image]:
    """Pillow's image of ``target`` (a path, or a file object read from its start), size-checked.

    Pillow's decompression-bomb warning is silenced here because :func:`check_size` is stricter and
    says which size was refused; its error (far above the limit) becomes a :class:`DecodeError`.
    The file object, if any, stays open: its owner closes it.
    """
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(_rewind(target))
        except Image.DecompressionBombError as exc:
            raise DecodeError(
                label, f"image exceeds the decoding limit ({MAX_SIDE} px a side, {MAX_PIXELS // 1_000_000} MP): {exc}"
            ) from exc
    with im:
        check_size(label, *im.size)
        yield im


def open_container(target: Path | IO[bytes]) -> Any:
    """PyAV's input container of ``target`` (a path, or a file object read from its start).

    Raises what ``av.open`` raises. Closing the container leaves a file object open.
    """
    import av

    if isinstance(target, Path):
        return av.open(str(target), mode="r")
    return av.open(_rewind(target), mode="r")


def _probe_image(target: Path | IO[bytes], label: str) -> MediaInfo | None:
    from PIL import UnidentifiedImageError

    try:
        with open_image(target, label) as im:
            n_frames = int(getattr(im, "n_frames", 1))
            if n_frames > 1:  # animated GIF/WebP/PNG: a video
                return None
            im.verify()
            width, height = im.size
            fmt = (im.format or "image").lower()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    return MediaInfo("image", width, height, 0.0, 0.0, 1, fmt)


class _NoVideo(Exception):
    """The file holds no decodable video stream; ``args[0]`` says why, for the error message."""


def _probe_video(
    target: Path | IO[bytes], label: str, first_frame: bool = True, keep: bool = False
) -> tuple[MediaInfo, Any]:
    """The video's facts, and with ``keep`` its container still open (else ``None``, closed); :class:`_NoVideo`
    saying why it is none (a short reason for the error message)."""
    import av

    try:
        container = open_container(target)
    except av.error.EOFError:
        raise _NoVideo("no video frame before the end of the file") from None
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise _NoVideo(f"no decodable video stream ({_av_reason(exc)})") from exc
    try:
        if not container.streams.video:
            raise _NoVideo("no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        if width <= 0 or height <= 0:
            raise _NoVideo("no decodable video stream (size unknown)")
        codec = ctx.name or "unknown"
        demuxer = getattr(container.format, "name", "") or ""
        if (
            codec in {"png", "mjpeg", "webp", "bmp", "tiff"}
            and (stream.frames or 1) <= 1
            and (demuxer.endswith("_pipe") or demuxer.startswith("image2"))
        ):
            # A still image seen through FFmpeg's image demuxer (an MJPEG video in a real container is a video).
            raise _NoVideo("a still image")
        check_size(label, width, height)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        duration_s = _duration(container, stream)
        frames = int(stream.frames or 0)
        if frames <= 0 and fps > 0 and duration_s > 0:
            frames = max(1, round(duration_s * fps))
        if fps <= 0 and duration_s > 0 and frames > 0:
            fps = frames / duration_s
        rotation = _rotation(stream) or (_first_frame_rotation(container, stream) if first_frame else 0)
        info = MediaInfo("video", width, height, duration_s, fps, frames, codec, rotation)
        if isinstance(target, Path):
            _remember_tags(target, container)
    except (av.error.FFmpegError, ValueError, ZeroDivisionError) as exc:
        container.close()
        log.debug("probe of %s failed: %s", label, exc)
        raise _NoVideo(f"no decodable video stream ({_av_reason(exc)})") from exc
    except BaseException:
        container.close()
        raise
    if keep and not first_frame:  # nothing decoded or demuxed yet: a reader starts from the first packet
        return info, container
    container.close()
    return info, None


#: ``(where, {key: value})``: the container's tags, then each stream's (``"stream N"``).
Tags = tuple[tuple[str, dict[str, str]], ...]
#: The container tags of the last files probed (:func:`container_tags`), by the file's identity (path, device,
#: inode, size, modification time).
_TAGS: OrderedDict[tuple[str, int, int, int, int], Tags] = OrderedDict()
_TAGS_KEPT = 16
_TAGS_LOCK = threading.Lock()


def _identity(path: Path) -> tuple[str, int, int, int, int]:
    st = os.stat(path)
    return (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _remember_tags(path: Path, container: Any) -> None:
    try:
        key = _identity(path)
    except OSError:
        return
    tags: Tags = (("container", dict(container.metadata)),)
    tags += tuple((f"stream {s.index}", dict(s.metadata)) for s in container.streams)
    with _TAGS_LOCK:
        _TAGS[key] = tags
        _TAGS.move_to_end(key)
        while len(_TAGS) > _TAGS_KEPT:
            _TAGS.popitem(last=False)


def container_tags(path: Path) -> Tags | None:
    """The container's and its streams' tags as a probe of the same file read them, when one of the last few
    probes read this file and it has not changed since (same inode, size and modification time); else None.

    A clip's signals are read after the clip is decoded: opening its container again only for its tags cost about
    5 ms a clip (FFmpeg reads the first frames of every stream to open it), 1.5 % of a short clip's scan."""
    try:
        key = _identity(path)
    except OSError:
        return None
    with _TAGS_LOCK:
        return _TAGS.get(key)


def _av_reason(exc: BaseException) -> str:
    """FFmpeg's reason without the file name PyAV appends (``"Invalid data ...: 'x.mp4'"``)."""
    strerror = getattr(exc, "strerror", None)
    return str(strerror) if strerror else " ".join(str(exc).split())


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
