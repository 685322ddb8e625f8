"""The reference index on disk (:mod:`provenance.engine.store`, :mod:`provenance.audit.indexdir`): written once
per state of the registry, opened by memory map, matching exactly like the index built in memory; rebuilt when
the registry changes or the directory is damaged, never opened half-written."""

from __future__ import annotations

import dataclasses
import json
import mmap
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fixtures import footage as F
from provenance.audit import indexdir, scan
from provenance.audit.clip import raw_matches
from provenance.audit.indexdir import ensure_index, index_root, open_index_dir, write_index_dir
from provenance.audit.manifests import import_manifest_file
from provenance.audit.references import ensure_fingerprints, index_payload, load_index, load_infos, match_key
from provenance.audit.shown import SHOWN
from provenance.audit.sound import AuditIndex
from provenance.engine import EngineParams, ReferenceIndex, load_asset, store
from provenance.engine import bank as bank_module
from provenance.engine.assets import AssetDetector
from provenance.engine.bank import JoinedFeatures, PackedFeatures
from provenance.engine.binsearch import IVFSegments, search_binary
from provenance.engine.index import StaticHashIndex
from provenance.engine.match import match_clip
from provenance.engine.rows import JoinedRows
from provenance.engine.store import MANIFEST, open_index, read_manifest, save_index
from provenance.errors import IndexStoreError
from provenance.settings import get_settings
from rightsdb import Registry

from .conftest import FIXTURES

SAMPLE = FIXTURES / "sample"
PARAMS = EngineParams()


@pytest.fixture
def beside(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The default place: no PROVENANCE_INDEX_DIR (the test session sets one for its PostgreSQL registries)."""
    monkeypatch.delenv("PROVENANCE_INDEX_DIR", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def sample_registry(tmp_path: Path, beside: None) -> Iterator[Registry]:
    registry = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    import_manifest_file(registry, SAMPLE / "registry" / "manifest.yaml")
    ensure_fingerprints(registry, PARAMS)
    yield registry
    registry.dispose()


def _clips() -> list[Path]:
    return sorted(p for p in (SAMPLE / "dataset").rglob("*") if p.suffix in (".mp4", ".mkv", ".webm", ".mov"))


@pytest.mark.parametrize("flat_max", [StaticHashIndex.flat_max, 0])  # the hash search: flat, multi-index
def test_an_index_opened_from_disk_matches_every_sample_clip_as_the_built_one(
    sample_registry: Registry, tmp_path: Path, flat_max: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(StaticHashIndex, "flat_max", flat_max)
    built, _ = load_index(sample_registry, PARAMS)
    save_index(built, tmp_path / "index")
    opened = open_index(tmp_path / "index", AuditIndex(PARAMS))
    # the big parts are mapped from the files, not copies in this process
    table, rows_ref, _, _ = opened.hash_table()
    assert isinstance(rows_ref, np.memmap)
    multi = table._multi
    assert (multi is None) == bool(flat_max)
    assert multi is None or all(isinstance(a, np.memmap) for a in (multi.codes, multi.keys, multi.postings))
    assert isinstance(opened.prints[0].hashes, np.memmap)
    assert isinstance(opened.bank.packed().descriptors, np.memmap)
    # written frame by frame, the stored arrays are the built ones stacked
    frames = built.bank.frames()
    assert isinstance(frames, list) and len(frames) > 1
    want, got = PackedFeatures.pack(frames), opened.bank.packed()
    for name in ("keypoints", "descriptors", "offsets", "sizes"):
        assert np.array_equal(getattr(want, name), getattr(got, name)), name
    for p, q in zip(built.prints, opened.prints, strict=True):
        assert np.array_equal(p.timestamps, q.timestamps) and np.array_equal(p.hashes, q.hashes)
        assert np.array_equal(p.quality, q.quality)
    assert len(table) == len(built.hash_table()[0]) > 0
    assert len(opened.bank) == len(built.bank) > 0
    assert [m.key for m, _ in opened.assets] == [m.key for m, _ in built.assets]
    # so are the asset detectors' pictures and features, and their shortlist's search
    _same_detectors(built, opened)
    clips = _clips()
    assert len(clips) >= 10
    found = 0
    for clip in clips:
        a, b = match_clip(clip, built), match_clip(clip, opened)
        assert repr(a) == repr(b), clip
        found += bool(a.footage or a.assets)
    assert found >= 5  # the comparison covers clips that match, not only clean ones


def _same_detectors(built: ReferenceIndex, opened: ReferenceIndex) -> None:
    """The opened index's detectors hold the built one's state, mapped from the files, and its shortlist is
    mapped too."""
    assert opened.asset_shortlist().mapped and not built.asset_shortlist().mapped
    assert opened.asset_shortlist().stored == built.asset_shortlist().stored > 0
    assert opened.private_bytes() == 0 < built.private_bytes()
    for (_, b), (_, o) in zip(built.assets, opened.assets, strict=True):
        assert (o.method, o.size, o.frame_params) == (b.method, b.size, b.frame_params)
        for x, y in [
            (b.gray, o.gray),
            (b.alpha, o.alpha),
            (b.rgb, o.rgb),
            (b.chroma_mask, o.chroma_mask),
            *(
                (f.keypoints, g.keypoints)
                for f, g in ((b.features, o.features), (b.mirror_features, o.mirror_features))
            ),
            *(
                (f.descriptors, g.descriptors)
                for f, g in ((b.features, o.features), (b.mirror_features, o.mirror_features))
            ),
        ]:
            assert isinstance(y, np.memmap) and x.dtype == y.dtype and np.array_equal(x, y)
        assert o.features.size == b.features.size and o.mirror_features.size == b.mirror_features.size


def test_asset_detectors_are_opened_not_built_and_find_what_built_ones_find_among_distractors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sample's real assets among the scale bench's distractors (overlays of the registered one's template in
    other colours, logos): enough descriptors for the shortlist's IVF search, mapped from its file."""
    built = ReferenceIndex(PARAMS)
    for png in sorted((SAMPLE / "registry" / "assets").glob("*.png")):
        built.add_asset(png.stem, "game", load_asset(png), group=png.stem)
    for i in range(48):
        rgba = (
            F.make_overlay_png(None, (640, 360), 50_000 + i, f"Q{i} Live")
            if i % 2 == 0
            else F.make_logo_png(None, 64 + (i * 37) % 128, 90_000 + i, f"X{i}")
        )
        built.add_asset(f"distractor-{i}", "stream" if i % 2 == 0 else "other", rgba, group=f"distractor-{i}")
    assert built.asset_shortlist().stored > 20_000  # above the exhaustive search: the IVF index is stored
    save_index(built, tmp_path / "index")

    def no_features(*args: object) -> object:
        raise AssertionError("a detector's features were extracted while opening the index")

    with monkeypatch.context() as patched:
        patched.setattr(AssetDetector, "_multiscale_features", no_features)
        opened = open_index(tmp_path / "index", ReferenceIndex(PARAMS))
    _same_detectors(built, opened)
    found = 0
    for clip in _clips():
        a, b = match_clip(clip, built), match_clip(clip, opened)
        assert repr(a.assets) == repr(b.assets), clip
        found += bool(a.assets)
    assert found >= 3


def test_a_scan_writes_the_index_once_beside_the_registry_and_reports_as_an_in_memory_one(
    sample_registry: Registry, tmp_path: Path
) -> None:
    first = scan(sample_registry, SAMPLE / "dataset", PARAMS, workers=2).to_dict()
    root = index_root(sample_registry)
    assert root == tmp_path / "r.db.index"
    (directory,) = [d for d in root.iterdir() if d.is_dir()]
    written = (directory / MANIFEST).stat().st_mtime_ns
    again = scan(sample_registry, SAMPLE / "dataset", PARAMS, workers=2, rescan=True).to_dict()
    assert (directory / MANIFEST).stat().st_mtime_ns == written  # opened again, not written again
    memory = Registry("sqlite://")
    try:
        import_manifest_file(memory, SAMPLE / "registry" / "manifest.yaml")
        assert index_root(memory) is None
        built = scan(memory, SAMPLE / "dataset", PARAMS).to_dict()
    finally:
        memory.dispose()
    assert first["clips"] == again["clips"] == built["clips"]


def _add_reference(registry: Registry, tmp_path: Path, name: str) -> None:
    """Another work whose footage is a copy of a sample reference (another state of the registry)."""
    src = sorted((SAMPLE / "registry" / "footage").glob("*.mp4"))[0]
    folder = tmp_path / name
    folder.mkdir()
    shutil.copyfile(src, folder / "ref.mp4")
    (folder / "manifest.yaml").write_text(
        f"""holders:
  - {{id: {name}-holder, name: Holder {name}, kind: publisher}}
works:
  - id: {name}-work
    title: Work {name}
    holder: {name}-holder
    layer: game
    policy: {{ai_training: deny}}
    references:
      - {{path: ref.mp4, kind: footage}}
""",
        "utf-8",
    )
    import_manifest_file(registry, folder / "manifest.yaml")
    ensure_fingerprints(registry, PARAMS)


def test_a_changed_registry_gets_its_own_index_and_old_ones_are_removed(
    sample_registry: Registry, tmp_path: Path
) -> None:
    dirs = []
    for step in range(3):
        if step:
            _add_reference(sample_registry, tmp_path, f"extra{step}")
        key = match_key(sample_registry, PARAMS)
        directory = ensure_index(sample_registry, PARAMS, key, load_infos(sample_registry))
        assert directory is not None and directory.name == key[:32]
        assert open_index_dir(directory, PARAMS).footage_count == len(read_manifest(directory, PARAMS)["footage"])
        dirs.append(directory)
    assert len(set(dirs)) == 3
    assert not dirs[0].exists()  # the oldest is removed; the one before the current is kept for late workers
    assert dirs[1].exists() and dirs[2].exists()
    counts = [len(read_manifest(d, PARAMS)["footage"]) for d in dirs[1:]]
    assert counts[1] == counts[0] + 1


@pytest.mark.parametrize("damage", ["no manifest", "truncated", "missing file", "other settings"])
def test_a_damaged_index_is_refused_on_opening_and_built_again(
    sample_registry: Registry, damage: str, caplog: Any
) -> None:
    key = match_key(sample_registry, PARAMS)
    directory = ensure_index(sample_registry, PARAMS, key)
    assert directory is not None
    if damage == "no manifest":
        (directory / MANIFEST).unlink()
    elif damage == "truncated":
        data = (directory / "bank_descriptors.npy").read_bytes()
        (directory / "bank_descriptors.npy").write_bytes(data[: len(data) // 2])
    elif damage == "missing file":
        (directory / "rows_time.npy").unlink()
    else:
        text = (directory / MANIFEST).read_text("utf-8").replace('"max_distance": 31', '"max_distance": 30')
        (directory / MANIFEST).write_text(text, "utf-8")
    with pytest.raises(IndexStoreError) as refused:
        open_index_dir(directory, PARAMS)
    assert str(directory) in str(refused.value) and "\n" not in str(refused.value)
    again = ensure_index(sample_registry, PARAMS, key)
    assert again == directory
    opened = open_index_dir(directory, PARAMS)  # whole again
    assert opened.footage_count > 0 and opened.asset_count > 0


def test_a_changed_asset_file_still_stops_a_scan_with_an_index_on_disk(
    sample_registry: Registry, tmp_path: Path
) -> None:
    scan(sample_registry, SAMPLE / "dataset" / "clean", PARAMS)  # the index is on disk now
    assets = sorted((SAMPLE / "registry" / "assets").glob("*.png"))
    moved = tmp_path / "registry"
    shutil.copytree(SAMPLE / "registry", moved)
    registry = Registry(f"sqlite:///{tmp_path / 'moved.db'}")
    try:
        import_manifest_file(registry, moved / "manifest.yaml")
        scan(registry, SAMPLE / "dataset" / "clean", PARAMS)
        target = moved / "assets" / assets[0].name
        target.write_bytes(target.read_bytes() + b"changed")
        from provenance.errors import ReferenceChangedError

        with pytest.raises(ReferenceChangedError, match=assets[0].name):
            scan(registry, SAMPLE / "dataset" / "clean", PARAMS)
    finally:
        registry.dispose()


def test_a_scan_with_an_index_on_disk_checks_the_assets_without_reading_their_pictures(
    sample_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver of a scan refuses a changed asset by its sha256 alone: its workers match with the index's copies
    of the pictures, so reading every asset's picture (~0.5 MB a registered overlay, all held at once) bought
    nothing. An asset path that became a FIFO is refused at once, not waited on."""
    import os

    from provenance.audit import references
    from provenance.errors import ReferenceChangedError

    moved = tmp_path / "registry"
    shutil.copytree(SAMPLE / "registry", moved)
    registry = Registry(f"sqlite:///{tmp_path / 'moved.db'}")
    try:
        import_manifest_file(registry, moved / "manifest.yaml")
        first = scan(registry, SAMPLE / "dataset" / "clean", PARAMS)  # the index is on disk now

        def refused(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("an asset's picture was read")

        monkeypatch.setattr(references, "load_asset", refused)
        monkeypatch.setattr(references, "asset_array", refused)
        again = scan(registry, SAMPLE / "dataset" / "clean", PARAMS)
        assert [c.layers for c in again.clips] == [c.layers for c in first.clips]

        target = moved / "assets" / sorted((SAMPLE / "registry" / "assets").glob("*.png"))[0].name
        target.unlink()
        os.mkfifo(target)
        with pytest.raises(ReferenceChangedError, match=target.name):
            scan(registry, SAMPLE / "dataset" / "clean", PARAMS)
    finally:
        registry.dispose()


@pytest.mark.postgres
def test_a_postgresql_registry_keeps_its_index_under_the_configured_folder(pg_url: str, tmp_path: Path) -> None:
    get_settings.cache_clear()
    registry = Registry(pg_url)
    try:
        import_manifest_file(registry, SAMPLE / "registry" / "manifest.yaml")
        result = scan(registry, SAMPLE / "dataset" / "retro", PARAMS, workers=2)
        root = index_root(registry)
        assert root is not None and root.parent == Path(get_settings().index_dir).resolve()
        assert [d for d in root.iterdir() if d.is_dir() and (d / MANIFEST).is_file()]
        assert any(c.exposure != "none" for c in result.clips)
    finally:
        registry.dispose()


def test_a_whole_write_reads_the_prints_into_files_and_writes_the_same_index(
    sample_registry: Registry, tmp_path: Path
) -> None:
    """The footage prints of a whole index write are read from the database one at a time into files and viewed from
    them (mapped), not held in memory: the payload's prints are views of mapped files with the stored bytes, and
    the directory written from them holds the same files, byte for byte, as one written from prints in memory; so
    does one whose searches (the feature bank's vote search, the hash search) were built in memory, not laid out in
    their files."""
    infos = load_infos(sample_registry)
    held = index_payload(sample_registry, infos)
    spill = tmp_path / "spill"
    spill.mkdir()
    spilled = index_payload(sample_registry, infos, spill=spill)
    footage = [(a, b) for a, b in zip(held, spilled, strict=True) if a[0] == "footage"]
    assert footage and len(list(spill.glob("print-*.bin"))) == len(footage)
    for (_, key, _, blobs), (_, key2, _, views) in footage:
        assert key == key2 and all(isinstance(v, memoryview) for v in views)
        assert all(isinstance(v.obj, mmap.mmap) or v.nbytes == 0 for v in views)
        assert [bytes(v) for v in views] == [bytes(b) for b in blobs]
    laid_out: list[Any] = []
    lay_out = bank_module.FeatureBank.lay_out
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bank_module.FeatureBank, "lay_out", lambda self, path: laid_out.append(lay_out(self, path)))
        patch.setattr(StaticHashIndex, "flat_max", 1_000)  # the sample's hash rows: a multi-index
        write_index_dir(PARAMS, held, tmp_path / "held")
        laid_out.append(open_index_dir(tmp_path / "held", PARAMS).hash_table()[0].files("hashes"))
        write_index_dir(PARAMS, spilled, tmp_path / "spilled", spill=spill)
        # the searches built in memory, then written (FAISS's write of the vote search), as before
        patch.setattr(ReferenceIndex, "lay_out", lambda self, folder: None)
        write_index_dir(PARAMS, held, tmp_path / "built")
    assert laid_out[0] is True  # the sample's vote search is an IVF one, laid out in a file
    assert "hashes_keys.npy" in laid_out[1]  # and its hash search a multi-index, laid out in its files
    names = sorted(f.name for f in (tmp_path / "held").iterdir())
    for other in ("spilled", "built"):
        assert names == sorted(f.name for f in (tmp_path / other).iterdir())
        for name in names:
            assert (tmp_path / "held" / name).read_bytes() == (tmp_path / other / name).read_bytes(), (other, name)
    directory = ensure_index(sample_registry, PARAMS, match_key(sample_registry, PARAMS), infos)
    assert directory is not None
    assert not [d for d in directory.parent.iterdir() if d.name.startswith(".spill")]  # the files removed after


def test_the_audio_index_opened_from_disk_finds_what_the_built_one_finds(tmp_path: Path) -> None:
    """Real game music (frozen-bubble) registered as two songs; clips of a song under a voice, a shorter excerpt
    and clean speech matched against the built and the opened audio index: the same matches."""
    from provenance.audit.indexdir import write_index_dir
    from provenance.engine.audio import AudioParams, fingerprint_audio, match_audio

    from .audiomedia import RATE, SONGS, have_material, load, mix, speech, write_audio

    if not have_material():
        pytest.skip("frozen-bubble-data / espeak-ng not installed")
    params = AudioParams()
    song, other = load(SONGS["song"], 10.0, 40.0), load(SONGS["other"], 5.0, 40.0)

    def printed(x: Any, name: str, p: AudioParams) -> Any:
        fp = fingerprint_audio(write_audio(tmp_path / name, x), p)
        assert fp is not None
        return fp

    payload: list[Any] = [
        ("audio", f"w{i}::song{i}.m4a", "music", printed(x, f"song{i}.m4a", params).to_payload())
        for i, x in enumerate((song, other))
    ]
    write_index_dir(PARAMS, payload, tmp_path / "index")
    opened = open_index_dir(tmp_path / "index", PARAMS)
    assert isinstance(opened.audio.peak_keys[0], np.memmap)
    from provenance.audit.references import build_index

    index = build_index(PARAMS, payload)
    assert isinstance(index, AuditIndex) and len(index.audio) == len(opened.audio) == 2
    voice = speech("Okay chat, here we go again, watch this jump.", tmp_path / "v.wav")
    clips = [mix(voice[: 8 * RATE], song[5 * RATE : 13 * RATE], -10.0), other[12 * RATE : 20 * RATE], voice]
    found = []
    for i, x in enumerate(clips):
        fp = printed(x, f"clip{i}.m4a", params.for_query())
        a, b = match_audio(fp, index.audio), match_audio(fp, opened.audio)
        assert repr(a) == repr(b)
        found.append([m.key for m in a])
    assert found == [["w0::song0.m4a"], ["w1::song1.m4a"], []]


# ---------------------------------------------------------------------------------------------------------
# an index extended by added references (issue 15: adding one reference costs seconds, not a rebuild)
# ---------------------------------------------------------------------------------------------------------


def _without(tmp_path: Path, work: str) -> Path:
    """The sample registry's folder copied, beside its manifest one that lacks ``work`` (``without.yaml``)."""
    import yaml

    folder = tmp_path / "registry"
    shutil.copytree(SAMPLE / "registry", folder)
    data = yaml.safe_load((folder / "manifest.yaml").read_text("utf-8"))
    data["works"] = [w for w in data["works"] if w["id"] != work]
    (folder / "without.yaml").write_text(yaml.safe_dump(data), "utf-8")
    return folder


def _index(registry: Registry) -> Path:
    directory = ensure_index(registry, PARAMS, match_key(registry, PARAMS), load_infos(registry))
    assert directory is not None
    return directory


def _refuse_full_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("the whole index was built again")

    monkeypatch.setattr(indexdir, "write_index_dir", refused)


def _findings(matches: Any) -> tuple[Any, str]:
    """A clip's matches as a scan reports them (:func:`raw_matches`) and as the engine found them, both in key
    order; the engine's internal ids (a segment's reference position, its evidence's positions in the candidate
    arrays) follow the references' order, which an extended index does not share with a full build: left out,
    the evidence's count kept."""
    raw = raw_matches(matches)
    raw["footage"].sort(key=lambda f: f["ref"])
    raw["assets"].sort(key=lambda a: a["ref"])
    footage = sorted(
        (
            dataclasses.replace(
                ref,
                segments=tuple(dataclasses.replace(s, reference=-1, evidence=(len(s.evidence),)) for s in ref.segments),
            )
            for ref in matches.footage
        ),
        key=lambda r: r.key,
    )
    assets = sorted(matches.assets, key=lambda a: a.key)
    return raw, repr(dataclasses.replace(matches, footage=footage, assets=assets))


def test_an_index_extended_by_an_added_work_matches_every_sample_clip_as_a_full_build(
    tmp_path: Path, beside: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Freedoom (its footage, its HUD and their sound) registered after the rest of the sample: its directory is
    written from the one before and Freedoom's prints alone, and every sample clip matches against it as against
    the whole index built from the registry."""
    folder = _without(tmp_path, "freedoom")
    registry = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        import_manifest_file(registry, folder / "without.yaml")
        ensure_fingerprints(registry, PARAMS)
        before = _index(registry)
        import_manifest_file(registry, folder / "manifest.yaml")
        ensure_fingerprints(registry, PARAMS)
        read: list[set[str] | None] = []
        real_payload = indexdir.index_payload

        def payload(registry: Registry, infos: Any = None, only: set[str] | None = None) -> Any:
            read.append(only)
            return real_payload(registry, infos, only)

        with monkeypatch.context() as patched:
            _refuse_full_builds(patched)
            patched.setattr(indexdir, "index_payload", payload)
            after = _index(registry)
        added = {"freedoom::footage/freedoom-e1m1-playthrough.mp4", "freedoom::assets/freedoom-hud.png"}
        assert read == [added]  # the new references' prints alone were read from the registry
        payload = index_payload(registry)
        write_index_dir(PARAMS, payload, tmp_path / "full")
        # the same references in the extension's order: the old ones as the first directory holds them, then Freedoom
        appended = sorted(payload, key=lambda item: (item[0] == "audio", item[1] in added))
        write_index_dir(PARAMS, appended, tmp_path / "appended", None, load_infos(registry))
    finally:
        registry.dispose()
    # every file but the vote search (its IVF centroids were sampled from the old rows) is the same-order full build's
    same_order = tmp_path / "appended"
    files = {f.name for f in same_order.iterdir()} - {MANIFEST}
    prints = [f"print_{name}" for name in ("times", "hashes", "quality")]
    rows = [f"rows_{name}" for name in ("ref", "time", "region")]
    added_segment = {
        "bank_keypoints.1.npy",
        "bank_descriptors.1.npy",
        "hashes.1.faiss",
        *(f"{n}.1.npy" for n in (*prints, *rows)),
    }
    assert files | added_segment | {MANIFEST, indexdir.STATE} == {f.name for f in after.iterdir()}
    # what the VODs show is the old directory's: the VODs it holds are not matched again (provenance.audit.shown)
    assert (after / SHOWN).read_bytes() == (before / SHOWN).read_bytes()
    # the bank's frames stored before are the old directory's files, linked, not copied; the added ones a segment
    for kind in ("keypoints", "descriptors"):
        old_file, new_file = before / f"bank_{kind}.npy", after / f"bank_{kind}.npy"
        assert os.stat(old_file).st_ino == os.stat(new_file).st_ino, kind
        joined = np.concatenate([np.load(new_file), np.load(after / f"bank_{kind}.1.npy")])
        assert np.array_equal(joined, np.load(same_order / f"bank_{kind}.npy")), kind
    segments = read_manifest(after, PARAMS)["bank_segments"]
    assert len(segments) == 2 and segments[0] == read_manifest(before, PARAMS)["bank_frames"] and segments[1] > 0
    # so are the old references' prints; the added reference's a segment of its own
    for name in prints:
        assert os.stat(before / f"{name}.npy").st_ino == os.stat(after / f"{name}.npy").st_ino, name
        joined = np.concatenate([np.load(after / f"{name}.npy"), np.load(after / f"{name}.1.npy")])
        assert np.array_equal(joined, np.load(same_order / f"{name}.npy")), name
    assert read_manifest(after, PARAMS)["print_segments"] == [len(read_manifest(before, PARAMS)["footage"]), 1]
    # and the old hash rows' facts (reference, time, region); the added rows' a segment
    for name in rows:
        assert os.stat(before / f"{name}.npy").st_ino == os.stat(after / f"{name}.npy").st_ino, name
        joined = np.concatenate([np.load(after / f"{name}.npy"), np.load(after / f"{name}.1.npy")])
        assert np.array_equal(joined, np.load(same_order / f"{name}.npy")), name
    old_rows, all_rows = (read_manifest(d, PARAMS)["hash_rows"] for d in (before, after))
    assert read_manifest(after, PARAMS)["row_segments"] == [old_rows, all_rows - old_rows]
    # so is the hash search of the old rows; the added rows get a search of their own, searched after it
    assert os.stat(before / "hashes.faiss").st_ino == os.stat(after / "hashes.faiss").st_ino
    assert read_manifest(after, PARAMS)["hash_segments"] == 2
    joined = StaticHashIndex.load(after, "hashes", 256, PARAMS.max_distance, 2)
    whole = StaticHashIndex.load(same_order, "hashes", 256, PARAMS.max_distance)
    queries = whole.codes()[::7]
    assert len(joined) == len(whole) and len(queries) > 100
    found = joined.search(queries, PARAMS.max_distance)
    for a, b in zip(found, whole.search(queries, PARAMS.max_distance), strict=True):
        assert np.array_equal(a, b)
    assert len(found[0]) > len(queries)  # near rows found, not only each query's own
    skipped = {"bank_votes.faiss", SHOWN, "bank_keypoints.npy", "bank_descriptors.npy", "hashes.faiss"}
    skipped |= {f"{n}.npy" for n in (*prints, *rows)}
    for name in sorted(files - skipped):
        if name.endswith(".npy"):
            assert np.array_equal(np.load(same_order / name), np.load(after / name)), name
        else:
            assert (same_order / name).read_bytes() == (after / name).read_bytes(), name
    facts = ("footage", "assets", "hash_rows", "bank_frames")
    assert [read_manifest(after, PARAMS)[k] for k in facts] == [read_manifest(same_order, PARAMS)[k] for k in facts]
    assert after != before and before.exists()
    extended, full = open_index_dir(after, PARAMS), open_index_dir(tmp_path / "full", PARAMS)
    old = open_index_dir(before, PARAMS)
    # ids stay stable: the old references first, in their order, the added ones after them
    assert [m.key for m in extended.refs] == [m.key for m in old.refs] + [
        "freedoom::footage/freedoom-e1m1-playthrough.mp4"
    ]
    assert [m.key for m, _ in extended.assets] == [m.key for m, _ in old.assets] + ["freedoom::assets/freedoom-hud.png"]
    assert sorted(extended.audio.keys) == sorted(full.audio.keys)  # none: the sample's footage is silent
    assert len(extended.hash_table()[0]) == len(full.hash_table()[0]) > len(old.hash_table()[0])
    facts = extended.hash_table()[1:]
    assert all(isinstance(f, JoinedRows) and all(isinstance(p, np.memmap) for p in f.parts) for f in facts)
    same = open_index_dir(same_order, PARAMS).hash_table()[1:]
    for f, g in zip(facts, same, strict=True):
        assert np.array_equal(np.asarray(f), g) and f.dtype == g.dtype
    assert len(extended.bank) == len(full.bank) > len(old.bank)
    frames = extended.bank.frames()
    assert isinstance(frames, JoinedFeatures) and len(frames.parts) == 2
    assert all(isinstance(part.descriptors, np.memmap) for part in frames.parts)  # both segments mapped
    one = open_index_dir(same_order, PARAMS).bank.packed()  # the same frames written as one segment
    for name in ("keypoints", "descriptors", "offsets", "sizes"):
        assert np.array_equal(getattr(frames.packed(), name), getattr(one, name)), name
    assert all(np.array_equal(frames[i].descriptors, one[i].descriptors) for i in range(len(one)))
    found = 0
    for clip in _clips():
        a, b = match_clip(clip, full), match_clip(clip, extended)
        assert _findings(a) == _findings(b), clip
        found += any(r.key.startswith("freedoom::") for r in (*a.footage, *a.assets))
    assert found >= 3  # the added work is found: the comparison covers what was added


def test_a_removed_reference_makes_the_whole_index_built_again(sample_registry: Registry) -> None:
    from rightsdb.edit import remove_reference

    before = _index(sample_registry)
    remove_reference(sample_registry, "pw-pong", "footage/pixelworks-pong-attract.mp4")
    calls: list[Path] = []
    real = indexdir.write_index_dir

    def counted(
        params: EngineParams, payload: Any, directory: Path, state: Any = None, infos: Any = None, spill: Any = None
    ) -> None:
        calls.append(directory)
        real(params, payload, directory, state, infos, spill)

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(indexdir, "write_index_dir", counted)
        after = _index(sample_registry)
    assert len(calls) == 1
    keys = [m.key for m in open_index_dir(after, PARAMS).refs]
    assert keys == [m.key for m in open_index_dir(before, PARAMS).refs if not m.key.startswith("pw-pong::")]


def test_changed_generic_stretches_make_the_whole_index_built_again_then_it_is_extended(
    sample_registry: Registry, tmp_path: Path
) -> None:
    """A stretch review marked generic changes what every reference's rows are: the index is built whole; the next
    reference added extends it, the stretch still left out."""
    import hashlib

    from rightsdb.reviews import GenericSpec, record_decision

    _index(sample_registry)
    calls: list[Path] = []
    real = indexdir.write_index_dir

    def counted(
        params: EngineParams, payload: Any, directory: Path, state: Any = None, infos: Any = None, spill: Any = None
    ) -> None:
        calls.append(directory)
        real(params, payload, directory, state, infos, spill)

    pong = "footage/pixelworks-pong-attract.mp4"
    clip = hashlib.sha256(b"a clip").hexdigest()
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(indexdir, "write_index_dir", counted)
        _add_reference(sample_registry, tmp_path, "extra1")
        record_decision(sample_registry, clip, "pw-pong", "false_match", "n", "me", generic=GenericSpec(pong, 0.0, 5.0))
        cut = _index(sample_registry)
        assert len(calls) == 1
        _add_reference(sample_registry, tmp_path, "extra2")
        extended = _index(sample_registry)
        assert len(calls) == 1  # extended, not built again
    opened = open_index_dir(extended, PARAMS)
    keys = [m.key for m in opened.refs]
    assert keys[:-1] == [m.key for m in open_index_dir(cut, PARAMS).refs] and keys[-1].startswith("extra2-work::")
    times = opened.prints[keys.index(f"pw-pong::{pong}")].timestamps
    assert len(times) and float(np.min(times)) > 5.0  # the generic stretch stays out of the extended index


def test_an_index_built_to_be_written_holds_its_assets_pictures_in_files(
    sample_registry: Registry, tmp_path: Path
) -> None:
    """The payload holds the asset files, not their pictures, and an index built to be written keeps each asset's
    pictures in files as it is prepared (a registry of thousands of overlays did not fit in memory while its index
    was written): the same pictures, features and matches as an index built in memory; the spill folder is
    removed after, and one left by a process that is gone is removed when the registry's next index is written."""
    from provenance.audit.references import AssetFile, build_index

    payload = index_payload(sample_registry)
    assets = [data for kind, _, _, data in payload if kind == "asset"]
    assert assets and all(isinstance(data, AssetFile) for data in assets)
    built = build_index(PARAMS, payload)
    (tmp_path / "spill").mkdir()
    spilled = build_index(PARAMS, payload, tmp_path / "spill")
    assert [m for m, _ in spilled.assets] == [m for m, _ in built.assets]
    for (_, a), (_, b) in zip(built.assets, spilled.assets, strict=True):
        for x, y in ((a.gray, b.gray), (a.alpha, b.alpha), (a.rgb, b.rgb), (a.chroma_mask, b.chroma_mask)):
            assert isinstance(y.base, np.memmap) and np.array_equal(x, y)
        for fa, fb in ((a.features, b.features), (a.mirror_features, b.mirror_features)):
            assert np.array_equal(fa.keypoints, fb.keypoints) and np.array_equal(fa.descriptors, fb.descriptors)
    stream = SAMPLE / "dataset" / "streams" / "nightowl_highlight.mp4"
    found = raw_matches(match_clip(stream, spilled))
    assert found == raw_matches(match_clip(stream, built)) and found["assets"]

    root = tmp_path / "indexes"
    left = root / ".spill-999999999-gone"  # no such process
    left.mkdir(parents=True)
    mine = root / f".spill-{os.getpid()}-other"  # a write of this process's own, under way
    mine.mkdir()
    write_index_dir(PARAMS, payload, root / "x")
    assert not list(root.glob(".spill-*-x"))  # its own: removed once written
    indexdir._prune(root, root / "x")  # as the registry's next index written does
    assert not left.exists() and mine.exists()


def test_an_extended_index_is_written_whole_or_not_at_all_and_reopens(
    sample_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _index(sample_registry)
    _add_reference(sample_registry, tmp_path, "extra1")
    key = match_key(sample_registry, PARAMS)
    real = indexdir.save_index

    def interrupted(index: ReferenceIndex, directory: Path, extra: Any = None, generic: Any = None) -> None:
        real(index, directory, extra, generic)
        raise OSError(28, "No space left on device")  # all written but not yet renamed into place

    with monkeypatch.context() as patched:
        patched.setattr(indexdir, "save_index", interrupted)
        with pytest.raises(IndexStoreError, match="cannot write the reference index"):
            _index(sample_registry)
    root = before.parent
    assert not (root / key[:32]).exists() and not list(root.glob(".building-*"))
    with monkeypatch.context() as patched:
        _refuse_full_builds(patched)
        first = _index(sample_registry)
        assert os.stat(first / "bank_descriptors.npy").st_nlink == 2  # the old directory's, linked
        assert os.stat(first / "bank_votes.faiss").st_nlink == 2  # so is its vote search (an IVF)
        assert os.stat(first / "print_hashes.npy").st_nlink == 2  # and its references' prints
        assert read_manifest(first, PARAMS)["vote_segments"] == 2
        _add_reference(sample_registry, tmp_path, "extra2")

        def cross_device(src: Any, dst: Any) -> None:
            raise OSError(18, "Invalid cross-device link")

        patched.setattr(store.os, "link", cross_device)  # the segments stored before are then copied
        second = _index(sample_registry)  # an extended index extended again
    assert read_manifest(second, PARAMS)["bank_segments"][:2] == read_manifest(first, PARAMS)["bank_segments"]
    assert len(read_manifest(second, PARAMS)["bank_segments"]) == 3
    assert read_manifest(second, PARAMS)["vote_segments"] == 3
    assert os.stat(second / "bank_descriptors.npy").st_nlink == 1
    assert read_manifest(second, PARAMS)["print_segments"] == [*read_manifest(first, PARAMS)["print_segments"], 1]
    assert os.stat(second / "print_hashes.npy").st_nlink == 1
    for a, b in zip(open_index_dir(second, PARAMS).prints, open_index_dir(first, PARAMS).prints, strict=False):
        assert np.array_equal(a.hashes, b.hashes) and np.array_equal(a.timestamps, b.timestamps)
    for directory, count in ((first, 1), (second, 2)):
        manifest = read_manifest(directory, PARAMS)
        assert set(manifest["files"]) | {MANIFEST} == {f.name for f in directory.iterdir()}
        opened = open_index_dir(directory, PARAMS)
        assert opened.footage_count == open_index_dir(first, PARAMS).footage_count + count - 1
        assert [m.key for m in opened.refs][-1].startswith(f"extra{count}-work::")
    # the copies added hold as many hash rows and bank frames as the reference they copy
    opened = open_index_dir(second, PARAMS)
    keys = [m.key for m in opened.refs]
    rows_ref = np.asarray(opened.hash_table()[1])
    bank_ref = np.asarray(opened.bank_ref)
    copied = keys.index("corridor-of-doom::footage/corridor-of-doom-showcase.mp4")
    frames = opened.bank.frames()
    assert isinstance(frames, JoinedFeatures) and len(frames.parts) == 3
    for copy in (len(keys) - 2, len(keys) - 1):
        assert (rows_ref == copy).sum() == (rows_ref == copied).sum() > 0
        assert (bank_ref == copy).sum() == (bank_ref == copied).sum() > 0
        # their frames, each in its own segment, are read back as the copied reference's
        for i, j in zip(np.flatnonzero(bank_ref == copy), np.flatnonzero(bank_ref == copied), strict=True):
            assert np.array_equal(frames[int(i)].descriptors, frames[int(j)].descriptors)
            assert np.array_equal(frames[int(i)].keypoints, frames[int(j)].keypoints)


def test_an_index_whose_bank_search_outgrew_its_centroids_is_built_whole_again(
    sample_registry: Registry, tmp_path: Path, caplog: Any
) -> None:
    before = _index(sample_registry)
    manifest = json.loads((before / MANIFEST).read_text("utf-8"))
    import faiss

    assert isinstance(faiss.read_index_binary(str(before / "bank_votes.faiss")), faiss.IndexBinaryIVF)  # centroids
    assert manifest["bank_trained_rows"] > 2 * 1000  # every row it holds, written by a full build
    manifest["bank_trained_rows"] = 1000  # as if its lists were laid out on far fewer rows than it holds
    (before / MANIFEST).write_text(json.dumps(manifest), "utf-8")
    _add_reference(sample_registry, tmp_path, "extra1")
    caplog.set_level("INFO", logger="provenance.audit.indexdir")
    after = _index(sample_registry)
    assert "due to be built again" in caplog.text and "building the whole reference index" in caplog.text
    rebuilt = read_manifest(after, PARAMS)
    assert rebuilt["bank_trained_rows"] > 1000 and len(rebuilt["footage"]) == len(manifest["footage"]) + 1


@pytest.mark.postgres
def test_a_postgresql_registry_s_index_is_extended_by_an_added_reference(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    get_settings.cache_clear()
    registry = Registry(pg_url)
    try:
        import_manifest_file(registry, SAMPLE / "registry" / "manifest.yaml")
        ensure_fingerprints(registry, PARAMS)
        before = _index(registry)
        _add_reference(registry, tmp_path, "extra1")
        with monkeypatch.context() as patched:
            _refuse_full_builds(patched)
            after = _index(registry)
    finally:
        registry.dispose()
    assert after.parent == before.parent == Path(get_settings().index_dir).resolve() / after.parent.name
    opened = open_index_dir(after, PARAMS)
    assert [m.key for m in opened.refs][:-1] == [m.key for m in open_index_dir(before, PARAMS).refs]
    assert opened.refs[-1].key == "extra1-work::ref.mp4"


def test_the_audio_index_of_an_extended_directory_is_the_full_build_s(tmp_path: Path) -> None:
    """Real game music (frozen-bubble) registered as two songs, a third added: the extended directory's audio
    postings are, array for array, those of the index built of the three in that order, and find the same."""
    from provenance.audit.indexdir import extend_index_dir
    from provenance.engine.audio import AudioParams, fingerprint_audio, match_audio

    from .audiomedia import RATE, SONGS, have_material, load, write_audio

    if not have_material():
        pytest.skip("frozen-bubble-data not installed")
    params = AudioParams()
    songs = [load(SONGS[name], 5.0, 30.0) for name in ("song", "other", "intro")]
    prints = []
    for i, x in enumerate(songs):
        fp = fingerprint_audio(write_audio(tmp_path / f"song{i}.m4a", x), params)
        assert fp is not None
        prints.append(("audio", f"w{i}::song{i}.m4a", "music", fp.to_payload()))
    write_index_dir(PARAMS, prints[:2], tmp_path / "two")
    extend_index_dir(PARAMS, tmp_path / "two", prints[2:], tmp_path / "extended")
    write_index_dir(PARAMS, prints, tmp_path / "full")
    extended, full = open_index_dir(tmp_path / "extended", PARAMS), open_index_dir(tmp_path / "full", PARAMS)
    assert extended.audio.keys == full.audio.keys == [k for _, k, _, _ in prints]
    for name, array in full.audio.arrays().items():
        assert np.array_equal(extended.audio.arrays()[name], array), name
    for i, x in enumerate(songs):
        fp = fingerprint_audio(write_audio(tmp_path / f"clip{i}.m4a", x[8 * RATE : 16 * RATE]), params.for_query())
        assert fp is not None
        a, b = match_audio(fp, full.audio), match_audio(fp, extended.audio)
        assert repr(a) == repr(b) and [m.key for m in a] == [f"w{i}::song{i}.m4a"]


def test_a_copied_registry_with_its_index_folder_opens_the_copy_without_writing(
    sample_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What bench/speed_bench.py's timed scans rely on: a copy of a SQLite registry with the ``DB.index`` folder
    beside it (``audit_bench.copy_db(..., with_index=True)``) is a registry with ready references (its index is
    current, opened as it is); a copy without it has the index written again by its first scan."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    from audit_bench import copy_db
    from proctree import BenchError

    key = match_key(sample_registry, PARAMS)
    original = ensure_index(sample_registry, PARAMS, key)
    assert original is not None
    src = tmp_path / "r.db"
    copy_db(src, tmp_path / "with.db", with_index=True)
    copy_db(src, tmp_path / "without.db")
    stamps = {p.name: p.stat().st_mtime_ns for p in original.iterdir()}
    for name, copied in (("with", True), ("without", False)):
        registry = Registry(f"sqlite:///{tmp_path / f'{name}.db'}")
        try:
            assert (index_root(registry) / key[:32]).is_dir() is copied  # type: ignore[operator]
            directory = ensure_index(registry, PARAMS, key)
            assert directory == tmp_path / f"{name}.db.index" / key[:32]
            written = {p.name: p.stat().st_mtime_ns for p in directory.iterdir()}
            assert (written == stamps) is copied  # copytree keeps the times; a written index has new ones
            assert open_index_dir(directory, PARAMS).footage_count == open_index_dir(original, PARAMS).footage_count
        finally:
            registry.dispose()
    shutil.rmtree(tmp_path / "r.db.index")
    with pytest.raises(BenchError, match=r"r\.db\.index"):
        copy_db(src, tmp_path / "again.db", with_index=True)


def test_a_directory_written_before_segments_opens_as_one_segment(sample_registry: Registry, tmp_path: Path) -> None:
    written = _index(sample_registry)
    old = tmp_path / "format5"
    shutil.copytree(written, old)
    manifest = json.loads((old / MANIFEST).read_text("utf-8"))
    assert manifest["format"] == store.INDEX_FORMAT and manifest["bank_segments"] == [manifest["bank_frames"]]
    assert manifest["print_segments"] == [len(manifest["footage"])]
    del manifest["bank_segments"], manifest["print_segments"]
    (old / MANIFEST).write_text(json.dumps(manifest | {"format": 5}), "utf-8")
    opened, current = open_index_dir(old, PARAMS), open_index_dir(written, PARAMS)
    assert isinstance(opened.bank.frames(), PackedFeatures) and len(opened.bank) == len(current.bank) > 0
    for clip in _clips()[:4]:
        assert repr(match_clip(clip, opened)) == repr(match_clip(clip, current)), clip
    (old / MANIFEST).write_text(
        json.dumps(manifest | {"format": 6, "bank_segments": [manifest["bank_frames"]]}), "utf-8"
    )
    six = open_index_dir(old, PARAMS)  # format 6: its prints in one segment
    assert [len(p.timestamps) for p in six.prints] == [len(p.timestamps) for p in current.prints]
    assert all(np.array_equal(a.hashes, b.hashes) for a, b in zip(six.prints, current.prints, strict=True))
    (old / MANIFEST).write_text(json.dumps(manifest | {"format": 4}), "utf-8")
    with pytest.raises(IndexStoreError, match="another format"):
        open_index_dir(old, PARAMS)


def test_an_extended_vote_search_past_its_segments_is_laid_out_again(
    sample_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bank_module, "VOTE_SEGMENTS", 2)
    _index(sample_registry)
    _add_reference(sample_registry, tmp_path, "extra1")
    first = _index(sample_registry)
    _add_reference(sample_registry, tmp_path, "extra2")
    second = _index(sample_registry)  # a third segment would pass the limit: the added ones are laid out as one
    assert [read_manifest(d, PARAMS)["vote_segments"] for d in (first, second)] == [2, 2]
    opened = open_index_dir(second, PARAMS)
    search = opened.bank._build()[0]
    assert isinstance(search, IVFSegments) and len(search.parts) == 2
    frames = opened.bank.frames()
    assert isinstance(frames, JoinedFeatures) and len(frames.parts) == 3  # the frames' segments are only linked
    rows = sum(min(len(frames[i]), opened.bank.params.vote_features) for i in range(len(frames)))
    assert search.ntotal == rows and int(search.parts[0].ntotal) < rows
    # every vote row of the last reference's frames is in the search (each query finds its own row)
    last = np.flatnonzero(np.asarray(opened.bank_ref) == opened.footage_count - 1)
    assert len(last) > 0
    for i in last[:5]:
        own = frames[int(i)].descriptors[: opened.bank.params.vote_features]
        dist, _ = search_binary(search, own, 1)
        assert (dist == 0).all()


def test_an_index_extended_by_an_asset_alone_links_its_vote_search(sample_registry: Registry, tmp_path: Path) -> None:
    before = _index(sample_registry)
    folder = tmp_path / "logo"
    folder.mkdir()
    shutil.copyfile(sorted((SAMPLE / "registry" / "assets").glob("*.png"))[0], folder / "logo.png")
    (folder / "manifest.yaml").write_text(
        """holders:
  - {id: logo-holder, name: Logo Holder, kind: publisher}
works:
  - id: logo-work
    title: A logo
    holder: logo-holder
    layer: other
    policy: {ai_training: deny}
    references:
      - {path: logo.png, kind: asset}
""",
        "utf-8",
    )
    import_manifest_file(sample_registry, folder / "manifest.yaml")
    after = _index(sample_registry)
    assert after != before
    manifest = read_manifest(after, PARAMS)
    assert manifest["vote_segments"] == 1 and manifest["hash_segments"] == 1  # no vote or hash row added
    assert os.stat(after / "bank_votes.faiss").st_ino == os.stat(before / "bank_votes.faiss").st_ino
    assert os.stat(after / "hashes.faiss").st_ino == os.stat(before / "hashes.faiss").st_ino
    opened = open_index_dir(after, PARAMS)
    assert [m.key for m, _ in opened.assets][-1] == "logo-work::logo.png"
