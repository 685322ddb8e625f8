"""Media: what a file is (probe) and its sampled frames (decode), whatever the container or the backend.

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

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "MAX_SIDE",
    "VIDEO_SUFFIXES",
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
]
