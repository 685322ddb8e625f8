"""``provenance summary``: from a stored report, the EU AI Act training-content summary (``--eu-ai-act``) or the
clips whose verdict changed between two dates (``--drift --as-of D1 --as-of D2``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from provenance.cli.app import app, err, state
from rightsdb import atomic_write_text

__all__ = ["summary_command"]


@app.command("summary")
def summary_command(
    report_path: Annotated[Path, typer.Argument(help="A report JSON written by `scan`.", show_default=False)],
    eu_ai_act: Annotated[
        bool,
        typer.Option(
            "--eu-ai-act",
            help="Write the EU AI Act training-content summary (eu-ai-act-summary.json and .md) into --out.",
        ),
    ] = False,
    drift: Annotated[
        bool,
        typer.Option(
            "--drift",
            help="List the clips whose verdict changed between the two --as-of dates, and why (needs the registry).",
        ),
    ] = False,
    as_of: Annotated[
        list[datetime] | None,
        typer.Option(
            "--as-of",
            formats=["%Y-%m-%d"],
            help="With --drift, given twice: the first date (e.g. of collection) and the second (e.g. today).",
            show_default=False,
        ),
    ] = None,
    territory: Annotated[
        str | None,
        typer.Option("--territory", help="With --drift: apply terms for this territory.", show_default=False),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="--eu-ai-act: the folder to write into (default: the current one); --drift: a JSON file "
            "(default: standard output).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Summarise a stored report: the EU AI Act summary, or verdict drift between two dates."""
    from provenance.errors import ConfigError
    from provenance.report import eu_summary, load_report, summary_markdown
    from rightsdb.validation import territory_problem

    if eu_ai_act == drift:
        raise ConfigError("give one of --eu-ai-act or --drift")
    dates = [d.date() for d in as_of or []]
    if drift and len(dates) != 2:
        raise ConfigError(f"--drift needs --as-of twice (the two dates to compare), got {len(dates)}")
    if eu_ai_act and dates:
        raise ConfigError("--as-of goes with --drift")
    if territory is not None and (problem := territory_problem(territory)) is not None:
        raise ConfigError(f"territory: {problem}")
    report = load_report(report_path)
    if eu_ai_act:
        folder = out or Path(".")
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"--out {folder}: not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        summary = eu_summary(report, datetime.now(UTC).date().isoformat())
        atomic_write_text(folder / "eu-ai-act-summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        atomic_write_text(folder / "eu-ai-act-summary.md", summary_markdown(summary))
        video = summary["modalities"]["video"]
        err.print(
            f"EU AI Act summary of {video['clips']} clips ({video['hours']} hours, {video['size_band']}) written to "
            f"{folder / 'eu-ai-act-summary.json'} and {folder / 'eu-ai-act-summary.md'}",
            highlight=False,
            markup=False,
        )
        return
    from provenance.audit import drift as drift_of

    registry = state.open(create=False)
    result = drift_of(registry, report, dates[0], dates[1], territory.strip().upper() if territory else None)
    text = json.dumps(result, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        atomic_write_text(out, text)
    for change in result["changed"]:
        err.print(f"{change['path']}: {change['before']} -> {change['after']}", highlight=False, markup=False)
    err.print(
        f"{len(result['changed'])} of {result['clips']} clips changed verdict between {dates[0]} and {dates[1]}",
        highlight=False,
    )
