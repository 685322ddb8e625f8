"""Masked normalised cross-correlation of prepared templates in a frame: the template search's inner loop
(:mod:`~provenance.engine.assets`)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["Image", "Template", "TemplateCache", "ncc"]

U8Array = npt.NDArray[np.uint8]
F32Array = npt.NDArray[np.float32]
F64Array = npt.NDArray[np.float64]


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
    """A frame (or part) searched with templates; its float copy and square made once for the masked ones.

    ``many``: the image is searched with many templates (the coarse pass: every scale of an asset, both ways
    round), so :func:`ncc` correlates in the frequency domain: the image's spectra and window sums are made once
    and shared by every template, and each template costs one transform of itself and one back (see
    :func:`_spectral`)."""

    def __init__(self, picture: U8Array, many: bool = False) -> None:
        self.picture = np.ascontiguousarray(picture)
        self.many = many
        self._floats: tuple[F32Array, F32Array] | None = None
        self._spectra: dict[bool, F64Array] = {}  # squared? -> the DFT of the picture (or of its square)
        self._integrals: tuple[F64Array, F64Array] | None = None
        self._spreads: dict[tuple[int, int], F64Array] = {}  # (th, tw) -> :meth:`spread`

    def floats(self) -> tuple[F32Array, F32Array]:
        if self._floats is None:
            f = self.picture.astype(np.float32)
            self._floats = (f, f * f)
        return self._floats

    def spectrum(self, squared: bool = False) -> F64Array:
        """The DFT of the picture (``squared``: of its square) at the picture's own size, in OpenCV's packed form."""
        found = self._spectra.get(squared)
        if found is None:
            f = self.picture.astype(np.float64)
            found = self._spectra[squared] = np.asarray(cv2.dft(f * f if squared else f), np.float64)
        return found

    def spread(self, th: int, tw: int) -> F64Array:
        """One over the square root of the picture's variance sum (``sum(x^2) - sum(x)^2 / n``, at least 1) over
        every ``th`` x ``tw`` window (its top-left corner at each position where it fits), 0 where that is below
        ``n`` (a flat window: standard deviation under one grey level); from the picture's integral images, whose
        sums are exact (integers in doubles). Made once a window size (a template and its mirror image share it)."""
        found = self._spreads.get((th, tw))
        if found is None:
            if self._integrals is None:
                s, sq = cv2.integral2(self.picture, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
                self._integrals = (np.asarray(s, np.float64), np.asarray(sq, np.float64))
            s1, s2 = (a[th:, tw:] - a[:-th, tw:] - a[th:, :-tw] + a[:-th, :-tw] for a in self._integrals)
            found = self._spreads[(th, tw)] = _spread(s1, s2, float(th * tw))
        return found


def ncc(image: Image, template: Template) -> tuple[float, tuple[int, int]]:
    """Best zero-mean normalised correlation of a prepared template in ``image``, over the template's opaque
    pixels when it has a mask.

    The masked correlation is that of OpenCV's ``TM_CCOEFF_NORMED`` with a mask, written as three plain
    correlations (the image with the zero-mean masked template, the image and its square with the mask):
    the same scores (checked against OpenCV's on real frames in the tests), a third to a quarter of the time.
    Windows where the image is flat under the mask (variance below one grey level) score 0. An image searched
    with many templates (``Image(many=True)``) correlates through its shared spectra (:func:`_spectral`).
    """
    th, tw = template.shape
    ih, iw = image.picture.shape
    if th > ih or tw > iw or th < 6 or tw < 6:
        return -1.0, (0, 0)
    res: npt.NDArray[Any]
    if image.many:
        res = _spectral(image, template)
    elif template.mask is None:
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


def _correlate(image: Image, template: npt.NDArray[np.float64], squared: bool = False) -> F64Array:
    """``cv2.matchTemplate(picture, template, TM_CCORR)`` (of the picture's square when ``squared``) through the
    picture's shared DFT: the template zero-padded to the picture's size, its DFT times the picture's conjugated,
    transformed back. That is the circular correlation at the picture's size, equal to the plain one wherever the
    template fits (nothing wraps there), which is all that is kept."""
    ih, iw = image.picture.shape
    th, tw = template.shape
    padded = np.zeros((ih, iw), np.float64)
    padded[:th, :tw] = template
    product = cv2.mulSpectrums(image.spectrum(squared), cv2.dft(padded, nonzeroRows=th), 0, conjB=True)
    # only the rows where the template fits are transformed back (OpenCV's ``nonzeroRows`` of an inverse)
    back = cv2.idft(product, flags=cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE, nonzeroRows=ih - th + 1)
    return np.asarray(back[: ih - th + 1, : iw - tw + 1], np.float64)


def _spectral(image: Image, template: Template) -> F64Array:
    """The correlation map of :func:`ncc` computed through the image's shared spectra (in doubles): for a plain
    template, that of ``TM_CCOEFF_NORMED`` (the zero-mean template correlated, over the window's standard deviation
    from its sums) within ~1e-5 of OpenCV's (which correlates in floats); for a masked one, the masked formula of
    :func:`ncc`. Windows flat under the template (variance below one grey level) score 0, as in the masked one,
    where OpenCV's plain one divides their rounding noise by nearly nothing; a flat template scores -1 everywhere."""
    th, tw = template.shape
    if template.mask is None:
        t = template.picture.astype(np.float64)
        t -= t.mean()
        norm = float(np.sqrt((t * t).sum()))
        if norm <= 0:
            return np.full((image.picture.shape[0] - th + 1, image.picture.shape[1] - tw + 1), -1.0)
        res = _correlate(image, t)
        res *= image.spread(th, tw)
    else:
        if template.norm <= 0:
            return np.full((image.picture.shape[0] - th + 1, image.picture.shape[1] - tw + 1), -1.0)
        assert template.zero is not None
        mask = template.mask.astype(np.float64)
        res = _correlate(image, template.zero.astype(np.float64))
        res *= _spread(_correlate(image, mask), _correlate(image, mask, squared=True), template.count)
        norm = template.norm
    res /= norm
    return res


def _spread(s1: F64Array, s2: F64Array, count: float) -> F64Array:
    """``1 / sqrt(max(var, 1))`` for the variance sums ``var = s2 - s1^2 / count``; 0 where ``var < count``."""
    var = s1 * s1
    var /= count
    np.subtract(s2, var, out=var)
    flat = var < count
    np.maximum(var, 1.0, out=var)
    np.sqrt(var, out=var)
    np.divide(1.0, var, out=var)
    var[flat] = 0.0
    return var
