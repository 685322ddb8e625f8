"""What a registry holds and what matching against it costs in memory: ``provenance registry stats``."""

from __future__ import annotations

import os
import time
from typing import Any

from provenance.audit.indexdir import ensure_index, open_index_dir
from provenance.audit.references import load_index, match_key
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
        index, infos = load_index(registry, params)
        parts = index.memory()
        facts["index"] = {
            "build_s": round(time.perf_counter() - t0, 3),
            "bytes": parts,
            "total_bytes": sum(parts.values()),
            "footage_references": index.footage_count,
            "assets": index.asset_count,
        }
        t0 = time.perf_counter()
        directory = ensure_index(registry, params, match_key(registry, params), infos)
        if directory is not None:
            ready = time.perf_counter() - t0
            t0 = time.perf_counter()
            opened = open_index_dir(directory, params)
            opened_s = time.perf_counter() - t0
            facts["index_on_disk"] = {
                "path": str(directory),
                "bytes": sum(f.stat().st_size for f in directory.iterdir()),
                "ready_s": round(ready, 3),
                "open_s": round(opened_s, 3),
                # what each worker holds of its own (the rest is mapped): no more than the templates it made
                "private_bytes": opened.private_bytes(),
            }
    return facts
