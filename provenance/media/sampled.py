"""Sampled decoding on one thread: only the pictures a sampling rate takes and those they refer to are decoded.

:func:`sampled_decode` is the PyAV reader's decoding at a sampling rate (:mod:`provenance.media.readers`): packets
are read ahead and each one's ``skip_frame`` set so that FFmpeg decodes the pictures sample times take and their
references, and leaves out the rest (non-reference pictures; a group of pictures' packets after its last sample,
where decoding can start again at the next key frame).

**Anchor pictures** (``anchors=True``, asked by the engine's clip sampler): a sample time may also take the first
*anchor* picture (I or P) at or after it instead of the first picture, where the stream says that its anchors
refer to no B picture (:func:`anchors_exact`): then every B picture is left out (``skip_frame=BIDIR``), the B
pictures that are references (x264's B-pyramid) too, which the non-reference skip must decode, and every anchor
decoded is exactly what a full decode gives. On x264 streams with B-frames, anchors are about a third of the
pictures (on the short-clip corpus: 2,570 of 7,612, where the non-reference skip decodes 4,128; decoding 45 %
cheaper), and a sample is taken at most a B run later (3 frames, 0.1 s at 30 fps). Whether P pictures may refer
to B pictures is the encoder's choice: x264 writes its options into the stream (an SEI message of the first
picture), and its P pictures refer to no B picture with one reference frame (``ref=1``: the nearest anchor before,
presets ultrafast to veryfast), a strict pyramid (``b_pyramid=1``) or Blu-ray compatibility; with its default
normal pyramid and several reference frames they do (decoded without their B references, 135 of 139 anchors of a
real clip came out damaged), and so does any stream this module cannot vouch for: those keep the first picture at
or after each sample time, as before.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["anchors_exact", "decode_all", "h264_is_b", "sampled_decode", "x264_options"]

#: Packets read ahead of the one being decoded: more than any stream reorders frames by (B-frames), so the frames
#: shown before a packet's frame are known when its turn comes.
_LOOKAHEAD = 32
#: A group of pictures (a key frame and the packets up to the next) is read whole before its key frame is decoded
#: when it holds at most this many packets and bytes; a longer one is decoded as it comes (see sampled_decode).
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


def _nal_units(data: bytes, length_size: int) -> Iterator[bytes]:
    """The NAL units of a packet of H.264 or HEVC: length-prefixed (``length_size`` bytes, MP4 / Matroska) or, with
    ``length_size`` 0, after Annex B start codes (MPEG-TS, raw streams)."""
    if length_size:
        i = 0
        while i + length_size < len(data):
            n = int.from_bytes(data[i : i + length_size], "big")
            yield data[i + length_size : i + length_size + n]
            i += length_size + max(n, 1)
        return
    starts = [m.end() for m in re.finditer(b"\x00\x00\x01", data)]
    for a, b in zip(starts, [*starts[1:], len(data) + 3], strict=True):
        yield data[a : b - 3]


def _nal_types(data: bytes, codec: str, length_size: int) -> set[int]:
    """The NAL unit types in a packet of H.264 or HEVC (:func:`_nal_units`)."""
    shift, mask = (1, 0x3F) if codec == "hevc" else (0, 0x1F)
    return {(nal[0] >> shift) & mask for nal in _nal_units(data, length_size) if nal}


def _length_size(ctx: Any, codec: str) -> int:
    """The bytes of the length before each NAL unit of the stream's packets (avcC / hvcC extradata: MP4,
    Matroska), 0 where they follow start codes."""
    extra = bytes(ctx.extradata or b"")
    if extra[:1] != b"\x01":
        return 0
    at = 21 if codec == "hevc" else 4
    return (extra[at] & 3) + 1 if len(extra) > at else 4


def _restarts(ctx: Any) -> Any:
    """``restarts(packet)``: whether decoding can start at this key-frame packet with nothing before it, for codecs
    where that can be told (H.264 and HEVC by their NAL units, VP8 / VP9 / AV1 by the key flag); None for others."""
    codec = str(ctx.name)
    if codec in _RESTART_CODECS:
        return lambda packet: True
    if codec not in _RESTART_NALS:
        return None
    length_size = _length_size(ctx, codec)
    wanted = _RESTART_NALS[codec]
    return lambda packet: bool(wanted & _nal_types(bytes(packet), codec, length_size))


def sampled_decode(
    container: Any,
    stream: Any,
    fps: float,
    tb: float,
    t0: float,
    end: list[float],
    anchors: Callable[[bytes], bool] | None = None,
) -> Iterator[Any]:
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

    ``anchors(packet)``: whether anchors are sampled from this packet on (:func:`anchors_exact`), asked of the
    stream's first packet and of every later key frame that carries an encoder's options (:func:`_tells`: a stream
    cut together from two encodes says so where the second begins, an IDR picture). While they are, B pictures are
    never decoded (``BIDIR``), nor yielded, and a sample time takes the first anchor at or after it: a packet's
    picture type is read from its first slice header (:func:`h264_is_b`), so that the planning above counts
    anchors only.
    """
    ctx = stream.codec_context
    restarts = _restarts(ctx)
    is_b: Callable[[Any], bool] | None = None
    skip = "NONREF"  # what a picture no sample takes is left out by
    ahead: deque[tuple[Any, float | None, bool, str]] = deque()  # (packet, time shown, B?, its skip) not decoded
    dropped: set[int] = set()  # the pts of B pictures read while anchors were sampled: never yielded
    size = 0  # their bytes
    keys: deque[int] = deque()  # the positions (counted from the stream start) of the key frames among them
    first = 0  # the position of ahead[0]
    shown: list[float] = []  # the times (from the stream start) of every frame read so far that may be taken, sorted
    keep = drop = 0  # the head's group: packets still to decode as usual, then packets to leave undecoded
    count = 0  # packets read

    def needed(t: float | None, b: bool = False) -> bool:
        if b:
            return False  # a B picture, when anchors are sampled: never taken
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
            clean = key_t is not None and all(t is not None and t > key_t for _, t, _, _ in after)
            n = nxt if clean and restarts(ahead[nxt][0]) else 0
        elif ended:
            n = len(ahead)  # the rest of the stream: nothing after it refers to it
        else:
            return None
        last = max((i for i in range(n) if needed(ahead[i][1], ahead[i][2])), default=-1)
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
        packet, t, b, left_out = ahead.popleft()
        size -= packet.size
        if keys and keys[0] == first:
            keys.popleft()
        first += 1
        if drop and not keep:
            drop -= 1  # left undecoded: nothing taken refers to it
            return
        keep = max(0, keep - 1)
        ctx.skip_frame = "DEFAULT" if needed(t, b) else left_out
        for frame in ctx.decode(packet):
            if not _dropped(frame, dropped):
                yield frame

    for packet in container.demux(stream):
        if packet.pts is None and packet.size == 0:
            continue  # the demuxer's end-of-stream packet: the decoder is drained below
        if anchors is not None and (count == 0 or (packet.is_keyframe and _tells(packet))):
            is_b, skip = (_b_check(ctx), "BIDIR") if anchors(bytes(packet)) else (None, "NONREF")
        t = float(packet.pts) * tb - t0 if packet.pts is not None else None
        b = is_b is not None and is_b(packet)
        if b and packet.pts is not None:
            dropped.add(int(packet.pts))
        if t is not None:
            end[0] = max(end[0], t)
            if not b:
                bisect.insort(shown, t)
        if packet.is_keyframe:
            keys.append(count)
        count += 1
        ahead.append((packet, t, b, skip))
        size += packet.size
        while ready():
            yield from pop(False)
    while ahead:
        yield from pop(True)
    ctx.skip_frame = "DEFAULT"
    for frame in ctx.decode(None):
        if not _dropped(frame, dropped):
            yield frame


def _tells(packet: Any) -> bool:
    """Whether a key-frame packet carries an encoder's options (x264's SEI message)."""
    return _X264 in bytes(packet)


def _dropped(frame: Any, dropped: set[int]) -> bool:
    """Whether a decoded frame is a B picture read while anchors were sampled (``dropped``: their pts)."""
    return bool(dropped) and int(frame.pict_type) == _B_PICTURE and frame.pts is not None and int(frame.pts) in dropped


def decode_all(container: Any, stream: Any, anchors: Callable[[bytes], bool] | None = None) -> Iterator[Any]:
    """Every frame of the stream (threaded decoding), but its B pictures while ``anchors(packet)`` says anchors
    are sampled (asked as :func:`sampled_decode` asks it: the same frames for a sampler, since what each decoder
    makes of an anchor is the same)."""
    drop_b = False
    dropped: set[int] = set()
    first = True
    for packet in container.demux(stream):
        if anchors is not None and packet.size and (first or (packet.is_keyframe and _tells(packet))):
            drop_b = anchors(bytes(packet))
            first = False
        if drop_b and packet.pts is not None and packet.size:
            dropped.add(int(packet.pts))  # every packet's: only the B pictures among them are left out
        for frame in packet.decode():
            if not _dropped(frame, dropped):
                yield frame


#: ``int(frame.pict_type)`` of a B picture (FFmpeg's AV_PICTURE_TYPE_B).
_B_PICTURE = 3
#: What begins x264's SEI message of its options.
_X264 = b"x264 - core "

#: The longest run of B pictures between anchors, as a share of the sampling interval, for which a sample time
#: takes anchors: half of it (a sample is then at most a quarter of a second late at 2 a second).
_MAX_B_RUN = 0.5


def x264_options(data: bytes) -> dict[str, str] | None:
    """The encoding options x264 writes into a stream (the SEI message of its first picture: ``x264 - core ...
    options: cabac=1 ref=1 ... bframes=3 b_pyramid=2 ...``) found in ``data`` (a packet: the stream's first, or
    a key frame where another encode begins), or None."""
    at = data.find(_X264)
    if at < 0:
        return None
    end = data.find(b"\x00", at)
    text = data[at : end if end > at else at + 4096].decode("ascii", "replace")
    _, found, options = text.partition(" options: ")
    if not found:
        return None
    return {m.group(1): m.group(2) for m in re.finditer(r"(\w+)=([^\s]+)", options)}


def anchors_exact(codec: str, packet: bytes, frame_rate: float, fps: float) -> bool:
    """Whether a stream's anchor pictures (I, P) decode exactly without its B pictures and lie close enough for
    sampling at ``fps``: an H.264 stream whose x264 options (:func:`x264_options`, in ``packet``) say its P
    pictures refer to no B picture (one reference frame, no or a strict pyramid, or Blu-ray compatibility), whose B
    runs last at most :data:`_MAX_B_RUN` of a sampling interval at ``frame_rate``."""
    if codec != "h264" or not (frame_rate > 0 and fps > 0):
        return False
    opts = x264_options(packet)
    if opts is None:
        return False
    try:
        ref, bframes = int(opts["ref"]), int(opts["bframes"])
        pyramid, bluray = int(opts.get("b_pyramid", "0")), int(opts.get("bluray_compat", "0"))
    except (KeyError, ValueError):
        return False
    no_b_refs_for_p = ref == 1 or pyramid < 2 or bluray == 1
    return no_b_refs_for_p and (bframes + 1) / frame_rate <= _MAX_B_RUN / fps


def _b_check(ctx: Any) -> Any:
    """``is_b(packet)`` for an H.264 stream's packets."""
    length_size = _length_size(ctx, "h264")
    return lambda packet: h264_is_b(bytes(packet), length_size)


def h264_is_b(data: bytes, length_size: int) -> bool:
    """Whether an H.264 packet's picture is a B picture: its first slice's ``slice_type`` (the second Exp-Golomb
    number of the slice header, after ``first_mb_in_slice``) is B. A packet without a readable slice is no B."""
    for nal in _nal_units(data, length_size):
        kind = nal[0] & 0x1F if nal else 0
        if kind == 5:
            return False  # an IDR picture
        if kind == 1:
            bits = _Bits(nal[1:24].replace(b"\x00\x00\x03", b"\x00\x00"))
            bits.ue()  # first_mb_in_slice
            slice_type = bits.ue()
            return slice_type is not None and slice_type % 5 == 1
    return False


class _Bits:
    """Exp-Golomb numbers read from the start of a byte string."""

    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "big")
        self.left = 8 * len(data)

    def ue(self) -> int | None:
        """The next unsigned Exp-Golomb number (None past the end)."""
        zeros = 0
        while self.left > 0 and not (self.value >> (self.left - 1)) & 1:
            zeros += 1
            self.left -= 1
        if self.left < zeros + 1:
            return None
        self.left -= zeros + 1
        return (1 << zeros) - 1 + ((self.value >> self.left) & ((1 << zeros) - 1))
