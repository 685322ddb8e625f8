"""The EU AI Act training-content summary (Art. 53(1)(d)) drawn from an audit report: the facts a report knows,
in the order of the Commission's template, and the provider's own declarations left as marked fields to fill.

What is counted (:func:`eu_summary`):

* video: clips, hours (sum of ``duration_s``) and the template's size band: under 10,000 hours, 10,000 to
  1 million hours, over 1 million hours;
* top domains: the host of each clip's ``source_url`` (report field, else ``metadata.source_url``/``url``), by
  share of the hours of clips with a URL (largest first, at most :data:`TOP_DOMAINS`);
* holders and layers: the hours of the clips holding a registered work of each holder / layer, as a share of all
  hours (a clip holding two holders' works counts for both);
* opt-outs: clips carrying an opt-out signal, by signal source; stripped reservations; and how they were honoured:
  the clips ``--emit-clean`` holds back (never cleared for training: :func:`provenance.report.outputs.cleared`),
  of them the opted-out ones, and the opted-out clips it would clear (0 unless the report was edited).

Every figure is rounded (hours to 3 decimals, shares to 4). The provider's declarations (who, which model, other
sources...) are ``{"value": null, "to_fill": true, "help": ...}``: this tool cannot know them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any
from urllib.parse import urlsplit

from provenance.report.model import Clip, Report
from provenance.report.outputs import cleared
from provenance.report.signals import source_url
from provenance.report.vocabulary import EXPOSURE_ORDER, LAYERS

__all__ = ["PROVIDER_FIELDS", "TOP_DOMAINS", "TO_FILL", "eu_summary", "size_band", "summary_markdown"]

#: How many domains the summary lists.
TOP_DOMAINS = 10
#: What a field left to the provider shows in the page.
TO_FILL = "[to be completed by the provider]"

#: The provider's declarations the template asks for and a report cannot know: (field, what to write).
PROVIDER_FIELDS: tuple[tuple[str, str], ...] = (
    ("provider_name_and_contact", "The provider's name and contact details."),
    ("model_names", "The general-purpose AI model(s) trained on this content, with versions."),
    ("placement_on_market", "When the model was or will be placed on the EU market."),
    ("other_modalities", "Text, image, audio and other training content, with their size bands."),
    ("other_data_sources", "Public datasets, licensed data, user data, synthetic data used besides this dataset."),
    ("crawlers_and_periods", "The crawlers that collected web content, their user agents and collection periods."),
    ("opt_out_measures", "The measures taken to honour text-and-data-mining reservations, in the provider's words."),
    ("illegal_content_measures", "The measures taken to avoid illegal content in the training data."),
)


def size_band(hours: float) -> str:
    """The template's size band of video hours."""
    if hours < 10_000:
        return "less than 10,000 hours"
    if hours <= 1_000_000:
        return "10,000 to 1 million hours"
    return "more than 1 million hours"


def _hours(seconds: float) -> float:
    return round(seconds / 3600.0, 3)


def _share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole > 0 else 0.0


def _url(clip: Clip) -> str | None:
    return clip.source_url or source_url(clip.metadata)


def _domain(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


def _shares(seconds: dict[str, float], clips: Counter[str], whole: float, key: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {key: name, "clips": clips[name], "hours": _hours(s), "share": _share(s, whole)} for name, s in seconds.items()
    ]
    rows.sort(key=lambda r: (-r["hours"], -r["clips"], r[key]))
    return rows


def _opt_outs(report: Report) -> dict[str, Any]:
    opted = [c for c in report.clips if c.signals is not None and c.signals.opt_out]
    by_source: Counter[str] = Counter()
    for clip in opted:
        items = clip.signals.items if clip.signals is not None else []
        for source in {s.source for s in items if s.effect == "reserves"}:
            by_source[source] += 1
    verdicts = Counter(c.signals.verdict for c in report.clips if c.signals is not None)
    held = [c for c in report.clips if not cleared(c)]
    return {
        "clips_with_opt_out": len(opted),
        "by_source": dict(sorted(by_source.items())),
        "opt_out_without_registered_work": verdicts.get("opt_out_unregistered", 0),
        "reservation_stripped": verdicts.get("reservation_stripped", 0),
        "unreadable_signals": verdicts.get("unreadable", 0),
        "honoured": {
            "rule": "--emit-clean lists only clips read without error, of exposure none or low, carrying no "
            "opt-out; an opt-out signal (valid or not) makes a clip's exposure high",
            "clips_removed_by_emit_clean": len(held),
            "hours_removed_by_emit_clean": _hours(sum(c.duration_s or 0.0 for c in held)),
            "opted_out_clips_removed": sum(1 for c in opted if not cleared(c)),
            "opted_out_clips_cleared": sum(1 for c in opted if cleared(c)),
        },
    }


def eu_summary(report: Report, generated: str) -> dict[str, Any]:
    """The summary's JSON object (see the module docstring); ``generated`` is today's date (ISO)."""
    clips = report.clips
    total_s = sum(c.duration_s or 0.0 for c in clips)
    hours = _hours(total_s)
    domain_s: dict[str, float] = defaultdict(float)
    domain_n: Counter[str] = Counter()
    holder_s: dict[str, float] = defaultdict(float)
    holder_n: Counter[str] = Counter()
    holder_names: dict[str, str] = {}
    layer_s: dict[str, float] = defaultdict(float)
    layer_n: Counter[str] = Counter()
    with_url = 0
    for clip in clips:
        seconds = clip.duration_s or 0.0
        url = _url(clip)
        if url is not None and _domain(url):
            with_url += 1
            domain_s[_domain(url)] += seconds
            domain_n[_domain(url)] += 1
        for holder in {x.holder for x in clip.layers}:
            holder_s[holder] += seconds
            holder_n[holder] += 1
        for layer in clip.layers:
            holder_names.setdefault(layer.holder, layer.holder_name or layer.holder)
        for name in {x.layer for x in clip.layers}:
            layer_s[name] += seconds
            layer_n[name] += 1
    url_s = sum(domain_s.values())
    holders = _shares(holder_s, holder_n, total_s, "holder")
    for row in holders:
        row["name"] = holder_names[row["holder"]]
    layers = _shares(layer_s, layer_n, total_s, "layer")
    layers.sort(key=lambda r: LAYERS.index(r["layer"]))
    scan = report.scan
    return {
        "template": "EU AI Act, Art. 53(1)(d): public summary of the content used to train a general-purpose AI "
        "model (the Commission's template); the facts below are drawn from an audit report",
        "generated": generated,
        "report": {
            "dataset": scan.dataset if scan else None,
            "date": scan.date if scan else None,
            "as_of": scan.as_of if scan else None,
            "registry_digest": scan.registry_digest if scan else None,
        },
        "modalities": {"video": {"clips": len(clips), "hours": hours, "size_band": size_band(hours)}},
        "clips": {
            "total": len(clips),
            "errors": sum(1 for c in clips if c.error),
            "by_exposure": {level: sum(1 for c in clips if c.exposure == level) for level in EXPOSURE_ORDER},
        },
        "domains": {
            "clips_with_source_url": with_url,
            "hours_with_source_url": _hours(url_s),
            "top": _shares(domain_s, domain_n, url_s, "domain")[:TOP_DOMAINS],
        },
        "holders": holders,
        "layers": layers,
        "opt_outs": _opt_outs(report),
        "provider_declarations": {
            name: {"value": None, "to_fill": True, "help": help_text} for name, help_text in PROVIDER_FIELDS
        },
    }


def _pct(share: float) -> str:
    return f"{share * 100:.1f} %"


def summary_markdown(summary: dict[str, Any]) -> str:
    """The summary as a Markdown page a person reads (the provider's fields marked :data:`TO_FILL`)."""
    video = summary["modalities"]["video"]
    opt = summary["opt_outs"]
    honoured = opt["honoured"]
    lines = [
        "# Training content summary (EU AI Act, Art. 53(1)(d))",
        "",
        f"Drawn on {summary['generated']} from the audit of `{summary['report']['dataset']}` "
        f"(scanned {summary['report']['date']}, terms as of {summary['report']['as_of']}).",
        "",
        "## Modalities and size",
        "",
        f"- Video: {video['clips']} clips, {video['hours']} hours: **{video['size_band']}**",
        "",
        "## Main sources: top domains by share of hours",
        "",
    ]
    top = summary["domains"]["top"]
    if top:
        lines += ["| domain | clips | hours | share |", "|---|---|---|---|"]
        lines += [f"| {r['domain']} | {r['clips']} | {r['hours']} | {_pct(r['share'])} |" for r in top]
    else:
        lines.append("No clip of the report has a source URL.")
    lines += ["", "## Registered rights holders and layers found (share of all hours)", ""]
    if summary["holders"]:
        lines += ["| holder | clips | hours | share |", "|---|---|---|---|"]
        lines += [f"| {r['name']} | {r['clips']} | {r['hours']} | {_pct(r['share'])} |" for r in summary["holders"]]
        lines += ["", "| layer | clips | hours | share |", "|---|---|---|---|"]
        lines += [f"| {r['layer']} | {r['clips']} | {r['hours']} | {_pct(r['share'])} |" for r in summary["layers"]]
    else:
        lines.append("No registered work was found.")
    by_source = ", ".join(f"{k}: {v}" for k, v in opt["by_source"].items()) or "none"
    lines += [
        "",
        "## Text-and-data-mining opt-outs and how they were honoured",
        "",
        f"- Clips carrying an opt-out signal: {opt['clips_with_opt_out']} (by source: {by_source})",
        f"- Of them without any registered work found: {opt['opt_out_without_registered_work']}",
        f"- Registered reservations no longer carried by the clip (stripped): {opt['reservation_stripped']}",
        f"- Rule: {honoured['rule']}.",
        f"- Removed from training by `--emit-clean`: {honoured['clips_removed_by_emit_clean']} clips "
        f"({honoured['hours_removed_by_emit_clean']} hours), of them {honoured['opted_out_clips_removed']} with an "
        f"opt-out; opted-out clips cleared: {honoured['opted_out_clips_cleared']}",
        "",
        "## The provider's declarations",
        "",
    ]
    for name, field in summary["provider_declarations"].items():
        value = field["value"] if field["value"] is not None else TO_FILL
        lines.append(f"- **{name.replace('_', ' ')}** ({field['help']}): {value}")
    return "\n".join(lines) + "\n"
