"""Media probing on the checked-in odd files (fixtures/media, made by fixtures/generate.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from provenance import DecodeError, NotMediaError, probe

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
