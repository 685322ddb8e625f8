"""The engine's hasher, its regions, which clip region may match which reference region, and what a match
of each pair says.

Every sampled frame is hashed as a whole picture, its quadrants and centre crops (the regions of
:data:`~provenance.engine.fingerprint.regions.DEFAULT_REGIONS`, in :data:`REGIONS` order); a clip's panel (a
picture pasted inside it) is hashed as one more region, :data:`PANEL`. A pair of regions is compatible when it
can show the same picture: the same region, the clip's whole frame (or a panel) against a reference's centre 90 % or
70 % (a cropped re-upload), or the clip's whole frame against its centre 50 % or a quadrant (a re-upload zoomed 2x
into the middle or a corner of the picture). The references' region hashes are kept anyway; without these pairs
such copies were left to local features, whose votes come from keypoints spread over the reference's whole frame: of
nine copies of three Doom maps (centre, top-left and bottom-right quarters), three were found, two of them over part
of their span; with them all nine are, each over its whole span.
"""

from __future__ import annotations

import numpy as np

from provenance.engine.fingerprint import GridHasher
from provenance.engine.fingerprint.regions import DEFAULT_REGIONS

__all__ = [
    "CENTER70",
    "CENTER70_ONLY",
    "COMPAT_TABLE",
    "COMPOSITION",
    "COMPOSITION_TABLE",
    "FULL_PICTURE",
    "FULL_TABLE",
    "HASHER",
    "PANEL",
    "REGIONS",
    "WHOLE",
    "WHOLE_ONLY",
]

#: The frame hasher of references and clips alike (registered as ``pdq-grid``).
HASHER = GridHasher()
REGIONS = tuple(DEFAULT_REGIONS)
WHOLE = REGIONS.index("whole")
#: (clip region, reference region) pairs that may match: same region, a crop, or a 2x zoom (centre or a corner).
COMPATIBLE = {(i, i) for i in range(len(REGIONS))} | {
    (WHOLE, REGIONS.index("center90")),
    (WHOLE, REGIONS.index("center70")),
    (WHOLE, REGIONS.index("center50")),
    (WHOLE, REGIONS.index("top_left")),
    (WHOLE, REGIONS.index("top_right")),
    (WHOLE, REGIONS.index("bottom_left")),
    (WHOLE, REGIONS.index("bottom_right")),
}
#: A clip's panel (a picture pasted inside it: picture-in-picture, a layout's game box) is hashed as a
#: whole picture: it may match a reference's whole frame or its centre crops.
CENTER70 = REGIONS.index("center70")
PANEL = len(REGIONS)
COMPATIBLE |= {(PANEL, WHOLE), (PANEL, REGIONS.index("center90")), (PANEL, REGIONS.index("center70"))}
#: Clip regions that hold a whole picture (matched within ``max_distance``; others within the stricter
#: ``region_max_distance``).
FULL_PICTURE = {WHOLE, PANEL}
#: Pairs that show a whole composition (a streamer's layout counts only through these).
COMPOSITION = {(q, rr) for q in FULL_PICTURE for rr in (WHOLE, REGIONS.index("center90"), REGIONS.index("center70"))}

#: lookup tables over (clip region, reference region): compatible pairs, composition pairs; full-picture regions
COMPAT_TABLE = np.zeros((len(REGIONS) + 1, len(REGIONS)), bool)
COMPOSITION_TABLE = np.zeros_like(COMPAT_TABLE)
for _q, _r in COMPATIBLE:
    COMPAT_TABLE[_q, _r] = True
for _q, _r in COMPOSITION:
    COMPOSITION_TABLE[_q, _r] = True
FULL_TABLE = np.array([q in FULL_PICTURE for q in range(len(REGIONS) + 1)])

#: The whole picture only (panels: a picture pasted inside the frame).
WHOLE_ONLY = {"whole": DEFAULT_REGIONS["whole"]}
#: The centre 70 % (a local-feature match warped back into its reference's geometry).
CENTER70_ONLY = {"center70": DEFAULT_REGIONS["center70"]}
