"""The registry's references ready for the engine: fingerprinted once per file content, described for the report,
and read into a reference index.

Reference fingerprints are cached in the registry, keyed by the file's sha256 and the engine's fingerprint
version, so they are computed once per file, whatever manifest or path names it.
"""

from __future__ import annotations

import hashlib
import io
import json
import mmap
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from provenance import ENGINE_NAME, __version__
from provenance.audit.packfile import ASSET_ALGORITHM, asset_array
from provenance.audit.sound import AuditIndex, audio_key, audio_payload, ensure_audio_prints
from provenance.engine import (
    ENGINE_VERSION,
    FINGERPRINT_VERSION,
    EngineParams,
    FootagePrint,
    ReferenceIndex,
    fingerprint_footage,
    load_asset,
)
from provenance.engine.assets import AssetDetector
from provenance.engine.assetstore import AssetSpill
from provenance.engine.audio import AudioPrint
from provenance.errors import EmptyRegistryError, ReferenceChangedError, ScanError
from provenance.report import RefInfo, Terms
from rightsdb import Registry, sha256_file
from rightsdb.packs import pack_references, stored_prints
from rightsdb.references import (
    each_stored_fingerprint,
    fingerprinted,
    reference_rows,
    save_fingerprint,
    stored_fingerprints,
)
from rightsdb.reviews import generic_stretches

__all__ = [
    "FOOTAGE_ALGORITHM",
    "IndexPayload",
    "Progress",
    "build_index",
    "check_pack_references",
    "engine_id",
    "ensure_fingerprints",
    "index_payload",
    "load_index",
    "load_infos",
    "match_key",
    "ref_key",
    "reference_assets",
    "require_references",
    "verified_asset",
    "without_generic",
]

FOOTAGE_ALGORITHM = "provenance-footage"

Progress = Callable[[str, int, int], None]  # (what, done, total)


def ref_key(work: str, path: str) -> str:
    """A reference's key in stored results: its work and manifest path (stable across re-imports)."""
    return f"{work}::{path}"


def engine_id() -> str:
    return f"{ENGINE_NAME}+{__version__}/engine-{ENGINE_VERSION}"


def ensure_fingerprints(
    registry: Registry,
    params: EngineParams,
    progress: Progress | None = None,
    workers: int = 1,
    contents: set[str] | None = None,
) -> int:
    """Fingerprint every footage reference that has no stored fingerprint of this engine version (only those of
    ``contents``, sha256s, when given), and the sound of every footage and audio reference without a stored audio
    print (``ensure_audio_prints``). A rights pack's references have no file: their fingerprints came with the
    pack (:func:`check_pack_references`).

    With ``workers`` above 1 (and more than one reference to do) the files are fingerprinted in as many spawned
    processes, one thread each; this process checks and stores them. Returns how many footage prints were
    computed. Each is committed on its own as it finishes, so an interrupted run keeps what it finished.
    """
    rows = [ref for ref, _, _ in reference_rows(registry) if contents is None or ref.sha256 in contents]
    check_pack_references(registry, rows)
    refs = [ref for ref in rows if ref.kind == "footage" and ref.pack_id is None]
    done = fingerprinted(registry, FOOTAGE_ALGORITHM, FINGERPRINT_VERSION)
    todo: dict[str, Any] = {}
    for ref in refs:
        if ref.sha256 not in done and ref.sha256 not in todo:
            todo[ref.sha256] = ref
    jobs = [(sha, str(ref.path), str(ref.work_id), Path(ref.location)) for sha, ref in todo.items()]
    jobs.sort(key=lambda j: j[1])
    for _, path, work, location in jobs:  # before any work: a missing file stops the scan at once
        if not location.is_file():
            raise ReferenceChangedError(_changed(work, path, location))
    for finished, (sha, path, payload) in enumerate(_fingerprinted(jobs, params, workers), 1):
        save_fingerprint(
            registry, sha, FOOTAGE_ALGORITHM, FINGERPRINT_VERSION, params.as_dict(), payload[0], payload[1]
        )
        if progress:
            progress(f"fingerprinted {path}", finished, len(jobs))
    ensure_audio_prints(registry)  # their sound too (fast: no progress of its own)
    if progress:
        progress("fingerprints ready", len(jobs), len(jobs))
    return len(jobs)


_Job = tuple[str, str, str, Path]  # (sha256, manifest path, work, file)


def _fingerprint_job(job: _Job, params: EngineParams) -> tuple[int, tuple[bytes, bytes, bytes]]:
    """One reference file, checked against its sha256 and fingerprinted: ``(frames, stored payload)``."""
    sha, path, work, location = job
    if sha256_file(location) != sha:
        raise ReferenceChangedError(_changed(work, path, location))
    fp = fingerprint_footage(location, params)
    return len(fp.timestamps), fp.to_payload()


def _worker_start(parent: int) -> None:
    from provenance.audit.workers import die_with_parent
    from provenance.engine import one_thread_per_process

    die_with_parent(parent)  # a scan killed with kill -9 leaves no fingerprinting process behind
    one_thread_per_process()


def _fingerprinted(
    jobs: list[_Job], params: EngineParams, workers: int
) -> Iterator[tuple[str, str, tuple[int, tuple[bytes, bytes, bytes]]]]:
    """``(sha256, path, (frames, payload))`` of each job, in this process or in ``workers`` spawned ones (in the
    order they finish)."""
    workers = min(workers, len(jobs))
    if workers <= 1:
        for job in jobs:
            yield job[0], job[1], _fingerprint_job(job, params)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = multiprocessing.get_context("spawn")  # no fork: decoders and OpenCV keep threads
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_start, initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(_fingerprint_job, job, params): job for job in jobs}
        try:
            for future in as_completed(futures):
                job = futures[future]
                yield job[0], job[1], future.result()
        finally:  # an error or a caller that stops early: drop what has not started
            pool.shutdown(wait=True, cancel_futures=True)


def _changed(work: str, path: str, location: Path | str) -> str:
    return (
        f"reference {path} of work {work}: file {location} is missing or has changed since import (sha256 "
        "differs); nothing was matched: restore the file, or re-import the manifest that lists it "
        "(provenance registry import MANIFEST) to register its new content"
    )


def require_references(registry: Registry) -> int:
    """How many references the registry holds; :class:`EmptyRegistryError` when none (a scan against it would
    find nothing and clear every clip: a forgotten ``--db`` opens an empty database)."""
    count = len(reference_rows(registry))
    if count == 0:
        raise EmptyRegistryError(
            f"{registry!r} holds no references, so no clip could be found holding a registered work; "
            "import a manifest first, or point to the registry's database"
        )
    return count


def verified_asset(info: RefInfo) -> Any:
    """An asset reference's image (RGBA), read once and checked against the sha256 imported:
    :class:`ReferenceChangedError` when the file is missing or its content changed (a replaced overlay would
    silently lose its layer)."""
    try:
        data = Path(info.location).read_bytes()
    except OSError:
        raise ReferenceChangedError(_changed(info.work, info.path, info.location)) from None
    if hashlib.sha256(data).hexdigest() != info.sha256:
        raise ReferenceChangedError(_changed(info.work, info.path, info.location))
    return load_asset(io.BytesIO(data))


def load_infos(registry: Registry) -> dict[str, RefInfo]:
    """What the report says of each reference (work, holder, layer, terms), by :func:`ref_key`."""
    infos: dict[str, RefInfo] = {}
    for ref, work, holder in reference_rows(registry):
        terms = Terms(
            work.ai_training,
            work.license,
            work.valid_from,
            work.valid_until,
            tuple(work.territories) if work.territories else None,
            work.terms_source,
            work.terms_url,
        )
        infos[ref_key(work.id, ref.path)] = RefInfo(
            int(ref.id or 0),
            ref.path,
            ref.kind,
            work.id,
            work.title,
            holder.id,
            holder.name,
            work.layer,
            terms,
            ref.sha256,
            ref.location,
        )
    return infos


IndexPayload = list[tuple[str, str, str, Any]]
"""What a :class:`ReferenceIndex` is built from, as plain data that pickles (the index holds OpenCV matchers,
which do not): ``(kind, key, layer, data)`` by work and path, ``data`` the stored footage print's
``(timestamps, data, quality)`` blobs or an asset's RGBA array (or its :class:`AssetFile`, read when the index is
built); ``kind`` ``audio`` (after them) the stored audio print's blobs of a reference with sound."""


def index_payload(
    registry: Registry, infos: dict[str, RefInfo] | None = None, only: set[str] | None = None, spill: Path | None = None
) -> IndexPayload:
    """Read everything the reference index is built from (stored footage prints, asset images) once.

    ``infos`` (from :func:`load_infos`) saves reading the references again when the caller has them; ``only``
    (keys as :func:`ref_key` makes them) reads these references alone (those added to an index already written),
    their prints and nothing else. With ``spill`` (an empty folder that outlives the payload), the footage prints are
    read one at a time into files there and given as views of them (:class:`PrintSpill`): not held in memory.
    """
    infos = load_infos(registry) if infos is None else infos
    if only is not None:
        infos = {key: info for key, info in infos.items() if key in only}
    shas = None if only is None else {info.sha256 for info in infos.values()}
    if spill is None:
        prints: dict[str, Any] = stored_fingerprints(registry, FOOTAGE_ALGORITHM, FINGERPRINT_VERSION, shas)
    else:
        keep = PrintSpill(spill)
        each = each_stored_fingerprint(registry, FOOTAGE_ALGORITHM, FINGERPRINT_VERSION, shas)
        prints = {sha: keep(blobs) for sha, blobs in each}
    packed = pack_references(registry)
    check_assets(registry, infos, packed)  # fail closed before anything is built (each file is checked again when read)
    assets = (
        reference_assets(registry, {k: i for k, i in infos.items() if i.reference_id in packed}, packed)
        if packed
        else {}
    )
    payload: IndexPayload = []
    for key, info in sorted(infos.items()):  # by work and path: the index is the same whatever the import order
        if info.kind == "footage":
            stored = prints.get(info.sha256)
            if stored is None:
                raise ScanError(f"reference {info.path} of work {info.work} has no fingerprint; run the scan again")
            payload.append(("footage", key, info.layer, stored))
        elif info.kind == "asset":
            payload.append(("asset", key, info.layer, assets[key] if key in assets else AssetFile(info)))
    sounds = [(key, info.kind, info.layer, info.sha256) for key, info in sorted(infos.items())]
    payload += audio_payload(registry, sounds, only is not None)
    return without_generic(payload, generic_stretches(registry))


class PrintSpill:
    """Stored prints kept in files of ``folder`` (one a print) instead of in memory, for an index that is being written:
    each print's blobs are written as they come from the database and given back as read-only views of the file,
    mapped (:meth:`__call__`). What the index is built from them views the same pages (a print's hashes and
    descriptors, :meth:`~provenance.engine.references.FootagePrint.from_payload`), which the page cache holds and
    may drop and read again: a write held every print of the registry in its heap (3.7 GB of its 9.9 GB peak at 10
    hours of reference). The folder must outlive the views (a file removed while mapped stays readable on POSIX)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def __call__(self, blobs: tuple[bytes, bytes, bytes]) -> tuple[memoryview, ...] | tuple[bytes, bytes, bytes]:
        sizes = [len(b) for b in blobs]
        if not sum(sizes):
            return blobs
        path = self.folder / f"print-{self.count}.bin"
        self.count += 1
        with path.open("wb") as f:
            for b in blobs:
                f.write(b)
        with path.open("rb") as f:
            view = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
        ends = np.cumsum(sizes).tolist()
        return tuple(view[e - n : e] for n, e in zip(sizes, ends, strict=True))


Stretches = list[tuple[str, str, str, float | None, float | None]]
"""Generic stretches as :func:`rightsdb.reviews.generic_stretches` gives them: ``(work, path, sha256, ref_start,
ref_end)``, no times for a whole reference."""


def without_generic(payload: IndexPayload, stretches: Stretches) -> IndexPayload:
    """``payload`` without what review marked generic (a false match on content every work of its kind shares):
    a whole reference is left out, a stretch of a footage reference loses its frames (hashes and local features)
    from ``ref_start`` to ``ref_end``; a footage reference with no frame left is left out."""
    if not stretches:
        return payload
    cut: dict[str, list[tuple[float, float] | None]] = {}
    for work, path, _sha, start, end in stretches:  # the sha256 was checked against the reference's content
        cut.setdefault(ref_key(work, path), []).append(None if start is None or end is None else (start, end))
    kept: IndexPayload = []
    for kind, key, layer, data in payload:
        spans = cut.get(key)
        if spans is None:
            kept.append((kind, key, layer, data))
        elif kind == "footage" and None not in spans:
            fp = FootagePrint.from_payload(*data)

            def inside(times: Any, spans: list[tuple[float, float] | None] = spans) -> Any:
                out = np.zeros(len(times), bool)
                for span in spans:
                    if span is not None:
                        out |= (times >= span[0]) & (times <= span[1])
                return ~out

            keep, keep_local = inside(fp.timestamps), inside(fp.local_times)
            if keep.any():
                trimmed = FootagePrint(
                    fp.timestamps[keep],
                    fp.hashes[keep],
                    fp.quality[keep],
                    fp.local_times[keep_local],
                    tuple(f for f, k in zip(fp.local_features, keep_local, strict=True) if k),
                    fp.duration_s,
                )
                kept.append((kind, key, layer, trimmed.to_payload()))
    return kept


# ---------------------------------------------------------------------------------------------------------
# references from rights packs (no file: what the engine needs came with the pack, checked by its checksums)
# ---------------------------------------------------------------------------------------------------------


def _pack_version_problem(path: str, work: str, pack: str) -> str:
    return (
        f"reference {path} of work {work} comes from rights pack {pack[:12]} whose fingerprints are not of this "
        f"engine's fingerprint version {FINGERPRINT_VERSION}; nothing was matched: ask the holder for a new pack "
        "(provenance registry pack) and import it (provenance registry import-pack)"
    )


def check_pack_references(registry: Registry, refs: list[Any]) -> None:
    """Every rights-pack reference among ``refs`` (reference rows) has what the engine needs stored at this
    fingerprint version (a footage print, an asset's pixels); :class:`ReferenceChangedError` otherwise (the pack
    was imported by an engine of another fingerprint version: there is no file to fingerprint again)."""
    packed = [ref for ref in refs if ref.pack_id is not None]
    if not packed:
        return
    prints = fingerprinted(registry, FOOTAGE_ALGORITHM, FINGERPRINT_VERSION)
    stills = fingerprinted(registry, ASSET_ALGORITHM, FINGERPRINT_VERSION)
    for ref in packed:
        if ref.sha256 not in (prints if ref.kind == "footage" else stills):
            raise ReferenceChangedError(_pack_version_problem(ref.path, ref.work_id, ref.pack_id))


def reference_assets(
    registry: Registry, infos: dict[str, RefInfo], packed: dict[int, str] | None = None
) -> dict[str, Any]:
    """Every asset reference's image (RGBA) by :func:`ref_key`: a file reference's read and checked by
    :func:`verified_asset`, a rights-pack reference's as the pack stored it (checked by the pack's checksums at
    import; :class:`ReferenceChangedError` when it is not there at this fingerprint version). ``packed``: the
    registry's :func:`~rightsdb.packs.pack_references` when the caller has them."""
    packed = pack_references(registry) if packed is None else packed
    wanted = {info.sha256 for info in infos.values() if info.kind == "asset" and info.reference_id in packed}
    stored = stored_prints(registry, wanted, ASSET_ALGORITHM, FINGERPRINT_VERSION) if wanted else {}
    out: dict[str, Any] = {}
    for key, info in infos.items():
        if info.kind != "asset":
            continue
        if info.reference_id not in packed:
            out[key] = verified_asset(info)
            continue
        found = stored.get(info.sha256)
        if found is None:
            raise ReferenceChangedError(_pack_version_problem(info.path, info.work, packed[info.reference_id]))
        out[key] = asset_array(found.blobs[1], f"reference {info.path} of work {info.work}")
    return out


def check_assets(registry: Registry, infos: dict[str, RefInfo], packed: dict[int, str] | None = None) -> None:
    """Refuse what :func:`reference_assets` refuses (:class:`ReferenceChangedError`) without reading the assets'
    pictures: a file reference's content must have the sha256 imported (hashed in chunks, one file at a time; a
    missing file, or one that is not a regular file, has changed), a rights-pack reference's picture must be
    stored at this fingerprint version. What a scan's driver checks before its workers match with the index
    (which holds the pictures): reading them all into memory took ~0.5 MB a registered overlay in the driver.
    ``packed`` as for :func:`reference_assets`."""
    packed = pack_references(registry) if packed is None else packed
    stored = fingerprinted(registry, ASSET_ALGORITHM, FINGERPRINT_VERSION) if packed else set()
    for info in infos.values():
        if info.kind != "asset":
            continue
        if info.reference_id in packed:
            if info.sha256 not in stored:
                raise ReferenceChangedError(_pack_version_problem(info.path, info.work, packed[info.reference_id]))
            continue
        try:
            same = sha256_file(info.location) == info.sha256
        except OSError:
            same = False
        if not same:
            raise ReferenceChangedError(_changed(info.work, info.path, info.location))


def build_index(params: EngineParams, payload: IndexPayload, spill: Path | None = None) -> ReferenceIndex:
    """The in-memory reference index from :func:`index_payload` (in any process: no database needed).

    With ``spill`` (an empty folder that outlives the index), the assets' pictures are kept in files there as each
    asset is prepared, not in memory (:class:`~provenance.engine.assetstore.AssetSpill`): an index that is built to
    be written holds one asset's pictures at a time, not all of them."""
    index = AuditIndex(params)
    spilled = AssetSpill(spill, index.asset_params) if spill is not None else None
    keys: list[tuple[str, str, str]] = []
    for kind, key, layer, data in payload:
        if kind == "footage":
            index.add_footage(key, layer, FootagePrint.from_payload(*data), group=key.split("::", 1)[0])
        elif kind == "audio":
            index.audio.add(key, layer, AudioPrint.from_payload(*data))
        elif spilled is None:
            index.add_asset(key, layer, asset_picture(data), group=key.split("::", 1)[0])  # its work (ref_key)
        else:
            spilled.add(AssetDetector(asset_picture(data), index.asset_params))
            keys.append((key, layer, key.split("::", 1)[0]))
    if spilled is not None:
        for (key, layer, group), detector in zip(keys, spilled.detectors(), strict=True):
            index.add_prepared(key, layer, detector, group)
    return index


@dataclass(frozen=True)
class AssetFile:
    """An asset reference's file in a payload, read when the index is built (:func:`verified_asset`: checked
    against the sha256 imported): a payload of thousands of assets does not hold their pictures."""

    info: RefInfo

    def load(self) -> npt.NDArray[np.uint8]:
        return np.asarray(verified_asset(self.info), np.uint8)


def asset_picture(data: Any) -> npt.NDArray[np.uint8]:
    """An asset's RGBA picture from its payload ``data``: the picture, or an :class:`AssetFile` read now."""
    return data.load() if isinstance(data, AssetFile) else np.asarray(data, np.uint8)


def load_index(
    registry: Registry, params: EngineParams, infos: dict[str, RefInfo] | None = None
) -> tuple[ReferenceIndex, dict[str, RefInfo]]:
    """Build the in-memory reference index of the whole registry (footage prints and assets).

    ``infos`` (from :func:`load_infos`) saves reading the references again when the caller has them.
    """
    infos = load_infos(registry) if infos is None else infos
    return build_index(params, index_payload(registry, infos)), infos


def match_key(registry: Registry, params: EngineParams) -> str:
    """What a clip's matches depend on: the engine, its settings and the registry's references (content and
    layer, in index order). Policies, titles and holder names are not in it: changing them re-renders stored
    results instead of matching again. A reference added or removed changes it (any clip may hold it)."""
    refs = [[ref.sha256, ref.kind, ref.path, work.id, work.layer] for ref, work, _ in reference_rows(registry)]
    payload: dict[str, Any] = {
        "engine": engine_id(),
        "params": params.as_dict(),
        "references": refs,
        "audio": audio_key(),
    }
    generic = generic_stretches(registry)
    if generic:  # stretches review marked generic are not matched: stored results are matched again
        payload["generic"] = [list(row) for row in generic]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
