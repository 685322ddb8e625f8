"""Review decisions (admin, auditor) and disputes: a holder key contests findings on its own works only (403
for another holder's); auditors list and resolve them."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from rightsdb import Registry
from rightsdb.disputes import list_disputes, open_dispute, resolve_dispute, work_holder
from rightsdb.reviews import GenericSpec, list_decisions, record_decision

from .. import deps
from ..auth import ALL, AUDIT, Principal, require
from ..bodies import json_body_spec, read_json
from ..problems import ApiProblem, responses
from ..reviewschemas import DisputeIn, DisputeOut, Resolved, ResolveIn, ReviewIn, ReviewOut

router = APIRouter(tags=["reviews"])

#: Who may open a dispute: a holder (on its own works) and an admin.
DISPUTERS = ("admin", "holder")


def _actor(principal: Principal) -> str:
    return principal.actor + (f" (holder {principal.holder_id})" if principal.is_holder else "")


def _generic(body: ReviewIn | ResolveIn) -> GenericSpec | None:
    if body.reference is None:
        if body.ref_start is not None or body.ref_end is not None:
            raise ApiProblem(422, "invalid", "reference: give the reference with ref_start and ref_end")
        return None
    return GenericSpec(body.reference, body.ref_start, body.ref_end)


@router.post(
    "/reviews",
    response_model=ReviewOut,
    status_code=201,
    responses=responses(401, 403, 404, 413, 415, 422),
    openapi_extra=json_body_spec(ReviewIn),
    summary="Decide on a work in a clip (supersedes the decision in force)",
)
async def create_review(
    request: Request,
    principal: Principal = Depends(require(*AUDIT)),
    registry: Registry = Depends(deps.registry),
) -> dict[str, Any]:
    """`confirmed`, `false_match` or `licensed` (with `licence`) on `work` in the clip `clip`, with a note. A
    `false_match` with `reference` (and `ref_start`, `ref_end`) also marks that stretch of the reference, or the
    whole reference, generic: it is not matched from then on. Applied by every later scan, check and answer."""
    body = await read_json(request, ReviewIn)
    return await run_in_threadpool(
        record_decision,
        registry,
        body.clip,
        body.work,
        body.decision,
        body.note,
        _actor(principal),
        licence=body.licence,
        generic=_generic(body),
    )


@router.get("/reviews", response_model=list[ReviewOut], responses=responses(401, 403, 422), summary="List decisions")
def reviews(
    clip: str | None = Query(default=None, pattern=r"^[0-9a-fA-F]{64}$", description="only this clip (sha256)"),
    work: str | None = Query(default=None, max_length=128, description="only this work"),
    history: bool = Query(default=False, description="superseded decisions too"),
    principal: Principal = Depends(require(*AUDIT)),
    registry: Registry = Depends(deps.registry),
) -> list[dict[str, Any]]:
    """The decisions in force, oldest first (with `history`, every decision ever made)."""
    return list_decisions(registry, clip, work, history=history)


@router.post(
    "/disputes",
    response_model=DisputeOut,
    status_code=201,
    responses=responses(401, 403, 404, 409, 413, 415, 422),
    openapi_extra=json_body_spec(DisputeIn),
    summary="Contest a finding on one of your works (or claim a cleared clip)",
)
async def create_dispute(
    request: Request,
    response: Response,
    principal: Principal = Depends(require(*DISPUTERS)),
    registry: Registry = Depends(deps.registry),
) -> dict[str, Any]:
    """A holder key may dispute its own works only (another holder's: 403). 409 when the same work in the same
    clip has an open dispute already."""
    body = await read_json(request, DisputeIn)
    owner = await run_in_threadpool(work_holder, registry, body.work)
    if principal.is_holder and owner != principal.holder_id:
        raise ApiProblem(403, "forbidden", f"this holder key may only dispute works of holder {principal.holder_id!r}")
    made = await run_in_threadpool(open_dispute, registry, body.clip, body.work, body.note, _actor(principal))
    response.headers["Location"] = f"/v1/disputes?clip={made['clip']}"
    return made


@router.get("/disputes", response_model=list[DisputeOut], responses=responses(401, 403, 422), summary="List disputes")
def disputes(
    status: Literal["open", "resolved"] | None = Query(default=None, description="only disputes in this state"),
    clip: str | None = Query(default=None, pattern=r"^[0-9a-fA-F]{64}$", description="only this clip (sha256)"),
    principal: Principal = Depends(require(*ALL)),
    registry: Registry = Depends(deps.registry),
) -> list[dict[str, Any]]:
    """Disputes, oldest first. A holder key sees its own only."""
    return list_disputes(registry, status, principal.holder_id if principal.is_holder else None, clip)


@router.post(
    "/disputes/{dispute_id}/resolve",
    response_model=Resolved,
    responses=responses(401, 403, 404, 409, 413, 415, 422),
    openapi_extra=json_body_spec(ResolveIn),
    summary="Resolve a dispute into a decision",
)
async def resolve(
    request: Request,
    dispute_id: int = PathParam(ge=1, le=2**62, description="the dispute's id"),
    principal: Principal = Depends(require(*AUDIT)),
    registry: Registry = Depends(deps.registry),
) -> dict[str, Any]:
    """Record the decision on the dispute's clip and work and close the dispute (409 when it is closed)."""
    body = await read_json(request, ResolveIn)
    return await run_in_threadpool(
        resolve_dispute,
        registry,
        dispute_id,
        body.decision,
        body.note,
        _actor(principal),
        licence=body.licence,
        generic=_generic(body),
    )
