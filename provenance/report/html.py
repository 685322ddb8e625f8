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

Thumbnails are computed here, in Python, by a :class:`~provenance.thumbs.Thumbnailer` (optional); the
times they are taken at come from :func:`evidence_times`. Without one, or past ``max_thumbnails``
evidence pairs, or when a file is gone, the page shows a placeholder that says why.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rightsdb import atomic_write_text

from provenance.report.thumbs import Thumbnailer

__all__ = ["evidence_times", "render_html", "write_html"]

#: Exposure levels that get a detail view with evidence, most exposed first (thumbnails go to them first).
FLAGGED = ("high", "medium", "low")

_NO_THUMBNAILER = "No thumbnail: the report was rendered without access to the media."
_NO_TIME = "No thumbnail: the report gives no time for this match."
_NO_CLIP = "No thumbnail: the clip frame could not be read (file missing or unreadable)."
_NO_REF = "No thumbnail: the reference file was not found or could not be read."


def render_html(report: Mapping[str, Any], thumbnails: Thumbnailer | None = None, *,
                max_thumbnails: int = 2000) -> str:
    """The report as one HTML page (a string); see the module docstring for what it shows."""
    if max_thumbnails < 0:
        raise ValueError(f"max_thumbnails must be >= 0, got {max_thumbnails}")
    evidence = _evidence_data(report, thumbnails, max_thumbnails)
    scan = report.get("scan") if isinstance(report.get("scan"), Mapping) else {}
    dataset = str((scan or {}).get("dataset") or "dataset")
    title = f"Provenance audit: {Path(dataset).name or dataset}"
    return (_PAGE
            .replace("@@TITLE@@", html.escape(title))
            .replace("@@CSS@@", _CSS)
            .replace("@@REPORT@@", _script_json(dict(report)))
            .replace("@@EVIDENCE@@", _script_json(evidence))
            .replace("@@JS@@", _JS))


def write_html(report: Mapping[str, Any], path: Path, thumbnails: Thumbnailer | None = None, *,
               max_thumbnails: int = 2000) -> None:
    """Render the report and write it to ``path`` atomically (a reader never sees half a page)."""
    atomic_write_text(path, render_html(report, thumbnails, max_thumbnails=max_thumbnails))


def evidence_times(layer: Mapping[str, Any], evidence: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(clip time, reference time) in seconds at which to show one piece of evidence.

    The evidence's own ``clip_time`` / ``ref_time`` win. Reports without them still get pictures: a
    footage match is shown at the middle of its longest segment with that reference, mapped onto the
    reference's time linearly; an asset match at the middle of the frames it was seen in (an asset has
    no reference time). ``None`` when the report gives nothing to go by.
    """
    ct = _num(evidence.get("clip_time"))
    rt = _num(evidence.get("ref_time"))
    ref = evidence.get("reference")
    segs = [s for s in _list(layer.get("segments"))
            if isinstance(s, Mapping) and s.get("reference") == ref
            and _num(s.get("start")) is not None and _num(s.get("end")) is not None]
    if evidence.get("kind") == "asset":
        if ct is None:
            frames = [f for f in (_num(x) for x in _list(evidence.get("frames"))) if f is not None]
            if frames:
                ct = frames[len(frames) // 2]
            elif segs:
                ct = _num(segs[0]["start"])
        return _r(ct), None
    timed = [s for s in segs if _num(s.get("ref_start")) is not None and _num(s.get("ref_end")) is not None]
    if timed and (ct is None or rt is None):
        seg = _segment_for(timed, ct)
        start, end = float(seg["start"]), float(seg["end"])
        if ct is None:
            ct = (start + end) / 2
        if rt is None:
            ref_start, ref_end = float(seg["ref_start"]), float(seg["ref_end"])
            frac = (min(max(ct, start), end) - start) / (end - start) if end > start else 0.0
            rt = ref_start + frac * (ref_end - ref_start)
    return _r(ct), _r(rt)


# --------------------------------------------------------------------------- evidence and thumbnails


def _evidence_data(report: Mapping[str, Any], thumbs: Thumbnailer | None, limit: int) -> dict[str, Any]:
    """Per evidence item of each flagged clip (key ``"clip:layer:evidence"`` indices): times, images, notes.

    Images are stored once each (``images``: id -> data URI) however many clips show them (a HUD asset
    appears in every clip of its game). Most exposed clips get their thumbnails first.
    """
    clips = _list(report.get("clips"))
    rank = {level: i for i, level in enumerate(FLAGGED)}
    order = sorted((i for i, c in enumerate(clips) if _flagged(c)), key=lambda i: rank[clips[i]["exposure"]])
    views: dict[str, dict[str, Any]] = {}
    images: dict[str, str] = {}
    pairs = 0
    for ci in order:
        clip = clips[ci]
        for li, layer in enumerate(_list(clip.get("layers"))):
            if not isinstance(layer, Mapping):
                continue
            for ei, ev in enumerate(_list(layer.get("evidence"))):
                if not isinstance(ev, Mapping):
                    continue
                ct, rt = evidence_times(layer, ev)
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


def _pair(thumbs: Thumbnailer, clip: Mapping[str, Any], ev: Mapping[str, Any], ct: float | None,
          rt: float | None, images: dict[str, str]) -> dict[str, str]:
    """The clip-side and reference-side picture ids of one evidence item, or the note saying why not."""
    out: dict[str, str] = {}
    if ct is None:
        out["clip_note"] = _NO_TIME
    else:
        _put(out, "clip", thumbs.clip_frame(clip, ct), _NO_CLIP, images)
    ref = ev.get("reference")
    if not isinstance(ref, str):
        out["ref_note"] = "No thumbnail: the evidence names no reference."
    elif ev.get("kind") == "asset":
        _put(out, "ref", thumbs.asset(ref), _NO_REF, images)
    elif rt is None:
        out["ref_note"] = _NO_TIME
    else:
        _put(out, "ref", thumbs.reference_frame(ref, rt), _NO_REF, images)
    return out


def _put(out: dict[str, str], side: str, data: bytes | None, missing: str, images: dict[str, str]) -> None:
    if data is None:
        out[f"{side}_note"] = missing
        return
    key = "i" + hashlib.sha1(data).hexdigest()[:16]
    if key not in images:
        mime = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
        images[key] = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    out[f"{side}_img"] = key


def _flagged(clip: object) -> bool:
    return isinstance(clip, Mapping) and not clip.get("error") and clip.get("exposure") in FLAGGED


def _segment_for(segs: list[Mapping[str, Any]], ct: float | None) -> Mapping[str, Any]:
    """The segment containing ``ct`` (if given), else the longest."""
    if ct is not None:
        for s in segs:
            if float(s["start"]) <= ct <= float(s["end"]):
                return s
    return max(segs, key=lambda s: float(s["end"]) - float(s["start"]))


def _num(x: object) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        return None
    return float(x)


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def _list(x: object) -> list[Any]:
    return x if isinstance(x, list) else []


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
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):
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


# --------------------------------------------------------------------------- the page

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<link rel="icon" href="data:,">
<title>@@TITLE@@</title>
<style>@@CSS@@</style>
</head>
<body>
<a class="skip" href="#clips-heading">Skip to the clips</a>
<header>
  <h1>@@TITLE@@</h1>
  <p class="lede">Which registered works each clip contains, in which layer, under what terms.</p>
</header>
<main>
  <noscript><p class="warn">This report draws its tables and charts with JavaScript; please enable it.</p></noscript>
  <section id="summary" aria-labelledby="summary-heading">
    <h2 id="summary-heading">Summary</h2>
    <div id="cards" class="cards"></div>
    <div id="charts" class="charts"></div>
    <details class="facts-box" open>
      <summary>Scan facts</summary>
      <dl id="facts" class="facts"></dl>
    </details>
  </section>
  <section id="errors" aria-labelledby="errors-heading" hidden>
    <h2 id="errors-heading">Clips that could not be checked</h2>
    <ul id="error-list" class="error-list"></ul>
  </section>
  <section aria-labelledby="clips-heading">
    <h2 id="clips-heading">Clips</h2>
    <form id="controls" class="controls" role="search" onsubmit="return false">
      <label>Search <input id="q" type="search" placeholder="path, work or holder" autocomplete="off"></label>
      <label>Exposure <select id="f-exposure"><option value="">all</option></select></label>
      <label>Layer <select id="f-layer"><option value="">all</option></select></label>
      <label>Holder <select id="f-holder"><option value="">all</option></select></label>
      <label class="check"><input id="f-errors" type="checkbox"> errors only</label>
      <button id="expand-page" type="button">Expand flagged on this page</button>
      <button id="collapse-all" type="button">Collapse all</button>
    </form>
    <p id="status" class="status" role="status" aria-live="polite"></p>
    <div class="table-wrap">
      <table id="clips">
        <caption class="sr-only">Every clip of the scan; activate a column header to sort by it.</caption>
        <thead><tr>
          <th scope="col"><span class="sr-only">Details</span></th>
          <th scope="col" aria-sort="none"><button type="button" data-key="path">Path</button></th>
          <th scope="col" aria-sort="none"><button type="button" data-key="exposure">Exposure</button></th>
          <th scope="col" aria-sort="none"><button type="button" data-key="duration">Duration</button></th>
          <th scope="col" aria-sort="none"><button type="button" data-key="works">Works</button></th>
          <th scope="col" aria-sort="none"><button type="button" data-key="holders">Holders</button></th>
          <th scope="col" aria-sort="none"><button type="button" data-key="layers">Layers</button></th>
          <th scope="col" aria-sort="none"><button type="button" data-key="confidence">Confidence</button></th>
        </tr></thead>
        <tbody></tbody>
      </table>
    </div>
    <nav class="pager" aria-label="Pages of clips">
      <button id="prev" type="button">Previous page</button>
      <span id="page-info"></span>
      <button id="next" type="button">Next page</button>
    </nav>
  </section>
</main>
<script type="application/json" id="report-data">@@REPORT@@</script>
<script type="application/json" id="evidence-data">@@EVIDENCE@@</script>
<script>@@JS@@</script>
</body>
</html>
"""

_CSS = """
:root { --fg:#1d232b; --muted:#5b6673; --line:#d9dee4; --bg:#f6f7f9; --card:#fff; --accent:#1f5fbf;
  --none:#7c8a99; --low:#2e8b57; --medium:#d48a00; --high:#c62828; --error:#7b3fa0; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg);
  background:var(--bg); }
header { padding:20px 28px 8px; }
h1 { margin:0; font-size:22px; } h2 { font-size:18px; margin:0 0 12px; } h3 { font-size:15px; margin:0 0 6px; }
h4 { font-size:14px; margin:0 0 6px; }
.lede { margin:4px 0 0; color:var(--muted); }
main { padding:0 28px 40px; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:16px 18px;
  margin:16px 0; }
.skip { position:absolute; left:-999px; } .skip:focus { left:8px; top:8px; background:#fff; padding:4px 8px; }
.sr-only { position:absolute; width:1px; height:1px; overflow:hidden; clip:rect(0 0 0 0); white-space:nowrap; }
.cards { display:flex; flex-wrap:wrap; gap:10px; margin-bottom:14px; }
.card { border:1px solid var(--line); border-radius:6px; padding:8px 14px; min-width:120px; }
.card b { display:block; font-size:20px; } .card span { color:var(--muted); font-size:12px; }
.charts { display:grid; grid-template-columns:repeat(auto-fill,minmax(380px,1fr)); gap:12px 24px; }
.chart { margin:0; } .charts > p { grid-column:1 / -1; margin:0; }
.chart h3 { font-size:13px; color:var(--muted); font-weight:600; }
.chart svg { display:block; max-width:100%; }
.chart .bar-label { font-size:12px; fill:var(--fg); } .chart .bar-value { font-size:12px; fill:var(--muted); }
.chart .empty { color:var(--muted); font-style:italic; }
.b-none { fill:var(--none); } .b-low { fill:var(--low); } .b-medium { fill:var(--medium); }
.b-high { fill:var(--high); } .b-error { fill:var(--error); } .b-other { fill:var(--accent); }
.facts-box { margin-top:12px; } .facts-box summary { cursor:pointer; font-weight:600; }
.facts { display:grid; grid-template-columns:max-content 1fr; gap:4px 16px; margin:10px 0 0; }
.facts dt { color:var(--muted); } .facts dd { margin:0; overflow-wrap:anywhere; }
.mono { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:12px; }
.controls { display:flex; flex-wrap:wrap; gap:10px 16px; align-items:end; margin-bottom:8px; }
.controls label { display:flex; flex-direction:column; font-size:12px; color:var(--muted); gap:2px; }
.controls label.check { flex-direction:row; align-items:center; gap:6px; color:var(--fg); font-size:13px; }
input[type=search], select { font:inherit; padding:4px 6px; border:1px solid var(--line); border-radius:4px;
  min-width:140px; background:#fff; }
button { font:inherit; cursor:pointer; }
.controls button, .pager button { padding:4px 10px; border:1px solid var(--line); border-radius:4px;
  background:#fff; }
button:focus-visible, input:focus-visible, select:focus-visible, summary:focus-visible {
  outline:2px solid var(--accent); outline-offset:2px; }
.status { color:var(--muted); margin:6px 0; }
.table-wrap { overflow-x:auto; }
table { border-collapse:collapse; width:100%; }
#clips th, #clips td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
#clips th button { background:none; border:0; padding:0; font-weight:600; color:var(--fg); }
#clips th[aria-sort=ascending] button::after { content:" \\25B2"; font-size:10px; }
#clips th[aria-sort=descending] button::after { content:" \\25BC"; font-size:10px; }
#clips td.path { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:12px;
  overflow-wrap:anywhere; max-width:420px; }
#clips td.num { text-align:right; white-space:nowrap; }
#clips tr.clip-row:hover { background:#f0f4fa; }
.toggle { border:1px solid var(--line); background:#fff; border-radius:4px; width:26px; height:24px; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; color:#fff; font-size:12px; font-weight:600; }
.x-none { background:var(--none); } .x-low { background:var(--low); } .x-medium { background:var(--medium); }
.x-high { background:var(--high); } .x-error { background:var(--error); }
.errtext { color:var(--error); }
.pager { display:flex; gap:12px; align-items:center; margin-top:10px; }
tr.detail > td { background:#fafbfc; padding:12px 14px 16px; }
.reason { margin:0 0 10px; font-style:italic; }
.layer { border:1px solid var(--line); border-left:4px solid var(--accent); border-radius:6px; padding:10px 12px;
  margin:0 0 12px; background:#fff; }
.layer.v-denied { border-left-color:var(--high); } .layer.v-allowed { border-left-color:var(--low); }
.layer.v-conditional, .layer.v-unknown { border-left-color:var(--medium); }
.terms { display:grid; grid-template-columns:max-content 1fr; gap:2px 14px; margin:6px 0 10px; }
.terms dt { color:var(--muted); } .terms dd { margin:0; }
table.segments { width:auto; margin:4px 0 10px; font-size:13px; }
table.segments th, table.segments td { padding:3px 10px 3px 0; border-bottom:1px solid var(--line); text-align:left; }
.evidence { margin:10px 0 4px; }
.ev-head { font-size:13px; color:var(--muted); margin-bottom:6px; }
.pair { display:flex; flex-wrap:wrap; gap:14px; }
figure.shot { margin:0; }
figure.shot figcaption { font-size:12px; color:var(--muted); margin-top:4px; max-width:320px; }
.frame { position:relative; display:inline-block; line-height:0; background:#222; }
.frame img { display:block; max-width:320px; max-height:240px; width:auto; height:auto; }
.frame.placeholder { width:320px; max-width:100%; background:repeating-linear-gradient(45deg,#eef0f3 0 10px,
  #e4e7eb 10px 20px); border:1px dashed #aab3bd; line-height:1.35; display:flex; align-items:center;
  justify-content:center; padding:12px; text-align:center; color:var(--muted); font-size:12px; }
.region { position:absolute; border:2px solid #ffeb3b; box-shadow:0 0 0 1px #000, inset 0 0 0 1px #000;
  pointer-events:none; }
.region.whole { border-style:dashed; }
.tag { display:inline-block; border:1px solid var(--line); border-radius:3px; padding:0 5px; font-size:11px;
  margin-left:6px; color:var(--muted); }
.error-list { margin:0; padding-left:18px; }
.warn { color:var(--high); }
@media print { .controls, .pager, .toggle { display:none; } }
"""

_JS = r"""
(function () {
'use strict';
var R = JSON.parse(document.getElementById('report-data').textContent);
var EV = JSON.parse(document.getElementById('evidence-data').textContent);
var scan = (R && typeof R.scan === 'object' && R.scan) || {};
var clips = (R && Array.isArray(R.clips)) ? R.clips : [];
var LEVELS = ['none', 'low', 'medium', 'high', 'error'];
var RANK = {none: 0, low: 1, medium: 2, high: 3, error: 4};
var LAYER_ORDER = ['game', 'stream', 'ugc', 'other'];
var PAGE = 100;
var ERROR_LIST_MAX = 50;

function el(tag, attrs) {
  var node = document.createElement(tag);
  if (attrs) {
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === 'text') node.textContent = String(v);
      else if (k === 'cls') node.className = v;
      else node.setAttribute(k, v === true ? '' : String(v));
    });
  }
  for (var i = 2; i < arguments.length; i++) {
    var kid = arguments[i];
    if (kid === null || kid === undefined) continue;
    node.appendChild(typeof kid === 'object' ? kid : document.createTextNode(String(kid)));
  }
  return node;
}
var SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, text) {
  var node = document.createElementNS(SVG, tag);
  Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
  if (text !== undefined) node.textContent = text;
  return node;
}
function num(x) { return (typeof x === 'number' && isFinite(x)) ? x : null; }
function secs(x) { x = num(x); return x === null ? '\u2014' : x.toFixed(2) + ' s'; }
function mins(x) { return (x / 60).toFixed(x < 600 ? 1 : 0); }
function str(x) { return (x === null || x === undefined) ? '' : String(x); }
function uniq(list) { var seen = {}, out = []; list.forEach(function (v) {
  if (v && !seen[v]) { seen[v] = 1; out.push(v); } }); return out; }
function list(x) { return Array.isArray(x) ? x : []; }

// ------------------------------------------------------------------ the rows
var rows = clips.map(function (c, i) {
  c = (c && typeof c === 'object') ? c : {};
  var layers = list(c.layers).filter(function (l) { return l && typeof l === 'object'; });
  var level = c.error ? 'error' : (RANK[c.exposure] !== undefined ? c.exposure : 'none');
  var conf = null;
  layers.forEach(function (l) { var v = num(l.confidence); if (v !== null && (conf === null || v > conf)) conf = v; });
  var works = uniq(layers.map(function (l) { return str(l.title || l.work); }));
  var holders = uniq(layers.map(function (l) { return str(l.holder_name || l.holder); }));
  var text = [str(c.path)].concat(layers.map(function (l) {
    return [l.work, l.title, l.holder, l.holder_name].map(str).join(' ');
  })).join(' ').toLowerCase();
  return {i: i, c: c, layers: layers, level: level, path: str(c.path), dur: num(c.duration_s), conf: conf,
    works: works.join(', '), holders: holders.join(', '),
    holderIds: uniq(layers.map(function (l) { return str(l.holder); })),
    layerNames: uniq(layers.map(function (l) { return str(l.layer); })), text: text};
});

// ------------------------------------------------------------------ summary
function aggregate(keyOf) {
  var acc = {};
  rows.forEach(function (r) {
    keyOf(r).forEach(function (k) {
      if (!acc[k.id]) acc[k.id] = {label: k.label, clips: 0, seconds: 0, cls: k.cls};
      acc[k.id].clips += 1; acc[k.id].seconds += r.dur || 0;
    });
  });
  return acc;
}
function barChart(title, items, fmt) {
  var box = el('figure', {cls: 'chart'}, el('h3', {text: title}));
  if (!items.length) { box.appendChild(el('p', {cls: 'empty', text: 'nothing to show'})); return box; }
  var rowH = 22, labelW = 150, barW = 170, width = labelW + barW + 70, height = items.length * rowH + 4;
  var max = Math.max.apply(null, items.map(function (d) { return d.value; })) || 1;
  var desc = title + ': ' + items.map(function (d) { return d.label + ' ' + fmt(d.value); }).join(', ');
  var s = svg('svg', {width: width, height: height, viewBox: '0 0 ' + width + ' ' + height, role: 'img',
    'aria-label': desc});
  s.appendChild(svg('title', {}, desc));
  items.forEach(function (d, k) {
    var y = k * rowH + 2, w = d.value > 0 ? Math.max(2, Math.round(barW * d.value / max)) : 0;
    var label = d.label.length > 22 ? d.label.slice(0, 21) + '\u2026' : d.label;
    s.appendChild(svg('text', {x: labelW - 6, y: y + 14, 'text-anchor': 'end', 'class': 'bar-label'}, label));
    s.appendChild(svg('rect', {x: labelW, y: y + 3, width: w, height: rowH - 8, rx: 2, 'class': 'bar b-' + d.cls,
      'data-label': d.label, 'data-value': d.value}));
    s.appendChild(svg('text', {x: labelW + w + 6, y: y + 14, 'class': 'bar-value'}, fmt(d.value)));
  });
  box.appendChild(s);
  return box;
}
function topItems(acc, field, order, limit) {
  var keys = Object.keys(acc);
  if (order) keys.sort(function (a, b) { return order(a) - order(b) || (a < b ? -1 : a > b ? 1 : 0); });
  else keys.sort(function (a, b) { return acc[b].clips - acc[a].clips || (a < b ? -1 : a > b ? 1 : 0); });
  var items = keys.map(function (k) { return {label: acc[k].label, value: acc[k][field], cls: acc[k].cls}; });
  if (limit && items.length > limit) {
    var rest = items.slice(limit - 1).reduce(function (s, d) { return s + d.value; }, 0);
    items = items.slice(0, limit - 1).concat([{label: (items.length - limit + 1) + ' more', value: rest,
      cls: 'other'}]);
  }
  return items;
}
function renderSummary() {
  var byLevel = aggregate(function (r) { return [{id: r.level, label: r.level, cls: r.level}]; });
  LEVELS.forEach(function (l) { if (!byLevel[l]) byLevel[l] = {label: l, clips: 0, seconds: 0, cls: l}; });
  var byHolder = aggregate(function (r) {
    return r.holderIds.map(function (h) {
      var l = r.layers.filter(function (x) { return str(x.holder) === h; })[0];
      return {id: h, label: str(l.holder_name || h), cls: 'other'};
    });
  });
  var byLayer = aggregate(function (r) {
    return r.layerNames.map(function (n) { return {id: n, label: n, cls: 'other'}; });
  });
  var total = rows.reduce(function (s, r) { return s + (r.dur || 0); }, 0);
  var flagged = rows.filter(function (r) { return r.level === 'low' || r.level === 'medium' || r.level === 'high'; });
  var cards = document.getElementById('cards');
  [[rows.length, 'clips'], [mins(total), 'minutes'], [flagged.length, 'clips with registered works'],
   [byLevel.high.clips, 'high exposure'], [byLevel.error.clips, 'could not be checked']].forEach(function (c) {
    cards.appendChild(el('div', {cls: 'card'}, el('b', {text: c[0]}), el('span', {text: c[1]})));
  });
  var lv = function (k) { return RANK[k]; };
  var ly = function (k) { var i = LAYER_ORDER.indexOf(k); return i < 0 ? 99 : i; };
  var charts = document.getElementById('charts');
  var count = function (v) { return String(v); };
  var minutes = function (v) { return mins(v) + ' min'; };
  charts.appendChild(barChart('Clips by exposure', topItems(byLevel, 'clips', lv), count));
  charts.appendChild(barChart('Minutes by exposure', topItems(byLevel, 'seconds', lv), minutes));
  charts.appendChild(barChart('Clips by holder', topItems(byHolder, 'clips', null, 12), count));
  charts.appendChild(barChart('Minutes by holder', topItems(byHolder, 'seconds', null, 12), minutes));
  charts.appendChild(barChart('Clips by layer', topItems(byLayer, 'clips', ly), count));
  charts.appendChild(barChart('Minutes by layer', topItems(byLayer, 'seconds', ly), minutes));
  charts.appendChild(el('p', {cls: 'status', text: 'A clip that could not be read counts as error, not as none; ' +
    'a clip counts once for each holder and layer found in it.'}));
  renderFacts();
  renderErrors();
  fillSelect('f-exposure', LEVELS.map(function (l) { return [l, l + ' (' + byLevel[l].clips + ')']; }));
  fillSelect('f-layer', Object.keys(byLayer).sort(function (a, b) { return ly(a) - ly(b) || (a < b ? -1 : 1); })
    .map(function (k) { return [k, k + ' (' + byLayer[k].clips + ')']; }));
  fillSelect('f-holder', Object.keys(byHolder).sort(function (a, b) {
    return byHolder[a].label.localeCompare(byHolder[b].label); })
    .map(function (k) { return [k, byHolder[k].label + ' (' + byHolder[k].clips + ')']; }));
}
function fillSelect(id, options) {
  var sel = document.getElementById(id);
  options.forEach(function (o) { sel.appendChild(el('option', {value: o[0], text: o[1]})); });
}
function renderFacts() {
  var dl = document.getElementById('facts');
  var refs = scan.references && typeof scan.references === 'object' ? scan.references : null;
  var facts = [
    ['Dataset', scan.dataset, true], ['Scanned on', scan.date], ['Terms as of', scan.as_of],
    ['Territory', scan.territory === null ? 'any (none given)' : scan.territory],
    ['Engine', scan.engine, true], ['Registry digest', scan.registry_digest, true],
    ['References', refs ? (str(refs.footage) + ' footage, ' + str(refs.assets) + ' assets') : undefined],
    ['Clips', String(rows.length)]];
  facts.forEach(function (f) {
    if (f[1] === undefined || f[1] === '') return;
    dl.appendChild(el('dt', {text: f[0]}));
    dl.appendChild(el('dd', {cls: f[2] ? 'mono' : null, text: str(f[1])}));
  });
  if (scan.settings && typeof scan.settings === 'object') {
    dl.appendChild(el('dt', {text: 'Settings'}));
    dl.appendChild(el('dd', {cls: 'mono', text: Object.keys(scan.settings).map(function (k) {
      return k + '=' + JSON.stringify(scan.settings[k]); }).join('  ')}));
  }
}
function renderErrors() {
  var errs = rows.filter(function (r) { return r.level === 'error'; });
  if (!errs.length) return;
  var ul = document.getElementById('error-list');
  errs.slice(0, ERROR_LIST_MAX).forEach(function (r) {
    ul.appendChild(el('li', null, el('span', {cls: 'mono', text: r.path}), ': ',
      el('span', {cls: 'errtext', text: str(r.c.error)})));
  });
  if (errs.length > ERROR_LIST_MAX) {
    ul.appendChild(el('li', {text: (errs.length - ERROR_LIST_MAX) + ' more: tick "errors only" below to see all.'}));
  }
  document.getElementById('errors').hidden = false;
}

// ------------------------------------------------------------------ table state
var state = {q: '', level: '', layer: '', holder: '', errors: false, key: null, dir: 1, page: 0};
var expanded = {};
var view = rows;
var KEYS = {
  path: function (r) { return r.path; }, exposure: function (r) { return RANK[r.level]; },
  duration: function (r) { return r.dur; }, works: function (r) { return r.works; },
  holders: function (r) { return r.holders; }, layers: function (r) { return r.layerNames.join(', '); },
  confidence: function (r) { return r.conf; }
};
function recompute() {
  var q = state.q.trim().toLowerCase();
  view = rows.filter(function (r) {
    if (q && r.text.indexOf(q) < 0) return false;
    if (state.level && r.level !== state.level) return false;
    if (state.errors && r.level !== 'error') return false;
    if (state.layer && r.layerNames.indexOf(state.layer) < 0) return false;
    if (state.holder && r.holderIds.indexOf(state.holder) < 0) return false;
    return true;
  });
  if (state.key) {
    var key = KEYS[state.key], dir = state.dir;
    view = view.map(function (r) { return [key(r), r]; });
    view.sort(function (a, b) {
      var ea = a[0] === null || a[0] === '', eb = b[0] === null || b[0] === '';
      if (ea || eb) return ea === eb ? a[1].i - b[1].i : (ea ? 1 : -1);  // empty values last either way
      if (a[0] !== b[0]) return a[0] < b[0] ? -dir : dir;
      return a[1].i - b[1].i;
    });
    view = view.map(function (p) { return p[1]; });
  }
  state.page = 0;
  renderTable();
}
function flaggedRow(r) { return r.level === 'low' || r.level === 'medium' || r.level === 'high'; }
function renderTable() {
  var pages = Math.max(1, Math.ceil(view.length / PAGE));
  state.page = Math.min(state.page, pages - 1);
  var first = state.page * PAGE, slice = view.slice(first, first + PAGE);
  var body = document.querySelector('#clips tbody');
  var out = [];
  slice.forEach(function (r) {
    out.push(rowFor(r));
    if (expanded[r.i]) out.push(detailRow(r));
  });
  if (!slice.length) {
    out.push(el('tr', {cls: 'empty-row'}, el('td', {colspan: 8, text: 'No clip matches these filters.'})));
  }
  body.replaceChildren.apply(body, out);
  document.getElementById('status').textContent = view.length ?
    'Showing ' + (first + 1) + '\u2013' + (first + slice.length) + ' of ' + view.length + ' clips' +
    (view.length !== rows.length ? ' (filtered from ' + rows.length + ')' : '') : 'No clips (of ' + rows.length + ')';
  document.getElementById('page-info').textContent = 'Page ' + (state.page + 1) + ' of ' + pages;
  document.getElementById('prev').disabled = state.page === 0;
  document.getElementById('next').disabled = state.page >= pages - 1;
  document.querySelectorAll('#clips thead th[aria-sort]').forEach(function (th) {
    var k = th.querySelector('button').getAttribute('data-key');
    th.setAttribute('aria-sort', k === state.key ? (state.dir > 0 ? 'ascending' : 'descending') : 'none');
  });
}
function rowFor(r) {
  var tr = el('tr', {cls: 'clip-row', 'data-index': r.i, 'data-level': r.level});
  var cell = el('td');
  if (flaggedRow(r) || r.level === 'error') {
    cell.appendChild(el('button', {type: 'button', cls: 'toggle', 'aria-expanded': expanded[r.i] ? 'true' : 'false',
      'aria-controls': 'detail-' + r.i, 'aria-label': 'Details of ' + r.path, 'data-index': r.i,
      text: expanded[r.i] ? '\u25BE' : '\u25B8'}));
  }
  tr.appendChild(cell);
  tr.appendChild(el('td', {cls: 'path', text: r.path}));
  tr.appendChild(el('td', null, el('span', {cls: 'badge x-' + r.level, text: r.level})));
  tr.appendChild(el('td', {cls: 'num', text: secs(r.dur)}));
  if (r.level === 'error') {
    tr.appendChild(el('td', {colspan: 4, cls: 'errtext', text: 'Error: ' + str(r.c.error)}));
  } else {
    tr.appendChild(el('td', {cls: 'works', text: r.works}));
    tr.appendChild(el('td', {cls: 'holders', text: r.holders}));
    tr.appendChild(el('td', {text: r.layerNames.join(', ')}));
    tr.appendChild(el('td', {cls: 'num', text: r.conf === null ? '' : r.conf.toFixed(2)}));
  }
  return tr;
}

// ------------------------------------------------------------------ detail view
function detailRow(r) {
  var td = el('td', {colspan: 8});
  var tr = el('tr', {cls: 'detail', id: 'detail-' + r.i, 'data-index': r.i}, td);
  if (r.level === 'error') {
    td.appendChild(el('p', {cls: 'errtext', text: 'Could not be checked: ' + str(r.c.error)}));
    return tr;
  }
  if (r.c.reason) td.appendChild(el('p', {cls: 'reason', text: str(r.c.reason)}));
  var meta = [];
  if (r.c.sha256) meta.push('sha256 ' + r.c.sha256);
  if (Array.isArray(r.c.frame_size)) meta.push('frame ' + r.c.frame_size.join('\u00D7'));
  if (r.c.metadata && typeof r.c.metadata === 'object') {
    Object.keys(r.c.metadata).forEach(function (k) {
      var v = r.c.metadata[k]; meta.push(k + ': ' + (typeof v === 'object' ? JSON.stringify(v) : str(v)));
    });
  }
  if (meta.length) td.appendChild(el('p', {cls: 'mono', text: meta.join(' \u00B7 ')}));
  r.layers.forEach(function (l, li) { td.appendChild(layerBox(r, l, li)); });
  return tr;
}
function layerBox(r, l, li) {
  var verdict = str(l.verdict);
  var box = el('article', {cls: 'layer' + (verdict ? ' v-' + verdict : ''), 'data-work': str(l.work)});
  box.appendChild(el('h3', null, el('span', {cls: 'work-title', text: str(l.title || l.work)}),
    el('span', {cls: 'tag', text: str(l.layer) + ' layer'})));
  var policy = (l.policy && typeof l.policy === 'object') ? l.policy : {};
  var terms = [['Holder', l.holder_name ? l.holder_name + ' (' + str(l.holder) + ')' : l.holder, 'holder-name'],
    ['Work', l.work], ['AI training', policy.ai_training, 'ai-training'], ['License', policy.license],
    ['Valid until', policy.valid_until || policy.valid_to],
    ['Valid from', policy.valid_from],
    ['Territories', Array.isArray(policy.territories) ? policy.territories.join(', ') : policy.territories],
    ['Verdict', l.verdict, 'verdict'], ['Confidence', num(l.confidence) === null ? null : l.confidence.toFixed(2)],
    ['Why', l.reason]];
  var known = {ai_training: 1, license: 1, valid_until: 1, valid_to: 1, valid_from: 1, territories: 1};
  Object.keys(policy).forEach(function (k) {
    var v = policy[k];
    if (!known[k]) terms.push([k.replace(/_/g, ' '), typeof v === 'object' ? JSON.stringify(v) : v]);
  });
  var dl = el('dl', {cls: 'terms'});
  terms.forEach(function (t) {
    if (t[1] === null || t[1] === undefined || t[1] === '') return;
    dl.appendChild(el('dt', {text: t[0]}));
    dl.appendChild(el('dd', {cls: t[2] || null, text: str(t[1])}));
  });
  box.appendChild(dl);
  var segs = list(l.segments).filter(function (s) { return s && typeof s === 'object'; });
  if (segs.length) {
    var table = el('table', {cls: 'segments'}, el('caption', {cls: 'sr-only', text: 'Matched segments'}),
      el('thead', null, el('tr', null, el('th', {scope: 'col', text: 'In the clip'}),
        el('th', {scope: 'col', text: 'Reference'}), el('th', {scope: 'col', text: 'In the reference'}))));
    var tb = el('tbody');
    segs.forEach(function (s) {
      var refSpan = num(s.ref_start) === null ? 'still image' : secs(s.ref_start) + ' \u2013 ' + secs(s.ref_end);
      tb.appendChild(el('tr', {cls: 'segment'}, el('td', {text: secs(s.start) + ' \u2013 ' + secs(s.end)}),
        el('td', {cls: 'mono', text: str(s.reference)}), el('td', {text: refSpan})));
    });
    table.appendChild(tb);
    box.appendChild(table);
  }
  list(l.evidence).forEach(function (ev, ei) {
    if (ev && typeof ev === 'object') box.appendChild(evidenceBox(r, ev, EV.views[r.i + ':' + li + ':' + ei] || {}));
  });
  return box;
}
function evidenceBox(r, ev, v) {
  var isAsset = ev.kind === 'asset';
  var methods = (ev.methods && typeof ev.methods === 'object') ? ev.methods : {};
  var how = isAsset
    ? 'Asset match (' + str(ev.method || 'asset') + (num(ev.score) !== null ? ', score ' + ev.score : '') + ')'
    : 'Footage match (' + Object.keys(methods).map(function (k) { return k + ' ' + methods[k]; }).join(', ') + ')';
  var head = el('div', {cls: 'ev-head'}, how + ' with ', el('span', {cls: 'mono', text: str(ev.reference)}));
  if (ev.mirrored) head.appendChild(el('span', {cls: 'tag', text: 'mirrored'}));
  var clipAlt = 'Frame of ' + r.path + ' at ' + secs(v.clip_time);
  var refAlt = isAsset ? 'Registered asset ' + str(ev.reference)
    : 'Frame of reference ' + str(ev.reference) + ' at ' + secs(v.ref_time);
  var region = Array.isArray(ev.region) && ev.region.length === 4 ? ev.region.map(num) : null;
  var clipShot = shot('clip', v.clip_img, v.clip_note, clipAlt, region || 'whole', r.c.frame_size,
    'Clip at ' + secs(v.clip_time) + (region ? ', matched region outlined' : ', whole frame matched'));
  var refShot = shot('ref', v.ref_img, v.ref_note, refAlt, null, null,
    isAsset ? 'Asset ' + str(ev.reference) : 'Reference at ' + secs(v.ref_time));
  return el('div', {cls: 'evidence', 'data-kind': str(ev.kind)}, head, el('div', {cls: 'pair'}, clipShot, refShot));
}
function shot(side, imgId, note, alt, region, frameSize, caption) {
  var frame;
  var src = imgId ? EV.images[imgId] : null;
  if (src) {
    frame = el('div', {cls: 'frame'}, el('img', {cls: 'thumb thumb-' + side, src: src, alt: alt}));
  } else {
    var sized = Array.isArray(frameSize) && frameSize[0] > 0 && frameSize[1] > 0;
    var ratio = sized ? frameSize[0] + ' / ' + frameSize[1] : '16 / 9';
    frame = el('div', {cls: 'frame placeholder placeholder-' + side, role: 'img', 'aria-label': alt + ': ' + str(note),
      style: 'aspect-ratio: ' + ratio}, el('span', {text: note || 'No thumbnail.'}));
  }
  if (region) frame.appendChild(regionBox(region));
  return el('figure', {cls: 'shot ' + side}, frame, el('figcaption', {text: caption}));
}
function regionBox(region) {
  if (region === 'whole' || region.some(function (x) { return x === null; })) {
    return el('div', {cls: 'region whole', title: 'whole frame matched', style: 'left:0;top:0;width:100%;height:100%'});
  }
  var c = region.map(function (x) { return Math.min(1, Math.max(0, x)); });
  var pct = function (x) { return (100 * x).toFixed(2) + '%'; };
  return el('div', {cls: 'region', title: 'matched region', 'data-region': c.join(','),
    style: 'left:' + pct(c[0]) + ';top:' + pct(c[1]) + ';width:' + pct(Math.max(0, c[2] - c[0])) +
      ';height:' + pct(Math.max(0, c[3] - c[1]))});
}

// ------------------------------------------------------------------ wiring
function wire() {
  var q = document.getElementById('q');
  q.addEventListener('input', function () { state.q = q.value; recompute(); });
  [['f-exposure', 'level'], ['f-layer', 'layer'], ['f-holder', 'holder']].forEach(function (p) {
    var sel = document.getElementById(p[0]);
    sel.addEventListener('change', function () { state[p[1]] = sel.value; recompute(); });
  });
  var errs = document.getElementById('f-errors');
  errs.addEventListener('change', function () { state.errors = errs.checked; recompute(); });
  document.querySelectorAll('#clips thead button[data-key]').forEach(function (b) {
    b.addEventListener('click', function () {
      var k = b.getAttribute('data-key');
      if (state.key === k) state.dir = -state.dir; else { state.key = k; state.dir = 1; }
      recompute();
    });
  });
  document.getElementById('prev').addEventListener('click', function () { state.page -= 1; renderTable(); });
  document.getElementById('next').addEventListener('click', function () { state.page += 1; renderTable(); });
  document.querySelector('#clips tbody').addEventListener('click', function (e) {
    var b = e.target.closest('button.toggle');
    if (!b) return;
    var i = Number(b.getAttribute('data-index'));
    if (expanded[i]) delete expanded[i]; else expanded[i] = true;
    renderTable();
    var again = document.querySelector('#clips tbody button.toggle[data-index="' + i + '"]');
    if (again) again.focus();
  });
  document.getElementById('expand-page').addEventListener('click', function () {
    view.slice(state.page * PAGE, state.page * PAGE + PAGE).forEach(function (r) {
      if (flaggedRow(r) || r.level === 'error') expanded[r.i] = true; });
    renderTable();
  });
  document.getElementById('collapse-all').addEventListener('click', function () { expanded = {}; renderTable(); });
}
renderSummary();
wire();
recompute();
document.body.setAttribute('data-ready', '1');
})();
"""
