"""A scan's plan without scanning (``provenance scan --dry-run``): the clips a scan would take, their hours of
video and a rough time estimate. It lists and probes the clips (headers only) and never matches anything, reads
no registry and writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from provenance.audit.scan import selected_entries, size_of
from provenance.dataset import BadEntry, Selection
from provenance.errors import ProvenanceError, ScanError
from provenance.media.probe import probe

__all__ = ["REALTIME_PER_WORKER", "Plan", "PlannedClip", "plan_scan"]

#: Seconds of video one worker scans per second, roughly (whole scans on one core of a 2-core machine: ~5x on the
#: short clips of fixtures/sample, less at 720p); it varies with resolution, length and the registry.
REALTIME_PER_WORKER = 3.0


@dataclass(frozen=True, slots=True)
class PlannedClip:
    """One entry a scan would take: its report path, bytes, seconds of video (0 for a still), or why it fails."""

    path: str
    size: int
    duration_s: float
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """What a scan of ``dataset`` would take."""

    dataset: str
    clips: list[PlannedClip]

    @property
    def seconds(self) -> float:
        """Seconds of video in the clips that can be read."""
        return sum(c.duration_s for c in self.clips)

    @property
    def size(self) -> int:
        return sum(c.size for c in self.clips)

    @property
    def errors(self) -> int:
        return sum(1 for c in self.clips if c.error)

    def estimate_s(self, workers: int) -> float:
        """Rough wall-clock seconds of a first scan with ``workers`` workers (stored results make reruns faster)."""
        if workers < 1:
            raise ScanError(f"workers must be >= 1, got {workers}")
        return self.seconds / (REALTIME_PER_WORKER * workers)


def plan_scan(dataset: Path, selection: Selection | None = None, allowed_roots: Sequence[Path] | None = None) -> Plan:
    """The clips a :func:`~provenance.audit.scan` of ``dataset`` with ``selection`` would take, each probed."""
    root = Path(dataset).resolve()
    if not root.exists():
        raise ScanError(f"{dataset}: no such folder or file")
    clips: list[PlannedClip] = []
    for entry in selected_entries(root, allowed_roots, selection):
        if isinstance(entry, BadEntry):
            clips.append(PlannedClip(entry.rel, 0, 0.0, entry.error))
            continue
        try:
            duration = probe(entry, first_frame=False).duration_s
        except (ProvenanceError, OSError) as exc:
            clips.append(PlannedClip(entry.rel, size_of(entry), 0.0, " ".join(str(exc).split())))
            continue
        clips.append(PlannedClip(entry.rel, size_of(entry), duration))
    return Plan(str(root), clips)
