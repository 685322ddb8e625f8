"""``provenance serve`` and ``provenance keys ...``: the HTTP service and its API keys.

Registered on the main app (:mod:`provenance.cli.app`) when :mod:`provenance.cli` is imported. The database is
the CLI's (``--db``, else ``PROVENANCE_DB``, else ``sqlite:///provenance.db``).
"""

from __future__ import annotations

import enum
import os
from typing import Annotated

import typer

from provenance.cli.app import app, err, state, sub_app

__all__ = ["Role", "keys_app", "serve_command"]

keys_app = sub_app("API keys of the HTTP service (shown once, stored hashed).")
app.add_typer(keys_app, name="keys")


class Role(enum.StrEnum):
    admin = "admin"
    auditor = "auditor"
    holder = "holder"


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            show_default=False,
            help="Server processes sharing the port (default: one per CPU core). Scan jobs run in one of them at a "
            "time; clip checks are matched in the process the request reaches.",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
) -> None:
    """Run the HTTP service (JSON API under /v1, OpenAPI at /docs and /openapi.json).

    Settings come from the environment: PROVENANCE_DATA_ROOTS (folders scans may read, separated like PATH),
    PROVENANCE_MAX_UPLOAD_BYTES, PROVENANCE_MAX_SCANS, PROVENANCE_SCAN_WORKERS, PROVENANCE_CHECK_THREADS,
    PROVENANCE_MEDIA_DIR, PROVENANCE_UPLOAD_DIR, PROVENANCE_JOB_LEASE_SECONDS.
    """
    import uvicorn

    from api import ApiSettings, create_app, missing_data_roots
    from provenance.audit import default_workers  # one server process per CPU core this process may use
    from rightsdb import Registry

    overrides = {"db": state.db} if state.db else {}
    settings = ApiSettings(**overrides)  # type: ignore[arg-type]
    processes = workers or default_workers()
    roots = ", ".join(map(str, settings.data_root_paths)) or "none (PROVENANCE_DATA_ROOTS is not set)"
    err.print(
        f"provenance service on http://{host}:{port}, {processes} process{'es' if processes > 1 else ''} "
        f"(data roots: {roots})"
    )
    for root in missing_data_roots(settings):
        err.print(f"warning: data root {root} is not a folder: scans and path checks under it will fail")
    if processes == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
        return
    # Each worker process builds its app from the environment (the factory api.app:create_app): the --db of
    # this command goes there too. The database is opened (a new one migrated) once, here, before they start.
    os.environ["PROVENANCE_DB"] = settings.db
    Registry(settings.db).dispose()
    uvicorn.run("api.app:create_app", factory=True, workers=processes, host=host, port=port, log_level=log_level)


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option("--role", help="admin | auditor | holder", show_default=False)],
    holder: Annotated[str | None, typer.Option("--holder", help="The holder a holder key speaks for.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="A label to recognise the key by.")] = None,
) -> None:
    """Create an API key. The key is printed once, as the last line; only its hash is stored."""
    from rightsdb.keys import create_key

    info, key = create_key(state.open(), role.value, holder, name)
    bound = f" for holder {info.holder_id}" if info.holder_id else ""
    err.print(f"created {info.role} key {info.id}{bound}; store it now, it is not shown again:")
    typer.echo(key)


@keys_app.command("list")
def keys_list() -> None:
    """List the API keys (ids, roles, holders; never the keys themselves)."""
    from rightsdb.keys import list_keys

    for info, created in list_keys(state.open(create=False)):
        status = "revoked" if info.revoked else "active"
        typer.echo(f"{info.id}\t{info.role}\t{info.holder_id or '-'}\t{status}\t{created}\t{info.name or ''}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (from `keys list`).")]) -> None:
    """Revoke an API key: a running service refuses it within 2 seconds."""
    from rightsdb.keys import revoke_key

    revoke_key(state.open(create=False), key_id)
    err.print(f"key {key_id} revoked")
