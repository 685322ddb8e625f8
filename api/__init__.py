"""api: the HTTP service (FastAPI). It parses, authorizes, calls ``provenance`` and ``rightsdb``, renders."""

from __future__ import annotations

from .app import create_app, missing_data_roots
from .config import ApiSettings, get_api_settings

__all__ = ["ApiSettings", "create_app", "get_api_settings", "missing_data_roots"]
