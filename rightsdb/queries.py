"""Read queries the service (and other tools) run on the registry: holders, works, stored findings.

Pagination is by keyset: a page is the rows after an id, in id order, so a page never repeats or skips
rows when others are added meanwhile.
"""

from __future__ import annotations

import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from ._errors import NotFoundError, StoreError
from .exports import policy_dict
from .models import ClipResult, Holder, PolicyChange, Reference, Work
from .store import Registry

__all__ = [
    "FindingFilter",
    "FindingReader",
    "WorkDetail",
    "find_findings",
    "finding_dict",
    "get_work",
    "holder_dict",
    "list_holders",
    "list_works",
    "policy_history",
    "reference_locations",
    "stored_results",
    "work_detail",
    "work_dict",
]


def holder_dict(h: Holder) -> dict[str, Any]:
    return {
        "id": h.id,
        "name": h.name,
        "kind": h.kind,
        "created_at": h.created_at.isoformat(),
        "updated_at": h.updated_at.isoformat(),
    }


def work_dict(w: Work, refs: list[Reference]) -> dict[str, Any]:
    return {
        "id": w.id,
        "title": w.title,
        "holder": w.holder_id,
        "layer": w.layer,
        "policy": policy_dict(w),
        "references": [
            {
                "path": r.path,
                "kind": r.kind,
                "sha256": r.sha256,
                "media_kind": r.media_kind,
                "width": r.width,
                "height": r.height,
                "duration_s": r.duration_s,
            }
            for r in sorted(refs, key=lambda r: r.path)
        ],
        "created_at": w.created_at.isoformat(),
        "updated_at": w.updated_at.isoformat(),
    }


def list_holders(registry: Registry, holder_id: str | None = None) -> list[dict[str, Any]]:
    """Every holder (or only ``holder_id``), by id."""
    with registry.session() as session:
        q = select(Holder).order_by(col(Holder.id))
        if holder_id is not None:
            q = q.where(Holder.id == holder_id)
        return [holder_dict(h) for h in session.exec(q).all()]


def list_works(registry: Registry, holder_id: str | None = None, layer: str | None = None) -> list[dict[str, Any]]:
    """Every work (optionally of one holder, in one layer) with its policy and references, by id."""
    with registry.session() as session:
        q = select(Work).order_by(col(Work.id))
        if holder_id is not None:
            q = q.where(Work.holder_id == holder_id)
        if layer is not None:
            q = q.where(Work.layer == layer)
        works = session.exec(q).all()
        ids = [w.id for w in works]
        refs: dict[str, list[Reference]] = {}
        if ids:
            for r in session.exec(select(Reference).where(col(Reference.work_id).in_(ids))).all():
                refs.setdefault(r.work_id, []).append(r)
        return [work_dict(w, refs.get(w.id, [])) for w in works]


def get_work(registry: Registry, work_id: str) -> dict[str, Any]:
    """One work; :class:`NotFoundError` when there is none."""
    with registry.session() as session:
        w = session.get(Work, work_id)
        if w is None:
            raise NotFoundError(f"work: no work with id {work_id!r}")
        refs = list(session.exec(select(Reference).where(Reference.work_id == work_id)).all())
        return work_dict(w, refs)


@dataclass(frozen=True, slots=True)
class WorkDetail:
    """One work as stored, with its holder (None if the row is gone) and its references, by path."""

    work: Work
    holder: Holder | None
    references: list[Reference]


def work_detail(registry: Registry, work_id: str) -> WorkDetail | None:
    """One work with its holder and references (the CLI's ``registry show``); None when there is no such work."""
    with registry.session() as session:
        work = session.get(Work, work_id)
        if work is None:
            return None
        holder = session.get(Holder, work.holder_id)
        refs = session.exec(select(Reference).where(Reference.work_id == work_id).order_by(col(Reference.path))).all()
        return WorkDetail(work, holder, list(refs))


def reference_locations(registry: Registry) -> dict[str, Path]:
    """Where each reference's file is, by the path manifests name it by (of references sharing a path, the
    first imported)."""
    locations: dict[str, Path] = {}
    with registry.session() as session:
        for ref in session.exec(select(Reference).order_by(col(Reference.id))).all():
            locations.setdefault(ref.path, Path(ref.location))
    return locations


def policy_history(registry: Registry, work_id: str) -> list[dict[str, Any]]:
    """The changes of a work's terms, oldest first."""
    with registry.session() as session:
        rows = session.exec(
            select(PolicyChange).where(PolicyChange.work_id == work_id).order_by(col(PolicyChange.id))
        ).all()
    return [
        {
            "id": r.id,
            "work": r.work_id,
            "actor": r.actor,
            "changed_at": r.changed_at.isoformat(),
            "before": r.before,
            "after": r.after,
        }
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class FindingFilter:
    """Which findings to list; ``scan`` is a scan id or a scan job's id (the scan that job ran)."""

    holder: str | None = None
    work: str | None = None
    layer: str | None = None
    exposure: str | None = None
    scan: str | None = None


_FINDINGS_SELECT = (
    "SELECT f.id, c.scan_id, c.path, c.sha256, c.exposure, c.duration_s, f.layer, f.holder_id, f.work_id, "
    "f.ai_training, f.confidence, CAST(f.segments AS TEXT), f.modality "
    "FROM findings f JOIN clip_results c ON c.id = f.clip_id"
)
#: (parameter, condition with ``{name}`` for the parameter's placeholder); a scan job's id stands for its scan
_FINDINGS_WHERE = (
    ("holder", "f.holder_id = {holder}"),
    ("work", "f.work_id = {work}"),
    ("layer", "f.layer = {layer}"),
    ("exposure", "c.exposure = {exposure}"),
    ("scan", "c.scan_id = COALESCE((SELECT j.scan_id FROM scan_jobs j WHERE j.id = {scan}), {scan})"),
    ("after", "f.id > {after}"),
)


class FindingReader:
    """Pages of stored findings for a busy caller (the service's hot path).

    One plain SQL statement per page, its text made once per combination of filters; run on a DB-API
    connection each thread keeps (no ORM, no pool checkout, no transaction around a single ``SELECT``: the
    connection is in autocommit mode). A connection that fails (the server restarted...) is replaced and the
    query tried once more, as the pool's pre-ping would; a second failure is a :class:`StoreError`.

    On SQLite a page may also be read *at once* (:meth:`page_now`) on the calling thread, which then never waits:
    its connection does not wait for locks and a query is interrupted past a small time budget; the caller
    reads such a page with :meth:`page` on a thread that may wait. (An event loop thus skips the hop to a
    thread for the common page, a tenth of a millisecond of work, and is never held up by a slow one.)

    Thread-safe; :meth:`close` closes every connection it opened.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        #: :meth:`page_now` may answer (SQLite: a local file, no round trips)
        self.reads_at_once = registry.dialect == "sqlite"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[Any] = []
        self._closed = False
        self._statements: dict[tuple[str, ...], str] = {}
        placeholder = ":{}" if registry.dialect == "sqlite" else "%({})s"  # sqlite3 named, psycopg pyformat
        self._placeholders = {name: placeholder.format(name) for name, _ in _FINDINGS_WHERE}
        self._limit = placeholder.format("limit")
        self._dbapi_error: type[Exception] = registry.engine.dialect.loaded_dbapi.Error

    def page(self, flt: FindingFilter, after: int | None, limit: int) -> tuple[list[dict[str, Any]], int | None]:
        """Findings matching ``flt`` with ids above ``after``, by id, as :func:`finding_dict` gives them;
        returns the page and the id to continue after (None on the last page)."""
        sql, params = self._query(flt, after, limit)
        try:
            rows = self._fetch("conn", sql, params)
        except self._dbapi_error:
            self._drop("conn")
            try:
                rows = self._fetch("conn", sql, params)
            except self._dbapi_error as exc:
                self._drop("conn")
                raise StoreError(f"findings query on {self.registry!r} failed: {_first_line(exc)}") from exc
        return self._page(rows, limit)

    def page_now(
        self, flt: FindingFilter, after: int | None, limit: int, budget: float = 0.002
    ) -> tuple[list[dict[str, Any]], int | None] | None:
        """The page as :meth:`page` gives it, read on this thread without waiting: None when it cannot be (not
        SQLite, the database is locked by a writer, the query needs more than ``budget`` seconds of CPU, or any
        database error: :meth:`page` then reads it, waits, retries or reports)."""
        if not self.reads_at_once:
            return None
        sql, params = self._query(flt, after, limit)
        try:
            conn = getattr(self._local, "now", None) or self._connect("now")
            deadline = time.thread_time() + budget  # work done, not time spent preempted by other processes
            conn.set_progress_handler(lambda: time.thread_time() > deadline, 2000)  # true: interrupt
            try:
                rows = self._fetch("now", sql, params)
            finally:
                conn.set_progress_handler(None, 0)
        except self._dbapi_error as exc:
            if "locked" not in str(exc) and "interrupted" not in str(exc):
                self._drop("now")
            return None
        return self._page(rows, limit)

    def _query(self, flt: FindingFilter, after: int | None, limit: int) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit + 1}
        for name, value in (
            ("holder", flt.holder),
            ("work", flt.work),
            ("layer", flt.layer),
            ("exposure", flt.exposure),
            ("scan", flt.scan),
            ("after", after),
        ):
            if value is not None:
                params[name] = value
        names = tuple(params)
        sql = self._statements.get(names)
        if sql is None:
            where = [cond.format(**self._placeholders) for name, cond in _FINDINGS_WHERE if name in names]
            sql = (
                _FINDINGS_SELECT
                + (" WHERE " + " AND ".join(where) if where else "")
                + f" ORDER BY f.id LIMIT {self._limit}"
            )
            self._statements[names] = sql
        return sql, params

    @staticmethod
    def _page(rows: list[Any], limit: int) -> tuple[list[dict[str, Any]], int | None]:
        page = [finding_dict(r) for r in rows[:limit]]
        return page, (page[-1]["id"] if len(rows) > limit else None)

    def _fetch(self, slot: str, sql: str, params: dict[str, Any]) -> list[Any]:
        conn = getattr(self._local, slot, None) or self._connect(slot)
        cursor = conn.cursor()
        try:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def _connect(self, slot: str) -> Any:
        """A new connection of this thread for ``slot``: ``conn`` (waits for locks as the registry's do) or
        ``now`` (SQLite, waits for nothing)."""
        if self._closed:
            raise StoreError(f"findings reader of {self.registry!r} is closed")
        try:
            fairy = self.registry.engine.raw_connection()  # the engine's connect hooks (SQLite pragmas) apply
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot connect to {self.registry!r}: {_first_line(exc)}") from exc
        conn: Any = fairy.driver_connection
        fairy.detach()  # ours from now on: the pool neither counts nor resets it
        if self.registry.dialect != "sqlite":  # SQLite connections are in autocommit mode already (store.py)
            conn.autocommit = True
        elif slot == "now":
            conn.execute("PRAGMA busy_timeout=0")
        with self._lock:
            self._open.append(conn)
        setattr(self._local, slot, conn)
        return conn

    def _drop(self, slot: str) -> None:
        conn = getattr(self._local, slot, None)
        setattr(self._local, slot, None)
        if conn is not None:
            with self._lock:
                if conn in self._open:
                    self._open.remove(conn)
            with suppress(Exception):
                conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns, self._open = self._open, []
        for conn in conns:
            with suppress(Exception):
                conn.close()


def finding_dict(row: tuple[Any, ...] | Any) -> dict[str, Any]:
    """A finding as the service shows it, from a row of the findings statement."""
    return {
        "id": int(row[0]),
        "scan": row[1],
        "clip": {"path": row[2], "sha256": row[3], "exposure": row[4], "duration_s": row[5]},
        "layer": row[6],
        "holder": row[7],
        "work": row[8],
        "ai_training": row[9],
        "confidence": float(row[10]),
        "segments": orjson.loads(row[11]),
        "modality": row[12] or "video",  # null: stored before migration 0006, when every finding was the picture's
    }


def find_findings(
    registry: Registry, flt: FindingFilter, after: int | None, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of findings (see :meth:`FindingReader.page`) on a connection opened for it; a caller
    asking often keeps a :class:`FindingReader`."""
    reader = FindingReader(registry)
    try:
        return reader.page(flt, after, limit)
    finally:
        reader.close()


def _first_line(exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", None) or exc).strip()
    return text_.splitlines()[0] if text_ else type(exc).__name__


def stored_results(registry: Registry, sha256: str) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    """Stored results of a clip's content, newest first: ``(scan id, path, cache key, raw result)``."""
    with registry.session() as session:
        rows = session.exec(
            select(ClipResult).where(ClipResult.sha256 == sha256).order_by(col(ClipResult.id).desc())
        ).all()
    return [(r.scan_id, r.path, r.cache_key, dict(r.result)) for r in rows]
