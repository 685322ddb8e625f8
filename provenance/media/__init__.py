"""Media: what a file is (probe), its sampled frames (decode), whatever the container or the backend, and the
opt-out signals embedded in it (:mod:`~provenance.media.signals`: C2PA, XMP, container tags).

Lowest stage of the data path: it knows files and codecs, nothing of datasets, fingerprints or registries.
"""

from provenance.media.decode import BACKENDS, DEFAULT_BACKEND, available_backends, frame_at, iter_frames, open_video
from provenance.media.frames import Frame, VideoReader
from provenance.media.probe import (
    IMAGE_SUFFIXES,
    MAX_PIXELS,
    MAX_SIDE,
    VIDEO_SUFFIXES,
    MediaInfo,
    MediaInput,
    MediaKind,
    MediaSource,
    probe,
)
from provenance.media.signals import TRAINING_MINING_LABELS, VALUE_MAX, XMP_WINDOW, read_signals

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "MAX_SIDE",
    "TRAINING_MINING_LABELS",
    "VALUE_MAX",
    "VIDEO_SUFFIXES",
    "XMP_WINDOW",
    "Frame",
    "MediaInfo",
    "MediaInput",
    "MediaKind",
    "MediaSource",
    "VideoReader",
    "available_backends",
    "frame_at",
    "iter_frames",
    "open_video",
    "probe",
    "read_signals",
]
