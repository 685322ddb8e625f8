"""The audio fingerprint's parameters (one frozen dataclass, the documented recipe) and its version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provenance.errors import check_ranges

__all__ = ["AUDIO_ALGORITHM", "AUDIO_VERSION", "AudioParams"]

#: The audio fingerprint's name in the registry's stored fingerprints.
AUDIO_ALGORITHM = "provenance-audio"
#: Bumped whenever stored audio prints (the spectrogram peaks) or audio matching change: stored audio prints
#: are keyed by it, and clip results by it through the scan's match key.
AUDIO_VERSION = "1.1"


@dataclass(frozen=True, slots=True)
class AudioParams:
    """Landmark (constellation) hashing of spectrogram peaks; the defaults are the documented recipe.

    rate: mono sample rate the audio is resampled to (Hz); n_fft / hop: STFT window and step (samples).
    fmin / fmax: band the peaks are picked in (Hz).
    peak_time / peak_freq: half-size of the neighbourhood a peak is the maximum of (frames, bins): short in time,
    wide in frequency. At +-6 frames (+-0.19 s) by +-12 bins, a syllable of a voice shadowed the music around it
    for 0.4 s: of a 15 s clip with the music 10 dB under a voice, 13-14 % of its peaks were found on the
    reference (chance 2.5 %; audio bench seed 2: recall 0.875, IoU 0.717). At +-3 frames the music between
    syllables and at its note onsets has maxima again, and +-16 bins keeps the stronger of close maxima in a
    frame: 22 % found (chance 3 %), the same clips 24 standard deviations above chance on average instead of 14
    (either change alone: 18 and 14); recall 1.0, IoU 0.978.
    peaks_per_second: at most this many peaks are kept per second (the most prominent), shared equally by
    ``bands`` log-spaced frequency bands.
    floor_db: peaks below this level (dB of full scale) are silence and dropped.
    fan_out: targets paired with each anchor peak of a reference; query_fan_out: of a clip (more, so that the
    reference's pairs are among them when other sound adds peaks); query_peaks_per_second: a clip's peak budget;
    dt_min / dt_max: the target zone (frames after the anchor);
    df_max: largest frequency step from anchor to target (bins).
    freq_quantum: frequency bins per hash step.
    max_speed: speed changes tried up to this factor either way (pitch moves with them); speed_step: their step.
    offset_bin: width of the time-offset histogram's bins (seconds).
    min_seed: aligned hashes (one speed, one offset bin) that make a candidate alignment worth checking;
    min_votes: the clip's peaks a segment needs found on the reference along the alignment; min_rate: the share
    of its peaks that must be; min_z: how far above chance (standard deviations) that share must be.
    min_segment: shortest segment reported (seconds); max_gap: longest gap (seconds) inside one segment of one
    alignment.
    max_postings: a hash shared by more reference positions than this is too common to vote.
    """

    rate: int = 8000
    n_fft: int = 1024
    hop: int = 256
    fmin: float = 150.0
    fmax: float = 3800.0
    peak_time: int = 3
    peak_freq: int = 16
    peaks_per_second: int = 36
    bands: int = 1
    floor_db: float = -75.0
    fan_out: int = 6
    query_fan_out: int = 12
    query_peaks_per_second: int = 36
    dt_min: int = 1
    dt_max: int = 40
    df_max: int = 96
    freq_quantum: float = 2.0
    max_speed: float = 0.06
    speed_step: float = 0.005
    offset_bin: float = 0.064
    min_seed: int = 4
    min_votes: int = 16
    min_rate: float = 0.07
    min_z: float = 9.0
    min_segment: float = 2.0
    max_gap: float = 8.0
    max_postings: int = 200

    def __post_init__(self) -> None:
        check_ranges(
            self,
            [
                ("rate", 4000 <= self.rate <= 48000),
                ("n_fft", self.n_fft in (256, 512, 1024, 2048, 4096)),
                ("hop", 32 <= self.hop <= self.n_fft),
                ("fmin", 0 <= self.fmin < self.fmax),
                ("fmax", self.fmax <= self.rate / 2),
                ("peak_time", 1 <= self.peak_time <= 64),
                ("peak_freq", 1 <= self.peak_freq <= 128),
                ("peaks_per_second", 1 <= self.peaks_per_second <= 500),
                ("bands", 1 <= self.bands <= 32),
                ("floor_db", -150 <= self.floor_db <= 0),
                ("fan_out", 1 <= self.fan_out <= 32),
                ("query_fan_out", self.fan_out <= self.query_fan_out <= 32),
                ("query_peaks_per_second", 1 <= self.query_peaks_per_second <= 500),
                ("dt_min", self.dt_min >= 0),
                ("dt_max", self.dt_min < self.dt_max <= 63),
                ("df_max", 1 <= self.df_max <= 127 * self.freq_quantum),
                ("freq_quantum", 0.5 <= self.freq_quantum <= 16),
                ("max_speed", 0 <= self.max_speed <= 0.25),
                ("speed_step", 0.001 <= self.speed_step <= 0.1),
                ("offset_bin", 0.01 <= self.offset_bin <= 1.0),
                ("min_seed", self.min_seed >= 2),
                ("min_votes", self.min_votes >= 3),
                ("min_rate", 0 <= self.min_rate <= 1),
                ("min_z", self.min_z >= 0),
                ("min_segment", self.min_segment >= 0),
                ("max_gap", self.max_gap >= 0.1),
                ("max_postings", self.max_postings >= 1),
            ],
        )

    @property
    def frame_s(self) -> float:
        """Seconds between spectrogram frames."""
        return self.hop / self.rate

    def speeds(self) -> list[float]:
        """The speed factors tried, 1.0 first."""
        n = round(self.max_speed / self.speed_step)
        grid = [1.0 + k * self.speed_step for k in range(-n, n + 1)]
        return sorted(grid, key=lambda s: (abs(s - 1.0), s))

    def for_query(self) -> AudioParams:
        """The parameters a clip's print is taken with (its own peak budget)."""
        from dataclasses import replace

        return replace(self, peaks_per_second=self.query_peaks_per_second)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}
