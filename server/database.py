"""Engine set-up and the start-up database check."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, CursorResult, Engine, Result
from sqlalchemy.exc import SQLAlchemyError

from .config import ConfigError


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def install_engine_hooks(engine: Engine) -> None:
    """SQLite: WAL (readers never block the writer), a busy timeout, and foreign keys."""
    if engine.dialect.name != "sqlite" or event.contains(engine, "connect", _sqlite_pragmas):
        return
    event.listen(engine, "connect", _sqlite_pragmas)
    engine.dispose()  # connections opened before the hook existed lack the pragmas


def check_database(engine: Engine) -> None:
    """Fail fast, in one line, when DATABASE_URL points nowhere usable."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else type(exc).__name__
        shown = engine.url.render_as_string(hide_password=True)
        raise ConfigError(f"cannot connect to DATABASE_URL ({shown}): {reason}") from exc


_SQLITE_WRITE_LOCK = text("UPDATE events SET attempts = attempts WHERE id = -1")  # a write that changes nothing


def take_sqlite_write_lock(connection: Connection) -> None:
    """SQLite: take the database's write lock now, at the start of the transaction, with a write
    that changes nothing (what is read next is what the transaction's writes act on). Callers
    check the dialect; PostgreSQL has row and advisory locks for this."""
    connection.execute(_SQLITE_WRITE_LOCK)


def rows_changed(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE run with ``Session.execute`` changed. The session types
    its answer as a ``Result``; for those statements it is a ``CursorResult``, which counts them."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"not the result of an UPDATE or DELETE: {type(result).__name__}")
    return result.rowcount or 0


def database_ready(engine: Engine) -> tuple[bool, str]:
    """(ok, detail) for the readiness probe."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True, "ok"
    except SQLAlchemyError as exc:
        return False, type(exc).__name__
