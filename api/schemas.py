"""Request and response bodies of the HTTP API (pydantic), with the examples the OpenAPI document shows.

Report objects (a clip, its layers, segments and policies) are the report's own typed model
(:mod:`provenance.report.model`, re-exported here with its examples): they follow the report JSON contract,
and fields beyond the contract's are allowed (the report only ever adds fields). So are the vocabularies.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from provenance.report import AiTraining, Clip, Exposure, LayerName, Policy, Segment
from provenance.report import Layer as ClipLayer
from provenance.report.model import POLICY_EXAMPLE, SEGMENT_EXAMPLE
from rightsdb import ID_PATTERN as RIGHTSDB_ID
from rightsdb.validation import control_problem, territory_problem

__all__ = [
    "ID_PATTERN",
    "AiTrainingT",
    "Clip",
    "ClipLayer",
    "ClipPath",
    "ExposureT",
    "FindingClip",
    "FindingOut",
    "FindingPage",
    "HolderIn",
    "HolderKindT",
    "HolderOut",
    "HolderUpdate",
    "Job",
    "JobPage",
    "JobProgress",
    "LayerT",
    "Line",
    "PackImportOut",
    "PathText",
    "Policy",
    "PolicyChangeOut",
    "PolicyIn",
    "Readiness",
    "ReferenceOut",
    "ScanRequest",
    "Segment",
    "Status",
    "Territory",
    "Text",
    "WorkIn",
    "WorkOut",
    "WorkUpdate",
]

#: Holder and work ids, as the manifest checks them (rightsdb.manifest.ID_PATTERN).
ID_PATTERN = RIGHTSDB_ID.pattern
AiTrainingT = AiTraining
LayerT = LayerName
HolderKindT = Literal["publisher", "streamer", "ugc_creator", "label", "other"]
ExposureT = Exposure


def _refuse(problem: str | None) -> None:
    if problem is not None:
        raise PydanticCustomError("invalid_text", problem)


def _line(value: str) -> str:
    _refuse(control_problem(value))
    return value


def _text(value: str) -> str:
    _refuse(control_problem(value, free_text=True))
    return value


def _path(value: str) -> str:
    if "\x00" in value:  # a file name may hold other control characters, never this one
        _refuse(f"contains a NUL byte (U+0000) at position {value.index(chr(0))}")
    return value


def _territory(value: str) -> str:
    _refuse(territory_problem(value))
    return value.strip().upper()


#: One line of text: names, titles, sources, URLs (no control characters).
Line = Annotated[str, AfterValidator(_line)]
#: Free text (a licence's wording): tab and line breaks allowed, no other control character.
Text = Annotated[str, AfterValidator(_text)]
#: A file system path: anything but a NUL byte (which no path can hold).
PathText = Annotated[str, AfterValidator(_path)]
#: An ISO 3166-1 alpha-2 code (any case; upper-cased), checked against the assigned codes.
Territory = Annotated[str, AfterValidator(_territory)]


class Status(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})
    status: str


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "ready", "database": "sqlite", "schema": "0003"}]}
    )
    status: str
    database: str
    schema_revision: str = Field(alias="schema")


class PolicyIn(BaseModel):
    """A work's terms for AI training, as in the manifest's ``policy``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [POLICY_EXAMPLE]})
    ai_training: AiTrainingT
    license: Text | None = Field(default=None, max_length=2048)
    territories: list[Territory] | None = Field(
        default=None, min_length=1, description="ISO 3166-1 alpha-2 codes where the terms apply"
    )
    valid_from: date | None = None
    valid_until: date | None = None
    source: Line | None = Field(default=None, max_length=64)
    url: Line | None = Field(default=None, max_length=2048)


class HolderIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"id": "acme", "name": "Acme Games", "kind": "publisher"}]}
    )
    id: str = Field(pattern=ID_PATTERN)
    name: Line = Field(min_length=1, max_length=512)
    kind: HolderKindT


class HolderUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "Acme Games Ltd"}]})
    name: Line | None = Field(default=None, min_length=1, max_length=512)
    kind: HolderKindT | None = None


class HolderOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "acme",
                    "name": "Acme Games",
                    "kind": "publisher",
                    "created_at": "2026-11-25T10:00:00+00:00",
                    "updated_at": "2026-11-25T10:00:00+00:00",
                }
            ]
        }
    )
    id: str
    name: str
    kind: HolderKindT
    created_at: str
    updated_at: str


class ReferenceOut(BaseModel):
    path: str
    kind: Literal["footage", "asset", "audio"]
    sha256: str
    media_kind: Literal["video", "image", "audio"]
    width: int
    height: int
    duration_s: float


class WorkIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "acme-racer",
                    "title": "Acme Racer",
                    "holder": "acme",
                    "layer": "game",
                    "policy": {"ai_training": "deny", "license": "All rights reserved"},
                }
            ]
        },
    )
    id: str = Field(pattern=ID_PATTERN)
    title: Line = Field(min_length=1, max_length=512)
    holder: str = Field(pattern=ID_PATTERN)
    layer: LayerT
    policy: PolicyIn


class WorkUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"title": "Acme Racer (2026)"}]})
    title: Line | None = Field(default=None, min_length=1, max_length=512)
    layer: LayerT | None = None


class PackImportOut(BaseModel):
    """What importing a rights pack did (counts by kind of row: holders, works, references)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "4e626f1b3692c83733ad120ddb3e596559f53eed5c9db5fa6158c0af17f5cc3d",
                    "holder": "acme",
                    "works": 1,
                    "references": 2,
                    "thumbnails": 7,
                    "signer": "879956fa236da742b3c8a1d1f0a9e3e1c2b4d5e6f708192a3b4c5d6e7f809112",
                    "created": {"holders": 1, "works": 1, "references": 2},
                    "updated": {"holders": 0, "works": 0, "references": 0},
                    "unchanged": {"holders": 0, "works": 0, "references": 0},
                    "removed_references": 0,
                }
            ]
        }
    )

    id: str = Field(description="the pack's id: the sha256 of its manifest")
    holder: str
    works: int
    references: int
    thumbnails: int
    signer: str | None = Field(description="the Ed25519 public key (hex) whose signature was verified, if signed")
    created: dict[str, int]
    updated: dict[str, int]
    unchanged: dict[str, int]
    removed_references: int


class WorkOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "acme-racer",
                    "title": "Acme Racer",
                    "holder": "acme",
                    "layer": "game",
                    "policy": {"ai_training": "deny", "license": "All rights reserved"},
                    "references": [
                        {
                            "path": "footage/acme-racer-trailer.mp4",
                            "kind": "footage",
                            "sha256": "ab" * 32,
                            "media_kind": "video",
                            "width": 1280,
                            "height": 720,
                            "duration_s": 62.0,
                        }
                    ],
                    "created_at": "2026-11-25T10:00:00+00:00",
                    "updated_at": "2026-11-25T10:00:00+00:00",
                }
            ]
        }
    )
    id: str
    title: str
    holder: str
    layer: LayerT
    policy: Policy
    references: list[ReferenceOut]
    created_at: str
    updated_at: str


class PolicyChangeOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "work": "acme-racer",
                    "actor": "key:3f9a0c2b7d1e",
                    "changed_at": "2026-11-25T10:00:00+00:00",
                    "before": {"ai_training": "unknown"},
                    "after": {"ai_training": "deny"},
                }
            ]
        }
    )
    id: int
    work: str
    actor: str
    changed_at: str
    before: dict[str, Any] | None
    after: dict[str, Any]


class ClipPath(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"path": "/data/clips/clip.mp4"}]})
    path: PathText = Field(min_length=1, max_length=4096, description="a media file under one of the data roots")


class FindingClip(BaseModel):
    path: str
    sha256: str | None
    exposure: ExposureT
    duration_s: float | None


class FindingOut(BaseModel):
    id: int
    scan: str
    clip: FindingClip
    layer: LayerT
    holder: str
    work: str
    ai_training: AiTrainingT
    confidence: float
    segments: list[Segment]
    modality: Literal["video", "audio"] = "video"  # where it was found: the clip's picture or its sound


class FindingPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": 17,
                            "scan": "5b1c9e0f3a2d4c6b8e7f9a0b1c2d3e4f",
                            "clip": {
                                "path": "streams/highlight.mp4",
                                "sha256": "9f2c" + "0" * 60,
                                "exposure": "high",
                                "duration_s": 8.0,
                            },
                            "layer": "game",
                            "holder": "acme",
                            "work": "acme-racer",
                            "ai_training": "deny",
                            "confidence": 0.93,
                            "segments": [SEGMENT_EXAMPLE],
                        }
                    ],
                    "next_cursor": "MTc",
                }
            ]
        }
    )
    items: list[FindingOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


class ScanRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"dataset": "/data/datasets/batch-0042", "as_of": "2026-11-25", "territory": "DE"}]
        },
    )
    dataset: PathText = Field(
        min_length=1, max_length=4096, description="absolute path of a folder, .tar shard or manifest under a data root"
    )
    as_of: date | None = Field(default=None, description="apply the terms in force on this date (default today)")
    territory: Territory | None = Field(default=None, description="ISO 3166-1 alpha-2")
    rescan: bool = Field(default=False, description="match every clip again, ignoring stored results")


class JobProgress(BaseModel):
    clips_total: int
    clips_done: int
    clips_error: int
    fraction: float | None


_JOB_EXAMPLE: Any = {
    "id": "0c6f1a8e9b2d4f7a8c3e5d1b9a7f2e4c",
    "dataset": "/data/datasets/batch-0042",
    "status": "running",
    "phase": "scanning",
    "options": {"as_of": "2026-11-25"},
    "scan_id": "5b1c9e0f3a2d4c6b8e7f9a0b1c2d3e4f",
    "progress": {"clips_total": 120, "clips_done": 37, "clips_error": 1, "fraction": 0.3083},
    "attempts": 1,
    "cancel_requested": False,
    "error": None,
    "created_by": "3f9a0c2b7d1e",
    "created_at": "2026-11-25T10:00:00+00:00",
    "started_at": "2026-11-25T10:00:01+00:00",
    "finished_at": None,
    "summary": None,
}


class Job(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_JOB_EXAMPLE]})
    id: str
    dataset: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    phase: str | None
    options: dict[str, Any]
    scan_id: str | None
    progress: JobProgress
    attempts: int
    cancel_requested: bool
    error: str | None
    created_by: str | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    summary: dict[str, int] | None


class JobPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_JOB_EXAMPLE], "next_cursor": None}]})
    items: list[Job]
    next_cursor: str | None
