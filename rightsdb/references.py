"""What a reference index is built from: every reference with its work and holder, and the fingerprints stored
for the references' contents (computed once per file content, algorithm and version)."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from .models import Fingerprint, Holder, Reference, Work
from .store import Registry

__all__ = ["PrintBlobs", "fingerprinted", "reference_rows", "save_fingerprint", "stored_fingerprints"]

PrintBlobs = tuple[bytes, bytes, bytes]
"""A stored fingerprint's ``(timestamps, data, quality)`` blobs (quality empty when none was stored)."""


def reference_rows(registry: Registry) -> list[tuple[Reference, Work, Holder]]:
    """Every reference with its work and the work's holder, in reference id order (the index's order)."""
    with registry.session() as session:
        rows = session.exec(
            select(Reference, Work, Holder)
            .join(Work, col(Reference.work_id) == col(Work.id))
            .join(Holder, col(Work.holder_id) == col(Holder.id))
            .order_by(col(Reference.id))
        ).all()
    return [(ref, work, holder) for ref, work, holder in rows]


def fingerprinted(registry: Registry, algorithm: str, version: str) -> set[str]:
    """The contents (sha256) that have a stored fingerprint of ``algorithm`` at ``version``."""
    with registry.session() as session:
        return set(
            session.exec(
                select(Fingerprint.sha256).where(Fingerprint.algorithm == algorithm, Fingerprint.version == version)
            ).all()
        )


def save_fingerprint(
    registry: Registry, sha256: str, algorithm: str, version: str, params: dict[str, Any], count: int, blobs: PrintBlobs
) -> None:
    """Store a content's fingerprint, in its own transaction; one already stored (another process was quicker)
    is kept."""
    timestamps, data, quality = blobs
    with registry.write() as session:
        exists = session.exec(
            select(Fingerprint).where(
                Fingerprint.sha256 == sha256, Fingerprint.algorithm == algorithm, Fingerprint.version == version
            )
        ).first()
        if exists is None:
            session.add(
                Fingerprint(
                    sha256=sha256,
                    algorithm=algorithm,
                    version=version,
                    params=params,
                    count=count,
                    timestamps=timestamps,
                    data=data,
                    quality=quality,
                )
            )


def stored_fingerprints(registry: Registry, algorithm: str, version: str) -> dict[str, PrintBlobs]:
    """Every stored fingerprint of ``algorithm`` at ``version``, by content."""
    with registry.session() as session:
        rows = session.exec(
            select(Fingerprint).where(Fingerprint.algorithm == algorithm, Fingerprint.version == version)
        ).all()
        return {fp.sha256: (fp.timestamps, fp.data, fp.quality or b"") for fp in rows}
