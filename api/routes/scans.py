"""Dataset scans as background jobs: start, list, follow, cancel, and the report as JSON, CSV or HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from provenance.audit import confine_dataset, require_references
from provenance.audit.pages import report_page
from provenance.report import Report, csv_text
from rightsdb import Registry
from rightsdb.jobs import cancel_job, create_job, get_job, job_dict, list_jobs
from rightsdb.models import JobStatus

from .. import deps
from ..auth import AUDIT, Principal, require
from ..bodies import json_body_spec, read_json
from ..config import ApiSettings
from ..jobs import JobRunner
from ..problems import ApiProblem, responses
from ..schemas import Job, JobPage, ScanRequest

router = APIRouter(tags=["scans"])

StatusT = Literal["queued", "running", "done", "failed", "cancelled"]


@router.post(
    "/scans",
    response_model=Job,
    status_code=202,
    responses=responses(401, 403, 409, 413, 415, 422),
    openapi_extra=json_body_spec(ScanRequest),
    summary="Start a scan of a dataset under a data root",
)
async def start_scan(
    request: Request,
    response: Response,
    principal: Principal = Depends(require(*AUDIT)),
    registry: Registry = Depends(deps.registry),
    settings: ApiSettings = Depends(deps.settings),
    runner: JobRunner = Depends(deps.runner),
) -> dict[str, Any]:
    """Queue a scan of `dataset` (a folder, a WebDataset `.tar` shard or a JSONL/CSV/Parquet manifest under one
    of `PROVENANCE_DATA_ROOTS`; clips resolving outside them, through symbolic links or manifest rows, refuse
    the scan). Answers 202 with the job; follow it at `Location`. At most `PROVENANCE_MAX_SCANS` jobs run at
    once, others wait queued. Jobs survive a restart of the service: an interrupted one resumes from the clips
    it finished. A registry without any reference is refused (409 `empty_registry`): it would clear every clip."""
    req = await read_json(request, ScanRequest)
    dataset = await run_in_threadpool(confine_dataset, Path(req.dataset), settings.data_root_paths)
    await run_in_threadpool(require_references, registry)  # 409: an empty registry would clear every clip
    options: dict[str, Any] = {
        "as_of": req.as_of.isoformat() if req.as_of else None,
        "territory": req.territory.upper() if req.territory else None,
        "rescan": req.rescan,
    }
    job = await run_in_threadpool(create_job, registry, str(dataset), options, principal.key_id)
    runner.submit(job.id)
    response.headers["Location"] = f"/v1/scans/{job.id}"
    return job_dict(job)


@router.get("/scans", response_model=JobPage, responses=responses(401, 403, 404, 422), summary="List scan jobs")
def scans(
    status: StatusT | None = Query(default=None, description="only jobs in this state"),
    cursor: str | None = Query(default=None, max_length=64, description="next_cursor of the previous page"),
    limit: int = Query(default=50, ge=1, le=500),
    principal: Principal = Depends(require(*AUDIT)),
    registry: Registry = Depends(deps.registry),
) -> dict[str, Any]:
    """Scan jobs, newest first."""
    rows, more = list_jobs(registry, status, cursor, limit)
    return {"items": [job_dict(j) for j in rows], "next_cursor": rows[-1].id if more and rows else None}


@router.get(
    "/scans/{job_id}",
    response_model=Job,
    responses=responses(401, 403, 404, 422),
    summary="A scan job: state and progress",
)
def scan(
    job_id: str, principal: Principal = Depends(require(*AUDIT)), registry: Registry = Depends(deps.registry)
) -> dict[str, Any]:
    return job_dict(get_job(registry, job_id))


@router.post(
    "/scans/{job_id}/cancel",
    response_model=Job,
    status_code=202,
    responses=responses(401, 403, 404, 422),
    summary="Cancel a scan job",
)
def cancel(
    job_id: str, principal: Principal = Depends(require(*AUDIT)), registry: Registry = Depends(deps.registry)
) -> dict[str, Any]:
    """A queued job is cancelled at once; a running one stops within a second or so, even in the middle of a clip
    (what it finished stays stored and is reused by a later scan). A finished job is answered as it is."""
    return job_dict(cancel_job(registry, job_id))


_REPORT_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report: JSON (the report contract), CSV (a row per clip and layer) or HTML",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/csv": {"schema": {"type": "string"}},
            "text/html": {"schema": {"type": "string"}},
        },
    },
}


@router.get(
    "/scans/{job_id}/report",
    responses={**_REPORT_CONTENT, **responses(401, 403, 404, 409, 422)},
    response_class=Response,
    summary="A finished scan's report",
)
async def report(
    job_id: str,
    format: Literal["json", "csv", "html"] = Query(default="json", description="json, csv or html"),
    principal: Principal = Depends(require(*AUDIT)),
    registry: Registry = Depends(deps.registry),
) -> Response:
    """The report of a finished (`done`) job; 409 while it is queued or running, or when it failed or was
    cancelled."""
    job = await run_in_threadpool(get_job, registry, job_id)
    if job.status != JobStatus.done or job.report is None:
        raise ApiProblem(409, "not_ready", f"scan job {job_id} is {job.status}: a report exists once it is done")
    if format == "json":
        return JSONResponse(job.report)  # the report JSON as the scan stored it
    report = await run_in_threadpool(Report.model_validate, job.report)
    if format == "csv":
        return PlainTextResponse(
            csv_text(report),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="scan-{job_id}.csv"'},
        )
    page = await run_in_threadpool(report_page, report, registry)
    return HTMLResponse(page)
