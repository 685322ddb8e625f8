"""``provenance review ...``: review decisions on findings (confirm, dismiss as a false match, licensed) and the
holders' disputes. The decisions live in the registry; every later scan, render and service answer applies them."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from provenance.cli.app import app, err, out, state, sub_app
from rightsdb import RegistryError
from rightsdb.disputes import list_disputes, resolve_dispute
from rightsdb.reviews import GenericSpec, list_decisions, record_decision

__all__ = ["review_app"]

review_app = sub_app("Review decisions on findings, and the holders' disputes.")
app.add_typer(review_app, name="review")


class DecisionChoice(StrEnum):
    confirmed = "confirmed"
    false_match = "false_match"
    licensed = "licensed"


class StatusChoice(StrEnum):
    open = "open"
    resolved = "resolved"
    all = "all"


DecisionOption = Annotated[
    DecisionChoice, typer.Option("--decision", help="confirmed | false_match | licensed", show_default=False)
]
NoteOption = Annotated[str, typer.Option("--note", help="Why (kept with the decision).", show_default=False)]
LicenceOption = Annotated[
    str | None, typer.Option("--licence", help="The licence's reference (required for licensed).", show_default=False)
]
ByOption = Annotated[str | None, typer.Option("--by", help="Who decides (default: $USER).", show_default=False)]
ReferenceOption = Annotated[
    str | None,
    typer.Option(
        "--reference",
        help="false_match only: mark this reference of the work generic (not matched from then on).",
        show_default=False,
    ),
]
StartOption = Annotated[
    float | None, typer.Option("--ref-start", min=0, help="Start of the generic stretch (s).", show_default=False)
]
EndOption = Annotated[
    float | None, typer.Option("--ref-end", min=0, help="End of the generic stretch (s).", show_default=False)
]
ReportOption = Annotated[
    Path | None,
    typer.Option("--report", help="Name the clip by its path in this report JSON.", show_default=False),
]


def _actor(by: str | None) -> str:
    name = (by or os.environ.get("USER") or "").strip()
    if not name:
        raise RegistryError("by: say who decides (--by NAME; $USER is not set)")
    return f"cli:{name}"


def _generic(reference: str | None, start: float | None, end: float | None) -> GenericSpec | None:
    if reference is None:
        if start is not None or end is not None:
            raise RegistryError("ref_start, ref_end: give --reference PATH with them")
        return None
    return GenericSpec(reference, start, end)


def _clip(clip: str, report: Path | None) -> str:
    from provenance.audit.reviews import clip_sha256

    return clip_sha256(clip, report)


def _decision_table(rows: list[dict[str, Any]], history: bool) -> Table:
    table = Table(show_edge=False)
    for column in ("id", "clip", "work", "decision", "licence", "by", "at", "note", *(["in force"] if history else [])):
        table.add_column(column)
    for d in rows:
        note = d["note"] + (f" [generic: {d['generic']['reference']}]" if d["generic"] else "")
        cells = [str(d["id"]), d["clip"][:12], d["work"], d["decision"], d["licence"] or "", d["by"], d["at"], note]
        table.add_row(*cells, *(["yes" if d["current"] else "superseded"] if history else []))
    return table


@review_app.command("set")
def review_set(
    clip: Annotated[str, typer.Argument(help="The clip's sha256 (or its path in --report).", show_default=False)],
    work: Annotated[str, typer.Argument(help="The work's id.", show_default=False)],
    decision: DecisionOption,
    note: NoteOption,
    licence: LicenceOption = None,
    by: ByOption = None,
    report: ReportOption = None,
    reference: ReferenceOption = None,
    ref_start: StartOption = None,
    ref_end: EndOption = None,
) -> None:
    """Decide on a work found (or not) in a clip; supersedes the decision in force, which stays in the history."""
    sha = _clip(clip, report)
    made = record_decision(
        state.open(create=False),
        sha,
        work,
        decision.value,
        note,
        _actor(by),
        licence=licence,
        generic=_generic(reference, ref_start, ref_end),
    )
    generic = " (its reference stretch is generic from now on)" if made["generic"] else ""
    err.print(f"decision {made['id']} recorded: {made['decision']} on {work} in clip {sha[:12]}{generic}")
    out.print(str(made["id"]))


@review_app.command("list")
def review_list(
    clip: Annotated[str | None, typer.Option("--clip", help="Only this clip (sha256, or a path in --report).")] = None,
    work: Annotated[str | None, typer.Option("--work", help="Only this work.", show_default=False)] = None,
    history: Annotated[bool, typer.Option("--history", help="Every decision, superseded ones too.")] = False,
    report: ReportOption = None,
) -> None:
    """List the decisions in force (oldest first), or the whole history."""
    sha = _clip(clip, report) if clip is not None else None
    rows = list_decisions(state.open(create=False), sha, work, history=history)
    out.print(_decision_table(rows, history))
    err.print(f"{len(rows)} decision(s)")


@review_app.command("disputes")
def review_disputes(
    status: Annotated[StatusChoice, typer.Option("--status", help="open | resolved | all")] = StatusChoice.open,
    holder: Annotated[str | None, typer.Option("--holder", help="Only this holder's.", show_default=False)] = None,
) -> None:
    """List the holders' disputes (open ones by default)."""
    rows = list_disputes(state.open(create=False), None if status == StatusChoice.all else status.value, holder)
    table = Table(show_edge=False)
    for column in ("id", "clip", "work", "holder", "status", "by", "at", "decision", "note"):
        table.add_column(column)
    for d in rows:
        decided = str(d["decision"]) if d["decision"] is not None else ""
        cells = [str(d["id"]), d["clip"][:12], d["work"], d["holder"], d["status"], d["by"], d["at"], decided]
        table.add_row(*cells, d["note"])
    out.print(table)
    err.print(f"{len(rows)} dispute(s)")


@review_app.command("resolve")
def review_resolve(
    dispute: Annotated[int, typer.Argument(help="The dispute's id.", show_default=False)],
    decision: DecisionOption,
    note: NoteOption,
    licence: LicenceOption = None,
    by: ByOption = None,
    reference: ReferenceOption = None,
    ref_start: StartOption = None,
    ref_end: EndOption = None,
) -> None:
    """Resolve an open dispute into a decision on its clip and work."""
    done = resolve_dispute(
        state.open(create=False),
        dispute,
        decision.value,
        note,
        _actor(by),
        licence=licence,
        generic=_generic(reference, ref_start, ref_end),
    )
    made = done["decision"]
    err.print(f"dispute {dispute} resolved: decision {made['id']} ({made['decision']} on {made['work']})")
    out.print(str(made["id"]))
