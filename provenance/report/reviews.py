"""Review decisions and open disputes applied to a clip's layers (the registry's decisions come in as plain
report objects: this package reads no database).

- ``false_match``: the layer stays in the report, dismissed (its ``review`` says so and why), and no longer
  counts toward the clip's exposure, reason or lists (:func:`counted`);
- ``licensed``: the layer counts as allowed: its policy's ``ai_training`` becomes ``allow``, ``stated`` keeps
  the registry's term and ``note`` names the licence;
- ``confirmed``: the layer is kept as found, marked reviewed.

A ``confirmed`` or ``licensed`` decision on a work the engine did not find in the clip (a holder's claim upheld)
adds that work's layer, without segments or evidence. An open dispute marks its layer (``dispute``); one on a
work the clip has no layer of is a claim (the clip's ``claims``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from provenance.report.model import DisputeMark, Layer, Review
from provenance.report.vocabulary import VERDICTS

__all__ = ["ClipReviews", "apply_reviews", "counted", "dismissed"]


@dataclass(frozen=True, slots=True)
class ClipReviews:
    """The decisions in force and the open disputes on one clip content, by work."""

    decisions: Mapping[str, Review] = field(default_factory=dict)
    disputes: Mapping[str, Sequence[DisputeMark]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.decisions or self.disputes)


def dismissed(layer: Layer) -> bool:
    """Whether a person dismissed the layer as a false match."""
    return layer.review is not None and layer.review.decision == "false_match"


def counted(layers: Sequence[Layer]) -> list[Layer]:
    """The layers that count toward a clip's exposure: all but the dismissed ones."""
    return [layer for layer in layers if not dismissed(layer)]


def _licensed(layer: Layer, review: Review) -> None:
    policy = layer.policy
    if policy.ai_training != "allow" and policy.stated is None:
        policy.stated = policy.ai_training
    policy.ai_training = "allow"
    policy.note = f"licensed ({review.licence})"
    layer.verdict = VERDICTS["allow"]


def apply_reviews(
    layers: list[Layer], reviews: ClipReviews, new_layer: Callable[[str], Layer | None]
) -> tuple[list[Layer], list[DisputeMark]]:
    """``(layers, claims)``: the layers with the decisions and disputes applied (to each layer of a work: what
    is decided of a work is decided of its picture and its sound), and the open disputes on works without a
    layer. ``new_layer(work)`` makes the layer of a work the engine did not find (None when the
    registry no longer holds the work)."""
    by_work: dict[str, list[Layer]] = {}  # a work's layers: its picture's and its sound's
    for layer in layers:
        by_work.setdefault(layer.work, []).append(layer)
    for work, review in sorted(reviews.decisions.items()):
        found = by_work.get(work, [])
        if not found and review.decision != "false_match":
            made = new_layer(work)
            if made is not None:
                layers.append(made)
                found = by_work[work] = [made]
        for layer in found:
            layer.review = review.model_copy()
            if review.decision == "licensed":
                _licensed(layer, review)
    claims: list[DisputeMark] = []
    for work, marks in sorted(reviews.disputes.items()):
        found = by_work.get(work, [])
        if found and marks:
            for layer in found:
                layer.dispute = marks[0].model_copy()
            claims += marks[1:]
        else:
            claims += marks
    return layers, claims
