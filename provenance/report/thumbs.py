"""Small frame thumbnails for the HTML audit report: a clip frame, a reference frame, an asset image, and for
an audio match the spectrograms of the clip's and the reference's sound (:mod:`provenance.report.spectro`).

A reviewer trusts a finding when they see it: the clip at the matched moment beside the registered
reference at the matched moment. :class:`Thumbnailer` gives those pictures as encoded bytes (JPEG for
frames, PNG for assets), at most ``max_side`` pixels on their longer side, turned the way a player shows
them (display-matrix rotation for videos, EXIF orientation for stills).

It is a best-effort helper for a report, not part of the audit: a missing, unreadable or truncated file
gives ``None`` (and a debug log line), never an exception, so one bad file cannot cost the whole report.

Frames come from :func:`provenance.media.frame_at` (one seek, then decoding forward to the frame shown at
``t``); results are cached per (file, t).

Where a clip's bytes are, the caller says, as where a reference's are: a *clip locator* maps a report clip to
its file or to a media source (a member of a WebDataset tar shard, read through its seekable ``open()``), e.g.
``lambda clip: provenance.dataset.sources.resolve(root, clip)`` (see :func:`provenance.audit.pages.clip_locator`).
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import IO, Generic, TypeVar

import numpy as np
from PIL import Image, ImageOps

from provenance.media import IMAGE_SUFFIXES, MediaSource, frame_at
from provenance.report.spectro import spectrogram_png

log = logging.getLogger(__name__)

__all__ = ["THUMBNAIL_SIDE", "ClipLocator", "ReferenceLocator", "Thumbnailer"]

#: Longer side of thumbnails: shown at up to 320 px in the page, and enlarged on a click.
THUMBNAIL_SIDE = 480
#: JPEG quality of frame thumbnails: small files, artefacts a reviewer does not notice at this size.
JPEG_QUALITY = 80
#: Side of the checker squares that show through an asset's transparent pixels.
CHECKER = 8

#: A reference path as the report names it (relative to its manifest) -> the file, or ``None`` when not known.
ReferenceLocator = Callable[[str], Path | None]

ClipT = TypeVar("ClipT", contravariant=True)
#: A report clip -> its file, or a media source (``name``, ``suffix``, ``open()``, maybe ``local_file``), or
#: ``None`` when not known.
ClipLocator = Callable[[ClipT], Path | MediaSource | None]


class Thumbnailer(Generic[ClipT]):
    """Encoded thumbnails of clip frames, reference frames and assets, cached per (file, time).

    ``clip_locator`` finds a clip of the report (whatever the caller's clips are: the renderer passes the
    report's :class:`~provenance.report.model.Clip` objects); ``reference_locator`` a reference by the path the
    report names it by. A locator that raises counts as one that does not know.
    """

    def __init__(
        self, clip_locator: ClipLocator[ClipT], reference_locator: ReferenceLocator, max_side: int = THUMBNAIL_SIDE
    ) -> None:
        if max_side < 16:
            raise ValueError(f"max_side must be >= 16, got {max_side}")
        self.clip_locator = clip_locator
        self.reference_locator = reference_locator
        self.max_side = max_side
        self._cache: dict[tuple[str, float], bytes | None] = {}

    # ------------------------------------------------------------------ public

    def clip_frame(self, clip: ClipT, t: float) -> bytes | None:
        """JPEG of the clip's frame at ``t`` seconds, or ``None`` when it cannot be read."""
        if not _finite(t):
            return None
        source = self._locate_clip(clip)
        if source is None:
            return None
        if isinstance(source, Path):
            return self._file_frame(source, t)
        local = getattr(source, "local_file", None)  # a source that is a plain file is read by path
        if local is not None:
            return self._file_frame(Path(local), t)
        return self._cached(f"source:{source.name}", t, lambda: self._source_frame(source, t))

    def reference_frame(self, ref_path: str, t: float) -> bytes | None:
        """JPEG of a footage reference's frame at ``t`` seconds, or ``None``."""
        file = self._locate(ref_path)
        if file is None or not _finite(t):
            return None
        return self._file_frame(file, t)

    def clip_spectrogram(self, clip: ClipT, t: float) -> bytes | None:
        """PNG of the clip's sound around ``t`` seconds (a spectrogram), or ``None`` when it cannot be read."""
        source = self._locate_clip(clip)
        if source is None or not _finite(t):
            return None
        name = str(source) if isinstance(source, Path) else f"source:{source.name}"
        return self._cached(f"spectro:{name}", t, lambda: spectrogram_png(source, t))

    def reference_spectrogram(self, ref_path: str, t: float) -> bytes | None:
        """PNG of a reference's sound around ``t`` seconds (a spectrogram), or ``None``."""
        file = self._locate(ref_path)
        if file is None or not _finite(t) or not file.is_file():
            return None
        return self._cached(f"spectro:{file}", t, lambda: spectrogram_png(file, t))

    def asset(self, ref_path: str) -> bytes | None:
        """PNG of an asset reference (transparent parts shown on a grey checker), or ``None``."""
        file = self._locate(ref_path)
        if file is None:
            return None
        return self._cached(f"asset:{file}", 0.0, lambda: self._asset(file))

    def reference_note(self, ref_path: str) -> str | None:
        """Why a reference has no picture, when this thumbnailer knows better than "file not found" (e.g. a
        reference from a rights pack, which holds no footage); ``None`` here."""
        return None

    # ------------------------------------------------------------------ internals

    def _locate_clip(self, clip: ClipT) -> Path | MediaSource | None:
        try:
            return self.clip_locator(clip)
        except Exception as exc:  # a locator bug (or a clip it cannot place) must not cost the report
            log.debug("clip locator failed for %r: %s", clip, exc)
            return None

    def _locate(self, ref_path: str) -> Path | None:
        try:
            found = self.reference_locator(ref_path)
        except Exception as exc:  # a locator bug must not cost the report
            log.debug("reference locator failed for %s: %s", ref_path, exc)
            return None
        return Path(found) if found is not None else None

    def _cached(self, key: str, t: float, make: Callable[[], bytes | None]) -> bytes | None:
        k = (key, round(float(t), 3))
        if k not in self._cache:
            try:
                self._cache[k] = make()
            except Exception as exc:  # never raise out of the Thumbnailer: a bad file is a missing picture
                log.debug("no thumbnail for %s at %.3fs: %s: %s", key, t, type(exc).__name__, exc)
                self._cache[k] = None
        return self._cache[k]

    def _file_frame(self, file: Path, t: float) -> bytes | None:
        return self._cached(f"file:{file}", t, lambda: self._frame(file, t))

    def _source_frame(self, source: MediaSource, t: float) -> bytes | None:
        if source.suffix in IMAGE_SUFFIXES:
            with source.open() as fileobj:
                return self._still(fileobj)
        return self._video_frame(source, t)

    def _frame(self, file: Path, t: float) -> bytes | None:
        if not file.is_file():
            return None
        if file.suffix.lower() in IMAGE_SUFFIXES:
            return self._still(file)
        return self._video_frame(file, t)

    def _still(self, source: Path | IO[bytes]) -> bytes:
        with Image.open(source) as src:
            im = ImageOps.exif_transpose(src).convert("RGB")
        return self._jpeg(im)

    def _video_frame(self, source: Path | MediaSource, t: float) -> bytes | None:
        img = frame_at(source, max(0.0, t), self.max_side)
        return None if img is None else self._jpeg(Image.fromarray(img))

    def _asset(self, file: Path) -> bytes | None:
        if not file.is_file():
            return None
        with Image.open(file) as src:
            im = ImageOps.exif_transpose(src).convert("RGBA")
        im.thumbnail((self.max_side, self.max_side), Image.Resampling.LANCZOS)
        out = _checker(im.size)
        out.alpha_composite(im)
        buf = io.BytesIO()
        out.convert("RGB").save(buf, format="PNG", optimize=True)
        return buf.getvalue()

    def _jpeg(self, im: Image.Image) -> bytes:
        if max(im.size) > self.max_side:
            im = im.copy()
            im.thumbnail((self.max_side, self.max_side), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=JPEG_QUALITY)
        return buf.getvalue()


def _finite(t: object) -> bool:
    return isinstance(t, int | float) and math.isfinite(t)


def _checker(size: tuple[int, int]) -> Image.Image:
    """Light and mid grey squares: transparency a reviewer recognises at a glance."""
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w]
    light = (xs // CHECKER + ys // CHECKER) % 2 == 0
    grey = np.where(light, 204, 153).astype(np.uint8)
    rgba = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    return Image.fromarray(rgba, "RGBA")
