"""What a reference index is built from: every reference with its work and holder, and the fingerprints stored
for the references' contents (computed once per file content, algorithm and version)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sqlmodel import Session, col, func, select

from ._errors import StoreError
from .models import Fingerprint, FingerprintChunk, Holder, Reference, Work
from .store import Registry

__all__ = [
    "PRINT_CHUNK_BYTES",
    "PrintBlobs",
    "add_fingerprint",
    "each_stored_fingerprint",
    "fingerprint_blobs",
    "fingerprinted",
    "reference_rows",
    "registry_stats",
    "save_fingerprint",
    "stored_fingerprints",
]

PrintBlobs = tuple[bytes, bytes, bytes]
"""A stored fingerprint's ``(timestamps, data, quality)`` blobs (quality empty when none was stored)."""

#: the largest part of a fingerprint's payload stored in one database value; the rest goes to further rows
#: (:class:`~rightsdb.models.FingerprintChunk`). PostgreSQL refused a 600 MB bytea here (sent as text, twice its
#: size: "invalid memory alloc request size"), SQLite a 1.1 GB blob ("string or blob too big"); an hour of
#: reference footage prints ~0.4 GB (local features, mostly). 64 MB keeps each statement's memory small.
PRINT_CHUNK_BYTES = 64 << 20


def add_fingerprint(session: Session, row: Fingerprint) -> None:
    """Add ``row`` (not yet added; its ``data`` the whole payload) to ``session``: the payload's first
    :data:`PRINT_CHUNK_BYTES` in the row, the rest in chunk rows after it."""
    data = row.data
    size = PRINT_CHUNK_BYTES
    starts = range(size, len(data), size)  # each chunk copied out when it is written, not all at once
    row.data = data[:size]
    row.chunks = len(starts)
    session.add(row)
    if not starts:
        return
    session.flush()  # the row's id, for its chunks
    assert row.id is not None
    for seq, at in enumerate(starts, start=1):
        chunk = FingerprintChunk(fingerprint_id=row.id, seq=seq, data=data[at : at + size])
        session.add(chunk)
        session.flush()
        session.expunge(chunk)  # written in the transaction: the session need not hold every chunk's copy


def fingerprint_blobs(session: Session, row: Fingerprint) -> PrintBlobs:
    """A stored fingerprint's blobs, its payload joined again from its chunks. Raises :class:`StoreError` when
    chunks are missing (the payload would be cut short: never read as a shorter print)."""
    data = row.data
    if row.chunks:
        parts = session.exec(
            select(FingerprintChunk.data)
            .where(FingerprintChunk.fingerprint_id == row.id)
            .order_by(col(FingerprintChunk.seq))
        ).all()
        if len(parts) != row.chunks:
            raise StoreError(
                f"fingerprint {row.sha256[:12]} ({row.algorithm} {row.version}): {len(parts)} of its {row.chunks} "
                "chunks are stored; recompute it (`provenance registry fingerprint`)"
            )
        data = b"".join([data, *parts])
    return row.timestamps, data, row.quality or b""


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
            add_fingerprint(
                session,
                Fingerprint(
                    sha256=sha256,
                    algorithm=algorithm,
                    version=version,
                    params=params,
                    count=count,
                    timestamps=timestamps,
                    data=data,
                    quality=quality,
                ),
            )


def stored_fingerprints(
    registry: Registry, algorithm: str, version: str, shas: set[str] | None = None
) -> dict[str, PrintBlobs]:
    """Every stored fingerprint of ``algorithm`` at ``version`` (of these contents only, when ``shas`` is given),
    by content."""
    with registry.session() as session:
        query = select(Fingerprint).where(Fingerprint.algorithm == algorithm, Fingerprint.version == version)
        if shas is not None:
            query = query.where(col(Fingerprint.sha256).in_(shas))
        rows = session.exec(query).all()
        return {fp.sha256: fingerprint_blobs(session, fp) for fp in rows}


def each_stored_fingerprint(
    registry: Registry, algorithm: str, version: str, shas: set[str] | None = None
) -> Iterator[tuple[str, PrintBlobs]]:
    """:func:`stored_fingerprints` one at a time, ``(content, blobs)``: each read from the database only once the
    caller has taken the one before (the registry's prints of hours of footage are gigabytes: a caller that puts each
    elsewhere, a file, never holds them all). The caller reads them all: the session stays open until then."""
    with registry.session() as session:
        query = select(Fingerprint.id, Fingerprint.sha256).where(
            Fingerprint.algorithm == algorithm, Fingerprint.version == version
        )
        if shas is not None:
            query = query.where(col(Fingerprint.sha256).in_(shas))
        for fid, sha in session.exec(query.order_by(col(Fingerprint.id))).all():
            row = session.get(Fingerprint, fid)
            if row is None:
                continue  # removed since the list was read
            blobs = fingerprint_blobs(session, row)
            session.expunge(row)  # not kept by the session
            yield sha, blobs


def registry_stats(registry: Registry, versions: Mapping[str, str]) -> dict[str, Any]:
    """What the registry holds, counted in the database: holders, works by layer, references by kind (footage
    hours, assets), and the stored fingerprints of each algorithm's current version (``versions``: algorithm ->
    version; their bytes, by algorithm). Fingerprints of another version, or of an algorithm not in ``versions``,
    are stale: recomputed, then unused."""
    with registry.session() as session:
        holders = session.exec(select(func.count()).select_from(Holder)).one()
        layers = dict(session.exec(select(Work.layer, func.count()).group_by(Work.layer)).all())
        refs = session.exec(
            select(Reference.kind, func.count(), func.coalesce(func.sum(Reference.duration_s), 0.0)).group_by(
                Reference.kind
            )
        ).all()
        sizes = func.length(Fingerprint.timestamps) + func.length(Fingerprint.data)
        prints = session.exec(
            select(Fingerprint.algorithm, Fingerprint.version, func.count(), func.sum(sizes)).group_by(
                col(Fingerprint.algorithm), col(Fingerprint.version)
            )
        ).all()
        chunk_rows = session.exec(
            select(Fingerprint.algorithm, Fingerprint.version, func.sum(func.length(FingerprintChunk.data)))
            .join(FingerprintChunk, col(FingerprintChunk.fingerprint_id) == col(Fingerprint.id))
            .group_by(col(Fingerprint.algorithm), col(Fingerprint.version))
        ).all()
    chunked = {(str(a), str(v)): int(n or 0) for a, v, n in chunk_rows}
    by_kind = {str(kind): {"count": int(n), "seconds": float(sec)} for kind, n, sec in refs}
    current: dict[str, dict[str, int]] = {}
    stale = 0
    for algorithm, at, n, size in prints:
        if versions.get(str(algorithm)) == at:
            size = int(size or 0) + chunked.get((str(algorithm), str(at)), 0)
            current[str(algorithm)] = {"count": int(n), "bytes": size}
        else:
            stale += int(n)
    return {
        "holders": int(holders),
        "works": {str(k): int(v) for k, v in sorted(layers.items())},
        "references": by_kind,
        "fingerprints": current,
        "stale_fingerprints": stale,
    }
