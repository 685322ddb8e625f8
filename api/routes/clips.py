"""One clip: check it (upload or a path under a data root; admin, auditor) and get its stored result by content
hash (every role; a holder key sees only the layers of its own works)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from provenance import DecodeError, NotMediaError
from provenance.audit import Checker, confine_dataset, stored_clip
from provenance.media.probe import probe
from rightsdb import Registry

from .. import deps
from ..auth import ALL, AUDIT, Principal, require
from ..bodies import json_body_spec, read_json
from ..config import ApiSettings
from ..problems import ApiProblem, responses
from ..schemas import Clip, ClipPath, Territory
from ..uploads import receive_upload

router = APIRouter(tags=["clips"])

_CHECK_BODY = json_body_spec(
    ClipPath,
    also={
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "the clip (video or still image)"}
                },
            },
        },
    },
)


def _when(as_of: date | None) -> date:
    return as_of or datetime.now(UTC).date()


async def _checked(checker: Checker, path: Path, name: str, as_of: date, territory: str | None, rescan: bool) -> Clip:
    try:
        await run_in_threadpool(probe, path)
    except NotMediaError as exc:
        raise ApiProblem(415, "not_media", f"{name}: {exc.reason}") from None
    except DecodeError as exc:
        raise ApiProblem(422, "undecodable", f"{name}: {exc.reason}") from None
    return await asyncio.wrap_future(checker.submit(path, name, as_of, territory, rescan))


@router.post(
    "/clips/check",
    response_model=Clip,
    response_model_exclude_unset=True,
    responses=responses(400, 401, 403, 409, 413, 415, 422),
    openapi_extra=_CHECK_BODY,
    summary="Check one clip",
)
async def check_clip(
    request: Request,
    as_of: date | None = Query(default=None, description="apply the terms in force on this date (default today)"),
    territory: Territory | None = Query(default=None, description="ISO 3166-1 alpha-2"),
    rescan: bool = Query(default=False, description="match again even if this content was matched before"),
    principal: Principal = Depends(require(*AUDIT)),
    settings: ApiSettings = Depends(deps.settings),
    checker: Checker = Depends(deps.checker),
) -> Clip:
    """Match one clip against the registry and answer the report's clip object.

    Send the clip as multipart field `file` (streamed to disk, at most `PROVENANCE_MAX_UPLOAD_BYTES`, checked
    to be a decodable video or image), or `{"path": PATH}` naming a file under a data root. The result is
    stored by content hash (`GET /v1/clips/{sha256}`); the same content is not matched twice against the same
    references. Fail-safe: 409 (`empty_registry`) when the registry holds no reference, 409
    (`reference_changed`) when a reference's file changed since import; nothing is cleared.
    """
    territory = territory.upper() if territory else None
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        req = await read_json(request, ClipPath)
        path = confine_dataset(Path(req.path), settings.data_root_paths, label="path")
        if not path.is_file():
            raise ApiProblem(422, "invalid", f"path: {req.path} is not a file")
        return await _checked(checker, path, path.name, _when(as_of), territory, rescan)
    upload = await receive_upload(request, "file", settings.max_upload_bytes, settings.upload_dir)
    try:
        return await _checked(checker, upload.path, upload.filename, _when(as_of), territory, rescan)
    finally:
        upload.discard()


@router.get(
    "/clips/{sha256}",
    response_model=Clip,
    response_model_exclude_unset=True,
    responses=responses(401, 403, 404, 422),
    summary="The stored result of a clip, by content hash (a holder: its own layers)",
)
def get_clip(
    sha256: str = PathParam(pattern=r"^[0-9a-f]{64}$", description="sha256 of the clip's bytes (lower-case hex)"),
    as_of: date | None = Query(default=None, description="apply the terms in force on this date (default today)"),
    territory: Territory | None = Query(default=None, description="ISO 3166-1 alpha-2"),
    principal: Principal = Depends(require(*ALL)),
    registry: Registry = Depends(deps.registry),
) -> Clip:
    """The clip as last checked or scanned, rendered with the registry's current terms.

    A holder key sees only the layers of its own works, with the exposure (and reason) of those layers alone;
    a clip without any of them is 404, as a clip never stored is.
    """
    return stored_clip(
        registry,
        sha256,
        _when(as_of),
        territory.upper() if territory else None,
        holder=principal.holder_id if principal.is_holder else None,
    )
