"""``provenance serve`` and ``provenance keys ...``: the HTTP service and its API keys.

Registered on the main app in :mod:`provenance.cli`. The database is the CLI's (``--db``, else
``PROVENANCE_DB``, else ``sqlite:///provenance.db``).
"""

from __future__ import annotations

import enum
from typing import Annotated

import typer

keys_app = typer.Typer(help="API keys of the HTTP service (shown once, stored hashed).", no_args_is_help=True)


class Role(enum.StrEnum):
    admin = "admin"
    auditor = "auditor"
    holder = "holder"


def serve_command(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
) -> None:
    """Run the HTTP service (JSON API under /v1, OpenAPI at /docs and /openapi.json).

    Settings come from the environment: PROVENANCE_DATA_ROOTS (folders scans may read, separated like PATH),
    PROVENANCE_MAX_UPLOAD_BYTES, PROVENANCE_MAX_SCANS, PROVENANCE_SCAN_WORKERS, PROVENANCE_CHECK_THREADS,
    PROVENANCE_MEDIA_DIR, PROVENANCE_UPLOAD_DIR.
    """
    import uvicorn

    from api import ApiSettings, create_app

    from .cli import err, state

    overrides = {"db": state.db} if state.db else {}
    settings = ApiSettings(**overrides)  # type: ignore[arg-type]
    app = create_app(settings)
    roots = ", ".join(map(str, settings.data_root_paths)) or "none (PROVENANCE_DATA_ROOTS is not set)"
    err.print(f"provenance service on http://{host}:{port} (data roots: {roots})")
    uvicorn.run(app, host=host, port=port, log_level=log_level)


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option("--role", help="admin | auditor | holder", show_default=False)],
    holder: Annotated[str | None, typer.Option("--holder", help="The holder a holder key speaks for.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="A label to recognise the key by.")] = None,
) -> None:
    """Create an API key. The key is printed once, as the last line; only its hash is stored."""
    from rightsdb.keys import create_key

    from .cli import err, state

    info, key = create_key(state.open(), role.value, holder, name)
    bound = f" for holder {info.holder_id}" if info.holder_id else ""
    err.print(f"created {info.role} key {info.id}{bound}; store it now, it is not shown again:")
    typer.echo(key)


@keys_app.command("list")
def keys_list() -> None:
    """List the API keys (ids, roles, holders; never the keys themselves)."""
    from rightsdb.keys import list_keys

    from .cli import state

    for info, created in list_keys(state.open()):
        status = "revoked" if info.revoked else "active"
        typer.echo(f"{info.id}\t{info.role}\t{info.holder_id or '-'}\t{status}\t{created}\t{info.name or ''}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (from `keys list`).")]) -> None:
    """Revoke an API key: a running service refuses it within 2 seconds."""
    from rightsdb.keys import revoke_key

    from .cli import err, state

    revoke_key(state.open(), key_id)
    err.print(f"key {key_id} revoked")
