"""Holders and works: reads for every role (a holder key sees its own only), writes for admins."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from provenance.audit import Checker, add_reference_file
from rightsdb import Registry, edit
from rightsdb.queries import get_work, list_holders, list_works, policy_history

from .. import deps
from ..auth import ADMIN, ALL, Principal, require
from ..bodies import json_body_spec, read_json
from ..config import ApiSettings
from ..problems import ApiProblem, responses
from ..schemas import HolderIn, HolderOut, HolderUpdate, LayerT, PolicyChangeOut, PolicyIn, WorkIn, WorkOut, WorkUpdate
from ..uploads import receive_upload

router = APIRouter(tags=["registry"])

READ_ERRORS = responses(401, 403, 422)


def _own_holder(principal: Principal, holder_id: str) -> None:
    if not principal.may_see_holder(holder_id):
        raise ApiProblem(403, "forbidden", f"this holder key may only see holder {principal.holder_id!r}")


@router.get("/holders", response_model=list[HolderOut], responses=READ_ERRORS, summary="List holders")
def holders(
    principal: Principal = Depends(require(*ALL)), registry: Registry = Depends(deps.registry)
) -> list[dict[str, Any]]:
    """Every rights holder, by id. A holder key sees only its own."""
    return list_holders(registry, principal.holder_id if principal.is_holder else None)


@router.get(
    "/holders/{holder_id}", response_model=HolderOut, responses=responses(401, 403, 404, 422), summary="One holder"
)
def holder(
    holder_id: str, principal: Principal = Depends(require(*ALL)), registry: Registry = Depends(deps.registry)
) -> dict[str, Any]:
    _own_holder(principal, holder_id)
    found = list_holders(registry, holder_id)
    if not found:
        raise ApiProblem(404, "not_found", f"holder: no holder with id {holder_id!r}")
    return found[0]


@router.get(
    "/works",
    response_model=list[WorkOut],
    response_model_exclude_none=True,
    responses=READ_ERRORS,
    summary="List works",
)
def works(
    holder: str | None = Query(default=None, description="only this holder's works"),
    layer: LayerT | None = Query(default=None, description="only works in this layer"),
    principal: Principal = Depends(require(*ALL)),
    registry: Registry = Depends(deps.registry),
) -> list[dict[str, Any]]:
    """Every registered work with its terms and references, by id. A holder key sees only its own works."""
    if principal.is_holder:
        if holder is not None:
            _own_holder(principal, holder)
        holder = principal.holder_id
    return list_works(registry, holder, layer)


@router.get(
    "/works/{work_id}",
    response_model=WorkOut,
    response_model_exclude_none=True,
    responses=responses(401, 403, 404, 422),
    summary="One work",
)
def work(
    work_id: str, principal: Principal = Depends(require(*ALL)), registry: Registry = Depends(deps.registry)
) -> dict[str, Any]:
    found = get_work(registry, work_id)
    _own_holder(principal, found["holder"])
    return found


@router.get(
    "/works/{work_id}/policy/history",
    response_model=list[PolicyChangeOut],
    responses=responses(401, 403, 404, 422),
    summary="Who changed a work's terms, when",
)
def history(
    work_id: str, principal: Principal = Depends(require(*ALL)), registry: Registry = Depends(deps.registry)
) -> list[dict[str, Any]]:
    """Changes of the work's terms, oldest first: its first terms and every change, made through the service
    (actor `key:KEY_ID`) or by a manifest import (actor `manifest import: FILE`)."""
    found = get_work(registry, work_id)
    _own_holder(principal, found["holder"])
    return policy_history(registry, work_id)


# ---------------------------------------------------------------------------------------------------------
# writes (admin)
# ---------------------------------------------------------------------------------------------------------

WRITE_ERRORS = responses(401, 403, 404, 409, 413, 415, 422)
#: an upload may also be malformed multipart (400)
UPLOAD_ERRORS = responses(400, 401, 403, 404, 409, 413, 415, 422)


@router.post(
    "/holders",
    response_model=HolderOut,
    status_code=201,
    responses=WRITE_ERRORS,
    openapi_extra=json_body_spec(HolderIn),
    summary="Register a holder",
)
async def create_holder_(
    request: Request,
    response: Response,
    principal: Principal = Depends(require(*ADMIN)),
    registry: Registry = Depends(deps.registry),
) -> dict[str, Any]:
    body = await read_json(request, HolderIn)
    await run_in_threadpool(edit.create_holder, registry, body.id, body.name, body.kind)
    response.headers["Location"] = f"/v1/holders/{body.id}"
    return (await run_in_threadpool(list_holders, registry, body.id))[0]


@router.patch(
    "/holders/{holder_id}",
    response_model=HolderOut,
    responses=WRITE_ERRORS,
    openapi_extra=json_body_spec(HolderUpdate),
    summary="Change a holder's name or kind",
)
async def update_holder_(
    holder_id: str,
    request: Request,
    principal: Principal = Depends(require(*ADMIN)),
    registry: Registry = Depends(deps.registry),
) -> dict[str, Any]:
    body = await read_json(request, HolderUpdate)
    await run_in_threadpool(edit.update_holder, registry, holder_id, body.name, body.kind)
    return (await run_in_threadpool(list_holders, registry, holder_id))[0]


@router.post(
    "/works",
    response_model=WorkOut,
    response_model_exclude_none=True,
    status_code=201,
    responses=WRITE_ERRORS,
    openapi_extra=json_body_spec(WorkIn),
    summary="Register a work with its terms",
)
async def create_work_(
    request: Request,
    response: Response,
    principal: Principal = Depends(require(*ADMIN)),
    registry: Registry = Depends(deps.registry),
) -> dict[str, Any]:
    """Create a work (add its footage and assets with `POST /v1/works/{id}/references`)."""
    body = await read_json(request, WorkIn)
    await run_in_threadpool(
        edit.create_work,
        registry,
        body.id,
        body.title,
        body.holder,
        body.layer,
        body.policy.model_dump(exclude_none=True),
        principal.actor,
    )
    response.headers["Location"] = f"/v1/works/{body.id}"
    return await run_in_threadpool(get_work, registry, body.id)


@router.patch(
    "/works/{work_id}",
    response_model=WorkOut,
    response_model_exclude_none=True,
    responses=WRITE_ERRORS,
    openapi_extra=json_body_spec(WorkUpdate),
    summary="Change a work's title or layer",
)
async def update_work_(
    work_id: str,
    request: Request,
    principal: Principal = Depends(require(*ADMIN)),
    registry: Registry = Depends(deps.registry),
) -> dict[str, Any]:
    body = await read_json(request, WorkUpdate)
    await run_in_threadpool(edit.update_work, registry, work_id, body.title, body.layer)
    return await run_in_threadpool(get_work, registry, work_id)


@router.put(
    "/works/{work_id}/policy",
    response_model=WorkOut,
    response_model_exclude_none=True,
    responses=WRITE_ERRORS,
    openapi_extra=json_body_spec(PolicyIn),
    summary="Replace a work's terms (recorded in its history)",
)
async def set_policy_(
    work_id: str,
    request: Request,
    principal: Principal = Depends(require(*ADMIN)),
    registry: Registry = Depends(deps.registry),
) -> dict[str, Any]:
    """Replace the work's terms. The change (who, when, before, after) is kept in its history. Stored results
    are rendered with the new terms at once; nothing is matched again."""
    body = await read_json(request, PolicyIn)
    await run_in_threadpool(edit.set_policy, registry, work_id, body.model_dump(exclude_none=True), principal.actor)
    return await run_in_threadpool(get_work, registry, work_id)


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "a video (footage), a still image (asset) or sound (audio)",
                        }
                    },
                }
            }
        },
    }
}


@router.post(
    "/works/{work_id}/references",
    response_model=WorkOut,
    response_model_exclude_none=True,
    status_code=201,
    responses=UPLOAD_ERRORS,
    openapi_extra=_UPLOAD_BODY,
    summary="Upload footage, an asset or audio of a work",
)
async def upload_reference(
    work_id: str,
    request: Request,
    kind: Literal["footage", "asset", "audio"] = Query(
        description="footage (a video), asset (a still: HUD, logo, overlay; PNG alpha = don't care) or audio "
        "(sound: a soundtrack track, a song, a VOD's audio track)"
    ),
    principal: Principal = Depends(require(*ADMIN)),
    settings: ApiSettings = Depends(deps.settings),
    registry: Registry = Depends(deps.registry),
    checker: Checker = Depends(deps.checker),
) -> dict[str, Any]:
    """Add a reference file (multipart field `file`; a file of the same name is replaced). It is streamed to
    disk, size-limited, probed and decoded (footage and audio fingerprinted) before it is accepted; the next check
    and scan match against it."""
    await run_in_threadpool(get_work, registry, work_id)
    upload = await receive_upload(request, "file", settings.max_upload_bytes, settings.upload_dir)
    try:
        await run_in_threadpool(
            add_reference_file, checker, work_id, kind, upload.path, upload.filename, Path(settings.media_dir)
        )
    finally:
        upload.discard()
    return await run_in_threadpool(get_work, registry, work_id)


@router.delete(
    "/works/{work_id}/references",
    response_model=WorkOut,
    response_model_exclude_none=True,
    responses=responses(401, 403, 404, 422),
    summary="Remove a reference of a work",
)
def delete_reference(
    work_id: str,
    path: str = Query(min_length=1, description="the reference's path"),
    principal: Principal = Depends(require(*ADMIN)),
    registry: Registry = Depends(deps.registry),
) -> dict[str, Any]:
    edit.remove_reference(registry, work_id, path)
    return get_work(registry, work_id)
