"""Dataset inputs: folders, WebDataset tar shards and manifests listed as clip sources (real media files)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import pickle
import shutil
import sys
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from provenance import ConfigError, DecodeError
from provenance.dataset import (
    BadEntry,
    ClipSource,
    Entry,
    Selection,
    SourceError,
    dataset_kind,
    dataset_root,
    iter_sources,
    resolve,
)
from provenance.media.decode import open_video
from provenance.media.probe import IMAGE_SUFFIXES, VIDEO_SUFFIXES, probe
from rightsdb import sha256_file
from tests.badmedia import write_shard

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO / "fixtures" / "media"
SAMPLE_DATASET = REPO / "fixtures" / "sample" / "dataset"

CLIP = MEDIA / "letterboxed.mp4"  # real footage, 320x180, 2 s
STILL = MEDIA / "still.png"
ROTATED = MEDIA / "rotated.mp4"


def _listing(dataset: Path, **kw: Any) -> list[tuple[str, str]]:
    """(rel, "clip" or the BadEntry's error) in listing order."""
    return [(e.rel, "clip" if isinstance(e, ClipSource) else e.error) for e in iter_sources(dataset, **kw)]


def _frames(source: Any) -> list[np.ndarray]:
    with open_video(source) as reader:
        return [f.image for f in reader.frames(fps=4.0, size=(64, 36))]


# ----------------------------------------------------------------- folders


def _walk_like_the_old_scan(root: Path) -> list[str]:
    """The scan's listing before sources existed (os.walk top-down, sorted, hidden skipped)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and Path(name).suffix.lower() in VIDEO_SUFFIXES | IMAGE_SUFFIXES:
                out.append((Path(dirpath) / name).relative_to(root).as_posix())
    return out


def test_folder_order_is_the_old_scans_order() -> None:
    sources = list(iter_sources(SAMPLE_DATASET))
    assert all(isinstance(s, ClipSource) and s.member is None for s in sources)
    old = _walk_like_the_old_scan(SAMPLE_DATASET)
    assert [s.rel for s in sources] == old and len(old) == 12
    assert all(isinstance(s, ClipSource) and s.location == SAMPLE_DATASET / s.rel for s in sources)


def test_folder_rules(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "b").mkdir(parents=True)
    (root / "a").mkdir()
    (root / ".hidden").mkdir()
    shutil.copyfile(CLIP, root / "z.mp4")
    shutil.copyfile(CLIP, root / "b" / "clip.MKV")  # suffixes are matched case-insensitively
    shutil.copyfile(STILL, root / "a" / "still.png")
    shutil.copyfile(CLIP, root / ".hidden" / "secret.mp4")
    shutil.copyfile(CLIP, root / ".dot.mp4")
    (root / "notes.txt").write_text("not media")
    (root / "manifest.jsonl").write_text('{"path": "z.mp4"}\n')  # a manifest inside a folder is not read
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copyfile(CLIP, outside / "elsewhere.mp4")
    (root / "link.mp4").symlink_to(outside / "elsewhere.mp4")  # a link to a file is followed
    (root / "linkdir").symlink_to(outside, target_is_directory=True)  # a link to a folder is not
    (root / "broken.mp4").symlink_to(root / "nowhere.mp4")
    os.mkfifo(root / "pipe.mp4")  # opening it would block: listed as not a regular file
    (root / "packed.tar.gz").write_bytes(b"\x1f\x8b")
    assert _listing(root) == [
        ("broken.mp4", "clip"),
        ("link.mp4", "clip"),
        ("packed.tar.gz", "packed.tar.gz: compressed tar shards are not read; decompress it to a .tar"),
        ("pipe.mp4", "pipe.mp4: not a regular file"),
        ("z.mp4", "clip"),
        ("a/still.png", "clip"),
        ("b/clip.MKV", "clip"),
    ]
    link = next(s for s in iter_sources(root) if s.rel == "link.mp4")
    assert isinstance(link, ClipSource) and probe(link).kind == "video"


def test_missing_or_unknown_dataset_fails_at_call_time(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file or folder"):
        iter_sources(tmp_path / "nope")  # not only on the first next()
    (tmp_path / "notes.txt").write_text("not media")
    with pytest.raises(SourceError, match=r"notes\.txt: not a dataset: expected a folder, a \.tar shard"):
        iter_sources(tmp_path / "notes.txt")
    assert dataset_kind(tmp_path) == "folder" and dataset_root(tmp_path) == tmp_path


def test_one_clip_is_a_dataset_of_one(tmp_path: Path) -> None:
    clip = tmp_path / "sub" / "Clip One.MP4"
    clip.parent.mkdir()
    clip.write_bytes(CLIP.read_bytes())
    assert dataset_kind(clip) == "clip" and dataset_root(clip) == clip.parent
    (entry,) = list(iter_sources(clip))
    assert entry == ClipSource("Clip One.MP4", clip) and probe(entry).kind == "video"
    assert resolve(clip, {"path": "Clip One.MP4"}).location == clip  # a report of it maps back (thumbnails)
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    (bad,) = list(iter_sources(fifo))  # never opened: reading a FIFO would block
    assert isinstance(bad, BadEntry) and bad.error == "pipe.mp4: not a regular file"


def test_selection_takes_globs_and_a_limit() -> None:
    entries: list[Entry] = [
        ClipSource(rel, Path("/d") / rel)
        for rel in ("a.mp4", "junk/b.mp4", "keep/junk.png", "crawl/2024-01/c.mkv", "s.tar/k.mp4")
    ]
    entries.append(BadEntry("junk/broken.mp4", "junk/broken.mp4: broken symbolic link"))

    def rels(selection: Selection) -> list[str]:
        return [e.rel for e in selection.apply(entries)]

    assert rels(Selection()) == [e.rel for e in entries] and Selection().everything
    assert rels(Selection(include=("*.mp4",))) == ["a.mp4", "junk/b.mp4", "s.tar/k.mp4", "junk/broken.mp4"]
    # a name without / is a whole component: the folder junk, not the file junk.png
    assert rels(Selection(exclude=("junk",))) == ["a.mp4", "keep/junk.png", "crawl/2024-01/c.mkv", "s.tar/k.mp4"]
    assert rels(Selection(include=("crawl/2024-*",))) == ["crawl/2024-01/c.mkv"]  # a folder: everything below
    assert rels(Selection(include=("*.mp4",), exclude=("junk/*",), limit=2)) == ["a.mp4", "s.tar/k.mp4"]
    assert rels(Selection(limit=1)) == ["a.mp4"]
    assert rels(Selection(include=("*.MP4",))) == []  # case-sensitive, as paths are
    for bad in ({"limit": 0}, {"include": ("",)}, {"exclude": ("/",)}):
        with pytest.raises(ConfigError):
            Selection(**bad)  # type: ignore[arg-type]


# ----------------------------------------------------------------- tar shards


@pytest.fixture
def shard_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "ds"
    (folder / "shards").mkdir(parents=True)
    meta = {"source_url": "https://example.org/v/1", "license": "CC-BY-4.0", "txt": "from json"}
    write_shard(
        folder / "shards" / "000.tar",
        [
            ("k1.mp4", CLIP.read_bytes()),
            ("k1.json", json.dumps(meta).encode()),
            ("k1.txt", b"a bike ride\n"),
            ("k1.cls", b"3"),
            ("k2.png", STILL.read_bytes()),
            ("k2.json", b"[1, 2]"),  # not an object: kept under "json"
            ("dir/k3.seg.mp4", ROTATED.read_bytes()),
            ("._k4.mp4", b"AppleDouble junk"),  # hidden member: skipped
            ("k5.json", b"{broken"),
            ("k5.mp4", CLIP.read_bytes()),
            ("x" * 120 + ".mp4", CLIP.read_bytes()),  # a long (PAX) name
        ],
    )
    return folder


def test_shard_members_in_archive_order_with_metadata(shard_dir: Path) -> None:
    entries = list(iter_sources(shard_dir))
    rels = [e.rel for e in entries]
    long = "shards/000.tar/" + "x" * 120 + ".mp4"
    assert rels == [
        "shards/000.tar/k1.mp4",
        "shards/000.tar/k2.png",
        "shards/000.tar/dir/k3.seg.mp4",
        "shards/000.tar/k5.mp4",
        "shards/000.tar/k5.json",
        long,
    ]
    k1, k2, k3, k5, bad_json, _ = entries
    assert isinstance(k1, ClipSource) and k1.member == "k1.mp4" and k1.location == shard_dir / "shards" / "000.tar"
    assert k1.size == CLIP.stat().st_size and k1.local_file is None
    # the JSON's keys win over a text member of the same name; text members come stripped
    assert k1.metadata == {
        "source_url": "https://example.org/v/1",
        "license": "CC-BY-4.0",
        "txt": "from json",
        "cls": "3",
    }
    assert isinstance(k2, ClipSource) and k2.metadata == {"json": [1, 2]}
    assert isinstance(k3, ClipSource) and k3.suffix == ".mp4" and k3.metadata is None
    assert isinstance(k5, ClipSource) and k5.metadata is None
    assert isinstance(bad_json, BadEntry)
    assert bad_json.error.startswith("shards/000.tar/k5.json: metadata not read: not JSON")


def test_member_bytes_are_read_in_place(shard_dir: Path) -> None:
    shard = shard_dir / "shards" / "000.tar"
    before = sorted(p.name for p in shard_dir.rglob("*"))
    k1 = next(e for e in iter_sources(shard_dir) if isinstance(e, ClipSource) and e.member == "k1.mp4")
    assert k1.sha256() == hashlib.sha256(CLIP.read_bytes()).hexdigest()
    with k1.open() as fh:
        assert fh.seekable() and fh.read() == CLIP.read_bytes()
    with k1.open() as fh:
        assert fh.read(8)[4:] == b"ftyp"
        # change the shard on disk past what was read: the open member sees it, so nothing was copied
        far = len(CLIP.read_bytes()) - 16
        with tarfile.open(shard) as tf:
            data_at = tf.getmember("k1.mp4").offset_data
        with open(shard, "r+b") as raw:
            raw.seek(data_at + far)
            raw.write(b"CHANGED!")
        assert fh.seek(far) == far and fh.read(8) == b"CHANGED!"
    assert fh.closed
    assert sorted(p.name for p in shard_dir.rglob("*")) == before  # nothing extracted to disk


def test_members_decode_like_the_files(shard_dir: Path) -> None:
    by_member = {e.member: e for e in iter_sources(shard_dir) if isinstance(e, ClipSource)}
    for member, original in [("k1.mp4", CLIP), ("k2.png", STILL), ("dir/k3.seg.mp4", ROTATED)]:
        source = by_member[member]
        assert probe(source) == probe(original)
        got, want = _frames(source), _frames(original)
        assert len(got) == len(want) >= 1
        assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    with open_video(by_member["dir/k3.seg.mp4"]) as reader:
        first = next(reader.frames(gray=False))
        assert reader.name == "shards/000.tar/dir/k3.seg.mp4"
    assert first.image.shape == (160, 90, 3)  # stored 160x90 landscape, shown upright (display matrix)


def test_a_shard_as_the_dataset(shard_dir: Path) -> None:
    shard = shard_dir / "shards" / "000.tar"
    entries = list(iter_sources(shard))
    assert entries[0].rel == "000.tar/k1.mp4" and dataset_root(shard) == shard.parent
    assert resolve(shard, {"path": "000.tar/k2.png"}) == entries[1]


def test_offsets_and_lookup_by_name_give_the_same_bytes(shard_dir: Path) -> None:
    k5 = next(e for e in iter_sources(shard_dir) if isinstance(e, ClipSource) and e.member == "k5.mp4")
    assert k5.offset is not None
    by_name = ClipSource(k5.rel, k5.location, k5.member)  # no offset: found by walking the headers
    wrong = ClipSource(k5.rel, k5.location, k5.member, offset=0)  # a stale offset: found by name too
    assert by_name.sha256() == wrong.sha256() == k5.sha256() == hashlib.sha256(CLIP.read_bytes()).hexdigest()
    with pytest.raises(DecodeError, match=r"no member 'nope\.mp4'") as info:
        ClipSource("shards/000.tar/nope.mp4", k5.location, "nope.mp4").open()
    assert str(info.value).startswith("shards/000.tar/nope.mp4: ")


def test_a_shard_that_is_no_tar(tmp_path: Path) -> None:
    (tmp_path / "fake.tar").write_bytes(CLIP.read_bytes())
    (tmp_path / "empty.tar").write_bytes(b"")
    listing = dict(_listing(tmp_path))
    assert listing["fake.tar"].startswith("fake.tar: not a readable tar archive")
    assert listing["empty.tar"] == "empty.tar: empty file (0 bytes), not a tar archive"


def test_a_shard_without_its_end_marker_is_truncated(tmp_path: Path) -> None:
    shard = write_shard(tmp_path / "s.tar", [("a.png", STILL.read_bytes()), ("b.png", STILL.read_bytes())])
    with tarfile.open(shard) as tf:
        b = tf.getmember("b.png")
    end = b.offset_data + (b.size + 511) // 512 * 512
    with open(shard, "r+b") as fh:
        fh.truncate(end)  # every member whole, the two zero blocks gone
    assert _listing(tmp_path) == [
        ("s.tar/a.png", "clip"),
        ("s.tar/b.png", "clip"),
        (
            "s.tar",
            f"s.tar: truncated tar shard: it ends at byte {end} without the end-of-archive marker, "
            "after member 'b.png'",
        ),
    ]


# ----------------------------------------------------------------- manifests


ROWS: list[dict[str, Any]] = [
    {"path": "clips/a.mp4", "source_url": "https://example.org/a", "license": "CC0"},
    {"path": "shards/000.tar/k2.png", "source_url": "https://example.org/k2", "license": "CC-BY-4.0"},
    {"path": "clips/missing.mp4", "source_url": "https://example.org/gone", "license": "CC0"},
]


def _manifest_dataset(root: Path) -> Path:
    (root / "clips").mkdir(parents=True)
    shutil.copyfile(CLIP, root / "clips" / "a.mp4")
    (root / "shards").mkdir()
    write_shard(root / "shards" / "000.tar", [("k1.mp4", CLIP.read_bytes()), ("k2.png", STILL.read_bytes())])
    return root


def _write_manifest(path: Path, rows: list[dict[str, Any]]) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif path.suffix == ".csv":
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_manifest_rows_become_sources_with_their_columns(tmp_path: Path, suffix: str) -> None:
    root = _manifest_dataset(tmp_path / "data")
    manifest = _write_manifest(root / f"list{suffix}", ROWS)
    entries = list(iter_sources(manifest))
    assert all(isinstance(e, ClipSource) for e in entries)
    assert [e.rel for e in entries] == [r["path"] for r in ROWS]
    for entry, row in zip(entries, ROWS, strict=True):
        assert entry.metadata == {k: v for k, v in row.items() if k != "path"}
    a, k2, missing = entries
    assert isinstance(a, ClipSource) and a.location == root / "clips" / "a.mp4" and a.member is None
    assert isinstance(k2, ClipSource) and k2.member == "k2.png" and k2.location == root / "shards" / "000.tar"
    assert probe(k2).kind == "image"
    assert isinstance(missing, ClipSource)
    with pytest.raises(DecodeError, match=r"^clips/missing\.mp4: cannot read file: No such file"):
        missing.sha256()


def test_manifest_absolute_paths_and_parquet_types(tmp_path: Path) -> None:
    import datetime as dt

    root = _manifest_dataset(tmp_path / "data")
    absolute = str(root / "clips" / "a.mp4")
    manifest = _write_manifest(
        tmp_path / "m.parquet",
        [
            {"path": absolute, "added": dt.date(2024, 3, 14), "score": 0.5, "blob": b"\xff\x00"},
        ],
    )
    (entry,) = iter_sources(manifest)
    assert isinstance(entry, ClipSource) and entry.rel == absolute and entry.location == Path(absolute)
    assert entry.metadata == {"added": "2024-03-14", "score": 0.5, "blob": "/wA="}
    json.dumps(dict(entry.metadata))  # carried to the report as JSON


def test_bad_manifest_rows_are_entries_naming_the_line(tmp_path: Path) -> None:
    root = _manifest_dataset(tmp_path / "data")
    manifest = root / "m.jsonl"
    manifest.write_text(
        "\n".join(
            [
                json.dumps({"path": "clips/a.mp4"}),
                json.dumps({"license": "CC0"}),
                "not json at all",
                json.dumps({"path": 7}),
                json.dumps({"path": "  "}),
                json.dumps({"path": "shards/000.tar/k9.mp4", "license": "CC0"}),
                json.dumps({"path": "clips/a.mp4"}),
                "",
                json.dumps("a string"),
                json.dumps({"path": "shards/000.tar/k1.mp4"}),
            ]
        )
        + "\n"
    )
    assert _listing(manifest) == [
        ("clips/a.mp4", "clip"),
        ("m.jsonl line 2", "m.jsonl line 2: field 'path' is missing"),
        ("m.jsonl line 3", "m.jsonl line 3: not JSON (Expecting value)"),
        ("m.jsonl line 4", "m.jsonl line 4: field 'path' must be a string, got int 7"),
        ("m.jsonl line 5", "m.jsonl line 5: field 'path' is empty"),
        ("shards/000.tar/k9.mp4", "m.jsonl line 6: no member 'k9.mp4' in shard 000.tar"),
        ("m.jsonl line 7", "m.jsonl line 7: path 'clips/a.mp4' is listed again (first at m.jsonl line 1)"),
        ("m.jsonl line 9", "m.jsonl line 9: not a JSON object (a str)"),
        ("shards/000.tar/k1.mp4", "clip"),
    ]
    bad = next(e for e in iter_sources(manifest) if e.rel == "m.jsonl line 2")
    assert bad.metadata == {"license": "CC0"}  # what the row held is kept with its error


def test_bad_csv_rows(tmp_path: Path) -> None:
    root = _manifest_dataset(tmp_path / "data")
    manifest = root / "m.csv"
    manifest.write_bytes(
        b"path,license\nclips/a.mp4,CC0\n,CC0\nclips/b.mp4,CC0,extra\n"
        b"shards/000.tar/k1.mp4,CC-BY\n\xff\xfe broken,CC0\nclips/c.mp4,CC0\n"
    )
    assert _listing(manifest) == [
        ("clips/a.mp4", "clip"),
        ("m.csv line 3", "m.csv line 3: field 'path' is empty"),
        ("m.csv line 4", "m.csv line 4: 1 more value(s) than the header has columns"),
        ("shards/000.tar/k1.mp4", "clip"),
        ("m.csv line 6", "m.csv line 6: not UTF-8 text; the rest of the manifest was not read"),
    ]


def test_unusable_manifests_fail_at_call_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.csv").write_text("file,license\nx.mp4,CC0\n")
    with pytest.raises(SourceError, match=r"a\.csv: no 'path' column \(columns: file, license\)"):
        iter_sources(tmp_path / "a.csv")
    _write_manifest(tmp_path / "b.parquet", [{"file": "x.mp4"}])
    with pytest.raises(SourceError, match=r"b\.parquet: no 'path' column \(columns: file\)"):
        iter_sources(tmp_path / "b.parquet")
    (tmp_path / "c.parquet").write_text("path\nx.mp4\n")
    with pytest.raises(SourceError, match=r"c\.parquet: not a readable Parquet file"):
        iter_sources(tmp_path / "c.parquet")
    _write_manifest(tmp_path / "d.parquet", [{"path": "x.mp4"}])
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if pyarrow were not installed
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(SourceError, match=r"needs pyarrow: pip install 'provenance\[parquet\]'"):
        iter_sources(tmp_path / "d.parquet")


# ----------------------------------------------------------------- resolve, roots, plain data


def test_resolve_gives_back_each_listed_source(shard_dir: Path, tmp_path: Path) -> None:
    shutil.copyfile(CLIP, shard_dir / "plain.mp4")
    for entry in iter_sources(shard_dir):
        if isinstance(entry, ClipSource):
            again = resolve(shard_dir, {"path": entry.rel, "metadata": entry.metadata})
            assert again == entry and again.offset == entry.offset and again.metadata == entry.metadata
    with_member = resolve(shard_dir, {"path": "shards/000.tar/dir/k3.seg.mp4", "member": "dir/k3.seg.mp4"})
    assert with_member.member == "dir/k3.seg.mp4" and with_member.size == ROTATED.stat().st_size
    as_reported = {
        "path": "shards/000.tar/dir/k3.seg.mp4",
        "source": {"shard": "shards/000.tar", "member": "dir/k3.seg.mp4"},
    }
    assert resolve(shard_dir, as_reported) == with_member
    for path in ("../secret.mp4", "/etc/passwd", "shards/../../x.mp4"):
        with pytest.raises(SourceError, match="outside the dataset"):
            resolve(shard_dir, {"path": path})
    with pytest.raises(SourceError, match=r"no member 'nope\.mp4' in shard"):
        resolve(shard_dir, {"path": "shards/000.tar/nope.mp4"})
    with pytest.raises(SourceError, match="has no 'path'"):
        resolve(shard_dir, {"error": "x"})
    root = _manifest_dataset(tmp_path / "m")
    manifest = _write_manifest(root / "list.jsonl", ROWS)
    for entry in iter_sources(manifest):
        assert resolve(manifest, {"path": entry.rel}) == entry


def test_allowed_roots_confine_what_is_read(tmp_path: Path) -> None:
    root = _manifest_dataset(tmp_path / "data")
    outside = tmp_path / "private.mp4"
    shutil.copyfile(CLIP, outside)
    (root / "clips" / "escape.mp4").symlink_to(outside)
    manifest = _write_manifest(
        root / "m.jsonl", [{"path": "clips/a.mp4"}, {"path": str(outside)}, {"path": "shards/000.tar/k1.mp4"}]
    )
    assert _listing(root, allowed_roots=[root]) == [
        ("clips/a.mp4", "clip"),
        ("clips/escape.mp4", "clips/escape.mp4: outside the allowed data roots"),
        ("shards/000.tar/k1.mp4", "clip"),
        ("shards/000.tar/k2.png", "clip"),
    ]
    assert _listing(manifest, allowed_roots=[root])[1] == (str(outside), f"{outside}: outside the allowed data roots")
    assert _listing(manifest, allowed_roots=[tmp_path])[1] == (str(outside), "clip")
    flags = [(e.rel, e.outside_roots) for e in iter_sources(root, allowed_roots=[root]) if isinstance(e, BadEntry)]
    assert flags == [("clips/escape.mp4", True)]  # machine-readable, beside the message
    bad_row = _write_manifest(root / "bad.jsonl", [{"path": str(outside)}, {"name": "no path"}])
    assert [e.outside_roots for e in iter_sources(bad_row, allowed_roots=[root])] == [True, False]


def test_sources_are_plain_data(shard_dir: Path) -> None:
    entries = list(iter_sources(shard_dir))
    again = pickle.loads(pickle.dumps(entries))  # sent to worker processes
    assert again == entries and [getattr(e, "metadata", None) for e in again] == [e.metadata for e in entries]
    assert len(set(e for e in entries if isinstance(e, ClipSource))) == 5  # hashable despite dict metadata
    plain = ClipSource("clip.mp4", CLIP)
    assert plain.sha256() == sha256_file(CLIP) and plain.local_file == CLIP and plain.name == "clip.mp4"
