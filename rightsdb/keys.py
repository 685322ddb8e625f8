"""API keys of the HTTP service: created with a role (and a holder for ``holder`` keys), stored hashed.

A key reads ``prov_<id>_<secret>``: ``id`` (12 hex digits) names the row, ``secret`` (43 URL-safe
characters, 256 random bits) is checked against the stored sha256 in constant time. The whole key is
returned once by :func:`create_key` and never stored; a lost key is revoked and replaced. A plain sha256
suffices for a 256-bit random secret (no dictionary to attack), and it keeps checking a key per request
cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlmodel import col, select

from ._errors import NotFoundError, RegistryError
from .models import ApiKey, ApiRole, Holder, utcnow
from .store import Registry

__all__ = ["KEY_PREFIX", "KeyInfo", "create_key", "list_keys", "parse_key", "revoke_key", "verify_key"]

KEY_PREFIX = "prov_"
_KEY = re.compile(r"^prov_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What a key may do: its id, role and (for a holder key) the holder it speaks for."""

    id: str
    role: str
    holder_id: str | None
    name: str | None = None
    revoked: bool = False


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def parse_key(key: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed key, else None."""
    m = _KEY.match(key.strip())
    return (m.group(1), m.group(2)) if m else None


def create_key(
    registry: Registry, role: str, holder_id: str | None = None, name: str | None = None
) -> tuple[KeyInfo, str]:
    """Create a key; returns its info and the key itself (to show once).

    ``role`` is ``admin``, ``auditor`` or ``holder``; a holder key needs ``holder_id`` (an existing holder),
    the others must not have one.
    """
    if role not in {r.value for r in ApiRole}:
        raise RegistryError(f"role: {role!r} is not one of: {', '.join(r.value for r in ApiRole)}")
    if role == ApiRole.holder and not holder_id:
        raise RegistryError("holder: a holder key needs --holder ID (the holder whose works it may see)")
    if role != ApiRole.holder and holder_id:
        raise RegistryError(f"holder: only holder keys are bound to a holder, not {role} keys")
    if name is not None and len(name) > 256:
        raise RegistryError("name: longer than 256 characters")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with registry.write() as session:
        if holder_id is not None and session.get(Holder, holder_id) is None:
            raise NotFoundError(f"holder: no holder with id {holder_id!r}")
        session.add(ApiKey(id=key_id, secret_sha256=_digest(secret), role=role, holder_id=holder_id, name=name))
    return KeyInfo(key_id, role, holder_id, name), f"{KEY_PREFIX}{key_id}_{secret}"


def verify_key(registry: Registry, key: str) -> KeyInfo | None:
    """The key's info when it is well formed, known, not revoked and its secret matches; else None."""
    parsed = parse_key(key)
    if parsed is None:
        return None
    key_id, secret = parsed
    with registry.session() as session:
        row = session.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_sha256, _digest(secret)):
        return None
    return KeyInfo(row.id, row.role, row.holder_id, row.name)


def list_keys(registry: Registry) -> list[tuple[KeyInfo, str]]:
    """Every key (never its secret) with its creation time (ISO 8601), oldest first."""
    with registry.session() as session:
        rows = session.exec(select(ApiKey).order_by(col(ApiKey.created_at), col(ApiKey.id))).all()
    return [
        (KeyInfo(r.id, r.role, r.holder_id, r.name, r.revoked_at is not None), r.created_at.isoformat()) for r in rows
    ]


def revoke_key(registry: Registry, key_id: str) -> None:
    """Revoke a key by id (a running service trusts a verified key for up to 2 s more); revoking twice is
    harmless."""
    with registry.write() as session:
        row = session.get(ApiKey, key_id)
        if row is None:
            raise NotFoundError(f"key: no key with id {key_id!r}")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            session.add(row)
