"""A small spectrogram picture of a stretch of sound: the evidence of an audio match a reviewer can look at.

The stretch (``seconds`` around ``t``) is decoded with :func:`provenance.media.audio.decode_audio` (mono, 8 kHz:
the band the audio fingerprint reads), its log-magnitude STFT drawn low frequencies at the bottom, louder
brighter, with a mark at ``t``, as a PNG. Raises what decoding raises; the caller (the thumbnailer) turns any
failure into a missing picture.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from provenance.media import MediaSource
from provenance.media.audio import decode_audio

__all__ = ["SPECTRO_RATE", "spectrogram_png"]

SPECTRO_RATE = 8000
_N_FFT = 512
_HOP = 128


def spectrogram_png(
    source: Path | MediaSource, t: float, seconds: float = 6.0, size: tuple[int, int] = (320, 128)
) -> bytes | None:
    """PNG of the spectrogram of ``seconds`` of sound centred on ``t`` (None when there is no sound there)."""
    start = max(0.0, t - seconds / 2)
    chunks = list(decode_audio(source, SPECTRO_RATE, max_seconds=start + seconds))
    if not chunks:
        return None
    x = np.concatenate(chunks)[int(start * SPECTRO_RATE) :]
    if x.size < _N_FFT:
        return None
    frames = np.lib.stride_tricks.sliding_window_view(x, _N_FFT)[::_HOP]
    mag = np.abs(np.fft.rfft(frames * np.hanning(_N_FFT).astype(np.float32), axis=1))
    db = 20 * np.log10(mag.T[::-1] + 1e-6)  # frequency up, time across
    top = float(db.max())
    grey = np.clip((db - (top - 70.0)) / 70.0, 0.0, 1.0)
    rgb = np.stack([grey**0.6, grey**1.5, 0.35 * (1 - grey) + grey**3], axis=-1)  # dark blue to yellow
    img = (rgb * 255).astype(np.uint8)
    mark = round((t - start) * SPECTRO_RATE / _HOP)
    if 0 <= mark < img.shape[1]:
        img[:, mark] = (255, 255, 255)
    im = Image.fromarray(img, "RGB").resize(size, Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
