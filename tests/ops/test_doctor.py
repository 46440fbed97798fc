"""``flask doctor`` against the emulators: a good configuration passes, a broken one names each problem."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.fernet import Fernet

from emulators.common import RunningServer, serve_in_thread
from emulators.google_oauth import GoogleOAuthEmulator
from emulators.trello import TrelloEmulator
from server import crypto
from server.doctor import Status, context_from_app, run_checks
from server.extensions import db
from server.models import ProviderAccount, Workspace
from server.seed import DEMO_LISTS, demo_mapping, seed_workspace
from server.trello.client import TrelloClient
from server.trello.webhooks import register_board_webhook
from tests.conftest import make_app, migrations_head

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


@dataclass
class Deployment:
    app: Any
    web: RunningServer
    trello: TrelloEmulator
    google: GoogleOAuthEmulator


@pytest.fixture
def deployment(sqlite_url: str) -> Iterator[Deployment]:
    """A served app on a fresh database with one workspace, its webhook registered on the Trello
    emulator, and a Google OAuth emulator that knows the app's redirect URI."""
    trello = TrelloEmulator(api_key="doctor-key", api_secret="doctor-secret")
    trello.start()
    google = GoogleOAuthEmulator()
    google.start()
    app = make_app(sqlite_url, TOKEN_ENCRYPTION_KEY=KEY_A, TRELLO_API_KEY="doctor-key",
                   TRELLO_API_SECRET="doctor-secret", TRELLO_API_BASE_URL=trello.api_base_url,
                   TRELLO_OAUTH_BASE_URL=trello.api_base_url, GOOGLE_CLIENT_ID=google.client_id,
                   GOOGLE_CLIENT_SECRET=google.client_secret, GOOGLE_SERVER_METADATA_URL=google.metadata_url)
    web = serve_in_thread(app)
    app.config["PUBLIC_BASE_URL"] = web.base_url
    google.allow_redirect_uri(web.base_url + "/auth/google/callback")
    member = trello.add_member("ann", "Ann Example")
    token = trello.issue_token(member["id"])
    board = trello.add_board("Leads", member["id"], lists=DEMO_LISTS)
    lists = {lst["name"]: lst["id"] for lst in trello.lists(board["id"])}
    with app.app_context():
        workspace = seed_workspace(db.session, email="ann@example.com", trello_member_id=member["id"],
                                   trello_username="ann", trello_token=token, google_token="google-token",
                                   spreadsheet_id="sheet-1", sheet_name="Leads", board_id=board["id"],
                                   mapping=demo_mapping(lists))
        register_board_webhook(workspace, TrelloClient("doctor-key", token, base_url=trello.api_base_url),
                               web.base_url)
        db.session.commit()
    yield Deployment(app, web, trello, google)
    web.stop()
    trello.stop()
    google.stop()
    with app.app_context():
        db.engine.dispose()
    crypto.configure(KEY_A, "unused")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_good_configuration_passes_every_check(deployment: Deployment) -> None:
    result = deployment.app.test_cli_runner().invoke(args=["doctor", "--json", "--timeout", "5"])
    report = json.loads(result.output)
    statuses = {c["check"]: c["status"] for c in report["checks"]}
    assert statuses == {name: "ok" for name in (
        "database", "migrations", "encryption_key", "public_url", "webhook_callbacks", "trello_webhooks", "trello_key",
        "trello_secret", "trello_redirect_uri", "google_client", "google_redirect_uri")}, report
    assert report["ok"] is True and result.exit_code == 0
    text = deployment.app.test_cli_runner().invoke(args=["doctor", "--timeout", "5"])
    assert text.exit_code == 0
    assert text.output.strip().splitlines()[-1].startswith("doctor: all checks passed (11 ok")


def test_broken_configuration_names_each_problem_with_its_fix(deployment: Deployment) -> None:
    """Wrong public URL, wrong Trello key, missing secret, wrong Google secret, database behind
    head, wrong encryption key: each is a failed check whose line carries a fix; exit code 1."""
    from flask_migrate import downgrade

    app = deployment.app
    with app.app_context():
        downgrade(revision="0004")
    wrong_url = f"http://127.0.0.1:{_free_port()}"
    app.config.update(PUBLIC_BASE_URL=wrong_url, TRELLO_API_KEY="not-the-key", TRELLO_API_SECRET="",
                      GOOGLE_CLIENT_SECRET="wrong-secret", TOKEN_ENCRYPTION_KEY=KEY_B)
    crypto.configure(KEY_B, "unused")

    result = app.test_cli_runner().invoke(args=["doctor", "--timeout", "3"])
    assert result.exit_code == 1
    lines = {line.split(":", 1)[0]: line for line in result.output.strip().splitlines()}
    for check in ("public_url", "webhook_callbacks", "trello_key", "trello_secret", "google_client",
                  "google_redirect_uri", "migrations", "encryption_key"):
        assert f"FAIL {check}" in lines, result.output
        assert "-> fix: " in lines[f"FAIL {check}"]
    assert "cannot be reached" in lines["FAIL public_url"]
    assert "invalid key" in lines["FAIL trello_key"]
    assert "TRELLO_API_SECRET is empty" in lines["FAIL trello_secret"]
    assert "GOOGLE_CLIENT_SECRET does not match" in lines["FAIL google_client"]
    assert f"refuses the redirect URI {wrong_url}/auth/google/callback" in lines["FAIL google_redirect_uri"]
    assert f"the database is at 0004, the code needs {migrations_head()}" in lines["FAIL migrations"]
    assert "db upgrade" in lines["FAIL migrations"]
    assert "do not decrypt (provider_accounts.access_token: 2" in lines["FAIL encryption_key"]
    assert lines["OK   database"]
    assert lines["SKIP trello_webhooks"].endswith("the Trello tokens cannot be decrypted (see encryption_key)")
    assert result.output.strip().splitlines()[-1].startswith("doctor: 8 problem(s) found")


def test_secret_of_another_key_and_unknown_google_client(deployment: Deployment) -> None:
    """A secret that does not belong to the key, and a client id Google does not know."""
    app = deployment.app
    app.config.update(TRELLO_API_SECRET="someone-elses-secret", GOOGLE_CLIENT_ID="unknown.apps.googleusercontent.com")
    ctx = context_from_app(app, timeout_s=3)
    try:
        report = run_checks(ctx, only={"trello_key", "trello_secret", "google_client", "google_redirect_uri"})
    finally:
        ctx.close()
    found = report.by_check()
    assert found["trello_key"].status is Status.OK
    assert found["trello_secret"].status is Status.FAIL
    assert "the secret does not belong to the key" in found["trello_secret"].message
    assert found["google_client"].status is Status.FAIL
    assert "GOOGLE_CLIENT_ID is unknown to Google" in found["google_client"].message
    assert found["google_redirect_uri"].status is Status.SKIP


def test_webhooks_trello_deactivated_or_deleted_are_named(deployment: Deployment) -> None:
    app, trello = deployment.app, deployment.trello
    with app.app_context():
        first = db.session.query(Workspace).one()
        account = db.session.get(ProviderAccount, first.trello_account_id)
        token, board = account.access_token, first.trello_board_id
        second = Workspace(name="Second", owner_id=first.owner_id, google_account_id=first.google_account_id,
                           trello_account_id=first.trello_account_id, spreadsheet_id="sheet-2", sheet_name="Leads",
                           trello_board_id=board, mapping=first.mapping)
        db.session.add(second)
        db.session.commit()  # Trello's HEAD must find it
        client = TrelloClient("doctor-key", token, base_url=trello.api_base_url)
        register_board_webhook(second, client, deployment.web.base_url)
        db.session.commit()
        first_hook, second_hook, first_id, second_id = (first.trello_webhook_id, second.trello_webhook_id,
                                                        first.id, second.id)
    client.request("PUT", f"/webhooks/{first_hook}", params={"active": "false"})
    client.delete_webhook(second_hook)
    result = app.test_cli_runner().invoke(args=["doctor", "--only", "trello_webhooks"])
    assert result.exit_code == 1
    line = result.output.splitlines()[0]
    assert line.startswith(f"FAIL trello_webhooks: 2 of 2 workspace webhook(s) need attention (deleted by Trello: "
                           f"{second_id}; deactivated by Trello: {first_id}) -> fix: make public_url pass first")


def test_public_url_that_redirects_fails(deployment: Deployment) -> None:
    """A proxy that redirects (http to https, say): Trello follows no redirect, so it is a problem."""
    def redirects(environ: dict, start_response: Any) -> list[bytes]:
        start_response("301 Moved Permanently", [("Location", "https://leads.example.com" + environ["PATH_INFO"])])
        return [b""]

    proxy = serve_in_thread(redirects)
    deployment.app.config["PUBLIC_BASE_URL"] = proxy.base_url
    ctx = context_from_app(deployment.app, timeout_s=3)
    try:
        finding = run_checks(ctx, only={"public_url"}).by_check()["public_url"]
    finally:
        ctx.close()
        proxy.stop()
    assert finding.status is Status.FAIL
    assert finding.message == f"{proxy.base_url}/health answered 301, not this app's health check"
    assert "a redirect means the address is not the final one" in finding.fix


def test_a_check_that_hangs_is_given_up_after_its_timeout(deployment: Deployment) -> None:
    from server.doctor.runner import Check

    ctx = context_from_app(deployment.app, timeout_s=1)
    release = threading.Event()

    def hangs(_ctx: Any) -> Any:
        release.wait(10)

    try:
        report = run_checks(ctx, (Check("hangs", hangs, timeout_s=0.2),))
    finally:
        release.set()
        ctx.close()
    finding = report.by_check()["hangs"]
    assert finding.status is Status.FAIL and "no answer within 0.2 s" in finding.message
    assert not report.ok


def test_only_runs_the_named_checks_and_refuses_unknown_names(deployment: Deployment) -> None:
    runner = deployment.app.test_cli_runner()
    result = runner.invoke(args=["doctor", "--only", "database", "--only", "migrations"])
    assert result.exit_code == 0, result.output
    assert [line.split(":")[0] for line in result.output.strip().splitlines()] == [
        "OK   database", "OK   migrations", "doctor"]
    refused = runner.invoke(args=["doctor", "--only", "nonsense"])
    assert refused.exit_code == 2 and "unknown check(s) nonsense" in refused.output


def test_a_further_boards_webhook_deleted_by_trello_is_named(deployment: Deployment) -> None:
    """Several boards per sheet: each further board's webhook is checked too, named by its board."""
    from server.models import WorkspaceBoard
    from server.trello import board_webhooks

    app, trello = deployment.app, deployment.trello
    with app.app_context():
        first = db.session.query(Workspace).one()
        account = db.session.get(ProviderAccount, first.trello_account_id)
        owner = trello.state.boards[first.trello_board_id].member_ids[0]
        other = trello.add_board("EU leads", owner, lists=["New"])
        row = WorkspaceBoard(workspace_id=first.id, board_id=other["id"])
        db.session.add(row)
        client = TrelloClient("doctor-key", account.access_token, base_url=trello.api_base_url)
        board_webhooks.register(row, client, deployment.web.base_url)
        db.session.commit()
        hook, first_id = row.webhook_id, first.id
    client.delete_webhook(hook)
    result = app.test_cli_runner().invoke(args=["doctor", "--only", "trello_webhooks"])
    assert result.exit_code == 1
    line = result.output.splitlines()[0]
    assert f"deleted by Trello: {first_id} (board {other['id']})" in line and "1 of 2" in line
