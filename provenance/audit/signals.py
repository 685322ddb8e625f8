"""Signals captured at collection time: the HTTP headers a crawler recorded with each clip (manifest columns,
WebDataset ``.json`` keys) and the per-domain snapshots a user provides (``--signals-dir``), read from files only:
nothing is fetched at scan.

``--signals-dir DIR`` holds one folder per domain, named as the host of the clips' ``source_url``
(``DIR/example.com/``; a clip from ``www.example.com`` also finds ``DIR/example.com``), with any of
``robots.txt``, ``ai.txt`` and ``.well-known/tdmrep.json`` (or ``tdmrep.json``). A snapshot's date is its file's
modification date. A snapshot that cannot be read or parsed is an ``unreadable`` signal (fail closed: the clip is
held back for a person to look), never skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from provenance.errors import ConfigError
from provenance.report import (
    Signal,
    SignalSource,
    SnapshotVerdict,
    ai_txt_verdict,
    content_usage,
    header_signals,
    robots_usage,
    robots_verdict,
    source_url,
    tdmrep_verdict,
)

log = logging.getLogger(__name__)

__all__ = ["SNAPSHOT_MAX_BYTES", "Snapshots", "collected_signals"]

#: Largest snapshot file read (robots.txt parsers stop at 500 KiB).
SNAPSHOT_MAX_BYTES = 512 * 1024

_FILES: tuple[tuple[SignalSource, str, tuple[str, ...]], ...] = (
    ("robots", "robots.txt", ("robots.txt",)),
    ("ai.txt", "ai.txt", ("ai.txt",)),
    ("tdmrep", "tdmrep.json", (".well-known/tdmrep.json", "tdmrep.json")),
)


@dataclass(slots=True)
class Snapshots:
    """The per-domain snapshots under ``root`` (read once per file)."""

    root: Path
    _cache: dict[Path, tuple[str | None, str | None, str | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.root.is_dir():
            raise ConfigError(f"--signals-dir {self.root}: not a folder")

    def domain_dir(self, host: str) -> Path | None:
        for name in (host, host.removeprefix("www.")):
            if name and "/" not in name and name not in (".", ".."):
                candidate = self.root / name
                if candidate.is_dir():
                    return candidate
        return None

    def read(self, path: Path) -> tuple[str | None, str | None, str | None]:
        """``(text, date, problem)`` of a snapshot file: text None when it is absent or unreadable."""
        if path not in self._cache:
            self._cache[path] = _read(path)
        return self._cache[path]


def _read(path: Path) -> tuple[str | None, str | None, str | None]:
    try:
        if not path.is_file():
            return None, None, None
        stat = path.stat()
        date = datetime.fromtimestamp(stat.st_mtime, UTC).date().isoformat()
        if stat.st_size > SNAPSHOT_MAX_BYTES:
            return None, date, f"over {SNAPSHOT_MAX_BYTES} bytes"
        return path.read_bytes().decode("utf-8-sig"), date, None
    except UnicodeDecodeError:
        return None, None, "not UTF-8 text"
    except OSError as exc:
        return None, None, exc.strerror or str(exc)


def _snapshot_signals(snapshots: Snapshots, url: str) -> list[Signal]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    folder = snapshots.domain_dir(host) if host else None
    if folder is None:
        return []
    path = unquote(parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    out: list[Signal] = []
    for source, kind, names in _FILES:
        for name in names:
            text, date, problem = snapshots.read(folder / name)
            if text is None and problem is None:
                continue
            where = f"{folder.name}/{name}"
            if problem is not None:
                out.append(_made(kind, "unreadable", source, "unreadable", date, f"{where}: {problem}"))
                break
            try:
                out += _judge(source, kind, text or "", path, date, where)
            except ValueError as exc:
                out.append(_made(kind, "unreadable", source, "unreadable", date, f"{where}: {exc}"))
            break
    return out


def _judge(source: SignalSource, kind: str, text: str, path: str, date: str | None, where: str) -> list[Signal]:
    verdict: SnapshotVerdict
    if source == "robots":
        verdict = robots_verdict(text, path)
        found: list[Signal] = []
        for value in robots_usage(text, path):
            effect = content_usage(value)
            if effect != "info":
                found.append(_made("Content-Usage", value, source, effect, date, f"{where} for {path}"))
        if verdict.reserves:
            found.append(_made(kind, "disallowed", source, "reserves", date, f"{where}: {verdict.detail}"))
        return found
    verdict = ai_txt_verdict(text, path) if source == "ai.txt" else tdmrep_verdict(text, path)
    if verdict.reserves is None:
        return []
    found = [
        _made(
            kind,
            "disallowed" if verdict.reserves else "allowed",
            source,
            "reserves" if verdict.reserves else "allows",
            date,
            f"{where}: {verdict.detail}",
        )
    ]
    if verdict.policy:
        found.append(_made("tdm-policy", verdict.policy, source, "info", date, where))
    return found


def _made(kind: str, value: str, source: SignalSource, effect: Any, date: str | None, detail: str) -> Signal:
    signal = Signal(kind=kind, value=value, source=source, effect=effect, detail=detail)
    if date:
        signal.date = date
    return signal


def collected_signals(metadata: Mapping[str, Any] | None, snapshots: Snapshots | None) -> list[Signal]:
    """The signals captured with a clip: its recorded headers, then its domain's snapshots for its URL's path."""
    found = header_signals(metadata)
    url = source_url(metadata)
    if snapshots is not None and url is not None:
        found += _snapshot_signals(snapshots, url)
    return found
