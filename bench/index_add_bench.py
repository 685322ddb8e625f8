"""Adding one reference to a registry's index on disk: written from the index already there and the new
reference's print alone (:func:`~provenance.audit.indexdir.extend_index_dir`) against the whole index built again
(:func:`~provenance.audit.indexdir.write_index_dir`), in the same run, and the matches of both compared.

    python bench/index_add_bench.py [--copies 48] [--json OUT]

Registry: :mod:`index_bench`'s (the bundled sample's footage references, real Freedoom, Atari and filmed footage,
repeated K times under distinct keys, plus its assets and sound; K=48 is 0.92 h of reference). The reference
added is a new work whose footage is the sample's Freedoom E1M1 playthrough (its print and its sound), keyed so
that a full build, which orders references by work, puts it among the others, not last.

It prints the time of each way of writing the new state's directory (the index in memory: the prints are not
read from a database here; a full build in :func:`~provenance.audit.indexdir.ensure_index` also reads every
stored print, the incremental one only the new reference's), the part of it that is the generic share (on the
extended index: counted from the old directory's stored counts and the added reference,
:func:`~provenance.engine.store.extended_generic`, as the incremental write does, against measured whole,
:func:`~provenance.engine.generic.measure_generic`, as every write did before; the two must agree), and, for
every sample clip, whether its matches
against the two directories (opened as scans open them) are the same: what a scan reports of them
(:func:`~provenance.audit.clip.raw_matches`) exactly, and the engine's findings but for the internal reference
ids and evidence indices, which differ by the order of the references. The load average is printed: other
processes share the cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from index_bench import SAMPLE, _payload  # noqa: E402

ADDED_WORK = "e1m1-copy"


def _added(payload: list[Any]) -> list[Any]:
    """The new work: the first copy of the sample's E1M1 footage (its print and its sound) under a new key."""
    out = []
    for kind, key, layer, data in payload:
        if "freedoom-e1m1" in key and (kind == "audio" or key.endswith("#0")):
            out.append((kind, f"{ADDED_WORK}::{key.split('::', 1)[1].split('#')[0]}", layer, data))
    return out


def _footage(items: list[Any]) -> list[Any]:
    return [i for i in items if i[0] != "audio"]


def _sound(items: list[Any]) -> list[Any]:
    return [i for i in items if i[0] == "audio"]


def _same_file(a: Path, b: Path) -> bool:
    """The same array (a ``.npy`` file; an extended directory's feature bank segments, ``NAME.K.npy``, joined), or
    the same bytes; the hash search by its answers (an extended directory searches it in parts): every
    ``hashes*`` file of ``a`` is the same when both directories' searches answer alike (:func:`_same_hash_search`)."""
    import numpy as np

    if a.name.startswith("hashes"):
        return _same_hash_search(a.parent, b.parent)
    if a.suffix == ".npy":
        parts = [b, *sorted(b.parent.glob(f"{b.stem}.[0-9]*.npy"), key=lambda p: int(p.suffixes[-2][1:]))]
        joined = np.concatenate([np.load(p, mmap_mode="r") for p in parts])
        return bool(np.array_equal(np.load(a, mmap_mode="r"), joined))
    return a.read_bytes() == b.read_bytes()


@functools.cache
def _same_hash_search(a: Path, b: Path) -> bool:
    """Whether the hash searches of two index directories give the same answers to 2,000 of ``a``'s rows (evenly
    spread) as queries."""
    import json

    import numpy as np

    from provenance.engine import EngineParams
    from provenance.engine.index import StaticHashIndex

    r = EngineParams().max_distance
    tables = []
    for d in (a, b):
        segments = int(json.loads((d / "index.json").read_text("utf-8")).get("hash_segments", 1))
        tables.append(StaticHashIndex.load(d, "hashes", 256, r, segments))
    codes = tables[0].codes()
    queries = codes[:: max(1, len(codes) // 2000)][:2000]
    answers = [t.search(queries, r) for t in tables]
    return all(np.array_equal(x, y) for x, y in zip(*answers, strict=True))


def _reported(matches: Any) -> Any:
    """What a scan reports of a clip's matches (:func:`~provenance.audit.clip.raw_matches`), in key order."""
    from provenance.audit.clip import raw_matches

    raw = raw_matches(matches)
    return sorted(str(f) for f in raw["footage"]), sorted(str(a) for a in raw["assets"])


def _normalised(matches: Any) -> str:
    """The engine's findings without its internal ids: a segment's reference position and its evidence indices
    (positions in the candidate arrays, which follow the references' order) are left out, their count kept."""
    footage = [
        dataclasses.replace(
            ref,
            segments=tuple(dataclasses.replace(s, reference=-1, evidence=(len(s.evidence),)) for s in ref.segments),
        )
        for ref in matches.footage
    ]
    footage.sort(key=lambda r: r.key)
    return repr(dataclasses.replace(matches, footage=footage, assets=sorted(matches.assets, key=lambda a: a.key)))


def _copies_manifest(folder: Path, k: int, works: str = "") -> Path:
    """Copy ``k`` of the sample's footage works (ids and holders suffixed ``-k``, no assets) in ``folder``, each file
    made another content by trailing bytes; ``works``: only the works whose id starts so."""
    import yaml

    data = yaml.safe_load((SAMPLE / "registry" / "manifest.yaml").read_text("utf-8"))
    out: dict[str, Any] = {"holders": [], "works": []}
    for holder in data["holders"]:
        out["holders"].append({**holder, "id": f"{holder['id']}-{k}"})
    for work in data["works"]:
        refs = [r for r in work["references"] if r["kind"] == "footage"]
        if not refs or not work["id"].startswith(works):
            continue
        for ref in refs:
            target = folder / ref["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((SAMPLE / "registry" / ref["path"]).read_bytes() + f"copy {k}".encode())
        out["works"].append({**work, "id": f"{work['id']}-{k}", "holder": f"{work['holder']}-{k}", "references": refs})
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump(out), "utf-8")
    return path


def _through_registry(work: Path, copies: int) -> dict[str, float]:
    """The same addition through a SQLite registry (:func:`~provenance.audit.indexdir.ensure_index`, as ``registry
    import``/``fingerprint`` and a scan call it): the sample and ``copies - 1`` copies of its footage works
    registered (each copy's print stored as its original's: fingerprinting them again would only cost time), then
    one more copy of the Freedoom work. Times the whole index written from the registry (every print read from
    the database) and the extension (the new print alone read)."""
    from provenance.audit.indexdir import ensure_index, index_root
    from provenance.audit.manifests import import_manifest_file
    from provenance.audit.references import FOOTAGE_ALGORITHM, ensure_fingerprints, load_infos, match_key
    from provenance.engine import FINGERPRINT_VERSION, EngineParams
    from rightsdb import Registry, sha256_file
    from rightsdb.references import reference_rows, save_fingerprint, stored_fingerprints

    params = EngineParams()
    registry = Registry(f"sqlite:///{work / 'registry.db'}")
    try:
        import_manifest_file(registry, SAMPLE / "registry" / "manifest.yaml")
        ensure_fingerprints(registry, params)
        prints = stored_fingerprints(registry, FOOTAGE_ALGORITHM, FINGERPRINT_VERSION)
        originals = {ref.path: ref.sha256 for ref, _, _ in reference_rows(registry) if ref.kind == "footage"}

        def register(folder: Path, k: int, works: str = "") -> None:
            folder.mkdir()
            manifest = _copies_manifest(folder, k, works)
            import_manifest_file(registry, manifest)
            for path, sha in originals.items():
                if (folder / path).is_file():
                    blobs = prints[sha]
                    count = len(blobs[0]) // 4
                    save_fingerprint(
                        registry,
                        sha256_file(folder / path),
                        FOOTAGE_ALGORITHM,
                        FINGERPRINT_VERSION,
                        params.as_dict(),
                        count,
                        blobs,
                    )
            ensure_fingerprints(registry, params)  # their sound (none: the sample's footage is silent)

        for k in range(1, copies):
            register(work / f"copy{k}", k)

        def timed() -> float:
            t0 = time.perf_counter()
            ensure_index(registry, params, match_key(registry, params), load_infos(registry))
            return time.perf_counter() - t0

        first = timed()
        register(work / "added", copies, "freedoom")
        incremental = timed()
        root = index_root(registry)
        assert root is not None
        for d in root.iterdir():
            if d.is_dir():
                shutil.rmtree(d)
        full = timed()
    finally:
        registry.dispose()
    return {"registry_first_s": first, "registry_incremental_s": incremental, "registry_full_s": full}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--copies", type=int, default=48, help="footage copies K of the registry")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--registry", action="store_true", help="also through a SQLite registry (ensure_index)")
    args = ap.parse_args(argv)
    from provenance.audit.indexdir import extend_index_dir, open_index_dir, write_index_dir
    from provenance.engine import EngineParams, one_thread_per_process
    from provenance.engine.generic import measure_generic
    from provenance.engine.match import match_clip
    from provenance.engine.store import extended_generic

    one_thread_per_process()
    params = EngineParams()
    print(f"load average at start: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="index-add-bench-"))
    try:
        payload = _payload(work, args.copies)
        added = _added(payload)
        frames = sum(len(data[0]) // 4 for kind, _, _, data in payload if kind == "footage")
        t0 = time.perf_counter()
        write_index_dir(params, payload, work / "before")
        before_s = time.perf_counter() - t0
        whole = sorted(payload + added, key=lambda item: (item[0] == "audio", item[1]))  # as index_payload orders
        t0 = time.perf_counter()
        write_index_dir(params, whole, work / "full")
        full_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        extend_index_dir(params, work / "before", added, work / "incremental")
        incremental_s = time.perf_counter() - t0
        # bytes the incremental write wrote: its files not hard-linked to the older directory's (which still exists)
        sizes = [(f.stat().st_size, f.stat().st_nlink) for f in (work / "incremental").iterdir()]
        written_mb = sum(n for n, links in sizes if links == 1) / 1e6
        total_mb = sum(n for n, _ in sizes) / 1e6
        # the same references in the extension's order (added last): every file but the vote search should be the same
        write_index_dir(params, _footage(payload) + _footage(added) + _sound(payload + added), work / "appended")
        files = sorted(f.name for f in (work / "appended").iterdir() if f.name != "index.json")
        same_files = [n for n in files if _same_file(work / "appended" / n, work / "incremental" / n)]
        ways = {n: open_index_dir(work / n, params) for n in ("full", "appended", "incremental")}
        old_count = open_index_dir(work / "before", params).footage_count
        t0 = time.perf_counter()
        counted = extended_generic(work / "before", ways["incremental"], old_count)
        generic_incremental_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        whole_generic = measure_generic(ways["incremental"])
        generic_full_s = time.perf_counter() - t0
        generic_same = counted.shares == whole_generic.shares
        clips = sorted(p for p in (SAMPLE / "dataset").rglob("*") if p.suffix in (".mp4", ".mkv", ".webm", ".mov"))
        same = {"reported": 0, "found": 0, "same_order_found": 0, "same_order_exact": 0, "full_orders_found": 0}
        found = 0
        differ = []
        for clip in clips:
            full, appended, incremental = (match_clip(clip, ways[n]) for n in ("full", "appended", "incremental"))
            same["reported"] += _reported(full) == _reported(incremental)
            same["found"] += _normalised(full) == _normalised(incremental)
            same["same_order_found"] += _normalised(appended) == _normalised(incremental)
            same["same_order_exact"] += repr(appended) == repr(incremental)
            same["full_orders_found"] += _normalised(full) == _normalised(appended)  # the full build's own stability
            if _normalised(full) != _normalised(incremental):
                differ.append(f"{clip.name}: {_reported(full)} / {_reported(incremental)}")
            found += any(r.key.startswith(ADDED_WORK) for r in incremental.footage)
        row = {
            "copies": args.copies,
            "reference_hours": round(frames / params.ref_fps / 3600, 2),
            "first_build_s": round(before_s, 2),
            "full_rebuild_s": round(full_s, 2),
            "incremental_s": round(incremental_s, 2),
            "incremental_written_mb": round(written_mb, 1),
            "incremental_total_mb": round(total_mb, 1),
            "generic_incremental_s": round(generic_incremental_s, 2),
            "generic_full_s": round(generic_full_s, 2),
            "generic_same": generic_same,
            "same_files": f"{len(same_files)}/{len(files)}",
            "clips": len(clips),
            **{f"identical_{n}": v for n, v in same.items()},
            "clips_finding_the_added_work": found,
        }
        print(
            f"K={args.copies} ({row['reference_hours']:.2f} h, {frames} frames; first build {before_s:.1f} s): adding "
            f"one reference: full rebuild {full_s:.2f} s, incremental {incremental_s:.2f} s "
            f"({full_s / incremental_s:.0f}x); the incremental one wrote {written_mb:.1f} MB of its {total_mb:.1f} MB "
            f"(the rest hard-linked to the older directory's files)\n"
            f"  of which the generic share: incremental {generic_incremental_s:.2f} s (measured whole: "
            f"{generic_full_s:.2f} s; the same shares: {generic_same})\n"
            f"  files identical to a full build in the same order: {len(same_files)}/{len(files)} "
            f"{sorted(set(files) - set(same_files)) or ''}\n"
            f"  clips identical to the full build (by key): {same['reported']}/{len(clips)} as reported, "
            f"{same['found']}/{len(clips)} as found (internal ids aside); to a full build in the same order: "
            f"{same['same_order_found']}/{len(clips)} as found, {same['same_order_exact']}/{len(clips)} exactly; "
            f"{found} clips find the added work\n"
            f"  the two full builds (by key, in the extension's order) agree on {same['full_orders_found']}/"
            f"{len(clips)} clips as found (the IVF vote search's centroids: a sample that moves with the rows' order)",
            flush=True,
        )
        for line in differ:
            print(f"  differs from the full build (full / incremental): {line}")
        if args.registry:
            (work / "registry").mkdir()
            times = _through_registry(work / "registry", args.copies)
            row.update({n: round(v, 2) for n, v in times.items()})
            print(
                f"  through a SQLite registry (ensure_index, prints read from the database): whole index "
                f"{times['registry_first_s']:.2f} s; one reference added: incremental "
                f"{times['registry_incremental_s']:.2f} s, full rebuild {times['registry_full_s']:.2f} s",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(row, indent=2))
    return 0 if same["same_order_found"] == len(clips) and generic_same else 1


if __name__ == "__main__":
    raise SystemExit(main())
