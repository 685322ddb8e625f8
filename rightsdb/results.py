"""Scan results in the store: the scan's row, each clip's raw result with its findings, and the stored result of
a clip's content to reuse.

Each clip is committed in its own transaction as it finishes, so an interrupted scan loses nothing it finished
and a scan run again picks up where it stopped. A clip's row is keyed by its scan and path: storing it again
(a clip matched twice, a scan resumed) replaces it, findings included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlmodel import select

from .models import ClipResult, Finding, Scan
from .store import Registry

__all__ = ["FindingRow", "begin_scan", "end_scan", "ensure_scan", "store_result", "stored_result"]


@dataclass(frozen=True, slots=True)
class FindingRow:
    """One matched work of a clip, as stored: its layer, holder, work, terms in force, confidence and evidence."""

    layer: str
    holder: str
    work: str
    ai_training: str
    confidence: float
    segments: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    modality: str | None = None  # "audio" for the clip's sound; None or "video" for the picture


def begin_scan(
    registry: Registry, scan_id: str, dataset: str, digest: str, engine: str, settings: dict[str, Any], total: int
) -> None:
    """Create the scan's row, or mark an existing one running again (a resumed or repeated scan)."""
    with registry.write() as session:
        row = session.get(Scan, scan_id)
        if row is None:
            session.add(
                Scan(
                    id=scan_id,
                    dataset=dataset,
                    registry_digest=digest,
                    engine=engine,
                    settings=settings,
                    clips_total=total,
                )
            )
        else:
            row.status, row.registry_digest, row.clips_total, row.finished_at = "running", digest, total, None
            session.add(row)


def ensure_scan(registry: Registry, scan_id: str, dataset: str, engine: str, status: str) -> None:
    """Create a scan row that results are filed under (the service's single clip checks) if it is missing."""
    with registry.session() as session:
        if session.get(Scan, scan_id) is not None:
            return
    with registry.write() as session:
        if session.get(Scan, scan_id) is None:
            session.add(
                Scan(id=scan_id, dataset=dataset, registry_digest="", engine=engine, settings={}, status=status)
            )


def store_result(
    registry: Registry,
    scan_id: str,
    *,
    path: str,
    sha256: str | None,
    cache_key: str | None,
    duration_s: float | None,
    exposure: str,
    error: str | None,
    raw: dict[str, Any],
    findings: Sequence[FindingRow],
    replace_cached: bool,
) -> None:
    """Commit one clip's result (and its findings) at once: an interrupted scan loses nothing it finished.

    ``replace_cached`` (a rescan): every stored result of the same ``cache_key`` gets this raw result too.
    """
    with registry.write() as session:
        old = session.exec(select(ClipResult).where(ClipResult.scan_id == scan_id, ClipResult.path == path)).first()
        if old is not None:
            session.delete(old)
            session.flush()
        if replace_cached and cache_key is not None:
            for stale in session.exec(select(ClipResult).where(ClipResult.cache_key == cache_key)).all():
                stale.result = raw
                session.add(stale)
        row = ClipResult(
            scan_id=scan_id,
            path=path,
            sha256=sha256,
            cache_key=cache_key,
            duration_s=duration_s,
            exposure=exposure,
            error=error,
            result=raw,
        )
        session.add(row)
        session.flush()
        for f in findings:
            session.add(
                Finding(
                    clip_id=int(row.id or 0),
                    layer=f.layer,
                    holder_id=f.holder,
                    work_id=f.work,
                    ai_training=f.ai_training,
                    confidence=float(f.confidence),
                    segments=f.segments,
                    evidence={"items": f.evidence},
                    modality=f.modality,
                )
            )


def end_scan(registry: Registry, scan_id: str, done: int, errors: int) -> None:
    """Mark the scan done with its counts."""
    with registry.write() as session:
        row = session.get(Scan, scan_id)
        if row is not None:
            row.status, row.clips_done, row.clips_error = "done", done, errors
            row.finished_at = datetime.now(UTC)
            session.add(row)


def stored_result(registry: Registry, cache_key: str) -> dict[str, Any] | None:
    """A stored raw result of the same clip content, references and engine (``cache_key``), or None."""
    with registry.session() as session:
        row = session.exec(select(ClipResult.result).where(ClipResult.cache_key == cache_key).limit(1)).first()
    return dict(row) if row is not None else None
