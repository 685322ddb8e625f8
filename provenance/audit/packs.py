"""Rights packs: a holder's works, terms (with their history) and reference fingerprints in one file, without
footage, for labs the holder will not hand its footage to.

:func:`build_pack` (``provenance registry pack``) writes what the engine needs of each reference: a footage
reference's stored fingerprint (computed first when missing) and an asset's pixels as the engine loads them
(never the image file), and, with ``thumbnails``, a few small JPEG frames per reference for a reviewer.
:func:`import_pack_file` (``provenance registry import-pack``) checks the file (:mod:`~provenance.audit.packfile`:
checksums, signature, versions) and every blob (a fingerprint that does not parse, an asset that is no image),
then adds it to the registry in one transaction (:func:`rightsdb.packs.import_pack`). A scan matches against pack
references exactly as against footage (:func:`~provenance.audit.references.reference_assets`).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from provenance import __version__
from provenance.audit.packfile import (
    ASSET_ALGORITHM,
    FORMAT,
    FORMAT_VERSION,
    asset_array,
    asset_blob,
    check_target,
    load_private_key,
    load_public_key,
    public_key_from_hex,
    read_pack,
    write_pack,
)
from provenance.audit.references import (
    FOOTAGE_ALGORITHM,
    Progress,
    engine_id,
    ensure_fingerprints,
    load_infos,
    ref_key,
    reference_assets,
)
from provenance.engine import FINGERPRINT_VERSION, EngineParams, FootagePrint
from provenance.errors import DecodeError, PackError, ReferenceChangedError
from provenance.media import frame_at
from rightsdb import ImportReport, Reference, Registry, sha256_file
from rightsdb.packs import (
    PackContent,
    PackInfo,
    StoredPrint,
    holder_pack,
    import_pack,
    parse_pack_works,
    stored_prints,
    stored_thumbnails,
)

__all__ = ["THUMBNAIL_SIDE", "PackSummary", "build_pack", "import_pack_file"]

#: Longer side of a pack's evidence thumbnails (small: what matched, not the footage).
THUMBNAIL_SIDE = 240
THUMBNAIL_QUALITY = 70
#: Thumbnails per footage reference (evenly spread over its duration); an asset gets one.
THUMBNAILS_PER_REFERENCE = 6
MAX_THUMBNAIL_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class PackSummary:
    """What a pack written or imported holds."""

    id: str
    holder: str
    works: int
    references: int
    thumbnails: int
    signer: str | None


def build_pack(
    registry: Registry,
    holder_id: str,
    out: Path,
    *,
    work_ids: list[str] | None = None,
    sign_key: Path | None = None,
    thumbnails: bool = False,
    params: EngineParams | None = None,
    progress: Progress | None = None,
) -> PackSummary:
    """Write the pack of a holder's works (all, or ``work_ids``) to ``out``, atomically; signed with the Ed25519
    private key in ``sign_key`` (PEM) when given."""
    params = params or EngineParams()
    check_target(out)
    key = load_private_key(sign_key) if sign_key is not None else None
    holder, works = holder_pack(registry, holder_id, work_ids)
    if not works:
        raise PackError(f"holder {holder_id} has no works: nothing to pack")
    rows = [ref for _, refs in works for ref in refs]
    sound = next((ref for ref in rows if ref.kind not in ("footage", "asset")), None)
    if sound is not None:  # refused, not left out: a pack that silently lacks a work's song would clear clips
        raise PackError(
            f"reference {sound.path} of work {sound.work_id} is of kind {sound.kind}: rights packs carry footage "
            "and assets only (not yet sound); pack the holder's other works with --work"
        )
    shas = {ref.sha256 for ref in rows}
    ensure_fingerprints(registry, params, progress, contents=shas)
    prints = stored_prints(
        registry, {r.sha256 for r in rows if r.kind == "footage"}, FOOTAGE_ALGORITHM, FINGERPRINT_VERSION
    )
    ids = {r.id for r in rows}
    infos = {k: v for k, v in load_infos(registry).items() if v.reference_id in ids}
    assets = reference_assets(registry, infos)
    members: dict[str, bytes] = {}
    contents: dict[str, dict[str, Any]] = {}
    kept = stored_thumbnails(registry, shas) if thumbnails else {}
    count = 0
    for ref in rows:
        if ref.sha256 in contents:
            continue
        entry: dict[str, Any] = {}
        if ref.kind == "footage":
            fp = prints[ref.sha256]
            names = [f"prints/{ref.sha256}/{part}" for part in ("timestamps", "data", "quality")]
            members.update(zip(names, fp.blobs, strict=True))
            entry["print"] = {
                "algorithm": fp.algorithm,
                "version": fp.version,
                "params": fp.params,
                "count": fp.count,
                "members": names,
            }
            rgba = None
        else:
            rgba = assets[ref_key(ref.work_id, ref.path)]
            members[f"assets/{ref.sha256}.npy"] = asset_blob(rgba)
            entry["asset"] = {
                "algorithm": ASSET_ALGORITHM,
                "version": FINGERPRINT_VERSION,
                "member": f"assets/{ref.sha256}.npy",
            }
        if thumbnails:
            pictures = kept.get(ref.sha256) or _pictures(ref, rgba)
            entry["thumbnails"] = []
            for i, (t, jpeg) in enumerate(pictures):
                name = f"thumbs/{ref.sha256}/{i}.jpg"
                members[name] = jpeg
                entry["thumbnails"].append({"time": t, "member": name})
                count += 1
        contents[ref.sha256] = entry
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fingerprint_version": FINGERPRINT_VERSION,
        "engine": engine_id(),
        "made_by": f"provenance {__version__}",
        "made_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "holder": {"id": holder.id, "name": holder.name, "kind": holder.kind},
        "works": [_work_doc(work) for work, _ in works],
        "contents": contents,
    }
    digest = write_pack(out, manifest, members, key)
    signer = None if key is None else _hex_public(key)
    return PackSummary(digest, holder.id, len(works), len(rows), count, signer)


def _work_doc(work: Any) -> dict[str, Any]:
    return {
        "id": work.id,
        "title": work.title,
        "layer": work.layer,
        "policy": work.policy,
        "history": list(work.history),
        "references": [
            {
                "path": r.path,
                "kind": r.kind,
                "sha256": r.sha256,
                "size_bytes": r.size_bytes,
                "media": {
                    "kind": r.media.kind,
                    "width": r.media.width,
                    "height": r.media.height,
                    "duration_s": r.media.duration_s,
                    "fps": r.media.fps,
                    "frame_count": r.media.frame_count,
                },
            }
            for r in work.references
        ],
    }


def _hex_public(key: Any) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return bytes(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).hex()


def _pictures(ref: Reference, rgba: Any) -> list[tuple[float, bytes]]:
    """A few small JPEGs of a file reference: frames spread over footage (read from the file, checked against its
    sha256 first), or the asset over grey."""
    if rgba is not None:
        im = Image.fromarray(rgba, "RGBA")
        grey = Image.new("RGBA", im.size, (128, 128, 128, 255))
        grey.alpha_composite(im)
        return [(0.0, _jpeg(np.asarray(grey.convert("RGB"))))]
    if ref.pack_id is not None:
        return []  # a pack reference without stored thumbnails: there is no footage to take them from
    location = Path(ref.location)
    if not location.is_file() or sha256_file(location) != ref.sha256:
        raise ReferenceChangedError(
            f"reference {ref.path} of work {ref.work_id}: file {location} is missing or changed"
        )
    n = max(1, min(THUMBNAILS_PER_REFERENCE, math.ceil(ref.duration_s / 2)))
    out: list[tuple[float, bytes]] = []
    for i in range(n):
        t = round(ref.duration_s * (i + 0.5) / n, 3)
        try:
            frame = frame_at(location, t, THUMBNAIL_SIDE)
        except DecodeError:
            frame = None
        if frame is not None:
            out.append((t, _jpeg(frame)))
    return out


def _jpeg(rgb: Any) -> bytes:
    im = Image.fromarray(np.ascontiguousarray(rgb, np.uint8), "RGB")
    im.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=THUMBNAIL_QUALITY)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------------------
# import
# ---------------------------------------------------------------------------------------------------------


def import_pack_file(
    registry: Registry,
    path: Path,
    verify_key: Path | None = None,
    *,
    signer: str | None = None,
    name: str | None = None,
) -> tuple[ImportReport, PackSummary]:
    """Check a pack file completely, then add it to the registry in one transaction (all or nothing; importing it
    again changes nothing). :class:`PackError` (one line naming the file and what failed) for a pack that is not
    intact, not signed by ``verify_key`` (PEM public key file) or ``signer`` (hex) when given, or of another
    fingerprint version. ``name`` names the pack in messages and the history (an upload's file name)."""
    key = load_public_key(verify_key) if verify_key is not None else None
    if signer is not None:
        key = public_key_from_hex(signer)
    name = str(path) if name is None else name
    opened = read_pack(path, key, fingerprint_version=FINGERPRINT_VERSION, name=name)
    doc = opened.manifest
    holder, works = parse_pack_works(name, doc.get("holder"), doc.get("works"))
    try:
        made_at = datetime.fromisoformat(str(doc.get("made_at")))
    except ValueError:
        raise PackError(f"{name}: pack.json: made_at is not an ISO date and time") from None
    contents = doc.get("contents")
    if not isinstance(contents, dict):
        raise PackError(f"{name}: pack.json: field 'contents' is missing or not a mapping")
    prints: dict[tuple[str, str], StoredPrint] = {}
    pictures: list[tuple[str, float, bytes]] = []
    for work in works:
        for ref in work.references:
            where = f"{name}: works ({work.id}): reference {ref.path}"
            entry = contents.get(ref.sha256)
            if not isinstance(entry, dict):
                raise PackError(f"{where}: its content {ref.sha256[:12]} is not in the pack")
            if (ref.sha256, ref.kind) in prints:
                continue
            try:
                prints[(ref.sha256, ref.kind)] = _stored(ref.sha256, ref.kind, entry, opened.members, where)
                pictures.extend(_thumbnails(ref.sha256, entry.get("thumbnails", []), opened.members))
            except (KeyError, TypeError, ValueError) as exc:
                raise PackError(f"{where}: its fingerprint entry is malformed ({exc})") from None
    info = PackInfo(opened.digest, name, FORMAT_VERSION, FINGERPRINT_VERSION, made_at, opened.signer)
    content = PackContent(info, holder, works, tuple(prints.values()), tuple(dict.fromkeys(pictures)))
    report = import_pack(registry, content)
    refs = sum(len(w.references) for w in works)
    return report, PackSummary(opened.digest, holder.id, len(works), refs, len(content.thumbnails), opened.signer)


def _stored(sha: str, kind: str, entry: dict[str, Any], members: dict[str, bytes], where: str) -> StoredPrint:
    """A content's stored form from the pack, parsed once as the engine will (a blob that does not parse is
    refused here, not at the first scan)."""
    if kind == "footage":
        spec = entry["print"]
        if spec["algorithm"] != FOOTAGE_ALGORITHM or spec["version"] != FINGERPRINT_VERSION:
            raise PackError(f"{where}: fingerprint {spec['algorithm']} {spec['version']} is not this engine's")
        blobs = tuple(members[str(m)] for m in spec["members"])
        if len(blobs) != 3:
            raise ValueError("a footage print has 3 members")
        try:
            parsed = FootagePrint.from_payload(*blobs)
        except Exception as exc:  # any parse failure of external bytes: refused, never half-imported
            raise PackError(f"{where}: its fingerprint does not parse ({type(exc).__name__}: {exc})") from None
        if int(spec["count"]) != len(parsed.timestamps):
            raise PackError(f"{where}: its fingerprint's frame count does not match")
        return StoredPrint(
            sha,
            FOOTAGE_ALGORITHM,
            FINGERPRINT_VERSION,
            dict(spec["params"]),
            int(spec["count"]),
            (blobs[0], blobs[1], blobs[2]),
        )
    spec = entry["asset"]
    if spec["algorithm"] != ASSET_ALGORITHM or spec["version"] != FINGERPRINT_VERSION:
        raise PackError(f"{where}: asset form {spec['algorithm']} {spec['version']} is not this engine's")
    blob = members[str(spec["member"])]
    asset_array(blob, where)
    return StoredPrint(sha, ASSET_ALGORITHM, FINGERPRINT_VERSION, {}, 1, (b"", blob, b""))


def _thumbnails(sha: str, items: Any, members: dict[str, bytes]) -> list[tuple[str, float, bytes]]:
    out = []
    for item in items:
        t = float(item["time"])
        data = members[str(item["member"])]
        if not math.isfinite(t) or t < 0 or len(data) > MAX_THUMBNAIL_BYTES or not data.startswith(b"\xff\xd8"):
            raise ValueError(f"thumbnail {item['member']} is not a small JPEG at a time >= 0")
        out.append((sha, round(t, 3), data))
    return out
