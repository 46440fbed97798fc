"""Shared fixtures: the app on a fresh migrated database, PostgreSQL databases, emulators."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

# Fixtures shared by several test modules: a PostgreSQL server of a test's own, and the Trello sign-in site.
pytest_plugins = ["tests.pg_private", "tests.trello_site"]

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def make_app(database_url: str, **overrides: Any):
    """A configured app whose database has been migrated to head."""
    from flask_migrate import upgrade

    from server import create_app

    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-0123456789",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
        "TRELLO_API_KEY": "emulator-key",
        "TRELLO_API_SECRET": "emulator-secret",
        "WTF_CSRF_ENABLED": False,
        "LOG_FORMAT": "console",
        "LOG_LEVEL": "WARNING",
    }
    config.update(overrides)
    app = create_app(config)
    with app.app_context():
        upgrade()
    return app


def sign_in_as(client, app, user_id: int) -> str:
    """Sign ``client`` in as ``user_id`` with a real server-side session; returns its token."""
    from server.auth.sessions import start_session
    from server.extensions import db

    with app.app_context():
        token = start_session(db.session, user_id)
        db.session.commit()
    with client.session_transaction() as session:
        session.clear()
        session["sid"] = token
        session.permanent = True
    return token


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'app.db'}"


@pytest.fixture
def app(sqlite_url: str):
    app = make_app(sqlite_url)
    yield app
    with app.app_context():
        from server.extensions import db

        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"leads_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:  # pragma: no cover - CI starts PostgreSQL
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def migrations_head() -> str:
    """The newest Alembic revision in ``migrations/`` (tests compare a migrated database with it)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).resolve().parent.parent / "migrations"))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


@pytest.fixture
def trello_errors(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """``(method, path, message)`` of every error the app's Trello clients raised while the test ran:
    what the worker saw of an injected fault (a 500, a timeout), so a fault test can show its fault
    reached the client and not only that the end state is right."""
    from server.trello.client import TrelloClient
    from server.trello.errors import TrelloError

    seen: list[tuple[str, str, str]] = []
    send = TrelloClient._send

    def recording(self: TrelloClient, method: str, path: str, params: Any, json: Any) -> Any:
        try:
            return send(self, method, path, params, json)
        except TrelloError as exc:
            seen.append((method, path, str(exc)))
            raise

    monkeypatch.setattr(TrelloClient, "_send", recording)
    return seen
