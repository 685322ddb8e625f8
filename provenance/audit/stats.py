"""What a registry holds, what matching against it costs in memory, and how much of each reference other works
share: ``provenance registry stats``."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from provenance.audit.indexdir import ensure_index, open_index_dir
from provenance.audit.references import FOOTAGE_ALGORITHM, load_index, load_infos, match_key
from provenance.engine import FINGERPRINT_VERSION, EngineParams
from provenance.engine.audio import AUDIO_ALGORITHM, AUDIO_VERSION
from provenance.engine.generic import NOTABLE_SHARE, GenericShare, generic_shares
from provenance.engine.paging import memory_budget, reads_at_random
from provenance.engine.store import read_generic
from rightsdb import Registry
from rightsdb.references import registry_stats

__all__ = ["generic_facts", "registry_facts"]


def registry_facts(registry: Registry, params: EngineParams, *, measure_index: bool = False) -> dict[str, Any]:
    """The registry's counts (holders, works by layer, references by kind with hours of footage, stored
    fingerprints of this engine's footage and audio versions and their bytes, those of other versions (stale),
    the database file's size for SQLite) and, with ``measure_index``, the reference index built as a scan's
    worker builds it: the time it took and the bytes it holds by part, which every worker process of a scan
    holds once; with an index directory, its size, what each worker holds of its own, and whether it is paged in at
    random (:mod:`provenance.engine.paging`: larger than a quarter of the memory this process may use)."""
    facts = registry_stats(registry, {FOOTAGE_ALGORITHM: FINGERPRINT_VERSION, AUDIO_ALGORITHM: AUDIO_VERSION})
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
            size, budget = sum(f.stat().st_size for f in directory.iterdir()), memory_budget()
            facts["index_on_disk"] = {
                "path": str(directory),
                "bytes": size,
                "ready_s": round(ready, 3),
                "open_s": round(opened_s, 3),
                # what each worker holds of its own (the rest is mapped; its templates are a bounded cache apart)
                "private_bytes": opened.private_bytes(),
                # the memory this process may use, and whether the index is paged in at random beside it
                "memory_budget_bytes": budget,
                "read_at_random": reads_at_random(size, budget),
            }
    return facts


def generic_facts(registry: Registry, params: EngineParams, directory: Path | None = None) -> dict[str, Any]:
    """How much of each reference other works share (:mod:`provenance.engine.generic`), as measured when the
    registry's index directory was written (``directory``, else the one :func:`ensure_index` makes ready), or
    measured now on the index built in memory (a registry in memory, or a directory written before shares were
    stored): a summary (references judged, their frames or features, those shared, the references with a share of
    :data:`~provenance.engine.generic.NOTABLE_SHARE` or more) per kind, and every reference's share (by work and
    path), the largest first."""
    infos = load_infos(registry)
    if directory is None:
        directory = ensure_index(registry, params, match_key(registry, params), infos)
    shares = read_generic(directory) if directory is not None else None
    if shares is None:
        index = open_index_dir(directory, params) if directory is not None else load_index(registry, params, infos)[0]
        shares = generic_shares(index)
    rows = [_share_row(g) for g in sorted(shares, key=lambda g: (-g.share, g.key))]
    summary = {}
    for kind in ("footage", "asset"):
        of_kind = [g for g in shares if g.kind == kind]
        judged, shared = sum(g.judged for g in of_kind), sum(g.shared for g in of_kind)
        summary[kind] = {
            "references": len(of_kind),
            "judged": judged,
            "shared": shared,
            "share": round(shared / judged, 4) if judged else 0.0,
            "notable": sum(g.share >= NOTABLE_SHARE for g in of_kind),
        }
    return {"notable_share": NOTABLE_SHARE, "summary": summary, "references": rows}


def _share_row(share: GenericShare) -> dict[str, Any]:
    work, _, path = share.key.partition("::")  # ref_key: work::path
    return {"work": work, "path": path, **share.as_dict()}
