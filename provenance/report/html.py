"""The audit report as one self-contained HTML page, for the people who review a scan.

Why one file: a report is mailed, archived and opened offline next to the dataset it judges, so it must
not depend on a server, a CDN or the media files still being where they were. Everything is inline:
the CSS, a small plain-JavaScript renderer (no framework, no build step), the report JSON (embedded once,
in ``<script type="application/json" id="report-data">``) and the evidence thumbnails as ``data:`` URIs.
A Content-Security-Policy forbids the page any other source, so opening it requests nothing.

The page renders from the embedded data: a summary (clips and minutes by exposure, by holder, by layer,
as inline SVG bars, and the scan's facts), then a table of every clip, sortable and filterable in the
browser and paginated (100 rows a page) so that 10,000 clips stay fast, and for each flagged clip a
detail view: per work its terms, verdict, confidence, segments, and the evidence side by side - the clip
frame with the matched region outlined beside the reference frame or asset.

The page itself (HTML, CSS, JavaScript) is static: ``static/report.html``, ``report.css`` and ``report.js``
beside this module, package resources read with :mod:`importlib.resources`; the report and the evidence are
filled into the page's placeholders.

Thumbnails are computed here, in Python, by a :class:`~provenance.report.thumbs.Thumbnailer` (optional); the
times they are taken at come from :func:`~provenance.report.evidence.evidence_times`. Without one, or past
``max_thumbnails`` evidence pairs, or when a file is gone, the page shows a placeholder that says why.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
import math
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from provenance.report.evidence import evidence_times
from provenance.report.model import AssetEvidence, AudioEvidence, Clip, Evidence, Report
from provenance.report.thumbs import Thumbnailer
from provenance.report.vocabulary import Exposure

__all__ = ["FLAGGED", "render_html"]

#: Exposure levels that get a detail view with evidence, most exposed first (thumbnails go to them first).
FLAGGED: tuple[Exposure, ...] = ("high", "medium", "low")

_NO_THUMBNAILER = "No thumbnail: the report was rendered without access to the media."
_NO_TIME = "No thumbnail: the report gives no time for this match."
_NO_CLIP = "No thumbnail: the clip frame could not be read (file missing or unreadable)."
_NO_REF = "No thumbnail: the reference file was not found or could not be read."


def render_html(report: Report, thumbnails: Thumbnailer[Clip] | None = None, *, max_thumbnails: int = 2000) -> str:
    """The report as one HTML page (a string); see the module docstring for what it shows."""
    if max_thumbnails < 0:
        raise ValueError(f"max_thumbnails must be >= 0, got {max_thumbnails}")
    evidence = _evidence_data(report, thumbnails, max_thumbnails)
    dataset = str((report.scan.dataset if report.scan is not None else None) or "dataset")
    title = f"Provenance audit: {Path(dataset).name or dataset}"
    return (
        _static("report.html")
        .replace("@@TITLE@@", html.escape(title))
        .replace("@@CSS@@", _static("report.css"))
        .replace("@@REPORT@@", _script_json(report.to_dict()))
        .replace("@@EVIDENCE@@", _script_json(evidence))
        .replace("@@JS@@", _static("report.js"))
    )


@functools.cache
def _static(name: str) -> str:
    """A static file of the page (package resource ``static/NAME``), byte for byte."""
    return resources.files("provenance.report").joinpath("static", name).read_bytes().decode("utf-8")


# --------------------------------------------------------------------------- evidence and thumbnails


def _evidence_data(report: Report, thumbs: Thumbnailer[Clip] | None, limit: int) -> dict[str, Any]:
    """Per evidence item of each flagged clip (key ``"clip:layer:evidence"`` indices): times, images, notes.

    Images are stored once each (``images``: id -> data URI) however many clips show them (a HUD asset
    appears in every clip of its game). Most exposed clips get their thumbnails first.
    """
    clips = report.clips
    rank = {level: i for i, level in enumerate(FLAGGED)}
    shown = (i for i, c in enumerate(clips) if _flagged(c))
    order = sorted(shown, key=lambda i: rank.get(clips[i].exposure, len(rank)))
    views: dict[str, dict[str, Any]] = {}
    images: dict[str, str] = {}
    pairs = 0
    for ci in order:
        clip = clips[ci]
        for li, layer in enumerate(clip.layers):
            for ei, ev in enumerate(layer.evidence):
                ct, rt = evidence_times(ev, layer.segments)
                view: dict[str, Any] = {"clip_time": ct, "ref_time": rt}
                if thumbs is None:
                    view["clip_note"] = view["ref_note"] = _NO_THUMBNAILER
                elif pairs >= limit:
                    note = f"No thumbnail: only the first {limit} evidence pairs of a report get thumbnails."
                    view["clip_note"] = view["ref_note"] = note
                else:
                    pairs += 1
                    view.update(_pair(thumbs, clip, ev, ct, rt, images))
                views[f"{ci}:{li}:{ei}"] = {k: v for k, v in view.items() if v is not None}
    return {"views": views, "images": images, "thumbnails": thumbs is not None, "limit": limit}


def _pair(
    thumbs: Thumbnailer[Clip], clip: Clip, ev: Evidence, ct: float | None, rt: float | None, images: dict[str, str]
) -> dict[str, str]:
    """The clip-side and reference-side picture ids of one evidence item, or the note saying why not."""
    out: dict[str, str] = {}
    if isinstance(ev, AudioEvidence):  # sound: the two spectrograms at the matched moments
        if ct is None:
            out["clip_note"] = _NO_TIME
        else:
            _put(out, "clip", thumbs.clip_spectrogram(clip, ct), _NO_CLIP, images)
        if rt is None:
            out["ref_note"] = _NO_TIME
        else:
            _put(out, "ref", thumbs.reference_spectrogram(ev.reference, rt), _NO_REF, images)
        return out
    if ct is None:
        out["clip_note"] = _NO_TIME
    else:
        _put(out, "clip", thumbs.clip_frame(clip, ct), _NO_CLIP, images)
    if isinstance(ev, AssetEvidence):
        _put(out, "ref", thumbs.asset(ev.reference), _ref_note(thumbs, ev.reference), images)
    elif rt is None:
        out["ref_note"] = _NO_TIME
    else:
        _put(out, "ref", thumbs.reference_frame(ev.reference, rt), _ref_note(thumbs, ev.reference), images)
    return out


def _ref_note(thumbs: Thumbnailer[Clip], reference: str) -> str:
    try:
        return thumbs.reference_note(reference) or _NO_REF
    except Exception:  # a note is never worth the report
        return _NO_REF


def _put(out: dict[str, str], side: str, data: bytes | None, missing: str, images: dict[str, str]) -> None:
    if data is None:
        out[f"{side}_note"] = missing
        return
    key = "i" + hashlib.sha1(data).hexdigest()[:16]
    if key not in images:
        mime = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
        images[key] = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    out[f"{side}_img"] = key


def _flagged(clip: Clip) -> bool:
    """Whether the clip gets a detail view: flagged, or a person reviewed a layer of it (a dismissed one too)."""
    return not clip.error and (clip.exposure in FLAGGED or any(x.review is not None for x in clip.layers))


# --------------------------------------------------------------------------- embedding


def _script_json(data: object) -> str:
    """JSON safe inside a ``<script>`` element: no ``</script>``, ``<!--`` or line separators can end it.

    ``<``, ``>`` and ``&`` become ``\\u003c`` etc. (the same string to JSON.parse); NaN and infinities,
    which JSON.parse rejects, become ``null``.
    """
    try:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(data), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def _finite(x: object) -> object:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, Mapping):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x
