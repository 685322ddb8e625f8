"""The report: the typed report model, exposure, rendering a clip, outputs for pipelines, the HTML page.

:mod:`~provenance.report.model` is the report JSON contract as pydantic models (one definition for the JSON
writer, the CSV, the file lists, the HTML page and the service's schemas); :mod:`~provenance.report.vocabulary`
its vocabularies (layers, exposure levels, AI-training terms, verdicts). :mod:`~provenance.report.render` turns
the engine's raw result for a clip into a clip of the report; :mod:`~provenance.report.exposure` says how exposed
it is and why; :mod:`~provenance.report.outputs` and :mod:`~provenance.report.html` render a report as text
(JSON, CSV, file lists, one HTML page with :mod:`~provenance.report.thumbs` thumbnails). Writing files is the
caller's: this package reads no database and writes nothing.
"""

from provenance.report.evidence import evidence_times
from provenance.report.exposure import Terms, effective_terms, exposure_of, reason
from provenance.report.html import FLAGGED, render_html
from provenance.report.model import (
    AssetEvidence,
    Clip,
    DisputeMark,
    Evidence,
    FootageEvidence,
    Layer,
    Policy,
    References,
    Report,
    ReportModel,
    Review,
    ScanFacts,
    Segment,
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
from provenance.report.reviews import ClipReviews, apply_reviews, counted, dismissed
from provenance.report.thumbs import ClipLocator, ReferenceLocator, Thumbnailer
from provenance.report.vocabulary import (
    AI_TRAINING,
    EXPOSURE_ORDER,
    FAIL_ON_LEVELS,
    LAYERS,
    VERDICTS,
    AiTraining,
    Exposure,
    LayerName,
    Verdict,
    ai_training,
    layer_name,
)

__all__ = [
    "AI_TRAINING",
    "CSV_COLUMNS",
    "EXPOSURE_ORDER",
    "FAIL_ON_LEVELS",
    "FLAGGED",
    "LAYERS",
    "LIST_FORMATS",
    "VERDICTS",
    "AiTraining",
    "AssetEvidence",
    "Clip",
    "ClipLocator",
    "ClipReviews",
    "DisputeMark",
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
    "Review",
    "ScanFacts",
    "Segment",
    "Source",
    "Terms",
    "Thumbnailer",
    "Verdict",
    "ai_training",
    "apply_reviews",
    "cleared",
    "clip_list",
    "counted",
    "csv_text",
    "dismissed",
    "effective_terms",
    "evidence_times",
    "exceeds",
    "exposure_of",
    "layer_name",
    "list_text",
    "listable",
    "load_report",
    "reason",
    "render_clip",
    "render_html",
    "report_json",
    "with_layers",
]
