"""Request and response bodies of the review routes: decisions on findings and the holders' disputes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .schemas import Line, PathText, Text

__all__ = ["DecisionT", "DisputeIn", "DisputeOut", "ResolveIn", "Resolved", "ReviewIn", "ReviewOut"]

DecisionT = Literal["confirmed", "false_match", "licensed"]
_SHA = r"^[0-9a-fA-F]{64}$"
_CLIP = "sha256 of the clip's bytes (hex)"


class _Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: DecisionT
    note: Text = Field(min_length=1, max_length=4096, description="why")
    licence: Line | None = Field(default=None, max_length=512, description="the licence's reference (licensed)")
    reference: PathText | None = Field(
        default=None,
        max_length=1024,
        description="false_match only: a reference of the work to mark generic (not matched from then on)",
    )
    ref_start: float | None = Field(default=None, ge=0, description="start of the generic stretch (s)")
    ref_end: float | None = Field(default=None, ge=0, description="end of the generic stretch (s)")


class ReviewIn(_Decision):
    """A decision on one work in one clip content."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "clip": "9f2c" + "0" * 60,
                    "work": "acme-racer",
                    "decision": "licensed",
                    "note": "covered by the 2026 data licence",
                    "licence": "ACME-DL-2026-014",
                }
            ]
        },
    )
    clip: str = Field(pattern=_SHA, description=_CLIP)
    work: Line = Field(min_length=1, max_length=128)


class ResolveIn(_Decision):
    """The decision a dispute resolves into (on the dispute's clip and work)."""


class ReviewOut(BaseModel):
    id: int
    clip: str
    work: str
    decision: DecisionT
    note: str
    licence: str | None
    by: str
    at: str
    dispute: int | None
    current: bool = Field(description="in force (false: superseded by a later decision)")
    generic: dict[str, Any] | None = Field(description="the reference stretch marked generic, if any")


class DisputeIn(BaseModel):
    """A holder contesting the finding on its work in a clip, or claiming a clip the audit cleared."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"clip": "9f2c" + "0" * 60, "work": "acme-racer", "note": "our trailer at 0:31"}]
        },
    )
    clip: str = Field(pattern=_SHA, description=_CLIP)
    work: Line = Field(min_length=1, max_length=128)
    note: Text = Field(min_length=1, max_length=4096)


class DisputeOut(BaseModel):
    id: int
    clip: str
    work: str
    holder: str
    note: str
    by: str
    at: str
    status: Literal["open", "resolved"]
    resolved_at: str | None
    decision: int | None


class Resolved(BaseModel):
    dispute: DisputeOut
    decision: ReviewOut
