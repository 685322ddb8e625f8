"""The registry's tables (SQLModel).

Identity: holders and works are keyed by the manifest's string ids; a reference
by (work, manifest-relative path). Fingerprints are content-addressed by the
reference file's sha256 plus the algorithm's name and version, so moving or
re-importing a file never recomputes them, and a new algorithm version is
re-indexed on purpose (STYLE.md item 5).

Timestamps (``created_at``/``updated_at``) change only when a row's content
changes, so re-importing the same manifest leaves the database identical.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _timestamp(nullable: bool = False) -> Any:
    """A timezone-aware timestamp column (UTC), defaulting to now unless nullable."""
    column = Column(DateTime(timezone=True), nullable=nullable)
    if nullable:
        return Field(default=None, sa_column=column)
    return Field(default_factory=utcnow, sa_column=column)


class HolderKind(StrEnum):
    publisher = "publisher"
    streamer = "streamer"
    ugc_creator = "ugc_creator"
    label = "label"  # a record label or music publisher (migration 0006)
    other = "other"


class Layer(StrEnum):
    game = "game"
    stream = "stream"
    ugc = "ugc"
    music = "music"  # a song or score that is not the game's own soundtrack (migration 0006)
    other = "other"


class AiTraining(StrEnum):
    allow = "allow"
    deny = "deny"
    conditional = "conditional"
    unknown = "unknown"


class ReferenceKind(StrEnum):
    footage = "footage"
    asset = "asset"
    audio = "audio"  # a soundtrack track, a song, a VOD's audio track (migration 0006)


class MediaKind(StrEnum):
    video = "video"
    image = "image"
    audio = "audio"  # a file with sound and no picture (migration 0006)


def _enum_check(column: str, enum: type[StrEnum], name: str) -> CheckConstraint:
    values = ", ".join(f"'{v.value}'" for v in enum)
    return CheckConstraint(f"{column} IN ({values})", name=name)


class Holder(SQLModel, table=True):
    __tablename__ = "holders"
    __table_args__ = (_enum_check("kind", HolderKind, "ck_holders_kind"),)

    id: str = Field(sa_column=Column(String(128), primary_key=True))
    name: str = Field(sa_column=Column(String(512), nullable=False))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class Work(SQLModel, table=True):
    __tablename__ = "works"
    __table_args__ = (
        _enum_check("layer", Layer, "ck_works_layer"),
        _enum_check("ai_training", AiTraining, "ck_works_ai_training"),
        Index("ix_works_holder_id", "holder_id"),
    )

    id: str = Field(sa_column=Column(String(128), primary_key=True))
    title: str = Field(sa_column=Column(String(512), nullable=False))
    holder_id: str = Field(sa_column=Column(String(128), ForeignKey("holders.id", ondelete="RESTRICT"), nullable=False))
    layer: str = Field(sa_column=Column(String(16), nullable=False))
    ai_training: str = Field(sa_column=Column(String(16), nullable=False))
    license: str | None = Field(default=None, sa_column=Column(String(2048), nullable=True))
    territories: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    valid_from: date | None = None
    valid_until: date | None = None
    terms_source: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    terms_url: str | None = Field(default=None, sa_column=Column(String(2048), nullable=True))
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class Reference(SQLModel, table=True):
    __tablename__ = "work_references"
    __table_args__ = (
        UniqueConstraint("work_id", "path", name="uq_work_references_work_path"),
        _enum_check("kind", ReferenceKind, "ck_work_references_kind"),
        _enum_check("media_kind", MediaKind, "ck_work_references_media_kind"),
        Index("ix_work_references_sha256", "sha256"),
    )

    id: int | None = Field(default=None, primary_key=True)
    work_id: str = Field(sa_column=Column(String(128), ForeignKey("works.id", ondelete="CASCADE"), nullable=False))
    path: str = Field(sa_column=Column(String(1024), nullable=False))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    sha256: str = Field(sa_column=Column(String(64), nullable=False))
    size_bytes: int
    media_kind: str = Field(sa_column=Column(String(16), nullable=False))
    width: int
    height: int
    duration_s: float
    fps: float
    frame_count: int
    location: str = Field(sa_column=Column(String(4096), nullable=False))
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()
    # migration 0005: the rights pack (its manifest digest) a reference came from; None for a file reference
    pack_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))


class Fingerprint(SQLModel, table=True):
    """Fingerprints of one reference file by one algorithm: per-frame timestamps and packed hashes.

    A payload larger than one chunk (``rightsdb.references.PRINT_CHUNK_BYTES``) keeps its first chunk in ``data``
    and the rest in ``chunks`` rows of :class:`FingerprintChunk` (migration 0007): no database stores a value of
    any size (PostgreSQL refused a 600 MB bytea, SQLite a 1.1 GB blob, and an hour of reference footage prints
    ~0.4 GB). Rows written before 0007 have ``chunks`` 0: ``data`` is the whole payload.
    """

    __tablename__ = "fingerprints"
    __table_args__ = (UniqueConstraint("sha256", "algorithm", "version", name="uq_fingerprints_content_algo"),)

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(sa_column=Column(String(64), nullable=False))
    algorithm: str = Field(sa_column=Column(String(64), nullable=False))
    version: str = Field(sa_column=Column(String(32), nullable=False))
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    count: int
    timestamps: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # float32 little-endian seconds
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # algorithm-specific packed payload
    quality: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))  # uint8 per frame
    created_at: datetime = _timestamp()
    # migration 0007: how many FingerprintChunk rows continue `data`
    chunks: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))


class FingerprintChunk(SQLModel, table=True):
    """The ``seq``-th continuation (from 1) of a fingerprint's ``data``: a stored payload is ``data`` followed
    by its chunks in ``seq`` order."""

    __tablename__ = "fingerprint_chunks"
    __table_args__ = (PrimaryKeyConstraint("fingerprint_id", "seq", name="pk_fingerprint_chunks"),)

    fingerprint_id: int = Field(
        sa_column=Column(Integer, ForeignKey("fingerprints.id", ondelete="CASCADE"), nullable=False)
    )
    seq: int = Field(sa_column=Column(Integer, nullable=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Scan(SQLModel, table=True):
    __tablename__ = "scans"

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    dataset: str = Field(sa_column=Column(String(4096), nullable=False))
    registry_digest: str = Field(sa_column=Column(String(64), nullable=False))
    engine: str = Field(sa_column=Column(String(128), nullable=False))
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="running", sa_column=Column(String(16), nullable=False))
    clips_total: int = 0
    clips_done: int = 0
    clips_error: int = 0
    started_at: datetime = _timestamp()
    finished_at: datetime | None = _timestamp(nullable=True)


class ClipResult(SQLModel, table=True):
    """One clip's result in one scan; ``cache_key`` (sha256 + registry digest + engine) makes scans resumable."""

    __tablename__ = "clip_results"
    __table_args__ = (
        UniqueConstraint("scan_id", "path", name="uq_clip_results_scan_path"),
        Index("ix_clip_results_cache_key", "cache_key"),
        Index("ix_clip_results_sha256", "sha256"),
    )

    id: int | None = Field(default=None, primary_key=True)
    scan_id: str = Field(sa_column=Column(String(64), ForeignKey("scans.id", ondelete="CASCADE"), nullable=False))
    path: str = Field(sa_column=Column(String(4096), nullable=False))
    sha256: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    cache_key: str | None = Field(default=None, sa_column=Column(String(256), nullable=True))
    duration_s: float | None = None
    exposure: str = Field(sa_column=Column(String(16), nullable=False))
    error: str | None = Field(default=None, sa_column=Column(String(4096), nullable=True))
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _timestamp()


class Finding(SQLModel, table=True):
    """One matched work (a layer) in one clip result. Holder and work ids are kept as text: the
    registry may change after the scan, the finding stays as it was found."""

    __tablename__ = "findings"
    __table_args__ = (
        Index("ix_findings_clip_id", "clip_id"),
        Index("ix_findings_holder_id", "holder_id"),
        Index("ix_findings_work_id", "work_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    clip_id: int = Field(sa_column=Column(ForeignKey("clip_results.id", ondelete="CASCADE"), nullable=False))
    layer: str = Field(sa_column=Column(String(16), nullable=False))
    holder_id: str = Field(sa_column=Column(String(128), nullable=False))
    work_id: str = Field(sa_column=Column(String(128), nullable=False))
    ai_training: str = Field(sa_column=Column(String(16), nullable=False))
    confidence: float
    segments: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # migration 0006: "audio" for a match in the clip's sound; null (older rows) and "video" for the picture
    modality: str | None = Field(default=None, sa_column=Column(String(8), nullable=True))


# ---------------------------------------------------------------------------------------------------------
# The HTTP service's tables (migration 0002): API keys, the history of policy changes, scan jobs.
# ---------------------------------------------------------------------------------------------------------


class ApiRole(StrEnum):
    admin = "admin"  # everything, including registry writes
    auditor = "auditor"  # scans, clip checks, reads
    holder = "holder"  # a rights holder: reads its own works and the findings on them


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"


class ApiKey(SQLModel, table=True):
    """An API key. Only the sha256 of its secret is stored; the key itself is shown once, when created."""

    __tablename__ = "api_keys"
    __table_args__ = (
        _enum_check("role", ApiRole, "ck_api_keys_role"),
        CheckConstraint("(role = 'holder') = (holder_id IS NOT NULL)", name="ck_api_keys_holder"),
    )

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    secret_sha256: str = Field(sa_column=Column(String(64), nullable=False))
    role: str = Field(sa_column=Column(String(16), nullable=False))
    holder_id: str | None = Field(
        default=None, sa_column=Column(String(128), ForeignKey("holders.id", ondelete="CASCADE"), nullable=True)
    )
    name: str | None = Field(default=None, sa_column=Column(String(256), nullable=True))
    created_at: datetime = _timestamp()
    revoked_at: datetime | None = _timestamp(nullable=True)


class PolicyChange(SQLModel, table=True):
    """Who changed a work's terms, when, from what to what (terms as in the manifest's ``policy``)."""

    __tablename__ = "policy_changes"
    __table_args__ = (Index("ix_policy_changes_work_id", "work_id"),)

    id: int | None = Field(default=None, primary_key=True)
    work_id: str = Field(sa_column=Column(String(128), nullable=False))  # kept when the work is deleted
    actor: str = Field(sa_column=Column(String(256), nullable=False))
    changed_at: datetime = _timestamp()
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ScanJob(SQLModel, table=True):
    """A dataset scan started through the service; its state lives here so it survives a restart."""

    __tablename__ = "scan_jobs"
    __table_args__ = (
        _enum_check("status", JobStatus, "ck_scan_jobs_status"),
        Index("ix_scan_jobs_status", "status"),
    )

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    dataset: str = Field(sa_column=Column(String(4096), nullable=False))
    options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="queued", sa_column=Column(String(16), nullable=False))
    phase: str | None = Field(default=None, sa_column=Column(String(512), nullable=True))
    clips_total: int = 0
    clips_done: int = 0
    clips_error: int = 0
    attempts: int = 0
    cancel_requested: bool = False
    scan_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    error: str | None = Field(default=None, sa_column=Column(String(4096), nullable=True))
    created_by: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    created_at: datetime = _timestamp()
    started_at: datetime | None = _timestamp(nullable=True)
    finished_at: datetime | None = _timestamp(nullable=True)
    report: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # migration 0003: the runner (one service process) holding a running job, until its lease expires
    lease_owner: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    lease_expires_at: datetime | None = _timestamp(nullable=True)


# ---------------------------------------------------------------------------------------------------------
# Reviews (migration 0004): auditors' decisions on findings, holders' disputes, generic reference stretches.
# ---------------------------------------------------------------------------------------------------------


class Decision(StrEnum):
    confirmed = "confirmed"  # the finding stands, a person checked it
    false_match = "false_match"  # the work is not in the clip: its layer no longer counts
    licensed = "licensed"  # the work is in the clip under a licence that allows training


class DisputeStatus(StrEnum):
    open = "open"
    resolved = "resolved"


class ReviewDecision(SQLModel, table=True):
    """A person's decision on one work in one clip content (sha256). Never updated: a later decision on the
    same clip and work supersedes it (the latest ``decided_at``, then ``id``, is in force) and the history
    stays listable. Clip and work are kept as text, as findings are."""

    __tablename__ = "review_decisions"
    __table_args__ = (
        _enum_check("decision", Decision, "ck_review_decisions_decision"),
        CheckConstraint("decision <> 'licensed' OR licence IS NOT NULL", name="ck_review_decisions_licence"),
        Index("ix_review_decisions_clip_work", "clip_sha256", "work_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    clip_sha256: str = Field(sa_column=Column(String(64), nullable=False))
    work_id: str = Field(sa_column=Column(String(128), nullable=False))
    decision: str = Field(sa_column=Column(String(16), nullable=False))
    note: str = Field(sa_column=Column(String(4096), nullable=False))
    licence: str | None = Field(default=None, sa_column=Column(String(512), nullable=True))
    actor: str = Field(sa_column=Column(String(256), nullable=False))
    decided_at: datetime = _timestamp()
    dispute_id: int | None = None  # the dispute this decision resolved


class GenericStretch(SQLModel, table=True):
    """A stretch of a reference (or a whole asset or video: no times) marked generic by a false-match decision:
    not matched from then on, while the reference's content is the one marked (``sha256``)."""

    __tablename__ = "generic_stretches"
    __table_args__ = (Index("ix_generic_stretches_work", "work_id"),)

    id: int | None = Field(default=None, primary_key=True)
    decision_id: int = Field(
        sa_column=Column(ForeignKey("review_decisions.id", ondelete="CASCADE"), nullable=False, unique=True)
    )
    work_id: str = Field(sa_column=Column(String(128), nullable=False))
    path: str = Field(sa_column=Column(String(1024), nullable=False))
    sha256: str = Field(sa_column=Column(String(64), nullable=False))
    ref_start: float | None = None
    ref_end: float | None = None


class Dispute(SQLModel, table=True):
    """A holder contesting a finding on one of its works in a clip, or claiming a clip the audit cleared."""

    __tablename__ = "disputes"
    __table_args__ = (
        _enum_check("status", DisputeStatus, "ck_disputes_status"),
        Index("ix_disputes_clip", "clip_sha256"),
        Index("ix_disputes_holder_status", "holder_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    clip_sha256: str = Field(sa_column=Column(String(64), nullable=False))
    work_id: str = Field(sa_column=Column(String(128), nullable=False))
    holder_id: str = Field(sa_column=Column(String(128), nullable=False))
    note: str = Field(sa_column=Column(String(4096), nullable=False))
    actor: str = Field(sa_column=Column(String(256), nullable=False))
    opened_at: datetime = _timestamp()
    status: str = Field(default="open", sa_column=Column(String(16), nullable=False))
    resolved_at: datetime | None = _timestamp(nullable=True)
    decision_id: int | None = None


# Rights packs (migration 0005): a holder's works, terms and fingerprints, imported without footage.
# ---------------------------------------------------------------------------------------------------------


class Pack(SQLModel, table=True):
    """A rights pack imported into the registry, by its manifest's digest. Its references are the
    ``work_references`` rows whose ``pack_id`` is this id; its fingerprints are stored as any others."""

    __tablename__ = "packs"
    __table_args__ = (Index("ix_packs_holder_id", "holder_id"),)

    id: str = Field(sa_column=Column(String(64), primary_key=True))  # sha256 of the pack's manifest
    holder_id: str = Field(sa_column=Column(String(128), nullable=False))
    format_version: int
    fingerprint_version: str = Field(sa_column=Column(String(32), nullable=False))
    made_at: datetime = _timestamp()
    imported_at: datetime = _timestamp()
    source: str = Field(sa_column=Column(String(1024), nullable=False))  # the file imported, as named
    signer: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))  # Ed25519 key, hex
    works: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class ReferenceThumbnail(SQLModel, table=True):
    """A small evidence picture of a reference's content (a rights pack's thumbnails: the pack holds no
    footage), by content and time in seconds (0 for an asset)."""

    __tablename__ = "reference_thumbnails"
    __table_args__ = (UniqueConstraint("sha256", "time_s", name="uq_reference_thumbnails_content_time"),)

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(sa_column=Column(String(64), nullable=False))
    time_s: float
    image: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # JPEG
