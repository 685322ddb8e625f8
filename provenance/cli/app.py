"""The ``provenance`` command line. It parses, calls the packages and renders; nothing else.

Exit codes:
    0  success
    1  unexpected internal error (run again with --debug for the traceback)
    2  invalid input: a bad manifest, file, argument or setting
    3  the database cannot be opened, migrated or written
"""

from __future__ import annotations

import enum
import logging
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table
from sqlmodel import select

from rightsdb import (
    Holder,
    ManifestError,
    NotFoundError,
    Reference,
    Registry,
    RegistryError,
    StoreError,
    Work,
    export_manifest,
    registry_digest,
)

from provenance import __version__
from provenance.errors import ConfigError, DecodeError, ProvenanceError
from provenance.settings import get_settings

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INPUT = 2
EXIT_STORE = 3
EXIT_FINDINGS = 4  # --fail-on found a clip at or above its level


class ExecutorName(enum.StrEnum):
    local = "local"
    ray = "ray"


class FailOn(enum.StrEnum):
    medium = "medium"
    high = "high"


# Outputs of a report, shared by `scan` and `report` (provenance.outputs)
CsvOption = Annotated[Path | None, typer.Option("--csv", help="Write a CSV (a row per clip and layer).")]
EmitCleanOption = Annotated[Path | None, typer.Option(
    "--emit-clean", help="Write the clips cleared for training (exposure none or low), one path a line.")]
EmitFlaggedOption = Annotated[Path | None, typer.Option(
    "--emit-flagged", help="Write the clips to hold back (medium, high, or unreadable), one path a line.")]
HtmlOption = Annotated[Path | None, typer.Option(
    "--html", help="Write the self-contained HTML report (summary, charts, evidence thumbnails).")]
FailOnOption = Annotated[FailOn | None, typer.Option(
    "--fail-on", help=f"Exit {EXIT_FINDINGS} when any clip's exposure is at or above this level.")]

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
registry_app = typer.Typer(help="The rights registry: import, export and inspect holders and works.",
                           no_args_is_help=True)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")
app.add_typer(db_app, name="db")


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
    db: Annotated[str | None, typer.Option("--db", help="Database URL (else $PROVENANCE_DB, else "
                                           "sqlite:///provenance.db).", show_default=False)] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what is being done.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Debug logging and tracebacks on errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    state.db = db
    state.debug = debug
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(message)s", datefmt="[%X]",
                        handlers=[RichHandler(console=err, show_path=debug, rich_tracebacks=debug)], force=True)


# ---------------------------------------------------------------------------------------------------------
# db
# ---------------------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply schema migrations to the database (a new SQLite file is migrated automatically)."""
    registry = state.open(auto_migrate=False)
    before = registry.current_revision()
    registry.upgrade()
    after = registry.current_revision()
    if before == after:
        err.print(f"schema is up to date ({after})")
    else:
        err.print(f"schema upgraded from {before or 'empty'} to {after}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision."""
    out.print(state.open(auto_migrate=False).current_revision() or "empty")


# ---------------------------------------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------------------------------------


@registry_app.command("import")
def registry_import(
    manifest: Annotated[Path, typer.Argument(help="Manifest file (YAML or JSON).", show_default=False)],
) -> None:
    """Import a manifest: all or nothing; re-importing updates in place."""
    from provenance.audit.manifests import import_manifest_file

    registry = state.open()
    with err.status(f"Checking and importing {manifest} ..."):
        report = import_manifest_file(registry, manifest)
    table = Table(title=f"Imported {manifest}", show_edge=False)
    for column in ("", "created", "updated", "unchanged"):
        table.add_column(column, justify="right" if column else "left")
    for kind in ("holders", "works", "references"):
        table.add_row(kind, str(report.created[kind]), str(report.updated[kind]), str(report.unchanged[kind]))
    err.print(table)
    if report.removed_references:
        err.print(f"removed {report.removed_references} reference(s) no longer listed")
    with registry.session() as session:
        out.print(f"registry digest {registry_digest(session)}")


@registry_app.command("export")
def registry_export(
    target: Annotated[Path, typer.Argument(help="Manifest file to write (.yaml/.yml or .json).",
                                           show_default=False)],
    copy_references: Annotated[bool, typer.Option(
        "--copy-references", help="Copy reference files that lie outside the target's folder into it.")] = False,
) -> None:
    """Write the whole registry as a manifest that imports back to the same registry."""
    doc = export_manifest(state.open(), target, copy_references=copy_references)
    err.print(f"wrote {target}: {len(doc['holders'])} holders, {len(doc['works'])} works")


@registry_app.command("list")
def registry_list(
    holder: Annotated[str | None, typer.Option(help="Only this holder's works.")] = None,
    layer: Annotated[str | None, typer.Option(help="Only works of this layer.")] = None,
) -> None:
    """List the registered works."""
    from sqlmodel import col, func, select

    registry = state.open()
    with registry.session() as session:
        query = select(Work, Holder).join(Holder, col(Work.holder_id) == col(Holder.id)).order_by(col(Work.id))
        if holder:
            query = query.where(Work.holder_id == holder)
        if layer:
            query = query.where(Work.layer == layer)
        rows = session.exec(query).all()
        counts = dict(session.exec(select(Reference.work_id, func.count()).group_by(Reference.work_id)).all())
    table = Table(show_edge=False)
    for column in ("work", "title", "holder", "layer", "ai_training", "references"):
        table.add_column(column)
    for work, h in rows:
        table.add_row(work.id, work.title, f"{h.id} ({h.kind})", work.layer, work.ai_training,
                      str(counts.get(work.id, 0)))
    out.print(table)
    err.print(f"{len(rows)} work(s)")


@registry_app.command("show")
def registry_show(work_id: Annotated[str, typer.Argument(help="Work id.", show_default=False)]) -> None:
    """Show one work: holder, terms and references."""
    from sqlmodel import col, select

    registry = state.open()
    with registry.session() as session:
        work = session.get(Work, work_id)
        if work is None:
            raise NotFoundError(f"no work with id {work_id!r}")
        holder = session.get(Holder, work.holder_id)
        refs = session.exec(select(Reference).where(Reference.work_id == work_id)
                            .order_by(col(Reference.path))).all()
    out.print(f"[bold]{work.title}[/] ({work.id})")
    out.print(f"holder   {holder.name if holder else '?'} ({work.holder_id}, {holder.kind if holder else '?'})")
    out.print(f"layer    {work.layer}")
    terms = [f"AI training: {work.ai_training}"]
    if work.license:
        terms.append(f"license: {work.license}")
    if work.territories:
        terms.append("territories: " + ", ".join(work.territories))
    if work.valid_from or work.valid_until:
        terms.append(f"valid {work.valid_from or '...'} to {work.valid_until or '...'}")
    if work.terms_source:
        terms.append(f"source: {work.terms_source}")
    if work.terms_url:
        terms.append(f"url: {work.terms_url}")
    out.print("terms    " + "; ".join(terms))
    table = Table(show_edge=False)
    for column in ("path", "kind", "media", "size", "duration", "sha256"):
        table.add_column(column)
    for ref in refs:
        media = f"{ref.width}x{ref.height}" + (f" {ref.fps:.2f} fps" if ref.media_kind == "video" else "")
        duration = f"{ref.duration_s:.1f}s" if ref.media_kind == "video" else "-"
        table.add_row(ref.path, ref.kind, media, f"{ref.size_bytes / 1024:.0f} KiB", duration, ref.sha256[:12])
    out.print(table)


# ---------------------------------------------------------------------------------------------------------
# scan
# ---------------------------------------------------------------------------------------------------------


@app.command("scan")
def scan_command(
    dataset: Annotated[Path, typer.Argument(
        help="A folder of clips (walked recursively; .tar files in it are WebDataset shards), one .tar shard, "
             "or a manifest (.jsonl, .csv, .parquet) listing clip paths with their metadata.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Report JSON to write.")] = Path("report.json"),
    html: HtmlOption = None,
    csv_path: CsvOption = None,
    emit_clean: EmitCleanOption = None,
    emit_flagged: EmitFlaggedOption = None,
    fail_on: FailOnOption = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", "-j", min=1, help="Processes scanning clips (default: every core).", show_default=False)] = None,
    as_of: Annotated[datetime | None, typer.Option(
        "--as-of", formats=["%Y-%m-%d"], help="Apply policies as of this date (default: today).",
        show_default=False)] = None,
    territory: Annotated[str | None, typer.Option(
        "--territory", help="Apply policies for this territory (ISO 3166-1 alpha-2, e.g. DE).",
        show_default=False)] = None,
    rescan: Annotated[bool, typer.Option(
        "--rescan", help="Match every clip again instead of reusing stored results.")] = False,
    executor: Annotated[ExecutorName, typer.Option(
        "--executor", help="Where clips are matched: local processes, or a Ray cluster (pip install "
        "'provenance\\[ray]'; without --address, a local cluster of --workers CPUs).")] = ExecutorName.local,
    address: Annotated[str | None, typer.Option(
        "--address", help="The Ray cluster to join (ray://HEAD:10001, HEAD:6379 or auto); its workers need the "
        "dataset at the same path and a database they reach (PostgreSQL).", show_default=False)] = None,
) -> None:
    """Scan a dataset against the registry and write the report JSON (resumable: run it again to go on)."""
    from provenance.audit.scan import default_workers, scan, write_report
    from provenance.engine import EngineParams
    from provenance.audit.executors import make_executor

    runner = make_executor(executor.value, workers, address)
    registry = state.open()
    with _ScanProgress() as progress:
        report = scan(registry, dataset, EngineParams(), progress.message, workers or default_workers(),
                      as_of=as_of.date() if as_of else None, territory=territory, on_clip=progress.clip,
                      rescan=rescan, executor=runner)
    write_report(report, out)
    summary = report["scan"]["summary"]
    err.print(
        f"{len(report['clips'])} clips: {summary['high']} high, {summary['medium']} medium, {summary['low']} low, "
        f"{summary['none']} none, {summary['errors']} errors; report written to {out}"
    )
    if progress.reused:
        err.print(f"{progress.reused} clips reused from stored results (same content, references and engine)")
    _emit(report, csv_path, emit_clean, emit_flagged, fail_on, html, registry)


class _ScanProgress:
    """A Rich progress bar on stderr: clips done, clips/s, hours of video per second, and the time left."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[rates]}"), TimeElapsedColumn(), console=err, transient=True)
        self.task = self.bar.add_task("starting", total=None, rates="")
        self.reused = 0
        self.video_s = 0.0
        self.bytes = 0
        self.started: float | None = None

    def __enter__(self) -> _ScanProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)

    def message(self, what: str, done: int, total: int) -> None:
        self.bar.update(self.task, description=what[-50:], completed=done, total=total)

    def clip(self, event: Any) -> None:
        import time

        now = time.monotonic()
        if self.started is None:
            self.started = now - 1e-3
        self.reused += bool(event.cached)
        self.video_s += float(event.clip.get("duration_s") or 0.0)
        self.bytes += event.size
        elapsed = now - self.started
        rate = event.done / elapsed
        left = (event.total - event.done) / rate if rate > 0 else 0.0
        if event.total_bytes and self.bytes:  # by bytes: long and short clips mixed
            left = (event.total_bytes - self.bytes) / (self.bytes / elapsed)
        rates = (f"{rate:.2f} clips/s  {self.video_s / elapsed:.2f} h video/h  "
                 f"ETA {int(left) // 60}:{int(left) % 60:02d}")
        self.bar.update(self.task, description=event.clip["path"][-50:], completed=event.done, total=event.total,
                        rates=rates)


@app.command("report")
def report_command(
    report_path: Annotated[Path, typer.Argument(help="A report JSON written by `scan`.", show_default=False)],
    html: HtmlOption = None,
    csv_path: CsvOption = None,
    emit_clean: EmitCleanOption = None,
    emit_flagged: EmitFlaggedOption = None,
    fail_on: FailOnOption = None,
) -> None:
    """Render a stored report again (HTML, CSV, file lists, CI gate) without scanning.

    Thumbnails for the HTML are read again from the clips and the registry's references when they are still
    where the report says; otherwise the page says they are missing.
    """
    from provenance.report.outputs import load_report

    registry = None
    if html is not None:
        try:
            registry = state.open(auto_migrate=False)
        except (StoreError, RegistryError) as exc:
            err.print(f"no registry for reference thumbnails ({exc}); rendering without them")
    _emit(load_report(report_path), csv_path, emit_clean, emit_flagged, fail_on, html, registry)


def _emit(report: dict[str, Any], csv_path: Path | None, emit_clean: Path | None, emit_flagged: Path | None,
          fail_on: FailOn | None, html: Path | None = None, registry: Registry | None = None) -> None:
    from provenance.report.outputs import exceeds, write_csv, write_list

    if html is not None:
        _write_html(report, html, registry)

    if csv_path is not None:
        write_csv(report, csv_path)
        err.print(f"CSV written to {csv_path}")
    if emit_clean is not None:
        n = write_list(report, emit_clean, flagged=False)
        err.print(f"{n} clips cleared for training listed in {emit_clean}")
    if emit_flagged is not None:
        n = write_list(report, emit_flagged, flagged=True)
        err.print(f"{n} clips held back listed in {emit_flagged}")
    if fail_on is not None:
        over = exceeds(report, fail_on.value)
        if over:
            err.print(f"{len(over)} clips at or above {fail_on.value} exposure (--fail-on), e.g. {over[0]}")
            raise SystemExit(EXIT_FINDINGS)


def _write_html(report: dict[str, Any], path: Path, registry: Registry | None) -> None:
    from provenance.report.html import write_html
    from provenance.report.thumbs import Thumbnailer

    locations: dict[str, Path] = {}
    if registry is not None:
        with registry.session() as session:
            for ref in session.exec(select(Reference)).all():
                locations.setdefault(ref.path, Path(ref.location))
    thumbnails = Thumbnailer(Path(report["scan"].get("dataset", ".")), locations.get)
    write_html(report, path, thumbnails)
    err.print(f"HTML report written to {path}")


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


from provenance.cli.service import keys_app, serve_command  # noqa: E402  (the HTTP service's commands)

app.command("serve")(serve_command)
app.add_typer(keys_app, name="keys")


if __name__ == "__main__":
    main(sys.argv[1:])
