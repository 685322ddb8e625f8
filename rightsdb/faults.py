"""Database faults as the registry's errors: what went wrong with the database itself (not with the data), in one
line that says the data is safe and what to do.

SQLAlchemy raises a fault as an ``OperationalError`` (or ``InternalError``) around the driver's error: SQLite
names its kind (``sqlite_errorcode``: read-only, full, I/O error, busy, cannot open), PostgreSQL its SQLSTATE
(25006 read-only transaction, class 53 insufficient resources, 55P03 lock not available, class 08 connection).
:func:`store_fault` maps them to :class:`StoreError` subclasses, which the CLI answers with exit code 3 and the
service with 503. Writes are transactions: a fault rolls back the write it interrupts.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ._errors import DatabaseFull, DatabaseLocked, DatabaseReadOnly, DatabaseUnavailable, StoreError

__all__ = ["store_fault"]

_SQLITE: dict[int, type[StoreError]] = {
    sqlite3.SQLITE_READONLY: DatabaseReadOnly,
    sqlite3.SQLITE_FULL: DatabaseFull,
    sqlite3.SQLITE_IOERR: DatabaseFull,
    sqlite3.SQLITE_BUSY: DatabaseLocked,
    sqlite3.SQLITE_LOCKED: DatabaseLocked,
    sqlite3.SQLITE_CANTOPEN: DatabaseUnavailable,
    sqlite3.SQLITE_NOTADB: DatabaseUnavailable,
    sqlite3.SQLITE_CORRUPT: DatabaseUnavailable,
    sqlite3.SQLITE_PERM: DatabaseReadOnly,
}

_ADVICE: dict[type[StoreError], str] = {
    DatabaseReadOnly: "the database is read-only (file or folder permissions, a read-only mount, or a read-only "
    "connection): nothing was written; make it writable, or use --db with a writable database",
    DatabaseFull: "the database's disk is full or failing: the failed write was rolled back; free space (or raise "
    "the quota) and run the command again, it resumes where it stopped",
    DatabaseLocked: "the database is locked by another process: nothing was written; run the command again when "
    "the other one has finished",
    DatabaseUnavailable: "cannot connect to the database or open it: check the --db URL (or PROVENANCE_DB), the "
    "file's folder and permissions, or that the database server runs",
}


def _kind(orig: Any) -> type[StoreError] | None:
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        if code is None:
            return None
        return _SQLITE.get(code & 0xFF)  # extended codes (SQLITE_READONLY_DBMOVED, SQLITE_IOERR_WRITE...) by kind
    state = getattr(orig, "sqlstate", None)
    if not isinstance(state, str):
        return None
    if state == "25006":
        return DatabaseReadOnly
    if state.startswith("53"):
        return DatabaseFull
    if state in ("55P03", "40P01"):
        return DatabaseLocked
    if state.startswith("08") or state in ("57P01", "57P02", "57P03", "3D000", "28000", "28P01"):
        return DatabaseUnavailable
    return None


def store_fault(exc: BaseException, database: str = "") -> StoreError | None:
    """The registry error for a database fault (read-only, full or failing disk, locked, unreachable): a
    :class:`StoreError` subclass whose message says what happened, that the data is safe and what to do; None
    when ``exc`` is not such a fault (a bug, a constraint, bad data). ``database`` names it in the message."""
    if isinstance(exc, StoreError):
        return exc
    orig = getattr(exc, "orig", None) or exc
    kind = _kind(orig)
    if kind is None and type(exc).__name__ == "OperationalError" and not isinstance(orig, sqlite3.Error):
        kind = DatabaseUnavailable  # a server's operational fault of no known kind (connection refused, ...)
    if kind is None:
        return None
    detail = " ".join(str(orig).split())[:200] or type(orig).__name__
    where = f"{database}: " if database else ""
    return kind(f"{where}{_ADVICE[kind]} ({detail})")
