"""The registry's reference index on disk: built once for each state of the registry, opened by memory map by
every process that matches clips (a scan's workers, Ray workers on the node, the service).

Where it lives (:func:`index_root`): ``PROVENANCE_INDEX_DIR`` when set (one folder per registry under it);
else beside a SQLite registry (``registry.db.index/``); else, for a server database, under the user's cache
(``$XDG_CACHE_HOME/provenance/index/``). A registry in memory has none: its index is built in the process.

Each state of the registry has its own directory, named by the scan's match key (:func:`match_key`: the engine,
its settings, every reference's content and layer, the generic stretches): a reference added, changed or
removed, or another engine, is another directory, so a directory never holds a stale index. It is written in a
temporary directory and renamed into place when complete (:mod:`provenance.engine.store` writes its manifest
last), under a lock, so that two scans starting together build it once and a crash leaves nothing half-written
that could be opened. Older directories are removed once a newer one is in place (a process still matching
against one keeps its mapped files until it exits). A directory that cannot be opened (damaged, another
format) is removed and built again.

A registry state that only adds references to one an older directory holds (its :data:`STATE`: the same engine,
versions and generic stretches, no reference removed or changed) is written from that directory and the added
references' prints alone (:func:`extend_index_dir`; the feature bank's frames, its vote search and the hash search
are linked from the older directory, the added references' written as segments of their own: adding one reference to
10 hours of footage took 3.6 s instead of 25.9, docs/scale-out.md "Registries of many hours"): adding one reference to
0.92 h of footage took 1.3-2.6 s instead of 35-38 (``bench/index_add_bench.py``, two runs at load 4-5, through a
SQLite registry too; 6.0-6.7 s
while the generic share was measured over the whole index on every write; most of a full build lays the feature
bank's vote rows out in their inverted lists, a cost that grows faster than the registry). The added references
come after the others (ids stay stable, where a full build orders references by work); the feature bank's IVF
search keeps the centroids it was built with until it is due to be built whole again
(:data:`~provenance.engine.bank.RETRAIN_FACTOR`), which it then is. The generic shares are counted incrementally
too (:func:`~provenance.engine.store.extended_generic`): from the old directory's ``generic.json`` and its stored
pairs of (judged frame, other work), with the added references' judged frames and whole-picture rows searched
against the hash table: the same shares as a whole measure, without searching every reference's frames again on
every addition.

The sound of the references is stored beside the visual index as the audio index's arrays (landmark postings
sorted by hash, where each hash starts, each reference's peaks), memory-mapped when the directory is opened.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import logging
import os
import shutil
import time
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from provenance.audit.clip import raw_matches
from provenance.audit.references import IndexPayload, build_index, engine_id, index_payload, load_index, load_infos
from provenance.audit.shown import SHOWN, Shown, read_shown, shown_file
from provenance.audit.sound import AuditIndex, audio_key
from provenance.engine import FINGERPRINT_VERSION, EngineParams, ReferenceIndex, match_clip
from provenance.engine.audio import AudioIndex
from provenance.engine.paging import advise_random
from provenance.engine.store import extend_index, extended_generic, open_index, read_manifest, save_index
from provenance.errors import IndexStoreError, ProvenanceError
from provenance.report import RefInfo
from provenance.settings import get_settings
from rightsdb import Registry, sha256_file
from rightsdb.reviews import generic_stretches

__all__ = [
    "AUDIO_MANIFEST",
    "STATE",
    "ensure_index",
    "extend_index_dir",
    "index_root",
    "open_index_dir",
    "reference_index",
    "registry_state",
    "vod_findings",
    "write_index_dir",
]

log = logging.getLogger(__name__)

#: The audio part's list of references, written before the visual index's manifest (which completes a directory).
AUDIO_MANIFEST = "audio.json"
#: What a directory was built from (:func:`registry_state`), beside it: an index for a state of the registry with
#: references added to it is written from it and the added references alone (:func:`extend_index_dir`).
STATE = "state.json"
#: Directories of older registry states kept beside the current one (a scan that started before a change still
#: opens its own in a worker that starts late).
_KEEP_OLDER = 1


def index_root(registry: Registry) -> Path | None:
    """The folder that holds the registry's index directories (None for a registry in memory)."""
    if registry.in_memory:
        return None
    configured = get_settings().index_dir
    if configured:
        return Path(configured).expanduser().resolve() / _url_digest(registry.url)
    if registry.sqlite_path is not None:
        return registry.sqlite_path.with_name(registry.sqlite_path.name + ".index")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "provenance" / "index" / _url_digest(registry.url)


def _url_digest(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def ensure_index(
    registry: Registry, params: EngineParams, key: str, infos: dict[str, RefInfo] | None = None
) -> Path | None:
    """The directory of the registry's index for match key ``key``, built now when there is none (None for a
    registry in memory): extended from an older directory when references were only added (module docstring),
    else built whole. What the index is built from is checked as for an index built in memory (missing
    fingerprints, asset files changed: :func:`~provenance.audit.references.index_payload` raises; of the added
    references alone when an older directory is extended: the others were checked when it was written)."""
    root = index_root(registry)
    if root is None:
        return None
    directory = root / key[:32]
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IndexStoreError(f"{root}: cannot create the reference index folder ({exc.strerror})") from None
    with _locked(root):
        if _current(directory, params):
            return directory
        infos = load_infos(registry) if infos is None else infos
        state = registry_state(registry, infos)
        shutil.rmtree(directory, ignore_errors=True)
        t0 = time.perf_counter()
        tmp = root / f".building-{key[:12]}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            if not _extended(registry, params, infos, state, tmp):
                with _spill(tmp) as spill:  # the prints read into files there, not held (PrintSpill)
                    payload = index_payload(registry, infos, spill=spill)  # checks every asset file's sha256 too
                    write_index_dir(params, payload, tmp, state, infos, spill)
            tmp.rename(directory)  # complete (manifest written last), then in place at once
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise IndexStoreError(f"{root}: cannot write the reference index ({exc})") from None
        log.info("reference index written to %s in %.1f s", directory, time.perf_counter() - t0)
        _prune(root, directory)
    return directory


def registry_state(registry: Registry, infos: dict[str, RefInfo]) -> dict[str, Any]:
    """What an index directory is built from, as it is stored beside it (:data:`STATE`): the engine and its
    fingerprint and audio versions, the generic stretches, and every reference's kind, layer and content by
    :func:`~provenance.audit.references.ref_key` (what tells a reference added from one removed or changed)."""
    state = {
        "engine": engine_id(),
        "fingerprint": FINGERPRINT_VERSION,
        "audio": audio_key(),
        "generic": [list(row) for row in generic_stretches(registry)],
        "references": {key: [info.kind, info.layer, info.sha256] for key, info in sorted(infos.items())},
    }
    out: dict[str, Any] = json.loads(json.dumps(state))  # as read back from the file
    return out


def _extended(registry: Registry, params: EngineParams, infos: dict[str, RefInfo], state: Any, tmp: Path) -> bool:
    """Whether the index of ``state`` was written into ``tmp`` from an older directory of the registry's that
    differs from it by added references only (their prints alone read from the registry:
    :func:`extend_index_dir`); False when there is none, or it cannot be extended (damaged, or due to be built
    whole again): the whole index is then built."""
    base = _base(tmp.parent, params, state)
    if base is None:
        return False
    t0 = time.perf_counter()
    added = set(state["references"]) - set(json.loads((base / STATE).read_text("utf-8"))["references"])
    try:
        extend_index_dir(params, base, index_payload(registry, infos, added), tmp, state, infos)
    except IndexStoreError as exc:
        log.info("%s; building the whole reference index", exc)
        shutil.rmtree(tmp, ignore_errors=True)
        return False
    log.info("reference index of %s extended by %d references in %.1f s", base, len(added), time.perf_counter() - t0)
    return True


def _base(root: Path, params: EngineParams, state: Any) -> Path | None:
    """The newest complete index directory under ``root`` whose registry state differs from ``state`` only by
    references that ``state`` adds (same engine, versions and generic stretches; no reference removed or changed)."""
    dirs = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")]
    for d in sorted(dirs, key=lambda d: d.stat().st_mtime, reverse=True):
        try:
            read_manifest(d, params)
            old = json.loads((d / STATE).read_text("utf-8"))
        except (IndexStoreError, OSError, ValueError):
            continue
        if not isinstance(old, dict) or any(
            old.get(k) != state[k] for k in ("engine", "fingerprint", "audio", "generic")
        ):
            continue
        refs = old.get("references")
        if (
            isinstance(refs, dict)
            and refs.keys() < state["references"].keys()
            and all(state["references"][k] == v for k, v in refs.items())
        ):
            return d
    return None


def write_index_dir(
    params: EngineParams,
    payload: IndexPayload,
    directory: Path,
    state: Mapping[str, Any] | None = None,
    infos: Mapping[str, RefInfo] | None = None,
    spill: Path | None = None,
) -> None:
    """Build the index of ``payload`` and write it, with the references' sound (and ``state``: what it was built
    from, :func:`registry_state`), into ``directory`` (created); with ``infos``, what the streamers' VODs show of
    other works too (:func:`vod_findings`). The assets' pictures are kept in files of ``spill`` while it is built
    (a folder the caller removes after), else of one made beside ``directory`` and removed; so are the feature
    bank's vote search and the hash search, laid out in files there
    (:meth:`~provenance.engine.references.ReferenceIndex.lay_out`) and linked into ``directory``."""
    with contextlib.nullcontext(spill) if spill is not None else _spill(directory) as folder:
        index = build_index(params, payload, folder)
        index.lay_out(folder)  # its searches laid out in files there, not in memory, then mapped
        shown = vod_findings(index, infos) if infos is not None else {}
        save_index(index, directory, _audio_files(index, state) | {SHOWN: shown_file(shown)})


@contextlib.contextmanager
def _spill(directory: Path) -> Iterator[Path]:
    """A folder beside ``directory`` for the assets' pictures while its index is built and written: removed after,
    or by :func:`_prune` once the process that made it is gone (a dot name: never taken for an index directory)."""
    folder = directory.parent / f".spill-{os.getpid()}-{directory.name.lstrip('.')}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def extend_index_dir(
    params: EngineParams,
    base: Path,
    payload: IndexPayload,
    directory: Path,
    state: Mapping[str, Any] | None = None,
    infos: Mapping[str, RefInfo] | None = None,
) -> None:
    """Write into ``directory`` (created) the index of ``base``'s references followed by ``payload``'s (the added
    references, :func:`~provenance.audit.references.index_payload` ``only``), with their sound, as
    :func:`write_index_dir` would write it for all of them in that order, from ``base``'s files and ``payload``
    alone (:func:`~provenance.engine.store.extend_index`); :class:`~provenance.errors.IndexStoreError` naming
    ``base`` when it cannot be opened or its feature bank's search is due to be built whole again.

    What the VODs show (:func:`vod_findings`) is ``base``'s for the VODs it holds, and, with ``infos``, the added
    VODs are matched. The VODs ``base`` holds are not matched again (that would cost the hours of every VOD
    registered on each addition): a work registered after a VOD is passed on from it once the index is built
    whole (another engine, a reference removed or changed, or the index directory removed)."""
    old = open_index_dir(base, params)
    added = build_index(params, payload)
    assert isinstance(added, AuditIndex)
    try:
        index = extend_index(base, old, added, AuditIndex(params))
        index.audio = old.audio.joined(added.audio)
    except (RuntimeError, ValueError) as exc:  # FAISS's or numpy's word on a file that does not add up
        raise IndexStoreError(f"{base}: damaged reference index ({' '.join(str(exc).split())})") from None
    shown: Shown = {k: v for k, v in old.shown.items() if infos is None or k in infos}
    if infos is not None:
        shown |= vod_findings(index, infos, {key for _, key, _, _ in payload})
    t0 = time.perf_counter()
    generic = extended_generic(base, index, old.footage_count)
    log.debug("generic shares of %s extended in %.2f s", directory, time.perf_counter() - t0)
    save_index(index, directory, _audio_files(index, state) | {SHOWN: shown_file(shown)}, generic)


def open_index_dir(directory: Path, params: EngineParams) -> AuditIndex:
    """The index in ``directory`` (its big arrays memory-mapped), with the references' sound."""
    index = open_index(directory, AuditIndex(params))
    try:
        manifest = json.loads((directory / AUDIO_MANIFEST).read_text("utf-8"))
        if manifest["params"] != index.audio.params.as_dict():
            raise ValueError("written with other audio settings")
        refs = [(str(k), str(layer), float(d)) for k, layer, d in manifest["references"]]
        arrays = {n: np.load(directory / f"audio_{n}.npy", mmap_mode="r", allow_pickle=False) for n in _AUDIO_ARRAYS}
        index.audio = AudioIndex.opened(index.audio.params, refs, arrays)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise IndexStoreError(f"{directory}: damaged audio index ({' '.join(str(exc).split())})") from None
    index.shown = read_shown(directory)
    advise_random(directory)  # read where the searches land, not ahead: the index may not fit in memory
    return index


def reference_index(
    registry: Registry, params: EngineParams, directory: Path | None, infos: dict[str, RefInfo] | None = None
) -> ReferenceIndex:
    """The registry's index: opened from ``directory`` when there is one (:func:`ensure_index`), else built from
    the registry's stored prints (a registry in memory)."""
    if directory is not None:
        return open_index_dir(directory, params)
    index, infos = load_index(registry, params, infos)
    assert isinstance(index, AuditIndex)
    index.shown = vod_findings(index, infos)
    return index


def vod_findings(index: ReferenceIndex, infos: Mapping[str, RefInfo], only: Collection[str] | None = None) -> Shown:
    """Match every ``stream``-layer footage reference of ``index`` whose file is at hand (those of ``only``, keys,
    when given; ``infos`` say where they are) against ``index``, its own work's references ignored; what it shows
    of other works, by key."""
    out: Shown = {}
    indexed = {m.key for m in index.refs}
    for key, info in sorted(infos.items()):
        if info.layer != "stream" or key not in indexed or (only is not None and key not in only):
            continue
        location = Path(info.location)
        if not info.location or not location.is_file():
            log.info("reference %s of work %s has no file at hand: what it shows is not matched", info.path, info.work)
            continue
        own = {k for k, other in infos.items() if other.work == info.work}
        try:
            if sha256_file(location) != info.sha256:
                log.warning("reference %s of work %s: file %s has changed since import", info.path, info.work, location)
                continue
            raw = raw_matches(match_clip(location, index, ignore=own))
        except (ProvenanceError, OSError) as exc:
            log.warning("reference %s of work %s: %s", info.path, info.work, " ".join(str(exc).split()))
            continue
        footage = [f for f in raw["footage"] if f["ref"] in infos and f["ref"] not in own]
        assets = [a for a in raw["assets"] if a["ref"] in infos and a["ref"] not in own]
        if footage or assets:
            out[key] = {"footage": footage, "assets": assets}
    return out


def _current(directory: Path, params: EngineParams) -> bool:
    if not directory.is_dir():
        return False
    try:
        read_manifest(directory, params)
    except IndexStoreError as exc:
        log.warning("%s; building it again", exc)
        return False
    return True


#: The audio index's arrays (:meth:`~provenance.engine.audio.AudioIndex.arrays`), each ``audio_NAME.npy``.
_AUDIO_ARRAYS = ("refs", "times", "starts", "peak_keys", "peak_offsets")


def _audio_files(index: ReferenceIndex, state: Mapping[str, Any] | None = None) -> dict[str, bytes]:
    """The audio index as files beside the visual one: its arrays (memory-mapped when opened) and its references;
    with ``state``, the registry state the index was built from (:data:`STATE`)."""
    assert isinstance(index, AuditIndex)
    audio = index.audio
    files = {}
    for name, array in audio.arrays().items():
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
        files[f"audio_{name}.npy"] = buffer.getvalue()
    refs = [[k, layer, d] for k, layer, d in zip(audio.keys, audio.layers, audio.durations, strict=True)]
    files[AUDIO_MANIFEST] = json.dumps({"params": audio.params.as_dict(), "references": refs}).encode()
    if state is not None:
        files[STATE] = json.dumps(state).encode()
    return files


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """An exclusive lock on ``root`` between processes (released when the process dies)."""
    with open(root / ".lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _prune(root: Path, current: Path) -> None:
    """Remove all but the newest :data:`_KEEP_OLDER` other index directories, and abandoned builds."""
    older = sorted(
        (d for d in root.iterdir() if d.is_dir() and d != current and not d.name.startswith(".")),
        key=lambda d: d.stat().st_mtime,
        reverse=True,
    )
    for d in older[_KEEP_OLDER:]:
        shutil.rmtree(d, ignore_errors=True)
    for d in root.glob(".building-*"):
        pid = d.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)
    for d in root.glob(".spill-*"):
        pid = d.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
