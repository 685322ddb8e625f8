"""The report's vocabularies, each written once: layers, exposure levels, AI-training terms and verdicts.

Each is a ``Literal`` type (what the typed report model and the service's schemas check) and the tuple of its
values in their order (what loops, sorts and menus use), taken from the type so the two cannot differ.
"""

from __future__ import annotations

from typing import Literal, TypeVar, get_args

__all__ = [
    "AI_TRAINING",
    "EXPOSURE_ORDER",
    "FAIL_ON_LEVELS",
    "LAYERS",
    "SIGNAL_EFFECTS",
    "SIGNAL_SOURCES",
    "SIGNAL_VERDICTS",
    "VERDICTS",
    "AiTraining",
    "Exposure",
    "LayerName",
    "SignalEffect",
    "SignalSource",
    "SignalVerdict",
    "Verdict",
    "ai_training",
    "layer_name",
]

#: The rights layers of a clip, in the order a report lists them: the publisher's game, the streamer's
#: contribution, user-generated content, music (a song or score other than the game's own), anything else.
LayerName = Literal["game", "stream", "ugc", "music", "other"]
LAYERS: tuple[LayerName, ...] = get_args(LayerName)

#: The contract's exposure levels, lowest first; ``unknown`` (fail-safe: the clip could not be checked, e.g. it
#: did not decode, or there was nothing to check it against) comes last: it is held back whatever the level.
Exposure = Literal["none", "low", "medium", "high", "unknown"]
EXPOSURE_ORDER: tuple[Exposure, ...] = get_args(Exposure)

#: The levels a gate (``--fail-on``) may name; every one of them is reached by an ``unknown`` clip too.
FAIL_ON_LEVELS: tuple[Exposure, ...] = ("low", "medium", "high")

#: A work's terms for AI training (``policy.ai_training``).
AiTraining = Literal["allow", "deny", "conditional", "unknown"]
AI_TRAINING: tuple[AiTraining, ...] = get_args(AiTraining)

#: A layer's verdict, one per ``ai_training`` value.
Verdict = Literal["allowed", "denied", "conditional", "unknown"]
VERDICTS: dict[AiTraining, Verdict] = {
    "allow": "allowed",
    "deny": "denied",
    "conditional": "conditional",
    "unknown": "unknown",
}

#: Where a clip's signal was found: in the file (``embedded``: XMP or container tags; ``c2pa``: a C2PA manifest),
#: in the HTTP headers captured when it was collected (``header``), or in its domain's ``robots`` (robots.txt),
#: ``ai.txt`` or ``tdmrep`` (/.well-known/tdmrep.json) snapshot.
SignalSource = Literal["embedded", "c2pa", "header", "robots", "ai.txt", "tdmrep"]
SIGNAL_SOURCES: tuple[SignalSource, ...] = get_args(SignalSource)

#: What a signal means for AI training: it reserves it (an opt-out), allows it, could not be read (fail closed:
#: a person has to look), or only informs (a licence text, a policy URL).
SignalEffect = Literal["reserves", "allows", "unreadable", "info"]
SIGNAL_EFFECTS: tuple[SignalEffect, ...] = get_args(SignalEffect)

#: The join of a clip's signals with its registry layers (README, "Opt-out signals"): ``none`` (no signal says
#: anything of AI training), ``allowed`` (signals allow it, none reserves it), ``opt_out`` (a reservation, and a
#: registered work matched), ``opt_out_unregistered`` (a reservation although no registered work matched),
#: ``reservation_stripped`` (a registered work whose terms come from a machine-readable reservation matched, and
#: the clip carries none), ``unreadable`` (a signal could not be read).
SignalVerdict = Literal["none", "allowed", "opt_out", "opt_out_unregistered", "reservation_stripped", "unreadable"]
SIGNAL_VERDICTS: tuple[SignalVerdict, ...] = get_args(SignalVerdict)

_T = TypeVar("_T", bound=str)


def _one_of(value: str, names: tuple[_T, ...], what: str) -> _T:
    for name in names:
        if name == value:
            return name
    raise ValueError(f"{value!r} is not a {what} (one of {', '.join(names)})")


def layer_name(value: str) -> LayerName:
    """``value`` (a registry's layer) as a layer name; :class:`ValueError` when it is none."""
    return _one_of(value, LAYERS, "layer")


def ai_training(value: str) -> AiTraining:
    """``value`` (a registry's terms) as an AI-training value; :class:`ValueError` when it is none."""
    return _one_of(value, AI_TRAINING, "value of ai_training")
