"""audio: holder kind label, layer music, reference kind and media kind audio, a finding's modality

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BEFORE = {
    ("holders", "ck_holders_kind", "kind"): ("publisher", "streamer", "ugc_creator", "other"),
    ("works", "ck_works_layer", "layer"): ("game", "stream", "ugc", "other"),
    ("work_references", "ck_work_references_kind", "kind"): ("footage", "asset"),
    ("work_references", "ck_work_references_media_kind", "media_kind"): ("video", "image"),
}
_ADDED = {
    "ck_holders_kind": ("label",),
    "ck_works_layer": ("music",),
    "ck_work_references_kind": ("audio",),
    "ck_work_references_media_kind": ("audio",),
}


def _check(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _recreate(upgrade: bool) -> None:
    bind = op.get_bind()
    for (table, name, column), values in _BEFORE.items():
        new = values + _ADDED[name] if upgrade else values
        if bind.dialect.name == "sqlite":
            _sqlite_check(table, name, column, _check(column, new))
            continue
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="check")
            batch.create_check_constraint(name, sa.text(_check(column, new)))


def _sqlite_check(table: str, name: str, column: str, new: str) -> None:
    """Change a CHECK constraint's text in SQLite's schema, in place: SQLite's documented way for a change that
    leaves the stored rows valid (recreating the table would trip the foreign keys pointing at it)."""
    bind = op.get_bind()
    sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).scalar()
    pattern = re.compile(rf"(CONSTRAINT\s+\"?{name}\"?\s+CHECK\s*\(\s*){column}\s+IN\s*\([^)]*\)", re.IGNORECASE)
    if not sql or not pattern.search(sql):
        raise RuntimeError(f"migration 0006: table {table} has no check constraint {name} on {column}")
    changed = pattern.sub(lambda m: m.group(1) + new, sql, count=1)
    version = int(bind.exec_driver_sql("PRAGMA schema_version").scalar() or 0)
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", (changed, table))
    bind.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    _recreate(upgrade=True)
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("modality", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("modality")
    _recreate(upgrade=False)
