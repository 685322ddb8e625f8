"""The matching engine: fingerprint references, index them, and find them in clips.

Pure: paths and arrays in, fingerprints and matches out; no database, no web.

Pipeline for a clip (what DESIGN.md records as working, stage by stage):

1. decode sampled grey frames (``query_fps``) scaled to ``analysis_side``;
2. find letterbox/pillarbox bars over the clip and trim them;
3. PDQ of fixed regions (whole, quadrants, centre crops) of each frame and of its
   mirror image, searched in an exact multi-index-hash index of the reference
   frames' region hashes; compatible region pairs only (same region, or the
   clip's whole frame against a reference's centre crop: a cropped re-upload);
4. where hashes leave the clip unexplained, local features (ORB + RANSAC, mirror
   too) against a bank of reference frames: crops, picture-in-picture, the work
   shrunk into a stream layout;
5. temporal alignment (Hough voting on offset and speed) turns frame matches into
   segments on both timelines and rejects scattered chance matches;
6. registered still assets (HUD, logos, overlays) are looked for in a few frames.

Layers: a reference of a ``stream``-layer work (a streamer's VOD) shows the game
it was played on, so its matches count only when they carry the streamer's own
composition: a whole-frame (or crop-compatible, or panel) hash match. Local
features are not used for VODs: another streamer's overlay built from the same
template lines up with a VOD's features as well as the VOD itself does (the
streamer's layer is still found from their overlay asset, which is checked in
colour). A clip that shares only the game picture with a VOD is left to the
game's layer.

Static pictures: where a game's screen hardly changes (a maze, a playfield),
every clip frame matches the reference at many times and no time line stands
out from chance. When most of the clip's informative frames match a reference
as whole pictures (vPDQ's rule: ``coverage`` of them), the work is reported
anyway, with the best line the votes give.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from provenance.errors import ConfigError, DecodeError, check_ranges
from provenance.engine.align import AlignParams, Segment, _drop_echoes, align
from provenance.engine.assets import AssetDetector, AssetMatch, chroma_difference
from provenance.media.decode import open_video
from provenance.engine.fingerprint.grids import WORK, grid_hashes
from provenance.engine.fingerprint.regions import DEFAULT_REGIONS, Box, detect_borders, frame_borders, trim
from provenance.engine.index import StaticHashIndex
from provenance.engine.layout import find_panels
from provenance.engine.local import FeatureBank, Features, LocalParams, RegionMatch, extract, warp_region

log = logging.getLogger(__name__)

__all__ = [
    "ENGINE_VERSION",
    "FINGERPRINT_VERSION",
    "AssetHit",
    "ClipMatches",
    "EngineParams",
    "FootagePrint",
    "ReferenceIndex",
    "ReferenceMatch",
    "fingerprint_footage",
    "load_asset",
    "match_clip",
    "one_thread_per_process",
]

#: Bumped whenever matching changes in a way that changes results (stored clip results are keyed by it).
ENGINE_VERSION = "0.8"
#: Bumped whenever reference fingerprints change (stored fingerprints are keyed by it, and recomputed when it
#: moves); matching alone changing leaves them as they are.
FINGERPRINT_VERSION = "0.7"

REGIONS = tuple(DEFAULT_REGIONS)
_WHOLE = REGIONS.index("whole")
#: (clip region, reference region) pairs that may match: same region, or a crop.
_COMPATIBLE = {(i, i) for i in range(len(REGIONS))} | {
    (_WHOLE, REGIONS.index("center90")),
    (_WHOLE, REGIONS.index("center70")),
}
#: A clip's panel (a picture pasted inside it: picture-in-picture, a layout's game box) is hashed as a
#: whole picture: it may match a reference's whole frame or its centre crops.
_CENTER70 = REGIONS.index("center70")
_PANEL = len(REGIONS)
_COMPATIBLE |= {(_PANEL, _WHOLE), (_PANEL, REGIONS.index("center90")), (_PANEL, REGIONS.index("center70"))}
#: Clip regions that hold a whole picture (matched within ``max_distance``; others within the stricter
#: ``region_max_distance``).
_FULL_PICTURE = {_WHOLE, _PANEL}
#: Pairs that show a whole composition (a streamer's layout counts only through these).
_COMPOSITION = {(q, rr) for q in _FULL_PICTURE for rr in (_WHOLE, REGIONS.index("center90"),
                                                           REGIONS.index("center70"))}


@dataclass(frozen=True, slots=True)
class EngineParams:
    """Matching parameters; the defaults are the documented recipe.

    query_fps / ref_fps: sampling of clips and of reference footage (references denser).
    analysis_side: longer side of decoded frames, in pixels.
    max_distance: PDQ distance (of 256 bits) for a whole-frame match (vPDQ's 31).
    region_max_distance: stricter PDQ distance for partial regions (quadrants, centre crops).
    distance_margin: a clip frame's matches to a reference farther than this above its best one are dropped.
    min_quality: PDQ quality below which a frame's hashes are not used (flat frames).
    local_ref_fps: reference frames per second kept for local features.
    local_query_fps: clip frames per second tried with local features where they find something.
    local_probe_fps: clip frames per second probed with local features (denser around what they find).
    local_min_inliers: RANSAC inliers for a local match (negatives reach ~9).
    explained_fraction: skip local features when hashes matched at least this share of frames.
    coverage: share of a clip's informative frames that, matching a reference as whole pictures,
        report it even when no time line is significant (static screens; vPDQ's 80 %).
    asset_frames: frames of a clip searched for registered assets.
    asset_min_frames: frames an asset must be found in.
    asset_max_chroma: largest median chroma distance (YCrCb) between a found asset and the frame.
    """

    query_fps: float = 2.0
    ref_fps: float = 15.0
    analysis_side: int = 640
    max_distance: int = 31
    region_max_distance: int = 24
    distance_margin: int = 8
    min_quality: int = 50
    local_ref_fps: float = 3.0
    local_query_fps: float = 2.0
    local_probe_fps: float = 0.5
    local_min_inliers: int = 20
    explained_fraction: float = 0.8
    coverage: float = 0.8
    asset_frames: int = 6
    asset_min_frames: int = 2
    asset_max_chroma: float = 20.0

    def __post_init__(self) -> None:
        checks = [
            ("query_fps", 0.1 <= self.query_fps <= 30),
            ("ref_fps", 0.1 <= self.ref_fps <= 60),
            ("analysis_side", 128 <= self.analysis_side <= 4096),
            ("max_distance", 0 <= self.max_distance <= 64),
            ("region_max_distance", 0 <= self.region_max_distance <= self.max_distance),
            ("distance_margin", 0 <= self.distance_margin <= 256),
            ("min_quality", 0 <= self.min_quality <= 100),
            ("local_ref_fps", 0.05 <= self.local_ref_fps <= self.ref_fps),
            ("local_query_fps", 0.05 <= self.local_query_fps <= self.query_fps),
            ("local_probe_fps", 0.05 <= self.local_probe_fps <= self.local_query_fps),
            ("local_min_inliers", 8 <= self.local_min_inliers <= 1000),
            ("explained_fraction", 0.0 <= self.explained_fraction <= 1.0),
            ("coverage", 0.5 <= self.coverage <= 1.0),
            ("asset_frames", 0 <= self.asset_frames <= 100),
            ("asset_min_frames", 1 <= self.asset_min_frames <= max(1, self.asset_frames)),
            ("asset_max_chroma", 0 <= self.asset_max_chroma <= 255),
        ]
        check_ranges(self, checks)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}



#: Whether decoders may use threads of their own (see :func:`one_thread_per_process`).
_DECODE_THREADS = True


def one_thread_per_process() -> None:
    """Make this process do its work on one thread: decoding, OpenCV, and numpy's BLAS (FAISS searches are
    single-threaded already).

    For processes that each take a core (a scan's workers, one per core): there, extra threads only fight
    over the same cores; on this kind of machine, threaded decoding in two workers took 12 % more CPU than
    single-threaded, and OpenBLAS's helper threads doubled the CPU of the hash DCTs while they spun.
    """
    global _DECODE_THREADS
    import cv2
    from threadpoolctl import threadpool_limits

    _DECODE_THREADS = False
    cv2.setNumThreads(1)
    threadpool_limits(1)


def _local_params(params: EngineParams) -> LocalParams:
    return LocalParams(min_inliers=params.local_min_inliers, max_side=params.analysis_side)


def _size_for(width: int, height: int, side: int) -> tuple[int, int]:
    scale = min(1.0, side / max(width, height))
    return max(16, round(width * scale) // 2 * 2), max(16, round(height * scale) // 2 * 2)


class _Sampled:
    """The frames a pass samples from a video, streamed: ``(time, grey, rgb copy or None)``.

    Grey frames at ``fps`` scaled so the longer side is ``side``; with ``colour_frames``, about that many of
    them (spread over the clip, the first included) also come as RGB. After iteration ``duration`` holds the
    clip's duration (the container's, else the last frame's time plus one sampling step).
    """

    def __init__(self, source: Any, fps: float, side: int, colour_frames: int = 0) -> None:
        self.source = source
        self.fps = fps
        self.side = side
        self.colour_frames = colour_frames
        self.duration = 0.0
        self.expected = 0  # frames the container's duration announces (0: unknown)
        self.count = 0

    def __iter__(self) -> Iterator[tuple[float, npt.NDArray[np.uint8], npt.NDArray[np.uint8] | None]]:
        with open_video(self.source, threads=_DECODE_THREADS) as reader:
            size = _size_for(reader.info.width, reader.info.height, self.side)
            self.expected = max(1, round(reader.info.duration_s * self.fps)) if reader.info.duration_s > 0 else 0
            every = max(1, max(1, self.expected) // self.colour_frames) if self.colour_frames else 0
            last = 0.0
            for frame in reader.frames(fps=self.fps, size=size, gray=True, colour_every=every):
                self.count += 1
                last = frame.t
                yield frame.t, frame.image, frame.colour
            duration = reader.info.duration_s
        if not self.count:
            raise DecodeError(_name(self.source), "no frame could be decoded")
        self.duration = duration if duration > 0 else last + 1.0 / self.fps


def _name(source: Any) -> Path:
    return source if isinstance(source, Path) else Path(getattr(source, "name", str(source)))


def _decode(path: Any, fps: float, side: int) -> tuple[list[float], list[npt.NDArray[np.uint8]], float]:
    """All grey frames at ``fps`` in memory (reference footage, fingerprinted once per file)."""
    sampled = _Sampled(path, fps, side)
    times: list[float] = []
    images: list[npt.NDArray[np.uint8]] = []
    for t, image, _ in sampled:
        times.append(t)
        images.append(image)
    return times, images, sampled.duration


def decode_only(source: Any, params: EngineParams = EngineParams()) -> int:
    """Decode exactly the frames :func:`match_clip` samples (grey and RGB copies) and nothing else.

    The floor a scan's speed is measured against (``bench/audit_bench.py``). Returns the frame count.
    """
    return sum(1 for _ in _Sampled(source, params.query_fps, params.analysis_side, params.asset_frames))


def _region_hashes(
    images: list[npt.NDArray[np.uint8]], box: Box, mirror: bool = False
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Region hashes ``(N, R, 32)`` and their PDQ quality ``(N, R)`` of frames trimmed to ``box``; with
    ``mirror``, ``(N, 2R, 32)`` and ``(N, 2R)``: the mirror images' regions follow (:mod:`.fingerprint.grids`).

    Quality is per region: a flat quadrant (a wall, a sky, a game's empty playfield) hashes to noise
    that matches any other flat picture, even when the whole frame is detailed.
    """
    return grid_hashes(images, box, mirror)


#: The whole picture only (panels: a picture pasted inside the frame).
_WHOLE_ONLY = {"whole": DEFAULT_REGIONS["whole"]}
#: The centre 70 % (a local-feature match warped back into its reference's geometry).
_CENTER70_ONLY = {"center70": DEFAULT_REGIONS["center70"]}


def _border_step(n: int) -> int:
    """Every how many frames to judge borders on: about 40 of them say as much as all."""
    return max(1, n // 40)


# ---------------------------------------------------------------------------------------------------------
# references
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class FootagePrint:
    """Fingerprints of one reference video: region hashes per sampled frame, and local features."""

    timestamps: npt.NDArray[np.float32]  # (N,)
    hashes: npt.NDArray[np.uint8]  # (N, R, 32)
    quality: npt.NDArray[np.uint8]  # (N, R)
    local_times: npt.NDArray[np.float32]  # (M,)
    local_features: tuple[Features, ...]  # (M,)
    duration_s: float

    def to_payload(self) -> tuple[bytes, bytes, bytes]:
        """(timestamps, data, quality) blobs for storage; ``data`` holds hashes then local features."""
        feats = [f.to_bytes() for f in self.local_features]
        header = np.array([len(self.timestamps), len(REGIONS), len(feats), *[len(b) for b in feats]], "<u4")
        data = b"".join([
            header.tobytes(), self.local_times.astype("<f4").tobytes(), self.hashes.tobytes(), *feats,
            np.array([self.duration_s], "<f8").tobytes(),
        ])
        return self.timestamps.astype("<f4").tobytes(), data, self.quality.astype(np.uint8).tobytes()

    @classmethod
    def from_payload(cls, timestamps: bytes, data: bytes, quality: bytes) -> FootagePrint:
        ts = np.frombuffer(timestamps, "<f4").astype(np.float32)
        n_head = 3
        head = np.frombuffer(data, "<u4", count=n_head)
        n, r, m = (int(x) for x in head)
        if r != len(REGIONS) or n != len(ts):
            raise ConfigError(f"stored fingerprint has {r} regions / {n} frames, expected {len(REGIONS)} / {len(ts)}")
        lens = np.frombuffer(data, "<u4", count=n_head + m)[n_head:]
        off = 4 * (n_head + m)
        local_times = np.frombuffer(data, "<f4", count=m, offset=off).astype(np.float32)
        off += 4 * m
        hashes = np.frombuffer(data, np.uint8, count=n * r * 32, offset=off).reshape(n, r, 32).copy()
        off += n * r * 32
        feats = []
        for length in lens:
            feats.append(Features.from_bytes(data[off: off + int(length)]))
            off += int(length)
        duration = float(np.frombuffer(data, "<f8", count=1, offset=off)[0])
        q = np.frombuffer(quality, np.uint8).copy()
        if q.size != n * r:
            raise ConfigError(f"stored fingerprint has {q.size} quality values, expected {n * r}")
        q = q.reshape(n, r)
        return cls(ts, hashes, q, local_times, tuple(feats), duration)


def fingerprint_footage(path: str | Path, params: EngineParams = EngineParams()) -> FootagePrint:
    """Decode a reference video at ``ref_fps`` and fingerprint it (borders trimmed)."""
    times, images, duration = _decode(path, params.ref_fps, params.analysis_side)
    box = detect_borders(images[:: _border_step(len(images))])
    hashes, quality = _region_hashes(images, box)
    step = max(1, round(params.ref_fps / params.local_ref_fps))
    lp = _local_params(params)
    local_idx = list(range(0, len(images), step))
    feats = tuple(extract(trim(images[i], box), lp, mirror=False) for i in local_idx)
    return FootagePrint(
        timestamps=np.asarray(times, np.float32),
        hashes=hashes,
        quality=np.clip(quality, 0, 100).astype(np.uint8),
        local_times=np.asarray([times[i] for i in local_idx], np.float32),
        local_features=feats,
        duration_s=float(duration),
    )


def load_asset(path: str | Path) -> npt.NDArray[np.uint8]:
    """A still asset as RGBA uint8 (alpha 255 where the file has none)."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"), dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class _RefMeta:
    key: str
    layer: str


class ReferenceIndex:
    """Every registered reference of a registry, ready to match clips against.

    ``add_footage(key, layer, print)`` and ``add_asset(key, layer, rgba)``, then
    :func:`match_clip`. Keys are the caller's (the audit uses reference ids).
    """

    def __init__(self, params: EngineParams = EngineParams()) -> None:
        self.params = params
        self._refs: list[_RefMeta] = []
        self._prints: list[FootagePrint] = []
        self._row_ref: list[npt.NDArray[np.int32]] = []
        self._row_time: list[npt.NDArray[np.float32]] = []
        self._row_region: list[npt.NDArray[np.int8]] = []
        self._hashes: list[npt.NDArray[np.uint8]] = []
        self._bank = FeatureBank(_local_params(params))
        self._bank_ref: list[int] = []
        self._bank_time: list[float] = []
        self._assets: list[tuple[_RefMeta, AssetDetector]] = []
        self._index: StaticHashIndex | None = None
        self._n_rows = 0

    @property
    def footage_count(self) -> int:
        return len(self._refs)

    @property
    def asset_count(self) -> int:
        return len(self._assets)

    def add_footage(self, key: str, layer: str, fp: FootagePrint) -> None:
        ref = len(self._refs)
        self._refs.append(_RefMeta(key, layer))
        self._prints.append(fp)
        n, r = fp.hashes.shape[:2]
        keep = (fp.quality >= self.params.min_quality).reshape(n * r)
        self._hashes.append(fp.hashes.reshape(n * r, 32)[keep])
        self._row_ref.append(np.full(int(keep.sum()), ref, np.int32))
        self._row_time.append(np.repeat(fp.timestamps, r)[keep])
        self._row_region.append(np.tile(np.arange(r, dtype=np.int8), n)[keep])
        for t, feats in zip(fp.local_times, fp.local_features, strict=True):
            if len(feats) and layer != "stream":  # VODs are matched by hashes only (module docstring)
                self._bank.add(feats, group=ref)
                self._bank_ref.append(ref)
                self._bank_time.append(float(t))
        self._index = None

    def add_asset(self, key: str, layer: str, rgba: npt.NDArray[np.uint8]) -> None:
        self._assets.append((_RefMeta(key, layer), AssetDetector(rgba)))

    def _built(
        self,
    ) -> tuple[StaticHashIndex, npt.NDArray[np.int32], npt.NDArray[np.float32], npt.NDArray[np.int8]]:
        if self._index is None:
            hashes = np.concatenate(self._hashes) if self._hashes else np.zeros((0, 32), np.uint8)
            self._index = StaticHashIndex(hashes, 256, self.params.max_distance)
            self._cat = (
                np.concatenate(self._row_ref) if self._row_ref else np.zeros(0, np.int32),
                np.concatenate(self._row_time) if self._row_time else np.zeros(0, np.float32),
                np.concatenate(self._row_region) if self._row_region else np.zeros(0, np.int8),
            )
        return (self._index, *self._cat)


# ---------------------------------------------------------------------------------------------------------
# matching a clip
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReferenceMatch:
    """One reference found in a clip: aligned segments and how they were found."""

    key: str
    layer: str
    segments: tuple[Segment, ...]
    methods: dict[str, int]  # method -> supporting frame matches
    mirrored: bool
    best_distance: int | None
    region: tuple[float, float, float, float] | None = None  # (x0, y0, x1, y1) fractions of the clip frame

    @property
    def confidence(self) -> float:
        return max((s.score for s in self.segments), default=0.0)


@dataclass(frozen=True, slots=True)
class AssetHit:
    key: str
    layer: str
    frames: tuple[float, ...]  # clip times where the asset was found
    box: tuple[int, int, int, int]  # (x, y, w, h) in analysis-frame pixels, first hit
    frame_size: tuple[int, int]
    score: float
    method: str
    mirrored: bool


@dataclass(slots=True)
class ClipMatches:
    duration_s: float
    frames: int
    content_box: tuple[int, int, int, int]
    frame_size: tuple[int, int]
    footage: list[ReferenceMatch] = field(default_factory=list)
    assets: list[AssetHit] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Votes:
    q_t: list[float] = field(default_factory=list)
    ref: list[int] = field(default_factory=list)
    r_t: list[float] = field(default_factory=list)
    score: list[float] = field(default_factory=list)
    method: list[str] = field(default_factory=list)
    distance: list[int] = field(default_factory=list)
    quad: list[tuple[float, float, float, float] | None] = field(default_factory=list)
    informative: int = 0  # clip frames whose whole picture has PDQ quality >= min_quality
    local_tried: int = 0  # clip frames tried with local features
    _mirror_checked: int = 0  # votes looked at by mirrored_seen
    _mirror_seen: bool = False

    def mirrored_seen(self) -> bool:
        """Whether any vote so far matched a mirror image as a whole picture or by local features (a region of a
        mirrored frame alone is weak evidence: symmetric pictures have them)."""
        if not self._mirror_seen:
            self._mirror_seen = any("mirror" in m and not m.endswith("-region")
                                    for m in self.method[self._mirror_checked:])
            self._mirror_checked = len(self.method)
        return self._mirror_seen

    def add(self, q_t: float, ref: int, r_t: float, score: float, method: str, distance: int,
            quad: tuple[float, float, float, float] | None = None) -> None:
        self.q_t.append(q_t)
        self.ref.append(ref)
        self.r_t.append(r_t)
        self.score.append(score)
        self.method.append(method)
        self.distance.append(distance)
        self.quad.append(quad)


#: Clip frames analysed together (borders, panels, hashes, local features): 60 s at 2 fps. Long clips are
#: streamed window by window, so memory stays bounded whatever their length; only the votes (a few numbers per
#: frame match) and the frames kept for the asset pass outlive a window.
WINDOW_FRAMES = 120


def match_clip(source: Any, index: ReferenceIndex) -> ClipMatches:
    """Find the indexed references and assets in a clip (a path, or a source object with ``open()``).

    The clip is decoded once, as a stream, in windows of about :data:`WINDOW_FRAMES` frames (split evenly, so
    no window is a short remainder); layout (borders, panels) is found per window, so a long video whose
    layout changes is followed.
    """
    params = index.params
    sampled = _Sampled(source, params.query_fps, params.analysis_side, params.asset_frames)
    votes = _Votes()
    kept: list[tuple[float, npt.NDArray[np.uint8], npt.NDArray[np.uint8]]] = []  # asset-pass frames
    times: list[float] = []
    images: list[npt.NDArray[np.uint8]] = []
    first: tuple[Box, tuple[int, int]] | None = None
    window = WINDOW_FRAMES
    total = 0
    for t, image, colour in sampled:
        if total == 0 and sampled.expected:
            parts = max(1, -(-sampled.expected // WINDOW_FRAMES))
            window = max(1, -(-sampled.expected // parts))
        total += 1
        if colour is not None:
            kept.append((t, image, colour))
            if len(kept) > 2 * max(1, params.asset_frames):
                kept = kept[::2]  # duration unknown: thin the copies instead of keeping them all
        times.append(t)
        images.append(image)
        if len(images) >= window:
            box = _match_window(index, times, images, votes)
            first = first or (box, (images[0].shape[1], images[0].shape[0]))
            times, images = [], []
    if images:
        box = _match_window(index, times, images, votes)
        first = first or (box, (images[0].shape[1], images[0].shape[0]))
    assert first is not None  # _Sampled raises when no frame decodes
    box, size = first
    result = ClipMatches(sampled.duration, total, (box.x0, box.y0, box.width, box.height), size)
    result.footage = _align_votes(index, votes)
    result.assets = _asset_pass(index, kept)
    return result


def _match_window(index: ReferenceIndex, times: list[float], images: list[npt.NDArray[np.uint8]],
                  votes: _Votes) -> Box:
    """Hash pass, then local features where hashes leave the window unexplained; returns the window's borders."""
    params = index.params
    box = detect_borders(images[:: _border_step(len(images))])
    matched_frames = _hash_pass(index, times, images, box, votes)
    if len(matched_frames) < params.explained_fraction * len(images) and len(index._bank):
        _local_pass(index, times, images, box, votes, matched_frames)
    return box


#: Shortest run of frames (at the clip's sampling) whose own borders are judged apart from their window's.
_MIN_SHOT_FRAMES = 3
#: Largest difference of an edge, as a share of the frame's side, between boxes taken as the same.
_BOX_TOLERANCE = 0.02


def _same_box(a: Box, b: Box, width: int, height: int) -> bool:
    tx, ty = _BOX_TOLERANCE * width, _BOX_TOLERANCE * height
    return (abs(a.x0 - b.x0) <= tx and abs(a.x1 - b.x1) <= tx and abs(a.y0 - b.y0) <= ty
            and abs(a.y1 - b.y1) <= ty)


def _shot_boxes(images: list[npt.NDArray[np.uint8]], box: Box) -> list[tuple[Box, list[int]]]:
    """Runs of consecutive frames whose borders are not the window's ``box``: ``(their box, their frames)``.

    A window's borders are those of all its frames, so a video that cuts between pictures of other shapes (a
    compilation, a stream that shows a 4:3 game between full-frame scenes) gets no trim at all, and a
    pillarboxed shot is then hashed with its bars. Frames are grouped by their own box (edges within
    :data:`_BOX_TOLERANCE`); a run of at least :data:`_MIN_SHOT_FRAMES` gets the borders of its frames taken
    together (a dark frame alone looks barred).
    """
    if len(images) < _MIN_SHOT_FRAMES:
        return []
    h, w = images[0].shape[:2]
    own = frame_borders(images)
    runs: list[tuple[Box, list[int]]] = []
    start = 0
    for i in range(1, len(images) + 1):
        if i < len(images) and _same_box(own[i], own[start], w, h):
            continue
        if i - start >= _MIN_SHOT_FRAMES and not _same_box(own[start], box, w, h):
            shot = detect_borders(images[start:i])
            if not _same_box(shot, box, w, h):
                runs.append((shot, list(range(start, i))))
        start = i
    return runs


def _region_queries(hashes: npt.NDArray[np.uint8], quality: npt.NDArray[np.int64], frames: list[int]
                    ) -> list[tuple[str, Any, Any, Any, Any]]:
    """The :func:`_hash_votes` queries of region hashes ``(K, 2R, 32)`` (direct, then mirrored) and their quality
    ``(K, 2R)`` of the window's frames ``frames``."""
    r = len(REGIONS)
    k = len(frames)
    regions, frame_of = np.tile(np.arange(r), k), np.repeat(np.asarray(frames, np.int64), r)
    return [(name, hashes[:, side].reshape(k * r, 32), quality[:, side].reshape(k * r), regions, frame_of)
            for name, side in (("pdq", slice(0, r)), ("pdq-mirror", slice(r, 2 * r)))]


def _hash_pass(index: ReferenceIndex, times: list[float], images: list[npt.NDArray[np.uint8]], box: Box,
               votes: _Votes) -> set[int]:
    """Region hashes of the window's frames (each shot whose borders are not the window's also trimmed to its
    own), and of pictures pasted in them (panels), searched and voted for: returns the frames they placed in
    time (:func:`_hash_votes`)."""
    params = index.params
    if len(index._built()[0]) == 0:
        return set()
    n = len(images)
    hashes, quality = _region_hashes(images, box, mirror=True)
    votes.informative += int((quality[:, _WHOLE] >= params.min_quality).sum())
    queries = _region_queries(hashes, quality, list(range(n)))
    for shot, members in _shot_boxes(images, box):
        queries += _region_queries(*_region_hashes([images[f] for f in members], shot, mirror=True), members)
    trimmed = [trim(im, box) for im in images]
    for panel in find_panels(trimmed):
        # shave the line itself (a drawn frame around an inset), then trim the pasted picture's own
        # bars as its reference's were trimmed
        sx, sy = max(2, panel.width // 100), max(2, panel.height // 100)
        panel = Box(panel.x0 + sx, panel.y0 + sy, panel.x1 - sx, panel.y1 - sy)
        inner = detect_borders([np.ascontiguousarray(panel.crop(im)) for im in trimmed[:: _border_step(n)]])
        inside = Box(panel.x0 + inner.x0, panel.y0 + inner.y0, panel.x0 + inner.x1, panel.y0 + inner.y1)
        ph, pq = grid_hashes(trimmed, inside, mirror=True, regions=_WHOLE_ONLY)
        queries.append(("pdq-panel", ph[:, 0], pq[:, 0], np.full(n, _PANEL), np.arange(n)))
        queries.append(("pdq-panel-mirror", ph[:, 1], pq[:, 0], np.full(n, _PANEL), np.arange(n)))
    return _hash_votes(index, times, queries, votes)


#: lookup tables over (clip region, reference region): compatible pairs, composition pairs; full-picture regions
_COMPAT_TABLE = np.zeros((len(REGIONS) + 1, len(REGIONS)), bool)
_COMPOSITION_TABLE = np.zeros_like(_COMPAT_TABLE)
for _q, _r in _COMPATIBLE:
    _COMPAT_TABLE[_q, _r] = True
for _q, _r in _COMPOSITION:
    _COMPOSITION_TABLE[_q, _r] = True
_FULL_TABLE = np.array([q in _FULL_PICTURE for q in range(len(REGIONS) + 1)])


#: Largest spread (seconds) of the reference times of a frame's kept matches (of one kind, to one reference)
#: that still places the frame in time.
_PLACED_SPAN_S = 2.0


def _hash_votes(index: ReferenceIndex, times: list[float], queries: list[tuple[str, Any, Any, Any, Any]],
                votes: _Votes) -> set[int]:
    """Search the query hashes and vote for the best pair of regions of each (frame, reference, time).

    A query is ``(method, hashes (M, 32), quality (M,), region of each hash (M,), frame of each hash (M,))``.

    A whole-picture pair (a composition) outranks any region pair of the same frames (it says more), then
    the smaller distance, then the first found. A frame's matches to a reference far worse than its best
    one are the reference's static parts (a wall, a score bar) matching everywhere; they carry no time and
    would drown the true line, so they are dropped.

    Returns the frames placed in time: those with one kind of kept matches (whole picture, region) to one
    reference within :data:`_PLACED_SPAN_S` of one another.
    """
    params = index.params
    mih, row_ref, row_time, row_region = index._built()
    stream = np.array([m.layer == "stream" for m in index._refs], bool)
    cols: dict[str, list[Any]] = {k: [] for k in ("f", "ref", "t", "d", "comp", "variant")}
    for vi, (_, flat, qual, qregion_of, frame_of) in enumerate(queries):
        found = mih.search(flat, params.max_distance)
        qrows, ids, dists = (np.asarray(a, dtype=np.int64) for a in found)
        qr = np.asarray(qregion_of)[qrows].astype(np.int64)
        rr = row_region[ids].astype(np.int64)
        ref = row_ref[ids].astype(np.int64)
        comp = _COMPOSITION_TABLE[qr, rr]
        ok = (np.asarray(qual)[qrows] >= params.min_quality) & _COMPAT_TABLE[qr, rr]
        ok &= _FULL_TABLE[qr] | (dists <= params.region_max_distance)
        ok &= ~stream[ref] | comp  # a streamer's VOD counts only through its whole composition
        cols["f"].append(np.asarray(frame_of, np.int64)[qrows[ok]])
        cols["ref"].append(ref[ok])
        cols["t"].append(row_time[ids[ok]].astype(np.float64))
        cols["d"].append(dists[ok])
        cols["comp"].append(comp[ok])
        cols["variant"].append(np.full(int(ok.sum()), vi, np.int64))
    f, ref, t, d, comp, variant = (np.concatenate(cols[k]) for k in ("f", "ref", "t", "d", "comp", "variant"))
    if not len(f):
        return set()
    seq = np.arange(len(f))
    order = np.lexsort((seq, d, ~comp, t, ref, f))
    f, ref, t, d, comp, variant, seq = (a[order] for a in (f, ref, t, d, comp, variant, seq))
    new_key = np.ones(len(f), bool)
    new_key[1:] = (f[1:] != f[:-1]) | (ref[1:] != ref[:-1]) | (t[1:] != t[:-1])
    starts = np.flatnonzero(new_key)
    first_seen = np.minimum.reduceat(seq, starts)
    f, ref, t, d, comp, variant = (a[starts] for a in (f, ref, t, d, comp, variant))
    # the margin is taken within each kind of evidence: a whole picture against the frame's best whole-picture
    # match to the reference, a region against its best region match (a static region matching closely at
    # other times says nothing against a whole picture that matches)
    comp = comp.astype(bool)
    pair = f * (int(ref.max()) + 1) + ref  # (frame, reference)
    _, group = np.unique(pair * 2 + comp, return_inverse=True)
    closest = np.full(int(group.max()) + 1, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(closest, group, d)
    kept = d <= closest[group] + params.distance_margin
    # a frame that matches a reference as a whole picture is placed in time by that: its region matches to the
    # reference at other moments are the parts that stay the same (a score bar, a playfield's frame), and
    # a still region matches all along, which would swamp the whole pictures' time line
    kept &= comp | ~np.isin(pair, pair[kept & comp])
    keep = np.flatnonzero(kept)
    keep = keep[np.argsort(first_seen[keep], kind="stable")]  # votes in the order they were first found
    names = [name for name, *_ in queries]
    for i in keep.tolist():
        method = names[variant[i]] if comp[i] else f"{names[variant[i]]}-region"
        votes.add(times[int(f[i])], int(ref[i]), float(t[i]), 1.0 - int(d[i]) / (params.max_distance + 1), method,
                  int(d[i]))
    # a frame is explained when one kind of its matches to one reference places it in time; a still screen
    # (a maze, a menu) matches its reference all along, and is left to local features, which tell its moments
    # apart by what moves in it
    lo = np.full(len(closest), np.inf)
    hi = np.full(len(closest), -np.inf)
    np.minimum.at(lo, group[keep], t[keep])
    np.maximum.at(hi, group[keep], t[keep])
    placed = np.flatnonzero(hi - lo <= _PLACED_SPAN_S)
    frame_of_group = np.zeros(len(closest), np.int64)
    frame_of_group[group] = f
    return {int(x) for x in frame_of_group[placed]}


def _local_pass(index: ReferenceIndex, times: list[float], images: list[npt.NDArray[np.uint8]], box: Box,
                votes: _Votes, matched: set[int]) -> None:
    """Local features on the frames hashes left unexplained: probed sparsely, dense where they find something.

    Every frame at ``local_query_fps`` is a candidate. Candidates ``local_probe_fps`` apart are searched in the
    feature bank first; around each that finds a reference, the candidates up to the next probe on both sides
    are searched as well, and so on outwards while they keep finding one. A crop, a picture-in-picture or a
    layout lasts seconds, so a probe lands in it and its whole run is then matched as densely as before;
    footage with nothing registered in it costs only the probes. A probe searches the frame as it is, and every
    other probe its mirror image too (all of them once a mirrored match was seen in the clip); its neighbours
    only the way round it found something (a mirrored copy is mirrored throughout), which halves the dense
    search.

    A neighbour is first *tracked* (:func:`_track_frame`): the matches of the frame that found it are tried on
    it as they are (the same reference, the same place in the clip frame, a time moved on by the clip's time
    apart), confirmed by the hash of the warped picture; only when none is confirmed is it searched in the bank.
    A picture-in-picture, a crop or a stream layout keeps its geometry, so most of a found run costs a warp and
    a hash per match instead of a feature search. Every match of the frame is tracked with its own time, so a
    still screen's matches (several moments of the reference alike) stay as many votes as the search gives.
    """
    params = index.params
    lp = _local_params(params)
    stride = max(1, round(params.query_fps / params.local_query_fps))
    candidates = [f for f in range(0, len(images), stride) if f not in matched]
    if not candidates:
        return
    spacing = max(1, round(params.local_query_fps / params.local_probe_fps))
    # probes: every one searched as it is, every other one mirrored too, all of them once the clip has shown a
    # mirrored match (a mirror image is an edit of a whole upload or a long cut, rarely of a moment)
    queue: list[tuple[int, frozenset[bool], tuple[_Hit, ...]]] = [
        (f, _BOTH_SIDES if k % 2 == 0 else _DIRECT, ()) for k, f in enumerate(candidates[::spacing])]
    done: set[int] = set()
    position = {f: i for i, f in enumerate(candidates)}
    while queue:
        f, sides, origin = queue.pop()
        if f in done:
            continue
        done.add(f)
        if sides == _DIRECT and not origin and votes.mirrored_seen():
            sides = _BOTH_SIDES
        image = trim(images[f], box)
        hits = _track_frame(index, times[f], image, votes, origin) if origin else ()
        if not hits:
            hits = _local_frame(index, lp, times[f], image, votes, sides)
        if hits:  # the neighbours, searched the way round (direct, mirrored) this frame was found
            found = frozenset(h.match.mirrored for h in hits)
            i = position[f]
            queue += [(g, found, hits) for g in candidates[max(0, i - spacing): i + spacing + 1] if g not in done]


@dataclass(frozen=True, slots=True)
class _Hit:
    """A local match of a clip frame (at clip time ``t``) to reference ``ref`` at ``r_t``, as voted."""

    t: float
    ref: int
    r_t: float
    match: RegionMatch
    region: tuple[float, float, float, float]


#: Reference seconds per clip second a tracked match may move by: the alignment's speed range.
_TRACK_SPEEDS = (AlignParams().speed_min, AlignParams().speed_max)
#: Slack (seconds) around the reference times a tracked match may move to.
_TRACK_SLACK_S = 0.5


def _track_frame(index: ReferenceIndex, t: float, image: npt.NDArray[np.uint8], votes: _Votes,
                 origin: tuple[_Hit, ...]) -> tuple[_Hit, ...]:
    """Try the matches ``origin`` (of a neighbouring clip frame) on this (trimmed) frame without a feature search.

    Each match's homography warps this frame into its reference's geometry; the warped picture's centre hash
    must come within ``region_max_distance`` of a reference frame whose time the clip's time apart allows
    (speeds :data:`_TRACK_SPEEDS`, give or take :data:`_TRACK_SLACK_S`): a picture that moved, changed or left
    fails, and the frame is then searched as any other. Confirmed matches vote as the search's do; returns them.
    """
    params = index.params
    hits: list[_Hit] = []
    for h in origin:
        if h.match.query_size != (image.shape[1], image.shape[0]):
            continue
        dt = t - h.t
        lo, hi = sorted((h.r_t + dt * _TRACK_SPEEDS[0], h.r_t + dt * _TRACK_SPEEDS[1]))
        placed = _place_in_time(index, h.ref, lo - _TRACK_SLACK_S, hi + _TRACK_SLACK_S, image, h.match)
        if placed is None:
            continue
        r_t, d = placed
        votes.add(t, h.ref, r_t, 1.0 - d / (params.max_distance + 1),
                  "orb-track-mirror" if h.match.mirrored else "orb-track", -h.match.inliers, h.region)
        hits.append(_Hit(t, h.ref, r_t, h.match, h.region))
    if hits:
        votes.local_tried += 1
    return tuple(hits)


#: Both ways round: the frame as it is (False) and its mirror image (True).
_BOTH_SIDES = frozenset((False, True))
#: The frame as it is only.
_DIRECT = frozenset((False,))


def _oriented_features(image: npt.NDArray[np.uint8], lp: LocalParams, sides: frozenset[bool]) -> Features:
    """The frame's features for the sides asked: direct ones, mirrored ones (in ``.mirror``, the direct set
    left empty), or both."""
    if sides == _BOTH_SIDES:
        return extract(image, lp, mirror=True)
    if False in sides:
        return extract(image, lp, mirror=False)
    flipped = extract(np.ascontiguousarray(image[:, ::-1]), lp, mirror=False)
    return Features(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8), flipped.size, flipped)


def _local_frame(index: ReferenceIndex, lp: LocalParams, t: float, image: npt.NDArray[np.uint8],
                 votes: _Votes, sides: frozenset[bool] = _BOTH_SIDES) -> tuple[_Hit, ...]:
    """Search one (trimmed) clip frame in the feature bank (the ``sides`` asked: direct, mirrored) and vote for
    what it finds; returns the matches it voted for (none: nothing found)."""
    params = index.params
    feats = _oriented_features(image, lp, sides)
    searched = feats if False in sides else feats.mirror
    if searched is None or len(searched) < params.local_min_inliers:
        return ()
    votes.local_tried += 1
    bank = index._bank
    found: list[tuple[RegionMatch, int, float, float]] = []  # (match, reference, its time, score)
    placed: list[tuple[int, float]] = []  # (reference, time) of found frames the hashes placed in time
    # the best-voted frames of the best-voted video, all verified: each found one is a vote on the time line, and
    # still screens need them (verifying only the best-voted frame, or stopping at the first found, lost 4 and 2
    # of 47 works on 12 minutes of the 720p benchmark footage); two rules spare verifications that cannot add a
    # vote:
    # - a frame within the time window of a found one that the hashes placed in time: that placement already
    #   compared the dense reference frames of the window, the closest won, and this one's would be the same;
    # - all the others, when the best-voted frame shares fewer than half the inliers a match needs even as
    #   ratio-test pairs: the video is not there (on the 720p benchmark footage, 69 % of the searches that find
    #   nothing stop there, against 3 of 1,022 that find something, whose neighbours still find it)
    for rank, (ref_id, _) in enumerate(bank.shortlist(feats, top_groups=1)):
        ref = index._bank_ref[ref_id]
        r_t = index._bank_time[ref_id]
        if any(ref == other and abs(r_t - at) <= _REFINE_WINDOW_S for other, at in placed):
            continue
        m = bank.verify(ref_id, feats)
        if not m.found or m.inliers < params.local_min_inliers:
            if rank == 0 and m.matches < params.local_min_inliers // 2:
                break
            continue
        score = min(1.0, m.inliers / (3.0 * params.local_min_inliers))
        refined = _refine_time(index, ref, r_t, image, m)
        if refined is not None:  # the warped picture's hash placed it among the dense reference frames
            r_t, d = refined
            score = max(score, 1.0 - d / (params.max_distance + 1))
            placed.append((ref, r_t))
        found.append((m, ref, r_t, score))
    hits: list[_Hit] = []
    for m, ref, r_t, score in sorted(found, key=lambda f: -f[0].inliers):  # the most inliers vote first
        quad = m.quad
        qw, qh = m.query_size
        x0, y0 = float(quad[:, 0].min()), float(quad[:, 1].min())
        x1, y1 = float(quad[:, 0].max()), float(quad[:, 1].max())
        region = (max(0.0, x0 / qw), max(0.0, y0 / qh), min(1.0, x1 / qw), min(1.0, y1 / qh))
        votes.add(t, ref, r_t, score, "orb-mirror" if m.mirrored else "orb", -m.inliers, region)
        hits.append(_Hit(t, ref, r_t, m, region))
    return tuple(hits)


#: Seconds either side of a local match's reference frame in which its hashes place it in time.
_REFINE_WINDOW_S = 1.0


def _refine_time(index: ReferenceIndex, ref: int, r_t: float, image: npt.NDArray[np.uint8],
                 match: RegionMatch) -> tuple[float, int] | None:
    """Place a local-feature match in time on the dense reference hashes (DESIGN: warp, confirm by hash):
    :func:`_place_in_time` within :data:`_REFINE_WINDOW_S` of the matched reference frame."""
    return _place_in_time(index, ref, r_t - _REFINE_WINDOW_S, r_t + _REFINE_WINDOW_S, image, match)


def _place_in_time(index: ReferenceIndex, ref: int, start: float, end: float, image: npt.NDArray[np.uint8],
                   match: RegionMatch) -> tuple[float, int] | None:
    """The reference frame in ``[start, end]`` (seconds) that the clip frame's matched picture is.

    The clip frame is warped into the reference frame's geometry by the match's homography; the centre
    70 % of that picture (inside the clip even when the clip is a crop of up to 15 % a side) is hashed
    and compared with the reference's ``center70`` hashes in the interval.
    Returns (time, distance) of the closest within ``region_max_distance``, or None.
    """
    fp = index._prints[ref]
    near = np.flatnonzero((fp.timestamps >= start) & (fp.timestamps <= end))
    if not len(near):
        return None
    # warped straight to twice the working picture's size (the reference frame's geometry, scaled), then
    # area-averaged to it as the reference's frames were
    warped = warp_region(image, match, (2 * WORK, 2 * WORK))
    h, q = grid_hashes([warped], regions=_CENTER70_ONLY)
    h, q = h[:, 0], q[:, 0]
    if q[0] < index.params.min_quality:
        return None
    ref_h = fp.hashes[near, _CENTER70]
    d = np.unpackbits(np.bitwise_xor(ref_h, h[0][None, :]), axis=1).sum(axis=1)
    best = int(np.argmin(d))
    if d[best] > index.params.region_max_distance:
        return None
    return float(fp.timestamps[near[best]]), int(d[best])


def _align_votes(index: ReferenceIndex, votes: _Votes) -> list[ReferenceMatch]:
    if not votes.q_t:
        return []
    params = index.params
    q_t = np.asarray(votes.q_t, np.float64)
    ref = np.asarray(votes.ref, np.int64)
    r_t = np.asarray(votes.r_t, np.float64)
    score = np.asarray(votes.score, np.float64)
    # Hash and local-feature matches are aligned apart: they are sampled differently, and the scattered
    # matches of one family must not count as chance against the other's line.
    local = np.array([m.startswith("orb") for m in votes.method])
    segments: list[Segment] = []
    for family, step in ((~local, 1.0 / params.ref_fps), (local, 1.0 / params.local_ref_fps)):
        idx = np.flatnonzero(family)
        if not len(idx):
            continue
        for seg in align(q_t[idx], ref[idx], r_t[idx], score[idx], AlignParams(),
                         query_step_s=1.0 / params.query_fps, ref_step_s=step):
            segments.append(replace(seg, evidence=tuple(int(idx[e]) for e in seg.evidence)))
    segments += _static_matches(index, votes, {int(s.reference) for s in segments}, 1.0 / params.ref_fps)
    by_ref: dict[int, list[Segment]] = defaultdict(list)
    for seg in segments:
        by_ref[int(seg.reference)].append(seg)
    by_ref = {r: _drop_echoes(segs, AlignParams().overlap_drop) for r, segs in by_ref.items()}
    out: list[ReferenceMatch] = []
    for ref_i, segs in sorted(by_ref.items()):
        evidence = sorted({int(e) for s in segs for e in s.evidence})
        methods: dict[str, int] = defaultdict(int)
        for e in evidence:
            methods[votes.method[e]] += 1
        dists = [votes.distance[e] for e in evidence if votes.distance[e] >= 0]
        quads = [votes.quad[e] for e in evidence if votes.quad[e] is not None]
        region: tuple[float, float, float, float] | None = None
        if quads:
            x0, y0, x1, y1 = (float(v) for v in np.median(np.asarray(quads, np.float64), axis=0))
            region = (x0, y0, x1, y1)
        mirrored = sum(v for k, v in methods.items() if "mirror" in k) > sum(methods.values()) / 2
        meta = index._refs[ref_i]
        out.append(ReferenceMatch(meta.key, meta.layer, tuple(sorted(segs, key=lambda s: s.query_start)),
                                  dict(methods), mirrored, min(dists) if dists else None, region))
    return out


_WHOLE_METHODS = ("pdq", "pdq-mirror", "pdq-panel", "pdq-panel-mirror")


def _static_matches(index: ReferenceIndex, votes: _Votes, aligned: set[int], ref_step: float) -> list[Segment]:
    """Segments for references that most clip frames match, but with no clear time line.

    A frame counts when it matches the reference as a whole picture (hashes of the frame, a panel, the
    mirror) or through local features (a RANSAC homography of at least ``local_min_inliers``); the
    share is taken of the frames each method could judge (informative frames; frames tried with local
    features). Region hashes never count: a game's status bar matches every playthrough.
    """
    params = index.params
    min_frames = AlignParams().min_matches
    hashed: dict[int, set[float]] = defaultdict(set)
    local: dict[int, set[float]] = defaultdict(set)
    for q, ref, method in zip(votes.q_t, votes.ref, votes.method, strict=True):
        if ref in aligned:
            continue
        if method in _WHOLE_METHODS:
            hashed[ref].add(q)
        elif method.startswith("orb"):
            local[ref].add(q)
    out: list[Segment] = []
    for ref in sorted(set(hashed) | set(local)):
        shares = [len(qs) / n for qs, n in ((hashed[ref], votes.informative), (local[ref], votes.local_tried))
                  if n >= min_frames and len(qs) >= min_frames]
        if not shares or max(shares) < params.coverage:
            continue
        idx = [i for i, (r, m) in enumerate(zip(votes.ref, votes.method, strict=True))
               if r == ref and (m in _WHOLE_METHODS or m.startswith("orb"))]
        lines = align(np.asarray([votes.q_t[i] for i in idx]), np.zeros(len(idx), np.int64),
                      np.asarray([votes.r_t[i] for i in idx]), np.asarray([votes.score[i] for i in idx]),
                      AlignParams(alpha=1.0, min_density=0.0), query_step_s=1.0 / params.query_fps,
                      ref_step_s=ref_step)
        if lines:
            best = max(lines, key=lambda s: (s.query_frames, s.score))
            out.append(replace(best, reference=ref, evidence=tuple(idx[i] for i in best.evidence),
                               score=best.score * max(shares)))
    return out


def _asset_pass(index: ReferenceIndex,
                frames: list[tuple[float, npt.NDArray[np.uint8], npt.NDArray[np.uint8]]]) -> list[AssetHit]:
    """Registered stills in the frames that have an RGB copy (grey search, colour check)."""
    params = index.params
    if not index._assets or params.asset_frames == 0 or not frames:
        return []
    need = min(params.asset_min_frames, len(frames))
    hits: list[AssetHit] = []
    features: dict[tuple[int, LocalParams], Features] = {}  # a frame's features serve every asset
    for meta, detector in index._assets:
        found: list[tuple[float, AssetMatch]] = []
        for i, (t, grey, colour) in enumerate(frames):
            if len(found) + len(frames) - i < need:
                break  # too few frames left to find it in enough of them
            ff = None
            if detector.method == "features":
                key = (i, detector.frame_params)
                ff = features.get(key)
                if ff is None:
                    ff = features[key] = detector.frame_features(grey)
            m = detector.detect(grey, ff)
            if not m.found:
                continue
            diff = chroma_difference(detector, colour, m)
            if diff is not None and diff > params.asset_max_chroma:
                continue  # the same shapes in other colours: another's copy of a template
            found.append((t, m))
        if len(found) >= need:
            first = found[0][1]
            x, y, bw, bh = (int(v) for v in first.box)
            h, w = frames[0][1].shape[:2]
            hits.append(AssetHit(meta.key, meta.layer, tuple(t for t, _ in found), (x, y, bw, bh), (w, h),
                                 float(np.median([m.score for _, m in found])), first.method, first.mirrored))
    return hits
