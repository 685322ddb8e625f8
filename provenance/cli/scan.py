"""``provenance scan`` and ``provenance report``: scan a dataset, or render a stored report again, and write the
report's outputs (JSON, HTML, CSV, file lists, the ``--fail-on`` gate), with a progress display on stderr."""

from __future__ import annotations

import enum
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from provenance.cli.app import EXIT_FINDINGS, app, err, state
from rightsdb import Registry, RegistryError, StoreError, atomic_write_text

if TYPE_CHECKING:
    from provenance.audit import ClipDone
    from provenance.report import Report

__all__ = ["ExecutorName", "FailOn", "report_command", "scan_command"]


class ExecutorName(enum.StrEnum):
    local = "local"
    ray = "ray"


class FailOn(enum.StrEnum):
    medium = "medium"
    high = "high"


# Outputs of a report, shared by `scan` and `report` (provenance.report.outputs)
CsvOption = Annotated[Path | None, typer.Option("--csv", help="Write a CSV (a row per clip and layer).")]
EmitCleanOption = Annotated[
    Path | None,
    typer.Option("--emit-clean", help="Write the clips cleared for training (exposure none or low), one path a line."),
]
EmitFlaggedOption = Annotated[
    Path | None,
    typer.Option("--emit-flagged", help="Write the clips to hold back (medium, high, or unreadable), one path a line."),
]
HtmlOption = Annotated[
    Path | None,
    typer.Option("--html", help="Write the self-contained HTML report (summary, charts, evidence thumbnails)."),
]
FailOnOption = Annotated[
    FailOn | None,
    typer.Option("--fail-on", help=f"Exit {EXIT_FINDINGS} when any clip's exposure is at or above this level."),
]


# ---------------------------------------------------------------------------------------------------------
# scan
# ---------------------------------------------------------------------------------------------------------


@app.command("scan")
def scan_command(
    dataset: Annotated[
        Path,
        typer.Argument(
            help="A folder of clips (walked recursively; .tar files in it are WebDataset shards), one .tar shard, "
            "or a manifest (.jsonl, .csv, .parquet) listing clip paths with their metadata.",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Report JSON to write.")] = Path("report.json"),
    html: HtmlOption = None,
    csv_path: CsvOption = None,
    emit_clean: EmitCleanOption = None,
    emit_flagged: EmitFlaggedOption = None,
    fail_on: FailOnOption = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", "-j", min=1, help="Processes scanning clips (default: every core).", show_default=False
        ),
    ] = None,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of", formats=["%Y-%m-%d"], help="Apply policies as of this date (default: today).", show_default=False
        ),
    ] = None,
    territory: Annotated[
        str | None,
        typer.Option(
            "--territory", help="Apply policies for this territory (ISO 3166-1 alpha-2, e.g. DE).", show_default=False
        ),
    ] = None,
    rescan: Annotated[
        bool, typer.Option("--rescan", help="Match every clip again instead of reusing stored results.")
    ] = False,
    executor: Annotated[
        ExecutorName,
        typer.Option(
            "--executor",
            help="Where clips are matched: local processes, or a Ray cluster (pip install "
            "'provenance\\[ray]'; without --address, a local cluster of --workers CPUs).",
        ),
    ] = ExecutorName.local,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="The Ray cluster to join (ray://HEAD:10001, HEAD:6379 or auto); its workers need the "
            "dataset at the same path and a database they reach (PostgreSQL).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Scan a dataset against the registry and write the report JSON (resumable: run it again to go on)."""
    from provenance.audit import default_workers, scan, write_report
    from provenance.audit.executors import make_executor
    from provenance.engine import EngineParams

    runner = make_executor(executor.value, workers, address)
    registry = state.open()
    with _ScanProgress() as progress:
        report = scan(
            registry,
            dataset,
            EngineParams(),
            progress.message,
            workers or default_workers(),
            as_of=as_of.date() if as_of else None,
            territory=territory,
            on_clip=progress.clip,
            rescan=rescan,
            executor=runner,
        )
    write_report(report, out)
    facts = report.scan
    summary = facts.summary if facts is not None and facts.summary is not None else {}
    err.print(
        f"{len(report.clips)} clips: {summary['high']} high, {summary['medium']} medium, {summary['low']} low, "
        f"{summary['none']} none, {summary['errors']} errors; report written to {out}"
    )
    if progress.reused:
        err.print(f"{progress.reused} clips reused from stored results (same content, references and engine)")
    _emit(report, csv_path, emit_clean, emit_flagged, fail_on, html, registry)


class _ScanProgress:
    """A Rich progress bar on stderr: clips done, clips/s, hours of video per second, and the time left."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rates]}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
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

    def clip(self, event: ClipDone) -> None:
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
        rates = (
            f"{rate:.2f} clips/s  {self.video_s / elapsed:.2f} h video/h  ETA {int(left) // 60}:{int(left) % 60:02d}"
        )
        self.bar.update(
            self.task, description=event.clip["path"][-50:], completed=event.done, total=event.total, rates=rates
        )


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
    from provenance.report import load_report

    registry = None
    if html is not None:
        try:
            registry = state.open(auto_migrate=False)
        except (StoreError, RegistryError) as exc:
            err.print(f"no registry for reference thumbnails ({exc}); rendering without them")
    _emit(load_report(report_path), csv_path, emit_clean, emit_flagged, fail_on, html, registry)


def _emit(
    report: Report,
    csv_path: Path | None,
    emit_clean: Path | None,
    emit_flagged: Path | None,
    fail_on: FailOn | None,
    html: Path | None = None,
    registry: Registry | None = None,
) -> None:
    from provenance.report import clip_list, csv_text, exceeds, list_text

    if html is not None:
        from provenance.audit.pages import report_page

        atomic_write_text(html, report_page(report, registry))
        err.print(f"HTML report written to {html}")

    if csv_path is not None:
        atomic_write_text(csv_path, csv_text(report))
        err.print(f"CSV written to {csv_path}")
    if emit_clean is not None:
        paths = clip_list(report, flagged=False)
        atomic_write_text(emit_clean, list_text(paths))
        err.print(f"{len(paths)} clips cleared for training listed in {emit_clean}")
    if emit_flagged is not None:
        paths = clip_list(report, flagged=True)
        atomic_write_text(emit_flagged, list_text(paths))
        err.print(f"{len(paths)} clips held back listed in {emit_flagged}")
    if fail_on is not None:
        over = exceeds(report, fail_on.value)
        if over:
            err.print(f"{len(over)} clips at or above {fail_on.value} exposure (--fail-on), e.g. {over[0]}")
            raise SystemExit(EXIT_FINDINGS)
