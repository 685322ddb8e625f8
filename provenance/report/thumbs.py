"""Small frame thumbnails for the HTML audit report: a clip frame, a reference frame, an asset image.

A reviewer trusts a finding when they see it: the clip at the matched moment beside the registered
reference at the matched moment. :class:`Thumbnailer` gives those pictures as encoded bytes (JPEG for
frames, PNG for assets), at most ``max_side`` pixels on their longer side, turned the way a player shows
them (display-matrix rotation for videos, EXIF orientation for stills).

It is a best-effort helper for a report, not part of the audit: a missing, unreadable or truncated file
gives ``None`` (and a debug log line), never an exception, so one bad file cannot cost the whole report.

Seeking: ``container.seek`` to the key frame at or before ``t``, then decode forward to the first frame
whose time (from the stream start, as :mod:`provenance.decode` counts it) is ``>= t``; a ``t`` past the
last frame gives the last frame. Results are cached per (file, t).

Where a clip's bytes are: ``provenance.sources.resolve(dataset, clip)`` says, when that module is
importable (it knows folders, manifests and WebDataset tar shards). A member of a shard (``member`` in
the clip object, or ``source.member``) is read through the source's seekable ``open()``; without
:mod:`provenance.sources` such a clip has no thumbnail. A plain clip falls back to ``dataset / path``.
"""

from __future__ import annotations

import importlib
import io
import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

from provenance.media.probe import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

__all__ = ["ReferenceLocator", "Thumbnailer"]

#: JPEG quality of frame thumbnails: small files, artefacts a reviewer does not notice at 320 px.
JPEG_QUALITY = 80
#: Side of the checker squares that show through an asset's transparent pixels.
CHECKER = 8

ReferenceLocator = Callable[[str], Path | None]


class Thumbnailer:
    """Encoded thumbnails of clip frames, reference frames and assets, cached per (file, time).

    ``dataset`` is the scanned folder (clip paths in the report are relative to it);
    ``reference_locator`` maps a reference path as the report names it (relative to its manifest) to the
    file, or ``None`` when it is not known.
    """

    def __init__(self, dataset: Path, reference_locator: ReferenceLocator, max_side: int = 320) -> None:
        if max_side < 16:
            raise ValueError(f"max_side must be >= 16, got {max_side}")
        self.dataset = Path(dataset)
        self.reference_locator = reference_locator
        self.max_side = max_side
        self._cache: dict[tuple[str, float], bytes | None] = {}

    # ------------------------------------------------------------------ public

    def clip_frame(self, clip: Mapping[str, Any], t: float) -> bytes | None:
        """JPEG of the clip's frame at ``t`` seconds, or ``None`` when it cannot be read."""
        path = clip.get("path")
        if not isinstance(path, str) or not path or not _finite(t):
            return None
        member = _member(clip)
        if member:
            return self._cached(f"member:{path}#{member}", t, lambda: self._member_frame(clip, member, t))
        file = self._clip_file(clip, path)
        return self._cached(f"file:{file}", t, lambda: self._frame(file, t))

    def reference_frame(self, ref_path: str, t: float) -> bytes | None:
        """JPEG of a footage reference's frame at ``t`` seconds, or ``None``."""
        file = self._locate(ref_path)
        if file is None or not _finite(t):
            return None
        return self._cached(f"file:{file}", t, lambda: self._frame(file, t))

    def asset(self, ref_path: str) -> bytes | None:
        """PNG of an asset reference (transparent parts shown on a grey checker), or ``None``."""
        file = self._locate(ref_path)
        if file is None:
            return None
        return self._cached(f"asset:{file}", 0.0, lambda: self._asset(file))

    # ------------------------------------------------------------------ internals

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

    def _clip_file(self, clip: Mapping[str, Any], path: str) -> Path:
        """The plain file of a clip: as :mod:`provenance.sources` resolves it (manifests too), else under dataset."""
        sources = _sources()
        if sources is not None:
            try:
                local = sources.resolve(self.dataset, clip).local_file  # a property: the file, or None
            except Exception as exc:  # unresolvable here: the plain join below still may be right
                log.debug("cannot resolve clip %s: %s", path, exc)
            else:
                if local is not None:
                    return Path(local)
        return self.dataset / path

    def _member_frame(self, clip: Mapping[str, Any], member: str, t: float) -> bytes | None:
        sources = _sources()
        if sources is None:
            return None
        source = sources.resolve(self.dataset, {**clip, "member": member})
        with source.open() as fileobj:
            if Path(member).suffix.lower() in IMAGE_SUFFIXES:
                return self._still(fileobj)
            return self._video_frame(fileobj, t)

    def _frame(self, file: Path, t: float) -> bytes | None:
        if not file.is_file():
            return None
        if file.suffix.lower() in IMAGE_SUFFIXES:
            return self._still(file)
        return self._video_frame(str(file), t)

    def _still(self, source: Path | IO[bytes]) -> bytes:
        with Image.open(source) as src:
            im = ImageOps.exif_transpose(src).convert("RGB")
        return self._jpeg(im)

    def _video_frame(self, source: str | IO[bytes], t: float) -> bytes | None:
        img = _decode_at(source, max(0.0, t), self.max_side)
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


def _sources() -> Any:
    """:mod:`provenance.sources` when it is there (it is optional for thumbnails), else None."""
    try:
        return importlib.import_module("provenance.dataset.sources")
    except ImportError:
        return None


def _member(clip: Mapping[str, Any]) -> str | None:
    """The tar member a clip is, from ``member`` or ``source.member`` (the report has used both)."""
    member = clip.get("member")
    source = clip.get("source")
    if not member and isinstance(source, Mapping):
        member = source.get("member")
    return member if isinstance(member, str) and member else None


def _rotate(img: npt.NDArray[np.uint8], rotation: int) -> npt.NDArray[np.uint8]:
    """Turn a frame as its display matrix says (FFmpeg's convention, as :mod:`provenance.decode` does)."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(img, k)) if k else img


def _finite(t: object) -> bool:
    return isinstance(t, int | float) and math.isfinite(t)


def _checker(size: tuple[int, int]) -> Image.Image:
    """Light and mid grey squares: transparency a reviewer recognises at a glance."""
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w]
    light = ((xs // CHECKER + ys // CHECKER) % 2 == 0)
    grey = np.where(light, 204, 153).astype(np.uint8)
    rgba = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    return Image.fromarray(rgba, "RGBA")


def _scaled_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Stored size to decode to: the longer side at most ``max_side`` (rotation keeps the longer side)."""
    scale = min(1.0, max_side / max(width, height, 1))
    w = max(2, round(width * scale))
    h = max(2, round(height * scale))
    return w, h


def _decode_at(source: str | IO[bytes], t: float, max_side: int) -> npt.NDArray[np.uint8] | None:
    """RGB frame at ``t`` s from the stream start (first frame with time >= t; the last one if none)."""
    import av

    with av.open(source, mode="r") as container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        tb = float(stream.time_base) if stream.time_base else 0.0
        start = int(stream.start_time) if stream.start_time is not None else None
        if start is not None and tb > 0 and t > 0:  # without a known start, times count from the first frame
            container.seek(start + int(t / tb), stream=stream)
        best: Any = None
        t0: float | None = start * tb if start is not None and tb > 0 else None
        frames = container.decode(stream)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                break
            except (av.error.FFmpegError, OSError, ValueError):  # damaged further on: keep what decoded
                if best is None:
                    raise
                break
            if frame.pts is not None and tb > 0:
                t_abs = float(frame.pts) * tb
                t0 = t_abs if t0 is None else t0
                ft = t_abs - t0
            else:  # no timestamps: take the first frame that decodes
                ft = math.inf
            best = frame
            if ft + 1e-6 >= t:
                break
        if best is None:
            return None
        rot = round(float(getattr(best, "rotation", 0) or 0)) % 360
        w, h = _scaled_size(best.width, best.height, max_side)
        img = best.reformat(width=w, height=h, format="rgb24").to_ndarray()
        return _rotate(np.ascontiguousarray(img, dtype=np.uint8), rot)

