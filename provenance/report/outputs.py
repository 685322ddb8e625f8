"""Outputs of a report for pipelines: the report JSON, CSV, the cleared and held-back file lists, and the CI gate.

All of them are functions of the report (:class:`~provenance.report.model.Report`, the contract), so
``provenance report`` can render them again from a stored report without scanning. They return text; the
caller writes it (atomically: the CLI never leaves half a file).

* CSV: one row per (clip, layer); a clip without layers (clean, or an error) has one row with the layer
  columns empty. Segments are ``start-end@reference[ref_start-ref_end]`` joined by ``;``. ``modality`` says
  where a layer was found: ``video`` (the picture) or ``audio`` (the sound). The last three columns are the
  layer's review decision in force (``review``: ``confirmed``, ``false_match`` or ``licensed``; empty when none),
  who made it (``reviewed_by``) and, for ``licensed``, the licence reference (``licence``).
* Cleared list (``--emit-clean``): clips that decoded and whose exposure is ``none`` or ``low`` (nothing
  registered found, or every work found allows AI training). Held-back list (``--emit-flagged``): every
  other clip, including those that could not be checked (an ``error``, exposure ``unknown``): a clip nobody
  could read is not cleared. Dataset-relative POSIX paths in report order, in one of :data:`LIST_FORMATS`:
  ``lines`` (one path a line), ``nul`` (each path ended by a NUL byte, as ``find -print0``; ``xargs -0``)
  or ``jsonl`` (one JSON object a line: ``path``, ``exposure``, ``reason``). A path that the format cannot
  hold unambiguously (a line break in ``lines``, a NUL in ``lines`` or ``nul``) is never cleared: it is
  held back, and the held-back list writes it with those characters escaped (``\n``, ``\0``, ...).
* ``--fail-on LEVEL``: the CLI exits 4 (``cli.EXIT_FINDINGS``) when :func:`exceeds` lists any clip; a clip that
  could not be checked (``unknown``, or an ``error``) reaches every level.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import ValidationError

from provenance.errors import ConfigError
from provenance.report.model import Clip, Layer, Report
from provenance.report.vocabulary import EXPOSURE_ORDER, FAIL_ON_LEVELS

__all__ = [
    "CSV_COLUMNS",
    "LIST_FORMATS",
    "ListFormat",
    "cleared",
    "clip_list",
    "csv_text",
    "exceeds",
    "list_text",
    "listable",
    "load_report",
    "report_json",
]

#: How a file list separates its paths: a line each, a NUL after each, or a JSON object a line.
ListFormat = Literal["lines", "nul", "jsonl"]
LIST_FORMATS: tuple[ListFormat, ...] = get_args(ListFormat)

# what a reader of a line list may take for the end of a line (str.splitlines' breaks), and NUL
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029\x00")

CSV_COLUMNS = (
    "path",
    "sha256",
    "duration_s",
    "exposure",
    "error",
    "layer",
    "holder",
    "work",
    "ai_training",
    "license",
    "confidence",
    "segments",
    "modality",
    "review",
    "reviewed_by",
    "licence",
)


def load_report(path: Path) -> Report:
    """A stored report JSON, checked enough to render it; a bad file is a one-line :class:`ConfigError`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such report file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable report JSON ({exc})") from None
    clips = data.get("clips") if isinstance(data, dict) else None
    if not isinstance(clips, list):
        raise ConfigError(f"{path}: field 'clips' is missing or not a list")
    for i, clip in enumerate(clips):
        if not isinstance(clip, dict) or not isinstance(clip.get("path"), str):
            raise ConfigError(f"{path}: clips[{i}].path is missing")
        if clip.get("exposure") not in EXPOSURE_ORDER:
            raise ConfigError(f"{path}: clips[{i}].exposure must be one of {', '.join(EXPOSURE_ORDER)}")
    try:
        return Report.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]).lstrip(".")
        raise ConfigError(f"{path}: {where or 'report'}: {first['msg']}") from None


def report_json(report: Report) -> str:
    """The report JSON as a file holds it: indented, UTF-8 text as is, a final newline."""
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


def cleared(clip: Clip) -> bool:
    """Whether a clip may go to training: it was read, nothing found in it denies or conditions that, and it
    carries no opt-out signal."""
    opted_out = clip.signals is not None and clip.signals.opt_out
    return not clip.error and clip.exposure in ("none", "low") and not opted_out


def listable(path: str, fmt: ListFormat = "lines") -> bool:
    """Whether ``path`` can be written in a list of format ``fmt`` so that it reads back as itself."""
    if fmt == "jsonl":
        return True
    if fmt == "nul":
        return "\x00" not in path
    return not _LINE_BREAKS.intersection(path)


def clip_list(report: Report, *, flagged: bool, fmt: ListFormat = "lines") -> list[Clip]:
    """The cleared (``flagged=False``) or held-back clips, in report order. A clip whose path cannot be written
    in ``fmt`` (:func:`listable`) is never cleared: it is held back."""
    return [c for c in report.clips if (cleared(c) and listable(c.path, fmt)) != flagged]


def _escaped(path: str) -> str:
    return "".join(ch.encode("unicode_escape").decode("ascii") if ch in _LINE_BREAKS else ch for ch in path)


def list_text(clips: Iterable[Clip], fmt: ListFormat = "lines") -> str:
    """A file list of ``clips`` in format ``fmt`` (see the module docstring); a path the format cannot hold has
    its line breaks and NULs escaped (only ever in a held-back list: :func:`clip_list` never clears it)."""
    if fmt == "jsonl":
        return "".join(
            json.dumps({"path": c.path, "exposure": c.exposure, "reason": c.reason}, ensure_ascii=False) + "\n"
            for c in clips
        )
    end = "\x00" if fmt == "nul" else "\n"
    return "".join((c.path if listable(c.path, fmt) else _escaped(c.path)) + end for c in clips)


def exceeds(report: Report, level: str) -> list[str]:
    """Paths of the clips whose exposure is at or above ``level`` (``low``, ``medium`` or ``high``); a clip that
    could not be checked (exposure ``unknown``, or an ``error`` in a report written before ``unknown``) is
    always among them."""
    if level not in FAIL_ON_LEVELS:
        raise ValueError(f"--fail-on must be one of {', '.join(FAIL_ON_LEVELS)}, got {level!r}")
    floor = EXPOSURE_ORDER.index(level)
    return [c.path for c in report.clips if c.error or EXPOSURE_ORDER.index(c.exposure) >= floor]


def _segments(layer: Layer) -> str:
    out = []
    for s in layer.segments:
        where = f"{s.start:g}-{s.end:g}@{s.reference}"
        if s.ref_start is not None:
            where += f"[{s.ref_start:g}-{s.ref_end:g}]"
        out.append(where)
    return ";".join(out)


def csv_text(report: Report) -> str:
    """The CSV: a row per clip and layer (see the module docstring)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for clip in report.clips:
        head: list[Any] = [
            clip.path,
            clip.sha256 or "",
            clip.duration_s if clip.duration_s is not None else "",
            clip.exposure,
            clip.error or "",
        ]
        if not clip.layers:
            w.writerow([*head, *[""] * (len(CSV_COLUMNS) - len(head))])
        for layer in clip.layers:
            policy, review = layer.policy, layer.review
            w.writerow(
                [
                    *head,
                    layer.layer,
                    layer.holder,
                    layer.work,
                    policy.ai_training,
                    policy.license or "",
                    layer.confidence,
                    _segments(layer),
                    layer.modality or "video",
                    review.decision if review else "",
                    review.by if review else "",
                    (review.licence or "") if review else "",
                ]
            )
    return buf.getvalue()
