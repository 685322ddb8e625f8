"""Glue between the engine and the rights registry: the media probe the registry uses on import."""

from __future__ import annotations

from pathlib import Path

from provenance.errors import DecodeError
from provenance.media.audio import audio_duration, has_audio
from provenance.media.probe import probe
from rightsdb import ImportReport, MediaFacts, MediaProbeError, Registry, import_manifest, load_manifest


def media_probe(path: Path) -> MediaFacts:
    """Probe ``path`` with the engine's decoder, in the registry's terms."""
    try:
        info = probe(path)
    except DecodeError as exc:
        try:  # sound without picture: a soundtrack track, a song, a VOD's audio track
            if has_audio(path):
                return MediaFacts(kind="audio", width=0, height=0, duration_s=audio_duration(path), fps=0.0)
        except DecodeError:
            pass
        raise MediaProbeError(exc.reason) from exc
    return MediaFacts(
        kind=info.kind,
        width=info.width,
        height=info.height,
        duration_s=info.duration_s,
        fps=info.fps,
        frame_count=info.frame_count,
    )


def import_manifest_file(registry: Registry, path: str | Path) -> ImportReport:
    """Load, validate and import a manifest file (all or nothing)."""
    return import_manifest(registry, load_manifest(path, media_probe))
