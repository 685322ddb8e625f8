"""Opt-out signals: what each means for AI training, and their join with a clip's registry layers.

What counts (README, "Opt-out signals"):

* C2PA / CAWG training-and-data-mining assertion: ``ai_training``, ``ai_generative_training`` or ``data_mining``
  ``notAllowed`` or ``constrained`` reserves training (constrained counts as not allowed); all of those present
  ``allowed`` allows it; ``ai_inference`` alone says nothing of training; a use outside the vocabulary (or an
  assertion without entries) is ``unreadable``. An invalid or untrusted manifest's
  assertion still counts (fail closed) and is marked by its ``validation``; a manifest that cannot be read is
  ``unreadable``.
* TDMRep ``tdm-reservation: 1`` reserves, ``0`` allows; ``tdm-policy`` informs. IPTC PLUS ``DMI-PROHIBITED*`` and
  ``DMI-SEE-*`` (constraints) reserve, ``DMI-ALLOWED`` allows.
* ``X-Robots-Tag`` with ``noai`` or ``noimageai`` (for any user agent) reserves.
* IETF AI preferences ``Content-Usage`` (a dictionary of ``category=y|n``): ``n`` wins over ``y`` for a category
  given twice; a category unset takes its parent's (``train-genai`` < ``train-ai`` < ``bots``, ``all`` in earlier
  drafts); ``train-ai=n`` or ``train-genai=n`` reserves, both ``y`` allows.

The join (:func:`apply_signals`) sets a clip's ``signals`` block and never lowers its exposure: a reservation makes
it ``high`` (the clip is never cleared for training, whether or not a registered work matched), a signal that
could not be read makes a ``none`` or ``low`` clip ``medium``; a clip that could not be checked stays ``unknown``.
A matched work that denies training and whose registry terms come from a machine-readable reservation
(``policy.source`` naming TDMRep, C2PA/CAWG, robots.txt, ai.txt, X-Robots-Tag or Content-Usage) while the clip
carries no reservation is ``reservation_stripped``: the reservation was lost on the way (a re-upload).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from provenance.report.model import Clip, Layer, Signal, Signals
from provenance.report.reviews import counted
from provenance.report.vocabulary import SignalEffect, SignalSource, SignalVerdict

__all__ = [
    "RESERVATION_SOURCES",
    "apply_signals",
    "content_usage",
    "embedded_signals",
    "header_signals",
    "source_url",
    "tdm_reservation",
    "x_robots_tag",
]

#: ``policy.source`` values (substrings, any case) saying a work's terms come from a machine-readable reservation.
RESERVATION_SOURCES = ("tdm", "c2pa", "cawg", "robots", "ai.txt", "x-robots-tag", "noai", "content-usage", "aipref")

_TRAINING_ENTRIES = ("ai_training", "ai_generative_training", "data_mining")
_HEADER_KEYS = {"x-robots-tag", "content-usage", "tdm-reservation", "tdm-policy"}
_DATE_KEYS = ("collected_at", "fetched_at", "crawled_at", "crawl_date", "download_date", "date")


def _signal(
    kind: str,
    value: str,
    source: SignalSource,
    effect: SignalEffect,
    *,
    date: str | None = None,
    validation: str | None = None,
    detail: str | None = None,
) -> Signal:
    signal = Signal(kind=kind, value=value, source=source, effect=effect)
    if date:
        signal.date = date
    if validation:
        signal.validation = validation
    if detail:
        signal.detail = detail
    return signal


def _training_mining(fact: Mapping[str, Any]) -> SignalEffect:
    entries = fact.get("entries") or {}
    uses = {str(k).split(".", 1)[-1]: str(v) for k, v in entries.items()}
    said = [uses[name] for name in _TRAINING_ENTRIES if name in uses]
    if any(use in ("notAllowed", "constrained") for use in said):
        return "reserves"
    if any(use != "allowed" for use in said):
        return "unreadable"  # a use outside the vocabulary: fail closed
    if said and all(use == "allowed" for use in said):
        return "allows"
    return "info" if said or uses else "unreadable"


def tdm_reservation(value: str) -> SignalEffect:
    """TDMRep's ``tdm-reservation``: ``1`` reserves, ``0`` allows, anything else could not be read."""
    text = str(value).strip()
    return "reserves" if text == "1" else "allows" if text == "0" else "unreadable"


def _plus_data_mining(value: str) -> SignalEffect:
    code = value.rsplit("/", 1)[-1].upper()
    if "PROHIBITED" in code or code.startswith("DMI-SEE-"):
        return "reserves"
    return "allows" if code.startswith("DMI-ALLOWED") else "info"


def embedded_signals(facts: Iterable[Mapping[str, Any]]) -> list[Signal]:
    """The signals of the facts :func:`provenance.media.signals.read_signals` found in a file."""
    out: list[Signal] = []
    for fact in facts:
        kind, value = str(fact.get("kind", "")), str(fact.get("value", ""))
        source: SignalSource = "c2pa" if fact.get("source") == "c2pa" else "embedded"
        if kind.endswith("training-mining"):
            effect = _training_mining(fact)
        elif kind == "c2pa":
            effect = "unreadable"
        elif kind == "tdm-reservation":
            effect = tdm_reservation(value)
        elif kind == "plus:DataMining":
            effect = _plus_data_mining(value)
        else:
            effect = "info"
        validation, detail, date = fact.get("validation"), fact.get("detail"), fact.get("date")
        out.append(
            _signal(
                kind,
                value,
                source,
                effect,
                date=str(date) if date else None,
                validation=str(validation) if validation else None,
                detail=str(detail) if detail else None,
            )
        )
    return out


def x_robots_tag(value: str) -> SignalEffect:
    """``X-Robots-Tag``: ``noai`` or ``noimageai`` (for any user agent) reserves; otherwise it only informs."""
    words = set(re.findall(r"[a-z]+", value.lower()))
    return "reserves" if words & {"noai", "noimageai"} else "info"


def content_usage(value: str) -> SignalEffect:
    """IETF AI preferences ``Content-Usage`` (see the module docstring): reserves, allows or only informs."""
    said: dict[str, str] = {}
    for member in value.split(","):
        key, eq, pref = member.split(";", 1)[0].strip().partition("=")
        key, pref = key.strip().lower(), pref.strip().lower().strip('"')
        if not key or not eq or pref not in ("y", "n"):
            continue
        if said.get(key) != "n":  # n wins over y
            said[key] = pref
    root = said.get("bots", said.get("all"))
    train = said.get("train-ai", root)
    genai = said.get("train-genai", train)
    if "n" in (train, genai):
        return "reserves"
    if train == "y" and genai == "y":
        return "allows"
    return "info"


def _norm(key: str) -> str:
    return key.strip().lower().replace("_", "-")


def _headers(metadata: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    nested = [v for k, v in metadata.items() if _norm(str(k)) in ("headers", "http-headers", "response-headers")]
    for mapping in [metadata, *[n for n in nested if isinstance(n, Mapping)]]:
        for key, value in mapping.items():
            name = _norm(str(key))
            if name in _HEADER_KEYS and value is not None and str(value).strip():
                text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
                found[name] = f"{found[name]}, {text}" if name in found else text
    return found


def _date(metadata: Mapping[str, Any]) -> str | None:
    for key in _DATE_KEYS:
        value = metadata.get(key)
        if isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}", value):
            return value[:10]
    return None


def source_url(metadata: Mapping[str, Any] | None) -> str | None:
    """Where a clip was collected from: its ``source_url`` (or img2dataset's ``url``) metadata, when an http(s) URL."""
    if not metadata:
        return None
    for key in ("source_url", "url"):
        value = metadata.get(key)
        if isinstance(value, str) and re.match(r"https?://", value.strip(), re.IGNORECASE):
            return value.strip()
    return None


def header_signals(metadata: Mapping[str, Any] | None) -> list[Signal]:
    """The signals of the HTTP headers a crawler captured with a clip: manifest columns or WebDataset ``.json``
    keys ``X-Robots-Tag``, ``Content-Usage``, ``tdm-reservation``, ``tdm-policy`` (any case, ``_`` or ``-``; also
    inside a ``headers`` object), dated by ``collected_at``/``fetched_at``/``crawl_date``/... when given."""
    if not metadata:
        return []
    date = _date(metadata)
    out = []
    for name, value in _headers(metadata).items():
        if name == "x-robots-tag":
            effect = x_robots_tag(value)
            kind = "X-Robots-Tag"
        elif name == "content-usage":
            effect, kind = content_usage(value), "Content-Usage"
        elif name == "tdm-reservation":
            effect, kind = tdm_reservation(value), "tdm-reservation"
        else:
            effect, kind = "info", "tdm-policy"
        out.append(_signal(kind, value, "header", effect, date=date))
    return out


def _reserved_by_registry(layer: Layer) -> bool:
    source = (layer.policy.source or "").lower()
    return layer.policy.ai_training == "deny" and any(token in source for token in RESERVATION_SOURCES)


def _words(signal: Signal) -> str:
    where = {"embedded": "in the file", "c2pa": "in its C2PA manifest", "header": "in the HTTP headers"}.get(
        signal.source, f"in the domain's {signal.source}"
    )
    words = f"{signal.kind} {signal.value} {where}"
    if signal.validation and signal.validation != "valid":
        words += f", manifest {signal.validation}"
    return words


def _verdict(clip: Clip, items: Sequence[Signal]) -> tuple[SignalVerdict, str | None]:
    layers = counted(clip.layers)  # a layer a person dismissed as a false match is no registered work matched
    reserving = [s for s in items if s.effect == "reserves"]
    if reserving:
        words = _words(reserving[0]) + (f" and {len(reserving) - 1} more" if len(reserving) > 1 else "")
        if layers:
            return "opt_out", f"the clip carries an opt-out ({words})"
        return "opt_out_unregistered", f"no registered work matched, but the clip carries an opt-out ({words})"
    stripped = [x for x in layers if _reserved_by_registry(x)]
    if stripped:
        works = ", ".join(f"{x.title or x.work} ({x.policy.source})" for x in stripped)
        return "reservation_stripped", f"the clip no longer carries the reservation of {works}: stripped on re-upload"
    unreadable = [s for s in items if s.effect == "unreadable"]
    if unreadable:
        return "unreadable", f"a signal could not be read ({_words(unreadable[0])}): a person has to look"
    if any(s.effect == "allows" for s in items):
        return "allowed", None
    return "none", None


def apply_signals(clip: Clip, items: Sequence[Signal], base_reason: str) -> None:
    """Join ``items`` with ``clip``'s layers: set its ``signals`` block (left out when there is nothing to say),
    raise its exposure as the module docstring says, and make ``base_reason`` (the registry's sentence) its
    reason, with the signals' part added."""
    verdict, note = _verdict(clip, items)
    clip.reason = base_reason
    if not items and verdict == "none":
        return
    block = Signals(opt_out=verdict in ("opt_out", "opt_out_unregistered"), verdict=verdict, items=list(items))
    if note:
        block.note = note
    clip.signals = block
    if clip.exposure == "unknown" or clip.error:
        return
    if block.opt_out:
        clip.exposure = "high"
    elif verdict == "unreadable" and clip.exposure in ("none", "low"):
        clip.exposure = "medium"
    if note:
        level = str(clip.exposure).capitalize()
        sentence = base_reason.rstrip(".")
        if not clip.layers:
            clip.reason = f"{level} exposure: {note}."
        else:
            clip.reason = re.sub(r"^\w+ exposure:", f"{level} exposure:", sentence) + f"; {note}."
