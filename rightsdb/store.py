"""Opening the registry database, migrating it, and transactions.

``Registry(url)`` is the one handle on a database. SQLite files are created and
migrated on first use; any database without the schema is migrated when it is
first opened; a database whose schema is behind is refused until
``Registry.upgrade()`` (``provenance db upgrade``) runs.

Writers are serialised: on SQLite a write transaction starts with
``BEGIN IMMEDIATE`` (one writer at a time, others wait up to ``busy_timeout``),
on PostgreSQL it takes a transaction-scoped advisory lock. Two imports at once
therefore run one after the other, each all-or-nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from ._errors import StoreError
from .faults import store_fault

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
DEFAULT_URL = "sqlite:///provenance.db"
_PG_LOCK_KEY = 0x70726F76  # "prov": the advisory lock all registry writers share
_IMMEDIATE = "provenance_write"


def normalize_url(url: str) -> str:
    """Accept the URL spellings users paste and return the one SQLAlchemy needs.

    ``postgres://`` and ``postgresql://`` use the psycopg 3 driver; a bare path
    (``reg.db``) is a SQLite file.
    """
    url = url.strip()
    if not url:
        raise StoreError("database URL is empty")
    if "://" not in url:
        return f"sqlite:///{url}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    from alembic.config import Config  # alembic is imported where the schema is read or migrated (0.07 s): a scan's
    # worker processes, which open a migrated registry, never import it

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest schema revision this code knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise StoreError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


class Registry:
    """A handle on one registry database: engine, schema state and sessions."""

    def __init__(
        self, url: str = DEFAULT_URL, *, auto_migrate: bool = True, echo: bool = False, create: bool = True
    ) -> None:
        """``create=False`` (read-only commands, scans): the database must already hold a registry; a SQLite
        file that does not exist is not created and a database without the schema is not migrated: both raise
        :class:`StoreError` naming the path."""
        self.url = normalize_url(url)
        try:
            parsed = make_url(self.url)
        except Exception as exc:  # SQLAlchemy raises ArgumentError, ValueError...
            raise StoreError(f"invalid database URL {url!r}: {exc}") from exc
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        database = parsed.database or ""
        #: The database lives in this process only (SQLite in memory): other processes cannot open it.
        self.in_memory = self.dialect == "sqlite" and (
            database in ("", ":memory:") or database.startswith("file::memory:")
        )
        #: The SQLite database's file (None in memory and for server databases).
        self.sqlite_path: Path | None = None
        if self.dialect == "sqlite":
            if self.in_memory:
                kwargs["poolclass"] = StaticPool
            else:  # a path, or a URI filename (sqlite:///file:PATH?mode=ro&uri=true)
                uri = parsed.query.get("uri") in ("true", "1") and database.startswith("file:")
                path = Path(database.removeprefix("file:").split("?", 1)[0] if uri else database).expanduser().resolve()
                if not path.parent.is_dir():
                    raise StoreError(f"{url}: folder {path.parent} does not exist")
                self.sqlite_path = path
                if not create and not path.is_file():
                    raise StoreError(
                        f"no registry database at {path} (from {url}); nothing was created: import a manifest "
                        "there first (provenance registry import) or give the registry's URL (--db, PROVENANCE_DB)"
                    )
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 60}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine: Engine = create_engine(self.url, **kwargs)
        except (SQLAlchemyError, ImportError) as exc:
            hint = ""
            if isinstance(exc, ImportError) and self.dialect == "postgresql":
                hint = " (the PostgreSQL driver is an extra: pip install 'provenance[postgres]')"
            raise StoreError(
                f"cannot open database {parsed.render_as_string(hide_password=True)}: {exc}{hint}"
            ) from exc
        if self.dialect == "sqlite":
            _install_sqlite_hooks(self.engine)
        if not create:
            try:
                if self.current_revision() is None:
                    raise StoreError(
                        f"{self!r} holds no registry (no schema); nothing was created: import a manifest there "
                        "first (provenance registry import) or give the registry's URL (--db, PROVENANCE_DB)"
                    )
            except BaseException:
                self.engine.dispose()
                raise
        if auto_migrate:
            try:
                self._ensure_schema()
            except BaseException:
                self.engine.dispose()
                raise

    def __repr__(self) -> str:
        return f"Registry({make_url(self.url).render_as_string(hide_password=True)!r})"

    # -- schema ---------------------------------------------------------------------------------------------
    def current_revision(self) -> str | None:
        try:
            from alembic.runtime.migration import MigrationContext

            with self.engine.connect() as conn:
                return MigrationContext.configure(conn).get_current_revision()
        except OperationalError as exc:
            raise store_fault(exc, repr(self)) or StoreError(f"cannot connect to {self!r}: {_first_line(exc)}") from exc

    def upgrade(self, revision: str = "head") -> None:
        """Apply migrations up to ``revision`` in one transaction.

        Migrations are serialised like writes: on SQLite the transaction starts with ``BEGIN IMMEDIATE`` (a
        deferred one reads the schema version and then fails at once with "database is locked" when another
        process migrates the same new file: a read lock cannot be upgraded while a writer waits); the others wait
        (``busy_timeout``) and then find the schema at head, with nothing left to do."""
        try:
            with self.engine.connect() as conn, conn.execution_options(**{_IMMEDIATE: True}).begin():
                if self.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
                from alembic import command

                command.upgrade(_alembic_config(conn), revision)
        except SQLAlchemyError as exc:
            fault = store_fault(exc, f"migration of {self!r}")
            raise fault or StoreError(f"migration of {self!r} failed: {_first_line(exc)}") from exc

    def _ensure_schema(self) -> None:
        current = self.current_revision()
        head = head_revision()
        if current == head:
            return
        if current is None or self.dialect == "sqlite":
            log.info("migrating %r from %s to %s", self, current or "empty", head)
            self.upgrade()
            return
        raise StoreError(f"{self!r} has schema {current}, this version needs {head}: run `provenance db upgrade`")

    # -- sessions -------------------------------------------------------------------------------------------
    def session(self) -> Session:
        """A plain session for reads (and writes that need no serialisation)."""
        return Session(self.engine, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A serialised write transaction: committed on success, rolled back on any exception."""
        with Session(self.engine, expire_on_commit=False) as session:
            session.connection(execution_options={_IMMEDIATE: True})
            if self.dialect == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (pysqlite's own is broken)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _first_line(exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", None) or exc).strip()
    return text_.splitlines()[0] if text_ else type(exc).__name__
