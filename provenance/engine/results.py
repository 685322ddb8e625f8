"""What the engine finds in a clip: aligned footage matches and asset hits."""

from __future__ import annotations

from dataclasses import dataclass, field

from provenance.engine.align import Segment

__all__ = ["AssetHit", "ClipMatches", "ReferenceMatch"]


@dataclass(frozen=True, slots=True)
class ReferenceMatch:
    """One reference found in a clip: aligned segments and how they were found."""

    key: str
    layer: str
    segments: tuple[Segment, ...]
    methods: dict[str, int]  # method -> supporting frame matches
    mirrored: bool
    best_distance: int | None
    region: tuple[float, float, float, float] | None = None  # (x0, y0, x1, y1) fractions of the clip frame

    @property
    def confidence(self) -> float:
        return max((s.score for s in self.segments), default=0.0)


@dataclass(frozen=True, slots=True)
class AssetHit:
    key: str
    layer: str
    frames: tuple[float, ...]  # clip times where the asset was found
    box: tuple[int, int, int, int]  # (x, y, w, h) in analysis-frame pixels, first hit
    frame_size: tuple[int, int]
    score: float
    method: str
    mirrored: bool


@dataclass(slots=True)
class ClipMatches:
    duration_s: float
    frames: int
    content_box: tuple[int, int, int, int]
    frame_size: tuple[int, int]
    footage: list[ReferenceMatch] = field(default_factory=list)
    assets: list[AssetHit] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
