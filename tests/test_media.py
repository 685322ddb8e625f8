"""Media probing on the checked-in odd files (fixtures/media, made by fixtures/generate.py)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from provenance import DecodeError, NotMediaError
from provenance.media.probe import MAX_PIXELS, MAX_SIDE, probe
from tests.conftest import BytesSource

MEDIA = Path(__file__).resolve().parents[1] / "fixtures" / "media"


def test_video_facts() -> None:
    info = probe(MEDIA / "letterboxed.mp4")
    assert (info.kind, info.width, info.height, info.codec) == ("video", 320, 180, "h264")
    assert info.duration_s == pytest.approx(2.0, abs=0.05)
    assert info.fps == pytest.approx(15.0)
    assert info.frame_count == 30


def test_rotation_is_read_from_the_display_matrix() -> None:
    assert probe(MEDIA / "rotated.mp4").rotation in (90, 270)
    assert probe(MEDIA / "letterboxed.mp4").rotation == 0


def test_still_and_animated_images() -> None:
    assert probe(MEDIA / "still.png").kind == "image"
    gif = probe(MEDIA / "tiny.gif")
    assert gif.kind == "video" and gif.frame_count > 1


def test_variable_frame_rate() -> None:
    info = probe(MEDIA / "vfr.mkv")
    assert info.kind == "video" and info.duration_s > 1.5


@pytest.mark.parametrize(
    ("name", "error", "text"),
    [
        ("empty.mp4", NotMediaError, "empty file"),
        ("text.mp4", NotMediaError, "neither a video nor an image"),
        ("corrupt.mp4", NotMediaError, "neither a video nor an image"),
        ("truncated.mp4", DecodeError, "corrupt or truncated MP4"),
        ("missing.mp4", DecodeError, "cannot read file"),
    ],
)
def test_bad_files_raise_typed_one_line_errors(name: str, error: type[Exception], text: str) -> None:
    with pytest.raises(error) as info:
        probe(MEDIA / name)
    assert text in str(info.value)
    assert str(info.value).startswith(str(MEDIA / name))
    assert "\n" not in str(info.value)
    if error is DecodeError:
        assert not isinstance(info.value, NotMediaError)


# ----------------------------------------------------------------- sources that are not paths


@pytest.mark.parametrize("name", ["letterboxed.mp4", "rotated.mp4", "vfr.mkv", "tiny.gif", "still.png"])
def test_probe_of_a_file_object_source_equals_the_paths(name: str) -> None:
    assert probe(BytesSource(f"shard.tar/{name}", (MEDIA / name).read_bytes())) == probe(MEDIA / name)


def test_a_png_named_mp4_is_probed_by_content() -> None:
    assert probe(BytesSource("a/picture.mp4", (MEDIA / "still.png").read_bytes())).kind == "image"


@pytest.mark.parametrize(
    ("name", "error", "text"),
    [
        ("empty.mp4", NotMediaError, "empty file"),
        ("text.mp4", NotMediaError, "neither a video nor an image"),
        ("truncated.mp4", DecodeError, "corrupt or truncated MP4"),
    ],
)
def test_file_object_errors_name_the_source(name: str, error: type[DecodeError], text: str) -> None:
    with pytest.raises(error) as info:
        probe(BytesSource(f"s/000.tar/{name}", (MEDIA / name).read_bytes()))
    assert str(info.value).startswith(f"s/000.tar/{name}: ") and text in info.value.reason


# ----------------------------------------------------------------- size limits


def _png_1bit(path: Path, width: int, height: int) -> Path:
    """A valid 1-bit PNG written row by row (never held in memory as pixels)."""
    row = b"\x00" + bytes((width + 7) // 8)
    z = zlib.compressobj(9)
    data = b"".join(z.compress(row) for _ in range(height)) + z.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def _tiff_1bit(path: Path, width: int, height: int) -> Path:
    """A valid 1-bit, deflate-compressed TIFF (one strip) of zeros; TIFF sizes are left to Pillow's header parse."""
    row = bytes((width + 7) // 8)
    z = zlib.compressobj(9)
    data = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    tags = [
        (256, 4, width),
        (257, 4, height),
        (258, 3, 1),
        (259, 3, 8),
        (262, 3, 1),
        (273, 4, 8),
        (277, 3, 1),
        (278, 4, height),
        (279, 4, len(data)),
    ]
    ifd_at = 8 + len(data) + (len(data) % 2)
    ifd = (
        struct.pack("<H", len(tags))
        + b"".join(
            struct.pack("<HHI", tag, kind, 1)
            + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
            for tag, kind, value in tags
        )
        + struct.pack("<I", 0)
    )
    path.write_bytes(b"II*\x00" + struct.pack("<I", ifd_at) + data + b"\x00" * (len(data) % 2) + ifd)
    return path


def test_limits_are_documented_values() -> None:
    assert (MAX_SIDE, MAX_PIXELS) == (16384, 80_000_000)


@pytest.mark.parametrize(("width", "height"), [(20000, 20000), (MAX_SIDE + 1, 8), (9000, 9000)])
def test_a_huge_png_is_refused_before_decoding(tmp_path: Path, width: int, height: int) -> None:
    path = _png_1bit(tmp_path / "huge.png", width, height)
    with pytest.raises(
        DecodeError,
        match=rf"^{path}: {width}x{height} exceeds the decoding limit \(16384 px a side, "
        r"80 MP\)$",
    ):
        probe(path)


def test_sizes_at_the_limit_pass(tmp_path: Path) -> None:
    assert probe(_png_1bit(tmp_path / "wide.png", MAX_SIDE, 4)).width == MAX_SIDE
    assert probe(_png_1bit(tmp_path / "big.png", 8000, 10000)).height == 10000  # 80 MP exactly


def test_huge_jpeg_and_gif_are_refused(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010E] = "x" * 30000  # a large APP1 segment before the frame header
    Image.new("L", (MAX_SIDE + 2, 8)).save(tmp_path / "wide.jpg", exif=exif, progressive=True)
    with pytest.raises(DecodeError, match=r"16386x8 exceeds"):
        probe(tmp_path / "wide.jpg")
    Image.new("L", (4, MAX_SIDE + 3)).save(tmp_path / "tall.gif")
    with pytest.raises(DecodeError, match=r"4x16387 exceeds"):
        probe(tmp_path / "tall.gif")


@pytest.mark.parametrize(
    ("width", "height", "text"),
    [
        (9500, 9500, "9500x9500 exceeds"),  # over Pillow's warning size (89.5 MP): silenced, refused by ours
        (20000, 20000, "image exceeds the decoding limit"),  # over Pillow's error size: its error, reworded
    ],
)
def test_huge_tiff_is_refused_without_pillow_warnings(tmp_path: Path, width: int, height: int, text: str) -> None:
    path = _tiff_1bit(tmp_path / "huge.tif", width, height)
    with pytest.raises(DecodeError, match=text) as info:
        probe(path)  # a DecompressionBombWarning would fail the test: warnings are errors
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("PNG", {}),
        ("JPEG", {"progressive": True}),
        ("JPEG", {"exif": b"Exif\x00\x00" + b"\x00" * 5000}),
        ("GIF", {}),
        ("BMP", {}),
        ("WEBP", {"lossless": True}),
        ("WEBP", {"quality": 50}),
        ("TIFF", {}),
    ],
)
def test_header_sizes_agree_with_pillow(tmp_path: Path, fmt: str, options: dict[str, object]) -> None:
    from provenance.media.probe import _image_header_size

    rng = np.random.default_rng(3)
    im = Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8))
    path = tmp_path / f"im.{fmt.lower()}"
    im.save(path, format=fmt, **options)
    with open(path, "rb") as fh:
        got = _image_header_size(fh, fh.read(32))
    assert got == ((53, 37) if fmt != "TIFF" else None)  # TIFF: Pillow's parse decides
    assert probe(path).width == 53
