"""The ``provenance`` command line: the Typer app, its global options and state, and the exit codes.

It parses, calls the packages and renders; nothing else. The commands are in :mod:`provenance.cli.registry`
(``db``, ``registry``), :mod:`provenance.cli.scan` (``scan``, ``report``) and :mod:`provenance.cli.service`
(``serve``, ``keys``); importing :mod:`provenance.cli` registers them on :data:`app`.

Exit codes:
    0  success
    1  unexpected internal error (run again with --debug for the traceback)
    2  invalid input: a bad manifest, file, argument or setting
    3  the database cannot be opened, migrated or written
    4  ``--fail-on`` found a clip at or above its level (a clip that could not be checked reaches every level)
    5  the registry cannot vouch for a scan: it holds no reference (``--allow-empty-registry`` forces the scan),
       or a reference's file is missing or changed since import, or a rights pack's reference has no fingerprint
       of this engine's version (nothing was matched)
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn, TypeVar

import typer
import typer.core
import typer.main
from rich.console import Console
from rich.logging import RichHandler

from provenance import __version__
from provenance.errors import ConfigError, DecodeError, EmptyRegistryError, ProvenanceError, ReferenceChangedError
from provenance.settings import get_settings
from rightsdb import ManifestError, NotFoundError, Registry, RegistryError, StoreError, store_fault

__all__ = [
    "EXIT_FINDINGS",
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_REGISTRY",
    "EXIT_STORE",
    "app",
    "err",
    "main",
    "out",
    "state",
    "sub_app",
]

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INPUT = 2
EXIT_STORE = 3
EXIT_FINDINGS = 4  # --fail-on found a clip at or above its level
EXIT_REGISTRY = 5  # no reference to scan against, or a reference changed since import: nothing matched


log = logging.getLogger("provenance.cli")
# soft_wrap: a message is one line however narrow the terminal or pipe (outside a terminal Rich assumes 80
# columns and would cut "report written to\nreport.json"); tables and the progress bar still fit the width.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

_F = TypeVar("_F", bound=Callable[..., Any])
_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "off", "n", "f"})

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (else $PROVENANCE_DB, else sqlite:///provenance.db).",
        show_default=False,
        rich_help_panel="Global options",
    ),
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Log what is being done.", rich_help_panel="Global options")
]
DebugOption = Annotated[
    bool, typer.Option("--debug", help="Debug logging and tracebacks on errors.", rich_help_panel="Global options")
]


def _global_options() -> list[Any]:
    """Fresh click parameters of the global options (``--db``, ``--verbose``, ``--debug``), built by Typer."""
    template = typer.Typer(add_completion=False)

    @template.command()
    def options(db: DbOption = None, verbose: VerboseOption = False, debug: DebugOption = False) -> None:
        """Only its parameters are used."""

    return list(typer.main.get_command(template).params)


def _flag_values(params: list[Any], args: list[str]) -> list[str]:
    """``--flag=true`` / ``--flag=false`` (and yes/no, 1/0, on/off) for this command's boolean flags, as users type
    them: rewritten to ``--flag``, or to ``--no-flag`` (dropped when there is none: a flag is off unless given).
    Arguments after ``--`` are left alone; any other value is left for the parser to refuse."""
    flags = {opt: p for p in params if getattr(p, "is_flag", False) for opt in p.opts if opt.startswith("--")}
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        name, eq, value = arg.partition("=")
        param = flags.get(name) if eq and arg.startswith("--") else None
        if param is None or value.lower() not in _TRUE | _FALSE:
            out.append(arg)
        elif value.lower() in _TRUE:
            out.append(name)
        elif param.secondary_opts:
            out.append(param.secondary_opts[0])
    return out


class _Group(typer.core.TyperGroup):
    """The app's groups: boolean flags take ``=true``/``=false``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _flag_values(self.params, args))


class _Command(typer.core.TyperCommand):
    """Every command: boolean flags take ``=true``/``=false``, and the global options are accepted after the
    command as well as before it (``provenance scan D --db URL`` as ``provenance --db URL scan D``; given at
    both places, the command's wins)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(_global_options())

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _flag_values(self.params, args))

    def invoke(self, ctx: Any) -> Any:
        db, verbose, debug = (
            ctx.params.pop("db", None),
            ctx.params.pop("verbose", False),
            ctx.params.pop("debug", False),
        )
        if db is not None:
            state.db = db
        if verbose or debug:
            state.debug = state.debug or debug
            _configure_logging(verbose=True, debug=state.debug)
        return super().invoke(ctx)


class _Typer(typer.Typer):
    """A Typer whose commands are :class:`_Command` and whose groups are :class:`_Group`."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", _Group)
        super().__init__(**kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[_F], _F]:
        kwargs.setdefault("cls", _Command)
        return super().command(*args, **kwargs)


def sub_app(help_text: str) -> typer.Typer:
    """A command group (``registry``, ``db``, ``keys``) whose commands accept the global options."""
    return _Typer(help=help_text, no_args_is_help=True)


app = _Typer(
    name="provenance",
    help="Audit AI training video datasets for registered copyrighted works, per rights layer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},  # inherited by every command
)


@dataclass
class _State:
    db: str | None = None
    debug: bool = False
    registry: Registry | None = None

    def open(self, *, auto_migrate: bool = True, create: bool = True) -> Registry:
        """The registry; ``create=False`` (read-only commands, scans) opens an existing one or fails naming the
        path, never creating an empty database."""
        if self.registry is None:
            url = self.db or get_settings().db
            self.registry = Registry(url, auto_migrate=auto_migrate, create=create)
        return self.registry


state = _State()


def _version(value: bool) -> None:
    if value:
        out.print(f"provenance {__version__}")
        raise typer.Exit()


def _configure_logging(*, verbose: bool, debug: bool) -> None:
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(
        level=level,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=err, show_path=debug, rich_tracebacks=debug)],
        force=True,
    )


@app.callback()
def _main(
    db: DbOption = None,
    verbose: VerboseOption = False,
    debug: DebugOption = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    state.db = db
    state.debug = debug
    _configure_logging(verbose=verbose, debug=debug)


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

    Usage errors are reported by Typer itself (exit 2); errors of ours propagate out of standalone mode. The
    registry a command opened is closed when it returns, so a second call in the same process (a library user,
    a test) opens its own ``--db``.
    """
    try:
        _run(argv)
    finally:
        if state.registry is not None:
            state.registry.dispose()
        state.registry, state.db, state.debug = None, None, False


def _run(argv: list[str] | None) -> None:
    try:
        app(args=argv, prog_name="provenance")
    except SystemExit:
        raise
    except (EmptyRegistryError, ReferenceChangedError) as exc:
        _fail(EXIT_REGISTRY, str(exc), exc)
    except (ManifestError, NotFoundError, ConfigError, DecodeError, FileNotFoundError) as exc:
        _fail(EXIT_INPUT, str(exc), exc)
    except StoreError as exc:
        _fail(EXIT_STORE, str(exc), exc)
    except (RegistryError, ProvenanceError) as exc:
        _fail(EXIT_INPUT, str(exc), exc)
    except Exception as exc:
        fault = store_fault(exc, repr(state.registry) if state.registry is not None else "")
        if fault is not None:  # the database's own fault (read-only, full, locked, unreachable)
            _fail(EXIT_STORE, str(fault), exc)
        _fail(EXIT_INTERNAL, f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)", exc)


if __name__ == "__main__":
    from provenance.cli import main as run  # the package's app: the one its command modules registered on

    run(sys.argv[1:])
