"""The audio fingerprint on real sound: game music (frozen-bubble-data), speech (espeak-ng), decoded with PyAV.

Each condition a stream or a re-upload brings (voice-over, music under voice, a low-bit-rate codec, a speed
change with its pitch, a short excerpt) is mixed here from the real tracks and must be found, on both timelines;
clean speech and music nobody registered must not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from provenance.engine.audio import (
    AudioIndex,
    AudioParams,
    AudioPrint,
    fingerprint_audio,
    fingerprint_samples,
    landmarks,
    match_audio,
)
from provenance.errors import ConfigError, DecodeError, FingerprintError
from provenance.media.audio import decode_audio, has_audio
from tests.audiomedia import COMMENTARY, OTHER_SPEECH, RATE, SONGS, have_material, load, mix, speech, speed, write_audio

pytestmark = pytest.mark.skipif(not have_material(), reason="needs frozen-bubble-data and espeak-ng (.ci/run)")

SONG_START = 60.0  # where the clips below take the song from


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("audio")
    song = load(SONGS["song"], 0, 120)
    voice = speech(COMMENTARY, d / "voice.wav")
    other_voice = speech(OTHER_SPEECH, d / "other.wav", voice="en-gb")
    part = song[int(SONG_START * RATE) : int((SONG_START + 20) * RATE)]
    files = {
        "song": write_audio(d / "song.flac", song, codec="flac"),
        "clean": write_audio(d / "clean.m4a", part),
        "voice0": write_audio(d / "voice0.m4a", mix(voice, part, 0.0)),
        "voice-10": write_audio(d / "voice-10.m4a", mix(voice, part, -10.0)),
        "aac48": write_audio(d / "aac48.m4a", mix(voice, part, 0.0), bit_rate=48000),
        "opus48": write_audio(d / "opus48.ogg", mix(voice, part, 0.0), codec="libopus", bit_rate=48000),
        "fast": write_audio(d / "fast.m4a", speed(mix(voice, part, 0.0), 1.05)),
        "slow": write_audio(d / "slow.m4a", speed(mix(voice, part, 0.0), 0.95)),
        "excerpt": write_audio(d / "excerpt.m4a", part[: 5 * RATE] * 0.3),
        "half": write_audio(d / "half.m4a", np.concatenate([part[: 10 * RATE], other_voice[: 10 * RATE]])),
        "speech": write_audio(d / "speech.m4a", other_voice[: 20 * RATE]),
        "unregistered": write_audio(d / "unregistered.m4a", load(SONGS["other"], 30, 20)),
    }
    return files


@pytest.fixture(scope="module")
def index(material: dict[str, Path]) -> AudioIndex:
    idx = AudioIndex()
    fp = fingerprint_audio(material["song"])
    intro = fingerprint_audio(SONGS["intro"])
    assert fp is not None and intro is not None
    idx.add("song", "music", fp)
    idx.add("intro", "game", intro)
    return idx


def _found(index: AudioIndex, path: Path) -> list[tuple[str, float, float, float, float, float]]:
    fp = fingerprint_audio(path, index.params.for_query())
    assert fp is not None
    return [
        (m.key, s.query_start, s.query_end, s.ref_start, s.ref_end, s.speed)
        for m in match_audio(fp, index)
        for s in m.segments
    ]


def _iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


@pytest.mark.parametrize(
    ("name", "seconds", "factor"),
    [
        ("clean", 20, 1.0),
        ("voice0", 20, 1.0),
        ("aac48", 20, 1.0),
        ("opus48", 20, 1.0),
        ("fast", 20 / 1.05, 1.05),
        ("slow", 20 / 0.95, 0.95),
        ("excerpt", 5, 1.0),
    ],
)
def test_registered_music_is_found_on_both_timelines(
    index: AudioIndex, material: dict[str, Path], name: str, seconds: float, factor: float
) -> None:
    found = _found(index, material[name])
    assert [f[0] for f in found] == ["song"], found
    _, qs, qe, rs, re_, spd = found[0]
    assert _iou((qs, qe), (0.0, seconds)) >= 0.8
    assert _iou((rs, re_), (SONG_START, SONG_START + seconds * factor)) >= 0.8
    assert spd == pytest.approx(factor, abs=0.01)


def test_music_under_voice_at_minus_10_db_is_found(index: AudioIndex, material: dict[str, Path]) -> None:
    found = _found(index, material["voice-10"])
    assert {f[0] for f in found} == {"song"}
    assert any(abs(f[3] - f[1] - SONG_START) < 0.2 for f in found)


def test_music_in_one_half_only_is_found_in_that_half(index: AudioIndex, material: dict[str, Path]) -> None:
    found = _found(index, material["half"])
    assert [f[0] for f in found] == ["song"]
    assert _iou((found[0][1], found[0][2]), (0.0, 10.0)) >= 0.8


@pytest.mark.parametrize("name", ["speech", "unregistered"])
def test_clean_sound_is_not_flagged(index: AudioIndex, material: dict[str, Path], name: str) -> None:
    assert _found(index, material[name]) == []


def test_a_stream_reference_counts_only_on_what_others_did_not_explain(material: dict[str, Path]) -> None:
    """A VOD holding the song is not the streamer's layer in a clip of the song alone; with the voice it is."""
    params = AudioParams()

    def samples(path: Path) -> np.ndarray:
        return np.concatenate(list(decode_audio(path, params.rate)))

    song, vod = samples(material["song"]), samples(material["voice0"])  # the VOD: the voice over the song at 60 s
    idx = AudioIndex(params)
    idx.add("vod", "stream", fingerprint_samples([vod], params))
    idx.add("song", "music", fingerprint_samples([song], params))
    rate = params.rate
    music_only = fingerprint_samples([song[int(SONG_START * rate) : int((SONG_START + 15) * rate)]], params)
    assert [m.key for m in match_audio(music_only, idx)] == ["song"]
    with_voice = fingerprint_samples([vod[2 * rate : 17 * rate]], params)
    assert sorted(m.key for m in match_audio(with_voice, idx)) == ["song", "vod"]


def test_landmarks_at_a_speed_are_the_hashes_of_the_sped_up_sound(material: dict[str, Path]) -> None:
    song = load(material["song"], SONG_START, 20)
    params = AudioParams()
    ref = landmarks(fingerprint_samples([song], params), params)
    fast = landmarks(fingerprint_samples([speed(song, 1.04)], params), params, 1.04)
    plain = landmarks(fingerprint_samples([speed(song, 1.04)], params), params, 1.0)
    shared = np.intersect1d(ref.hashes, fast.hashes).size
    assert shared > 3 * np.intersect1d(ref.hashes, plain.hashes).size


def test_decoding_is_streamed_mono_at_the_rate(material: dict[str, Path]) -> None:
    chunks = list(decode_audio(material["song"], 8000))
    assert len(chunks) > 10 and all(c.ndim == 1 and c.dtype == np.float32 for c in chunks)
    assert max(c.size for c in chunks) < 8000 * 30  # never the whole track at once
    assert sum(c.size for c in chunks) / 8000 == pytest.approx(120, abs=0.1)
    assert sum(c.size for c in decode_audio(material["song"], 8000, max_seconds=5)) == 5 * 8000


def test_files_without_sound_and_bad_files(tmp_path: Path) -> None:
    from tests.conftest import FIXTURES

    assert not has_audio(FIXTURES / "media" / "letterboxed.mp4")
    assert fingerprint_audio(FIXTURES / "media" / "letterboxed.mp4") is None
    bad = tmp_path / "noise.m4a"
    bad.write_bytes(b"not audio at all" * 100)
    with pytest.raises(DecodeError, match=r"noise\.m4a"):
        has_audio(bad)


def test_prints_round_trip_and_bad_ones_are_refused(material: dict[str, Path]) -> None:
    fp = fingerprint_audio(material["excerpt"])
    assert fp is not None and len(fp) > 50
    back = AudioPrint.from_payload(*fp.to_payload())
    assert np.array_equal(back.times, fp.times) and np.array_equal(back.freqs, fp.freqs)
    assert back.duration_s == pytest.approx(fp.duration_s)
    times, data, strength = fp.to_payload()
    with pytest.raises(FingerprintError):
        AudioPrint.from_payload(times, data[:-4], strength)
    with pytest.raises(ConfigError, match=r"AudioParams\.fmax"):
        AudioParams(fmax=6000.0)
