"""``provenance db ...`` and ``provenance registry ...``: the database schema and the rights registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from provenance.audit.stats import generic_facts, registry_facts
from provenance.cli.app import app, err, out, state, sub_app
from provenance.engine import EngineParams
from rightsdb import Layer, NotFoundError, export_manifest, registry_digest
from rightsdb.queries import list_holders, list_works, work_detail

__all__ = ["db_app", "registry_app"]

registry_app = sub_app("The rights registry: import, export and inspect holders and works.")
db_app = sub_app("The database schema.")
app.add_typer(registry_app, name="registry")
app.add_typer(db_app, name="db")


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
    """Print the database's schema revision (a missing or schemaless database: exit 3, nothing created)."""
    out.print(state.open(auto_migrate=False, create=False).current_revision() or "empty")


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
    if report.reviews:
        err.print(f"added {report.reviews} review decision(s)")
    with registry.session() as session:
        out.print(f"registry digest {registry_digest(session)}")


@registry_app.command("fingerprint")
def registry_fingerprint(
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", "-j", min=1, help="Processes fingerprinting (default: every core).", show_default=False
        ),
    ] = None,
) -> None:
    """Fingerprint the footage references that have none yet, in parallel, and write the reference index that
    scans open (a scan does both first otherwise)."""
    import time

    from provenance.audit import default_workers, ensure_fingerprints, load_infos, match_key
    from provenance.audit.indexdir import ensure_index
    from provenance.audit.shown import read_shown
    from provenance.cli.progress import ScanProgress
    from provenance.engine import EngineParams

    registry = state.open(create=False)  # fingerprints only what a registry holds: never a new, empty one
    params = EngineParams()
    start = time.monotonic()
    with ScanProgress(err) as progress:
        count = ensure_fingerprints(registry, params, progress.message, workers=workers or default_workers())
    err.print(f"{count} reference(s) fingerprinted in {time.monotonic() - start:.1f} s")
    start = time.monotonic()
    with err.status("Writing the reference index ..."):
        directory = ensure_index(registry, params, match_key(registry, params), load_infos(registry))
    if directory is not None:
        err.print(f"reference index ready in {directory} ({time.monotonic() - start:.1f} s)", markup=False)
        _print_notable(generic_facts(registry, params, directory))
        _print_vods(read_shown(directory))


def _print_vods(shown: dict[str, Any]) -> None:
    """One line per streamer's VOD that shows other works (:mod:`provenance.audit.shown`): what passes on to the
    clips cut from it."""
    for vod, found in sorted(shown.items()):
        works = sorted({entry["ref"].partition("::")[0] for entry in (*found["footage"], *found["assets"])})
        err.print(f"{vod} shows {', '.join(works)}: passed on to clips that copy it", markup=False)


def _print_notable(generic: dict[str, Any]) -> None:
    """One line naming the references with a notable generic share (or saying there are none)."""
    notable = [g for g in generic["references"] if g["share"] >= generic["notable_share"]]
    limit = f"{generic['notable_share']:.0%}"
    if not notable:
        err.print(f"no reference shares {limit} or more of its content with other works", markup=False)
        return
    named = "; ".join(
        f"{g['work']}::{g['path']} {g['share']:.0%} (with {', '.join(g['works']) or '?'})" for g in notable[:_NAMED]
    )
    more = f"; and {len(notable) - _NAMED} more (provenance registry stats --generic)" if len(notable) > _NAMED else ""
    err.print(f"generic share {limit} or more, shared with other works: {named}{more}", markup=False)


#: References named in the line :func:`_print_notable` prints.
_NAMED = 10


@registry_app.command("export")
def registry_export(
    target: Annotated[Path, typer.Argument(help="Manifest file to write (.yaml/.yml or .json).", show_default=False)],
    copy_references: Annotated[
        bool,
        typer.Option("--copy-references", help="Copy reference files that lie outside the target's folder into it."),
    ] = False,
) -> None:
    """Write the whole registry as a manifest that imports back to the same registry."""
    doc = export_manifest(state.open(create=False), target, copy_references=copy_references)
    err.print(f"wrote {target}: {len(doc['holders'])} holders, {len(doc['works'])} works")


@registry_app.command("stats")
def registry_stats_command(
    index: Annotated[
        bool,
        typer.Option(
            "--index",
            help="Also build the reference index in memory (its time and size) and on disk, where scans open it "
            "by memory map (its size, the time to open it, what each worker holds of its own).",
        ),
    ] = False,
    generic: Annotated[
        bool,
        typer.Option(
            "--generic",
            help="Also list each reference's generic share: how much of its frames (footage) or features (assets) "
            "other works' references match, as measured when the reference index was written (written now when "
            "there is none).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """What the registry holds: works, references, hours of footage, assets, fingerprints, sizes, generic share."""
    registry = state.open(create=False)
    facts = registry_facts(registry, EngineParams(), measure_index=index)
    if index or generic:
        facts["generic"] = generic_facts(registry, EngineParams())
    if as_json:
        out.print_json(json.dumps(facts))
        return
    table = Table(show_edge=False, show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    refs = facts["references"]
    rows = [
        ("holders", str(facts["holders"])),
        ("works", ", ".join(f"{n} {layer}" for layer, n in facts["works"].items()) or "0"),
        ("footage references", f"{refs.get('footage', {}).get('count', 0)} ({facts['footage_hours']:.2f} h)"),
        ("assets", str(refs.get("asset", {}).get("count", 0))),
    ]
    for algorithm, stored in facts["fingerprints"].items():
        rows.append((f"fingerprints {algorithm}", f"{stored['count']} ({_mb(stored['bytes'])})"))
    rows.append(("fingerprint version", facts["fingerprint_version"]))
    if facts["stale_fingerprints"]:
        rows.append(("fingerprints of other versions", str(facts["stale_fingerprints"])))
    if "database_bytes" in facts:
        rows.append(("database file", _mb(facts["database_bytes"])))
    if "index" in facts:
        ix = facts["index"]
        rows.append(("index in RAM, each worker", f"{_mb(ix['total_bytes'])} (built in {ix['build_s']:.1f} s)"))
        rows += [(f"  {part.replace('_', ' ')}", _mb(n)) for part, n in ix["bytes"].items()]
    if "index_on_disk" in facts:
        disk = facts["index_on_disk"]
        rows.append(("index on disk, shared", f"{_mb(disk['bytes'])} (opened in {disk['open_s']:.2f} s)"))
        rows.append(("  held by each worker", _mb(disk["private_bytes"])))
        budget = disk.get("memory_budget_bytes")
        room = f"{_mb(budget)} of memory to use" if budget is not None else "memory to use unknown"
        paged = "at random, as searches land" if disk.get("read_at_random") else "read ahead"
        rows.append(("  paged in", f"{paged} ({room})"))
        rows.append(("  directory", disk["path"]))
    if "generic" in facts:
        rows += _generic_rows(facts["generic"])
    for row in rows:
        table.add_row(*row)
    out.print(table)
    if generic:
        _print_shares(facts["generic"])


def _generic_rows(generic: dict[str, Any]) -> list[tuple[str, str]]:
    """The generic shares' summary, per kind of reference."""
    rows = []
    for kind, unit in (("footage", "frames"), ("asset", "features")):
        s = generic["summary"][kind]
        if s["references"]:
            notable = f"{s['notable']} of {s['references']} reference(s) >= {generic['notable_share']:.0%}"
            rows.append((f"generic share, {kind}", f"{s['share']:.1%} of {s['judged']} {unit}; {notable}"))
    return rows


def _print_shares(generic: dict[str, Any]) -> None:
    """Every reference's generic share, the largest first."""
    table = Table(title="Generic share: content other works' references match", show_edge=False)
    for column in ("work", "path", "kind", "share", "judged", "shared", "shared with"):
        table.add_column(
            column, justify="right" if column in ("share", "judged", "shared") else "left", overflow="fold"
        )
    for g in generic["references"]:
        table.add_row(
            g["work"],
            g["path"],
            g["kind"],
            f"{g['share']:.1%}",
            str(g["judged"]),
            str(g["shared"]),
            ", ".join(g["works"]) or "-",
        )
    out.print(table)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


@registry_app.command("list")
def registry_list(
    holder: Annotated[str | None, typer.Option(help="Only this holder's works.", show_default=False)] = None,
    layer: Annotated[Layer | None, typer.Option(help="Only works of this layer.", show_default=False)] = None,
) -> None:
    """List the registered works."""
    registry = state.open(create=False)
    kinds = {h["id"]: h["kind"] for h in list_holders(registry)}
    if holder and holder not in kinds:
        raise NotFoundError(f"no holder with id {holder!r} (see the holder column of `provenance registry list`)")
    works = list_works(registry, holder or None, layer.value if layer else None)
    table = Table(show_edge=False)
    for column in ("work", "title", "holder", "layer", "ai_training", "references"):
        table.add_column(column)
    for work in works:
        table.add_row(
            work["id"],
            work["title"],
            f"{work['holder']} ({kinds[work['holder']]})",
            work["layer"],
            work["policy"]["ai_training"],
            str(len(work["references"])),
        )
    out.print(table)
    err.print(f"{len(works)} work(s)")


@registry_app.command("show")
def registry_show(work_id: Annotated[str, typer.Argument(help="Work id.", show_default=False)]) -> None:
    """Show one work: holder, terms and references."""
    found = work_detail(state.open(create=False), work_id)
    if found is None:
        raise NotFoundError(f"no work with id {work_id!r}")
    work, holder, refs = found.work, found.holder, found.references
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
    for column in ("path", "kind", "media", "size", "duration", "sha256", "from"):
        table.add_column(column)
    for ref in refs:
        media = f"{ref.width}x{ref.height}" + (f" {ref.fps:.2f} fps" if ref.media_kind == "video" else "")
        duration = f"{ref.duration_s:.1f}s" if ref.media_kind == "video" else "-"
        source = f"pack {ref.pack_id[:12]}" if ref.pack_id else "file"  # a rights pack's: no file
        table.add_row(ref.path, ref.kind, media, f"{ref.size_bytes / 1024:.0f} KiB", duration, ref.sha256[:12], source)
    out.print(table)


# ---------------------------------------------------------------------------------------------------------
# rights packs
# ---------------------------------------------------------------------------------------------------------


@registry_app.command("pack")
def registry_pack(
    holder: Annotated[str, typer.Option("--holder", help="The holder whose works are packed.", show_default=False)],
    out_file: Annotated[Path, typer.Option("--out", help="The pack file to write (FILE.pack).", show_default=False)],
    work: Annotated[
        list[str] | None,
        typer.Option("--work", help="Only this work of the holder (repeatable; default: all).", show_default=False),
    ] = None,
    sign_key: Annotated[
        Path | None,
        typer.Option("--sign-key", help="Sign with this Ed25519 private key (PEM).", show_default=False),
    ] = None,
    thumbnails: Annotated[
        bool, typer.Option("--thumbnails", help="Add a few small JPEG frames per reference as evidence.")
    ] = False,
) -> None:
    """Write a rights pack: a holder's works, terms and fingerprints, without footage."""
    from provenance.audit.packs import build_pack
    from provenance.cli.progress import ScanProgress

    registry = state.open(create=False)
    with ScanProgress(err) as progress:
        summary = build_pack(
            registry,
            holder,
            out_file,
            work_ids=work,
            sign_key=sign_key,
            thumbnails=thumbnails,
            progress=progress.message,
        )
    signed = f", signed by key {summary.signer[:16]}..." if summary.signer else ", unsigned"
    err.print(
        f"wrote {out_file}: holder {summary.holder}, {summary.works} work(s), {summary.references} reference(s), "
        f"{summary.thumbnails} thumbnail(s){signed}"
    )
    out.print(f"pack {summary.id}")


@registry_app.command("import-pack")
def registry_import_pack(
    pack: Annotated[Path, typer.Argument(help="The rights pack file.", show_default=False)],
    verify_key: Annotated[
        Path | None,
        typer.Option(
            "--verify-key", help="Require the holder's signature: its Ed25519 public key (PEM).", show_default=False
        ),
    ] = None,
) -> None:
    """Import a rights pack: checked whole first, then all or nothing; re-importing updates in place."""
    from provenance.audit.packs import import_pack_file

    registry = state.open()
    report, summary = import_pack_file(registry, pack, verify_key)
    signed = f"signature of key {summary.signer[:16]}... verified" if summary.signer else "unsigned"
    err.print(
        f"imported {pack} (holder {summary.holder}, {signed}): works created {report.created['works']}, "
        f"updated {report.updated['works']}, unchanged {report.unchanged['works']}; references created "
        f"{report.created['references']}, updated {report.updated['references']}, unchanged "
        f"{report.unchanged['references']}, removed {report.removed_references}"
    )
    with registry.session() as session:
        out.print(f"registry digest {registry_digest(session)}")
