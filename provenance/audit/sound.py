"""The registry's sound for the engine: audio prints of references computed once per file content, the audio
index beside the visual one, and a clip's audio matches in its raw result.

Audio prints are stored like footage prints (the registry's fingerprints, keyed by the file's sha256, the
algorithm and its version): for every ``audio`` reference and for the soundtrack of every ``footage`` reference
(a reference without sound gets an empty print, so it is not decoded again).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from provenance.engine import EngineParams, ReferenceIndex
from provenance.engine.audio import (
    AUDIO_ALGORITHM,
    AUDIO_VERSION,
    AudioIndex,
    AudioParams,
    AudioPrint,
    fingerprint_audio,
    match_audio,
)
from provenance.errors import ReferenceChangedError
from rightsdb import Registry, sha256_file
from rightsdb.references import PrintBlobs, fingerprinted, reference_rows, save_fingerprint, stored_fingerprints

__all__ = [
    "AUDIO_KINDS",
    "AuditIndex",
    "audio_key",
    "audio_matches",
    "audio_payload",
    "ensure_audio_prints",
]

#: Reference kinds whose sound is fingerprinted.
AUDIO_KINDS = ("footage", "audio")


class AuditIndex(ReferenceIndex):
    """The visual reference index with the references' sound beside it (``audio``), and what the streamers' VODs
    show of other works (``shown``: :mod:`provenance.audit.shown`)."""

    def __init__(self, params: EngineParams = EngineParams(), audio: AudioParams | None = None) -> None:
        super().__init__(params)
        self.audio = AudioIndex(audio or AudioParams())
        self.shown: dict[str, dict[str, Any]] = {}


def audio_key() -> dict[str, Any]:
    """What a clip's audio matches depend on (part of the scan's match key)."""
    return {"algorithm": AUDIO_ALGORITHM, "version": AUDIO_VERSION, "params": AudioParams().as_dict()}


def _empty() -> AudioPrint:
    import numpy as np

    return AudioPrint(np.zeros(0, np.float32), np.zeros(0, np.float32), np.zeros(0, np.uint8), 0.0)


def ensure_audio_prints(registry: Registry, progress: Callable[[str, int, int], None] | None = None) -> int:
    """Fingerprint the sound of every footage and audio reference that has no stored audio print of this
    version; returns how many were computed. A file missing or changed since import stops it
    (:class:`ReferenceChangedError`), like footage."""
    done = fingerprinted(registry, AUDIO_ALGORITHM, AUDIO_VERSION)
    todo: dict[str, Any] = {}
    for ref, _, _ in reference_rows(registry):
        if ref.pack_id is not None:
            continue  # from a rights pack: no file (its sound, when the pack has it, came with it)
        if ref.kind in AUDIO_KINDS and ref.sha256 not in done and ref.sha256 not in todo:
            todo[ref.sha256] = ref
    params = AudioParams()
    for i, (sha, ref) in enumerate(sorted(todo.items(), key=lambda x: x[1].path), 1):
        location = Path(ref.location)
        if not location.is_file() or sha256_file(location) != sha:
            raise ReferenceChangedError(
                f"reference {ref.path} of work {ref.work_id}: file {location} is missing or has changed since "
                "import (sha256 differs); nothing was matched: restore the file, or re-import the manifest that "
                "lists it (provenance registry import MANIFEST) to register its new content"
            )
        fp = fingerprint_audio(location, params) or _empty()
        save_fingerprint(registry, sha, AUDIO_ALGORITHM, AUDIO_VERSION, params.as_dict(), len(fp), fp.to_payload())
        if progress:
            progress(f"audio fingerprinted {ref.path}", i, len(todo))
    return len(todo)


def audio_payload(
    registry: Registry, refs: list[tuple[str, str, str, str]], only: bool = False
) -> list[tuple[str, str, str, Any]]:
    """``("audio", key, layer, blobs)`` for each ``(key, kind, layer, sha256)`` of ``refs`` that has sound
    (``only``: read the prints of these references' contents alone, not every stored one: a few of many)."""
    shas = {sha for _, _, _, sha in refs} if only else None
    prints: dict[str, PrintBlobs] = stored_fingerprints(registry, AUDIO_ALGORITHM, AUDIO_VERSION, shas)
    out: list[tuple[str, str, str, Any]] = []
    for key, kind, layer, sha in refs:
        if kind not in AUDIO_KINDS:
            continue
        stored = prints.get(sha)
        if stored is None:
            if kind == "audio":  # fail closed: an audio reference never fingerprinted could hide its work
                raise ReferenceChangedError(f"reference {key} has no audio fingerprint; run the scan again")
            continue
        if len(stored[0]) > 0:
            out.append(("audio", key, layer, stored))
    return out


def _r(x: float) -> float:
    return round(float(x), 3)


def audio_matches(source: Any, index: ReferenceIndex, duration_s: float | None) -> list[dict[str, Any]]:
    """A clip's audio matches as raw JSON (``ref``, segments on both timelines, votes, confidence); none when
    the index holds no sound, the engine's settings turned audio off (``EngineParams.audio``: the sound is then not
    even decoded) or the clip has no audio stream. A clip whose sound cannot be decoded raises
    :class:`~provenance.errors.DecodeError` (fail closed)."""
    if not isinstance(index, AuditIndex) or not index.params.audio or len(index.audio) == 0:
        return []
    fp = fingerprint_audio(source, index.audio.params.for_query())
    if fp is None:
        return []
    end = duration_s if duration_s else fp.duration_s
    out = []
    for m in match_audio(fp, index.audio):
        out.append(
            {
                "ref": m.key,
                "segments": [
                    {
                        "start": _r(max(0.0, s.query_start)),
                        "end": _r(min(s.query_end, end)),
                        "ref_start": _r(max(0.0, s.ref_start)),
                        "ref_end": _r(s.ref_end),
                        "speed": _r(s.speed),
                        "score": _r(s.votes),
                    }
                    for s in m.segments
                ],
                "votes": m.votes,
                "confidence": _r(m.confidence),
            }
        )
    return out
