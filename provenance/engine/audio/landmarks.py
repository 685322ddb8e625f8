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

__all__ = ["Landmarks", "landmarks"]

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


def landmarks(fp: AudioPrint, params: AudioParams, speed: float = 1.0, fan_out: int | None = None) -> Landmarks:
    """The landmark hashes of ``fp`` as heard at ``speed`` (1.0: as it is), ``fan_out`` targets an anchor
    (default the parameters' reference fan-out)."""
    fan_out = params.fan_out if fan_out is None else fan_out
    n = len(fp)
    frames = fp.times / np.float32(params.frame_s) * np.float32(speed)
    freqs = fp.freqs / np.float32(speed) / np.float32(params.freq_quantum)
    df_max = params.df_max / params.freq_quantum
    out_h, out_a, out_t0, out_t1 = [], [], [], []
    for start in range(0, n, _CHUNK):
        idx = np.arange(start, min(n, start + _CHUNK))
        j = idx[:, None] + np.arange(1, _SEARCH + 1)[None, :]
        inside = j < n
        j = np.minimum(j, n - 1)
        dt = frames[j] - frames[idx][:, None]
        df = freqs[j] - freqs[idx][:, None]
        valid = inside & (dt >= params.dt_min - 0.5) & (np.rint(dt) <= params.dt_max) & (np.abs(df) <= df_max)
        rank = np.cumsum(valid, axis=1)
        valid &= rank <= fan_out
        ai, k = np.nonzero(valid)
        if ai.size == 0:
            continue
        anchor = idx[ai]
        target = j[ai, k]
        f1 = np.clip(np.rint(freqs[anchor]), 0, 255).astype(np.uint32)
        step = np.clip(np.rint(df[ai, k]) + 64, 0, 127).astype(np.uint32)
        tstep = np.clip(np.rint(dt[ai, k]), 0, 63).astype(np.uint32)
        out_h.append((f1 << 13) | (step << 6) | tstep)
        out_a.append(anchor.astype(np.int32))
        out_t0.append(fp.times[anchor])
        out_t1.append(fp.times[target])
    if not out_h:
        empty_f = np.zeros(0, np.float32)
        return Landmarks(np.zeros(0, np.uint32), np.zeros(0, np.int32), empty_f, empty_f)
    return Landmarks(
        np.concatenate(out_h),
        np.concatenate(out_a),
        np.concatenate(out_t0).astype(np.float32),
        np.concatenate(out_t1).astype(np.float32),
    )
