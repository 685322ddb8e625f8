"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fingerprints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("timestamps", sa.LargeBinary(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("quality", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256", "algorithm", "version", name="uq_fingerprints_content_algo"),
    )
    op.create_table(
        "holders",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('publisher', 'streamer', 'ugc_creator', 'other')", name="ck_holders_kind"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "scans",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("dataset", sa.String(length=4096), nullable=False),
        sa.Column("registry_digest", sa.String(length=64), nullable=False),
        sa.Column("engine", sa.String(length=128), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("clips_total", sa.Integer(), nullable=False),
        sa.Column("clips_done", sa.Integer(), nullable=False),
        sa.Column("clips_error", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "clip_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scan_id", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=4096), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("cache_key", sa.String(length=256), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("exposure", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=4096), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["scan_id"], ["scans.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scan_id", "path", name="uq_clip_results_scan_path"),
    )
    with op.batch_alter_table("clip_results", schema=None) as batch_op:
        batch_op.create_index("ix_clip_results_cache_key", ["cache_key"], unique=False)
        batch_op.create_index("ix_clip_results_sha256", ["sha256"], unique=False)

    op.create_table(
        "works",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=False),
        sa.Column("holder_id", sa.String(length=128), nullable=False),
        sa.Column("layer", sa.String(length=16), nullable=False),
        sa.Column("ai_training", sa.String(length=16), nullable=False),
        sa.Column("license", sa.String(length=2048), nullable=True),
        sa.Column("territories", sa.JSON(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("terms_source", sa.String(length=64), nullable=True),
        sa.Column("terms_url", sa.String(length=2048), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("ai_training IN ('allow', 'deny', 'conditional', 'unknown')", name="ck_works_ai_training"),
        sa.CheckConstraint("layer IN ('game', 'stream', 'ugc', 'other')", name="ck_works_layer"),
        sa.ForeignKeyConstraint(["holder_id"], ["holders.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("works", schema=None) as batch_op:
        batch_op.create_index("ix_works_holder_id", ["holder_id"], unique=False)

    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clip_id", sa.Integer(), nullable=False),
        sa.Column("layer", sa.String(length=16), nullable=False),
        sa.Column("holder_id", sa.String(length=128), nullable=False),
        sa.Column("work_id", sa.String(length=128), nullable=False),
        sa.Column("ai_training", sa.String(length=16), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("segments", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["clip_id"], ["clip_results.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.create_index("ix_findings_clip_id", ["clip_id"], unique=False)
        batch_op.create_index("ix_findings_holder_id", ["holder_id"], unique=False)
        batch_op.create_index("ix_findings_work_id", ["work_id"], unique=False)

    op.create_table(
        "work_references",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_id", sa.String(length=128), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("media_kind", sa.String(length=16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("fps", sa.Float(), nullable=False),
        sa.Column("frame_count", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(length=4096), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('footage', 'asset')", name="ck_work_references_kind"),
        sa.CheckConstraint("media_kind IN ('video', 'image')", name="ck_work_references_media_kind"),
        sa.ForeignKeyConstraint(["work_id"], ["works.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("work_id", "path", name="uq_work_references_work_path"),
    )
    with op.batch_alter_table("work_references", schema=None) as batch_op:
        batch_op.create_index("ix_work_references_sha256", ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("work_references", schema=None) as batch_op:
        batch_op.drop_index("ix_work_references_sha256")

    op.drop_table("work_references")
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_index("ix_findings_work_id")
        batch_op.drop_index("ix_findings_holder_id")
        batch_op.drop_index("ix_findings_clip_id")

    op.drop_table("findings")
    with op.batch_alter_table("works", schema=None) as batch_op:
        batch_op.drop_index("ix_works_holder_id")

    op.drop_table("works")
    with op.batch_alter_table("clip_results", schema=None) as batch_op:
        batch_op.drop_index("ix_clip_results_sha256")
        batch_op.drop_index("ix_clip_results_cache_key")

    op.drop_table("clip_results")
    op.drop_table("scans")
    op.drop_table("holders")
    op.drop_table("fingerprints")
