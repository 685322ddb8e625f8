"""The HTML page of a report with its thumbnails, for the CLI (``--html``) and the service (``?format=html``).

The report package renders a page from a report and two locators; this module knows where the files are: the
clips under the report's dataset (folders, WebDataset shards, manifests: :func:`provenance.dataset.sources.resolve`)
and the references where the registry imported them from.
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
from rightsdb.queries import reference_locations

log = logging.getLogger(__name__)

__all__ = ["clip_locator", "report_page"]


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
    return render_html(report, Thumbnailer(clip_locator(dataset), locations.get))
