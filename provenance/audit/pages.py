"""The HTML page of a report with its thumbnails, for the CLI (``--html``) and the service (``?format=html``).

The report package renders a page from a report and two locators; this module knows where the files are: the
clips under the report's dataset (folders, WebDataset shards, manifests: :func:`provenance.dataset.sources.resolve`)
and the references where the registry imported them from. A reference from a rights pack has no file: its
pictures are the pack's evidence thumbnails (the one nearest the matched moment), or a note that the pack holds
no footage (:class:`PackThumbnailer`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from provenance.dataset import resolve
from provenance.media import MediaSource
from provenance.report import Clip, Report, Thumbnailer, render_html
from rightsdb import Registry
from rightsdb.packs import pack_reference_contents, stored_thumbnails
from rightsdb.queries import reference_locations

log = logging.getLogger(__name__)

__all__ = ["NO_PACK_FOOTAGE", "PackThumbnailer", "clip_locator", "report_page"]

#: The note for a rights-pack reference without a thumbnail of its own.
NO_PACK_FOOTAGE = (
    "No thumbnail: this reference comes from a rights pack, which holds no footage (the holder shared "
    "fingerprints only; a pack made with --thumbnails shows small frames here)."
)


def clip_locator(dataset: Path) -> Callable[[Clip | Mapping[str, Any]], Path | MediaSource]:
    """Where a report clip (a :class:`Clip`, or a clip object as JSON has it) of ``dataset`` is: its source as
    the dataset resolves it (a file, or a member of a tar shard), else the plain file ``dataset / path``."""

    def locate(clip: Clip | Mapping[str, Any]) -> Path | MediaSource:
        data = clip.to_dict() if isinstance(clip, Clip) else clip
        try:
            source = resolve(dataset, data)
        except Exception as exc:  # unresolvable here (moved, or an old report): the plain join still may be right
            path = data.get("path")
            if not isinstance(path, str):
                raise
            log.debug("cannot resolve clip %s: %s", path, exc)
            return dataset / path
        return source.local_file or source

    return locate


def report_page(report: Report, registry: Registry | None) -> str:
    """The report's HTML page with thumbnails: clips read from the report's dataset, references from where the
    registry has them (none without a registry: the page says they are missing)."""
    locations = reference_locations(registry) if registry is not None else {}
    dataset = Path(report.scan.dataset if report.scan is not None else ".")
    packed = pack_reference_contents(registry) if registry is not None else {}
    if packed and registry is not None:
        return render_html(report, PackThumbnailer(clip_locator(dataset), locations.get, registry, packed))
    return render_html(report, Thumbnailer(clip_locator(dataset), locations.get))


class PackThumbnailer(Thumbnailer[Clip]):
    """Thumbnails as :class:`Thumbnailer`'s, except for references from rights packs (``packed``: report path ->
    content sha256): the pack's stored thumbnail nearest the moment asked for, or none with
    :data:`NO_PACK_FOOTAGE` as the note. Never raises."""

    def __init__(
        self,
        clip_locator: Callable[[Clip], Path | MediaSource | None],
        reference_locator: Callable[[str], Path | None],
        registry: Registry,
        packed: dict[str, str],
    ) -> None:
        super().__init__(clip_locator, reference_locator)
        self.packed = packed
        self._stored: dict[str, list[tuple[float, bytes]]] | None = None
        self._registry = registry

    def _pictures(self, ref_path: str) -> list[tuple[float, bytes]]:
        if self._stored is None:
            try:
                self._stored = stored_thumbnails(self._registry, set(self.packed.values()))
            except Exception as exc:  # the database gone: pictures missing, the page still written
                log.debug("no pack thumbnails: %s", exc)
                self._stored = {}
        return self._stored.get(self.packed[ref_path], [])

    def reference_frame(self, ref_path: str, t: float) -> bytes | None:
        if ref_path not in self.packed:
            return super().reference_frame(ref_path, t)
        pictures = self._pictures(ref_path)
        if not pictures or not isinstance(t, int | float) or t != t:
            return None
        at, jpeg = min(pictures, key=lambda p: abs(p[0] - float(t)))
        if abs(at - float(t)) < 0.05:
            return jpeg
        try:  # the pack's frame nearest the moment: it says which moment it shows
            return _labelled(jpeg, f"pack frame at {at:.2f} s")
        except Exception as exc:  # a picture that cannot be labelled is not shown as another moment's
            log.debug("cannot label a pack thumbnail of %s: %s", ref_path, exc)
            return None

    def asset(self, ref_path: str) -> bytes | None:
        if ref_path not in self.packed:
            return super().asset(ref_path)
        pictures = self._pictures(ref_path)
        return pictures[0][1] if pictures else None

    def reference_note(self, ref_path: str) -> str | None:
        return NO_PACK_FOOTAGE if ref_path in self.packed else None


def _labelled(jpeg: bytes, text: str) -> bytes:
    """The JPEG with ``text`` on a dark strip along its bottom edge."""
    import io

    from PIL import Image, ImageDraw

    with Image.open(io.BytesIO(jpeg)) as src:
        im = src.convert("RGB")
    draw = ImageDraw.Draw(im)
    height = 14
    draw.rectangle((0, im.height - height, im.width, im.height), fill=(0, 0, 0))
    draw.text((4, im.height - height + 2), text, fill=(255, 255, 255))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=80)
    return buf.getvalue()
