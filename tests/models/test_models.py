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


OLD_DRAFT_DETAIL = "Draft: review the preview and confirm to start syncing."  # a draft's detail before 0003


def _check_draft_migration(app) -> None:
    """0003 turns paused workspaces with the old draft detail into drafts; its downgrade turns drafts back."""
    def states() -> dict[str, tuple[str, str]]:
        rows = db.session.execute(text("SELECT name, state, state_detail FROM workspaces")).all()
        db.session.commit()  # end the read: the next migration runs on another connection
        return {name: (state, detail) for name, state, detail in rows}

    with app.app_context():
        owner = User(email="ann@example.com")
        db.session.add(owner)
        db.session.flush()
        rows = {"old draft": ("paused", OLD_DRAFT_DETAIL), "draft": ("draft", ""), "active": ("active", ""),
                "paused": ("paused", "Paused by ann@example.com."), "reauth": ("needs_reauth", OLD_DRAFT_DETAIL)}
        for name, (state, detail) in rows.items():  # inserted at head: the models may outgrow 0002
            workspace = _workspace(owner)
            workspace.name, workspace.state, workspace.state_detail = name, state, detail
            db.session.add(workspace)
        db.session.commit()
        as_drafts = {**rows, "old draft": ("draft", ""), "draft": ("draft", "")}
        as_paused = {**rows, "old draft": ("paused", OLD_DRAFT_DETAIL), "draft": ("paused", OLD_DRAFT_DETAIL)}
        downgrade(revision="0002")
        assert states() == as_paused
        upgrade(revision="0003")
        assert states() == as_drafts
        downgrade(revision="0002")
        assert states() == as_paused
        upgrade()


def test_draft_state_migration_sqlite(app):
    _check_draft_migration(app)


def test_draft_state_migration_postgres(pg_url):
    from tests.conftest import make_app

    app = make_app(pg_url)
    _check_draft_migration(app)
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
