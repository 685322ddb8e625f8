"""The frame type every engine stage passes along."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded, sampled frame.

    ``image`` is ``uint8``: shape ``(H, W)`` for grey or ``(H, W, 3)`` for RGB.
    ``t`` is the presentation time in seconds from the start of the stream,
    ``index`` the position of the frame in the sampled sequence (0, 1, 2...).
    ``colour``: an RGB copy ``(H, W, 3)`` of a grey frame, when the reader was asked for one
    (``colour_every``); None otherwise.
    """

    index: int
    t: float
    image: npt.NDArray[np.uint8]
    colour: npt.NDArray[np.uint8] | None = None

    @property
    def is_gray(self) -> bool:
        return self.image.ndim == 2
