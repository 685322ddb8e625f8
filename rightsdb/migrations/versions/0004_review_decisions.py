"""review decisions, generic reference stretches, disputes

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clip_sha256", sa.String(length=64), nullable=False),
        sa.Column("work_id", sa.String(length=128), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=4096), nullable=False),
        sa.Column("licence", sa.String(length=512), nullable=True),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispute_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("decision IN ('confirmed', 'false_match', 'licensed')", name="ck_review_decisions_decision"),
        sa.CheckConstraint("decision <> 'licensed' OR licence IS NOT NULL", name="ck_review_decisions_licence"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_review_decisions_clip_work", "review_decisions", ["clip_sha256", "work_id"], unique=False)
    op.create_table(
        "generic_stretches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("work_id", sa.String(length=128), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("ref_start", sa.Float(), nullable=True),
        sa.Column("ref_end", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["decision_id"], ["review_decisions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("decision_id"),
    )
    op.create_index("ix_generic_stretches_work", "generic_stretches", ["work_id"], unique=False)
    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clip_sha256", sa.String(length=64), nullable=False),
        sa.Column("work_id", sa.String(length=128), nullable=False),
        sa.Column("holder_id", sa.String(length=128), nullable=False),
        sa.Column("note", sa.String(length=4096), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("status IN ('open', 'resolved')", name="ck_disputes_status"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_disputes_clip", "disputes", ["clip_sha256"], unique=False)
    op.create_index("ix_disputes_holder_status", "disputes", ["holder_id", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_disputes_holder_status", table_name="disputes")
    op.drop_index("ix_disputes_clip", table_name="disputes")
    op.drop_table("disputes")
    op.drop_index("ix_generic_stretches_work", table_name="generic_stretches")
    op.drop_table("generic_stretches")
    op.drop_index("ix_review_decisions_clip_work", table_name="review_decisions")
    op.drop_table("review_decisions")
