"""The FastAPI application: ``create_app(settings)``.

It opens the registry (migrating a new database), holds the clip checker and the scan job runner, and
mounts the routes under ``/v1`` plus ``/healthz`` and ``/readyz``. Starting it resumes the scan jobs a
previous run left unfinished (see :mod:`api.jobs`: several processes may serve one database); stopping it
leaves running jobs queued for another process or the next start.

``create_app()`` without settings reads them from the environment: ``api.app:create_app`` is the factory
uvicorn's worker processes call (``provenance serve --workers N``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import Receive, Scope, Send

from provenance import __version__
from provenance.audit import Checker
from rightsdb import Registry

from . import problems
from .auth import KeyCache
from .bodies import BODY_MODELS
from .bodytime import BodyTimeout
from .config import ApiSettings, get_api_settings
from .docs import install_docs
from .jobs import JobRunner
from .reads import Reads
from .routes import clips, findings, health, packs, registry, reviews, scans

log = logging.getLogger(__name__)

DESCRIPTION = """\
Audit video clips for registered copyrighted works, per rights layer, over HTTP.

Every `/v1` route needs `Authorization: Bearer KEY`, a key made by `provenance keys create --role
admin|auditor|holder [--holder ID]`. Roles: **admin** (everything, including registry writes), **auditor**
(scans, clip checks, reads), **holder** (its own holder and works, the findings on them, and stored clip
results showing only the layers of its own works). A missing or invalid key is answered 401, a key whose role
may not use the route 403. Every error is an RFC 9457 problem details object (`application/problem+json`).
"""


class ServiceApp(FastAPI):
    """The FastAPI application with one shortcut: an ordinary finding query (the service's hot path: a key
    verified moments ago, valid parameters) is answered by the route's own code without FastAPI's routing,
    dependency injection and middleware stack, which cost more than the query. Every other request, and any
    finding query that is not ordinary (errors included), goes through the full application. (Middleware added
    to this app would not see ordinary finding queries: add it around the app, or to this shortcut.)"""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and scope["path"] == findings.PATH
            and not scope.get("root_path")
            and not self.root_path
        ):
            response = await findings.fast_response(self.state, scope)
            if response is not None:
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The service for ``settings`` (default: from the environment, ``PROVENANCE_*``)."""
    settings = settings or get_api_settings()
    for root in missing_data_roots(settings):
        log.warning("data root %s (PROVENANCE_DATA_ROOTS) is not a folder: scans and checks under it will fail", root)
    registry_ = Registry(settings.db)

    def workers() -> tuple[Checker, JobRunner, Reads]:
        return (
            Checker(registry_, threads=settings.check_threads),
            JobRunner(
                registry_,
                settings.data_root_paths,
                settings.max_scans,
                settings.scan_workers,
                settings.scan_executor,
                settings.ray_address,
                lease_seconds=settings.job_lease_seconds,
                clip_timeout=settings.clip_timeout_seconds,
            ),
            Reads(registry_),
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.stopped:  # started again after a stop: new pools
            app.state.checker, app.state.runner, app.state.reads = workers()
        app.state.stopped = False
        claimed = app.state.runner.start()
        if claimed:
            log.info("started %d scan jobs (queued, or left by a stopped service)", len(claimed))
        try:
            yield
        finally:
            app.state.stopped = True
            app.state.runner.stop()
            app.state.checker.close()
            app.state.reads.close()
            app.state.registry.dispose()

    app = ServiceApp(
        title="provenance",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, from the package rather than a CDN
        redoc_url=None,
        openapi_tags=[
            {"name": "health", "description": "Liveness and readiness (no key needed)."},
            {"name": "registry", "description": "Holders, works, their terms and references."},
            {
                "name": "clips",
                "description": "Check one clip (admin, auditor); stored results by "
                "content hash (a holder: its own layers only).",
            },
            {"name": "findings", "description": "Stored findings, filtered and paged."},
            {"name": "scans", "description": "Dataset scans as background jobs."},
            {
                "name": "reviews",
                "description": "Decisions on findings (admin, auditor) and disputes (a holder: on its own works).",
            },
        ],
    )
    app.state.settings = settings
    app.state.registry = registry_
    app.state.checker, app.state.runner, app.state.reads = workers()
    app.state.stopped = False
    app.state.key_cache = KeyCache()
    problems.install(app)
    app.add_middleware(BodyTimeout, seconds=settings.body_timeout_seconds)  # a stalled body: 408, never held
    install_docs(app)
    app.include_router(health.router)
    for module in (registry, packs, clips, findings, scans, reviews):
        app.include_router(module.router, prefix="/v1")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def missing_data_roots(settings: ApiSettings) -> list[Path]:
    """The data roots (``PROVENANCE_DATA_ROOTS``) that are not folders: a typo, or a volume not mounted."""
    return [root for root in settings.data_root_paths if not root.is_dir()]


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the bodies read after authentication, errors as problem details only."""
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes, tags=app.openapi_tags
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, model in BODY_MODELS.items():
        body = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(body.pop("$defs", {}))
        components[name] = body
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for code, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if code[0] in "45" and problems.PROBLEM_JSON in content:
                    content.pop("application/json", None)
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema
