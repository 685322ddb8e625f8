"""Authentication (``Authorization: Bearer KEY``) and roles.

- no ``Authorization`` header, another scheme, or a key that is malformed, unknown or revoked: **401** with
  ``WWW-Authenticate: Bearer``;
- a valid key whose role may not use the route: **403**.

Roles: ``admin`` may do everything; ``auditor`` runs scans and checks and reads everything; ``holder``
reads its own holder, its own works, the findings on them and stored clip results showing only the layers of
its own works, nothing else.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool

from rightsdb import Registry
from rightsdb.keys import KeyInfo, verify_key
from rightsdb.validation import control_problem

from .problems import ApiProblem

__all__ = [
    "ADMIN",
    "ALL",
    "AUDIT",
    "KeyCache",
    "Principal",
    "bearer_token",
    "cached_principal",
    "check_parameters",
    "require",
]

ADMIN = ("admin",)
AUDIT = ("admin", "auditor")
ALL = ("admin", "auditor", "holder")

#: How long a verified key is trusted without reading the database again (revocation takes this long at most).
KEY_CACHE_SECONDS = 2.0
_CACHE_MAX = 10_000


class KeyCache:
    """Verified keys for a short while, so a busy client costs one key lookup every couple of seconds, not one
    per request. Only valid keys are kept (unknown ones would let anyone fill the memory)."""

    def __init__(self, ttl: float = KEY_CACHE_SECONDS) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, KeyInfo]] = {}
        self._lock = threading.Lock()

    def cached(self, key: str) -> KeyInfo | None:
        """The key's info when it was verified less than ``ttl`` seconds ago."""
        hit = self._entries.get(self._digest(key))
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        return None

    @staticmethod
    def _digest(key: str) -> str:
        return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()

    def verify(self, registry: Registry, key: str) -> KeyInfo | None:
        """Check the key in the database (blocking) and remember it when it is valid."""
        digest = self._digest(key)
        now = time.monotonic()
        info = verify_key(registry, key)
        with self._lock:
            if info is None:
                self._entries.pop(digest, None)
            else:
                if len(self._entries) >= _CACHE_MAX:
                    self._entries.clear()
                self._entries[digest] = (now, info)
        return info


_bearer = HTTPBearer(auto_error=False, description="An API key made by `provenance keys create`.")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="provenance"'}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, role and, for a holder key, the holder."""

    key_id: str
    role: str
    holder_id: str | None

    @property
    def is_holder(self) -> bool:
        return self.role == "holder"

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}"

    def may_see_holder(self, holder_id: str) -> bool:
        return not self.is_holder or self.holder_id == holder_id


def bearer_token(authorization: str | None) -> str | None:
    """The key of an ``Authorization: Bearer KEY`` header value, as :class:`HTTPBearer` reads it; None for no
    header, another scheme or an empty key."""
    scheme, credentials = get_authorization_scheme_param(authorization)
    if not (authorization and scheme and credentials) or scheme.lower() != "bearer":
        return None
    return credentials


def cached_principal(cache: KeyCache, headers: list[tuple[bytes, bytes]]) -> Principal | None:
    """The caller of a request with these raw (ASGI) headers when its key was verified moments ago (the
    :class:`KeyCache`), without touching the database; None otherwise (no key, a bad one, or one not verified
    lately: the full authentication answers it)."""
    for name, value in headers:
        if name == b"authorization":
            key = bearer_token(value.decode("latin-1"))
            info = cache.cached(key) if key is not None else None
            return Principal(info.id, info.role, info.holder_id) if info is not None else None
    return None


async def _authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if request.headers.get("authorization") is None:
        raise ApiProblem(
            401, "unauthorized", "missing Authorization header: send 'Authorization: Bearer KEY'", headers=_CHALLENGE
        )
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise ApiProblem(401, "unauthorized", "Authorization header must be 'Bearer KEY'", headers=_CHALLENGE)
    cache: KeyCache = request.app.state.key_cache
    info = cache.cached(credentials.credentials)
    if info is None:
        info = await run_in_threadpool(cache.verify, request.app.state.registry, credentials.credentials)
    if info is None:
        raise ApiProblem(
            401,
            "unauthorized",
            "invalid API key (unknown, revoked or malformed)",
            headers={**_CHALLENGE, "WWW-Authenticate": 'Bearer realm="provenance", error="invalid_token"'},
        )
    return Principal(info.id, info.role, info.holder_id)


def check_parameters(request: Request) -> None:
    """Refuse (422, naming the parameter) a path or query parameter holding a control character: no id, filter,
    cursor or reference path has one, and PostgreSQL cannot even compare text with a NUL byte. Checked once the
    caller is authenticated, for every route that needs a key."""
    params = [(k, v) for k, v in request.path_params.items() if isinstance(v, str)]
    params += request.query_params.multi_items()
    for name, value in params:
        problem = control_problem(name) or control_problem(value)
        if problem is not None:
            field = name if control_problem(name) is None else "query"
            raise ApiProblem(422, "invalid", f"{field}: {problem}", errors=[{"field": field, "message": problem}])


def require(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the caller and checks that its role is one of ``roles``."""

    async def dependency(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> Principal:
        principal = await _authenticate(request, credentials)
        if principal.role not in roles:
            needed = " or ".join(roles)
            raise ApiProblem(
                403, "forbidden", f"this route needs a key with role {needed}; this key's role is {principal.role}"
            )
        check_parameters(request)
        return principal

    return dependency
