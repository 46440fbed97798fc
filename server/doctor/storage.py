"""Checks of what the server stores: the database, its migrations, and the encrypted secrets."""

from __future__ import annotations

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .. import stored_secrets
from .context import DoctorContext
from .report import Finding, fail, ok, skip, warn

UPGRADE = "run `flask --app server db upgrade` (Heroku and Docker run it on deploy: see docs/DEPLOY.md)"


def _shown_url(ctx: DoctorContext) -> str:
    return ctx.engine().url.render_as_string(hide_password=True)


def database(ctx: DoctorContext) -> Finding:
    name = "database"
    try:
        with ctx.engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else type(exc).__name__
        return fail(name, f"cannot connect to {_shown_url(ctx)}: {reason}",
                    "check DATABASE_URL (host, port, user, password, database name) and that the database runs")
    return ok(name, f"{_shown_url(ctx)} answers")


def migrations(ctx: DoctorContext) -> Finding:
    """The database's Alembic revision is the code's head."""
    name = "migrations"
    config = Config()
    config.set_main_option("script_location", ctx.migrations_dir)
    heads = set(ScriptDirectory.from_config(config).get_heads())
    try:
        with ctx.engine().connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError:
        return skip(name, "database unreachable (see database)")
    if current == heads:
        return ok(name, f"the database is at head ({', '.join(sorted(heads))})")
    have = ", ".join(sorted(current)) or "no revision (empty database)"
    return fail(name, f"the database is at {have}, the code needs {', '.join(sorted(heads))}", UPGRADE)


def encryption_key(ctx: DoctorContext) -> Finding:
    """Every stored secret decrypts with TOKEN_ENCRYPTION_KEY."""
    name = "encryption_key"
    try:
        with ctx.engine().connect() as connection:
            tally = stored_secrets.scan(connection)
    except SQLAlchemyError as exc:
        return skip(name, f"stored secrets could not be read ({type(exc).__name__}; see database and migrations)")
    if tally.failed:
        where = ", ".join(f"{label}: {count}" for label, count in sorted(tally.undecryptable.items()))
        return fail(name, f"{tally.failed} of {tally.total} stored secret(s) do not decrypt ({where})",
                    "set TOKEN_ENCRYPTION_KEY to the key the database was written with (keep it first, or "
                    "list old keys after the new one, comma-separated, then run `flask --app server rotate-key`)")
    if not ctx.token_key_configured:
        return warn(name, f"{tally.total} stored secret(s) decrypt, but TOKEN_ENCRYPTION_KEY is unset "
                          "(a key derived from SECRET_KEY is used)",
                    "set TOKEN_ENCRYPTION_KEY (`flask --app server keygen`) before anyone connects accounts; "
                    "secrets stored under the derived key must then be connected again")
    return ok(name, f"all {tally.total} stored secret(s) decrypt with TOKEN_ENCRYPTION_KEY")
