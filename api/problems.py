"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the service answers is one JSON object: ``type`` (``about:blank``: the status says what
happened), ``title`` (the status's phrase), ``status``, ``detail`` (one line naming the field, file or
entry at fault), ``instance`` (the request path) and ``code`` (a stable machine-readable slug). Validation
errors add ``errors``: one ``{"field", "message"}`` per problem. HTTP status codes are chosen here and in
the routes only.
"""

from __future__ import annotations

import logging
import sqlite3
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from provenance import EmptyRegistryError, NotMediaError, ProvenanceError, ReferenceChangedError
from provenance.dataset import SourceError
from rightsdb import ConflictError, ManifestError, NotFoundError, RegistryError, StoreError, store_fault

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    """An error (RFC 9457 problem details)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Forbidden",
                    "status": 403,
                    "detail": "this route needs an admin key; this key's role is auditor",
                    "instance": "/v1/holders",
                    "code": "forbidden",
                }
            ]
        },
    )

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    code: str
    errors: list[dict[str, str]] | None = Field(default=None, description="per-field problems (422 only)")


class ApiProblem(Exception):
    """Raised by routes and dependencies: answered as a problem with this status, code and detail."""

    def __init__(
        self, status: int, code: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers
        self.extra = extra


def problem_response(
    request: Request, status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": " ".join(detail.split()) or HTTPStatus(status).phrase,
        "instance": request.url.path,
        "code": code,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "internal",
    503: "unavailable",
}


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem details."""

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(request, exc.status, exc.code, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such route: {request.method} {request.url.path}"
        headers = dict(exc.headers) if exc.headers else None
        return problem_response(request, exc.status_code, _CODES.get(exc.status_code, "error"), detail, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(e.get("loc", ())), "message": str(e.get("msg", "invalid"))} for e in exc.errors()]
        first = errors[0] if errors else {"field": "body", "message": "invalid request"}
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return problem_response(request, 422, "invalid", f"{first['field']}: {first['message']}{more}", errors=errors)

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        return problem_response(request, 404, "not_found", str(exc))

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> JSONResponse:
        log.error("database error on %s %s: %s", request.method, request.url.path, exc)
        return problem_response(request, 503, "database", f"database unavailable: {exc}")

    @app.exception_handler(ManifestError)
    async def _manifest(request: Request, exc: ManifestError) -> JSONResponse:
        return problem_response(request, 422, "invalid", str(exc))

    @app.exception_handler(ConflictError)
    async def _conflict(request: Request, exc: ConflictError) -> JSONResponse:
        return problem_response(request, 409, "conflict", str(exc))

    @app.exception_handler(NotMediaError)
    async def _not_media(request: Request, exc: NotMediaError) -> JSONResponse:
        return problem_response(request, 415, "not_media", str(exc))

    @app.exception_handler(RegistryError)
    async def _registry(request: Request, exc: RegistryError) -> JSONResponse:
        return problem_response(request, 422, "invalid", str(exc))

    @app.exception_handler(SourceError)
    async def _source(request: Request, exc: SourceError) -> JSONResponse:
        return problem_response(request, 422, "invalid_dataset", str(exc))

    @app.exception_handler(EmptyRegistryError)
    async def _empty_registry(request: Request, exc: EmptyRegistryError) -> JSONResponse:
        # fail-safe: a registry without references would clear every clip; the registry's state conflicts
        return problem_response(request, 409, "empty_registry", str(exc))

    @app.exception_handler(ReferenceChangedError)
    async def _reference_changed(request: Request, exc: ReferenceChangedError) -> JSONResponse:
        return problem_response(request, 409, "reference_changed", str(exc))

    @app.exception_handler(ProvenanceError)
    async def _provenance(request: Request, exc: ProvenanceError) -> JSONResponse:
        return problem_response(request, 422, "invalid", str(exc))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return problem_response(request, 500, "internal", f"internal error: {type(exc).__name__}")

    async def _database(request: Request, exc: Exception) -> JSONResponse:
        fault = store_fault(exc)
        if fault is None:  # not the database's own fault (a bug, a constraint): an internal error
            return await _internal(request, exc)
        return await _store(request, fault)  # read-only, full, locked, unreachable: 503, as any StoreError

    app.add_exception_handler(DBAPIError, _database)
    app.add_exception_handler(sqlite3.Error, _database)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error statuses (problem details)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {
            "description": HTTPStatus(status).phrase,
            "model": Problem,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return out
