"""The matching engine: fingerprint references and clips, index the references, find them in clips.

Pure: paths and arrays in, fingerprints and matches out; it imports no database and no web framework. Matching a
clip is three steps (:mod:`provenance.engine.match`): fingerprint it (:mod:`~provenance.engine.prints`), find
candidates in the reference index (hashes: :mod:`~provenance.engine.hashsearch`; local features:
:mod:`~provenance.engine.localpass`), decide (:mod:`~provenance.engine.decide`, assets:
:mod:`~provenance.engine.assetpass`).
"""

from provenance.engine.match import WINDOW_FRAMES, match_clip
from provenance.engine.params import ENGINE_VERSION, FINGERPRINT_VERSION, EngineParams
from provenance.engine.references import FootagePrint, ReferenceIndex, fingerprint_footage, load_asset
from provenance.engine.results import AssetHit, ClipMatches, ReferenceMatch
from provenance.engine.sampling import decode_only, one_thread_per_process

__all__ = [
    "ENGINE_VERSION",
    "FINGERPRINT_VERSION",
    "WINDOW_FRAMES",
    "AssetHit",
    "ClipMatches",
    "EngineParams",
    "FootagePrint",
    "ReferenceIndex",
    "ReferenceMatch",
    "decode_only",
    "fingerprint_footage",
    "load_asset",
    "match_clip",
    "one_thread_per_process",
]
