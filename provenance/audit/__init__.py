"""The audit: the engine and the registry joined.

- :mod:`~provenance.audit.references`: the registry's references fingerprinted (once per file content),
  described for the report, read into a reference index;
- :mod:`~provenance.audit.clip`: one clip with the cache (its stored result of the same content, else the
  engine's matches), and its result stored;
- :mod:`~provenance.audit.scan`: the scan loop (resumable, incremental) and the report;
- :mod:`~provenance.audit.executors`: where clips are matched (this process, local processes, a Ray cluster);
- :mod:`~provenance.audit.checks`, :mod:`~provenance.audit.jobs`: the service's operations (clip checks,
  reference uploads, scan jobs under a lease);
- :mod:`~provenance.audit.manifests`, :mod:`~provenance.audit.pages`: manifest import with the media probe,
  the HTML page of a report with its thumbnails;
- :mod:`~provenance.audit.signals`: opt-out signals captured at collection time (recorded headers, per-domain
  robots.txt / ai.txt / tdmrep.json snapshots); :mod:`~provenance.audit.drift`: verdicts between two dates.
- :mod:`~provenance.audit.packs`, :mod:`~provenance.audit.packfile`: rights packs (a holder's works, terms and
  fingerprints without footage): built, checked, imported.
"""

from provenance.audit.checks import CHECKS_SCAN_ID, Checker, add_reference_file, stored_clip
from provenance.audit.clip import Lookup, MatchResult, error_text, match_source, raw_matches, store_clip, stored_lookup
from provenance.audit.drift import TermsOn, drift, terms_on
from provenance.audit.executors import (
    EXECUTORS,
    Executor,
    LocalExecutor,
    MatchJob,
    RayExecutor,
    default_workers,
    make_executor,
)
from provenance.audit.jobs import confine_dataset, run_scan_job
from provenance.audit.manifests import import_manifest_file, media_probe
from provenance.audit.packfile import read_pack, write_pack
from provenance.audit.packs import PackSummary, build_pack, import_pack_file
from provenance.audit.pages import PackThumbnailer, clip_locator, report_page
from provenance.audit.references import (
    FOOTAGE_ALGORITHM,
    IndexPayload,
    build_index,
    check_pack_references,
    engine_id,
    ensure_fingerprints,
    index_payload,
    load_index,
    load_infos,
    match_key,
    ref_key,
    reference_assets,
    require_references,
    verified_asset,
)
from provenance.audit.scan import ClipCallback, ClipDone, scan, write_report
from provenance.audit.signals import SNAPSHOT_MAX_BYTES, Snapshots, collected_signals

__all__ = [
    "CHECKS_SCAN_ID",
    "EXECUTORS",
    "FOOTAGE_ALGORITHM",
    "SNAPSHOT_MAX_BYTES",
    "Checker",
    "ClipCallback",
    "ClipDone",
    "Executor",
    "IndexPayload",
    "LocalExecutor",
    "Lookup",
    "MatchJob",
    "MatchResult",
    "PackSummary",
    "PackThumbnailer",
    "RayExecutor",
    "Snapshots",
    "TermsOn",
    "add_reference_file",
    "build_index",
    "build_pack",
    "check_pack_references",
    "clip_locator",
    "collected_signals",
    "confine_dataset",
    "default_workers",
    "drift",
    "engine_id",
    "ensure_fingerprints",
    "error_text",
    "import_manifest_file",
    "import_pack_file",
    "index_payload",
    "load_index",
    "load_infos",
    "make_executor",
    "match_key",
    "match_source",
    "media_probe",
    "raw_matches",
    "read_pack",
    "ref_key",
    "reference_assets",
    "report_page",
    "require_references",
    "run_scan_job",
    "scan",
    "store_clip",
    "stored_clip",
    "stored_lookup",
    "terms_on",
    "verified_asset",
    "write_pack",
    "write_report",
]
