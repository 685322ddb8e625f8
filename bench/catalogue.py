"""A registry of many hours of reference footage made from a few minutes of real prints (for ``scale_bench``).

Fingerprinting a thousand hours of footage takes days on this machine; what the engine's cost depends on is the
prints, not the video. So a catalogue registry is the short corpus's registry (10 real references, 200 s) plus
``copies`` of each real footage reference's stored print, each copy a work of its own whose print is the real one
with every region hash and every local-feature descriptor XORed with a random 256-bit pattern of the copy's own:
distances inside a copy stay what they are in the real footage (shots, static scenes, near-duplicate frames: what
fills an index's buckets and lists unevenly), and a copy is as far from the real footage, and from every other
copy, as unrelated footage is. None of the copies is in any clip: every finding of one is a false positive.

The copies are registered as any reference is (``registry import`` of a manifest), each with a small file of its
own (distinct content, so a distinct sha256) and its stored prints put in place beforehand: the footage print
perturbed as above, and an empty sound print (a copy has no sound: the audio pass would otherwise find the real
soundtracks K times over). Every copy's work is of the ``game`` layer (a ``stream`` copy would be matched as a VOD
from its file, which is not video). The scan then builds and opens the index of the whole registry as it would for
real footage.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

HOLDER = "catalogue"
#: seconds of real footage in the short corpus's registry (10 references of 20 s)
SECONDS_PER_COPY = 200.0


def copies_for(hours: float, real_s: float) -> int:
    """Copies of the real references that make the registry at least ``hours`` long in all."""
    return max(0, math.ceil((hours * 3600.0 - real_s) / real_s))


def perturbed(blobs: tuple[bytes, bytes, bytes], rng: np.random.Generator) -> tuple[bytes, bytes, bytes]:
    """A footage print's stored blobs with its region hashes and descriptors XORed with one random pattern each."""
    from provenance.engine.features import Features
    from provenance.engine.references import FootagePrint

    fp = FootagePrint.from_payload(*blobs)
    hash_pattern = rng.integers(0, 256, 32, dtype=np.uint8)
    feature_pattern = rng.integers(0, 256, 32, dtype=np.uint8)
    feats = tuple(
        Features(f.keypoints, np.ascontiguousarray(f.descriptors ^ feature_pattern), f.size, f.mirror)
        for f in fp.local_features
    )
    out = FootagePrint(
        fp.timestamps,
        np.ascontiguousarray(np.asarray(fp.hashes) ^ hash_pattern),
        np.asarray(fp.quality),
        fp.local_times,
        feats,
        fp.duration_s,
    )
    return out.to_payload()


def _stub_video(path: Path) -> bytes:
    """A one-second 64 x 64 video (a reference's file must be video to be registered); each copy's file is it with
    a line of its own after the last box, which decoders ignore, so that every copy has its own sha256."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=1)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    data = path.read_bytes()
    path.unlink()
    return data


def build(url: str, manifest_dir: Path, copies: int, seed: int) -> dict[str, Any]:
    """Register ``copies`` perturbed copies of every real footage reference of the registry at ``url`` (already
    imported and fingerprinted), with their prints stored: what was added."""
    import yaml

    from provenance.audit.manifests import import_manifest_file
    from provenance.audit.references import FOOTAGE_ALGORITHM, load_infos
    from provenance.audit.sound import _empty
    from provenance.engine import FINGERPRINT_VERSION
    from provenance.engine.audio.params import AUDIO_ALGORITHM, AUDIO_VERSION, AudioParams
    from provenance.engine.params import EngineParams
    from rightsdb import Registry
    from rightsdb._files import sha256_file
    from rightsdb.references import save_fingerprint, stored_fingerprints

    reg = Registry(url, create=False)
    infos = load_infos(reg)
    real = sorted((key, info) for key, info in infos.items() if info.kind == "footage")
    prints = stored_fingerprints(reg, FOOTAGE_ALGORITHM, FINGERPRINT_VERSION)
    if manifest_dir.exists():
        shutil.rmtree(manifest_dir)
    (manifest_dir / "copies").mkdir(parents=True)
    stub = _stub_video(manifest_dir / "stub.mp4")
    works: list[dict[str, Any]] = []
    files: list[tuple[Path, str]] = []  # (file, sha256 of the real reference it copies)
    for k in range(copies):
        for j, (key, info) in enumerate(real):
            name = f"c{k:05d}-r{j:02d}-{key.split('::', 1)[0]}"
            rel = Path("copies") / f"{name}.mp4"
            (manifest_dir / rel).write_bytes(stub + f"catalogue copy {k} of {key}\n".encode())
            files.append((manifest_dir / rel, info.sha256))
            works.append(
                {
                    "id": name,
                    "title": f"Catalogue copy {k} of {key}",
                    "holder": HOLDER,
                    "layer": "game",
                    "policy": {"ai_training": "deny"},
                    "references": [{"path": str(rel), "kind": "footage"}],
                }
            )
    doc = {"holders": [{"id": HOLDER, "name": "Catalogue copies", "kind": "publisher"}], "works": works}
    manifest = manifest_dir / "manifest.yaml"
    manifest.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    # prints first (keyed by content), then the import: the references are never fingerprinted from their files
    rng = np.random.default_rng(seed)
    params = EngineParams().as_dict()
    empty, audio = _empty(), AudioParams().as_dict()
    for path, real_sha in files:
        sha = sha256_file(path)
        blobs = perturbed(prints[real_sha], rng)
        count = len(np.frombuffer(blobs[0], "<f4"))
        save_fingerprint(reg, sha, FOOTAGE_ALGORITHM, FINGERPRINT_VERSION, params, count, blobs)
        save_fingerprint(reg, sha, AUDIO_ALGORITHM, AUDIO_VERSION, audio, 0, empty.to_payload())
    import_manifest_file(reg, manifest)
    return {"copies": copies, "references": len(files), "real_references": len(real)}


def phase_engine(job: dict[str, Any]) -> None:
    """In this process: open the index directory the registry's scan uses (by memory map, as a scan's worker
    does), then time the engine on each clip; figures to ``job["result"]``."""
    import json
    import statistics
    import time

    from provenance.audit.indexdir import open_index_dir
    from provenance.engine import EngineParams, match_clip
    from provenance.engine.sampling import one_thread_per_process

    one_thread_per_process()
    t0, c0 = time.perf_counter(), time.process_time()
    index = open_index_dir(Path(job["index_dir"]), EngineParams())
    index.asset_shortlist()
    open_s, open_cpu = time.perf_counter() - t0, time.process_time() - c0
    per: dict[str, list[float]] = {"clean": [], "match": []}
    for path, kind in job["clips"]:
        c = time.process_time()
        match_clip(Path(path), index)
        per[kind].append(time.process_time() - c)
    result = {
        "open_s": open_s,
        "open_cpu_s": open_cpu,
        "footage": index.footage_count,
        "hash_rows": len(index.hash_table()[0]),
        "cpu_per_clip": {k: statistics.median(v) if v else None for k, v in per.items()},
        "cpu_mean_per_clip": {k: statistics.fmean(v) if v else None for k, v in per.items()},
    }
    Path(job["result"]).write_text(json.dumps(result), encoding="utf-8")


def _index_dir(db: Path) -> Path:
    """The one index directory beside a SQLite registry (``DB.index/KEY``)."""
    found = [d for d in (db.parent / f"{db.name}.index").iterdir() if d.is_dir() and not d.name.startswith(".")]
    if len(found) != 1:
        raise RuntimeError(f"{db}: expected one index directory, found {len(found)}")
    return found[0]


def _du_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def run(args: Any, work: Path, bench_file: Path) -> list[dict[str, Any]]:
    """``scale_bench --hours``: for each size, the registry made, its index written, the engine per clip (one
    process) and a scan (``--workers``) of the same clips; a row of figures per size."""
    import json
    import sys
    import time

    import speed_bench
    from audit_bench import copy_db, provenance_exe
    from proctree import measure

    exe = provenance_exe()
    root = Path(__file__).resolve().parents[1]
    ds = speed_bench.short_dataset(args, work)
    print(ds.describe, flush=True)
    base = work / "fingerprinted.db"
    url = f"sqlite:///{base}"
    speed_bench.step("registry import and reference fingerprints (the corpus's registry)")
    measure([exe, "--db", url, "registry", "import", str(ds.manifest)], work / "import.log", "registry import", root)
    measure([exe, "--db", url, "registry", "fingerprint", "-j", str(args.workers)], work / "fp.log", "prints", root)
    clips = [(str(ds.dataset / r), "clean" if not ds.truth[r] else "match") for r in ds.rels]
    rows: list[dict[str, Any]] = []
    for hours in sorted({float(x) for x in args.hours.split(",")}):
        n = copies_for(hours, SECONDS_PER_COPY)
        db = work / f"catalogue-{n}.db"
        copy_db(base, db)
        u = f"sqlite:///{db}"
        row: dict[str, Any] = {"hours": (n + 1) * SECONDS_PER_COPY / 3600, "copies": n}
        speed_bench.step(f"{row['hours']:.2f} h ({n} copies): registry made")
        t0 = time.perf_counter()
        row["made"] = build(u, work / f"catalogue-{n}", n, args.seed) | {"wall_s": time.perf_counter() - t0}
        speed_bench.step(f"{row['hours']:.2f} h: index written (registry fingerprint)")
        write = [exe, "--db", u, "registry", "fingerprint", "-j", str(args.workers)]
        r = measure(write, work / f"write-{n}.log", "index write", root)
        directory = _index_dir(db)
        row["index"] = {"wall_s": r.wall_s, "cpu_s": r.cpu_s, "peak_mb": r.peak_mb, "disk_mb": _du_mb(directory)}
        speed_bench.step(f"{row['hours']:.2f} h: engine per clip (one process, index opened)")
        job = {"index_dir": str(directory), "clips": clips, "result": str(work / f"engine-{n}.json")}
        jp = work / f"engine-{n}.job.json"
        jp.write_text(json.dumps(job), encoding="utf-8")
        cmd = [sys.executable, str(bench_file), "--phase", "engine", "--job", str(jp)]
        r = measure(cmd, work / f"engine-{n}.log", "engine phase", root)
        row["engine"] = json.loads(Path(job["result"]).read_text(encoding="utf-8")) | {"peak_mb": r.peak_mb}
        speed_bench.step(f"{row['hours']:.2f} h: provenance scan --workers {args.workers}")
        row["scan"], row["accuracy"], row["copy_findings"] = scan_row(exe, u, ds, work, str(n), args.workers, HOLDER)
        rows.append(row)
        _print_row(row, rows[0], len(ds.rels))
        if args.memory_limits:
            row["capped"] = capped_scans(args, exe, u, ds, work, str(n), row)
        if not args.keep:
            shutil.rmtree(work / f"catalogue-{n}", ignore_errors=True)
            shutil.rmtree(db.parent / f"{db.name}.index", ignore_errors=True)
            db.unlink()
    return rows


def capped_scans(args: Any, exe: str, url: str, ds: Any, work: Path, tag: str, row: dict[str, Any]) -> list[Any]:
    """The same scan again (``--rescan``), each time after the page cache is dropped: with no cap (the baseline),
    then with its memory capped at each of ``args.memory_limits`` MB, page cache included (:mod:`memcap`); wall,
    CPU, peak PSS and accuracy of each, printed with the wall's ratio to the uncapped cold scan's."""
    import memcap
    import speed_bench

    why = memcap.unavailable()
    if why is not None:
        print(f"     scans with capped memory skipped: {why}", flush=True)
        return []
    out: list[dict[str, Any]] = []
    for limit in [0, *sorted({int(x) for x in args.memory_limits.split(",")}, reverse=True)]:
        said = f"capped at {limit} MB" if limit else "not capped"
        speed_bench.step(f"{row['hours']:.2f} h: scan, cold, memory {said}")
        cold = memcap.drop_caches()
        if limit:
            with memcap.capped(limit) as prefix:
                scan, acc, found = scan_row(exe, url, ds, work, f"{tag}-cap{limit}", args.workers, HOLDER, prefix, True)
        else:
            scan, acc, found = scan_row(exe, url, ds, work, f"{tag}-cold", args.workers, HOLDER, (), True)
        out.append({"limit_mb": limit, "cold": cold, "scan": scan, "accuracy": acc, "copy_findings": found})
        base = out[0]["scan"]["wall_s"]
        print(
            f"     memory {said}{'' if cold else ' (page cache warm)'}: "
            f"scan {scan['wall_s']:.1f} s wall ({scan['wall_s'] / base:.2f}x), {scan['cpu_s']:.1f} s CPU, "
            f"{scan['peak_mb']:.0f} MB {scan['memory']} | P {acc['precision']:.3f} R {acc['recall']:.3f} clean "
            f"flagged {acc['clean_flagged']}, copy findings {found}",
            flush=True,
        )
    return out


def scan_row(
    exe: str,
    url: str,
    ds: Any,
    work: Path,
    tag: str,
    workers: int,
    holder: str,
    prefix: Sequence[str] = (),
    rescan: bool = False,
) -> tuple[dict[str, Any], dict[str, Any], int]:
    """``provenance scan --workers N`` of ``ds``'s clips against the registry at ``url`` (run after ``prefix``; every
    clip matched again with ``rescan``), measured: its wall, CPU and peak memory, its accuracy (``engine_bench``'s
    scoring) and how many findings name ``holder``."""
    import json

    import speed_bench
    from proctree import measure

    report = work / f"report-{tag}.json"
    cmd = [*prefix, exe, "--db", url, "scan", str(ds.dataset), "--out", str(report), "--workers", str(workers)]
    r = measure(cmd + ["--rescan"] * rescan, work / f"scan-{tag}.log", "scan", Path(__file__).resolve().parents[1])
    doc = json.loads(report.read_text(encoding="utf-8"))
    layers = {c["path"]: c["layers"] for c in doc["clips"]}
    acc = speed_bench.accuracy(ds, layers)
    found = sum(1 for ls in layers.values() for x in ls if x["holder"] == holder)
    scan = {"wall_s": r.wall_s, "cpu_s": r.cpu_s, "peak_mb": r.peak_mb, "memory": r.memory}
    return scan, {k: acc[k] for k in ("precision", "recall", "f1", "clean_flagged", "tp", "fp", "fn")}, found


def _print_row(row: dict[str, Any], first: dict[str, Any], clips: int) -> None:
    ix, en, sc, acc = row["index"], row["engine"], row["scan"], row["accuracy"]
    cpu, cpu0 = en["cpu_per_clip"], first["engine"]["cpu_per_clip"]

    def ratio(kind: str) -> str:
        return "-" if not cpu[kind] or not cpu0[kind] else f"{cpu[kind] / cpu0[kind]:.2f}x"

    print(
        f"  {row['hours']:8.2f} h ({en['footage']} footage references, {en['hash_rows']:,} hash rows; "
        f"{row['copies']} copies, {SECONDS_PER_COPY:.0f} s real): index written {ix['wall_s']:.1f} s wall "
        f"({ix['cpu_s']:.1f} s CPU, peak {ix['peak_mb']:.0f} MB), {ix['disk_mb']:.0f} MB on disk, opened "
        f"{en['open_s']:.2f} s | engine CPU a clip (median) clean {cpu['clean']:.3f} s ({ratio('clean')} of the "
        f"first size), matching {cpu['match']:.3f} s ({ratio('match')}), one process peak {en['peak_mb']:.0f} MB | "
        f"scan {sc['wall_s']:.1f} s wall, {sc['cpu_s']:.1f} s CPU, {sc['peak_mb']:.0f} MB {sc['memory']} "
        f"({1000 * sc['wall_s'] / clips:.0f} ms a clip) | P {acc['precision']:.3f} R {acc['recall']:.3f} clean "
        f"flagged {acc['clean_flagged']}, copy findings {row['copy_findings']}",
        flush=True,
    )
