"""The HTML audit report as a reviewer sees it: rendered in headless Chromium, and its thumbnails.

The sample tests render the report of a real scan of ``fixtures/sample`` (real footage) with real
thumbnails; the 10,000-clip test uses a synthetic report, since it is about rendering, not matching.
Chromium is Debian's ``/usr/bin/chromium`` driven by the ``playwright`` package (no browser download).
Without them the browser tests are skipped locally and FAIL under CI (env ``CI`` set): CI must run them.
"""

from __future__ import annotations

import copy
import io
import json
import os
import random
import re
import shutil
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pydantic import TypeAdapter

from provenance.audit.pages import clip_locator
from provenance.media.decode import open_video
from provenance.report import Report, Segment, Thumbnailer
from provenance.report import evidence_times as report_evidence_times
from provenance.report import render_html as report_html
from provenance.report.model import Evidence
from provenance.report.thumbs import THUMBNAIL_SIDE
from rightsdb import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "fixtures" / "sample"
MEDIA = REPO / "fixtures" / "media"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]  # --headless: playwright adds it
FLAGGED = ("low", "medium", "high")
NASTY = "x/</script><script>window.__pwned=1</script><img src=zz onerror=window.__pwned=2>\u2028.mp4"


def render_html(
    report: dict[str, Any], thumbnails: Thumbnailer[Any] | None = None, *, max_thumbnails: int = 2000
) -> str:
    """The page of a report given as its JSON (the typed report it loads as)."""
    return report_html(Report.model_validate(report), thumbnails, max_thumbnails=max_thumbnails)


def write_html(report: dict[str, Any], path: Path, thumbnails: Thumbnailer[Any] | None = None) -> None:
    """The page written as the CLI writes it: atomically."""
    atomic_write_text(path, render_html(report, thumbnails))


def evidence_times(layer: dict[str, Any], evidence: dict[str, Any]) -> tuple[float | None, float | None]:
    """The report's evidence-time rule, given a layer's segments and an evidence item as JSON."""
    return report_evidence_times(
        TypeAdapter(Evidence).validate_python(evidence), [Segment.model_validate(s) for s in layer["segments"]]
    )


def _sample_locator(ref: str) -> Path | None:
    return SAMPLE / "registry" / ref


def _frames_of(path: Path, size: tuple[int, int] | None = None) -> list[Any]:
    with open_video(path) as reader:
        return list(reader.frames(size=size, gray=False))


def _rgb(data: bytes | None) -> np.ndarray:
    assert data is not None
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float64)


# --------------------------------------------------------------------------- Thumbnailer


def test_clip_frame_is_the_first_frame_at_or_after_t() -> None:
    """Seek + decode forward lands on the same frame a sequential decode reaches first at or after t."""
    clip = {"path": "reupload/e1m1_reencode.mp4"}
    thumbs = Thumbnailer(clip_locator(SAMPLE / "dataset"), _sample_locator, max_side=320)
    first = _rgb(thumbs.clip_frame(clip, 0.0))
    h, w = first.shape[:2]
    assert max(w, h) == 320
    frames = _frames_of(SAMPLE / "dataset" / clip["path"], size=(w, h))
    for t in (0.0, 1.5, 3.7, 5.2, 99.0):
        got = _rgb(thumbs.clip_frame(clip, t))
        diffs = [float(np.abs(f.image.astype(np.float64) - got).mean()) for f in frames]
        at_or_after = [i for i, f in enumerate(frames) if f.t + 1e-6 >= t]
        expected = at_or_after[0] if at_or_after else len(frames) - 1  # past the end: the last frame
        assert int(np.argmin(diffs)) == expected, f"t={t}: closest frame {int(np.argmin(diffs))}, want {expected}"
        assert diffs[expected] < 4.0  # JPEG noise only


def test_reference_frame_follows_the_locator() -> None:
    ref = "footage/pixelworks-pong-attract.mp4"
    thumbs = Thumbnailer(clip_locator(SAMPLE / "dataset"), _sample_locator, max_side=200)
    got = _rgb(thumbs.reference_frame(ref, 2.0))
    assert max(got.shape[:2]) == 200
    frames = _frames_of(SAMPLE / "registry" / ref, size=(got.shape[1], got.shape[0]))
    expected = next(i for i, f in enumerate(frames) if f.t + 1e-6 >= 2.0)
    diffs = [float(np.abs(f.image.astype(np.float64) - got).mean()) for f in frames]
    assert diffs[expected] == min(diffs) and diffs[expected] < 4.0
    assert Thumbnailer(clip_locator(SAMPLE / "dataset"), lambda _: None).reference_frame(ref, 2.0) is None


def test_rotation_and_stills_are_shown_as_a_player_shows_them() -> None:
    thumbs = Thumbnailer(clip_locator(MEDIA), _sample_locator)
    rotated = _rgb(thumbs.clip_frame({"path": "rotated.mp4"}, 0.5))
    shown = _frames_of(MEDIA / "rotated.mp4")  # decode.py applies the display matrix
    assert rotated.shape[:2] == shown[0].image.shape[:2] == (160, 90)  # stored 160x90, shown portrait
    expected = next(f for f in shown if f.t + 1e-6 >= 0.5).image.astype(np.float64)
    assert np.abs(expected - rotated).mean() < 6.0
    assert np.abs(expected[:, ::-1] - rotated).mean() > np.abs(expected - rotated).mean() + 5  # not mirrored
    still = _rgb(thumbs.clip_frame({"path": "still.png"}, 3.0))
    with Image.open(MEDIA / "still.png") as im:
        assert still.shape[:2] == (im.height, im.width)
        assert np.abs(np.asarray(im.convert("RGB"), dtype=np.float64) - still).mean() < 6.0
    assert thumbs.clip_frame({"path": "tiny.gif"}, 0.4) is not None  # animated GIFs are videos


@pytest.mark.parametrize("name", ["corrupt.mp4", "truncated.mp4", "empty.mp4", "text.mp4", "missing.mp4"])
def test_bad_or_missing_files_give_none(name: str) -> None:
    thumbs = Thumbnailer(clip_locator(MEDIA), lambda ref: MEDIA / ref)
    assert thumbs.clip_frame({"path": name}, 1.0) is None
    assert thumbs.reference_frame(name, 1.0) is None
    assert thumbs.asset(name) is None


def test_odd_inputs_give_none_never_an_exception() -> None:
    def broken(ref: str) -> Path | None:
        raise RuntimeError("registry went away")

    thumbs = Thumbnailer(clip_locator(SAMPLE / "dataset"), broken)
    assert thumbs.reference_frame("footage/freedoom-e1m1-playthrough.mp4", 1.0) is None
    assert thumbs.asset("assets/freedoom-hud.png") is None
    assert thumbs.clip_frame({"path": None}, 1.0) is None
    assert thumbs.clip_frame({"path": "reupload/e1m1_reencode.mp4"}, float("nan")) is None
    # a clip inside a tar shard that does not exist: whatever provenance.sources does, no exception
    assert thumbs.clip_frame({"path": "shard-000.tar", "member": "0001.mp4"}, 1.0) is None


def test_clips_in_tar_shards_and_manifests_are_found(tmp_path: Path) -> None:
    """Members of WebDataset shards are read in place; manifest paths are relative to the manifest."""
    video = SAMPLE / "dataset" / "retro" / "pong_fast_gamma.mp4"
    plain = Thumbnailer(clip_locator(SAMPLE / "dataset"), _sample_locator).clip_frame(
        {"path": "retro/pong_fast_gamma.mp4"}, 2.0
    )
    still = Thumbnailer(clip_locator(MEDIA), _sample_locator).clip_frame({"path": "still.png"}, 0.0)
    assert plain is not None and still is not None
    (tmp_path / "shards").mkdir()
    with tarfile.open(tmp_path / "shards" / "000.tar", "w") as tar:
        tar.add(MEDIA / "still.png", arcname="k1.png")
        tar.add(video, arcname="k2.mp4")
    thumbs = Thumbnailer(clip_locator(tmp_path), _sample_locator)
    assert thumbs.clip_frame({"path": "shards/000.tar/k2.mp4", "member": "k2.mp4"}, 2.0) == plain
    assert (
        thumbs.clip_frame(
            {"path": "shards/000.tar/k2.mp4", "source": {"shard": "shards/000.tar", "member": "k2.mp4"}}, 2.0
        )
        == plain
    )
    assert thumbs.clip_frame({"path": "shards/000.tar/k1.png", "member": "k1.png"}, 0.0) == still
    assert thumbs.clip_frame({"path": "shards/000.tar/k9.mp4", "member": "k9.mp4"}, 1.0) is None
    (tmp_path / "m" / "clips").mkdir(parents=True)
    shutil.copy(video, tmp_path / "m" / "clips" / "a.mp4")
    manifest = tmp_path / "m" / "list.jsonl"
    manifest.write_text(json.dumps({"path": "clips/a.mp4"}) + "\n", encoding="utf-8")
    assert Thumbnailer(clip_locator(manifest), _sample_locator).clip_frame({"path": "clips/a.mp4"}, 2.0) == plain


def test_results_are_cached_per_file_and_time() -> None:
    thumbs = Thumbnailer(clip_locator(SAMPLE / "dataset"), _sample_locator)
    clip = {"path": "retro/pong_fast_gamma.mp4"}
    a = thumbs.clip_frame(clip, 2.0)
    assert a is not None and thumbs.clip_frame(clip, 2.0) is a
    assert thumbs.clip_frame(clip, 4.0) != a
    assert thumbs.asset("assets/freedoom-hud.png") is thumbs.asset("assets/freedoom-hud.png")


def test_asset_alpha_is_composited_on_a_checker(tmp_path: Path) -> None:
    rgba = np.zeros((100, 400, 4), np.uint8)
    rgba[:, :200] = (255, 0, 0, 255)  # left half opaque red, right half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "logo.png")
    data = Thumbnailer(clip_locator(tmp_path), lambda ref: tmp_path / ref, max_side=200).asset("logo.png")
    assert data is not None and data.startswith(b"\x89PNG")
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "RGB" and im.size == (200, 50)
        px = np.asarray(im)
    assert (np.abs(px[:, :90].astype(int) - (255, 0, 0)).max()) <= 2
    right = px[:, 110:]
    assert set(np.unique(right)) == {153, 204}  # both checker greys, nothing else
    real = Thumbnailer(clip_locator(SAMPLE), _sample_locator).asset("assets/nightowl-overlay.png")
    assert real is not None and max(Image.open(io.BytesIO(real)).size) == THUMBNAIL_SIDE


# --------------------------------------------------------------------------- page construction (no browser)


def test_evidence_times_prefer_the_report_then_derive_from_segments() -> None:
    layer = {
        "segments": [
            {"start": 0.0, "end": 2.0, "reference": "f.mp4", "ref_start": 10.0, "ref_end": 12.0},
            {"start": 2.0, "end": 6.0, "reference": "f.mp4", "ref_start": 30.0, "ref_end": 38.0},
            {"start": 1.0, "end": 5.0, "reference": "a.png", "ref_start": None, "ref_end": None},
        ]
    }
    assert evidence_times(layer, {"kind": "footage", "reference": "f.mp4", "clip_time": 1.5, "ref_time": 7.0}) == (
        1.5,
        7.0,
    )
    assert evidence_times(layer, {"kind": "footage", "reference": "f.mp4"}) == (4.0, 34.0)  # longest, middle
    assert evidence_times(layer, {"kind": "footage", "reference": "f.mp4", "clip_time": 0.5}) == (0.5, 10.5)
    assert evidence_times(layer, {"kind": "footage", "reference": "other.mp4"}) == (None, None)
    assert evidence_times(layer, {"kind": "asset", "reference": "a.png", "frames": [1.0, 2.0, 5.0]}) == (2.0, None)
    assert evidence_times(layer, {"kind": "asset", "reference": "a.png"}) == (1.0, None)
    assert evidence_times(layer, {"kind": "asset", "reference": "a.png", "clip_time": 3.25}) == (3.25, None)
    # a clip playing reference 30-38 s backwards in 2-6 s (speed -2): its start shows the span's end
    backwards = {"segments": [{**layer["segments"][1], "speed": -2.0}]}
    assert evidence_times(backwards, {"kind": "footage", "reference": "f.mp4", "clip_time": 2.5}) == (2.5, 37.0)
    assert evidence_times(backwards, {"kind": "footage", "reference": "f.mp4"}) == (4.0, 34.0)


def _embedded(page: str, element_id: str) -> Any:
    m = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.S)
    assert m is not None
    return json.loads(m.group(1))


def test_page_is_self_contained_and_data_cannot_end_the_script(tmp_path: Path) -> None:
    report = _synthetic_report(30, seed=3)
    report["clips"][0]["path"] = NASTY
    page = render_html(report)
    assert page.count("</script>") == 3  # the two data blocks and the code: nothing from the data
    assert _embedded(page, "report-data") == report  # embedded once, verbatim
    assert page.count('id="report-data"') == 1
    # no external URL of any kind; the SVG namespace name is an identifier, never fetched
    urls = set(re.findall(r"[a-z][a-z0-9+.-]*://[^\s\"'<>)]*", page, re.I))
    assert urls == {"http://www.w3.org/2000/svg"}
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?!data:|#)""", page)
    out = tmp_path / "r.html"
    write_html(report, out)
    assert out.read_text(encoding="utf-8") == page
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]  # no temporary file left behind


def test_thumbnail_budget_and_missing_media_are_explained() -> None:
    report = _synthetic_report(12, seed=5)
    flagged_items = sum(
        len(layer["evidence"])
        for c in report["clips"]
        if c["exposure"] in FLAGGED and not c["error"]
        for layer in c["layers"]
    )
    thumbs = Thumbnailer(clip_locator(SAMPLE / "dataset"), _sample_locator)  # synthetic paths: no such files
    ev = _embedded(render_html(report, thumbs, max_thumbnails=3), "evidence-data")
    notes = [v.get("clip_note", "") for v in ev["views"].values()]
    assert len(ev["views"]) == flagged_items > 3
    assert sum("could not be read" in n for n in notes) == 3
    assert sum("only the first 3 evidence pairs" in n for n in notes) == flagged_items - 3
    no_media = _embedded(render_html(report), "evidence-data")["views"].values()
    assert all("without access to the media" in v["clip_note"] for v in no_media)
    with pytest.raises(ValueError, match="max_thumbnails"):
        render_html(report, max_thumbnails=-1)


# --------------------------------------------------------------------------- synthetic report

HOLDERS = [
    ("acme", "Acme Games", "game"),
    ("nightowl", "NightOwl Plays", "stream"),
    ("mapsmith", "Mapsmith", "ugc"),
    ("pixel", "Pixelworks Arcade", "game"),
    ("lofi", "Lofi Beats", "other"),
]
TERMS = {"deny": "denied", "allow": "allowed", "conditional": "conditional", "unknown": "unknown"}


def _synthetic_report(n: int, seed: int) -> dict[str, Any]:
    """A report of ``n`` clips following the contract (and its extensions), seeded."""
    rng = random.Random(seed)
    clips: list[dict[str, Any]] = []
    for i in range(n):
        path = f"shard{i % 37:02d}/clip-{rng.randrange(10**6):06d}-{i}.mp4"
        duration = round(rng.uniform(2, 120), 3)
        if rng.random() < 0.03:
            clips.append(
                {
                    "path": path,
                    "sha256": None,
                    "duration_s": None,
                    "exposure": "none",
                    "error": f"{path}: corrupt or truncated MP4 file",
                    "layers": [],
                }
            )
            continue
        layers: list[dict[str, Any]] = []
        for holder, name, layer_name in rng.sample(HOLDERS, rng.choice([0, 0, 0, 1, 1, 2])):
            ai = rng.choice(list(TERMS))
            start = round(rng.uniform(0, duration / 2), 3)
            end = round(rng.uniform(start + 0.5, duration), 3)
            ref = f"footage/{holder}.mp4"
            layers.append(
                {
                    "layer": layer_name,
                    "holder": holder,
                    "holder_name": name,
                    "work": f"{holder}-work",
                    "title": f"{name} work",
                    "policy": {"ai_training": ai, "license": "terms", "territories": ["DE"]},
                    "verdict": TERMS[ai],
                    "confidence": round(rng.uniform(0.2, 1.0), 3),
                    "segments": [
                        {"start": start, "end": end, "reference": ref, "ref_start": 10.0, "ref_end": 10.0 + end - start}
                    ],
                    "evidence": [
                        {
                            "kind": "footage",
                            "reference": ref,
                            "methods": {"pdq": 3},
                            "mirrored": False,
                            "region": [0.1, 0.2, 0.6, 0.7],
                        },
                        {
                            "kind": "asset",
                            "reference": f"assets/{holder}.png",
                            "method": "features",
                            "score": 40.0,
                            "frames": [start],
                            "region": [0.0, 0.8, 0.5, 1.0],
                        },
                    ],
                }
            )
        ais = [la["policy"]["ai_training"] for la in layers]
        exposure = (
            "none"
            if not ais
            else "high"
            if "deny" in ais
            else "medium"
            if {"conditional", "unknown"} & set(ais)
            else "low"
        )
        clips.append(
            {
                "path": path,
                "sha256": f"{i:064x}",
                "duration_s": duration,
                "exposure": exposure,
                "error": None,
                "reason": f"clip {i} reason",
                "layers": layers,
            }
        )
    return {
        "scan": {
            "dataset": "/data/synthetic",
            "registry_digest": "0" * 64,
            "engine": "test",
            "settings": {},
            "date": "2026-11-25",
            "as_of": "2026-11-25",
            "territory": "DE",
            "references": {"footage": 5, "assets": 5},
        },
        "clips": clips,
    }


def _level(clip: dict[str, Any]) -> str:
    return "error" if clip["error"] else str(clip["exposure"])


RISK = {"none": 0, "low": 1, "medium": 2, "high": 3, "unknown": 4, "error": 5}


def _confidence(clip: dict[str, Any]) -> float | None:
    values = [la["confidence"] for la in clip.get("layers") or [] if la.get("confidence") is not None]
    return max(values) if values else None


def _risk_order(clips: list[dict[str, Any]], keep: Callable[[dict[str, Any]], bool] = lambda c: True) -> list[str]:
    """The paths as the page lists them first: most exposed first, then most confident (none last), then as listed."""
    ranked = [
        (-RISK[_level(c)], (1, 0.0) if _confidence(c) is None else (0, -(_confidence(c) or 0.0)), i, c["path"])
        for i, c in enumerate(clips)
        if keep(c)
    ]
    return [path for *_, path in sorted(ranked)]


# --------------------------------------------------------------------------- the browser


def _why_no_browser() -> str | None:
    if not CHROMIUM.is_file() or shutil.which(str(CHROMIUM)) is None:
        return f"{CHROMIUM} is not installed (Debian package chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _why_no_browser()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}: CI must run the HTML report tests")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        yield b
        b.close()


class Loaded:
    """A report page opened in Chromium, with what went wrong while it loaded."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.problems: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url[:80]}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", self._dialog)
        self.page.route("**/*", self._route)
        started = time.monotonic()
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        self.seconds = time.monotonic() - started

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")

    def _dialog(self, dialog: Any) -> None:
        self.problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith("file://"):
            route.continue_()
        else:  # nothing but the page itself may be fetched
            self.problems.append(f"external request: {url[:80]}")
            route.abort()

    def rows(self) -> list[str]:
        paths: list[str] = self.page.eval_on_selector_all(
            "#clips tbody tr.clip-row td.path", "cells => cells.map(c => c.textContent)"
        )
        return paths

    def status(self) -> str:
        return str(self.page.inner_text("#status"))

    def select(self, selector: str, value: str) -> None:
        self.page.select_option(selector, value)

    def sort(self, key: str) -> None:
        self.page.click(f"#clips thead button[data-key='{key}']")

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[[Path], Loaded]]:
    pages: list[Loaded] = []

    def opener(path: Path) -> Loaded:
        pages.append(Loaded(browser, path))
        return pages[-1]

    yield opener
    for p in pages:
        p.close()


def _assert_screenshot(page: Any, out: Path) -> None:
    page.screenshot(path=str(out), full_page=True)
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000
    with Image.open(out) as im:
        px = np.asarray(im.convert("L"), dtype=np.float64)
    assert px.shape[0] > 900 and px.std() > 10  # a long page with content, not a blank one


# --------------------------------------------------------------------------- the sample, scanned for real


@pytest.fixture(scope="module")
def report(sample_report: dict[str, Any]) -> dict[str, Any]:
    mine: dict[str, Any] = copy.deepcopy(sample_report)  # the session's scan of the sample (conftest)
    return mine


@pytest.fixture(scope="module")
def sample_html(report: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html") / "report.html"
    write_html(report, out, Thumbnailer(clip_locator(SAMPLE / "dataset"), _sample_locator))
    return out


_EVIDENCE_JS = """() => Array.from(document.querySelectorAll('#clips tbody tr.detail')).map(tr => ({
  index: Number(tr.dataset.index),
  layers: Array.from(tr.querySelectorAll('article.layer')).map(a => ({
    work: a.dataset.work,
    title: a.querySelector('.work-title').textContent,
    holder: (a.querySelector('dd.holder-name') || {}).textContent,
    evidence: Array.from(a.querySelectorAll('.evidence')).map(e => {
      const img = e.querySelector('img.thumb-clip'), ref = e.querySelector('img.thumb-ref');
      const box = e.querySelector('.shot.clip .region');
      const r = img && img.getBoundingClientRect(), b = box && box.getBoundingClientRect();
      return {kind: e.dataset.kind, placeholders: e.querySelectorAll('.placeholder').length,
        clipLoaded: !!img && img.complete && img.naturalWidth > 0,
        natural: img ? [img.naturalWidth, img.naturalHeight] : null,
        refLoaded: !!ref && ref.complete && ref.naturalWidth > 0, alt: img ? img.alt : '', refAlt: ref ? ref.alt : '',
        img: r && [r.left, r.top, r.width, r.height], box: b && [b.left, b.top, b.width, b.height],
        whole: !!box && box.classList.contains('whole'),
        captions: Array.from(e.querySelectorAll('figcaption')).map(c => c.textContent)};
    })}))}))"""


@pytest.mark.slow
def test_sample_report_shows_every_finding_with_its_evidence(
    report: dict[str, Any], sample_html: Path, open_page: Callable[[Path], Loaded], tmp_path: Path
) -> None:
    page = open_page(sample_html)
    clips = report["clips"]
    assert page.rows() == _risk_order(clips)  # 12 clips: one page, most exposed and most confident first
    by_path = {c["path"]: c for c in clips}
    levels = page.page.eval_on_selector_all("#clips tbody tr.clip-row", "rs => rs.map(r => r.dataset.level)")
    assert levels == [_level(by_path[p]) for p in page.rows()]
    shown = {d["index"]: d for d in page.page.evaluate(_EVIDENCE_JS)}  # flagged clips: evidence open already
    flagged = [i for i, c in enumerate(clips) if _level(c) in FLAGGED]
    assert flagged and sorted(shown) == flagged
    n_pairs = 0
    naturals: list[int] = []
    for i in flagged:
        clip = clips[i]
        assert [(la["work"], la["title"], la["holder"]) for la in shown[i]["layers"]] == [
            (la["work"], la["title"], f"{la['holder_name']} ({la['holder']})") for la in clip["layers"]
        ]
        for layer, dom in zip(clip["layers"], shown[i]["layers"], strict=True):
            assert len(dom["evidence"]) == len(layer["evidence"])
            for ev, got in zip(layer["evidence"], dom["evidence"], strict=True):
                n_pairs += 1
                ct, rt = evidence_times(layer, ev)
                assert got["kind"] == ev["kind"] and got["placeholders"] == 0, (clip["path"], ev["reference"])
                assert got["clipLoaded"] and got["refLoaded"]
                assert max(got["natural"]) <= 480  # shown at 320 at most, larger when enlarged
                naturals.append(max(got["natural"]))
                assert _seconds(got["captions"][0]) == pytest.approx(ct, abs=0.0051)
                assert _seconds(got["alt"]) == pytest.approx(ct, abs=0.0051)
                if ev["kind"] == "footage":
                    assert _seconds(got["captions"][1]) == pytest.approx(rt, abs=0.0051)
                else:
                    assert ev["reference"] in got["refAlt"]
                _assert_region(got, ev.get("region"))
    assert n_pairs == page.page.locator("img.thumb-clip").count() == page.page.locator(".region").count()
    assert n_pairs >= len(flagged)
    assert max(naturals) > 320  # thumbnails larger than shown, for the enlarged view
    _assert_screenshot(page.page, tmp_path / "sample.png")
    assert not page.problems, page.problems
    assert all(u.startswith("file://") for u in page.requests)


def _seconds(text: str) -> float:
    """The one time shown in a caption or alt text (``... at 3.50 s ...``)."""
    found = re.findall(r"(\d+\.\d\d) s\b", text)
    assert len(found) == 1, text
    return float(found[0])


def _assert_region(got: dict[str, Any], region: list[float] | None) -> None:
    """The outline sits where the report's region (fractions of the clip frame) says, to a pixel or two."""
    ix, iy, iw, ih = got["img"]
    bx, by, bw, bh = got["box"]
    if region is None:
        assert got["whole"] and abs(bx - ix) < 1 and abs(bw - iw) < 1 and abs(bh - ih) < 1
        return
    x0, y0, x1, y1 = (min(1.0, max(0.0, v)) for v in region)
    for have, want in ((bx, ix + x0 * iw), (by, iy + y0 * ih), (bw, (x1 - x0) * iw), (bh, (y1 - y0) * ih)):
        assert abs(have - want) <= 1.5, (got, region)


@pytest.mark.slow
def test_sample_table_sorts_and_filters(
    report: dict[str, Any], sample_html: Path, open_page: Callable[[Path], Loaded]
) -> None:
    page = open_page(sample_html)
    clips = report["clips"]
    order = list(range(len(clips)))
    page.sort("duration")
    assert page.rows() == [clips[i]["path"] for i in sorted(order, key=lambda i: (clips[i]["duration_s"], i))]
    page.sort("duration")
    assert page.rows() == [clips[i]["path"] for i in sorted(order, key=lambda i: (-clips[i]["duration_s"], i))]
    page.sort("path")
    assert page.rows() == sorted(c["path"] for c in clips)
    page.sort("path")
    assert page.rows() == sorted((c["path"] for c in clips), reverse=True)

    def expect(pred: Callable[[dict[str, Any]], bool]) -> list[str]:
        return sorted((c["path"] for c in clips if pred(c)), reverse=True)  # still sorted by path, descending

    page.select("#f-exposure", "high")
    assert page.rows() == expect(lambda c: _level(c) == "high") and len(page.rows()) >= 2
    page.select("#f-exposure", "")
    page.select("#f-layer", "ugc")
    assert page.rows() == expect(lambda c: any(la["layer"] == "ugc" for la in c["layers"])) != []
    page.select("#f-layer", "")
    page.select("#f-holder", "pixelworks")
    assert page.rows() == expect(lambda c: any(la["holder"] == "pixelworks" for la in c["layers"])) != []
    page.select("#f-holder", "")
    page.page.fill("#q", "NightOwl")
    assert page.rows() == expect(
        lambda c: (
            "nightowl"
            in json.dumps(
                [c["path"]] + [[la["work"], la["title"], la["holder"], la["holder_name"]] for la in c["layers"]]
            ).lower()
        )
    )
    assert page.rows() != []
    page.page.fill("#q", "")
    page.page.check("#f-errors")
    assert page.rows() == expect(lambda c: bool(c["error"]))
    assert "No clips" in page.status() or page.rows()
    page.page.uncheck("#f-errors")
    assert len(page.rows()) == len(clips)
    assert not page.problems, page.problems


@pytest.mark.slow
def test_sample_without_media_shows_placeholders(
    report: dict[str, Any], tmp_path: Path, open_page: Callable[[Path], Loaded]
) -> None:
    out = tmp_path / "plain.html"
    write_html(report, out)
    page = open_page(out)
    page.page.click("#expand-page")
    n_evidence = sum(len(la["evidence"]) for c in report["clips"] if _level(c) in FLAGGED for la in c["layers"])
    assert page.page.locator("img.thumb").count() == 0
    assert page.page.locator(".placeholder-clip").count() == n_evidence > 0
    assert "without access to the media" in page.page.inner_text(".placeholder-clip >> nth=0")
    assert page.page.locator(".placeholder-clip .region").count() == n_evidence  # the region, drawn schematically
    assert not page.problems, page.problems


# --------------------------------------------------------------------------- 10,000 clips


def test_ten_thousand_clips_stay_one_page_of_dom(tmp_path: Path, open_page: Callable[[Path], Loaded]) -> None:
    report = _synthetic_report(10_000, seed=11)
    report["clips"][0]["path"] = NASTY
    clips = report["clips"]
    started = time.monotonic()
    out = tmp_path / "big.html"
    write_html(report, out)
    assert time.monotonic() - started < 20
    page = open_page(out)
    assert page.seconds < 30, f"took {page.seconds:.1f}s to render"
    assert len(page.rows()) == 100 and page.status().startswith("Showing 1\u2013100 of 10000 clips")
    assert page.rows() == _risk_order(clips)[:100]
    flagged_first = sum(1 for p in page.rows() if _level(next(c for c in clips if c["path"] == p)) in FLAGGED)
    assert page.page.locator("#clips > tbody > tr").count() == 100 + flagged_first  # flagged: evidence open
    page.sort("path")
    assert page.rows() == sorted(c["path"] for c in clips)[:100]
    page.page.fill("#q", "</script>")
    assert page.rows() == [NASTY]  # shown as text, not run as markup
    page.page.fill("#q", "")
    assert page.page.evaluate("() => window.__pwned") is None

    page.select("#f-exposure", "high")
    high = [c["path"] for c in clips if _level(c) == "high"]
    by_path = sorted(high)
    assert f"of {len(high)} clips" in page.status() and page.rows() == by_path[:100]
    page.page.click("#next")
    assert page.rows() == by_path[100:200]
    assert page.page.locator("tr.detail").count() == 100  # high clips show their evidence
    page.page.click("#collapse-all")
    assert page.page.locator("#clips > tbody > tr").count() == 100
    page.page.click("#expand-page")
    assert page.page.locator("tr.detail").count() == 100
    assert page.page.locator("#clips > tbody > tr").count() == 200  # each row and its detail, nothing more
    page.page.click("#collapse-all")
    page.sort("path")
    assert page.rows() == sorted(high, reverse=True)[:100]  # sorting starts again at the first page
    page.sort("confidence")
    page.sort("confidence")
    conf = {c["path"]: max(la["confidence"] for la in c["layers"]) for c in clips if _level(c) == "high"}
    got = [conf[p] for p in page.rows()]
    assert got == sorted(conf.values(), reverse=True)[:100]

    page.select("#f-exposure", "")
    page.page.check("#f-errors")
    errors = [c["path"] for c in clips if c["error"]]
    assert f"of {len(errors)} clips" in page.status() and page.rows() == errors[:100]  # no confidence: as listed
    page.page.uncheck("#f-errors")
    page.page.fill("#q", "mapsmith")
    mapsmith = [
        (-max(la["confidence"] for la in c["layers"]), i, c["path"])
        for i, c in enumerate(clips)
        if any(la["holder"] == "mapsmith" for la in c["layers"])
    ]
    assert f"of {len(mapsmith)} clips" in page.status()
    assert page.rows() == [p for _, _, p in sorted(mapsmith)[:100]]  # still by confidence, highest first
    assert not page.problems, page.problems


def test_sparse_and_odd_reports_render_without_script_errors(
    tmp_path: Path, open_page: Callable[[Path], Loaded]
) -> None:
    """Only the contract's core fields, a NaN, an error clip: every extension field is optional."""
    report = {
        "clips": [
            {
                "path": "a.mp4",
                "sha256": "0" * 64,
                "duration_s": 4.0,
                "exposure": "high",
                "error": None,
                "layers": [
                    {
                        "layer": "game",
                        "holder": "h",
                        "work": "w",
                        "policy": {"ai_training": "deny"},
                        "confidence": 0.5,
                        "segments": [{"start": 0.0, "end": 1.0, "reference": "r.mp4"}],
                        "evidence": [{"kind": "footage", "reference": "r.mp4"}],
                    }
                ],
            },
            {
                "path": "b.mp4",
                "sha256": None,
                "duration_s": float("nan"),
                "exposure": "none",
                "error": "b.mp4: no frame could be decoded",
                "layers": [],
            },
        ]
    }
    out = tmp_path / "sparse.html"
    write_html(report, out, Thumbnailer(clip_locator(tmp_path), lambda _: None))
    page = open_page(out)
    assert page.rows() == ["b.mp4", "a.mp4"]  # most exposed first: an unreadable clip is never cleared
    assert "b.mp4: no frame could be decoded" in page.page.inner_text("#errors")
    assert "b.mp4: b.mp4" not in page.page.inner_text("body")  # the path is not said twice
    page.page.click("#expand-page")
    assert page.page.locator("tr.detail").count() == 2
    assert "no time for this match" in page.page.inner_text(".placeholder-clip")
    assert page.page.locator(".placeholder-clip .region.whole").count() == 1
    page.sort("duration")
    assert page.rows() == ["a.mp4", "b.mp4"]  # no duration sorts last
    assert not page.problems, page.problems


def test_unknown_clips_are_shown_held_back_never_as_none(tmp_path: Path, open_page: Callable[[Path], Loaded]) -> None:
    """Exposure ``unknown`` (not checked, fail-safe) has its own level: its badge and colour, its place in the
    exposure sort (above high, below error), its filter entry, and it counts among the clips not checked."""
    plain = {"sha256": "0" * 64, "duration_s": 4.0, "error": None, "layers": []}
    report = {
        "clips": [
            {**plain, "path": "clean.mp4", "exposure": "none", "reason": "No registered work was found."},
            {**plain, "path": "unchecked.mp4", "exposure": "unknown", "reason": "Not checked: nothing to check."},
            {**plain, "path": "broken.mp4", "exposure": "unknown", "sha256": None, "error": "broken.mp4: empty file"},
            {
                **plain,
                "path": "denied.mp4",
                "exposure": "high",
                "layers": [
                    {
                        "layer": "game",
                        "holder": "h",
                        "work": "w",
                        "policy": {"ai_training": "deny"},
                        "confidence": 0.9,
                        "segments": [{"start": 0.0, "end": 1.0, "reference": "r.mp4"}],
                    }
                ],
            },
        ]
    }
    out = tmp_path / "unknown.html"
    write_html(report, out, Thumbnailer(clip_locator(tmp_path), lambda _: None))
    page = open_page(out)
    assert page.rows() == ["broken.mp4", "unchecked.mp4", "denied.mp4", "clean.mp4"]  # _risk_order's ranks
    assert page.rows() == _risk_order(report["clips"])
    badge = page.page.locator("tr.clip-row[data-level='unknown'] .badge.x-unknown")
    assert badge.inner_text() == "unknown"
    colours = page.page.evaluate(
        "() => ['unknown', 'none', 'high', 'error'].map(l => { const b = document.createElement('span');"
        " b.className = 'badge x-' + l; document.body.appendChild(b); return getComputedStyle(b).backgroundColor; })"
    )
    assert len(set(colours)) == 4, colours  # a colour of its own, not none's, high's or error's
    legend = page.page.inner_text("#legend")
    assert page.page.locator("#legend .badge.x-unknown").count() == 1 and "could not be checked" in legend
    options = page.page.eval_on_selector_all("#f-exposure option", "os => os.map(o => o.textContent)")
    assert "unknown (1)" in options and "error (1)" in options and "none (1)" in options
    page.select("#f-exposure", "unknown")
    assert page.rows() == ["unchecked.mp4"]
    cards = page.page.inner_text("#cards")
    assert re.search(r"\b2\s+could not be checked", cards), cards  # the error and the unknown clip
    bars = page.page.eval_on_selector_all(
        "#charts rect.b-unknown", "rs => rs.map(r => [r.getAttribute('data-label'), r.getAttribute('data-value')])"
    )
    assert ["unknown", "1"] in bars, bars
    assert not page.problems, page.problems


@pytest.mark.slow
def test_sample_page_explains_itself_and_enlarges_evidence(
    report: dict[str, Any], sample_html: Path, open_page: Callable[[Path], Loaded], tmp_path: Path
) -> None:
    """A reviewer's first look: a legend of the levels and of confidence, risk first with the verdict and the
    reason in the table, evidence open with captions in words, and a click that enlarges a picture."""
    page = open_page(sample_html)
    legend = page.page.inner_text("#legend")
    for level, words in (
        ("high", "denies"),
        ("medium", "under conditions"),
        ("low", "every one allows"),
        ("none", "No registered work"),
        ("unknown", "could not be checked"),
        ("error", "could not be read"),
    ):
        assert page.page.locator(f"#legend .badge.x-{level}").count() == 1 and words in legend, level
    assert "Confidence" in legend and "from 0 to 1" in legend and "Verdict" in legend
    assert page.page.is_visible("#legend")

    headers = page.page.eval_on_selector_all("#clips thead th", "ths => ths.map(t => t.textContent.trim())")
    assert headers[1:6] == ["Path", "Exposure", "Verdict", "Confidence", "Why"]
    assert page.page.get_attribute("#clips thead th:nth-child(3)", "aria-sort") == "descending"
    by_path = {c["path"]: c for c in report["clips"]}
    rank = {"denied": 4, "conditional": 3, "unknown": 2, "allowed": 1}
    cells = page.page.eval_on_selector_all(
        "#clips tbody tr.clip-row",
        "rs => rs.map(r => [r.querySelector('td.path').textContent, (r.querySelector('td.verdict') || {}).textContent,"
        " (r.querySelector('td.why') || {}).textContent, (r.querySelector('td.conf') || {}).textContent])",
    )
    assert [c[0] for c in cells] == _risk_order(report["clips"])
    for path, verdict, why, conf in cells:
        clip = by_path[path]
        verdicts = sorted({la["verdict"] for la in clip["layers"]}, key=lambda v: -rank[v])
        assert verdict == ", ".join(verdicts) and why == (clip.get("reason") or ""), path
        assert conf == ("" if _confidence(clip) is None else f"{_confidence(clip):.2f}")
    assert cells[0][1].startswith("denied") and _level(by_path[cells[0][0]]) == "high"

    heads = page.page.eval_on_selector_all(".ev-head", "hs => hs.map(h => [h.textContent, h.title])")
    assert heads and len(heads) == sum(
        len(la["evidence"]) for c in report["clips"] if _level(c) in FLAGGED for la in c["layers"]
    )  # evidence open without a click
    for text, title in heads:
        assert not re.search(r"\b(orb|pdq)(-[a-z]+)*\b", text), text  # words, not the engine's method names
        assert text.startswith(("Footage match: ", "Registered still found")), text
        assert title.startswith("engine methods: "), title
    assert any("matching points" in t for t, _ in heads) and any("matching frame" in t for t, _ in heads)

    assert not page.page.evaluate("() => document.getElementById('lightbox').open")
    page.page.click("img.thumb-clip >> nth=0")
    assert page.page.evaluate("() => document.getElementById('lightbox').open")
    widths = page.page.eval_on_selector_all("#lightbox img", "is => is.map(i => i.getBoundingClientRect().width)")
    assert len(widths) == 2 and min(widths) > 480  # both sides, larger than in the table (320 at most)
    assert page.page.locator("#lightbox .region").count() == 1  # the matched region, outlined there too
    page.page.screenshot(path=str(tmp_path / "enlarged.png"))
    page.page.keyboard.press("Escape")
    assert not page.page.evaluate("() => document.getElementById('lightbox').open")
    _assert_screenshot(page.page, tmp_path / "page.png")
    assert not page.problems, page.problems
