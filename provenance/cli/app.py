"""The ``provenance`` command line: the Typer app, its global options and state, and the exit codes.

It parses, calls the packages and renders; nothing else. The commands are in :mod:`provenance.cli.registry`
(``db``, ``registry``), :mod:`provenance.cli.scan` (``scan``, ``report``) and :mod:`provenance.cli.service`
(``serve``, ``keys``); importing :mod:`provenance.cli` registers them on :data:`app`.

Exit codes:
    0  success
    1  unexpected internal error (run again with --debug for the traceback)
    2  invalid input: a bad manifest, file, argument or setting
    3  the database cannot be opened, migrated or written
    4  ``--fail-on`` found a clip at or above its level
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler

from provenance import __version__
from provenance.errors import ConfigError, DecodeError, ProvenanceError
from provenance.settings import get_settings
from rightsdb import ManifestError, NotFoundError, Registry, RegistryError, StoreError

__all__ = [
    "EXIT_FINDINGS",
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_STORE",
    "app",
    "err",
    "main",
    "out",
    "state",
]

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INPUT = 2
EXIT_STORE = 3
EXIT_FINDINGS = 4  # --fail-on found a clip at or above its level


log = logging.getLogger("provenance.cli")
out = Console()
err = Console(stderr=True)

app = typer.Typer(
    name="provenance",
    help="Audit AI training video datasets for registered copyrighted works, per rights layer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@dataclass
class _State:
    db: str | None = None
    debug: bool = False
    registry: Registry | None = None

    def open(self, *, auto_migrate: bool = True) -> Registry:
        if self.registry is None:
            url = self.db or get_settings().db
            self.registry = Registry(url, auto_migrate=auto_migrate)
        return self.registry


state = _State()


def _version(value: bool) -> None:
    if value:
        out.print(f"provenance {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="Database URL (else $PROVENANCE_DB, else sqlite:///provenance.db).", show_default=False
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what is being done.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Debug logging and tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    state.db = db
    state.debug = debug
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(
        level=level,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=err, show_path=debug, rich_tracebacks=debug)],
        force=True,
    )


# ---------------------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------------------


def _fail(code: int, message: str, exc: BaseException) -> NoReturn:
    if state.debug:
        err.print_exception(show_locals=False)
    line = " ".join(message.split("\n")[0].split()) or type(exc).__name__
    from rich.markup import escape

    err.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)  # [x] in names is text
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the app and turns known errors into one line and an exit code.

    Usage errors are reported by Typer itself (exit 2); errors of ours propagate out of standalone mode.
    """
    try:
        app(args=argv, prog_name="provenance")
    except SystemExit:
        raise
    except (ManifestError, NotFoundError, ConfigError, DecodeError, FileNotFoundError) as exc:
        _fail(EXIT_INPUT, str(exc), exc)
    except StoreError as exc:
        _fail(EXIT_STORE, str(exc), exc)
    except (RegistryError, ProvenanceError) as exc:
        _fail(EXIT_INPUT, str(exc), exc)
    except Exception as exc:
        _fail(EXIT_INTERNAL, f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)", exc)


if __name__ == "__main__":
    from provenance.cli import main as run  # the package's app: the one its command modules registered on

    run(sys.argv[1:])
