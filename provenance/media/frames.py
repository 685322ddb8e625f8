"""What decoding gives: the :class:`Frame` every engine stage passes along, and the :class:`VideoReader`
protocol every decoder backend keeps (its contract: :mod:`provenance.media.decode`)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from provenance.media.probe import MediaInfo


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


@runtime_checkable
class VideoReader(Protocol):
    """An opened media file. Use as a context manager or call :meth:`close`.

    ``name`` is what messages call it (the path as given, or the source's name); ``path`` the plain
    file read, or for a source read through ``open()`` (a tar member) its name as a path. ``info`` is the
    probe's, without decoding a frame (:func:`~provenance.media.probe.probe` with ``first_frame=False``): its
    ``rotation`` is the stream's declared one, while frames are turned as their own display matrix says.
    """

    backend: str
    name: str
    path: Path
    info: MediaInfo
    warnings: list[str]
    anchors: bool

    def frames(
        self,
        fps: float | None = None,
        size: tuple[int, int] | None = None,
        gray: bool = True,
        keyframes_only: bool = False,
        colour_every: float = 0,
        anchors: bool = False,
    ) -> Iterator[Frame]:
        """Yield sampled frames; see the module docstring for the contract."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> VideoReader: ...

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None: ...


def colour_due(n: int, every: float) -> bool:
    """Whether the ``n``-th yielded frame (from 0) gets an RGB copy when one is asked every ``every`` frames: the
    frames ``ceil(j * every)`` for ``j = 0, 1, ...`` (every k-th for a whole ``k``; for a fractional step, spread as
    evenly as whole frames allow: 6 copies of 10 frames at 1.67 are frames 0, 2, 4, 5, 7, 9). 0: none."""
    if every <= 0:
        return False
    return n == 0 or math.floor(n / every + 1e-9) != math.floor((n - 1) / every + 1e-9)
