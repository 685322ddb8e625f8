"""Audio fingerprints: landmark (constellation) hashing of spectrogram peaks, and matching them in time.

Pure like the rest of the engine: samples or a media file in, prints and matches out. A track's print is its
spectrogram peaks (:mod:`~provenance.engine.audio.prints`); references are hashed into an
:class:`AudioIndex` (:mod:`~provenance.engine.audio.landmarks`), and a clip's print is matched against it at
speeds around 1 with votes on time offsets (:mod:`~provenance.engine.audio.match`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provenance.engine.audio.landmarks import Landmarks, landmarks
from provenance.engine.audio.match import AudioIndex, AudioMatch, AudioSegment, match_audio
from provenance.engine.audio.params import AUDIO_ALGORITHM, AUDIO_VERSION, AudioParams
from provenance.engine.audio.prints import AudioPrint, PeakPicker, fingerprint_samples
from provenance.media.audio import decode_audio

__all__ = [
    "AUDIO_ALGORITHM",
    "AUDIO_VERSION",
    "AudioIndex",
    "AudioMatch",
    "AudioParams",
    "AudioPrint",
    "AudioSegment",
    "Landmarks",
    "PeakPicker",
    "fingerprint_audio",
    "fingerprint_samples",
    "landmarks",
    "match_audio",
]


def fingerprint_audio(source: str | Path | Any, params: AudioParams | None = None) -> AudioPrint | None:
    """The audio print of a media file's first audio stream (decoded streaming, one pass), or None when it has
    none (or not a sample of sound)."""
    params = params or AudioParams()
    picker = PeakPicker(params)
    heard = False
    for chunk in decode_audio(source, params.rate):
        heard = True
        picker.feed(chunk)
    return picker.finish() if heard else None
