"""Settings from the environment (``PROVENANCE_*``), built once on demand, never at import."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rightsdb import DEFAULT_URL

#: The database when none is given: a SQLite file in the current folder (the registry's default).
DEFAULT_DB_URL = DEFAULT_URL


class Settings(BaseSettings):
    """Process-wide settings.

    - ``PROVENANCE_DB``: database URL (SQLite file by default, ``postgresql+psycopg://...`` for PostgreSQL;
      ``postgres://`` URLs are accepted and normalised).
    - ``PROVENANCE_DATA_ROOTS``: folders that server-side scans may read, separated like ``PATH``.
    - ``PROVENANCE_INDEX_DIR``: where registries' reference indexes are written (a folder per registry under it);
      by default beside a SQLite registry, else in the user's cache (:mod:`provenance.audit.indexdir`).
    """

    model_config = SettingsConfigDict(env_prefix="PROVENANCE_", extra="ignore")

    db: str = DEFAULT_DB_URL
    data_roots: str = Field(default="", description="folders server-side scans may read, os.pathsep-separated")
    index_dir: str = Field(default="", description="folder of the registries' reference indexes (default: beside)")

    @field_validator("db")
    @classmethod
    def _db_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("PROVENANCE_DB is empty")
        return value.strip()

    @property
    def data_root_paths(self) -> list[Path]:
        return [Path(p).expanduser().resolve() for p in self.data_roots.split(os.pathsep) if p.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
