"""The reference index on disk: written once for a registry's state, then opened by memory map by every process
that matches clips against it.

Building a :class:`~provenance.engine.references.ReferenceIndex` from stored fingerprints parses every
reference's print, stacks the hash rows and the feature bank and builds their searches, in every worker process
of every scan; the index then sits in each worker's memory. Written to a directory once, the big parts (hash
rows, the feature bank's keypoints and descriptors, the prints' hashes, the searches over them) are opened by
memory map instead: a process starts matching in the time it takes to map the files, the pages are read from
disk only where a search touches them, and they stay in the page cache, held once for every process of the
machine (a scan's workers, the service's) instead of once per process.

A directory holds (format :data:`INDEX_FORMAT`)::

    index.json              what it holds: the format, the engine settings, the references (with their work:
                            the group a ugc or stream finding is weighed against others by), the assets;
                            written last, so a directory without it is incomplete and never opened
    hashes.faiss            the exact hash search over every kept region hash: FAISS's flat index (mapped), or
    hashes_*.npy            above ``StaticHashIndex.flat_max`` rows, the multi-index hashing's arrays (mapped);
    hashes.K.faiss, hashes.K_*.npy      in an extended directory, the searches over the rows added since
                            (``hash_segments`` parts, searched one after another)
    rows_ref.npy, rows_time.npy, rows_region.npy      per hash row: its reference, time and region; in an extended
    rows_ref.K.npy, ...     directory, the added rows' a segment each addition (``row_segments``), the older ones the
                            older directory's files, hard-linked
    print_offsets.npy, print_times.npy, print_hashes.npy, print_quality.npy
                            each footage reference's sampled frames (times, region hashes, quality); in an
    print_times.K.npy, ...  extended directory, the added references' a segment each addition (``print_segments``),
                            the older ones the older directory's files, hard-linked
    bank_keypoints.npy, bank_descriptors.npy, bank_offsets.npy, bank_sizes.npy, bank_groups.npy,
    bank_ref.npy, bank_time.npy, bank_votes.faiss (bank_votes.K.faiss: in an extended directory, ``vote_segments``)
                            the feature bank's frames and its vote search (FAISS: mapped); in an extended
    bank_keypoints.K.npy, bank_descriptors.K.npy        directory, the frames of the references added since, a
                            segment each addition (``bank_segments``): the segments before are the older
                            directory's files, hard-linked, not copied (a directory never changes once written)
    asset_*.npy, asset_votes.faiss
                            the assets' detectors as they were prepared (pictures, masks, features of the asset
                            and of its mirror) and their shortlist's search (:mod:`provenance.engine.assetstore`):
                            opened, not built again
    generic.json            each reference's generic share (:mod:`provenance.engine.generic`): how much of it other
                            works share, measured when the directory is written (:func:`read_generic`); a
                            directory written before it existed has none (nothing else depends on it)
    generic_frames.npy, generic_pairs.npy
                            what the footage shares are counted from (each judged frame's hash row; every
                            (judged frame, other work) pair: :class:`~provenance.engine.generic.GenericCounts`),
                            so that a directory extended by added references counts the shares from them and the
                            added references alone (:func:`extended_generic`); a directory without them (written
                            before) is extended by measuring the shares over the whole index

What the index is built from decides whether a directory may be used (the caller keys directories by it); the
settings stored here are checked again when it is opened: a directory written with other settings is refused
(:class:`~provenance.errors.IndexStoreError`), as is one that is incomplete or damaged (the manifest lists every
file with its size; a file missing, truncated or grown is found without reading it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from provenance.engine.assets import AssetParams
from provenance.engine.assetstore import asset_facts, open_assets, save_assets, write_parts
from provenance.engine.bank import FeatureBank, JoinedFeatures, PackedFeatures
from provenance.engine.generic import GenericCounts, GenericShare, extend_generic, measure_generic
from provenance.engine.index import StaticHashIndex
from provenance.engine.params import EngineParams, local_params
from provenance.engine.references import FootagePrint, ReferenceIndex, RefMeta
from provenance.engine.rows import ROW_ARRAYS, Rows, extended_rows, joined_rows, row_file, row_parts, segment_file
from provenance.errors import ConfigError, HashIndexError, IndexStoreError

__all__ = [
    "GENERIC",
    "GENERIC_ARRAYS",
    "INDEX_FORMAT",
    "MANIFEST",
    "extend_index",
    "extended_generic",
    "open_index",
    "read_generic",
    "read_manifest",
    "save_index",
]

Index = TypeVar("Index", bound=ReferenceIndex)

#: Bumped whenever the files of a directory change shape or meaning (2: each footage reference's group, its work;
#: 3: the audio index as its arrays; 4: the assets' prepared detectors and their shortlist, not their pictures;
#: 5: above ``StaticHashIndex.flat_max`` rows, the hash search as mapped multi-index arrays, not a FAISS file;
#: 6: the feature bank's keypoints and descriptors in segments, ``bank_keypoints.K.npy`` after the first, listed by
#: ``bank_segments``, the hash search in parts, ``hashes.K*`` after the first, counted by ``hash_segments``, and the
#: vote search, ``bank_votes.K.faiss``, by ``vote_segments``: an index extended by added references links the
#: segments it had and writes one more; 7: the footage prints too, ``print_times.K.npy`` after the first, listed by
#: ``print_segments``; 8: the hash rows' facts too, ``rows_ref.K.npy`` after the first, listed by ``row_segments``;
#: 9: the hash multi-index's keys as narrow as their values, a wide chunk's only the bits under its bucket's).
INDEX_FORMAT = 9
#: The hash search's parts at most in an extended index (each a search of its own for every clip): past them, all
#: but the first are laid out again as one with the added rows.
HASH_SEGMENTS = 8
#: Formats this engine opens: 5 is 6 with one segment, 6 is 7 with its prints in one segment, up to 7 have their
#: hash rows' facts in one segment, up to 8 their hash keys of 4 bytes (read as they are).
READ_FORMATS = (5, 6, 7, 8, INDEX_FORMAT)
#: The file that says what a directory holds; written last.
MANIFEST = "index.json"
#: The references' generic shares (an extra file: a directory without it is read as before).
GENERIC = "generic.json"
#: What the footage's generic shares are counted from (:class:`~provenance.engine.generic.GenericCounts`), each
#: ``NAME.npy``: extra files too (a directory without them is extended by measuring the shares whole).
GENERIC_ARRAYS = ("generic_frames", "generic_pairs")


def save_index(
    index: ReferenceIndex,
    directory: Path,
    extra: Mapping[str, bytes] | None = None,
    generic: GenericCounts | None = None,
) -> None:
    """Write ``index`` into ``directory`` (created; it must not exist), then the caller's ``extra`` files (name:
    content: what the caller keeps beside the index), :data:`MANIFEST` last. Its generic shares are ``generic``
    (an extended index's: :func:`extended_generic`), else measured over the whole index."""
    directory.mkdir(parents=True)
    table, row_ref, row_time, row_region = index.hash_table()
    for k, seg in enumerate(table.segments()):  # a part opened from another directory: linked, not written again
        name = segment_file("hashes", k)
        if seg.source is None or not _linked(seg.source, seg.files, directory, name):
            seg.save(directory, name)
    row_segments = _save_rows(directory, (row_ref, row_time, row_region))
    counts = np.array([len(p.timestamps) for p in index.prints], np.int64)
    _save(directory, print_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
    print_segments = _save_prints(directory, index.prints, index.region_count)
    frames = index.bank.frames()
    if not isinstance(frames, (PackedFeatures, JoinedFeatures)):  # built: one segment, written frame by frame
        write_parts(directory / "bank_keypoints.npy", [f.keypoints for f in frames], (2,), np.float32)
        write_parts(directory / "bank_descriptors.npy", [f.descriptors for f in frames], (32,), np.uint8)
        offsets = np.concatenate([[0], np.cumsum([len(f) for f in frames], dtype=np.int64)]).astype(np.int64)
        sizes = np.array([f.size for f in frames], np.int32).reshape(len(frames), 2)
        segments = [len(frames)]
    else:  # opened, or joined with added frames: a segment a part, those stored already linked, not copied
        parts = frames.parts if isinstance(frames, JoinedFeatures) else (frames,)
        for k, part in enumerate(parts):
            _link_or_save(directory, _segment("keypoints", k), part.keypoints, (2,), np.float32)
            _link_or_save(directory, _segment("descriptors", k), part.descriptors, (32,), np.uint8)
        offsets, sizes, segments = frames.offsets, frames.sizes, [len(p) for p in parts]
    _save(
        directory,
        bank_offsets=offsets,
        bank_sizes=sizes,
        bank_groups=np.asarray(index.bank.groups(), np.int64),
        bank_ref=np.asarray(index.bank_ref, np.int64),
        bank_time=np.asarray(index.bank_time, np.float64),
    )
    vote_segments = index.bank.save_matcher(directory / "bank_votes.faiss")
    shortlist = index.asset_shortlist()
    _save(directory, **save_assets(directory, [d for _, d in index.assets], shortlist))
    generic = measure_generic(index) if generic is None else generic
    _save(directory, **dict(zip(GENERIC_ARRAYS, (generic.frames, generic.pairs), strict=True)))
    shares = [g.as_dict() for g in generic.shares]
    (directory / GENERIC).write_text(json.dumps({"format": 1, "shares": shares}), "utf-8")
    reserved = (MANIFEST, GENERIC, *(f"{n}.npy" for n in GENERIC_ARRAYS))
    for name, data in (extra or {}).items():
        if name in reserved or "/" in name or name.startswith("."):
            raise IndexStoreError(f"{directory}: cannot store a file named {name!r} beside the index")
        (directory / name).write_bytes(data)
    manifest = {
        "format": INDEX_FORMAT,
        "params": index.params.as_dict(),
        "footage": [[m.key, m.layer, p.duration_s, m.group] for m, p in zip(index.refs, index.prints, strict=True)],
        "assets": [[m.key, m.layer, m.group] for m, _ in index.assets],
        "asset_params": asset_facts(index.asset_params),
        "asset_vote_distance": shortlist.vote_distance,
        "hash_rows": len(table),
        "hash_segments": len(table.segments()),
        "row_segments": row_segments,
        "print_segments": print_segments,
        "bank_frames": len(sizes),
        "bank_segments": segments,
        "bank_trained_rows": index.bank.trained_rows(),
        "vote_segments": vote_segments,
        "files": {f.name: f.stat().st_size for f in sorted(directory.iterdir())},
    }
    tmp = directory / f"{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest), "utf-8")
    tmp.replace(directory / MANIFEST)


def open_index(directory: Path, index: Index) -> Index:
    """Fill the empty ``index`` (its settings must be those the directory was written with) from ``directory``,
    by memory map; raises :class:`~provenance.errors.IndexStoreError` naming the directory when it is incomplete,
    of another format or settings, or damaged."""
    if index.footage_count or index.asset_count:
        raise IndexStoreError(f"{directory}: an index can be opened only into an empty one")
    manifest = read_manifest(directory, index.params)
    try:
        _fill(directory, manifest, index)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, HashIndexError) as exc:
        raise IndexStoreError(f"{directory}: damaged reference index ({' '.join(str(exc).split())})") from None
    return index


def extend_index(directory: Path, old: Index, added: ReferenceIndex, into: Index) -> Index:
    """Fill the empty ``into`` with ``old``'s references (opened from ``directory``: :func:`open_index`) followed by
    ``added``'s (built in memory from the new references only), as building an index of all of them in that order
    would, without building the searches over ``old``'s again: for :func:`save_index` to write when references
    were added to the registry and none removed or changed (one reference added to a registry of many hours: a
    second or two instead of a whole build, most of which was laying the feature bank's vote rows out in their
    inverted lists).

    Ids stay stable: ``added``'s references, hash rows and bank frames come after ``old``'s. The exact hash search
    is made again from every kept hash (cheap: no table is trained); the feature bank's vote search grows by the
    new rows (:meth:`~provenance.engine.bank.FeatureBank.joined`: an IVF index keeps its centroids, and raises
    :class:`~provenance.errors.IndexStoreError` when it is due to be built whole again); the assets' prepared
    detectors are kept (mapped) and the shortlist over them is built again only when assets were added."""
    if into.footage_count or into.asset_count or old.params != added.params or old.params != into.params:
        raise IndexStoreError(f"{directory}: an index is extended into an empty one, with the same settings")
    manifest = read_manifest(directory, old.params)
    n = old.footage_count
    _, old_ref, old_time, old_region = old.hash_table()
    _, new_ref, new_time, new_region = added.hash_table()
    table = _joined_table(old.hash_table()[0], [_kept_hashes(p, old.params.min_quality) for p in added.prints])
    new = (np.asarray(new_ref, np.int64) + n, np.asarray(new_time), np.asarray(new_region))
    joined = tuple(
        extended_rows(row_parts(rows), added_rows, dtype, HASH_SEGMENTS)
        for rows, added_rows, (_, dtype) in zip((old_ref, old_time, old_region), new, ROW_ARRAYS, strict=True)
    )
    if len(table) != len(joined[0]):
        raise IndexStoreError(f"{directory}: damaged reference index ({len(table)} kept hashes, {len(joined[0])} rows)")
    trained = manifest.get("bank_trained_rows")  # absent: written before it was kept (then: every row it holds)
    bank = old.bank.joined(added.bank, directory / "bank_votes.faiss", None if trained is None else int(trained), n)
    into.adopt_footage(
        [*old.refs, *added.refs],
        [*old.prints, *added.prints],
        (table, joined[0], joined[1], joined[2]),
        bank,
        np.concatenate([np.asarray(old.bank_ref, np.int64), np.asarray(added.bank_ref, np.int64) + n]),
        np.concatenate([np.asarray(old.bank_time, np.float64), np.asarray(added.bank_time, np.float64)]),
    )
    if added.assets:
        into.assets = [*old.assets, *added.assets]  # their shortlist is built when it is written
    else:
        into.adopt_assets([m for m, _ in old.assets], [d for _, d in old.assets], old.asset_shortlist())
    return into


def _joined_table(old: StaticHashIndex, added: list[npt.NDArray[np.uint8]]) -> StaticHashIndex:
    """``old``'s hash search (opened: mapped, linked when written) followed by a search over the ``added`` rows
    alone: the old rows are not searched again to be laid out, only the added ones are (in an index of 10 hours of
    reference, rebuilding the whole search took 3.2 s of an addition's 15). Past :data:`HASH_SEGMENTS` parts, those
    after the first are laid out again with the added rows as one."""
    rows = _cat(added, (0, 32), np.uint8)
    parts = old.segments()
    if not len(rows):
        return old
    if len(parts) >= HASH_SEGMENTS:
        rows = np.concatenate([*(np.asarray(p.codes()) for p in parts[1:]), rows])
        parts = parts[:1]
    return StaticHashIndex.joined([*parts, StaticHashIndex(rows, 256, old.max_distance)])


def _kept_hashes(fp: FootagePrint, min_quality: int) -> npt.NDArray[np.uint8]:
    """A print's region hashes of at least ``min_quality``, in the order of its hash rows (frame, then region)."""
    n, r = fp.hashes.shape[:2]
    return np.asarray(fp.hashes).reshape(n * r, 32)[np.asarray(fp.quality).reshape(n * r) >= min_quality]


def read_manifest(directory: Path, params: EngineParams) -> dict[str, Any]:
    """What ``directory`` holds, when it is a complete index of this format written with ``params``; else
    :class:`~provenance.errors.IndexStoreError` naming it."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text("utf-8"))
    except FileNotFoundError:
        raise IndexStoreError(f"{directory}: incomplete reference index (no {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise IndexStoreError(f"{directory}: unreadable {MANIFEST} ({' '.join(str(exc).split())})") from None
    if not isinstance(manifest, dict) or manifest.get("format") not in READ_FORMATS:
        raise IndexStoreError(f"{directory}: reference index of another format (this engine reads {READ_FORMATS})")
    if manifest.get("params") != params.as_dict() or manifest.get("asset_params") != asset_facts(AssetParams()):
        raise IndexStoreError(f"{directory}: reference index written with other engine settings")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise IndexStoreError(f"{directory}: {MANIFEST} lists no files")
    for name, size in sorted(files.items()):
        try:
            actual = (directory / str(name)).stat().st_size
        except OSError:
            raise IndexStoreError(f"{directory}: damaged reference index ({name} is missing)") from None
        if actual != size:
            raise IndexStoreError(f"{directory}: damaged reference index ({name} has {actual} bytes, not {size})")
    return manifest


def extended_generic(directory: Path, index: ReferenceIndex, old_footage: int) -> GenericCounts:
    """The generic shares of ``index``, extended (:func:`extend_index`) from the index in ``directory`` (a complete
    one: :func:`read_manifest`) whose ``old_footage`` references it starts with: counted from what the directory
    stored of them and the added references alone (:func:`~provenance.engine.generic.extend_generic`), or measured
    over the whole index when the directory was written before that was stored; a damaged file raises
    :class:`~provenance.errors.IndexStoreError` naming the directory."""
    shares = read_generic(directory)
    if shares is None or not all((directory / f"{n}.npy").is_file() for n in GENERIC_ARRAYS):
        return measure_generic(index)
    try:
        frames, pairs = (np.asarray(_load(directory, n), np.int64) for n in GENERIC_ARRAYS)
        judged = sum(g.judged for g in shares if g.kind == "footage")
        if frames.ndim != 1 or pairs.ndim != 2 or pairs.shape[1] != 2 or len(frames) != judged:
            raise ValueError(f"{frames.shape} judged frames, {pairs.shape} pairs, {judged} judged frames said")
        if len(pairs) and not (
            pairs.min() >= 0 and pairs[:, 0].max() < len(frames) and pairs[:, 1].max() < old_footage
        ):
            raise ValueError("pairs out of range")
        return extend_generic(index, GenericCounts(shares, frames, pairs), old_footage)
    except (OSError, ValueError, IndexError, ConfigError) as exc:
        raise IndexStoreError(f"{directory}: damaged generic shares ({' '.join(str(exc).split())})") from None


def read_generic(directory: Path) -> list[GenericShare] | None:
    """The generic shares :func:`save_index` measured for the index in ``directory`` (a complete one:
    :func:`read_manifest`), or None when it was written before they were; a damaged file raises
    :class:`~provenance.errors.IndexStoreError` naming it."""
    path = directory / GENERIC
    try:
        doc = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise IndexStoreError(f"{path}: unreadable generic shares ({' '.join(str(exc).split())})") from None
    try:
        return [
            GenericShare(str(g["key"]), str(g["kind"]), int(g["judged"]), int(g["shared"]), tuple(map(str, g["works"])))
            for g in doc["shares"]
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexStoreError(f"{path}: damaged generic shares (entry without {exc})") from None


def _fill(directory: Path, manifest: dict[str, Any], index: ReferenceIndex) -> None:
    params = index.params
    table = StaticHashIndex.load(directory, "hashes", 256, params.max_distance, int(manifest.get("hash_segments", 1)))
    segments = [int(n) for n in manifest.get("row_segments", [manifest["hash_rows"]])]
    parts = [[_load(directory, row_file(name, k)) for k in range(len(segments))] for name, _ in ROW_ARRAYS]
    if any([len(p) for p in ps] != segments for ps in parts):
        raise ValueError(f"hash rows' facts in segments of {[[len(p) for p in ps] for ps in parts]}, {segments} said")
    rows = tuple(joined_rows(ps, dtype) for ps, (_, dtype) in zip(parts, ROW_ARRAYS, strict=True))
    if len(table) != manifest["hash_rows"] or any(len(r) != len(table) for r in rows):
        raise ValueError(f"{len(table)} hash rows, {[len(r) for r in rows]} row facts, {manifest['hash_rows']} said")
    footage = manifest["footage"]
    refs = [RefMeta(str(key), str(layer), str(group)) for key, layer, _, group in footage]
    prints = _open_prints(directory, manifest)
    frames = _bank_frames(directory, manifest)
    groups, bank_ref, bank_time = (_load(directory, f"bank_{n}") for n in ("groups", "ref", "time"))
    if not len(frames) == len(groups) == len(bank_ref) == len(bank_time) == manifest["bank_frames"]:
        raise ValueError("feature bank does not add up")
    votes = directory / "bank_votes.faiss"
    bank = FeatureBank.opened(local_params(params), frames, groups, votes, int(manifest.get("vote_segments", 1)))
    table_rows = (table, rows[0], rows[1], rows[2])
    index.adopt_footage(refs, prints, table_rows, bank, bank_ref, bank_time)  # mapped, not copied per worker
    metas = [RefMeta(str(key), str(layer), str(group)) for key, layer, group in manifest["assets"]]
    detectors, shortlist = open_assets(
        directory,
        lambda name: _load(directory, name),
        len(metas),
        index.asset_params,
        local_params(params),
        int(manifest["asset_vote_distance"]),
    )
    index.adopt_assets(metas, detectors, shortlist)


def _save_rows(directory: Path, rows: tuple[Rows, Rows, Rows]) -> list[int]:
    """The hash rows' facts in their segments (:class:`~provenance.engine.rows.JoinedRows`), each one an opened
    directory holds whole hard-linked where links work (:func:`_link_or_save`); returns the segments' lengths."""
    parts = [row_parts(r) for r in rows]
    lengths = [len(p) for p in parts[0]]
    if any([len(p) for p in ps] != lengths for ps in parts):
        raise IndexStoreError(f"{directory}: the hash rows' facts are not in segments of one length")
    for ps, (name, dtype) in zip(parts, ROW_ARRAYS, strict=True):
        for k, p in enumerate(ps):
            _link_or_save(directory, row_file(name, k), p, (), dtype)
    return lengths


#: The footage prints' arrays, as ``print_NAME.npy`` (segment 0) and ``print_NAME.K.npy`` (segment K).
_PRINT_ARRAYS = ("times", "hashes", "quality")


def _print_file(name: str, k: int) -> str:
    """The file name (without ``.npy``) of the prints' ``name`` (times, hashes, quality) of segment ``k``."""
    return segment_file(f"print_{name}", k)


def _save_prints(directory: Path, prints: list[FootagePrint], regions: int) -> list[int]:
    """The footage prints' arrays in segments; returns how many references each holds. A run of prints that an
    opened directory's segment holds whole (:func:`_open_prints`: mapped, in order) keeps that segment's files,
    hard-linked where links work (:func:`_link_or_save`; an index extended by added references); the prints after
    it, added, are written as a segment of their own."""
    runs: list[list[FootagePrint]] = []
    for fp in prints:  # consecutive prints of one opened segment, or built in memory
        if runs and _segment_source(runs[-1][-1]) == _segment_source(fp):
            runs[-1].append(fp)
        else:
            runs.append([fp])
    tails: tuple[tuple[int, ...], ...] = ((), (regions, 32), (regions,))
    for k, run in enumerate(runs or [[]]):
        source = _segment_source(run[0]) if run else None
        wholes = [np.load(f, mmap_mode="r", allow_pickle=False) for f in source] if source else []
        rows = sum(len(fp.timestamps) for fp in run)
        for j, (name, tail, dtype) in enumerate(
            zip(_PRINT_ARRAYS, tails, (np.float32, np.uint8, np.uint8), strict=True)
        ):
            if wholes and len(wholes[j]) == rows:  # the run is its segment, whole
                _link_or_save(directory, _print_file(name, k), wholes[j], tail, dtype)
            else:
                parts = [(fp.timestamps, fp.hashes, fp.quality)[j] for fp in run]
                write_parts(directory / f"{_print_file(name, k)}.npy", parts, tail, dtype)
    return [len(run) for run in runs or [[]]]


def _segment_source(fp: FootagePrint) -> tuple[str, ...] | None:
    """The files an opened print's arrays are mapped from (its segment's), or None for a print built in memory."""
    files = [a.filename if isinstance(a, np.memmap) else None for a in (fp.timestamps, fp.hashes, fp.quality)]
    return tuple(str(f) for f in files) if all(files) else None


def _open_prints(directory: Path, manifest: dict[str, Any]) -> list[FootagePrint]:
    """The footage prints, mapped: each segment's arrays sliced by reference (a directory written before segments
    has one)."""
    footage = manifest["footage"]
    offsets = _load(directory, "print_offsets")
    segments = [int(n) for n in manifest.get("print_segments", [len(footage)])]
    if sum(segments) != len(footage) or len(offsets) != len(footage) + 1 or min(segments, default=0) < 0:
        raise ValueError("footage prints do not add up")
    none = np.zeros(0, np.float32)
    prints: list[FootagePrint] = []
    first = 0
    for k, n in enumerate(segments):
        times, hashes, quality = (_load(directory, _print_file(name, k)) for name in _PRINT_ARRAYS)
        start = int(offsets[first])
        if not len(times) == len(hashes) == len(quality) == int(offsets[first + n]) - start:
            raise ValueError(f"footage prints of segment {k} do not add up")
        for i in range(first, first + n):
            a, b = int(offsets[i]) - start, int(offsets[i + 1]) - start
            duration = float(footage[i][2])
            prints.append(FootagePrint(times[a:b], hashes[a:b], quality[a:b], none, (), duration))
        first += n
    return prints


def _segment(kind: str, k: int) -> str:
    """The file name (without ``.npy``) of the bank's ``kind`` (keypoints, descriptors) of segment ``k``."""
    return segment_file(f"bank_{kind}", k)


def _bank_frames(directory: Path, manifest: dict[str, Any]) -> PackedFeatures | JoinedFeatures:
    """The feature bank's frames, mapped: one segment's arrays as they are, several joined (a directory written
    before segments has one)."""
    offsets, sizes = _load(directory, "bank_offsets"), _load(directory, "bank_sizes")
    segments = [int(n) for n in manifest.get("bank_segments", [len(sizes)])]
    if sum(segments) != len(sizes) or len(offsets) != len(sizes) + 1 or min(segments, default=0) < 0:
        raise ValueError("feature bank segments do not add up")
    parts, first = [], 0
    for k, n in enumerate(segments):
        own = offsets if len(segments) == 1 else np.asarray(offsets[first : first + n + 1], np.int64) - offsets[first]
        part = PackedFeatures(
            _load(directory, _segment("keypoints", k)),
            _load(directory, _segment("descriptors", k)),
            own,
            sizes[first : first + n],
        )
        if not len(part.keypoints) == len(part.descriptors) == int(own[-1] - own[0]):
            raise ValueError(f"feature bank segment {k} does not add up")
        parts.append(part)
        first += n
    return parts[0] if len(parts) == 1 else JoinedFeatures.of(parts)


def _linked(source: tuple[Path, str], files: Any, directory: Path, name: str) -> bool:
    """Whether the files ``files(name)`` names of a search loaded from ``source`` (its directory and name) were
    linked into ``directory`` under ``name``; False, with nothing left behind, where links fail."""
    folder, old = source
    made: list[Path] = []
    try:
        for a, b in zip(files(old), files(name), strict=True):
            os.link(folder / a, directory / b)
            made.append(directory / b)
    except OSError:
        for path in made:
            path.unlink(missing_ok=True)
        return False
    return True


def _link_or_save(directory: Path, name: str, array: npt.NDArray[Any], tail: tuple[int, ...], dtype: Any) -> None:
    """``NAME.npy`` of ``array``: a hard link to the file it is mapped from when it maps a whole ``.npy`` file of
    another index directory (on the same file system: an index directory is never changed once written, so the
    two share it), else written (:func:`~provenance.engine.assetstore.write_parts`)."""
    source = _whole_npy(array)
    if source is not None:
        try:
            os.link(source, directory / f"{name}.npy")
            return
        except OSError:
            pass  # another file system, or links refused: copied below
    write_parts(directory / f"{name}.npy", [array], tail, dtype)


def _whole_npy(array: npt.NDArray[Any]) -> Path | None:
    """The ``.npy`` file ``array`` maps whole (its header's shape and type, its data from the header's end), or None."""
    if not isinstance(array, np.memmap) or not array.filename or not array.flags.c_contiguous:
        return None
    path = Path(array.filename)
    try:
        with path.open("rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                return None
            data_at = f.tell()
    except (OSError, ValueError):
        return None
    if fortran or tuple(shape) != array.shape or dtype != array.dtype or array.offset != data_at:
        return None
    return path


def _save(directory: Path, **arrays: npt.NDArray[Any]) -> None:
    for name, array in arrays.items():
        np.save(directory / f"{name}.npy", np.ascontiguousarray(array))


def _load(directory: Path, name: str) -> npt.NDArray[Any]:
    out: npt.NDArray[Any] = np.load(directory / f"{name}.npy", mmap_mode="r", allow_pickle=False)
    return out


def _cat(parts: list[npt.NDArray[Any]], empty: tuple[int, ...], dtype: Any) -> npt.NDArray[Any]:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(empty, dtype)
