"""Stored findings (one matched work in one clip), filtered, with cursor pagination."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from starlette.datastructures import QueryParams
from starlette.types import Scope

from provenance.report import EXPOSURE_ORDER, LAYERS
from rightsdb.queries import FindingFilter
from rightsdb.validation import control_problem, shown

from ..auth import ALL, Principal, cached_principal, require
from ..problems import ApiProblem, responses
from ..reads import Reads
from ..schemas import FindingPage

router = APIRouter(tags=["findings"])


def encode_cursor(after: int) -> str:
    return base64.urlsafe_b64encode(str(after).encode()).decode().rstrip("=")


#: A finding id as a cursor carries it: ASCII digits, at most 18 (below 2**63, what both databases store).
_CURSOR_ID = re.compile(r"[0-9]{1,18}")
#: A page size as the query gives it: ASCII digits only (``str.isdigit`` takes ``²``, which ``int`` refuses).
_LIMIT = re.compile(r"[0-9]{1,4}")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii") + b"=" * (-len(cursor) % 4)).decode("ascii")
        if not _CURSOR_ID.fullmatch(raw):
            raise ValueError(raw)
        return int(raw)
    except (ValueError, binascii.Error, UnicodeError):
        raise ApiProblem(422, "invalid", "cursor: not a cursor this service gave out (use next_cursor as is)") from None


_LAYERS = LAYERS
_EXPOSURES = EXPOSURE_ORDER


def _param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


#: The query parameters, documented here and read by hand: this is the hot path, and FastAPI's per-parameter
#: validation costs more than the database query.
_PARAMETERS = [
    _param("holder", "only this holder's works", {"type": "string", "maxLength": 128}),
    _param("work", "only this work", {"type": "string", "maxLength": 128}),
    _param("layer", "only this layer", {"type": "string", "enum": list(_LAYERS)}),
    _param("exposure", "only clips of this exposure", {"type": "string", "enum": list(_EXPOSURES)}),
    _param(
        "scan",
        "only this scan (a scan id, or a scan job's id); `api-clip-checks` holds single clip checks",
        {"type": "string", "maxLength": 64},
    ),
    _param("cursor", "next_cursor of the previous page", {"type": "string", "maxLength": 64}),
    _param("limit", "findings per page", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
]


def _invalid(field: str, message: str) -> ApiProblem:
    return ApiProblem(422, "invalid", f"{field}: {message}", errors=[{"field": field, "message": message}])


def _text(query: Any, name: str, limit: int, choices: tuple[str, ...] | None = None) -> str | None:
    value = query.get(name)
    if value is None:
        return None
    if len(value) > limit:
        raise _invalid(name, f"longer than {limit} characters")
    problem = control_problem(value)
    if problem is not None:
        raise _invalid(name, problem)
    if choices is not None and value not in choices:
        raise _invalid(name, f"{shown(value, 20)} is not one of: {', '.join(choices)}")
    return str(value)


def _limit(query: Any) -> int:
    raw = query.get("limit")
    if raw is None:
        return 100
    if not _LIMIT.fullmatch(raw.strip()) or not 1 <= int(raw) <= 1000:
        raise _invalid("limit", f"{shown(raw, 20)} is not an integer from 1 to 1000")
    return int(raw)


def parse_query(query: Mapping[str, str], principal: Principal) -> tuple[FindingFilter, int | None, int]:
    """The filter, cursor and page size a finding query asks for; :class:`ApiProblem` (422, or 403 for a holder
    key asking for another holder) when it may not."""
    holder = _text(query, "holder", 128)
    flt = FindingFilter(
        holder,
        _text(query, "work", 128),
        _text(query, "layer", 16, _LAYERS),
        _text(query, "exposure", 16, _EXPOSURES),
        _text(query, "scan", 64),
    )
    cursor = _text(query, "cursor", 64)
    limit = _limit(query)
    if principal.is_holder:
        if holder is not None and holder != principal.holder_id:
            raise ApiProblem(403, "forbidden", f"this holder key may only see holder {principal.holder_id!r}")
        flt = replace(flt, holder=principal.holder_id)
    after = decode_cursor(cursor) if cursor is not None else None
    return flt, after, limit


async def page_response(reads: Reads, flt: FindingFilter, after: int | None, limit: int) -> Response:
    """The page as the documented schema (FindingPage) says, built as plain data and encoded in one call,
    without revalidation."""
    items, next_after = await reads.findings(flt, after, limit)
    page = {"items": items, "next_cursor": encode_cursor(next_after) if next_after is not None else None}
    return Response(orjson.dumps(page), media_type="application/json")


#: The route's path, as :func:`fast_response` serves it.
PATH = "/v1/findings"


@router.get(
    "/findings",
    response_model=FindingPage,
    responses=responses(401, 403, 422),
    summary="Query findings",
    openapi_extra={"parameters": _PARAMETERS},
)
async def findings(request: Request, principal: Principal = Depends(require(*ALL))) -> Response:
    """Findings stored by scans and clip checks, oldest first. A holder key sees findings on its own works
    only (asking for another holder's is 403)."""
    flt, after, limit = parse_query(request.query_params, principal)
    return await page_response(request.app.state.reads, flt, after, limit)


async def fast_response(state: Any, scope: Scope) -> Response | None:
    """The answer to ``GET /v1/findings`` without FastAPI's routing, dependencies and middleware, when the
    request is an ordinary one: a key verified moments ago (see :class:`KeyCache`), valid parameters, a
    database that answers. The answer is the route's own (the same parsing, query and encoding). Anything
    else gives None, and the full application answers the request from the start: the same authentication,
    errors and problem details as always."""
    principal = cached_principal(state.key_cache, scope["headers"])
    if principal is None or principal.role not in ALL:
        return None
    try:
        flt, after, limit = parse_query(QueryParams(scope["query_string"]), principal)
        return await page_response(state.reads, flt, after, limit)
    except Exception:  # an error: answered by the full application, which renders it as a problem
        return None
