"""The rights pack file: one zip archive, versioned, checksummed member by member and as a whole, optionally
signed with Ed25519. It knows nothing of the registry: members in, members out, every check on the way in.

Layout (every member stored uncompressed, in this order)::

    pack.json           the manifest: format, format_version, fingerprint_version, the holder, its works (terms,
                        history, references), what each content's fingerprint, asset and thumbnails are, and
                        ``members``: the sha256 of every other member by name
    pack.sha256         the sha256 of pack.json (hex): the pack's id
    pack.sig            (signed packs) {"algorithm": "ed25519", "public_key": hex, "signature": hex} over the line
                        ``provenance-rights-pack manifest sha256 <digest>``
    prints/..., assets/..., thumbs/...   the blobs the manifest lists

The archive's comment (the last bytes of the file) is ``provenance-rights-pack sha256=<hex>``: the sha256 of
every byte before the comment's length field, so a byte changed anywhere (a header, a timestamp, padding), not
only in a member, is found. :func:`read_pack` refuses a pack whose any check fails with :class:`PackError`, one
line naming the file and what failed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from provenance.errors import PackError
from provenance.media.files import open_regular

__all__ = [
    "ASSET_ALGORITHM",
    "FORMAT",
    "FORMAT_VERSION",
    "OpenedPack",
    "asset_array",
    "asset_blob",
    "check_target",
    "load_private_key",
    "load_public_key",
    "public_key_from_hex",
    "read_pack",
    "write_pack",
]

FORMAT = "provenance-rights-pack"
#: Bumped when the layout or the manifest's fields change incompatibly (older and newer ones are refused).
FORMAT_VERSION = 1
#: The stored form of an asset reference (its RGBA pixels, as the engine loads them), in ``fingerprints``.
ASSET_ALGORITHM = "provenance-asset"
MANIFEST = "pack.json"
DIGEST = "pack.sha256"
SIGNATURE = "pack.sig"
_TRAILER = FORMAT.encode() + b" sha256="
_TRAILER_LEN = len(_TRAILER) + 64
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
MAX_MEMBER_BYTES = 2 * 1024 * 1024 * 1024
MAX_MEMBERS = 1_000_000
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _signed_line(digest: str) -> bytes:
    return f"{FORMAT} manifest sha256 {digest}".encode("ascii")


# ---------------------------------------------------------------------------------------------------------
# keys
# ---------------------------------------------------------------------------------------------------------


def load_private_key(path: Path) -> Any:
    """An Ed25519 private key from a PEM file (unencrypted PKCS#8, as ``openssl genpkey -algorithm ed25519``)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(_small_file(path), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise PackError(f"{path}: cannot read an Ed25519 private key (PEM, unencrypted): {_first(exc)}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise PackError(f"{path}: not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Any:
    """An Ed25519 public key from a PEM file (``openssl pkey -in KEY.pem -pubout``)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(_small_file(path))
    except (OSError, ValueError, TypeError) as exc:
        raise PackError(f"{path}: cannot read an Ed25519 public key (PEM): {_first(exc)}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise PackError(f"{path}: not an Ed25519 public key")
    return key


def public_key_from_hex(text: str) -> Any:
    """An Ed25519 public key given as its 32 raw bytes in hex (as ``pack.sig`` and the import's output show it)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text.strip()))
    except ValueError:
        raise PackError(f"signer: {text[:80]!r} is not an Ed25519 public key (64 hex digits)") from None


def _small_file(path: Path) -> bytes:
    """A key file's bytes: a regular file only (a FIFO is never waited on), at most 64 KiB."""
    with open_regular(path) as fh:
        data = fh.read(64 * 1024 + 1)
    if len(data) > 64 * 1024:
        raise ValueError("larger than 64 KiB: not a key file")
    return data


def _raw_public(key: Any) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return bytes(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hex()


# ---------------------------------------------------------------------------------------------------------
# assets
# ---------------------------------------------------------------------------------------------------------


def asset_blob(rgba: npt.NDArray[np.uint8]) -> bytes:
    """An asset's pixels (RGBA uint8, as :func:`provenance.engine.load_asset` gives them) as ``.npy`` bytes."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(rgba, np.uint8), allow_pickle=False)
    return buf.getvalue()


def asset_array(blob: bytes, where: str) -> npt.NDArray[np.uint8]:
    """The pixels of :func:`asset_blob`; :class:`PackError` naming ``where`` when they are not an RGBA image."""
    try:
        arr = np.load(io.BytesIO(blob), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise PackError(f"{where}: asset is not a stored image ({_first(exc)})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 4:
        raise PackError(f"{where}: asset is not an RGBA uint8 image")
    if not (8 <= arr.shape[0] <= 16384 and 8 <= arr.shape[1] <= 16384):
        raise PackError(f"{where}: asset of {arr.shape[1]}x{arr.shape[0]} pixels is out of range")
    return arr


# ---------------------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------------------


def check_target(out: Path) -> Path:
    """Where a pack is to be written, checked before any work: not a folder, in a folder that exists."""
    out = Path(out)
    if out.is_dir():
        raise PackError(f"{out}: is a folder; give the pack file's name (--out FILE.pack)")
    if not out.resolve().parent.is_dir():
        raise PackError(f"{out}: cannot write there: folder {out.resolve().parent} does not exist")
    return out


def write_pack(out: Path, manifest: dict[str, Any], members: dict[str, bytes], sign_key: Any = None) -> str:
    """Write the pack atomically (a temporary file beside ``out``, then renamed); returns its id (the manifest's
    sha256). ``manifest`` gets ``members`` (the sha256 of each blob) added."""
    doc = dict(manifest, members={name: hashlib.sha256(data).hexdigest() for name, data in members.items()})
    text = json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False).encode("utf-8")
    digest = hashlib.sha256(text).hexdigest()
    head: list[tuple[str, bytes]] = [(MANIFEST, text), (DIGEST, (digest + "\n").encode("ascii"))]
    if sign_key is not None:
        sig = {
            "algorithm": "ed25519",
            "public_key": _raw_public(sign_key.public_key()),
            "signature": bytes(sign_key.sign(_signed_line(digest))).hex(),
        }
        head.append((SIGNATURE, json.dumps(sig, sort_keys=True).encode("ascii")))
    out = check_target(out)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".pack-", suffix=".tmp", dir=out.resolve().parent)
    except OSError as exc:
        raise PackError(f"{out}: cannot write there: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w+b") as fh:
            with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                for name, data in [*head, *sorted(members.items())]:
                    info = zipfile.ZipInfo(name, _EPOCH)
                    info.external_attr = 0o644 << 16
                    zf.writestr(info, data)
            fh.seek(-2, os.SEEK_END)  # the comment's length field (empty comment): replaced by the trailer's
            fh.truncate()
            whole = _hash_prefix(fh, os.fstat(fh.fileno()).st_size)
            trailer = _TRAILER + whole.encode("ascii")
            fh.seek(0, os.SEEK_END)
            fh.write(len(trailer).to_bytes(2, "little") + trailer)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as any file the user writes (mkstemp's is private)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest


def _hash_prefix(fh: Any, length: int) -> str:
    h = hashlib.sha256()
    fh.seek(0)
    left = length
    while left > 0:
        chunk = fh.read(min(left, 1 << 20))
        if not chunk:
            break
        h.update(chunk)
        left -= len(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenedPack:
    """A pack that passed every check: its id, manifest, signer (hex public key, when signed) and members."""

    digest: str
    manifest: dict[str, Any]
    signer: str | None
    members: dict[str, bytes]


def read_pack(path: Path, verify_key: Any = None, *, fingerprint_version: str, name: str | None = None) -> OpenedPack:
    """Open a pack and check everything: the manifest's digest, the signature (with ``verify_key``: it must be
    signed by that key; without one a signature present must still verify), the format version, the fingerprint
    version, every member against its listed sha256 (none missing, none added), and the whole archive against its
    checksum. :class:`PackError` (``"PACK: what failed"``, the pack named ``name``, else its path) at the first
    that fails."""
    name = str(path) if name is None else name
    try:
        with open_regular(path) as fh:  # a FIFO or a device is refused, never waited on
            size = os.fstat(fh.fileno()).st_size
            if size < _TRAILER_LEN + 24:
                raise PackError(f"{name}: not a rights pack (too short)")
            fh.seek(size - _TRAILER_LEN - 2)
            tail = fh.read()
            declared = int.from_bytes(tail[:2], "little")
            trailer = tail[2:]
            if declared != _TRAILER_LEN or not trailer.startswith(_TRAILER):
                raise PackError(f"{name}: not a rights pack, or its end was changed (no pack checksum at its end)")
            whole = trailer[len(_TRAILER) :].decode("ascii", "replace")
            opened = _read_members(name, fh, verify_key, fingerprint_version)
            if _hash_prefix(fh, size - _TRAILER_LEN - 2) != whole:
                raise PackError(f"{name}: the archive's checksum does not match: the file was changed or damaged")
    except FileNotFoundError:
        raise PackError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise PackError(f"{name}: is a folder, not a rights pack") from None
    except OSError as exc:
        raise PackError(f"{name}: cannot read: {exc.strerror or exc}") from None
    return opened


def _read_members(name: str, fh: Any, verify_key: Any, fingerprint_version: str) -> OpenedPack:
    try:
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise PackError(f"{name}: not a rights pack (not a readable zip archive: {_first(exc)})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise PackError(f"{name}: more than {MAX_MEMBERS} members")
        names = [i.filename for i in infos]
        seen: set[str] = set()
        for n in names:
            if n in seen:
                raise PackError(f"{name}: member {n} appears twice")
            seen.add(n)
        for required in (MANIFEST, DIGEST):
            if required not in seen:
                raise PackError(f"{name}: member {required} is missing: not a rights pack, or it was cut")
        text = _member(name, zf, MANIFEST, MAX_MANIFEST_BYTES)
        digest = hashlib.sha256(text).hexdigest()
        if _member(name, zf, DIGEST, 128).decode("ascii", "replace").strip() != digest:
            raise PackError(f"{name}: the manifest ({MANIFEST}) does not match its digest ({DIGEST}): it was changed")
        signer = _check_signature(name, zf, seen, digest, verify_key)
        try:
            doc = json.loads(text.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise PackError(f"{name}: {MANIFEST} is not JSON: {_first(exc)}") from None
        _check_versions(name, doc, fingerprint_version)
        listed = doc.get("members")
        if not isinstance(listed, dict) or not all(isinstance(v, str) for v in listed.values()):
            raise PackError(f"{name}: {MANIFEST}: field 'members' is missing or not a mapping of sha256 digests")
        present = seen - {MANIFEST, DIGEST, SIGNATURE}
        for missing in sorted(set(listed) - present):
            raise PackError(f"{name}: member {missing} listed in the manifest is missing")
        for extra in sorted(present - set(listed)):
            raise PackError(f"{name}: member {extra} is not listed in the manifest (a member was added)")
        members: dict[str, bytes] = {}
        for member in names:
            if member in listed:
                data = _member(name, zf, member, MAX_MEMBER_BYTES)
                if hashlib.sha256(data).hexdigest() != listed[member]:
                    raise PackError(f"{name}: member {member} does not match its sha256 in the manifest (changed)")
                members[member] = data
    return OpenedPack(digest, doc, signer, members)


def _member(name: str, zf: zipfile.ZipFile, member: str, limit: int) -> bytes:
    info = zf.getinfo(member)
    if info.file_size > limit:
        raise PackError(f"{name}: member {member} is larger than {limit} bytes")
    try:
        return zf.read(info)
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, NotImplementedError) as exc:
        raise PackError(f"{name}: member {member} is damaged ({_first(exc)})") from None


def _check_signature(name: str, zf: zipfile.ZipFile, seen: set[str], digest: str, verify_key: Any) -> str | None:
    if SIGNATURE not in seen:
        if verify_key is not None:
            raise PackError(f"{name}: the pack is not signed, but --verify-key asks for its holder's signature")
        return None
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        sig = json.loads(_member(name, zf, SIGNATURE, 4096).decode("ascii"))
        if sig.get("algorithm") != "ed25519":
            raise ValueError(f"algorithm {sig.get('algorithm')!r}")
        public = bytes.fromhex(sig["public_key"])
        signature = bytes.fromhex(sig["signature"])
        Ed25519PublicKey.from_public_bytes(public).verify(signature, _signed_line(digest))
    except InvalidSignature:
        raise PackError(f"{name}: bad signature: {SIGNATURE} does not verify the manifest's digest") from None
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as exc:
        raise PackError(f"{name}: bad signature: {SIGNATURE} is unreadable ({_first(exc)})") from None
    if verify_key is not None and public.hex() != _raw_public(verify_key):
        raise PackError(f"{name}: bad signature: signed by key {public.hex()[:16]}..., not by the --verify-key given")
    return public.hex()


def _check_versions(name: str, doc: Any, fingerprint_version: str) -> None:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise PackError(f"{name}: {MANIFEST} is not a rights pack manifest (format is not {FORMAT!r})")
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise PackError(
            f"{name}: pack format version {version!r}, this provenance reads version {FORMAT_VERSION}: "
            + ("update provenance" if isinstance(version, int) and version > FORMAT_VERSION else "ask for a new pack")
        )
    made = doc.get("fingerprint_version")
    if made != fingerprint_version:
        raise PackError(
            f"pack {name} was made with fingerprint version {made}; this engine uses {fingerprint_version}: "
            "ask the holder for a new pack"
        )


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
