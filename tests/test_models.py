"""Migrations agree with the models and run both ways on SQLite and PostgreSQL; tokens are encrypted."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from server.extensions import db
from server.models import Base, Link, ProviderAccount, User, Workspace


def _check_roundtrip(app) -> None:
    with app.app_context():
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
        downgrade(revision="base")
        tables = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert tables == set()
        upgrade()
        assert {"users", "links", "events", "history", "workspaces"} <= set(inspect(db.engine).get_table_names())


def test_migrations_match_models_sqlite(sqlite_url):
    from tests.conftest import make_app

    _check_roundtrip(make_app(sqlite_url))


def test_migrations_match_models_postgres(pg_url):
    from tests.conftest import make_app

    app = make_app(pg_url)
    _check_roundtrip(app)
    with app.app_context():
        db.engine.dispose()


def _workspace(owner: User) -> Workspace:
    return Workspace(name="Leads", owner_id=owner.id, spreadsheet_id="s1", sheet_name="Leads", trello_board_id="b1")


def test_tokens_are_encrypted_at_rest(app):
    with app.app_context():
        user = User(email="ann@example.com", name="Ann")
        db.session.add(user)
        db.session.flush()
        account = ProviderAccount(user_id=user.id, provider="trello", provider_user_id="m1",
                                  access_token="ATTA" + "a" * 72, refresh_token="refresh-me")
        db.session.add(account)
        db.session.commit()
        raw = db.session.execute(text("SELECT access_token, refresh_token FROM provider_accounts")).one()
        assert "ATTA" not in raw[0] and raw[1] != "refresh-me"
        db.session.expire_all()
        assert db.session.get(ProviderAccount, account.id).access_token == "ATTA" + "a" * 72
        workspace = _workspace(user)
        db.session.add(workspace)
        db.session.commit()
        stored = db.session.execute(text("SELECT addon_secret FROM workspaces")).scalar_one()
        assert stored != workspace.addon_secret and len(workspace.addon_secret) == 64


def test_links_are_unique_per_lead_and_per_card(app):
    with app.app_context():
        user = User(email="bob@example.com")
        db.session.add(user)
        db.session.flush()
        workspace = _workspace(user)
        db.session.add(workspace)
        db.session.flush()
        db.session.add(Link(workspace_id=workspace.id, lead_id="L-1", card_id="c1"))
        db.session.commit()
        db.session.add(Link(workspace_id=workspace.id, lead_id="L-1", card_id="c2"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        db.session.add(Link(workspace_id=workspace.id, lead_id="L-2", card_id="c1"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        # Links whose card is still being created have no card id yet; several may coexist.
        db.session.add_all([Link(workspace_id=workspace.id, lead_id="L-3"), Link(workspace_id=workspace.id, lead_id="L-4")])
        db.session.commit()
