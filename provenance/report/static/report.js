
(function () {
'use strict';
var R = JSON.parse(document.getElementById('report-data').textContent);
var EV = JSON.parse(document.getElementById('evidence-data').textContent);
var scan = (R && typeof R.scan === 'object' && R.scan) || {};
var clips = (R && Array.isArray(R.clips)) ? R.clips : [];
var LEVELS = ['none', 'low', 'medium', 'high', 'unknown', 'error'];
// unknown (not checked, fail-safe) and error (not read) rank above high: never cleared, reviewed first
var RANK = {none: 0, low: 1, medium: 2, high: 3, unknown: 4, error: 5};
var LAYER_ORDER = ['game', 'stream', 'ugc', 'other'];
var VERDICT_RANK = {allowed: 1, unknown: 2, conditional: 3, denied: 4};
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
// A clip's error names the clip ("a.mp4: empty file"); beside its path, the path is not said twice.
function errText(r) {
  var e = str(r.c.error);
  return e.indexOf(r.path + ': ') === 0 ? e.slice(r.path.length + 2) : e;
}
// How a frame was matched, in words (the engine's method names are kept in a tooltip).
var METHOD_WORDS = {pdq: 'the whole picture', orb: 'local features'};
function methodWords(name) {
  var parts = String(name).split('-'), base = METHOD_WORDS[parts[0]];
  if (!base) return String(name);
  var words = base;
  if (parts.indexOf('track') >= 0) words = 'local features followed from frame to frame';
  if (parts.indexOf('panel') >= 0) words = 'an inset panel (picture in picture)';
  if (parts.indexOf('region') >= 0) words = 'a part of the picture';
  if (parts.indexOf('mirror') >= 0) words += ', mirrored';
  return words;
}

// What a piece of evidence is, in plain words; the measure behind it goes in a tooltip.
function evidenceWords(ev) {
  var inside = Array.isArray(ev.region) && ev.region.length === 4;
  var words = ev.kind === 'asset'
    ? 'A registered still (HUD/logo/overlay) ' + (inside ? 'found inside the frame' : 'covering the picture')
    : (inside ? 'Found inside the frame' : 'The whole picture matches');
  words += ev.mirrored ? ', mirrored' : '';
  if (ev.via && typeof ev.via === 'object') {
    var a = num(ev.via.ref_start), b = num(ev.via.ref_end);
    words += ' — seen in the streamer\'s VOD ' + str(ev.via.reference) +
      (a !== null && b !== null ? ' (' + a.toFixed(1) + '-' + b.toFixed(1) + ' s)' : '') + ', which this clip copies';
  }
  return words;
}
function evidenceMeasure(ev) {
  var parts = [], score = num(ev.score);
  if (ev.kind === 'asset') {
    if (ev.method === 'features' && score !== null) parts.push(Math.round(score) + ' inliers (matching points)');
    else if (ev.method === 'template' && score !== null) parts.push('template correlation ' + score.toFixed(2));
    else if (score !== null) parts.push(str(ev.method) + ' score ' + score);
    parts.push(list(ev.frames).length + ' frame(s) of the clip');
  } else {
    var d = num(ev.best_pdq_distance);
    if (d !== null) parts.push('best distance ' + d + ' of 256 bits');
    var m = (ev.methods && typeof ev.methods === 'object') ? ev.methods : {};
    var frames = Object.keys(m).reduce(function (t, k) { return t + (num(m[k]) || 0); }, 0);
    if (frames) parts.push(frames + ' matching frame(s)');
  }
  if (Array.isArray(ev.region) && ev.region.length === 4) {
    parts.push('region ' + ev.region.map(function (x) { return num(x) === null ? '?' : x.toFixed(2); }).join(', '));
  }
  return parts.join('; ');
}
// A person's decision on a layer, and open disputes, in words.
var DECISION_WORDS = {confirmed: 'Confirmed on review', false_match: 'Dismissed on review as a false match',
  licensed: 'Licensed (counts as allowed)'};
function dismissed(l) { return !!(l.review && l.review.decision === 'false_match'); }
function reviewBox(review) {
  var words = DECISION_WORDS[review.decision] || ('Reviewed: ' + str(review.decision));
  if (review.licence) words += ', licence ' + str(review.licence);
  words += ' — by ' + str(review.by) + ', ' + str(review.at).slice(0, 10);
  return el('div', {cls: 'review review-' + str(review.decision), 'data-decision': str(review.decision)},
    el('strong', {text: words}), el('span', {cls: 'review-note', text: str(review.note)}));
}
function disputeBox(d, onWork) {
  return el('div', {cls: 'dispute', 'data-dispute': str(d.id)}, el('strong', {text: 'Open dispute #' + str(d.id) +
    ' by ' + str(d.holder) + (onWork ? '' : ' claiming ' + str(d.work)) + ':'}), el('span', {text: ' ' + str(d.note)}));
}

// ------------------------------------------------------------------ the rows
var rows = clips.map(function (c, i) {
  c = (c && typeof c === 'object') ? c : {};
  var layers = list(c.layers).filter(function (l) { return l && typeof l === 'object'; });
  // an exposure this page does not know is shown as unknown, never as none (fail-safe)
  var level = c.error ? 'error' : (RANK[c.exposure] !== undefined ? c.exposure : 'unknown');
  var conf = null;
  layers.forEach(function (l) { var v = num(l.confidence); if (v !== null && (conf === null || v > conf)) conf = v; });
  var works = uniq(layers.map(function (l) { return str(l.title || l.work); }));
  var holders = uniq(layers.map(function (l) { return str(l.holder_name || l.holder); }));
  var counted = layers.filter(function (l) { return !dismissed(l); });
  var verdicts = uniq(counted.map(function (l) { return str(l.verdict); })).sort(function (a, b) {
    return (VERDICT_RANK[b] || 0) - (VERDICT_RANK[a] || 0); });
  var text = [str(c.path)].concat(layers.map(function (l) {
    return [l.work, l.title, l.holder, l.holder_name].map(str).join(' ');
  })).join(' ').toLowerCase();
  return {i: i, c: c, layers: layers, level: level, path: str(c.path), dur: num(c.duration_s), conf: conf,
    works: works.join(', '), holders: holders.join(', '), verdicts: verdicts,
    verdictRank: verdicts.length ? (VERDICT_RANK[verdicts[0]] || 0) : null,
    holderIds: uniq(layers.map(function (l) { return str(l.holder); })),
    layerNames: uniq(layers.map(function (l) { return str(l.layer); })), text: text,
    reviewed: layers.some(function (l) { return l.review || l.dispute; }) || list(c.claims).length > 0};
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
  var withWorks = rows.filter(function (r) { return r.layers.length > 0; });
  var cards = document.getElementById('cards');
  var sigOf = function (r) { return (r.c.signals && typeof r.c.signals === 'object') ? r.c.signals : null; };
  var optOuts = rows.filter(function (r) { var g = sigOf(r); return !!(g && g.opt_out); }).length;
  var stripped = rows.filter(function (r) { var g = sigOf(r); return !!(g && g.verdict === 'reservation_stripped'); }).length;
  var sigCards = rows.some(sigOf) ? [[optOuts, 'carry an opt-out'], [stripped, 'reservations stripped']] : [];
  [[rows.length, 'clips'], [mins(total), 'minutes'], [withWorks.length, 'clips with registered works'],
   [byLevel.high.clips, 'high exposure'],
   [byLevel.error.clips + byLevel.unknown.clips, 'could not be checked']].concat(sigCards).forEach(function (c) {
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
  charts.appendChild(el('p', {cls: 'status', text: 'A clip that could not be read counts as error, one that could not be checked as unknown, ' +
    'neither as none; ' +
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
      el('span', {cls: 'errtext', text: errText(r)})));
  });
  if (errs.length > ERROR_LIST_MAX) {
    ul.appendChild(el('li', {text: (errs.length - ERROR_LIST_MAX) + ' more: tick "errors only" below to see all.'}));
  }
  document.getElementById('errors').hidden = false;
}

// ------------------------------------------------------------------ table state
// Most exposed first, then the most confident: where a reviewer starts.
var state = {q: '', level: '', layer: '', holder: '', errors: false, key: 'exposure', dir: -1, page: 0};
// Flagged clips show their evidence unless collapsed; toggled rows differ from that default.
var openFlagged = true;
var toggled = {};
function isOpen(r) {
  var base = openFlagged && flaggedRow(r);
  return toggled[r.i] ? !base : base;
}
var view = rows;
var KEYS = {
  path: function (r) { return r.path; }, exposure: function (r) { return RANK[r.level]; },
  duration: function (r) { return r.dur; }, works: function (r) { return r.works; },
  verdict: function (r) { return r.verdictRank; },
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
      if (state.key === 'exposure' || state.key === 'verdict') {  // then confidence, the same way round
        var ca = a[1].conf, cb = b[1].conf;
        if (ca !== cb) return ca === null ? 1 : cb === null ? -1 : (ca < cb ? -dir : dir);
      }
      return a[1].i - b[1].i;
    });
    view = view.map(function (p) { return p[1]; });
  }
  state.page = 0;
  renderTable();
}
var COLUMNS = 10;
function flaggedRow(r) { return r.level === 'low' || r.level === 'medium' || r.level === 'high'; }
function hasDetail(r) { return flaggedRow(r) || r.level === 'error' || r.reviewed; }
function renderTable() {
  var pages = Math.max(1, Math.ceil(view.length / PAGE));
  state.page = Math.min(state.page, pages - 1);
  var first = state.page * PAGE, slice = view.slice(first, first + PAGE);
  var body = document.querySelector('#clips tbody');
  var out = [];
  slice.forEach(function (r) {
    out.push(rowFor(r));
    if (isOpen(r)) out.push(detailRow(r));
  });
  if (!slice.length) {
    out.push(el('tr', {cls: 'empty-row'}, el('td', {colspan: COLUMNS, text: 'No clip matches these filters.'})));
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
  if (hasDetail(r)) {
    cell.appendChild(el('button', {type: 'button', cls: 'toggle', 'aria-expanded': isOpen(r) ? 'true' : 'false',
      'aria-controls': 'detail-' + r.i, 'aria-label': 'Details of ' + r.path, 'data-index': r.i,
      text: isOpen(r) ? '\u25BE' : '\u25B8'}));
  }
  tr.appendChild(cell);
  tr.appendChild(el('td', {cls: 'path', text: r.path}));
  var level = el('td', null, el('span', {cls: 'badge x-' + r.level, text: r.level}));
  var sv = (r.c.signals && typeof r.c.signals === 'object') ? str(r.c.signals.verdict) : '';
  if (sv && sv !== 'none' && sv !== 'allowed') level.appendChild(el('span', {cls: 'tag sig-tag', text: signalWords(sv)}));
  tr.appendChild(level);
  if (r.level === 'error') {
    tr.appendChild(el('td', {colspan: 6, cls: 'errtext', text: 'Error: ' + errText(r)}));
  } else {
    var verdicts = el('td', {cls: 'verdict'});
    r.verdicts.forEach(function (v, k) {
      if (k) verdicts.appendChild(document.createTextNode(', '));
      verdicts.appendChild(el('span', {cls: 'v-' + v + '-text', text: v}));
    });
    tr.appendChild(verdicts);
    tr.appendChild(el('td', {cls: 'num conf', text: r.conf === null ? '' : r.conf.toFixed(2)}));
    tr.appendChild(el('td', {cls: 'why', title: str(r.c.reason) || null}, el('span', {text: str(r.c.reason)})));
    tr.appendChild(el('td', {cls: 'works', text: r.works}));
    tr.appendChild(el('td', {cls: 'holders', text: r.holders}));
    tr.appendChild(el('td', {text: r.layerNames.join(', ')}));
  }
  tr.appendChild(el('td', {cls: 'num', text: secs(r.dur)}));
  return tr;
}

// ------------------------------------------------------------------ detail view
function detailRow(r) {
  var td = el('td', {colspan: COLUMNS});
  var tr = el('tr', {cls: 'detail', id: 'detail-' + r.i, 'data-index': r.i}, td);
  if (r.level === 'error') {
    td.appendChild(el('p', {cls: 'errtext', text: 'Could not be checked: ' + errText(r)}));
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
  list(r.c.claims).forEach(function (d) { if (d && typeof d === 'object') td.appendChild(disputeBox(d, false)); });
  if (r.c.signals && typeof r.c.signals === 'object') td.appendChild(signalsBox(r.c.signals));
  r.layers.forEach(function (l, li) { td.appendChild(layerBox(r, l, li)); });
  return tr;
}
// Opt-out signals (report field `signals`): the join's verdict, why, and each signal with its source and state.
var SIGNAL_WORDS = {opt_out: 'opt-out', opt_out_unregistered: 'opt-out, no registered work',
  reservation_stripped: 'reservation stripped', unreadable: 'signal unreadable', allowed: 'allowed by signals',
  none: 'no opt-out'};
function signalWords(v) { return SIGNAL_WORDS[v] || str(v); }
function signalsBox(sig) {
  var verdict = str(sig.verdict);
  var box = el('article', {cls: 'signals s-' + verdict, 'data-verdict': verdict});
  box.appendChild(el('h3', null, el('span', {text: 'Opt-out signals'}),
    el('span', {cls: 'tag sig-verdict', text: signalWords(verdict)})));
  if (sig.note) box.appendChild(el('p', {cls: 'sig-note', text: str(sig.note)}));
  var items = list(sig.items).filter(function (s) { return s && typeof s === 'object'; });
  if (!items.length) return box;
  var head = el('tr');
  ['Signal', 'Value', 'Source', 'Means', 'Date', 'Validation', 'Detail'].forEach(function (h) {
    head.appendChild(el('th', {scope: 'col', text: h}));
  });
  var table = el('table', {cls: 'sig-items'}, el('caption', {cls: 'sr-only', text: 'Signals'}), el('thead', null, head));
  var tb = el('tbody');
  items.forEach(function (s) {
    tb.appendChild(el('tr', {cls: 'signal e-' + str(s.effect), 'data-effect': str(s.effect)},
      el('td', {cls: 'mono', text: str(s.kind)}), el('td', {cls: 'mono', text: str(s.value)}),
      el('td', {text: str(s.source)}), el('td', {cls: 'sig-effect', text: str(s.effect)}),
      el('td', {text: str(s.date)}), el('td', {cls: 'sig-validation', text: str(s.validation)}),
      el('td', {text: str(s.detail)})));
  });
  table.appendChild(tb);
  box.appendChild(table);
  return box;
}
function layerBox(r, l, li) {
  var verdict = str(l.verdict);
  var modality = l.modality === 'audio' ? 'audio' : 'video';
  var box = el('article', {cls: 'layer' + (verdict ? ' v-' + verdict : '') + (dismissed(l) ? ' dismissed' : ''),
    'data-work': str(l.work), 'data-modality': modality});
  box.appendChild(el('h3', null, el('span', {cls: 'work-title', text: str(l.title || l.work)}),
    el('span', {cls: 'tag', text: str(l.layer) + ' layer'}),
    el('span', {cls: 'tag modality', text: modality === 'audio' ? 'in the sound' : 'in the picture'})));
  if (l.review && typeof l.review === 'object') box.appendChild(reviewBox(l.review));
  if (l.dispute && typeof l.dispute === 'object') box.appendChild(disputeBox(l.dispute, true));
  var policy = (l.policy && typeof l.policy === 'object') ? l.policy : {};
  var terms = [['Holder', l.holder_name ? l.holder_name + ' (' + str(l.holder) + ')' : l.holder, 'holder-name'],
    ['Work', l.work], ['AI training', policy.ai_training, 'ai-training'], ['License', policy.license],
    ['Valid until', policy.valid_until || policy.valid_to],
    ['Valid from', policy.valid_from],
    ['Territories', Array.isArray(policy.territories) ? policy.territories.join(', ') : policy.territories],
    ['Verdict', l.verdict, 'verdict'], ['Confidence', num(l.confidence) === null ? null : l.confidence.toFixed(2)],
    ['Why', l.reason]];
  var before = (policy.unlicensed && typeof policy.unlicensed === 'object') ? policy.unlicensed : null;
  if (before) terms.push(['AI training before the licence', before.ai_training, 'unlicensed']);
  var known = {ai_training: 1, license: 1, valid_until: 1, valid_to: 1, valid_from: 1, territories: 1, unlicensed: 1};
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
  var isAudio = ev.kind === 'audio';
  var methods = (ev.methods && typeof ev.methods === 'object') ? ev.methods : {};
  var how, raw;
  if (isAudio) {
    var votes = num(ev.votes);
    var speed = num(ev.speed);
    how = 'Sound match' + (votes !== null ? ': ' + votes + ' spectrogram peaks found in the reference' : '') +
      (speed !== null && Math.abs(speed - 1) >= 0.005 ? ', played at ' + Math.round(speed * 100) + ' % speed' : '');
    raw = 'audio peaks' + (votes !== null ? ' ' + votes : '');
  } else if (isAsset) {
    var score = num(ev.score);
    how = 'Registered still found in the clip' + (ev.method === 'features'
      ? ' by local features' + (score !== null ? ' (' + Math.round(score) + ' matching points)' : '')
      : ev.method === 'template' ? ' by template matching' + (score !== null ? ' (correlation ' + score.toFixed(2) + ')' : '')
      : '');
    raw = str(ev.method) + (score !== null ? ', score ' + ev.score : '');
  } else {
    var names = Object.keys(methods).sort(function (a, b) { return methods[b] - methods[a] || (a < b ? -1 : 1); });
    var frames = names.reduce(function (t, k) { return t + (num(methods[k]) || 0); }, 0);
    how = 'Footage match' + (names.length ? ': ' + frames + ' matching frame' + (frames === 1 ? '' : 's') + ', by ' +
      names.map(function (k) { return methodWords(k) + ' (' + methods[k] + ')'; }).join('; ') : '');
    raw = names.map(function (k) { return k + ' ' + methods[k]; }).join(', ');
  }
  var caption = el('p', {cls: 'ev-caption', title: evidenceMeasure(ev) || null, text: evidenceWords(ev)});
  var head = el('div', {cls: 'ev-head', title: raw ? 'engine methods: ' + raw : null}, how + ', with ',
    el('span', {cls: 'mono', text: str(ev.reference)}));
  if (ev.mirrored) head.appendChild(el('span', {cls: 'tag', text: 'mirrored'}));
  var clipAlt = (isAudio ? 'Spectrogram of ' : 'Frame of ') + r.path + ' at ' + secs(v.clip_time);
  var refAlt = isAsset ? 'Registered asset ' + str(ev.reference)
    : (isAudio ? 'Spectrogram of reference ' : 'Frame of reference ') + str(ev.reference) + ' at ' + secs(v.ref_time);
  var region = Array.isArray(ev.region) && ev.region.length === 4 ? ev.region.map(num) : null;
  var clipShot = isAudio
    ? shot('clip', v.clip_img, v.clip_note, clipAlt, null, [320, 128], 'Clip\u2019s sound at ' + secs(v.clip_time))
    : shot('clip', v.clip_img, v.clip_note, clipAlt, region || 'whole', r.c.frame_size,
      'Clip at ' + secs(v.clip_time) + (region ? ', matched region outlined' : ', whole frame matched'));
  var refShot = shot('ref', v.ref_img, v.ref_note, refAlt, null, isAudio ? [320, 128] : null,
    isAsset ? 'Asset ' + str(ev.reference)
      : (isAudio ? 'Reference\u2019s sound at ' : 'Reference at ') + secs(v.ref_time));
  return el('div', {cls: 'evidence', 'data-kind': str(ev.kind), 'data-title': r.path + ' \u2014 ' + str(ev.reference)},
    caption, head, el('div', {cls: 'pair'}, clipShot, refShot));
}
function shot(side, imgId, note, alt, region, frameSize, caption) {
  var frame;
  var src = imgId ? EV.images[imgId] : null;
  if (src) {
    frame = el('div', {cls: 'frame'}, el('img', {cls: 'thumb thumb-' + side, src: src, alt: alt,
      title: 'Click to enlarge'}));
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
    var img = e.target.closest('img.thumb');
    if (img) { enlarge(img.closest('.evidence')); return; }
    var b = e.target.closest('button.toggle');
    if (!b) return;
    var i = Number(b.getAttribute('data-index'));
    if (toggled[i]) delete toggled[i]; else toggled[i] = true;
    renderTable();
    var again = document.querySelector('#clips tbody button.toggle[data-index="' + i + '"]');
    if (again) again.focus();
  });
  document.getElementById('expand-page').addEventListener('click', function () {
    view.slice(state.page * PAGE, state.page * PAGE + PAGE).forEach(function (r) {
      if (hasDetail(r) && !isOpen(r)) toggled[r.i] = !toggled[r.i]; });
    renderTable();
  });
  document.getElementById('collapse-all').addEventListener('click', function () {
    openFlagged = false; toggled = {}; renderTable(); });
  var box = document.getElementById('lightbox');
  document.getElementById('lightbox-close').addEventListener('click', function () { box.close(); });
  box.addEventListener('click', function (e) { if (e.target === box) box.close(); });
}
// The evidence pair of one match, enlarged in a dialog (Escape or Close to return).
function enlarge(evidence) {
  if (!evidence) return;
  var box = document.getElementById('lightbox'), body = document.getElementById('lightbox-body');
  document.getElementById('lightbox-title').textContent = evidence.getAttribute('data-title') || '';
  var pair = evidence.querySelector('.pair').cloneNode(true);
  body.replaceChildren.apply(body, Array.prototype.slice.call(pair.childNodes));
  if (!box.open) box.showModal();
}
renderSummary();
wire();
recompute();
document.body.setAttribute('data-ready', '1');
})();
