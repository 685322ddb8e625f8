"""Reference fingerprints and the reference index: what a clip is matched against.

A footage reference is decoded densely (``ref_fps``), its frames' region hashes kept with their quality, and
local features kept for some of them (``local_ref_fps``); stills (HUDs, logos, overlays) are kept as images for
the asset detector. :class:`ReferenceIndex` holds a registry's references, ready for
:func:`~provenance.engine.match.match_clip`.

A reference of a ``stream``-layer work (a streamer's VOD) shows the game it was played on, so its frames get no
local features: another streamer's overlay built from the same template lines up with a VOD's features as
well as the VOD itself does. Its hashes count only through the whole composition
(:data:`~provenance.engine.pairs.COMPOSITION`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from provenance.engine.assets import AssetDetector, AssetParams
from provenance.engine.assetshortlist import AssetShortlist
from provenance.engine.bank import FeatureBank
from provenance.engine.features import Features, extract
from provenance.engine.fingerprint.regions import detect_borders, trim
from provenance.engine.index import StaticHashIndex
from provenance.engine.pairs import HASHER, REGIONS
from provenance.engine.params import EngineParams, local_params
from provenance.engine.rows import Rows
from provenance.engine.sampling import Sampled, border_step
from provenance.errors import ConfigError

__all__ = [
    "HOLDER_LAYERS",
    "REF_WINDOW_FRAMES",
    "FootagePrint",
    "RefMeta",
    "ReferenceIndex",
    "fingerprint_footage",
    "load_asset",
]

#: Layers whose holder's finding must rest on what that holder alone owns (DESIGN: layers): a community map is
#: played on its game's engine, HUD and textures, a streamer's VOD shows the game it played
#: (:mod:`~provenance.engine.decide`).
HOLDER_LAYERS = frozenset(("ugc", "stream"))


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
        data = b"".join(
            [
                header.tobytes(),
                self.local_times.astype("<f4").tobytes(),
                self.hashes.tobytes(),
                *feats,
                np.array([self.duration_s], "<f8").tobytes(),
            ]
        )
        return self.timestamps.astype("<f4").tobytes(), data, self.quality.astype(np.uint8).tobytes()

    @classmethod
    def from_payload(cls, timestamps: bytes, data: bytes, quality: bytes) -> FootagePrint:
        """The print of :meth:`to_payload`'s blobs. Its hashes, quality and descriptors are read-only views of the
        blobs, not copies: an index built from stored prints holds each once (with copies, a write of an index held
        the payload and the prints made from it, every descriptor twice)."""
        ts = np.frombuffer(timestamps, "<f4").astype(np.float32, copy=False)
        n_head = 3
        head = np.frombuffer(data, "<u4", count=n_head)
        n, r, m = (int(x) for x in head)
        if r != len(REGIONS) or n != len(ts):
            raise ConfigError(f"stored fingerprint has {r} regions / {n} frames, expected {len(REGIONS)} / {len(ts)}")
        lens = np.frombuffer(data, "<u4", count=n_head + m)[n_head:]
        off = 4 * (n_head + m)
        local_times = np.frombuffer(data, "<f4", count=m, offset=off).astype(np.float32)
        off += 4 * m
        hashes = np.frombuffer(data, np.uint8, count=n * r * 32, offset=off).reshape(n, r, 32)
        off += n * r * 32
        feats = []
        view = memoryview(data)
        for length in lens:
            feats.append(Features.from_bytes(view[off : off + int(length)]))
            off += int(length)
        duration = float(np.frombuffer(data, "<f8", count=1, offset=off)[0])
        q = np.frombuffer(quality, np.uint8)
        if q.size != n * r:
            raise ConfigError(f"stored fingerprint has {q.size} quality values, expected {n * r}")
        q = q.reshape(n, r)
        return cls(ts, hashes, q, local_times, tuple(feats), duration)


#: Reference frames fingerprinted together, about 4 minutes at ``ref_fps`` 15 (640 x 360 grey frames: ~0.8 GB):
#: what bounds the memory of fingerprinting a reference, whatever its length. A reference up to this long is one
#: window, its border box detected over the whole video; a longer one is split into windows of even length, each
#: with its own box (as a clip's windows: a long VOD whose layout changes is followed). Decoding whole references
#: held every frame: a 16-minute one peaked at 7.4 GB, an hour's would not fit this machine's 24 GB.
REF_WINDOW_FRAMES = 3600
#: Frames hashed at once (the hasher's work arrays are several times the frames they are made from).
_HASH_BATCH = 256


def fingerprint_footage(path: str | Path, params: EngineParams = EngineParams()) -> FootagePrint:
    """Decode a reference video at ``ref_fps`` and fingerprint it (borders trimmed), in windows of at most about
    :data:`REF_WINDOW_FRAMES` frames, streamed: only one window's frames are held at a time."""
    sampled = Sampled(path, params.ref_fps, params.analysis_side)
    step = max(1, round(params.ref_fps / params.local_ref_fps))
    lp = local_params(params)
    times: list[float] = []
    hashes: list[npt.NDArray[np.uint8]] = []
    quality: list[npt.NDArray[np.int64]] = []
    local_times: list[float] = []
    feats: list[Features] = []
    for window_times, images in _reference_windows(sampled):
        box = detect_borders(list(images[:: border_step(len(images))]))
        for k in range(0, len(images), _HASH_BATCH):  # each frame's hashes are its own: batches bound the work arrays
            h, q = HASHER.regions(images[k : k + _HASH_BATCH], box)
            hashes.append(h)
            quality.append(np.asarray(q))
        for j, image in enumerate(images):
            if (len(times) + j) % step == 0:  # every ``step``-th frame of the whole reference
                local_times.append(window_times[j])
                feats.append(extract(trim(image, box), lp, mirror=False))
        times += window_times
    return FootagePrint(
        timestamps=np.asarray(times, np.float32),
        hashes=np.concatenate(hashes),
        quality=np.clip(np.concatenate(quality), 0, 100).astype(np.uint8),
        local_times=np.asarray(local_times, np.float32),
        local_features=tuple(feats),
        duration_s=float(sampled.duration),
    )


def _reference_windows(sampled: Sampled) -> Iterator[tuple[list[float], npt.NDArray[np.uint8]]]:
    """A reference's grey frames in windows ``(times, frames)``: one for a reference of up to
    :data:`REF_WINDOW_FRAMES` frames (by its container's duration), else windows of even length (the last one
    takes what the container did not announce, up to twice the window).

    The frames of a window are copied into one array, reused by the next window (the caller is done with a window
    when it asks for the next): thousands of frame-sized arrays allocated and freed left the heap fragmented (a
    16-minute reference peaked at 2.7 GB, against 1.8 GB with the allocator returning each frame's memory)."""
    times: list[float] = []
    frames: npt.NDArray[np.uint8] | None = None
    window, parts, done, n = REF_WINDOW_FRAMES, 0, 0, 0  # parts 0: as many as it takes (duration unknown)
    for k, (t, image, _) in enumerate(sampled):
        if k == 0 and sampled.expected:
            parts = max(1, -(-sampled.expected // REF_WINDOW_FRAMES))
            window = -(-sampled.expected // parts)
        cap = 2 * window if parts and done == parts - 1 else window  # the last window: what is left
        if frames is not None and (image.shape != frames.shape[1:] or n == len(frames)):
            if n:  # full, or a frame of another size (rotation metadata mid-stream): the window ends here
                yield times, frames[:n]
                times, n, done = [], 0, done + 1
                cap = 2 * window if parts and done == parts - 1 else window
            if image.shape != frames.shape[1:] or len(frames) < cap:
                frames = None
        if frames is None:
            frames = np.empty((cap, *image.shape), np.uint8)
        frames[n] = image
        times.append(t)
        n += 1
    if n and frames is not None:
        yield times, frames[:n]


def load_asset(path: str | Path | BinaryIO) -> npt.NDArray[np.uint8]:
    """A still asset (a file, or its bytes as a binary stream) as RGBA uint8 (alpha 255 where it has none)."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"), dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class RefMeta:
    """A reference as the index knows it: the caller's key, its work's layer, and the group of references
    (the caller's: its work) that are evidence for the same thing."""

    key: str
    layer: str
    group: str = ""


class ReferenceIndex:
    """Every registered reference of a registry, ready to match clips against.

    ``add_footage(key, layer, print)`` and ``add_asset(key, layer, rgba)``, then
    :func:`match_clip`. Keys are the caller's (the audit uses reference ids).
    """

    def __init__(self, params: EngineParams = EngineParams()) -> None:
        self.params = params
        self.refs: list[RefMeta] = []
        self.prints: list[FootagePrint] = []
        self._row_ref: list[npt.NDArray[np.int32]] = []
        self._row_time: list[npt.NDArray[np.float32]] = []
        self._row_region: list[npt.NDArray[np.int8]] = []
        self._hashes: list[npt.NDArray[np.uint8]] = []
        self.bank = FeatureBank(local_params(params))
        self.bank_ref: list[int] | npt.NDArray[np.int64] = []  # per bank frame: its reference, its time
        self.bank_time: list[float] | npt.NDArray[np.float64] = []
        self.assets: list[tuple[RefMeta, AssetDetector]] = []
        self.asset_params = AssetParams()
        self._index: StaticHashIndex | None = None
        self._shortlist: AssetShortlist | None = None
        #: per asset, which of its features its look-alikes (other works' assets) do not share, found when it is
        #: first found in a clip (:func:`~provenance.engine.generic.distinctive`, by the asset pass)
        self.distinct_cache: dict[int, tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]] | None] = {}

    @property
    def footage_count(self) -> int:
        return len(self.refs)

    @property
    def asset_count(self) -> int:
        return len(self.assets)

    @property
    def region_count(self) -> int:
        """Region hashes per reference frame."""
        return len(REGIONS)

    def adopt_footage(
        self,
        refs: Sequence[RefMeta],
        prints: Sequence[FootagePrint],
        table: tuple[StaticHashIndex, Rows, Rows, Rows],
        bank: FeatureBank,
        bank_ref: npt.NDArray[np.int64],
        bank_time: npt.NDArray[np.float64],
    ) -> None:
        """Take footage already indexed (:func:`~provenance.engine.store.open_index`: memory-mapped arrays): the
        references and their prints, the hash table as :meth:`hash_table` gives it, the feature bank and, per bank
        frame, its reference and time. Only into an index without footage."""
        if self.refs:
            raise ConfigError("adopt_footage: this index has footage already")
        self.refs, self.prints = list(refs), list(prints)
        self._index, self._cat = table[0], table[1:]
        self.bank, self.bank_ref, self.bank_time = bank, bank_ref, bank_time

    def add_footage(self, key: str, layer: str, fp: FootagePrint, group: str = "") -> None:
        """A reference video; ``group`` (its work; default: the reference alone) says which other references are
        the same holder's, not a rival's, when a ``ugc`` or ``stream`` finding is weighed against other works."""
        if not isinstance(self.bank_ref, list) or not isinstance(self.bank_time, list):
            raise ConfigError("add_footage: an index opened from disk takes no more footage (write a new one)")
        ref = len(self.refs)
        self.refs.append(RefMeta(key, layer, group or key))
        self.prints.append(fp)
        n, r = fp.hashes.shape[:2]
        keep = (fp.quality >= self.params.min_quality).reshape(n * r)
        self._hashes.append(fp.hashes.reshape(n * r, 32)[keep])
        self._row_ref.append(np.full(int(keep.sum()), ref, np.int32))
        self._row_time.append(np.repeat(fp.timestamps, r)[keep])
        self._row_region.append(np.tile(np.arange(r, dtype=np.int8), n)[keep])
        for t, feats in zip(fp.local_times, fp.local_features, strict=True):
            if len(feats) and layer != "stream":  # VODs are matched by hashes only (module docstring)
                self.bank.add(feats, group=ref)
                self.bank_ref.append(ref)
                self.bank_time.append(float(t))
        self._index = None

    def add_asset(self, key: str, layer: str, rgba: npt.NDArray[np.uint8], group: str = "") -> None:
        """A registered still; ``group`` (its work) says which other assets are evidence for the same thing:
        two assets of different groups found at the same place as strongly are evidence for neither."""
        self.add_prepared(key, layer, AssetDetector(rgba, self.asset_params), group)

    def add_prepared(self, key: str, layer: str, detector: AssetDetector, group: str = "") -> None:
        """A registered still whose detector is prepared already (with :attr:`asset_params`), as :meth:`add_asset`."""
        if detector.params != self.asset_params:
            raise ConfigError("add_prepared: the detector was prepared with other asset parameters")
        self.assets.append((RefMeta(key, layer, group), detector))
        self._shortlist = None
        self.distinct_cache.clear()

    def adopt_assets(
        self, metas: Sequence[RefMeta], detectors: Sequence[AssetDetector], shortlist: AssetShortlist
    ) -> None:
        """Take stills already prepared (:func:`~provenance.engine.store.open_index`: detectors over memory-mapped
        arrays) and their shortlist, as :meth:`asset_shortlist` would build it. Only into an index without
        assets."""
        if self.assets or len(metas) != len(detectors) or len(shortlist) != len(detectors):
            raise ConfigError("adopt_assets: only into an index without assets, one detector per asset")
        self.assets = list(zip(metas, detectors, strict=True))
        self._shortlist = shortlist
        self.distinct_cache.clear()

    def asset_shortlist(self) -> AssetShortlist:
        """One search structure over every asset found by its features (their positions in :attr:`assets`;
        an asset found by templates only has no descriptors in it)."""
        if self._shortlist is None:
            none = np.zeros((0, 32), np.uint8)
            featured = [d if d.method == "features" else None for _, d in self.assets]
            self._shortlist = AssetShortlist(
                [d.features.descriptors if d else none for d in featured],
                [d.mirror_features.descriptors if d else none for d in featured],
                local_params(self.params),
            )
        return self._shortlist

    def lay_out(self, folder: Path) -> None:
        """Lay the searches of an index built in memory out in files of ``folder`` (which must outlive it), not in
        memory, and search them mapped from there: the feature bank's vote search
        (:meth:`~provenance.engine.bank.FeatureBank.lay_out`) and the hash search
        (:meth:`~provenance.engine.index.StaticHashIndex.laid_out`); what an index written whole does before it is
        used (the streamers' VODs, the generic shares) and saved (the files linked)."""
        self.bank.lay_out(folder / "bank_votes.faiss")
        self.hash_table(folder)  # built there unless it is built already

    def hash_table(self, folder: Path | None = None) -> tuple[StaticHashIndex, Rows, Rows, Rows]:
        """The exact hash index over every kept region hash, and per row its reference, time and region (arrays, or
        an opened index's segments joined: :class:`~provenance.engine.rows.JoinedRows`); built, the first time,
        in files of ``folder`` when given (:meth:`lay_out`)."""
        if self._index is None:
            if folder is not None:
                self._index = StaticHashIndex.laid_out(self._hashes, 256, self.params.max_distance, folder, "hashes")
            else:
                hashes = np.concatenate(self._hashes) if self._hashes else np.zeros((0, 32), np.uint8)
                self._index = StaticHashIndex(hashes, 256, self.params.max_distance)
            self._cat = (
                np.concatenate(self._row_ref) if self._row_ref else np.zeros(0, np.int32),
                np.concatenate(self._row_time) if self._row_time else np.zeros(0, np.float32),
                np.concatenate(self._row_region) if self._row_region else np.zeros(0, np.int8),
            )
        return (self._index, *self._cat)

    def memory(self) -> dict[str, int]:
        """Bytes the index holds in this process, by part (arrays counted; Python objects around them are not):
        the hash rows searched for every clip frame, the feature bank, the footage prints kept for placing local
        matches in time, the asset detectors, the asset shortlist."""
        table, refs, times, regions = self.hash_table()
        hashes = table.nbytes() + refs.nbytes + times.nbytes + regions.nbytes
        bank = sum(f.keypoints.nbytes + f.descriptors.nbytes for f in self.bank.features())
        prints = sum(p.hashes.nbytes + p.quality.nbytes + p.timestamps.nbytes for p in self.prints)
        assets = sum(d.nbytes() for _, d in self.assets)
        shortlist = 32 * self.asset_shortlist().stored if self.assets else 0
        return {"hash_rows": hashes, "feature_bank": bank, "prints": prints, "assets": assets, "shortlist": shortlist}

    def private_bytes(self) -> int:
        """Bytes of :meth:`memory` that this process holds of its own, not mapped from an index directory: the
        asset detectors' arrays and their shortlist when they were built here (not the templates the searches make:
        those are the process's, bounded, :data:`~provenance.engine.assets.TEMPLATES`)."""
        mapped = 0
        for _, d in self.assets:
            feats = (d.features, d.mirror_features)
            arrays = (d.gray, d.alpha, d.rgb, d.chroma_mask, *(x for f in feats for x in (f.keypoints, f.descriptors)))
            mapped += sum(a.nbytes for a in arrays if isinstance(a, np.memmap))
        shortlist = 32 * self.asset_shortlist().stored if self.assets and not self.asset_shortlist().mapped else 0
        return sum(d.nbytes() for _, d in self.assets) - mapped + shortlist
