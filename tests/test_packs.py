"""Rights packs: a holder's works, terms and fingerprints without footage.

The sample registry (real footage) is imported from a copy, fingerprinted, and packed holder by holder; the copy
is then deleted, so the lab that imports the packs has no footage file anywhere. Its scan of the sample dataset must
give the findings the registry itself gives (the session's ``sample_report``). Tampered packs (a byte changed in a
member, in the manifest or in a zip header, a member missing or added, a cut file), bad signatures and packs of
another fingerprint version are refused, naming the file and what failed, with nothing imported.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from sqlmodel import select

from provenance.audit import ensure_fingerprints, scan, write_report
from provenance.audit.manifests import import_manifest_file
from provenance.audit.packfile import FORMAT_VERSION, write_pack
from provenance.audit.packs import build_pack, import_pack_file
from provenance.audit.pages import NO_PACK_FOOTAGE, report_page
from provenance.engine import FINGERPRINT_VERSION, EngineParams
from provenance.errors import PackError, ReferenceChangedError
from provenance.report import Report
from rightsdb import (
    Fingerprint,
    Holder,
    ManifestError,
    NotFoundError,
    Reference,
    Registry,
    RegistryError,
    export_manifest,
    registry_digest,
)
from rightsdb.edit import create_holder, create_work
from rightsdb.models import Pack, PolicyChange, ReferenceThumbnail
from rightsdb.queries import policy_history

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "fixtures" / "sample"
HOLDERS = ("hellgate", "pixelworks", "nightowl", "mapsmith")  # the sample's, in reference order
WITH_THUMBNAILS = ("hellgate", "pixelworks")


def _write_key(folder: Path, name: str) -> tuple[Path, Path]:
    key = Ed25519PrivateKey.generate()
    private = folder / f"{name}.pem"
    public = folder / f"{name}.pub.pem"
    private.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return private, public


@pytest.fixture(scope="module")
def packs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The sample registry packed holder by holder (hellgate's signed), from a copy of its files that is deleted
    afterwards: only the packs remain."""
    root = tmp_path_factory.mktemp("packs")
    holder_side = root / "holder"
    shutil.copytree(SAMPLE / "registry", holder_side / "registry")
    lab = root / "lab"
    lab.mkdir()
    private, public = _write_key(root, "hellgate")
    source = Registry(f"sqlite:///{holder_side / 'source.db'}")
    try:
        import_manifest_file(source, holder_side / "registry" / "manifest.yaml")
        ensure_fingerprints(source, EngineParams(), workers=2)
        with source.session() as session:
            digest = registry_digest(session)
        files: dict[str, Path] = {}
        for holder in HOLDERS:
            files[holder] = lab / f"{holder}.pack"
            build_pack(
                source,
                holder,
                files[holder],
                sign_key=private if holder == "hellgate" else None,
                thumbnails=holder in WITH_THUMBNAILS,
            )
    finally:
        source.dispose()
    shutil.rmtree(holder_side)  # no footage, no asset file left: the lab has the packs only
    return {"files": files, "public": public, "root": root, "digest": digest}


def _import_all(registry: Registry, packs: dict[str, Any]) -> None:
    for holder in HOLDERS:
        import_pack_file(registry, packs["files"][holder], packs["public"] if holder == "hellgate" else None)


def _findings(report: dict[str, Any]) -> dict[str, Any]:
    return {
        c["path"]: (
            c["exposure"],
            c["error"],
            [(la["layer"], la["holder"], la["work"], la["verdict"]) for la in c["layers"]],
        )
        for c in report["clips"]
    }


# --------------------------------------------------------------------------- the same findings as the registry


@pytest.mark.slow
def test_packs_give_the_findings_of_the_registry_they_came_from(
    packs: dict[str, Any], db_url: str, sample_report: dict[str, Any], tmp_path: Path
) -> None:
    lab = Registry(db_url)
    try:
        _import_all(lab, packs)
        with lab.session() as session:
            refs = session.exec(select(Reference)).all()
            assert len(refs) == 7 and all(r.pack_id and r.location == f"pack:{r.pack_id}" for r in refs)
            assert not any(Path(r.location).exists() for r in refs)
            assert registry_digest(session) == packs["digest"]  # the same holders, works, terms and contents
            assert len(session.exec(select(Pack)).all()) == 4
        result = scan(lab, SAMPLE / "dataset", EngineParams())
    finally:
        lab.dispose()
    out = tmp_path / "report.json"
    write_report(result, out)
    got = json.loads(out.read_text())
    assert _findings(got) == _findings(sample_report)
    assert sum(1 for c in got["clips"] if c["layers"]) >= 6  # the sample's flagged clips, not an empty scan
    expected = {c["path"]: c for c in sample_report["clips"]}
    for clip in got["clips"]:
        for mine, theirs in zip(clip["layers"], expected[clip["path"]]["layers"], strict=True):
            assert mine["confidence"] == pytest.approx(theirs["confidence"], abs=0.01)
            assert len(mine["segments"]) == len(theirs["segments"])
            for a, b in zip(mine["segments"], theirs["segments"], strict=True):
                assert a["reference"] == b["reference"]
                for k in ("start", "end", "ref_start", "ref_end"):
                    assert (a[k] is None) == (b[k] is None)
                    if a[k] is not None:
                        assert a[k] == pytest.approx(b[k], abs=0.05), (clip["path"], k)


def test_import_is_idempotent_and_all_or_nothing(packs: dict[str, Any], registry: Registry) -> None:
    _import_all(registry, packs)

    def counts() -> tuple[int, ...]:
        with registry.session() as session:
            return tuple(
                len(session.exec(select(model)).all())
                for model in (Holder, Reference, Fingerprint, PolicyChange, Pack, ReferenceThumbnail)
            )

    before = counts()
    assert before[2] == 7 and before[5] > 0  # 5 footage prints + 2 assets; thumbnails of two holders
    history = policy_history(registry, "freedoom")  # the holder's own history, then the lab's import
    assert history[0]["actor"].startswith("manifest import: ") and history[0]["before"] is None
    assert history[-1]["actor"] == f"pack import: {packs['files']['hellgate']}"
    assert history[-1]["after"] == {"ai_training": "deny", "license": "All rights reserved"}
    report, summary = import_pack_file(registry, packs["files"]["hellgate"], packs["public"])
    assert report.created == {"holders": 0, "works": 0, "references": 0} and not report.changed
    assert summary.signer is not None and counts() == before

    empty = Registry("sqlite://")  # a pack refused at its last check leaves nothing behind
    try:
        bad = packs["root"] / "bad-version.pack"
        _rewrite(packs["files"]["nightowl"], bad, lambda doc: doc.update(fingerprint_version="0.0"))
        with pytest.raises(PackError):
            import_pack_file(empty, bad)
        with empty.session() as session:
            assert session.exec(select(Holder)).all() == [] and session.exec(select(Fingerprint)).all() == []
    finally:
        empty.dispose()


# --------------------------------------------------------------------------- tampering


def _members(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("pack.json"))
        blobs = {n: zf.read(n) for n in zf.namelist() if n not in ("pack.json", "pack.sha256", "pack.sig")}
    manifest.pop("members")
    return manifest, blobs


def _rewrite(src: Path, dst: Path, change: Any) -> None:
    """A pack made again, correctly checksummed, with its manifest changed by ``change`` (an honest old pack)."""
    manifest, blobs = _members(src)
    change(manifest)
    write_pack(dst, manifest, blobs)


def _flip(data: bytearray, at: int) -> None:
    data[at] ^= 0x01


def _offset(path: Path, member: str) -> int:
    """Where a member's data starts in the archive."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    raw = path.read_bytes()
    name_len = int.from_bytes(raw[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(raw[info.header_offset + 28 : info.header_offset + 30], "little")
    return info.header_offset + 30 + name_len + extra_len


def _rezip(
    src: Path,
    dst: Path,
    drop: str | None = None,
    add: tuple[str, bytes] | None = None,
    replace: str | None = None,
    change: Any = lambda data: data[:-1] + bytes([data[-1] ^ 1]),
) -> None:
    """The archive copied member by member (its checksum trailer kept): one member left out, one added, or one's
    content changed (with a correct zip CRC: only the manifest's sha256 can tell)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == replace:
                data = change(data)
            if info.filename != drop:
                zout.writestr(info, data)
        if add is not None:
            zout.writestr(*add)
        zout.comment = zin.comment


def _tampered(kind: str, src: Path, dst: Path) -> str:
    """Tamper with a copy of ``src`` in one way; returns what the refusal must say."""
    raw = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:
        blob = next(n for n in zf.namelist() if n.startswith("prints/") and n.endswith("/data"))
    if kind == "member byte":  # found by the zip's own CRC
        _flip(raw, _offset(src, blob) + 1000)
        expected = f"member {blob} is damaged"
    elif kind == "member rewritten":  # a member changed and its CRC made right: found by the manifest's sha256
        _rezip(src, dst, replace=blob)
        return f"member {blob} does not match its sha256 in the manifest"
    elif kind == "manifest byte":
        at = _offset(src, "pack.json") + raw[_offset(src, "pack.json") :].index(b'"works"') + 2
        _flip(raw, at)
        expected = "member pack.json is damaged"
    elif kind == "manifest rewritten":  # its CRC made right: found by its digest (pack.sha256)
        _rezip(src, dst, replace="pack.json")
        return "the manifest (pack.json) does not match its digest (pack.sha256)"
    elif kind == "header byte":  # the local header's modification time: not part of any member
        with zipfile.ZipFile(src) as zf:
            _flip(raw, zf.getinfo(blob).header_offset + 10)
        expected = "archive's checksum does not match"
    elif kind == "member missing":
        _rezip(src, dst, drop=blob)
        return f"member {blob} listed in the manifest is missing"
    elif kind == "member added":
        _rezip(src, dst, add=("extra/footage.mp4", b"\x00" * 100))
        return "member extra/footage.mp4 is not listed in the manifest"
    elif kind == "cut short":
        raw = raw[: len(raw) // 2]
        expected = "not a rights pack"
    elif kind == "not a zip":
        raw = bytearray(b"holders: []\n" * 20)
        expected = "not a rights pack"
    else:  # the checksum trailer itself
        _flip(raw, len(raw) - 5)
        expected = "archive's checksum does not match"
    dst.write_bytes(bytes(raw))
    return expected


TAMPERING = [
    "member byte",
    "member rewritten",
    "manifest byte",
    "manifest rewritten",
    "header byte",
    "member missing",
    "member added",
    "cut short",
    "not a zip",
    "trailer byte",
]


@pytest.mark.parametrize("kind", TAMPERING)
def test_a_tampered_pack_is_refused(packs: dict[str, Any], kind: str, tmp_path: Path) -> None:
    bad = tmp_path / "tampered.pack"
    expected = _tampered(kind, packs["files"]["nightowl"], bad)
    lab = Registry("sqlite://")
    try:
        with pytest.raises(PackError) as caught:
            import_pack_file(lab, bad)
        with lab.session() as session:
            assert session.exec(select(Holder)).all() == []
    finally:
        lab.dispose()
    message = str(caught.value)
    assert str(bad) in message and expected in message and "\n" not in message


def test_the_cli_refuses_a_tampered_pack_with_one_line_and_exit_2(packs: dict[str, Any], tmp_path: Path) -> None:
    bad = tmp_path / "tampered.pack"
    _tampered("member byte", packs["files"]["pixelworks"], bad)
    db = f"sqlite:///{tmp_path / 'lab.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "provenance", "--db", db, "registry", "import-pack", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(bad) in lines[0] and "damaged" in lines[0]
    good = subprocess.run(
        [sys.executable, "-m", "provenance", "--db", db, "registry", "import-pack", str(packs["files"]["pixelworks"])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert good.returncode == 0, good.stderr
    assert "works created 2" in good.stderr and good.stdout.startswith("registry digest ")
    old = tmp_path / "old.pack"
    _rewrite(packs["files"]["pixelworks"], old, lambda doc: doc.update(fingerprint_version="0.0"))
    refused = subprocess.run(
        [sys.executable, "-m", "provenance", "--db", db, "registry", "import-pack", str(old)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2 and refused.stderr.strip() == (
        f"error: pack {old} was made with fingerprint version 0.0; this engine uses {FINGERPRINT_VERSION}: "
        "ask the holder for a new pack"
    )


# --------------------------------------------------------------------------- signatures


def test_signatures(packs: dict[str, Any], tmp_path: Path) -> None:
    signed, public = packs["files"]["hellgate"], packs["public"]
    _, other_public = _write_key(tmp_path, "other")
    lab = Registry("sqlite://")
    try:
        _, summary = import_pack_file(lab, signed, public)
        assert summary.signer is not None
        with pytest.raises(PackError, match="not by the --verify-key given"):
            import_pack_file(lab, signed, other_public)
        with pytest.raises(PackError, match="is not signed"):
            import_pack_file(lab, packs["files"]["mapsmith"], public)

        forged = tmp_path / "forged.pack"  # one hex digit of the signature changed (the zip's CRC made right)

        def other_digit(data: bytes) -> bytes:
            sig = json.loads(data)
            sig["signature"] = ("1" if sig["signature"][0] != "1" else "2") + sig["signature"][1:]
            return json.dumps(sig).encode()

        _rezip(signed, forged, replace="pack.sig", change=other_digit)
        for key in (public, None):  # a signature that does not verify is refused, key or no key
            with pytest.raises(PackError, match="bad signature") as caught:
                import_pack_file(lab, forged, key)
            assert str(forged) in str(caught.value)

        resigned = tmp_path / "resigned.pack"  # another key's valid signature over a changed manifest
        attacker, _ = _write_key(tmp_path, "attacker")
        from provenance.audit.packfile import load_private_key

        manifest, blobs = _members(signed)
        manifest["works"][0]["policy"]["ai_training"] = "allow"
        write_pack(resigned, manifest, blobs, load_private_key(attacker))
        with pytest.raises(PackError, match="not by the --verify-key given"):
            import_pack_file(lab, resigned, public)
        with pytest.raises(PackError, match="cannot read an Ed25519 public key"):
            import_pack_file(lab, signed, signed)
    finally:
        lab.dispose()


# --------------------------------------------------------------------------- versions


@pytest.mark.parametrize("version", ["0.0", "99.0"])
def test_a_pack_of_another_fingerprint_version_is_refused(packs: dict[str, Any], version: str, tmp_path: Path) -> None:
    old = tmp_path / "old.pack"
    _rewrite(packs["files"]["pixelworks"], old, lambda doc: doc.update(fingerprint_version=version))
    lab = Registry("sqlite://")
    try:
        with pytest.raises(PackError) as caught:
            import_pack_file(lab, old)
    finally:
        lab.dispose()
    assert str(caught.value) == (
        f"pack {old} was made with fingerprint version {version}; this engine uses {FINGERPRINT_VERSION}: "
        "ask the holder for a new pack"
    )
    newer = tmp_path / "newer.pack"
    _rewrite(packs["files"]["pixelworks"], newer, lambda doc: doc.update(format_version=FORMAT_VERSION + 1))
    lab = Registry("sqlite://")
    try:
        with pytest.raises(PackError, match="update provenance"):
            import_pack_file(lab, newer)
    finally:
        lab.dispose()


def test_pack_references_without_prints_of_this_version_stop_the_scan(packs: dict[str, Any], tmp_path: Path) -> None:
    """A registry whose pack was imported by an engine of another fingerprint version (here: its stored forms
    removed) has no file to fingerprint again: the scan stops naming the pack, nothing cleared."""
    lab = Registry(f"sqlite:///{tmp_path / 'lab.db'}")
    try:
        _import_all(lab, packs)
        with lab.write() as session:
            for fp in session.exec(select(Fingerprint)).all():
                session.delete(fp)
        with pytest.raises(ReferenceChangedError, match="comes from rights pack"):
            scan(lab, SAMPLE / "dataset", EngineParams())
    finally:
        lab.dispose()


def test_export_names_pack_references_it_cannot_write(packs: dict[str, Any], tmp_path: Path) -> None:
    lab = Registry("sqlite://")
    try:
        import_pack_file(lab, packs["files"]["mapsmith"])
        with pytest.raises(RegistryError, match=r"comes from rights pack .* has no file"):
            export_manifest(lab, tmp_path / "out.yaml", copy_references=True)
        assert not (tmp_path / "out.yaml").exists()
    finally:
        lab.dispose()


def test_pack_holds_no_footage(packs: dict[str, Any]) -> None:
    """No member is a video or image file of the holder's: prints, asset pixels, and small JPEG thumbnails."""
    sample_files = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (SAMPLE / "registry").rglob("*.*")}
    for holder, path in packs["files"].items():
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            assert {hashlib.sha256(zf.read(n)).hexdigest() for n in names}.isdisjoint(sample_files)
            thumbs = [n for n in names if n.startswith("thumbs/")]
            assert bool(thumbs) == (holder in WITH_THUMBNAILS)
            assert all(zf.getinfo(n).file_size < 64 * 1024 for n in thumbs)
            assert all(n.startswith(("pack.", "prints/", "assets/", "thumbs/")) for n in names)


# --------------------------------------------------------------------------- evidence: what the pack allows


def _embedded(page: str, element_id: str) -> Any:
    m = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.S)
    assert m is not None
    return json.loads(m.group(1))


@pytest.mark.slow
def test_evidence_shows_pack_thumbnails_or_says_the_pack_holds_no_footage(
    packs: dict[str, Any], sample_report: dict[str, Any], tmp_path: Path
) -> None:
    lab = Registry(f"sqlite:///{tmp_path / 'lab.db'}")
    try:
        _import_all(lab, packs)
        page = report_page(Report.model_validate(sample_report), lab)
    finally:
        lab.dispose()
    views = _embedded(page, "evidence-data")["views"]
    with_pictures = without = 0
    for ci, clip in enumerate(sample_report["clips"]):
        for li, layer in enumerate(clip["layers"]):
            for ei, _ in enumerate(layer["evidence"]):
                view = views[f"{ci}:{li}:{ei}"]
                assert "clip_img" in view  # the clip's own frame, from the dataset
                if layer["holder"] in WITH_THUMBNAILS:
                    assert "ref_img" in view and "ref_note" not in view
                    with_pictures += 1
                else:
                    assert view.get("ref_note") == NO_PACK_FOOTAGE and "ref_img" not in view
                    without += 1
    assert with_pictures > 0 and without > 0

    out = tmp_path / "report.html"
    out.write_text(page, encoding="utf-8")
    if not Path("/usr/bin/chromium").is_file():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing: CI must run the HTML report tests")
        pytest.skip("/usr/bin/chromium is not installed")
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 900})
            tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            tab.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            tab.goto(out.as_uri())
            tab.wait_for_selector("body[data-ready='1']", timeout=60_000)
            notes = tab.locator(".placeholder-ref").all_inner_texts()
            loaded = tab.eval_on_selector_all(
                "img.thumb-ref", "imgs => imgs.filter(i => i.complete && i.naturalWidth > 0).length"
            )
        finally:
            browser.close()
    assert not problems, problems
    assert len(notes) == without and all("rights pack, which holds no footage" in n for n in notes)
    assert loaded == with_pictures


# --------------------------------------------------------------------------- what a pack may not do


def test_a_pack_cannot_take_another_holders_work(packs: dict[str, Any], tmp_path: Path) -> None:
    lab = Registry("sqlite://")
    try:
        create_holder(lab, "someone", "Someone Else", "publisher")
        create_work(lab, "freedoom", "Their Freedoom", "someone", "game", {"ai_training": "allow"}, "test")
        with pytest.raises(ManifestError, match=r"works\[0\] \(freedoom\): id: this registry holds work 'freedoom'"):
            import_pack_file(lab, packs["files"]["hellgate"], packs["public"])
        with lab.session() as session:
            assert session.exec(select(Reference)).all() == [] and session.get(Holder, "hellgate") is None
    finally:
        lab.dispose()


def test_packs_name_only_the_holders_own_works_and_pass_on(packs: dict[str, Any], tmp_path: Path) -> None:
    """A lab may pass a holder's works on as a pack again (from the stored prints and pixels, no file), and gets
    the same registry; it cannot pack an unknown holder or another holder's work."""
    lab = Registry(f"sqlite:///{tmp_path / 'lab.db'}")
    again = Registry("sqlite://")
    try:
        _import_all(lab, packs)
        with pytest.raises(NotFoundError, match="no holder with id 'nobody'"):
            build_pack(lab, "nobody", tmp_path / "x.pack")
        with pytest.raises(NotFoundError, match="'pw-pong' is a work of holder 'pixelworks', not 'hellgate'"):
            build_pack(lab, "hellgate", tmp_path / "x.pack", work_ids=["pw-pong"])
        assert not (tmp_path / "x.pack").exists()
        for holder in HOLDERS:
            build_pack(lab, holder, tmp_path / f"{holder}.pack", thumbnails=True)
            import_pack_file(again, tmp_path / f"{holder}.pack")
        with lab.session() as a, again.session() as b:
            assert registry_digest(a) == registry_digest(b) == packs["digest"]
            assert {(f.sha256, f.algorithm, f.data) for f in a.exec(select(Fingerprint)).all()} == {
                (f.sha256, f.algorithm, f.data) for f in b.exec(select(Fingerprint)).all()
            }
    finally:
        lab.dispose()
        again.dispose()


def test_a_fifo_or_folder_is_refused_without_waiting(packs: dict[str, Any], tmp_path: Path) -> None:
    import threading

    fifo = tmp_path / "pack.fifo"
    os.mkfifo(fifo)
    outcomes: list[str] = []

    def attempt(path: Path, key: Path | None) -> None:
        lab = Registry("sqlite://")
        try:
            import_pack_file(lab, path, key)
        except PackError as exc:
            outcomes.append(str(exc))
        finally:
            lab.dispose()

    cases = [(fifo, None), (packs["files"]["hellgate"], fifo), (tmp_path, None)]
    for path, key in cases:
        worker = threading.Thread(target=attempt, args=(path, key), daemon=True)
        worker.start()
        worker.join(30)
        assert not worker.is_alive(), f"import-pack waited on {path} / {key}"
    assert len(outcomes) == 3 and all("not a regular file" in o for o in outcomes), outcomes
    empty = Registry("sqlite://")
    try:
        with pytest.raises(PackError, match="is a folder"):  # checked before any work
            build_pack(empty, "hellgate", tmp_path)
    finally:
        empty.dispose()
