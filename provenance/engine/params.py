"""The engine's parameters (one frozen dataclass, the documented recipe) and its versions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provenance.engine.features import LocalParams
from provenance.errors import check_ranges

__all__ = ["ENGINE_VERSION", "FINGERPRINT_VERSION", "EngineParams", "local_params"]

#: Bumped whenever matching changes in a way that changes results (stored clip results are keyed by it).
ENGINE_VERSION = "0.25"
#: Bumped whenever reference fingerprints change (stored fingerprints are keyed by it, and recomputed when it
#: moves); matching alone changing leaves them as they are.
FINGERPRINT_VERSION = "0.8"


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
    asset_frames: frames of a clip searched for registered assets, spread evenly over it (more in a longer clip: see
        ``asset_spacing_s``; a clip of fewer frames has them all searched).
    asset_spacing_s: a longer clip has a frame searched for assets every this many seconds at least, so that an
        asset shown for a few seconds of a long clip is in ``asset_min_frames`` of them (6 frames spread over a
        60 s compilation left one in a HUD's or an overlay's 6-8 s: never found).
    asset_top_k: asset sides (direct or mirrored) verified in a frame (ratio test, RANSAC) when the registry's
        assets found by their features have more sides than this: the most voted of a search over every
        asset's descriptors at once (:class:`~provenance.engine.assetshortlist.AssetShortlist`); with this many or
        fewer, every side of every asset is verified.
    asset_min_frames: frames an asset must be found in.
    asset_max_chroma: largest median chroma distance (YCrCb) between a found asset and the frame.
    owner_ratio: a local match with a ``ugc`` or ``stream`` reference counts for its holder only with at least
        this many times the inliers the same clip frame gives with another work's reference (measured on the
        engine benchmark's registry: unregistered maps of the same engine reach at most 1.39 times, through the
        status bar and textures all its maps share; copies of a registered map cut to defeat the hashes reach
        1.5-2.9 times in most of their frames).
    owner_hash_margin: a hash match with a ``ugc`` or ``stream`` reference counts for its holder only when it is
        at least this many bits closer than any other work's hash match of the same kind (whole picture, region,
        panel) of the same clip frame: half ``distance_margin`` (measured on the engine benchmark: an unregistered
        map's region matches tie another work's at 20 bits; in the frames of the community maps' copies and of
        the streamers' VOD cuts no other work matches by the same kind of hash).
    audio: match clips' sound against the registry's audio prints (audio references and footage soundtracks;
        :mod:`provenance.engine.audio`); False matches the picture only (``provenance scan --no-audio``): a song in
        a clip's sound is then not found, and the report's settings say ``"audio": false``.
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
    asset_spacing_s: float = 5.0
    asset_top_k: int = 8
    asset_min_frames: int = 2
    asset_max_chroma: float = 20.0
    owner_ratio: float = 1.5
    owner_hash_margin: int = 4
    audio: bool = True

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
            ("asset_top_k", 1 <= self.asset_top_k <= 10000),
            ("asset_spacing_s", 0.5 <= self.asset_spacing_s <= 3600),
            ("asset_min_frames", 1 <= self.asset_min_frames <= max(1, self.asset_frames)),
            ("asset_max_chroma", 0 <= self.asset_max_chroma <= 255),
            ("owner_ratio", 1.0 <= self.owner_ratio <= 10.0),
            ("owner_hash_margin", 0 <= self.owner_hash_margin <= 64),
        ]
        check_ranges(self, checks)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def local_params(params: EngineParams) -> LocalParams:
    """The local-feature parameters of the engine's settings."""
    return LocalParams(min_inliers=params.local_min_inliers, max_side=params.analysis_side)
