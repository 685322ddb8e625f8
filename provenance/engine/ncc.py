"""Masked normalised cross-correlation of prepared templates in a frame: the template search's inner loop
(:mod:`~provenance.engine.assets`)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["Image", "Template", "TemplateCache", "ncc"]

U8Array = npt.NDArray[np.uint8]
F32Array = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True, eq=False)
class Template:
    """A resized asset ready for correlation: the picture, and for a masked one the zero-mean picture inside
    the mask (``zero``), the mask as floats and its pixel count, and the norm of ``zero``."""

    picture: U8Array
    mask: npt.NDArray[np.float32] | None
    zero: npt.NDArray[np.float32] | None
    count: float
    norm: float

    @classmethod
    def of(cls, picture: U8Array, mask: U8Array) -> Template:
        if mask.all():
            return cls(picture, None, None, float(mask.size), 0.0)
        m = mask.astype(np.float32)
        count = float(m.sum())
        p = picture.astype(np.float32)
        zero = (p - float((p * m).sum()) / max(count, 1.0)) * m
        return cls(picture, m, np.ascontiguousarray(zero), count, float(np.sqrt((zero * zero).sum())))

    @property
    def shape(self) -> tuple[int, int]:
        h, w = self.picture.shape
        return h, w

    @property
    def nbytes(self) -> int:
        return self.picture.nbytes + sum(x.nbytes for x in (self.mask, self.zero) if x is not None)


class TemplateCache:
    """Prepared templates kept for the next search, for every asset of the process together: the least recently
    used are dropped once they hold more than ``limit`` bytes, so that memory stays bounded whatever the number of
    assets searched (one cache per detector grew with every asset and every frame size searched). Thread-safe."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: OrderedDict[Hashable, Template] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], Template]) -> Template:
        """The template kept under ``key``, else ``make()``'s, kept."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        made = make()
        with self._lock:
            if key not in self._entries:
                self._entries[key] = made
                self._bytes += made.nbytes
                while self._bytes > self.limit:
                    _, old = self._entries.popitem(last=False)
                    self._bytes -= old.nbytes
        return made

    @property
    def nbytes(self) -> int:
        """Bytes of the templates kept."""
        return self._bytes


class Image:
    """A frame (or part) searched with templates; its float copy and square made once for the masked ones."""

    def __init__(self, picture: U8Array) -> None:
        self.picture = np.ascontiguousarray(picture)
        self._floats: tuple[F32Array, F32Array] | None = None

    def floats(self) -> tuple[F32Array, F32Array]:
        if self._floats is None:
            f = self.picture.astype(np.float32)
            self._floats = (f, f * f)
        return self._floats


def ncc(image: Image, template: Template) -> tuple[float, tuple[int, int]]:
    """Best zero-mean normalised correlation of a prepared template in ``image``, over the template's opaque
    pixels when it has a mask.

    The masked correlation is that of OpenCV's ``TM_CCOEFF_NORMED`` with a mask, written as three plain
    correlations (the image with the zero-mean masked template, the image and its square with the mask):
    the same scores (checked against OpenCV's on real frames in the tests), a third to a quarter of the time.
    Windows where the image is flat under the mask (variance below one grey level) score 0.
    """
    th, tw = template.shape
    ih, iw = image.picture.shape
    if th > ih or tw > iw or th < 6 or tw < 6:
        return -1.0, (0, 0)
    if template.mask is None:
        res = cv2.matchTemplate(image.picture, template.picture, cv2.TM_CCOEFF_NORMED)
        res = np.nan_to_num(res, nan=-1.0, posinf=-1.0, neginf=-1.0)  # flat windows
    elif template.norm <= 0:
        return -1.0, (0, 0)  # a flat template correlates with nothing
    else:
        f, sq = image.floats()
        assert template.zero is not None
        num = cv2.matchTemplate(f, template.zero, cv2.TM_CCORR)
        s1 = cv2.matchTemplate(f, template.mask, cv2.TM_CCORR)
        s2 = cv2.matchTemplate(sq, template.mask, cv2.TM_CCORR)
        # in place, in the order of ``num / (sqrt(max(s2 - s1 * s1 / count, 1)) * norm)``: the same values
        var = s1 * s1
        var /= template.count
        np.subtract(s2, var, out=var)
        flat = var < template.count  # standard deviation under one grey level
        res = np.maximum(var, 1.0, out=var)
        np.sqrt(res, out=res)
        res *= template.norm
        np.divide(num, res, out=res)
        res[flat] = 0.0  # finite everywhere (the divisor is at least the template's norm): no NaN to clear
    _, mx, _, loc = cv2.minMaxLoc(res)
    return float(mx), (int(loc[0]), int(loc[1]))
