"""Rights packs over HTTP: an admin imports a pack (upload); a holder key downloads a pack of its own works."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from provenance.audit.packs import build_pack, import_pack_file
from rightsdb import Registry

from .. import deps
from ..auth import ADMIN, Principal, require
from ..config import ApiSettings
from ..problems import ApiProblem, responses
from ..schemas import PackImportOut
from ..uploads import receive_upload

router = APIRouter(tags=["packs"])

_PACK_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary", "description": "a rights pack"}},
                }
            }
        },
    }
}


@router.post(
    "/registry/packs",
    response_model=PackImportOut,
    status_code=201,
    responses=responses(400, 401, 403, 413, 415, 422),
    openapi_extra=_PACK_BODY,
    summary="Import a rights pack",
)
async def upload_pack(
    request: Request,
    signer: str | None = Query(
        default=None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="require the pack to be signed by this Ed25519 public key (64 hex digits)",
    ),
    principal: Principal = Depends(require(*ADMIN)),
    settings: ApiSettings = Depends(deps.settings),
    registry: Registry = Depends(deps.registry),
) -> dict[str, Any]:
    """Import a rights pack (multipart field `file`), streamed to disk under the upload limit, checked whole
    (checksums, signature, fingerprint version) and added in one transaction; importing it again changes nothing.
    A pack that is not intact, not signed by `signer` when given, or of another fingerprint version is 422 naming
    what failed, and nothing is imported."""
    upload = await receive_upload(request, "file", settings.max_upload_bytes, settings.upload_dir)
    try:
        report, summary = await run_in_threadpool(
            import_pack_file, registry, upload.path, None, signer=signer, name=upload.filename
        )
    finally:
        upload.discard()
    return {
        "id": summary.id,
        "holder": summary.holder,
        "works": summary.works,
        "references": summary.references,
        "thumbnails": summary.thumbnails,
        "signer": summary.signer,
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "removed_references": report.removed_references,
    }


@router.get(
    "/holders/{holder_id}/pack",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "the rights pack"},
        **responses(401, 403, 404, 409, 422),
    },
    summary="Download a rights pack of a holder's works",
)
async def download_pack(
    holder_id: str,
    thumbnails: bool = Query(default=False, description="add a few small JPEG frames per reference"),
    principal: Principal = Depends(require("admin", "holder")),
    settings: ApiSettings = Depends(deps.settings),
    registry: Registry = Depends(deps.registry),
) -> FileResponse:
    """A rights pack of the holder's works (terms with their history, fingerprints; no footage), unsigned: sign
    it with the CLI (`provenance registry pack --sign-key`) to let labs check it came from you. A holder key may
    download its own holder's pack only."""
    if not principal.may_see_holder(holder_id):
        raise ApiProblem(403, "forbidden", f"this holder key may only see holder {principal.holder_id!r}")
    fd, tmp = tempfile.mkstemp(prefix="provenance-pack-", suffix=".pack", dir=settings.upload_dir)
    os.close(fd)
    out = Path(tmp)
    try:
        await run_in_threadpool(build_pack, registry, holder_id, out, thumbnails=thumbnails)
    except BaseException:
        with contextlib.suppress(OSError):
            out.unlink()
        raise
    return FileResponse(
        out,
        media_type="application/octet-stream",
        filename=f"{holder_id}.pack",
        background=BackgroundTask(_remove, out),
    )


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
