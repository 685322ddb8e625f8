"""Outputs of a report for pipelines: CSV, the cleared and held-back file lists, and the CI gate.

All of them are functions of the report JSON (the contract), so ``provenance report`` can render them
again from a stored report without scanning. Files are written atomically.

* CSV: one row per (clip, layer); a clip without layers (clean, or an error) has one row with the layer
  columns empty. Segments are ``start-end@reference[ref_start-ref_end]`` joined by ``;``.
* Cleared list (``--emit-clean``): clips that decoded and whose exposure is ``none`` or ``low`` (nothing
  registered found, or every work found allows AI training). Held-back list (``--emit-flagged``): every
  other clip, including those that could not be checked (an ``error``): a clip nobody could read is not
  cleared. One dataset-relative POSIX path per line, in report order.
* ``--fail-on LEVEL``: the CLI exits 4 (``cli.EXIT_FINDINGS``) when :func:`exceeds` lists any clip.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from provenance.errors import ConfigError
from provenance.report.vocabulary import EXPOSURE_ORDER
from rightsdb import atomic_write_text

__all__ = ["CSV_COLUMNS", "cleared", "csv_text", "exceeds", "load_report", "write_csv", "write_list"]

CSV_COLUMNS = (
    "path", "sha256", "duration_s", "exposure", "error", "layer", "holder", "work", "ai_training", "license",
    "confidence", "segments",
)


def load_report(path: Path) -> dict[str, Any]:
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
    report: dict[str, Any] = data
    return report


def cleared(clip: dict[str, Any]) -> bool:
    """Whether a clip may go to training: it was read, and nothing found in it denies or conditions that."""
    return not clip.get("error") and clip.get("exposure") in ("none", "low")


def exceeds(report: dict[str, Any], level: str) -> list[str]:
    """Paths of the clips whose exposure is at or above ``level`` (``medium`` or ``high``)."""
    if level not in EXPOSURE_ORDER[1:]:
        raise ValueError(f"--fail-on must be one of {', '.join(EXPOSURE_ORDER[1:])}, got {level!r}")
    floor = EXPOSURE_ORDER.index(level)
    return [c["path"] for c in report["clips"] if EXPOSURE_ORDER.index(c["exposure"]) >= floor]


def _segments(layer: dict[str, Any]) -> str:
    out = []
    for s in layer.get("segments", []):
        where = f"{s['start']:g}-{s['end']:g}@{s['reference']}"
        if s.get("ref_start") is not None:
            where += f"[{s['ref_start']:g}-{s['ref_end']:g}]"
        out.append(where)
    return ";".join(out)


def csv_text(report: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for clip in report["clips"]:
        head = [clip["path"], clip.get("sha256") or "", clip.get("duration_s") if clip.get("duration_s")
                is not None else "", clip["exposure"], clip.get("error") or ""]
        layers = clip.get("layers") or []
        if not layers:
            w.writerow([*head, "", "", "", "", "", "", ""])
        for layer in layers:
            policy = layer.get("policy", {})
            w.writerow([*head, layer["layer"], layer["holder"], layer["work"], policy.get("ai_training", ""),
                        policy.get("license", ""), layer.get("confidence", ""), _segments(layer)])
    return buf.getvalue()


def write_csv(report: dict[str, Any], path: Path) -> None:
    atomic_write_text(path, csv_text(report))


def write_list(report: dict[str, Any], path: Path, *, flagged: bool) -> int:
    """Write the cleared (``flagged=False``) or held-back list; returns how many paths it holds."""
    paths = [c["path"] for c in report["clips"] if cleared(c) != flagged]
    atomic_write_text(path, "".join(p + "\n" for p in paths))
    return len(paths)
