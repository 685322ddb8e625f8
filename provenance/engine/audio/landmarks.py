"""Landmarks: pairs of spectrogram peaks hashed as (anchor frequency, frequency step, time step), at a speed.

A re-upload played ``s`` times faster moves every frequency by ``s`` and every time step by ``1 / s``; the clip's
peaks mapped back (``t * s``, ``f / s``) before hashing give the reference's hashes again. So references are
hashed once at speed 1 and clips at each speed tried.

A hash is 21 bits: the anchor's frequency (8 bits of ``freq_quantum`` bins), the step to the target (7 bits,
signed) and the time step (6 bits of STFT frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from provenance.engine.audio.params import AudioParams
from provenance.engine.audio.prints import AudioPrint

__all__ = ["HASH_BITS", "HASH_SPACE", "Landmarks", "landmarks", "query_landmarks"]

#: Width of a landmark hash, and how many hashes there are.
HASH_BITS = 21
HASH_SPACE = 1 << HASH_BITS

_SEARCH = 64  # later peaks looked at for each anchor
_CHUNK = 16384  # anchors hashed at a time (bounds memory on long tracks)


@dataclass(frozen=True, slots=True)
class Landmarks:
    """Hashes with, for each, its anchor's index among the print's peaks and the clip times (seconds, as the
    print has them) of its anchor and target."""

    hashes: npt.NDArray[np.uint32]
    anchor: npt.NDArray[np.int32]
    t_anchor: npt.NDArray[np.float32]
    t_target: npt.NDArray[np.float32]


def _pairs(
    frames: npt.NDArray[np.float32], freqs: npt.NDArray[np.float32], fan_out: int, dt: tuple[float, float], df: float
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """``(anchor, target)`` peak indices: each anchor with the first ``fan_out`` later peaks whose time step (in
    frames) is within ``dt`` and frequency step (in hash steps) within ``df``."""
    n = frames.size
    anchors, targets = [], []
    for start in range(0, n, _CHUNK):
        idx = np.arange(start, min(n, start + _CHUNK))
        j = idx[:, None] + np.arange(1, _SEARCH + 1)[None, :]
        inside = j < n
        j = np.minimum(j, n - 1)
        step = frames[j] - frames[idx][:, None]
        valid = inside & (step >= dt[0]) & (step <= dt[1]) & (np.abs(freqs[j] - freqs[idx][:, None]) <= df)
        valid &= np.cumsum(valid, axis=1) <= fan_out
        ai, k = np.nonzero(valid)
        anchors.append(idx[ai])
        targets.append(j[ai, k])
    if not anchors:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    return np.concatenate(anchors).astype(np.intp), np.concatenate(targets).astype(np.intp)


def _hash(
    fp: AudioPrint, params: AudioParams, anchor: npt.NDArray[np.intp], target: npt.NDArray[np.intp], speed: float
) -> Landmarks:
    """The hashes of the pairs as heard at ``speed``; pairs outside the target zone at that speed are dropped."""
    frames = fp.times / np.float32(params.frame_s) * np.float32(speed)
    freqs = fp.freqs / np.float32(speed) / np.float32(params.freq_quantum)
    dt = frames[target] - frames[anchor]
    df = freqs[target] - freqs[anchor]
    keep = (
        (dt >= params.dt_min - 0.5)
        & (np.rint(dt) <= params.dt_max)
        & (np.abs(df) <= params.df_max / params.freq_quantum)
    )
    anchor, target, dt, df = anchor[keep], target[keep], dt[keep], df[keep]
    f1 = np.clip(np.rint(freqs[anchor]), 0, 255).astype(np.uint32)
    step = np.clip(np.rint(df) + 64, 0, 127).astype(np.uint32)
    tstep = np.clip(np.rint(dt), 0, 63).astype(np.uint32)
    return Landmarks(
        (f1 << 13) | (step << 6) | tstep,
        anchor.astype(np.int32),
        fp.times[anchor].astype(np.float32),
        fp.times[target].astype(np.float32),
    )


def landmarks(fp: AudioPrint, params: AudioParams, speed: float = 1.0, fan_out: int | None = None) -> Landmarks:
    """The landmark hashes of ``fp`` as heard at ``speed`` (1.0: as it is), ``fan_out`` targets an anchor
    (default the parameters' reference fan-out)."""
    fan_out = params.fan_out if fan_out is None else fan_out
    frames = fp.times / np.float32(params.frame_s) * np.float32(speed)
    freqs = fp.freqs / np.float32(speed) / np.float32(params.freq_quantum)
    dt = (params.dt_min - 0.5, params.dt_max + 0.5)
    anchor, target = _pairs(frames, freqs, fan_out, dt, params.df_max / params.freq_quantum)
    return _hash(fp, params, anchor, target, speed)


def query_landmarks(fp: AudioPrint, params: AudioParams, speeds: list[float]) -> list[Landmarks]:
    """A clip's landmark hashes at each of ``speeds``: pairs chosen once (``query_fan_out`` targets an anchor, in
    a zone widened by the largest speed change), hashed at every speed."""
    slack = 1.0 + max(abs(s - 1.0) for s in speeds) if speeds else 1.0
    frames = fp.times / np.float32(params.frame_s)
    freqs = fp.freqs / np.float32(params.freq_quantum)
    dt = ((params.dt_min - 0.5) / slack, (params.dt_max + 0.5) * slack)
    anchor, target = _pairs(frames, freqs, params.query_fan_out, dt, params.df_max / params.freq_quantum * slack)
    return [_hash(fp, params, anchor, target, s) for s in speeds]
