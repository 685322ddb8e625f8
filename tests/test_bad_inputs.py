"""Bad inputs, real files: every one is listed, fails with one line naming it and saying what is wrong, and the
good ones among them decode. ``tests/badmedia.py`` writes the files and says what each must give.

Unreadable files and folders are part of the set; as root, permission bits stop nothing, so the listing and
decoding run in a subprocess without the capabilities that let root ignore them (``run_unprivileged``).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provenance import DecodeError, NotMediaError
from provenance.audit.manifests import import_manifest_file
from provenance.dataset import BadEntry, ClipSource, iter_sources
from provenance.media.decode import open_video
from provenance.media.probe import MAX_PIXELS, MAX_SIDE, probe
from rightsdb import Registry
from tests.badmedia import check_dataset, make_bad_dataset, run_unprivileged, write_bad_manifest

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample"
UNREADABLE = ("locked.mp4", "private")


def _restore_permissions(root: Path) -> None:
    (root / "locked.mp4").chmod(0o644)
    (root / "private").chmod(0o755)


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str | None]]]:
    root = tmp_path_factory.mktemp("bad") / "dataset"
    expected = make_bad_dataset(root)
    yield root, expected
    _restore_permissions(root)


@pytest.fixture(scope="module")
def checked(bad: tuple[Path, dict[str, str | None]]) -> dict[str, dict[str, Any]]:
    """check_dataset over the bad dataset, run where permission bits apply."""
    root, _ = bad
    proc = run_unprivileged([sys.executable, "-m", "tests.badmedia", "check", str(root)], timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, dict[str, Any]] = json.loads(proc.stdout)
    return result


def test_every_entry_is_listed_once_and_nothing_else(
    bad: tuple[Path, dict[str, str | None]], checked: dict[str, dict[str, Any]]
) -> None:
    _, expected = bad
    assert sorted(checked) == sorted(expected)  # private/inside.mp4 cannot be listed: "private" stands for it


def test_bad_inputs_fail_with_one_line_naming_them(
    bad: tuple[Path, dict[str, str | None]], checked: dict[str, dict[str, Any]]
) -> None:
    _, expected = bad
    for rel, want in expected.items():
        error = checked[rel]["error"]
        if want is None:
            continue
        assert error is not None, f"{rel}: no error, expected {want!r}"
        assert want in error, f"{rel}: {error!r} does not say {want!r}"
        assert error.startswith(f"{rel}: "), f"{rel}: {error!r} does not name it first"
        assert "\n" not in error and "Traceback" not in error


def test_good_inputs_among_them_decode(
    bad: tuple[Path, dict[str, str | None]], checked: dict[str, dict[str, Any]]
) -> None:
    _, expected = bad
    good = [rel for rel, want in expected.items() if want is None]
    assert len(good) == 9
    for rel in good:
        result = checked[rel]
        assert result["error"] is None, f"{rel}: {result['error']}"
        assert result["frames"] >= 1 and result["sha256"] and len(result["sha256"]) == 64


def test_what_the_odd_good_files_are(checked: dict[str, dict[str, Any]]) -> None:
    assert checked["picture.mp4"]["kind"] == "image"  # a PNG named .mp4: content decides
    assert checked["one_frame.mp4"]["kind"] == "video" and checked["one_frame.mp4"]["frames"] == 1
    assert checked["vfr.mkv"]["frames"] >= 4  # frame durations of 33-200 ms over 2 s, sampled at 2 fps
    assert checked["rotated.mp4"]["shape"] == [160, 90, 3]  # stored 160x90, shown upright (portrait)
    assert checked["shards/000.tar/s0.mp4"]["metadata"] == {
        "source_url": "https://example.org/s0",
        "license": "CC-BY-4.0",
        "txt": "a bike ride",
    }
    assert checked["shards/000.tar/s2.png"]["kind"] == "image"


def test_unreadable_entries_are_readable_with_permissions(tmp_path: Path) -> None:
    """The permission cases fail because of their mode bits alone: with them restored, they list and decode."""
    root = tmp_path / "dataset"
    make_bad_dataset(root)
    _restore_permissions(root)
    result = check_dataset(root)
    assert result["locked.mp4"]["error"] is None and result["locked.mp4"]["frames"] >= 1
    assert result["private/inside.mp4"]["error"] is None and "private" not in result


@pytest.mark.parametrize(
    ("name", "error", "text"),
    [
        ("zero.mp4", NotMediaError, "empty file (0 bytes)"),
        ("notes.mp4", NotMediaError, "neither a video nor an image"),
        ("truncated.mp4", DecodeError, "corrupt or truncated MP4/QuickTime file"),
        ("noframes.mkv", DecodeError, "corrupt or truncated Matroska/WebM file: no video frame before the end"),
        (
            "huge.png",
            DecodeError,
            f"20000x20000 exceeds the decoding limit ({MAX_SIDE} px a side, {MAX_PIXELS // 1_000_000} MP)",
        ),
        ("huge.mkv", DecodeError, "20000x16 exceeds the decoding limit"),
        ("gone.mp4", DecodeError, "cannot read file: broken symbolic link to 'deleted-long-ago.mp4'"),
    ],
)
def test_probe_errors_are_typed(
    bad: tuple[Path, dict[str, str | None]], name: str, error: type[DecodeError], text: str
) -> None:
    root, _ = bad
    with pytest.raises(error) as info:
        probe(root / name)
    assert str(info.value) == f"{root / name}: {info.value.reason}" and text in info.value.reason
    if error is DecodeError:
        assert not isinstance(info.value, NotMediaError)


def test_garbage_member_fails_at_decode_not_at_listing(bad: tuple[Path, dict[str, str | None]]) -> None:
    root, _ = bad
    entries = {e.rel: e for e in iter_sources(root / "shards" / "000.tar")}
    garbage = entries["000.tar/s1.mp4"]
    assert isinstance(garbage, ClipSource)
    assert len(garbage.sha256()) == 64  # its bytes read fine; they are no media
    with pytest.raises(NotMediaError, match=r"^000\.tar/s1\.mp4: neither a video nor an image$"):
        open_video(garbage)
    good = entries["000.tar/s0.mp4"]
    assert isinstance(good, ClipSource)
    with open_video(good) as reader:  # a good member of the same shard
        assert sum(1 for _ in reader.frames(fps=1.0, size=(32, 32))) == 2


def test_truncated_shard_keeps_its_good_members(bad: tuple[Path, dict[str, str | None]]) -> None:
    root, _ = bad
    entries = list(iter_sources(root / "shards" / "001.tar"))
    assert [type(e).__name__ for e in entries] == ["ClipSource", "ClipSource", "BadEntry"]
    broken = entries[-1]
    assert isinstance(broken, BadEntry) and broken.rel == "001.tar"
    assert broken.error.startswith("001.tar: truncated tar shard: member 't2.mp4' is cut short (")
    assert broken.error.endswith("after member 't1.png'")


def test_manifest_with_bad_rows(bad: tuple[Path, dict[str, str | None]], tmp_path: Path) -> None:
    root, _ = bad
    manifest_root = tmp_path / "m"
    shutil.copytree(root, manifest_root, symlinks=True, ignore=shutil.ignore_patterns("locked.mp4", "private"))
    expected = write_bad_manifest(manifest_root)
    result = check_dataset(manifest_root / "manifest.jsonl")
    assert list(result) == list(expected)  # manifest order
    for rel, want in expected.items():
        error = result[rel]["error"]
        if want is None:
            assert error is None and result[rel]["frames"] >= 1, (rel, error)
        else:
            assert error is not None and want in error and "\n" not in error, (rel, error)
    assert result["one_frame.mp4"]["metadata"] == {"license": "CC0", "source_url": "https://example.org/1"}
    assert result["manifest.jsonl line 4"]["metadata"] == {
        "license": "CC0",
        "source_url": "https://example.org/no-path",
    }


@pytest.mark.slow
def test_scan_goes_on_past_every_bad_input(tmp_path: Path) -> None:
    """End to end: the scan reports every bad entry as an error clip and still matches the good clip."""
    root = tmp_path / "dataset"
    expected = make_bad_dataset(root)
    good = "good/e1m1_reencode.mp4"
    (root / "good").mkdir()
    shutil.copyfile(SAMPLE / "dataset" / "reupload" / "e1m1_reencode.mp4", root / good)
    db = tmp_path / "r.db"
    registry = Registry(f"sqlite:///{db}")
    try:
        import_manifest_file(registry, SAMPLE / "registry" / "manifest.yaml")
    finally:
        registry.dispose()
    try:
        proc = run_unprivileged(
            [sys.executable, "-m", "tests.badmedia", "scan", f"sqlite:///{db}", str(root)], timeout=900
        )
    finally:
        _restore_permissions(root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    clips = {c["path"]: c for c in report["clips"]}
    assert sorted(clips) == sorted([*expected, good])  # nothing missing, nothing extra
    for rel, want in expected.items():
        clip = clips[rel]
        if want is None:
            assert clip["error"] is None, f"{rel}: {clip['error']}"
            assert clip["sha256"] and clip["exposure"] == "none"  # odd, but no registered work in them
        else:
            assert clip["error"] and want in clip["error"] and "\n" not in clip["error"], (rel, clip["error"])
            assert clip["layers"] == []
    truth = json.loads((SAMPLE / "expected.json").read_text())["clips"]["reupload/e1m1_reencode.mp4"]
    found = {(layer["layer"], layer["work"]) for layer in clips[good]["layers"]}
    assert found == {(t["layer"], t["work"]) for t in truth} and clips[good]["exposure"] != "none"
    assert clips["shards/000.tar/s0.mp4"].get("metadata", {}).get("license") == "CC-BY-4.0"
