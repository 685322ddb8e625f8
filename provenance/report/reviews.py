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
from typing import TypeVar

from provenance.report.model import DisputeMark, Layer, Policy, ReportModel, Review
from provenance.report.vocabulary import VERDICTS

__all__ = ["ClipReviews", "apply_reviews", "counted", "dismissed", "review_marks", "unreviewed"]

_M = TypeVar("_M", bound=ReportModel)


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
    found = layer.policy
    policy = found.model_copy(deep=True)
    if policy.ai_training != "allow" and policy.stated is None:
        policy.stated = policy.ai_training
    policy.ai_training = "allow"
    policy.note = f"licensed ({review.licence})"
    policy.unlicensed = found  # what a later render puts back if the licence is no longer the decision
    layer.policy = policy
    layer.verdict = VERDICTS["allow"]


def _unset(model: _M, *names: str) -> _M:
    """``model`` without the fields ``names`` (left out of the JSON, as if never given)."""
    return type(model).model_validate({k: v for k, v in model.to_dict().items() if k not in names})


def unreviewed(layers: Sequence[Layer], new_layer: Callable[[str], Layer | None]) -> list[Layer]:
    """The layers as the engine found them, before any decision or dispute was applied (what
    :func:`apply_reviews` changed, undone).

    A layer a decision added (a claim upheld: no segments, no evidence) goes; a licensed layer gets its terms
    back from ``policy.unlicensed`` or, in a report written before that was kept, from ``new_layer(work)``
    (the registry's terms; ``unknown`` when it no longer holds the work: fail closed)."""
    out: list[Layer] = []
    for layer in layers:
        if layer.review is not None and not layer.segments and not layer.evidence:
            continue  # added by a decision: it comes back only if a decision still adds it
        if layer.review is not None and layer.review.decision == "licensed":
            policy = layer.policy.unlicensed
            if policy is None:
                fresh = new_layer(layer.work)
                policy = fresh.policy if fresh is not None else Policy(ai_training="unknown")
            layer = layer.model_copy(update={"policy": policy, "verdict": VERDICTS[policy.ai_training]})
        out.append(_unset(layer, "review", "dispute"))
    return out


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


def review_marks(layers: Sequence[Layer], claims: Sequence[DisputeMark] | None) -> list[tuple[str, ...]]:
    """What decisions and disputes a clip shows, to tell whether they changed."""
    marks: list[tuple[str, ...]] = []
    for layer in layers:
        if (r := layer.review) is not None:
            marks.append((layer.work, "review", r.decision, r.by, r.at, r.licence or ""))
        if (d := layer.dispute) is not None:
            marks.append((layer.work, "dispute", str(d.id)))
    marks += [(c.work, "dispute", str(c.id)) for c in claims or ()]
    return sorted(set(marks))
