"""What a registry holds and what matching against it costs in memory: ``provenance registry stats``."""

from __future__ import annotations

import os
import time
from typing import Any

from provenance.audit.references import load_index
from provenance.engine import FINGERPRINT_VERSION, EngineParams
from rightsdb import Registry
from rightsdb.references import registry_stats

__all__ = ["registry_facts"]


def registry_facts(registry: Registry, params: EngineParams, *, measure_index: bool = False) -> dict[str, Any]:
    """The registry's counts (holders, works by layer, references by kind with hours of footage, stored
    fingerprints of this engine's version and their bytes, the database file's size for SQLite) and, with
    ``measure_index``, the reference index built as a scan's worker builds it: the time it took and the bytes it
    holds by part, which every worker process of a scan holds once."""
    facts = registry_stats(registry, FINGERPRINT_VERSION)
    facts["fingerprint_version"] = FINGERPRINT_VERSION
    footage = facts["references"].get("footage", {"seconds": 0.0})
    facts["footage_hours"] = round(float(footage["seconds"]) / 3600.0, 3)
    path = registry.sqlite_path
    if path is not None and path.is_file():
        facts["database_bytes"] = sum(
            os.path.getsize(f"{path}{suffix}") for suffix in ("", "-wal") if os.path.exists(f"{path}{suffix}")
        )
    if measure_index:
        t0 = time.perf_counter()
        index, _ = load_index(registry, params)
        parts = index.memory()
        facts["index"] = {
            "build_s": round(time.perf_counter() - t0, 3),
            "bytes": parts,
            "total_bytes": sum(parts.values()),
            "footage_references": index.footage_count,
            "assets": index.asset_count,
        }
    return facts
