"""The asset shortlist: every registered still's descriptors in one search structure (:class:`AssetShortlist`)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from provenance.engine.binsearch import EXHAUSTIVE_MAX, binary_index, read_mapped, search_binary
from provenance.engine.features import DEFAULT_PARAMS, Features, LocalParams, single_thread_faiss
from provenance.errors import ConfigError

__all__ = ["AssetShortlist"]

U8Array = npt.NDArray[np.uint8]


class AssetShortlist:
    """Every registered still's descriptors in one search structure, so that a frame is verified (ratio test,
    RANSAC) against the few assets it resembles, not against all of them: a clip's asset cost is set by what it
    shows, not by how many assets the registry holds.

    ``descriptors[i]`` are asset ``i``'s, ``mirrored[i]`` those of its mirror image (a mirrored clip shows the
    mirrored asset); at most ``per_side`` of each are kept (evenly spread: every scale keeps its share). Each of a
    frame's strongest ``params.vote_features`` descriptors votes for the one (asset, side) its nearest stored
    descriptor belongs to, when that is within ``vote_distance`` bits. The nearest alone, not the ``k`` nearest
    as in :class:`FeatureBank`: stills made from one template (a streamer overlay in many colourways) share
    most of their descriptors, and with ``k`` votes each of them collected the votes of the one shown, pushing
    a small HUD in the same frame out of the shortlist (on the sample's stream highlight among ten such
    overlays, the HUD ranked up to 11th with 4 nearest within 48 bits, at most 5th with the nearest within
    64). The search is exhaustive up to ``exhaustive_max`` stored descriptors, an IVF index above (sub-linear
    in the registry).
    """

    def __init__(
        self,
        descriptors: Sequence[U8Array],
        mirrored: Sequence[U8Array],
        params: LocalParams = DEFAULT_PARAMS,
        *,
        per_side: int = 1024,
        vote_distance: int = 64,
        exhaustive_max: int = EXHAUSTIVE_MAX,
    ):
        if per_side < 16 or not 1 <= vote_distance <= 256 or len(descriptors) != len(mirrored):
            raise ConfigError(
                f"AssetShortlist: per_side must be >= 16 (got {per_side}), vote_distance in [1, 256] (got "
                f"{vote_distance}), one mirrored set per asset ({len(mirrored)} for {len(descriptors)})"
            )
        self.params = params
        self.vote_distance = vote_distance
        self.per_side = per_side
        sides = [d for pair in zip(descriptors, mirrored, strict=True) for d in pair]  # asset a: 2a, 2a + 1
        kept = [d[self.kept(len(d))] for d in sides]
        self._count = len(descriptors)
        self._owner = np.repeat(np.arange(len(kept), dtype=np.int64), [len(d) for d in kept])
        stacked = np.ascontiguousarray(np.concatenate(kept)) if kept else np.zeros((0, 32), np.uint8)
        self._matcher: tuple[Any, ...] | None = binary_index(stacked, exhaustive_max) if len(stacked) else None
        #: whether the search and its owners are mapped from files (:meth:`opened`), not held by this process
        self.mapped = False

    def kept(self, count: int) -> npt.NDArray[np.int64]:
        """Which of a side's ``count`` descriptors are stored: at most ``per_side``, evenly spread."""
        return np.linspace(0, count - 1, min(count, self.per_side)).astype(np.int64)

    @classmethod
    def opened(
        cls, count: int, owner: npt.NDArray[np.int64], matcher: Path | None, params: LocalParams, vote_distance: int
    ) -> AssetShortlist:
        """The shortlist of ``count`` assets that :meth:`save` wrote: per stored descriptor its (asset, side)
        ``owner``, and the search read from ``matcher`` by memory map (None: no descriptor is stored)."""
        shortlist = cls([], [], params, vote_distance=vote_distance)
        shortlist._count, shortlist._owner, shortlist.mapped = count, owner, True
        if matcher is not None:
            shortlist._matcher = (read_mapped(matcher),)
        return shortlist

    def save(self, matcher: Path) -> npt.NDArray[np.int64]:
        """Write the search to ``matcher`` (nothing when no descriptor is stored) for :meth:`opened`; returns the
        owners to store beside it."""
        if self._matcher is not None:
            single_thread_faiss().write_index_binary(self._matcher[0], str(matcher))
        return self._owner

    def __len__(self) -> int:
        return self._count

    @property
    def stored(self) -> int:
        """Descriptors held (what the structure's memory is made of: 32 bytes each)."""
        return len(self._owner)

    def nearest(self, frame: Features) -> npt.NDArray[np.int64]:
        """For each of the frame's strongest ``vote_features`` descriptors, the (asset, side) ``2 * a + mirrored``
        its nearest stored descriptor belongs to, or -1 when none is within ``vote_distance``."""
        n = min(len(frame), self.params.vote_features)
        if self._matcher is None or n == 0:
            return np.full(n, -1, np.int64)
        dist, rows = search_binary(self._matcher[0], frame.descriptors[:n], 1)
        ok = (rows[:, 0] >= 0) & (dist[:, 0] <= self.vote_distance)
        return np.where(ok, self._owner[np.maximum(rows[:, 0], 0)], -1).astype(np.int64)

    def neighbours(self, descriptors: U8Array, k: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
        """For each of ``descriptors`` (any, not a frame's strongest only), its ``k`` nearest stored descriptors:
        their distances and the assets they belong to (either side), ``(len(descriptors), k)`` each; asset -1 where
        fewer were found (:mod:`~provenance.engine.generic`: what other assets share an asset's features)."""
        if self._matcher is None or not len(descriptors):
            return np.zeros((len(descriptors), k), np.int32), np.full((len(descriptors), k), -1, np.int64)
        dist, rows = search_binary(self._matcher[0], descriptors, k)
        assets = np.where(rows >= 0, self._owner[np.maximum(rows, 0)] // 2, -1)
        return dist.astype(np.int32), assets.astype(np.int64)

    def top(
        self, owners: npt.NDArray[np.int64], top_k: int, skip: Collection[tuple[int, bool]] = ()
    ) -> list[tuple[int, bool]]:
        """The ``top_k`` most voted ``(asset, mirrored)`` of :meth:`nearest`'s answer (or part of it), with at
        least one vote and not in ``skip``, most voted first."""
        votes = np.bincount(owners[owners >= 0], minlength=2 * self._count)
        for a, mirrored in skip:
            votes[2 * a + int(mirrored)] = 0
        order = np.argsort(-votes, kind="stable")[: max(0, top_k)]
        return [(int(i) // 2, bool(i % 2)) for i in order if votes[i] > 0]

    def shortlist(self, frame: Features, top_k: int) -> list[tuple[int, bool]]:
        """The ``top_k`` most voted ``(asset, mirrored)`` for one frame's features, most voted first."""
        return self.top(self.nearest(frame), top_k)
