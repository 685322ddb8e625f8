"""The report: the typed report model, exposure, rendering a clip, outputs for pipelines, the HTML page.

:mod:`~provenance.report.model` is the report JSON contract as pydantic models (one definition for the JSON
writer, the CSV, the file lists, the HTML page and the service's schemas); :mod:`~provenance.report.vocabulary`
its vocabularies (layers, exposure levels, AI-training terms, verdicts). :mod:`~provenance.report.render` turns
the engine's raw result for a clip into a clip of the report; :mod:`~provenance.report.exposure` says how exposed
it is and why; :mod:`~provenance.report.outputs` and :mod:`~provenance.report.html` render a report as text
(JSON, CSV, file lists, one HTML page with :mod:`~provenance.report.thumbs` thumbnails).
:mod:`~provenance.report.signals` says what opt-out signals mean and joins them with a clip's layers,
:mod:`~provenance.report.robots` reads robots.txt / ai.txt / tdmrep.json rules for a URL path, and
:mod:`~provenance.report.summary` draws the EU AI Act training-content summary from a report. Writing files is the
caller's: this package reads no database and writes nothing.
"""

from provenance.report.evidence import evidence_times
from provenance.report.exposure import Terms, effective_terms, exposure_of, reason
from provenance.report.html import FLAGGED, render_html
from provenance.report.model import (
    AssetEvidence,
    Clip,
    Evidence,
    FootageEvidence,
    Layer,
    Policy,
    References,
    Report,
    ReportModel,
    ScanFacts,
    Segment,
    Signal,
    Signals,
    Source,
)
from provenance.report.outputs import (
    CSV_COLUMNS,
    LIST_FORMATS,
    ListFormat,
    cleared,
    clip_list,
    csv_text,
    exceeds,
    list_text,
    listable,
    load_report,
    report_json,
)
from provenance.report.render import RefInfo, render_clip, with_layers
from provenance.report.robots import (
    AI_CRAWLERS,
    SnapshotVerdict,
    ai_txt_verdict,
    robots_usage,
    robots_verdict,
    tdmrep_verdict,
)
from provenance.report.signals import (
    RESERVATION_SOURCES,
    apply_signals,
    content_usage,
    embedded_signals,
    header_signals,
    source_url,
    tdm_reservation,
    x_robots_tag,
)
from provenance.report.summary import PROVIDER_FIELDS, TO_FILL, TOP_DOMAINS, eu_summary, size_band, summary_markdown
from provenance.report.thumbs import ClipLocator, ReferenceLocator, Thumbnailer
from provenance.report.vocabulary import (
    AI_TRAINING,
    EXPOSURE_ORDER,
    FAIL_ON_LEVELS,
    LAYERS,
    SIGNAL_EFFECTS,
    SIGNAL_SOURCES,
    SIGNAL_VERDICTS,
    VERDICTS,
    AiTraining,
    Exposure,
    LayerName,
    SignalEffect,
    SignalSource,
    SignalVerdict,
    Verdict,
    ai_training,
    layer_name,
)

__all__ = [
    "AI_CRAWLERS",
    "AI_TRAINING",
    "CSV_COLUMNS",
    "EXPOSURE_ORDER",
    "FAIL_ON_LEVELS",
    "FLAGGED",
    "LAYERS",
    "LIST_FORMATS",
    "PROVIDER_FIELDS",
    "RESERVATION_SOURCES",
    "SIGNAL_EFFECTS",
    "SIGNAL_SOURCES",
    "SIGNAL_VERDICTS",
    "TOP_DOMAINS",
    "TO_FILL",
    "VERDICTS",
    "AiTraining",
    "AssetEvidence",
    "Clip",
    "ClipLocator",
    "Evidence",
    "Exposure",
    "FootageEvidence",
    "Layer",
    "LayerName",
    "ListFormat",
    "Policy",
    "RefInfo",
    "ReferenceLocator",
    "References",
    "Report",
    "ReportModel",
    "ScanFacts",
    "Segment",
    "Signal",
    "SignalEffect",
    "SignalSource",
    "SignalVerdict",
    "Signals",
    "SnapshotVerdict",
    "Source",
    "Terms",
    "Thumbnailer",
    "Verdict",
    "ai_training",
    "ai_txt_verdict",
    "apply_signals",
    "cleared",
    "clip_list",
    "content_usage",
    "csv_text",
    "effective_terms",
    "embedded_signals",
    "eu_summary",
    "evidence_times",
    "exceeds",
    "exposure_of",
    "header_signals",
    "layer_name",
    "list_text",
    "listable",
    "load_report",
    "reason",
    "render_clip",
    "render_html",
    "report_json",
    "robots_usage",
    "robots_verdict",
    "size_band",
    "source_url",
    "summary_markdown",
    "tdm_reservation",
    "tdmrep_verdict",
    "with_layers",
    "x_robots_tag",
]
