"""Engine set-up and the start-up database check."""

from __future__ import annotations

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from .config import ConfigError


def install_engine_hooks(engine: Engine) -> None:
    """SQLite: WAL (readers never block the writer), a busy timeout, and foreign keys."""
    if engine.dialect.name != "sqlite" or getattr(engine, "_leads_hooks", False):
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    engine._leads_hooks = True  # type: ignore[attr-defined]
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


def database_ready(engine: Engine) -> tuple[bool, str]:
    """(ok, detail) for the readiness probe."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True, "ok"
    except SQLAlchemyError as exc:
        return False, type(exc).__name__
