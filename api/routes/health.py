"""``/healthz`` (the process answers) and ``/readyz`` (the database answers and its schema is current)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy import text

from rightsdb import Registry, head_revision

from .. import deps
from ..problems import ApiProblem, responses
from ..schemas import Readiness, Status

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Status, summary="Liveness: the process answers")
def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses=responses(503),
    summary="Readiness: the database answers and its schema is current",
)
def readyz(registry: Registry = Depends(deps.registry)) -> dict[str, Any]:
    try:
        with registry.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = registry.current_revision()
    except Exception as exc:
        raise ApiProblem(503, "unavailable", f"database unavailable: {' '.join(str(exc).split())[:300]}") from None
    head = head_revision()
    if current != head:
        raise ApiProblem(
            503, "unavailable", f"database schema is {current}, this version needs {head}: run `provenance db upgrade`"
        )
    return {"status": "ready", "database": registry.dialect, "schema": current}
