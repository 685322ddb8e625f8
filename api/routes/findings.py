"""Stored findings (one matched work in one clip), filtered, with cursor pagination."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from rightsdb import Registry
from rightsdb.queries import FindingFilter, FindingRow, find_findings

from .. import deps
from ..auth import ALL, Principal, require
from ..problems import ApiProblem, responses
from ..schemas import FindingPage

router = APIRouter(tags=["findings"])


def encode_cursor(after: int) -> str:
    return base64.urlsafe_b64encode(str(after).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        if not raw.isdigit():
            raise ValueError(raw)
        return int(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiProblem(422, "invalid", "cursor: not a cursor this service gave out (use next_cursor as is)"
                         ) from None


_LAYERS = ("game", "stream", "ugc", "other")
_EXPOSURES = ("none", "low", "medium", "high")


def _param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


#: The query parameters, documented here and read by hand: this is the hot path, and FastAPI's per-parameter
#: validation costs more than the database query.
_PARAMETERS = [
    _param("holder", "only this holder's works", {"type": "string", "maxLength": 128}),
    _param("work", "only this work", {"type": "string", "maxLength": 128}),
    _param("layer", "only this layer", {"type": "string", "enum": list(_LAYERS)}),
    _param("exposure", "only clips of this exposure", {"type": "string", "enum": list(_EXPOSURES)}),
    _param("scan", "only this scan (a scan id, or a scan job's id); `api-clip-checks` holds single clip checks",
           {"type": "string", "maxLength": 64}),
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
    if choices is not None and value not in choices:
        raise _invalid(name, f"{value!r} is not one of: {', '.join(choices)}")
    return str(value)


def _limit(query: Any) -> int:
    raw = query.get("limit")
    if raw is None:
        return 100
    if not raw.strip().isdigit() or not 1 <= int(raw) <= 1000:
        raise _invalid("limit", f"{raw!r} is not an integer from 1 to 1000")
    return int(raw)


@router.get("/findings", response_model=FindingPage, responses=responses(401, 403, 422), summary="Query findings",
            openapi_extra={"parameters": _PARAMETERS})
async def findings(request: Request, principal: Principal = Depends(require(*ALL)),
                   registry: Registry = Depends(deps.registry)) -> Response:
    """Findings stored by scans and clip checks, oldest first. A holder key sees findings on its own works
    only (asking for another holder's is 403)."""
    q = request.query_params
    holder = _text(q, "holder", 128)
    flt = FindingFilter(holder, _text(q, "work", 128), _text(q, "layer", 16, _LAYERS),
                        _text(q, "exposure", 16, _EXPOSURES), _text(q, "scan", 64))
    cursor = _text(q, "cursor", 64)
    limit = _limit(q)
    if principal.is_holder:
        if holder is not None and holder != principal.holder_id:
            raise ApiProblem(403, "forbidden", f"this holder key may only see holder {principal.holder_id!r}")
        flt = replace(flt, holder=principal.holder_id)
    after = decode_cursor(cursor) if cursor is not None else None
    rows, next_after = await run_in_threadpool(_query, registry, flt, after, limit)
    page = {
        "items": [{"id": r.id, "scan": r.scan,
                   "clip": {"path": r.path, "sha256": r.sha256, "exposure": r.exposure, "duration_s": r.duration_s},
                   "layer": r.layer, "holder": r.holder, "work": r.work, "ai_training": r.ai_training,
                   "confidence": r.confidence, "segments": r.segments} for r in rows],
        "next_cursor": encode_cursor(next_after) if next_after is not None else None,
    }
    # built here to the documented schema (FindingPage) and encoded in one call, without revalidation
    return Response(json.dumps(page, separators=(",", ":")), media_type="application/json")


def _query(registry: Registry, flt: FindingFilter, after: int | None, limit: int
           ) -> tuple[list[FindingRow], int | None]:
    if flt.scan is not None:
        flt = replace(flt, scan=_scan_id(registry, flt.scan))
    return find_findings(registry, flt, after, limit)


def _scan_id(registry: Registry, scan: str) -> str:
    """A scan job's id stands for the scan it ran."""
    from rightsdb.models import ScanJob

    with registry.session() as session:
        job = session.get(ScanJob, scan)
    return job.scan_id if job is not None and job.scan_id else scan
