"""Checking a candidate alignment peak by peak, and cutting it into segments.

Hash votes propose a line ``ref_time = slope * clip_time + icept`` (with ``slope`` the speed); each of the clip's
peaks is then mapped onto the reference (time by the line, frequency divided by the speed) and counts as a hit
when the reference has a peak there (within a frame and a bin). Under a loud voice few landmark pairs survive
(both peaks must), but a single peak survives far more often, so the hit rate along the line tells a real match
from chance even at -10 dB. The chance rate is measured on the same clip against the same reference at shifted
offsets; a segment is a stretch where the hit rate stands well above it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from provenance.engine.audio.params import AudioParams
from provenance.engine.audio.prints import AudioPrint

__all__ = ["Stretch", "chance_rate", "hits_on_line", "peak_keys", "stretches"]

_FREQ_SLOTS = 1024  # frequency bins a key leaves room for (n_fft / 2 <= 1024)
_SHIFTS = (3.7, -7.9, 13.3, -21.1, 29.9, -37.3)  # seconds: lines where only chance can hit


def peak_keys(fp: AudioPrint, params: AudioParams) -> npt.NDArray[np.int64]:
    """A reference's peaks as sorted keys (frame, bin), each spread to its neighbours (a frame and a bin either
    way), so that a lookup within that tolerance is one binary search."""
    frames = np.rint(fp.times / params.frame_s).astype(np.int64)
    bins = np.clip(np.rint(fp.freqs).astype(np.int64), 0, _FREQ_SLOTS - 1)
    spread = [
        (frames + dt) * _FREQ_SLOTS + np.clip(bins + db, 0, _FREQ_SLOTS - 1) for dt in (-1, 0, 1) for db in (-1, 0, 1)
    ]
    return np.unique(np.concatenate(spread)) if frames.size else np.zeros(0, np.int64)


def hits_on_line(
    fp: AudioPrint, keys: npt.NDArray[np.int64], slope: float, icept: float, params: AudioParams
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """``(hit, inside)`` per clip peak: whether the reference has a peak where the line maps it (within a frame and
    a bin), and whether the line maps it inside the reference at all."""
    if keys.size == 0:
        z = np.zeros(len(fp), bool)
        return z, z
    frames = np.rint((fp.times * slope + icept) / params.frame_s).astype(np.int64)
    bins = np.clip(np.rint(fp.freqs / slope).astype(np.int64), 0, _FREQ_SLOTS - 1)
    inside = (frames >= 0) & (frames <= keys[-1] // _FREQ_SLOTS)
    probe = frames * _FREQ_SLOTS + bins
    pos = np.minimum(np.searchsorted(keys, probe), keys.size - 1)
    return (keys[pos] == probe) & inside, inside


def chance_rate(
    fp: AudioPrint,
    keys: npt.NDArray[np.int64],
    slope: float,
    icept: float,
    usable: npt.NDArray[np.bool_],
    params: AudioParams,
) -> float:
    """The share of the clip's usable peaks that hit the reference on lines shifted off the alignment."""
    hits = total = 0
    for shift in _SHIFTS:
        hit, inside = hits_on_line(fp, keys, slope, icept + shift, params)
        hits += int((hit & usable).sum())
        total += int((inside & usable).sum())
    return max(0.01, hits / total) if total else 0.02


class Stretch:
    """A stretch of the clip where the reference's peaks are heard: clip times, hits and peaks in it."""

    __slots__ = ("end", "hits", "peaks", "start")

    def __init__(self, start: float, end: float, hits: int, peaks: int) -> None:
        self.start, self.end, self.hits, self.peaks = start, end, hits, peaks


def stretches(
    times: npt.NDArray[np.float32],
    hit: npt.NDArray[np.bool_],
    usable: npt.NDArray[np.bool_],
    chance: float,
    params: AudioParams,
) -> list[Stretch]:
    """The stretches where hits stand above ``chance`` (1 s bins, rate over 3 s; runs at most ``max_gap`` apart
    are one stretch), kept when they pass ``min_votes`` hits, ``min_rate``, ``min_z`` standard deviations above
    chance and ``min_segment`` seconds."""
    if not usable.any():
        return []
    n_bins = int(np.floor(float(times.max()))) + 1
    b = np.floor(times).astype(np.int64)
    peaks = np.bincount(b[usable], minlength=n_bins).astype(np.float64)
    hits = np.bincount(b[usable & hit], minlength=n_bins).astype(np.float64)
    kernel = np.ones(3)
    rate = np.convolve(hits, kernel, "same") / np.maximum(np.convolve(peaks, kernel, "same"), 1)
    on = rate >= max(params.min_rate, 3.0 * chance)
    weak = rate >= max(params.min_rate / 2, 2.0 * chance)
    runs: list[list[int]] = []  # [first bin, last bin] of each run of bins above chance
    for j in np.nonzero(on)[0].tolist():
        if runs and j - runs[-1][1] - 1 <= params.max_gap:  # the same alignment after a gap (a louder voice)
            runs[-1][1] = j
        else:
            runs.append([j, j])
    found: list[Stretch] = []
    for j, k in runs:
        sel = usable & (b >= j) & (b <= k)
        ht = times[sel & hit]
        if ht.size == 0:
            continue
        start, end = float(ht.min()), float(ht.max()) + params.frame_s
        inner = sel & (times >= start) & (times <= end)
        n, h = int(inner.sum()), int((inner & hit).sum())
        z = (h - chance * n) / np.sqrt(chance * (1 - chance) * n + 1.0)
        long_enough = end - start >= params.min_segment
        if h >= params.min_votes and h >= params.min_rate * n and z >= params.min_z and long_enough:
            # decided on the run; its ends reach on while the rate stays twice chance (the music goes on under a
            # louder voice)
            while j > 0 and weak[j - 1]:
                j -= 1
            while k + 1 < n_bins and weak[k + 1]:
                k += 1
            wide = times[usable & hit & (b >= j) & (b <= k)]
            start, end = min(start, float(wide.min())), max(end, float(wide.max()) + params.frame_s)
            found.append(Stretch(start, end, h, n))
    return found
