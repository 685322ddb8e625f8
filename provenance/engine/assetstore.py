"""The registered stills' detectors and their shortlist in an index directory: prepared once when it is written,
opened by memory map by every process that matches clips.

Building an :class:`~provenance.engine.assets.AssetDetector` extracts ORB features of the asset at four scales
and of its mirror image; the :class:`~provenance.engine.assetshortlist.AssetShortlist` then stacks every asset's
descriptors and builds their search. A worker did both for every asset when it opened the index: 3.2 s with 100
assets, 9.7 s with 300 (``bench/scale_bench.py``). Written here once, what they computed is read back as views of
flat arrays, and a worker opens 300 assets in the time it takes to map the files. Templates are still made on
first use, as for a built detector.

Files (beside :mod:`provenance.engine.store`'s)::

    asset_shapes.npy        per asset: the height and width of its opaque area's box
    asset_gray.npy, asset_alpha.npy, asset_rgb.npy, asset_chroma.npy
                            every asset's pictures (grey, opaque mask, RGB, colour check mask), one after another
                            (asset ``a`` starts at the sum of the areas before it)
    asset_keypoints.npy, asset_descriptors.npy, asset_offsets.npy, asset_sizes.npy
                            every asset's features (side ``2a``) and its mirror's (``2a + 1``), as the feature
                            bank stores its frames (:class:`~provenance.engine.bank.PackedFeatures`)
    asset_votes.faiss, asset_votes_owner.npy
                            the shortlist's search (FAISS: mapped; absent when no asset has descriptors) and, per
                            stored descriptor, its (asset, side)

The detectors' parameters are stored in the manifest (:func:`asset_facts`) and must be the reader's.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from provenance.engine.assets import AssetDetector, AssetParams
from provenance.engine.assetshortlist import AssetShortlist
from provenance.engine.bank import PackedFeatures
from provenance.engine.features import Features, LocalParams

__all__ = ["AssetSpill", "asset_facts", "open_assets", "save_assets", "write_parts"]

Load = Callable[[str], npt.NDArray[Any]]

_VOTES = "asset_votes.faiss"


def asset_facts(params: AssetParams) -> dict[str, Any]:
    """What the stored detectors were prepared with, as the manifest holds it (JSON's lists for tuples)."""
    out: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(params)))
    return out


#: the pictures a detector holds, in the order of :data:`~provenance.engine.assets.Pictures`: (name, dtype, tail),
#: stored as ``asset_{name}.npy``
_PICTURES = (("gray", np.uint8, ()), ("alpha", np.bool_, ()), ("rgb", np.uint8, (3,)), ("chroma", np.uint8, ()))


def _pictures(detector: AssetDetector) -> tuple[npt.NDArray[Any], ...]:
    return (detector.gray, detector.alpha, detector.rgb, detector.chroma_mask)


def save_assets(
    directory: Path, detectors: Sequence[AssetDetector], shortlist: AssetShortlist
) -> dict[str, npt.NDArray[Any]]:
    """Write the shortlist's search and the detectors' pictures into ``directory``; the (small) arrays to store
    beside them (name: array), for :func:`open_assets`. The pictures are written one detector's at a time, never
    joined in memory (a full-frame overlay's are ~1.4 MB)."""
    owner = shortlist.save(directory / _VOTES)
    sides = PackedFeatures.pack([f for d in detectors for f in (d.features, d.mirror_features)])
    for k, (name, dtype, tail) in enumerate(_PICTURES):
        write_parts(directory / f"asset_{name}.npy", [_pictures(d)[k] for d in detectors], tail, dtype)
    return {
        "asset_shapes": np.array([d.gray.shape for d in detectors], np.int64).reshape(len(detectors), 2),
        "asset_keypoints": sides.keypoints,
        "asset_descriptors": sides.descriptors,
        "asset_offsets": sides.offsets,
        "asset_sizes": sides.sizes,
        "asset_votes_owner": owner.astype(np.int64),
    }


def write_parts(path: Path, parts: Sequence[npt.NDArray[Any]], tail: tuple[int, ...], dtype: Any) -> None:
    """``np.save(path, np.concatenate(parts))`` (each part flattened to rows of ``tail``), copied in part by part into
    the mapped file: never all of them stacked in memory first (an index's largest arrays: the feature bank's
    descriptors, ~230 MB an hour of reference)."""
    rows = [p.reshape(-1, *tail) for p in parts]
    out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(sum(len(r) for r in rows), *tail))
    at = 0
    for r in rows:
        out[at : at + len(r)] = r
        at += len(r)
    out.flush()
    del out


def open_assets(
    directory: Path, load: Load, count: int, params: AssetParams, local: LocalParams, vote_distance: int
) -> tuple[list[AssetDetector], AssetShortlist]:
    """The ``count`` detectors and the shortlist :func:`save_assets` stored, their arrays read with ``load``
    (memory-mapped); ``ValueError`` when the files do not add up."""
    shapes = np.asarray(load("asset_shapes"), np.int64)
    gray, alpha, rgb, chroma = (load(f"asset_{n}") for n in ("gray", "alpha", "rgb", "chroma"))
    sides = PackedFeatures(*(load(f"asset_{n}") for n in ("keypoints", "descriptors", "offsets", "sizes")))
    owner = load("asset_votes_owner")
    starts = np.concatenate([[0], np.cumsum(shapes[:, 0] * shapes[:, 1])]).astype(np.int64)
    if shapes.shape != (count, 2) or len(sides) != 2 * count or not len(gray) == len(alpha) == len(rgb) == len(chroma):
        raise ValueError(f"asset arrays do not add up: {shapes.shape} shapes, {len(sides)} sides for {count} assets")
    if int(starts[-1]) != len(gray):
        raise ValueError(f"asset pictures hold {len(gray)} pixels, their shapes {int(starts[-1])}")
    pairs = [(sides[2 * a], sides[2 * a + 1]) for a in range(count)]
    detectors = _prepared(params, [(int(h), int(w)) for h, w in shapes], (gray, alpha, rgb, chroma), pairs)
    votes = directory / _VOTES
    matcher = votes if votes.exists() else None
    if (matcher is None) != (len(owner) == 0):
        raise ValueError(f"asset shortlist: {len(owner)} owners, search {'absent' if matcher is None else 'present'}")
    return detectors, AssetShortlist.opened(count, owner, matcher, local, vote_distance)


class AssetSpill:
    """Detectors prepared for an index that is being written, their pictures kept in files of ``folder`` (one per
    picture, each detector's appended) instead of in memory: a full-frame overlay's pictures are ~1.4 MB, so a
    registry of thousands of them did not fit while its index was written. :meth:`detectors` gives them back over
    the files (memory-mapped), their features as they were.

    ``add`` each detector (prepared with ``params``), then ``detectors()`` once; the folder must outlive the
    detectors' use (a file removed while mapped stays readable on POSIX)."""

    def __init__(self, folder: Path, params: AssetParams) -> None:
        self.folder = folder
        self.params = params
        self._kept: list[tuple[tuple[int, int], tuple[Features, Features]]] = []

    def add(self, detector: AssetDetector) -> None:
        if detector.params != self.params:
            raise ValueError("a detector prepared with other asset parameters")
        for picture, (name, dtype, _) in zip(_pictures(detector), _PICTURES, strict=True):
            with open(self.folder / f"{name}.raw", "ab") as out:
                out.write(np.ascontiguousarray(picture, dtype).tobytes())
        h, w = detector.gray.shape
        self._kept.append(((h, w), (detector.features, detector.mirror_features)))

    def detectors(self) -> list[AssetDetector]:
        area = sum(h * w for (h, w), _ in self._kept)
        if not area:
            return []
        gray, alpha, rgb, chroma = (
            np.memmap(self.folder / f"{n}.raw", dtype, "r", shape=(area, *tail)) for n, dtype, tail in _PICTURES
        )
        shapes, sides = zip(*self._kept, strict=True)
        return _prepared(self.params, shapes, (gray, alpha, rgb, chroma), sides)


def _prepared(
    params: AssetParams,
    shapes: Sequence[tuple[int, int]],
    pictures: tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]],
    sides: Sequence[tuple[Features, Features]],
) -> list[AssetDetector]:
    """The detectors whose pictures (grey, mask, RGB, colour-check mask) lie one after another in the flat
    ``pictures`` (asset ``a`` from the sum of the areas before it), as views."""
    gray, alpha, rgb, chroma = pictures
    out, start = [], 0
    for (h, w), pair in zip(shapes, sides, strict=True):
        end = start + h * w
        views = (gray[start:end].reshape(h, w), alpha[start:end].reshape(h, w), rgb[start:end].reshape(h, w, 3))
        out.append(AssetDetector.prepared(params, (*views, chroma[start:end].reshape(h, w)), pair))
        start = end
    return out
