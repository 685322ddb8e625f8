"""fingerprint chunks: payloads larger than a database value stored in parts

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fingerprints") as batch:
        batch.add_column(sa.Column("chunks", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "fingerprint_chunks",
        sa.Column("fingerprint_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["fingerprint_id"], ["fingerprints.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("fingerprint_id", "seq", name="pk_fingerprint_chunks"),
    )


def downgrade() -> None:
    # a payload stored in parts has no place in the older schema: refuse rather than leave truncated prints
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT COUNT(*) FROM fingerprint_chunks")).scalar():
        raise RuntimeError(
            "migration 0007: fingerprints stored in chunks cannot be downgraded; delete them first "
            "(they are recomputed from the reference files)"
        )
    op.drop_table("fingerprint_chunks")
    with op.batch_alter_table("fingerprints") as batch:
        batch.drop_column("chunks")
