"""The service's clip operations, kept out of the web layer: one-clip checks against a cached reference index,
stored results by content, and reference uploads made part of the registry."""

from __future__ import annotations

import logging
import os
import shutil
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from pathlib import Path

from provenance.audit.clip import match_source, store_clip, stored_lookup
from provenance.audit.indexdir import ensure_index, reference_index
from provenance.audit.manifests import media_probe
from provenance.audit.references import (
    engine_id,
    ensure_fingerprints,
    load_infos,
    match_key,
    require_references,
)
from provenance.audit.reviews import clip_reviews
from provenance.engine import EngineParams, ReferenceIndex, load_asset
from provenance.errors import DecodeError, NotMediaError, ProvenanceError
from provenance.report import Clip, render_clip, with_layers
from rightsdb import MediaFacts, MediaProbeError, NotFoundError, Registry, sha256_file
from rightsdb.edit import add_reference, location_in_use, remove_reference
from rightsdb.queries import get_work, stored_results
from rightsdb.results import ensure_scan

log = logging.getLogger(__name__)

__all__ = ["CHECKS_SCAN_ID", "Checker", "add_reference_file", "stored_clip"]

#: The scan row under which single clip checks store their results (``clip_results`` needs a scan).
CHECKS_SCAN_ID = "api-clip-checks"


class Checker:
    """Matches single clips against the registry, in a bounded pool of threads.

    Each thread keeps its own reference index (engine objects are not shared between threads), opened once per
    :func:`~provenance.audit.references.match_key` from the registry's index directory
    (:mod:`provenance.audit.indexdir`: memory-mapped, so the threads and the service's processes share its pages)
    or built, for a registry in memory: a registry whose references change is fingerprinted and indexed again on
    the next check; policy changes need no new index (results are rendered with the current terms).
    """

    def __init__(self, registry: Registry, params: EngineParams | None = None, threads: int = 2) -> None:
        self.registry = registry
        self.params = params or EngineParams()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="clip-check")
        self._local = threading.local()
        self._ready_lock = threading.Lock()
        self._ready_key: str | None = None

    def submit(self, path: Path, name: str, as_of: date, territory: str | None, rescan: bool = False) -> Future[Clip]:
        return self._pool.submit(self.check, path, name, as_of, territory, rescan)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def ready_key(self) -> str:
        """The registry's current match key, with every footage reference fingerprinted for it."""
        key = match_key(self.registry, self.params)
        if key != self._ready_key:
            with self._ready_lock:
                if key != self._ready_key:
                    ensure_fingerprints(self.registry, self.params)
                    self._ready_key = key
        return key

    def _index(self) -> tuple[str, ReferenceIndex]:
        key = self.ready_key()
        local = self._local
        if getattr(local, "key", None) != key:
            while True:
                index = reference_index(self.registry, self.params, ensure_index(self.registry, self.params, key))
                again = self.ready_key()
                if again == key:
                    break
                key = again  # the references changed while the index was read
            local.key, local.index = key, index
        return key, local.index

    def check(self, path: Path, name: str, as_of: date, territory: str | None, rescan: bool = False) -> Clip:
        """The report's clip object for the media file ``path`` (called ``name``); stored by content hash.
        A content already matched against the same references is not matched again unless ``rescan``.
        :class:`EmptyRegistryError` when the registry holds no reference, :class:`ReferenceChangedError` when a
        reference's file changed since import (nothing is matched, nothing cleared)."""
        infos = load_infos(self.registry)
        if not infos:  # fail-safe: checked against nothing, a clip would come back clear
            require_references(self.registry)
        key, index = self._index()
        lookup = stored_lookup(self.registry, rescan)
        sha, cache_key, raw, _cached = match_source(path, index, key, lookup)
        clip = render_clip(name, sha, raw, infos, as_of, territory, reviews=clip_reviews(self.registry, sha))
        if sha is not None:
            ensure_scan(
                self.registry, CHECKS_SCAN_ID, "(single clip checks through the service)", engine_id(), "service"
            )
            store_clip(self.registry, CHECKS_SCAN_ID, clip, cache_key, raw, replace_cached=rescan, path=f"{sha}/{name}")
        return clip


def stored_clip(
    registry: Registry,
    sha256: str,
    as_of: date,
    territory: str | None,
    params: EngineParams | None = None,
    holder: str | None = None,
) -> Clip:
    """The stored result of a clip's content rendered with the registry's current terms.

    Raises :class:`NotFoundError` when the content was never checked or scanned, or only against other
    references than the registry holds now (its stored matches may miss a new reference).

    With ``holder`` (what a holder may see) only the layers of that holder's works are shown, and the
    exposure and the reason are those of these layers alone; a clip with none of them, like any other clip
    this holder may not see, is a :class:`NotFoundError` that does not say whether the clip is stored.
    """
    if holder is not None:
        try:
            clip = stored_clip(registry, sha256, as_of, territory, params)
        except NotFoundError:
            clip = None
        mine = [x for x in clip.layers if x.holder == holder] if clip is not None else []
        if clip is None or not mine:
            raise NotFoundError(f"clip: no stored result for sha256 {sha256} with a work of holder {holder!r}")
        shown = with_layers(clip, mine)
        if clip.claims:  # a holder sees its own claims only
            data = shown.to_dict()
            data["claims"] = [c.to_dict() for c in clip.claims if c.holder == holder]
            shown = Clip.model_validate({k: v for k, v in data.items() if k != "claims" or v})
        return shown
    rows = stored_results(registry, sha256)
    if not rows:
        raise NotFoundError(
            f"clip: no stored result for sha256 {sha256}; check the clip first "
            "(POST /v1/clips/check) or scan a dataset holding it"
        )
    key = match_key(registry, params or EngineParams())
    for scan_id, path, cache_key, raw in rows:
        if cache_key == f"{sha256}:{key}":
            name = path.split("/", 1)[1] if scan_id == CHECKS_SCAN_ID and "/" in path else path
            reviews = clip_reviews(registry, sha256)
            return render_clip(name, sha256, raw, load_infos(registry), as_of, territory, reviews=reviews)
    raise NotFoundError(
        f"clip: the stored results for sha256 {sha256} were matched against other references "
        "than the registry holds now; check the clip again"
    )


def add_reference_file(checker: Checker, work_id: str, kind: str, upload: Path, filename: str, media_dir: Path) -> str:
    """Make an uploaded file a reference of a work and index it; returns its registry path.

    The file is probed (a video for footage, a still for an asset, sound for audio), kept under ``media_dir`` by
    content hash and decoded whole (footage and audio are fingerprinted, an asset loaded) before the work is
    answered: a file that does not decode is removed again and raises :class:`DecodeError`/:class:`RegistryError`.
    """
    registry = checker.registry
    get_work(registry, work_id)  # NotFoundError before any work
    try:
        facts = media_probe(upload)
    except MediaProbeError as exc:
        raise NotMediaError(filename, str(exc)) from None
    sha = sha256_file(upload)
    dest = media_dir.resolve() / sha[:2] / f"{sha}{upload.suffix.lower()}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    created = False
    if not dest.exists():
        tmp = dest.with_name(dest.name + ".part")
        try:
            shutil.copyfile(upload, tmp)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)  # a partial copy (disk full, a stopped request) is not left behind
        created = True
    try:
        path = _register_file(checker, work_id, kind, dest, sha, upload, filename, facts)
    except BaseException:  # refused (422), or it failed: the file kept for it goes too, unless another uses it
        if created and not location_in_use(registry, dest):
            dest.unlink(missing_ok=True)
        raise
    return path


def _register_file(
    checker: Checker, work_id: str, kind: str, dest: Path, sha: str, upload: Path, filename: str, facts: MediaFacts
) -> str:
    registry = checker.registry
    if kind == "asset" and facts.kind == "image":
        try:
            load_asset(dest)
        except (OSError, ValueError) as exc:
            raise DecodeError(filename, f"the still does not decode: {exc}") from None
    path = f"uploads/{filename}"
    add_reference(registry, work_id, path, kind, dest, sha, upload.stat().st_size, facts)
    try:
        checker.ready_key()  # fingerprints new footage: the next check and scan use it
    except ProvenanceError:
        remove_reference(registry, work_id, path)
        raise
    return path
