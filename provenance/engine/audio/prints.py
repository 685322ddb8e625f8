"""Audio prints: the spectrogram peaks of a track (its constellation), picked as the audio streams in.

The STFT (Hann window) runs over chunks of mono samples as they come; the log-magnitude spectrogram is kept for a
block of frames at a time with a margin either side, its local maxima (a rectangle of ``2 * peak_time + 1``
frames by ``2 * peak_freq + 1`` bins) above the silence floor are the candidate peaks, and the most prominent
``peaks_per_second`` of each second are kept. Frequencies are refined between bins (parabola through the peak
and its neighbours), so hashes can be taken again at another speed. Memory is bounded by the block, whatever the
track's length.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from provenance.engine.audio.params import AudioParams
from provenance.errors import FingerprintError

__all__ = ["AudioPrint", "PeakPicker", "fingerprint_samples"]

_BLOCK_FRAMES = 512


@dataclass(frozen=True, slots=True)
class AudioPrint:
    """A track's peaks: ``times`` (seconds), ``freqs`` (STFT bins, fractional) and ``strength`` (0-255), in
    time order, and the track's ``duration_s``."""

    times: npt.NDArray[np.float32]
    freqs: npt.NDArray[np.float32]
    strength: npt.NDArray[np.uint8]
    duration_s: float

    def __len__(self) -> int:
        return int(self.times.size)

    def to_payload(self) -> tuple[bytes, bytes, bytes]:
        """The stored form: ``(times, freqs and duration, strength)`` blobs, little-endian float32 / uint8."""
        data = np.concatenate([np.asarray([self.duration_s], "<f4"), self.freqs.astype("<f4")])
        return self.times.astype("<f4").tobytes(), data.tobytes(), self.strength.astype(np.uint8).tobytes()

    @classmethod
    def from_payload(cls, times: bytes, data: bytes, strength: bytes) -> AudioPrint:
        t = np.frombuffer(times, "<f4").astype(np.float32)
        d = np.frombuffer(data, "<f4").astype(np.float32)
        s = np.frombuffer(strength, np.uint8).copy() if strength else np.zeros(t.size, np.uint8)
        if d.size != t.size + 1 or s.size != t.size:
            raise FingerprintError(f"stored audio print is malformed: {t.size} times, {d.size - 1} freqs")
        return cls(t, d[1:].copy(), s, float(d[0]))


def _max_filter(a: npt.NDArray[np.float32], half: int, axis: int) -> npt.NDArray[np.float32]:
    """Running maximum over ``2 * half + 1`` cells along ``axis`` (edges padded with -inf), by doubling: the
    maximum over a power of two of cells, taken twice with overlap, in a handful of passes."""
    width = 2 * half + 1
    pad = [(0, 0), (0, 0)]
    pad[axis] = (half, half)
    m = np.pad(a, pad, constant_values=-np.inf)
    n = m.shape[axis]
    span = 1
    while span * 2 <= width:  # m[i] = max of cells i .. i + span - 1
        m = np.maximum(m.take(range(0, n - span), axis=axis), m.take(range(span, n), axis=axis))
        n -= span
        span *= 2
    out_n = a.shape[axis]
    first = m.take(range(0, out_n), axis=axis)
    second = m.take(range(width - span, width - span + out_n), axis=axis)
    return np.asarray(np.maximum(first, second), dtype=np.float32)


class PeakPicker:
    """Streams samples in (:meth:`feed`), peaks out (:meth:`finish`): the STFT and peak picking of one track."""

    def __init__(self, params: AudioParams) -> None:
        self.p = params
        self._window = np.hanning(params.n_fft).astype(np.float32)
        self._lo = max(1, int(np.floor(params.fmin * params.n_fft / params.rate)))
        self._hi = min(params.n_fft // 2 - 1, int(np.ceil(params.fmax * params.n_fft / params.rate)))
        self._samples = np.zeros(0, np.float32)
        self._spec = np.zeros((0, self._hi - self._lo), np.float32)
        self._spec_start = 0  # frame index of self._spec[0]
        self._done_until = 0  # frames before this have been searched for peaks
        self._frames = 0  # frames computed so far
        self._n_samples = 0
        self._floor = np.float32(params.floor_db / 20.0 * np.log(10) + np.log(params.n_fft / 4))
        self._peaks: list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]] = []

    def feed(self, samples: npt.NDArray[np.float32]) -> None:
        """Add the next mono samples (float, [-1, 1]) at the parameters' rate."""
        self._n_samples += int(samples.size)
        buf = np.concatenate([self._samples, np.asarray(samples, np.float32).reshape(-1)])
        n = (buf.size - self.p.n_fft) // self.p.hop + 1 if buf.size >= self.p.n_fft else 0
        if n > 0:
            frames = np.lib.stride_tricks.sliding_window_view(buf, self.p.n_fft)[:: self.p.hop][:n]
            mag = np.abs(np.fft.rfft(frames * self._window, axis=1))[:, self._lo : self._hi]
            logmag = np.log(mag + 1e-6).astype(np.float32)
            self._spec = np.concatenate([self._spec, logmag])
            self._frames += n
            buf = buf[n * self.p.hop :]
        self._samples = buf
        margin = self.p.peak_time + 1
        while self._frames - self._done_until >= _BLOCK_FRAMES + margin:
            self._pick(self._done_until + _BLOCK_FRAMES)

    def _pick(self, until: int) -> None:
        """Search frames ``[done_until, until)`` for peaks, then drop what no later block needs."""
        p = self.p
        margin = p.peak_time + 1
        spec = self._spec
        local = _max_filter(_max_filter(spec, p.peak_time, 0), p.peak_freq, 1)
        a, b = self._done_until - self._spec_start, until - self._spec_start
        block, block_max = spec[a:b], local[a:b]
        is_peak = (block == block_max) & (block > self._floor)
        # prominence: height above the frame's median level (loudness and colour of the mix cancel out)
        prominence = block - np.median(block, axis=1, keepdims=True)
        ti, fi = np.nonzero(is_peak)
        if ti.size:
            # refine frequency with a parabola through the neighbours (edges stay on the bin)
            left = spec[a + ti, np.maximum(fi - 1, 0)]
            right = spec[a + ti, np.minimum(fi + 1, spec.shape[1] - 1)]
            mid = block[ti, fi]
            denom = left - 2 * mid + right
            delta = np.where(np.abs(denom) > 1e-9, 0.5 * (left - right) / np.where(denom == 0, 1, denom), 0.0)
            delta = np.clip(delta, -0.5, 0.5)
            times = (self._done_until + ti).astype(np.float32) * np.float32(p.frame_s)
            freqs = (fi + self._lo + delta).astype(np.float32)
            self._peaks.append((times, freqs, prominence[ti, fi].astype(np.float32)))
        self._done_until = until
        keep_from = max(0, until - margin - self._spec_start)
        self._spec = spec[keep_from:]
        self._spec_start += keep_from

    def finish(self) -> AudioPrint:
        """The track's peaks (the tail padded with silence so its last frames count too)."""
        self.feed(np.zeros(self.p.n_fft, np.float32))
        if self._frames > self._done_until:
            self._pick(self._frames)
        if self._peaks:
            times = np.concatenate([x[0] for x in self._peaks])
            freqs = np.concatenate([x[1] for x in self._peaks])
            prom = np.concatenate([x[2] for x in self._peaks])
        else:
            times = freqs = prom = np.zeros(0, np.float32)
        band = np.floor(np.log(freqs / self._lo) / np.log(self._hi / self._lo) * self.p.bands).astype(np.int64)
        keep = _thin(times, np.clip(band, 0, self.p.bands - 1), prom, self.p.peaks_per_second, self.p.bands)
        times, freqs, prom = times[keep], freqs[keep], prom[keep]
        strength = np.clip(prom * 16.0, 0, 255).astype(np.uint8)
        return AudioPrint(times, freqs, strength, self._n_samples / self.p.rate)


def _thin(
    times: npt.NDArray[np.float32],
    band: npt.NDArray[np.int64],
    prominence: npt.NDArray[np.float32],
    per_second: int,
    bands: int,
) -> npt.NDArray[np.intp]:
    """Indices of the most prominent peaks of each second, ``per_second / bands`` in each band (a loud voice
    does not take the budget of the music beside it), in time order."""
    if times.size == 0:
        return np.zeros(0, np.intp)
    second = np.floor(times).astype(np.int64) * bands + band
    per_second = max(1, round(per_second / bands))
    order = np.lexsort((-prominence, second))
    sec_sorted = second[order]
    first = np.searchsorted(sec_sorted, sec_sorted, side="left")
    rank = np.arange(order.size) - first
    kept = order[rank < per_second]
    return np.sort(kept)


def fingerprint_samples(chunks: Iterable[npt.NDArray[np.float32]], params: AudioParams) -> AudioPrint:
    """The audio print of mono sample chunks at ``params.rate`` (a whole track, streamed)."""
    picker = PeakPicker(params)
    for chunk in chunks:
        picker.feed(chunk)
    return picker.finish()
