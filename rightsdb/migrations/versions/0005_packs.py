"""rights packs: the packs imported, the pack a reference came from, evidence thumbnails of pack references

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "packs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("holder_id", sa.String(length=128), nullable=False),
        sa.Column("format_version", sa.Integer(), nullable=False),
        sa.Column("fingerprint_version", sa.String(length=32), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=1024), nullable=False),
        sa.Column("signer", sa.String(length=64), nullable=True),
        sa.Column("works", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_packs_holder_id", "packs", ["holder_id"], unique=False)
    op.create_table(
        "reference_thumbnails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("time_s", sa.Float(), nullable=False),
        sa.Column("image", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256", "time_s", name="uq_reference_thumbnails_content_time"),
    )
    with op.batch_alter_table("work_references") as batch:
        batch.add_column(sa.Column("pack_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("work_references") as batch:
        batch.drop_column("pack_id")
    op.drop_table("reference_thumbnails")
    op.drop_index("ix_packs_holder_id", table_name="packs")
    op.drop_table("packs")
