"""The report as a typed model (pydantic): one definition that the JSON writer, the CSV, the file lists, the HTML
page and the service's schemas share.

The report JSON is a contract other tools read (README, docs): it is only ever extended. So the model is written
back exactly as it was read or built (:meth:`ReportModel.to_dict`):

* fields come out in the order declared here (the order reports have always had), then any field the model does
  not know, in the order given: a report of another tool, or of a later version, keeps what it carries
  (``extra="allow"``);
* a field comes out when it was given, and only then (``exclude_unset``), null or not. A clip's ``source``,
  ``metadata`` and ``frame_size``, a policy's optional terms and a footage segment's ``speed`` and ``score`` are
  left out when there are none; ``error``, ``sha256``, ``region`` and an asset segment's ``ref_start`` and
  ``ref_end`` are always given, as null when there is nothing (see :mod:`provenance.report.render`).

Fields that the contract does not require default to nothing, so that reports without its extensions load.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from provenance.report.vocabulary import (
    AiTraining,
    Exposure,
    LayerName,
    SignalEffect,
    SignalSource,
    SignalVerdict,
    Verdict,
)

__all__ = [
    "CLIP_EXAMPLE",
    "POLICY_EXAMPLE",
    "SEGMENT_EXAMPLE",
    "AssetEvidence",
    "AudioEvidence",
    "Clip",
    "DisputeMark",
    "Evidence",
    "FootageEvidence",
    "Layer",
    "Policy",
    "References",
    "Report",
    "ReportModel",
    "Review",
    "ScanFacts",
    "Segment",
    "Signal",
    "Signals",
    "Source",
    "Via",
]

#: Examples of report objects, which the service's OpenAPI document shows (api.schemas re-exports these models).
POLICY_EXAMPLE: dict[str, Any] = {
    "ai_training": "deny",
    "license": "All rights reserved",
    "territories": ["DE", "US"],
    "valid_until": "2027-12-31",
    "source": "tdm-reservation",
    "url": "https://acme.example/ai-terms",
}
SEGMENT_EXAMPLE: dict[str, Any] = {
    "start": 1.0,
    "end": 7.5,
    "reference": "footage/acme-racer-trailer.mp4",
    "ref_start": 31.0,
    "ref_end": 37.5,
}
CLIP_EXAMPLE: dict[str, Any] = {
    "path": "clip.mp4",
    "sha256": "9f2c" + "0" * 60,
    "duration_s": 8.0,
    "exposure": "high",
    "error": None,
    "reason": "High exposure: footage of Acme Racer (Acme Games, AI training denied).",
    "layers": [
        {
            "layer": "game",
            "holder": "acme",
            "holder_name": "Acme Games",
            "work": "acme-racer",
            "title": "Acme Racer",
            "verdict": "denied",
            "policy": {"ai_training": "deny", "license": "All rights reserved"},
            "confidence": 0.93,
            "segments": [SEGMENT_EXAMPLE],
            "evidence": [
                {
                    "kind": "footage",
                    "reference": "footage/acme-racer-trailer.mp4",
                    "region": None,
                    "clip_time": 4.2,
                    "ref_time": 34.2,
                }
            ],
        }
    ],
}


class ReportModel(BaseModel):
    """An object of the report: unknown fields are kept, and it is written back as it was given."""

    model_config = ConfigDict(extra="allow")

    def to_dict(self) -> dict[str, Any]:
        """The object as the report JSON has it: the fields it was given (null or not), in the report's order,
        then any others."""
        return self.model_dump(exclude_unset=True)


class Policy(ReportModel):
    """A work's terms for AI training as they apply to the scan: ``ai_training`` is the term in force on the
    scan date in its territory; ``stated`` (the registry's term) and ``note`` (why) say when it differs.
    ``unlicensed``: under a ``licensed`` review decision, the terms as they were before the licence (so a
    report rendered again after the decision changed can put them back)."""

    model_config = ConfigDict(json_schema_extra={"examples": [POLICY_EXAMPLE]})

    ai_training: AiTraining
    license: str | None = None
    stated: AiTraining | None = None
    note: str | None = None
    valid_from: str | None = None
    valid_until: str | None = None
    territories: list[str] | None = None
    source: str | None = None
    url: str | None = None
    unlicensed: Policy | None = None


class Segment(ReportModel):
    """Where a work is in the clip (``start``-``end``, seconds) and in its reference (``ref_start``-``ref_end``;
    null for an asset, a still). A footage segment also has the alignment's ``speed`` (reference seconds per clip
    second; negative when the clip plays the reference backwards, its ``start`` showing ``ref_end``) and
    ``score``."""

    model_config = ConfigDict(json_schema_extra={"examples": [SEGMENT_EXAMPLE]})

    start: float
    end: float
    reference: str
    ref_start: float | None = None
    ref_end: float | None = None
    speed: float | None = None
    score: float | None = None


class Via(ReportModel):
    """Evidence passed on from a streamer's VOD that the clip copies: the VOD (``reference``, its path) and the
    stretch of it (``ref_start``-``ref_end``, seconds) the clip copies. The finding was made on the VOD's own
    frames when the registry was indexed; the clip is found to copy them."""

    reference: str
    ref_start: float
    ref_end: float


class FootageEvidence(ReportModel):
    """A match with a reference video: how it was found, where in the frame (``region``, fractions of the
    frame; null for the whole picture) and the moment to show a reviewer on both timelines; ``via``: found in a
    streamer's VOD the clip copies, not in the clip's own pixels."""

    reference: str
    kind: Literal["footage"]
    methods: dict[str, int] = Field(default_factory=dict)
    mirrored: bool = False
    best_pdq_distance: int | None = None
    region: list[float] | None = None
    clip_time: float | None = None
    ref_time: float | None = None
    via: Via | None = None


class AssetEvidence(ReportModel):
    """A registered still (HUD, logo, overlay) found in the clip's ``frames`` (seconds), within ``region``;
    ``via``: found in a streamer's VOD the clip copies, not in the clip's own pixels."""

    reference: str
    kind: Literal["asset"]
    method: str | None = None
    mirrored: bool = False
    frames: list[float] = Field(default_factory=list)
    score: float | None = None
    region: list[float] | None = None
    clip_time: float | None = None
    via: Via | None = None


class AudioEvidence(ReportModel):
    """A match in the clip's sound with a reference's sound: how many of the clip's spectrogram peaks were found
    on the reference along the alignment (``votes``), at ``speed``, and the moment to hear on both timelines."""

    reference: str
    kind: Literal["audio"]
    votes: int = 0
    speed: float | None = None
    clip_time: float | None = None
    ref_time: float | None = None


#: One piece of evidence of a layer, told apart by ``kind``.
Evidence = Annotated[FootageEvidence | AssetEvidence | AudioEvidence, Field(discriminator="kind")]

#: Where in the clip a layer was found: its picture or its sound.
Modality = Literal["video", "audio"]


class Review(ReportModel):
    """A person's decision in force on this work in this clip: ``confirmed`` (the finding stands),
    ``false_match`` (dismissed: the layer no longer counts toward the clip's exposure) or ``licensed`` (counts
    as allowed, under ``licence``); who decided (``by``), when (``at``, ISO 8601) and why (``note``)."""

    decision: Literal["confirmed", "false_match", "licensed"]
    note: str
    by: str
    at: str
    licence: str | None = None
    dispute: int | None = None  # the dispute this decision resolved


class DisputeMark(ReportModel):
    """An open dispute: a holder contests the finding on its work in this clip, or claims the clip."""

    id: int
    work: str
    holder: str
    note: str
    at: str


class Layer(ReportModel):
    """One matched work in a clip: its layer, holder, terms, verdict, confidence, segments and evidence."""

    layer: LayerName
    holder: str
    work: str
    title: str | None = None
    holder_name: str | None = None
    policy: Policy
    verdict: Verdict | None = None
    confidence: float
    segments: list[Segment]
    evidence: list[Evidence] = Field(default_factory=list)
    review: Review | None = None
    dispute: DisputeMark | None = None
    modality: Modality | None = None  # absent (older reports): video


class Source(ReportModel):
    """Where a clip read from a WebDataset shard is: the shard's path and the member's name in it."""

    shard: str
    member: str


class Signal(ReportModel):
    """One opt-out or rights signal of a clip: what it is (``kind``), what it says (``value``), where it was found
    (``source``), what it means for AI training (``effect``), when it was captured (``date``) and, for a signed
    C2PA manifest, its ``validation`` (``valid``, ``invalid``, ``untrusted``)."""

    kind: str
    value: str
    source: SignalSource
    effect: SignalEffect
    date: str | None = None
    validation: str | None = None
    detail: str | None = None


class Signals(ReportModel):
    """A clip's signals joined with its registry layers: ``opt_out`` when any signal reserves AI training (valid
    or not: fail closed), the ``verdict`` of the join and a ``note`` saying why."""

    opt_out: bool
    verdict: SignalVerdict
    note: str | None = None
    items: list[Signal] = Field(default_factory=list)


class Clip(ReportModel):
    """One clip of the report (the contract's clip object). A clip that could not be read has an ``error``, no
    layers and exposure ``unknown`` (fail-safe: never cleared)."""

    model_config = ConfigDict(json_schema_extra={"examples": [CLIP_EXAMPLE]})

    path: str
    sha256: str | None
    duration_s: float | None
    exposure: Exposure
    error: str | None
    layers: list[Layer]
    source: Source | None = None
    metadata: dict[str, Any] | None = None
    frame_size: list[int] | None = None
    reason: str | None = None
    claims: list[DisputeMark] | None = None  # open disputes on works the clip shows no layer of
    source_url: str | None = None
    signals: Signals | None = None


class References(ReportModel):
    """How many references the registry held when scanning, by kind."""

    footage: int
    assets: int
    audio: int | None = None


class ScanFacts(ReportModel):
    """What was scanned, against what, how and when; ``summary`` counts the clips by exposure (and errors)."""

    dataset: str
    registry_digest: str
    engine: str
    settings: dict[str, Any]
    date: str | None = None
    as_of: str | None = None
    territory: str | None = None
    match_key: str | None = None
    references: References | None = None
    summary: dict[str, int] | None = None
    selection: dict[str, Any] | None = None  # the part of the dataset scanned (include, exclude, limit), if not all
    disputes_open: int | None = None  # open disputes on the scanned clips (with a registry that has any)


class Report(ReportModel):
    """The audit report: the scan's facts and every clip, in the dataset's order."""

    scan: ScanFacts | None = None
    clips: list[Clip]
