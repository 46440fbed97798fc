"""Alerts: one incident per outage, email to a real SMTP sink, Slack JSON, retries, digests, grant
expiry, the preferences form. Every round runs on a fake clock (``now`` is passed in)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import sessionmaker

from server.alerts.channels import LiveChannels
from server.alerts.incidents import IncidentKind
from server.alerts.prefs import EmailMode, PreferenceForm, save_preferences
from server.alerts.rounds import AlertSettings, run_round
from server.alerts.runner import round_lock
from server.extensions import db
from server.models import (
    GOOGLE,
    TRELLO,
    AlertIncident,
    AlertPreference,
    Event,
    Link,
    ProviderAccount,
    User,
    Workspace,
    WorkspaceMember,
)
from server.models.sync import DONE, PARKED
from server.sync.grants import GrantExpiry, apply_terms, google_terms, trello_terms
from server.sync.health_report import Health, build_report
from tests.alert_sinks import SlackSink, SmtpSink
from tests.conftest import make_app, sign_in_as

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def sinks():
    with SmtpSink() as smtp, SlackSink() as slack:
        yield smtp, slack


@pytest.fixture
def mail_app(sqlite_url, sinks):
    smtp, _ = sinks
    app = make_app(sqlite_url, **smtp.config(), ALERT_EMAIL_TO="")
    yield app
    with app.app_context():
        db.engine.dispose()


def seed(app, name: str = "Acme leads", email: str = "ann@example.com") -> str:
    """A user with Google and Trello accounts and an active workspace; returns its id."""
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            user = User(email=email, name="Ann")
            db.session.add(user)
            db.session.flush()
        google = ProviderAccount(user_id=user.id, provider=GOOGLE, provider_user_id=f"g-{name}", username=email,
                                 access_token="g-token", refresh_token="g-refresh")
        trello = ProviderAccount(user_id=user.id, provider=TRELLO, provider_user_id=f"t-{name}", username="ann",
                                 access_token="t-token")
        db.session.add_all([google, trello])
        db.session.flush()
        workspace = Workspace(name=name, owner_id=user.id, google_account_id=google.id, trello_account_id=trello.id,
                              spreadsheet_id="sheet-1", sheet_name="Leads", trello_board_id="b" * 24,
                              mapping={"title_column": "Name", "status_column": "Status"})
        db.session.add(workspace)
        db.session.commit()
        return workspace.id


def park(app, workspace_id: str, count: int, first_name: str = "Ada Lovelace") -> None:
    with app.app_context():
        db.session.add(Link(workspace_id=workspace_id, lead_id="L-000000000001", card_id="c" * 24,
                            shadow={"Name": first_name, "Status": "New"}))
        for i in range(count):
            db.session.add(Event(workspace_id=workspace_id, source="sheets", provider_event_id=f"e{i}", kind="row",
                                 order_key=f"lead:L-{i + 1:012d}", state=PARKED,
                                 payload=json.dumps({"lead_id": f"L-{i + 1:012d}", "values": {"Name": f"Lead {i}"}}),
                                 last_error="Trello has no list for the status \"Maybe\""))
        db.session.commit()


def round_at(app, now: datetime):
    with app.app_context():
        factory = sessionmaker(bind=db.engine, expire_on_commit=False)
        return run_round(factory, LiveChannels(app, timeout_s=5.0), AlertSettings.from_config(app.config), now)


def incidents(app, workspace_id: str) -> list[AlertIncident]:
    with app.app_context():
        rows = list(db.session.scalars(select(AlertIncident).where(AlertIncident.workspace_id == workspace_id)
                                       .order_by(AlertIncident.id)).all())
        for row in rows:
            db.session.expunge(row)
        return rows


def set_prefs(app, workspace_id: str, email: str = "ann@example.com", **fields) -> None:
    form = PreferenceForm(fields.get("email_mode", EmailMode.IMMEDIATE), tuple(fields.get("extra_emails", ())),
                          fields.get("slack_webhook_url"), fields.get("daily_digest", False))
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        save_preferences(db.session, db.session.get(Workspace, workspace_id), user.id, form)
        db.session.commit()


def test_fifty_parked_events_are_one_incident_one_email_one_slack_post_then_one_resolution(mail_app, sinks):
    smtp, slack = sinks
    ws = seed(mail_app)
    set_prefs(mail_app, ws, slack_webhook_url=slack.url)
    park(mail_app, ws, 50)

    report = round_at(mail_app, T0)
    assert report.opened == 1 and report.failed == 0
    [incident] = incidents(mail_app, ws)
    assert incident.kind == IncidentKind.EVENTS_PARKED and incident.opened_sent_at == T0
    [message] = smtp.messages
    assert message["To"] == "ann@example.com"
    assert message["Subject"] == ("Leads Sync: Changes to \"Ada Lovelace\" could not be synced in "
                                  "\"Acme leads\"")
    body = message.get_content()
    assert "and 49 more changes" in body and "Trello has no list for the status" in body
    assert f"/app/workspaces/{ws}" in body
    [post] = slack.posts
    assert post["content_type"] == "application/json"
    assert post["json"]["text"] == message["Subject"]
    assert post["json"]["blocks"][0]["text"]["text"] == f"*{message['Subject']}*"

    park_more = 10  # more failures of the same outage: still the same incident, nothing sent
    with mail_app.app_context():
        for i in range(park_more):
            db.session.add(Event(workspace_id=ws, source="trello", provider_event_id=f"x{i}", kind="updateCard",
                                 order_key=f"card:{i}", state=PARKED, payload="{}", last_error="boom"))
        db.session.commit()
    for minute in range(1, 4):
        assert round_at(mail_app, T0 + timedelta(minutes=minute)).opened == 0
    assert len(incidents(mail_app, ws)) == 1 and len(smtp.messages) == 1 and len(slack.posts) == 1

    with mail_app.app_context():  # someone fixed the mapping and pressed Retry: all applied
        db.session.execute(text("UPDATE events SET state = :done"), {"done": DONE})
        db.session.commit()
    report = round_at(mail_app, T0 + timedelta(minutes=30))
    assert report.resolved == 1
    [incident] = incidents(mail_app, ws)
    assert incident.resolved_at == T0 + timedelta(minutes=30) and incident.resolved_sent_at is not None
    assert len(smtp.messages) == 2
    assert smtp.messages[1]["Subject"].startswith("Leads Sync: Resolved: Changes to \"Ada Lovelace\"")
    assert "after 30 minutes" in smtp.messages[1].get_content()
    assert slack.posts[1]["json"]["text"].startswith("Leads Sync: Resolved:")
    assert round_at(mail_app, T0 + timedelta(minutes=31)).sent == 0  # nothing twice
    # a new failure after the resolution is a new incident

    with mail_app.app_context():
        db.session.add(Event(workspace_id=ws, source="sheets", provider_event_id="late", kind="row",
                             order_key="lead:L-000000000001", state=PARKED, payload="{}", last_error="boom"))
        db.session.commit()
    round_at(mail_app, T0 + timedelta(hours=2))
    assert [i.resolved_at is None for i in incidents(mail_app, ws)] == [False, True]


def test_a_failed_delivery_is_retried_next_round_and_what_arrived_is_not_sent_again(mail_app, sinks):
    smtp, slack = sinks
    ws = seed(mail_app)
    set_prefs(mail_app, ws, slack_webhook_url=slack.url, extra_emails=("sales@example.com",))
    park(mail_app, ws, 1)
    slack.fail_status = 500
    report = round_at(mail_app, T0)
    assert report.failed == 1 and report.sent == 2  # both emails went
    [incident] = incidents(mail_app, ws)
    assert incident.opened_sent_at is None and incident.send_failures == 1
    assert incident.last_send_error.startswith("slack: Slack answered 500")
    assert slack.url not in incident.last_send_error and "services/" not in incident.last_send_error
    slack.fail_status = None
    report = round_at(mail_app, T0 + timedelta(minutes=1))
    assert report.sent == 1 and report.failed == 0
    assert sorted(m["To"] for m in smtp.messages) == ["ann@example.com", "sales@example.com"]
    assert len(slack.posts) == 1
    [incident] = incidents(mail_app, ws)
    assert incident.opened_sent_at == T0 + timedelta(minutes=1) and incident.last_send_error == ""


def test_an_unreachable_mail_server_is_logged_without_secrets_and_retried(sqlite_url):
    import logging

    from tests.alert_sinks import free_port

    app = make_app(sqlite_url, MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_USE_TLS=False,
                   MAIL_USERNAME="alerts", MAIL_PASSWORD="hunter2-smtp-password", MAIL_TIMEOUT=2.0)
    ws = seed(app)
    park(app, ws, 1)
    root = logging.getLogger()
    lines: list[str] = []
    keep = logging.Handler()
    keep.setFormatter(root.handlers[0].formatter)  # the app's own renderer (configure_logging)
    keep.emit = lambda record: lines.append(keep.format(record))  # type: ignore[method-assign]
    root.addHandler(keep)
    # make_app's migration ran Alembic's fileConfig, which disables loggers created before it
    # (an earlier test's); the release process does that apart from the worker, so re-enable here.
    logging.getLogger("server.alerts.rounds").disabled = False
    try:
        report = round_at(app, T0)
    finally:
        root.removeHandler(keep)
    assert report.failed == 1
    [incident] = incidents(app, ws)
    assert incident.opened_sent_at is None and "mail server did not take the message" in incident.last_send_error
    assert "hunter2" not in incident.last_send_error
    [line] = [line for line in lines if "alert_delivery_failed" in line]  # logged...
    assert "mail server did not take the message" in line and "hunter2" not in line  # ...without the password


def test_grant_expiry_is_warned_days_before_on_the_page_and_by_one_alert(mail_app, sinks):
    smtp, _ = sinks
    ws = seed(mail_app)
    warn = timedelta(days=2)
    with mail_app.app_context():
        workspace = db.session.get(Workspace, ws)
        google = db.session.get(ProviderAccount, workspace.google_account_id)
        apply_terms(google, google_terms(T0, testing_mode=True))
        db.session.commit()
        assert google.grant_expiry == GrantExpiry.GOOGLE_TESTING and google.grant_expires_at == T0 + timedelta(days=7)
        trello = db.session.get(ProviderAccount, workspace.trello_account_id)

        def google_line(now: datetime):
            return build_report(workspace, google, trello, now, warn).line("google")

        early = google_line(T0 + timedelta(days=4, hours=23))
        assert early.health == Health.OK and "expires on 08 Dec 2026 09:00 UTC" in early.text
        soon = google_line(T0 + timedelta(days=5, seconds=1))
        assert soon.health == Health.WARNING
        assert soon.text.startswith("The Google account ann@example.com's access expires in 1 day")
        missing = build_report(workspace, None, trello, T0, warn).line("google")
        assert missing.health == Health.PROBLEM and missing.text == "No Google account is connected to this workspace."
        served = build_report(workspace, None, trello, T0, warn, google_service_account=True).line("google")
        assert served.health == Health.OK and "service account" in served.text
        gone = google_line(T0 + timedelta(days=7, seconds=1))
        assert gone.health == Health.PROBLEM and "expired on 08 Dec 2026" in gone.text

    assert round_at(mail_app, T0 + timedelta(days=4, hours=23)).opened == 0
    assert round_at(mail_app, T0 + timedelta(days=5, minutes=1)).opened == 1
    [message] = smtp.messages
    assert message["Subject"] == ("Leads Sync: The Google account ann@example.com used by \"Acme leads\" "
                                  "expires in 1 day")
    assert round_at(mail_app, T0 + timedelta(days=6)).opened == 0 and len(smtp.messages) == 1

    with mail_app.app_context():  # reconnected: a new grant, seven more days
        google = db.session.get(ProviderAccount, db.session.get(Workspace, ws).google_account_id)
        apply_terms(google, google_terms(T0 + timedelta(days=6), testing_mode=True))
        db.session.commit()
    assert round_at(mail_app, T0 + timedelta(days=6, minutes=1)).resolved == 1
    assert smtp.messages[-1]["Subject"].startswith("Leads Sync: Resolved: The Google account")


def test_grant_terms_of_each_provider():
    assert google_terms(T0, testing_mode=False).expires_at is None
    assert trello_terms(T0, "30days").expires_at == T0 + timedelta(days=30)
    assert trello_terms(T0, "1hour").expiry == GrantExpiry.TRELLO_TOKEN
    assert trello_terms(T0, "never").expiry == GrantExpiry.NEVER


def test_connecting_trello_records_the_expiration_asked_for(sqlite_url):
    from server.auth.trello import record_trello_account

    app = make_app(sqlite_url, TRELLO_TOKEN_EXPIRATION="30days")
    with app.test_request_context():
        user = User(email="bo@example.com")
        db.session.add(user)
        db.session.flush()
        account, _ = record_trello_account(db.session, user, "tok", {"id": "m" * 24, "username": "bo"})
        db.session.commit()
        assert account.grant_expiry == GrantExpiry.TRELLO_TOKEN
        assert account.grant_expires_at is not None and account.grant_issued_at is not None
        assert account.grant_expires_at - account.grant_issued_at == timedelta(days=30)


def test_trello_token_expiration_setting_is_checked(monkeypatch, tmp_path):
    from server.config import ConfigError, load_config

    monkeypatch.setenv("TRELLO_TOKEN_EXPIRATION", "forever")
    with pytest.raises(ConfigError, match="TRELLO_TOKEN_EXPIRATION must be one of 1hour, 1day, 30days, never"):
        load_config(str(tmp_path))
    monkeypatch.setenv("TRELLO_TOKEN_EXPIRATION", "30days")
    assert load_config(str(tmp_path))["TRELLO_TOKEN_EXPIRATION"] == "30days"


def test_daily_digest_goes_once_a_day(mail_app, sinks):
    smtp, _ = sinks
    ws = seed(mail_app)
    set_prefs(mail_app, ws, email_mode=EmailMode.OFF, daily_digest=True)
    park(mail_app, ws, 3)
    report = round_at(mail_app, T0)
    assert report.digests == 1 and report.opened == 1
    [digest] = smtp.messages  # email_mode off: no incident email, only the digest
    assert digest["Subject"] == "Leads Sync: Daily summary of \"Acme leads\": 1 problem open"
    assert "Changes to \"Ada Lovelace\" could not be synced" in digest.get_content()
    assert "parked: 3" in digest.get_content()
    assert round_at(mail_app, T0 + timedelta(hours=23)).digests == 0
    assert round_at(mail_app, T0 + timedelta(hours=24)).digests == 1
    assert len(smtp.messages) == 2


def test_recipients_are_the_owner_by_default_members_who_opted_in_and_configured_addresses(sqlite_url, sinks):
    smtp, _ = sinks
    app = make_app(sqlite_url, **smtp.config(), ALERT_EMAIL_TO="ops@example.com")
    ws = seed(app)
    with app.app_context():
        db.session.add_all([User(email="cy@example.com"), User(email="gone@example.com"),
                            WorkspaceMember(workspace_id=ws, email="cy@example.com")])
        db.session.commit()
    set_prefs(app, ws, email="cy@example.com")
    set_prefs(app, ws, email="gone@example.com")  # not a member (any more): ignored
    park(app, ws, 1)
    round_at(app, T0)
    assert sorted(m["To"] for m in smtp.messages) == ["ann@example.com", "cy@example.com", "ops@example.com"]


def test_preferences_form_saves_checks_and_keeps_the_slack_url_secret(mail_app):
    ws = seed(mail_app)
    client = mail_app.test_client()
    with mail_app.app_context():
        owner_id = db.session.scalar(select(User.id).where(User.email == "ann@example.com"))
    sign_in_as(client, mail_app, owner_id)
    bad = client.post(f"/app/workspaces/{ws}/alerts", data={"email_mode": "immediate", "extra_emails": "not-an-email"},
                      follow_redirects=True)
    assert "Alert settings not saved: not-an-email is not an email address" in bad.get_data(as_text=True)
    with mail_app.app_context():
        assert db.session.scalar(select(AlertPreference)) is None
    url = "https://hooks.slack.com/services/T1/B2/secret-part"
    ok = client.post(f"/app/workspaces/{ws}/alerts", follow_redirects=True,
                     data={"email_mode": "off", "extra_emails": "a@example.com, b@example.com",
                           "slack_webhook_url": url, "daily_digest": "1"})
    page = ok.get_data(as_text=True)
    assert "Alert settings saved." in page and "secret-part" not in page
    with mail_app.app_context():
        pref = db.session.scalar(select(AlertPreference))
        assert (pref.email_mode, pref.extra_emails, pref.daily_digest) == ("off", "a@example.com, b@example.com", True)
        assert pref.slack_webhook_url == url
        raw = db.session.execute(text("SELECT slack_webhook_url FROM alert_preferences")).scalar()
        assert "secret-part" not in raw  # encrypted at rest
    client.post(f"/app/workspaces/{ws}/alerts/slack/remove")
    with mail_app.app_context():
        assert db.session.scalar(select(AlertPreference)).slack_webhook_url is None
    other = seed(mail_app, name="Other", email="eve@example.com")
    assert client.post(f"/app/workspaces/{other}/alerts", data={"email_mode": "off"}).status_code == 404


def test_one_round_at_a_time_across_processes(sqlite_url):
    app = make_app(sqlite_url)
    with app.app_context():
        with round_lock(db.engine) as first, round_lock(db.engine) as second:
            assert first is True and second is False
        with round_lock(db.engine) as again:
            assert again is True


@pytest.mark.postgres
def test_one_round_at_a_time_on_postgres(pg_url):
    app = make_app(pg_url)
    with app.app_context():
        with round_lock(db.engine) as first, round_lock(db.engine) as second:
            assert first is True and second is False
        db.engine.dispose()


def test_the_worker_job_only_starts_a_round_in_the_background(sqlite_url):
    """A slow mail server must never hold up the worker's loop: the periodic job returns at once and
    does not start a second round while one runs."""
    import threading

    from server.alerts.runner import AlertRunner, install_alerts
    from server.engine import build_worker, build_workers

    app = make_app(sqlite_url, ALERT_CHECK_INTERVAL_S=60)
    worker = build_worker(app, worker_id="alerts-test")
    assert "alerts" in [job.name for job in worker.periodic.jobs]
    loops = build_workers(app).loops  # `flask worker`: the primary loop runs the periodic jobs
    assert "alerts" in [job.name for job in loops[0].periodic.jobs]
    started, release, calls = threading.Event(), threading.Event(), []

    class SlowChannels:
        def email(self, address, notice):
            calls.append(address)
            started.set()
            release.wait(10)

        def slack(self, url, notice):
            raise AssertionError("no Slack configured")

    ws = seed(app)
    park(app, ws, 1)
    with app.app_context():
        runner = AlertRunner(db.engine, SlowChannels(), AlertSettings(email_enabled=True), clock=lambda: T0)
    runner()
    assert started.wait(10)
    runner()  # still running: not started twice
    assert calls == ["ann@example.com"]
    release.set()
    runner.join()
    assert runner.last_report is not None and runner.last_report.sent == 1
    off = make_app(sqlite_url, ALERT_CHECK_INTERVAL_S=0)
    assert install_alerts(off, build_worker(off), None) is None  # type: ignore[arg-type]


def test_flask_alerts_command_runs_one_round(sqlite_url, sinks):
    smtp, _ = sinks
    app = make_app(sqlite_url, **smtp.config())
    ws = seed(app)
    park(app, ws, 2)
    result = app.test_cli_runner().invoke(args=["alerts"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "opened: 1, resolved: 0, sent: 1, failed: 0, digests: 0"
    assert len(smtp.messages) == 1
