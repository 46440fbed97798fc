"""``flask rotate-key``: every stored secret re-encrypted with the first key of TOKEN_ENCRYPTION_KEY."""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import Text, select, type_coerce

from server import crypto
from server.extensions import db
from server.models import ProviderAccount, Workspace
from server.seed import DEMO_LISTS, demo_mapping, seed_workspace
from tests.conftest import make_app

OLD, NEW, OTHER = (Fernet.generate_key().decode() for _ in range(3))


def _seed(app: Any) -> str:
    with app.app_context():
        workspace = seed_workspace(db.session, email="ann@example.com", trello_member_id="m1", trello_username="ann",
                                   trello_token="trello-token-ann", google_token="google-token-ann",
                                   spreadsheet_id="sheet-1", sheet_name="Leads", board_id="b" * 24,
                                   mapping=demo_mapping({name: f"{i:024x}" for i, name in enumerate(DEMO_LISTS)}))
        db.session.commit()
        return workspace.id


def _tokens(app: Any) -> list[str | None]:
    with app.app_context():
        return sorted(t or "" for t in db.session.scalars(select(ProviderAccount.access_token)))


def _raw_tokens(app: Any) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(type_coerce(ProviderAccount.access_token, Text))))


def test_rotation_moves_every_secret_to_the_new_key(sqlite_url: str) -> None:
    old_app = make_app(sqlite_url, TOKEN_ENCRYPTION_KEY=OLD)
    workspace_id = _seed(old_app)
    with old_app.app_context():
        addon_secret = db.session.get(Workspace, workspace_id).addon_secret
    raw_before = _raw_tokens(old_app)

    both = make_app(sqlite_url, TOKEN_ENCRYPTION_KEY=f"{NEW},{OLD}")
    result = both.test_cli_runner().invoke(args=["rotate-key"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted 3 of 3 stored secret(s) with the first key" in result.output
    assert not set(_raw_tokens(both)) & set(raw_before)

    new_only = make_app(sqlite_url, TOKEN_ENCRYPTION_KEY=NEW)  # the old key can now be dropped
    assert _tokens(new_only) == ["google-token-ann", "trello-token-ann"]
    with new_only.app_context():
        assert db.session.get(Workspace, workspace_id).addon_secret == addon_secret
    doctor = new_only.test_cli_runner().invoke(args=["doctor", "--only", "encryption_key", "--json"])
    assert doctor.exit_code == 0, doctor.output
    assert [(c["check"], c["status"]) for c in json.loads(doctor.output)["checks"]] == [("encryption_key", "ok")]

    crypto.configure(OLD, "unused")  # the old key alone no longer reads them
    with new_only.app_context():
        raw = db.session.scalars(select(type_coerce(ProviderAccount.access_token, Text))).first()
    assert raw is not None
    try:
        crypto.decrypt(raw)
    except crypto.DecryptionError:
        pass
    else:
        raise AssertionError("a rotated secret still decrypts with the old key")


def test_a_secret_no_key_decrypts_is_reported_and_left_unchanged(sqlite_url: str) -> None:
    other = make_app(sqlite_url, TOKEN_ENCRYPTION_KEY=OTHER)
    _seed(other)
    raw_before = sorted(_raw_tokens(other))
    app = make_app(sqlite_url, TOKEN_ENCRYPTION_KEY=f"{NEW},{OLD}")
    result = app.test_cli_runner().invoke(args=["rotate-key"])
    assert result.exit_code == 1
    assert "re-encrypted 0 of 3 stored secret(s)" in result.output
    assert "  provider_accounts.access_token: 2 value(s) no configured key decrypts (left unchanged)" in result.output
    assert sorted(_raw_tokens(app)) == raw_before
