"""Engine and session factory for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    # Statement parameters hold residents' names and phones: keep them out of every error
    # message and log line the engine writes.
    kwargs["hide_parameters"] = True
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; foreign keys are off by default in SQLite.
    # isolation_level=None hands transaction control to the "begin" listener below.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    # Take the write lock at BEGIN: a deferred transaction that later upgrades to a writer
    # fails with "database is locked" instead of waiting for the other writer.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


# SQLSTATE classes that say the server, not the statement, failed: connection exceptions,
# insufficient resources (disk full, out of memory), operator intervention (shutdown, still
# starting) and system errors.
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57", "58")
_SQLITE_UNAVAILABLE = ("locked", "busy", "disk", "full", "unable to open", "i/o")


def is_unavailable(error: BaseException) -> bool:
    """Did the database (or its disk) fail to answer, as opposed to refusing what we asked?

    Such a failure stored nothing and may be retried as it is; a constraint violation or a
    bad statement would fail again the same way.
    """
    if isinstance(error, exc.DBAPIError):
        if isinstance(error.orig, sqlite3.OperationalError):
            # SQLite says "no such table" with the same class as "database is locked".
            message = str(error.orig).lower()
            return any(word in message for word in _SQLITE_UNAVAILABLE)
        if error.connection_invalidated or isinstance(
            error, exc.OperationalError | exc.InterfaceError
        ):
            return True
        state = str(getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", ""))
        return state[:2] in _UNAVAILABLE_SQLSTATE_CLASSES
    return isinstance(error, exc.TimeoutError | OSError | TimeoutError)
