"""Dependencies shared by the routes: the objects the app holds (registry, settings, checker, job runner).

They are coroutines: FastAPI runs a plain function dependency in a worker thread, a hop per dependency.
"""

from __future__ import annotations

from typing import cast

from fastapi import Request

from provenance.audit import Checker
from rightsdb import Registry

from .config import ApiSettings
from .jobs import JobRunner


async def registry(request: Request) -> Registry:
    return cast(Registry, request.app.state.registry)


async def settings(request: Request) -> ApiSettings:
    return cast(ApiSettings, request.app.state.settings)


async def checker(request: Request) -> Checker:
    return cast(Checker, request.app.state.checker)


async def runner(request: Request) -> JobRunner:
    return cast(JobRunner, request.app.state.runner)
