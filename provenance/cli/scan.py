"""``provenance scan`` and ``provenance report``: scan a dataset, or render a stored report again, and write the
report's outputs (JSON, HTML, CSV, file lists, the ``--fail-on`` gate), with a progress display on stderr."""

from __future__ import annotations

import enum
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from provenance.cli.app import EXIT_FINDINGS, app, err, state
from provenance.errors import EmptyRegistryError
from rightsdb import Registry, RegistryError, StoreError, atomic_write_text, head_revision

if TYPE_CHECKING:
    from provenance.audit import ClipDone
    from provenance.dataset import Selection
    from provenance.report import Report

__all__ = ["ExecutorName", "FailOn", "ListsFormat", "report_command", "scan_command"]


class ExecutorName(enum.StrEnum):
    local = "local"
    ray = "ray"


class FailOn(enum.StrEnum):
    medium = "medium"
    high = "high"


class ListsFormat(enum.StrEnum):
    lines = "lines"
    nul = "nul"
    jsonl = "jsonl"


# Outputs of a report, shared by `scan` and `report` (provenance.report.outputs)
CsvOption = Annotated[Path | None, typer.Option("--csv", help="Write a CSV (a row per clip and layer).")]
EmitCleanOption = Annotated[
    Path | None,
    typer.Option(
        "--emit-clean",
        help="Write the clips cleared for training (read, exposure none or low), one path a line (--lists-format).",
    ),
]
EmitFlaggedOption = Annotated[
    Path | None,
    typer.Option(
        "--emit-flagged",
        help="Write the clips to hold back (medium, high, unknown, unreadable), one path a line (--lists-format).",
    ),
]
ListsFormatOption = Annotated[
    ListsFormat,
    typer.Option(
        "--lists-format",
        help="How --emit-clean/--emit-flagged separate paths: lines (a path with a line break is never listed "
        "clean), nul (each path ends with a NUL byte: xargs -0) or jsonl (a JSON object a line).",
    ),
]
HtmlOption = Annotated[
    Path | None,
    typer.Option("--html", help="Write the self-contained HTML report (summary, charts, evidence thumbnails)."),
]
FailOnOption = Annotated[
    FailOn | None,
    typer.Option(
        "--fail-on",
        help=f"Exit {EXIT_FINDINGS} when any clip's exposure is at or above this level (unknown reaches every level).",
    ),
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
    out: Annotated[Path, typer.Option("--out", "-o", help="Report JSON to write (- for standard output).")] = Path(
        "report.json"
    ),
    html: HtmlOption = None,
    csv_path: CsvOption = None,
    emit_clean: EmitCleanOption = None,
    emit_flagged: EmitFlaggedOption = None,
    lists_format: ListsFormatOption = ListsFormat.lines,
    fail_on: FailOnOption = None,
    jsonl: Annotated[
        Path | None,
        typer.Option(
            "--jsonl",
            help="Also stream each clip's report object as one JSON line as it finishes (- for standard output).",
            show_default=False,
        ),
    ] = None,
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
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include",
            help="Only clips whose path matches this glob (repeatable; with a / it matches the whole path, "
            "else any part: '*.mp4', 'vods', 'crawl/2024-*').",
            show_default=False,
            rich_help_panel="Selection",
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            help="Leave out clips whose path matches this glob (repeatable; same rules as --include).",
            show_default=False,
            rich_help_panel="Selection",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            help="Only the first N clips (in the dataset's order, after --include/--exclude).",
            show_default=False,
            rich_help_panel="Selection",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="List the clips a scan would take (paths on stdout), their hours of video and a rough time; "
            "match nothing, write nothing.",
            rich_help_panel="Selection",
        ),
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
    allow_empty_registry: Annotated[
        bool,
        typer.Option(
            "--allow-empty-registry",
            help="Scan even when the registry holds no reference (else refused, exit 5); every clip is then "
            "unknown: nothing is listed clean.",
        ),
    ] = False,
    signals_dir: Annotated[
        Path | None,
        typer.Option(
            "--signals-dir",
            help="A folder of per-domain snapshots captured at collection time (DOMAIN/robots.txt, DOMAIN/ai.txt, "
            "DOMAIN/.well-known/tdmrep.json), read for each clip's source_url; nothing is fetched.",
            show_default=False,
        ),
    ] = None,
    audio: Annotated[
        bool,
        typer.Option(
            "--audio/--no-audio",
            help="Match clips' sound against the registry's songs, soundtracks and VODs' audio (default); "
            "--no-audio matches the picture only: a registered song in a clip's sound is then not found (the "
            "report's settings say audio: false).",
        ),
    ] = True,
    clip_timeout: Annotated[
        float | None,
        typer.Option(
            "--clip-timeout",
            min=0.001,
            help="Seconds one clip may take (decoding and matching it; local executor) before it is stopped and "
            "reported as an error, never cleared (default: 1800).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Scan a dataset (a folder, .tar shard, manifest, or one clip) against the registry and write the report JSON.

    Resumable: run it again to go on where it stopped.
    """
    from provenance.audit import default_workers, scan, write_report
    from provenance.audit.executors import make_executor
    from provenance.cli.progress import ClipStream, ScanProgress
    from provenance.dataset import Selection
    from provenance.engine import EngineParams
    from provenance.errors import ScanError
    from provenance.report import report_json
    from rightsdb.validation import territory_problem

    if str(out) == "-" and jsonl is not None and str(jsonl) == "-":
        raise typer.BadParameter("--out - and --jsonl - cannot both write to standard output", param_hint="--jsonl")
    selection = Selection(tuple(include or ()), tuple(exclude or ()), limit)
    if dry_run:
        _dry_run(dataset, selection, workers or default_workers())
        return
    if territory is not None and (problem := territory_problem(territory)) is not None:
        raise ScanError(f"territory: {problem}")  # bad input is exit 2 before any database is opened
    if signals_dir is not None and not signals_dir.is_dir():
        raise ScanError(f"--signals-dir {signals_dir}: not a folder")
    runner = make_executor(executor.value, workers, address, clip_timeout)
    registry = state.open(create=False)  # a forgotten --db must not scan against a new, empty database
    stream = ClipStream(jsonl) if jsonl is not None else None
    try:
        with ScanProgress(err) as progress:

            def on_clip(event: ClipDone) -> None:
                progress.clip(event)
                if stream is not None:
                    stream.write(event.clip)

            report = scan(
                registry,
                dataset,
                EngineParams(audio=audio),
                progress.message,
                workers or default_workers(),
                as_of=as_of.date() if as_of else None,
                territory=territory,
                on_clip=on_clip,
                rescan=rescan,
                executor=runner,
                selection=selection,
                allow_empty_registry=allow_empty_registry,
                signals_dir=signals_dir,
            )
    except EmptyRegistryError as exc:
        raise EmptyRegistryError(f"{exc} (--allow-empty-registry scans anyway; nothing is then listed clean)") from None
    finally:
        if stream is not None:
            stream.close()
    if str(out) == "-":
        sys.stdout.write(report_json(report))
        sys.stdout.flush()
    else:
        write_report(report, out)
    err.print(f"{_summary(report)}; report written to {'standard output' if str(out) == '-' else out}")
    if progress.reused:
        err.print(f"{progress.reused} clips reused from stored results (same content, references and engine)")
    _emit(report, csv_path, emit_clean, emit_flagged, fail_on, html, registry, lists_format)


def _summary(report: Report) -> str:
    """``12 clips: 6 high, 1 medium, 1 low, 4 none, 0 unknown, 0 errors`` (unknown: not checked, errors among
    them)."""
    from provenance.report import EXPOSURE_ORDER

    facts = report.scan
    summary = facts.summary if facts is not None else None
    if summary is None or "unknown" not in summary:  # counted here: a report from before `unknown` has its
        # unreadable clips as `none`; they were not checked
        levels = ["unknown" if c.error else c.exposure for c in report.clips]
        summary = {level: levels.count(level) for level in EXPOSURE_ORDER}
        summary["errors"] = sum(1 for c in report.clips if c.error)
    return (
        f"{len(report.clips)} clips: {summary.get('high', 0)} high, {summary.get('medium', 0)} medium, "
        f"{summary.get('low', 0)} low, {summary.get('none', 0)} none, {summary.get('unknown', 0)} unknown, "
        f"{summary.get('errors', 0)} errors"
    )


def _dry_run(dataset: Path, selection: Selection, workers: int) -> None:
    """``--dry-run``: the clips a scan would take on stdout, one path a line; the totals and an estimate on stderr."""
    from provenance.audit.plan import plan_scan
    from provenance.cli.progress import clock

    plan = plan_scan(dataset, selection)
    for clip in plan.clips:
        typer.echo(clip.path)
        if clip.error:
            err.print(f"cannot read {clip.path}: {clip.error}", highlight=False, markup=False)
    err.print(
        f"dry run: {len(plan.clips)} clips ({plan.errors} unreadable), {clock(plan.seconds)} of video, "
        f"{plan.size / 1e9:.2f} GB; a first scan takes about {clock(plan.estimate_s(workers))} with {workers} "
        "workers (clips already scanned are reused); nothing was matched or written",
        highlight=False,
    )


@app.command("report")
def report_command(
    report_path: Annotated[Path, typer.Argument(help="A report JSON written by `scan`.", show_default=False)],
    html: HtmlOption = None,
    csv_path: CsvOption = None,
    emit_clean: EmitCleanOption = None,
    emit_flagged: EmitFlaggedOption = None,
    lists_format: ListsFormatOption = ListsFormat.lines,
    fail_on: FailOnOption = None,
) -> None:
    """Render a stored report again (HTML, CSV, file lists, CI gate) without scanning.

    The registry's review decisions and open disputes as they stand now are applied to the clips (by content
    sha256 and work), as a scan would apply them; without a reachable registry the report is rendered as stored.
    Thumbnails for the HTML are read again from the clips and the registry's references when they are still
    where the report says; otherwise the page says they are missing.
    """
    from provenance.audit.reviews import review_report
    from provenance.report import load_report

    report = load_report(report_path)
    if html is None and csv_path is None and emit_clean is None and emit_flagged is None and fail_on is None:
        err.print(f"{_summary(report)} in {report_path}")
        err.print("nothing else to do: give --html, --csv, --emit-clean, --emit-flagged or --fail-on")
        return
    registry = None
    try:
        registry = state.open(auto_migrate=False, create=False)
        if (revision := registry.current_revision()) != head_revision():  # rendering never migrates a registry
            raise StoreError(f"{registry!r} is at schema revision {revision}, not {head_revision()}")
        changed = review_report(registry, report)
    except (StoreError, RegistryError) as exc:
        registry = None  # nor reference thumbnails from it
        err.print(
            f"review decisions not applied, no registry to read them from ({exc}): rendered as stored",
            markup=False,
            highlight=False,
        )
    else:
        err.print(
            f"review decisions in force applied: {changed} clip{'' if changed == 1 else 's'}' decisions changed "
            "since the report was written",
            highlight=False,
        )
    err.print(f"{_summary(report)} in {report_path}")
    _emit(report, csv_path, emit_clean, emit_flagged, fail_on, html, registry, lists_format)


def _emit(
    report: Report,
    csv_path: Path | None,
    emit_clean: Path | None,
    emit_flagged: Path | None,
    fail_on: FailOn | None,
    html: Path | None = None,
    registry: Registry | None = None,
    lists_format: ListsFormat = ListsFormat.lines,
) -> None:
    from provenance.report import LIST_FORMATS, cleared, clip_list, csv_text, exceeds, list_text, listable

    if html is not None:
        from provenance.audit.pages import report_page

        atomic_write_text(html, report_page(report, registry))
        err.print(f"HTML report written to {html}")

    if csv_path is not None:
        atomic_write_text(csv_path, csv_text(report))
        err.print(f"CSV written to {csv_path}")
    fmt = next(f for f in LIST_FORMATS if f == lists_format.value)
    if emit_clean is not None or emit_flagged is not None:
        unlisted = [c.path for c in report.clips if cleared(c) and not listable(c.path, fmt)]
        if unlisted:
            err.print(
                f"{len(unlisted)} clips held back because their path cannot be listed unambiguously one a line "
                f"(a line break or NUL in it), e.g. {unlisted[0]!r}: use --lists-format nul or jsonl",
                markup=False,
                highlight=False,
            )
    if emit_clean is not None:
        clips = clip_list(report, flagged=False, fmt=fmt)
        atomic_write_text(emit_clean, list_text(clips, fmt))
        err.print(f"{len(clips)} clips cleared for training listed in {emit_clean}")
    if emit_flagged is not None:
        clips = clip_list(report, flagged=True, fmt=fmt)
        atomic_write_text(emit_flagged, list_text(clips, fmt))
        err.print(f"{len(clips)} clips held back listed in {emit_flagged}")
    if fail_on is not None:
        over = exceeds(report, fail_on.value)
        if over:
            err.print(f"{len(over)} clips at or above {fail_on.value} exposure (--fail-on), e.g. {over[0]}")
            raise SystemExit(EXIT_FINDINGS)
