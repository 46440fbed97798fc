"""/metrics (off by default, bearer token), /ready (worker heartbeats, live backlog) on a fake clock,
and the instruments the engine calls."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import requests
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from server import ConfigError, metrics
from server.extensions import db
from server.metrics import multiproc
from server.metrics.heartbeat import Heartbeat
from server.models import Event
from server.models.sync import Lane
from server.models.workspace import PAUSED
from server.seed import seed_workspace
from server.sync.merge import FieldClock
from tests.conftest import make_app

TOKEN = "metrics-token-0123456789abcdef"
T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _families(text: str) -> dict[str, list]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def _workspace(app, name: str, state: str | None = None) -> str:
    with app.app_context():
        workspace = seed_workspace(db.session, email=f"{name}@example.com", trello_member_id=f"m-{name}",
                                   trello_username=name, trello_token="t", google_token="g",
                                   spreadsheet_id=f"s-{name}", sheet_name="Leads", board_id=f"b-{name}",
                                   mapping={}, name=name)
        if state:
            workspace.state = state
        db.session.commit()
        return workspace.id


def _event(app, workspace_id: str, received_at: datetime, lane: int = Lane.LIVE, state: str = "pending") -> None:
    with app.app_context():
        db.session.add(Event(workspace_id=workspace_id, source="sheets", provider_event_id=f"e-{time.monotonic_ns()}",
                             kind="row", order_key="lead:x", payload="{}", lane=int(lane), state=state,
                             received_at=received_at, next_attempt_at=received_at))
        db.session.commit()


# --------------------------------------------------------------------------- /metrics


def test_metrics_are_off_by_default(client):
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 404


def test_metrics_need_the_bearer_token(sqlite_url):
    app = make_app(sqlite_url, METRICS_ENABLED=True, METRICS_TOKEN=TOKEN)
    client = app.test_client()
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": f"Basic {TOKEN}"}):
        answer = client.get("/metrics", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert "METRICS_TOKEN" in answer.get_json()["error"]["message"]
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain")
    families = _families(answer.get_data(as_text=True))
    assert {"leads_sync_events", "leads_sync_oldest_pending_event_age_seconds", "leads_sync_workers_alive",
            "leads_sync_outbound_requests", "leads_sync_propagation_seconds"} <= set(families)
    # every counted state has a series, so "parked > 0" alerts see a 0 rather than nothing
    assert {s.labels["state"] for s in families["leads_sync_events"]} == {"pending", "processing", "parked"}


def test_metrics_without_a_token_refuse_to_start(sqlite_url):
    with pytest.raises(ConfigError, match="METRICS_TOKEN"):
        make_app(sqlite_url, METRICS_ENABLED=True, METRICS_TOKEN="")
    with pytest.raises(ConfigError, match="READY_WORKER_MAX_AGE_S"):
        make_app(sqlite_url, READY_WORKER_MAX_AGE_S="soon")


def test_database_gauges_on_a_fake_clock(sqlite_url):
    app = make_app(sqlite_url, METRICS_ENABLED=True, METRICS_TOKEN=TOKEN)
    clock = app.extensions["leads_clock"] = FakeClock(T0)
    active, paused = _workspace(app, "ann"), _workspace(app, "bob", PAUSED)
    _event(app, active, T0 - timedelta(seconds=90))
    _event(app, active, T0 - timedelta(seconds=30), lane=Lane.BULK)
    _event(app, active, T0 - timedelta(seconds=500), state="parked")
    _event(app, paused, T0 - timedelta(hours=5))  # waits on purpose: not backlog
    with app.app_context():
        Heartbeat(db.engine, "host:1:1", clock=lambda: T0 - timedelta(seconds=20)).beat()
        Heartbeat(db.engine, "host:2:1", clock=lambda: T0 - timedelta(seconds=600)).beat()
    clock.now = T0
    text = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(as_text=True)
    families = _families(text)
    events = {(s.labels["state"], s.labels["source"], s.labels["lane"]): s.value for s in families["leads_sync_events"]}
    assert events[("pending", "sheets", "live")] == 2
    assert events[("pending", "sheets", "bulk")] == 1
    assert events[("parked", "sheets", "live")] == 1
    oldest = {s.labels["lane"]: s.value for s in families["leads_sync_oldest_pending_event_age_seconds"]}
    assert oldest == {"live": 90.0, "bulk": 30.0, "job": 0.0}
    seen = {s.labels["worker"]: s.value for s in families["leads_sync_worker_last_seen_timestamp_seconds"]}
    assert seen == {"host:1:1": (T0 - timedelta(seconds=20)).timestamp(),
                    "host:2:1": (T0 - timedelta(seconds=600)).timestamp()}
    assert families["leads_sync_workers_alive"][0].value == 1


# --------------------------------------------------------------------------- /ready


def test_ready_follows_the_workers_heartbeats(sqlite_url):
    app = make_app(sqlite_url, READY_WORKER_MAX_AGE_S=60)
    clock = app.extensions["leads_clock"] = FakeClock(T0)
    client = app.test_client()
    answer = client.get("/ready")
    assert answer.status_code == 503
    assert answer.get_json()["reason"] == "no sync worker has been heard from"
    with app.app_context():
        beat_clock = FakeClock(T0)
        heartbeat = Heartbeat(db.engine, "host:7:1", clock=beat_clock)
        heartbeat.beat()
    assert client.get("/ready").status_code == 200
    clock.now = T0 + timedelta(seconds=59)
    answer = client.get("/ready")
    assert answer.status_code == 200 and answer.get_json()["worker_last_seen_s"] == 59.0
    clock.now = T0 + timedelta(seconds=75)
    answer = client.get("/ready")
    assert answer.status_code == 503
    assert answer.get_json()["reason"] == "no sync worker heard from for 75 s (more than 60 s)"
    beat_clock.now = T0 + timedelta(seconds=70)
    with app.app_context():
        heartbeat.beat()  # the loop turned again
    assert client.get("/ready").status_code == 200
    with app.app_context():
        heartbeat.stop()  # stopped cleanly: no worker left
    assert client.get("/ready").status_code == 503
    assert client.get("/health").status_code == 200  # liveness never looks at workers


def test_ready_fails_on_an_old_live_event_only(sqlite_url):
    app = make_app(sqlite_url, READY_WORKER_MAX_AGE_S=0, READY_BACKLOG_MAX_AGE_S=300)
    app.extensions["leads_clock"] = FakeClock(T0)
    client = app.test_client()
    active, paused = _workspace(app, "ann"), _workspace(app, "bob", PAUSED)
    _event(app, paused, T0 - timedelta(hours=2))  # a paused workspace's events wait on purpose
    _event(app, active, T0 - timedelta(hours=1), lane=Lane.BULK)  # a big paste takes its time
    _event(app, active, T0 - timedelta(hours=3), state="done")
    answer = client.get("/ready")
    assert answer.status_code == 200, answer.get_json()
    _event(app, active, T0 - timedelta(seconds=301))
    answer = client.get("/ready")
    assert answer.status_code == 503
    assert answer.get_json()["reason"] == "the oldest waiting live event arrived 301 s ago (more than 300 s)"
    assert answer.get_json()["database"] == "ok"


# --------------------------------------------------------------------------- instruments


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_propagation_counts_each_new_change_once():
    before_t2s = _value("leads_sync_propagation_seconds_count", direction="trello_to_sheet")
    now = time.time() * 1000
    clocks = {
        "Status": FieldClock(t=now - 1500, s="trello", ws=now - 60000),  # new: written now
        "Name": FieldClock(t=now - 90000, s="trello", ws=now - 60000),  # written before already
        "Email": FieldClock(t=now - 1500, s="sheets"),  # a sheet change is not trello -> sheet
        "Notes": FieldClock(t=now - 1500, s="trello"),  # same change as Status: counted once
    }
    before_sum = _value("leads_sync_propagation_seconds_sum", direction="trello_to_sheet")
    metrics.sheet_written(clocks, ["Status", "Name", "Email", "Notes", "Missing"], now)
    assert _value("leads_sync_propagation_seconds_count", direction="trello_to_sheet") == before_t2s + 1
    assert _value("leads_sync_propagation_seconds_sum", direction="trello_to_sheet") == pytest.approx(before_sum + 1.5)

    before = _value("leads_sync_propagation_seconds_count", direction="sheet_to_trello")
    change = SimpleNamespace(at=time.time() * 1000 - 800, side="sheets")
    merge = SimpleNamespace(fields={
        "Name": SimpleNamespace(winner=change, write={"trello"}),
        "Status": SimpleNamespace(winner=change, write={"trello"}),
        "Phone": SimpleNamespace(winner=SimpleNamespace(at=1.0, side="trello"), write={"sheets"}),
    })
    metrics.card_written(merge, int(Lane.BULK))  # bulk work is not a person's wait
    assert _value("leads_sync_propagation_seconds_count", direction="sheet_to_trello") == before
    metrics.card_written(merge, int(Lane.LIVE))
    metrics.card_created(int(Lane.LIVE), time.time() * 1000 - 300)
    assert _value("leads_sync_propagation_seconds_count", direction="sheet_to_trello") == before + 2


def test_outbound_answers_and_429s_are_counted_once_per_session():
    from emulators.trello import TrelloEmulator
    from server.trello.client import TrelloClient
    from server.trello.errors import TrelloAuthError

    trello = TrelloEmulator(api_key="emulator-key", api_secret="emulator-secret")
    trello.start()
    try:
        member = trello.add_member("ann", "Ann")
        token = trello.issue_token(member["id"])
        session = requests.Session()
        ok = _value("leads_sync_outbound_requests_total", provider="trello", status="200")
        refused = _value("leads_sync_outbound_requests_total", provider="trello", status="401")
        client = TrelloClient("emulator-key", token, base_url=trello.api_base_url, session=session)
        TrelloClient("emulator-key", token, base_url=trello.api_base_url, session=session)  # same session
        client.me()
        with pytest.raises(TrelloAuthError):
            TrelloClient("emulator-key", "no-such-token", base_url=trello.api_base_url).me()
        assert _value("leads_sync_outbound_requests_total", provider="trello", status="200") == ok + 1
        assert _value("leads_sync_outbound_requests_total", provider="trello", status="401") == refused + 1
    finally:
        trello.stop()
    limited = _value("leads_sync_rate_limited_total", provider="sheets")
    hooks: dict = {}
    fake_session = SimpleNamespace(hooks=hooks)
    metrics.count_responses(fake_session, "sheets")
    hooks["response"][0](SimpleNamespace(status_code=429))
    assert _value("leads_sync_rate_limited_total", provider="sheets") == limited + 1


def test_limiter_waits_and_deferrals():
    from server.sync.ratelimit import RateLimiter, SlotLater

    limiter = RateLimiter("sqlite://", sqlite_path=":memory:")
    granted = _value("leads_sync_limiter_wait_seconds_count", limit="sheets:write")
    deferred = _value("leads_sync_limiter_deferred_total", limit="sheets:write")
    specs = [("sheets:write:user-1", 1, 60.0)]
    limiter.grant(specs, max_wait=0.0)
    with pytest.raises(SlotLater):
        limiter.grant(specs, max_wait=0.0)
    assert _value("leads_sync_limiter_wait_seconds_count", limit="sheets:write") == granted + 1
    assert _value("leads_sync_limiter_deferred_total", limit="sheets:write") == deferred + 1
    limiter.close()


# --------------------------------------------------------------------------- multi-process files


def test_dead_processes_files_are_pruned(tmp_path, monkeypatch):
    monkeypatch.setenv(multiproc.ENV, str(tmp_path))
    mine = multiproc.identifier()
    dead = multiproc.identifier(2 ** 22 + 12345)  # above any pid_max: never alive
    other_host = f"elsewhere-{2 ** 22 + 12345}"
    names = [f"counter_{mine}.db", f"histogram_{dead}.db", f"gauge_livesum_{dead}.db", f"counter_{other_host}.db"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert multiproc.prune_dead() == 2
    assert sorted(os.listdir(tmp_path)) == sorted([f"counter_{mine}.db", f"counter_{other_host}.db"])
    (tmp_path / f"gauge_liveall_{dead}.db").write_bytes(b"")
    multiproc.mark_dead(2 ** 22 + 12345)
    assert not (tmp_path / f"gauge_liveall_{dead}.db").exists()


def test_documented_queries_and_dashboard_name_real_metrics(sqlite_url):
    import json
    import re
    from pathlib import Path

    app = make_app(sqlite_url, METRICS_ENABLED=True, METRICS_TOKEN=TOKEN)
    text = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(as_text=True)
    exported = set(re.findall(r"^# TYPE (leads_sync_\w+) (\w+)", text, re.MULTILINE))
    names = set()
    for name, kind in exported:
        names |= {name, *(f"{name}{suffix}" for suffix in {"counter": ["_total"],
                                                              "histogram": ["_bucket", "_sum", "_count"]}.get(kind, []))}
    docs = Path(__file__).resolve().parents[2] / "docs"
    dashboard = json.loads((docs / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 10
    used = set(re.findall(r"leads_sync_\w+", "\n".join(exprs) + (docs / "METRICS.md").read_text()))
    assert used - names == set()
    for required in ("leads_sync_oldest_pending_event_age_seconds", "leads_sync_propagation_seconds_bucket",
                     "leads_sync_rate_limited_total", "leads_sync_worker_last_seen_timestamp_seconds"):
        assert required in used


def test_multiprocess_directory_problems_are_one_line(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(multiproc.ENV, str(blocker / "metrics"))
    with pytest.raises(ConfigError, match="PROMETHEUS_MULTIPROC_DIR .* cannot be created"):
        multiproc.configure()


def test_gunicorn_gets_a_private_multiprocess_directory_when_metrics_are_on(monkeypatch):
    import runpy
    from pathlib import Path

    conf = str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py")
    monkeypatch.setenv(multiproc.ENV, "")  # empty is unset; undone afterwards, whatever the conf sets
    monkeypatch.setenv("METRICS_ENABLED", "0")
    runpy.run_path(conf)
    assert os.environ[multiproc.ENV] == ""
    monkeypatch.setenv("METRICS_ENABLED", "1")
    runpy.run_path(conf)
    assert Path(os.environ[multiproc.ENV]).is_dir()
    os.rmdir(os.environ[multiproc.ENV])


def test_a_loop_beats_at_most_every_interval(sqlite_url):
    from server.metrics import heartbeat as heartbeat_module

    app = make_app(sqlite_url)
    ticks = [100.0]
    wall = FakeClock(T0)
    with app.app_context():
        beat = Heartbeat(db.engine, "host:9:1", clock=wall, monotonic=lambda: ticks[0])
        beat.beat_if_due()
        assert [(s.worker_id, s.seen_at) for s in heartbeat_module.seen(db.engine)] == [("host:9:1", T0)]
        wall.now, ticks[0] = T0 + timedelta(seconds=5), 105.0
        beat.beat_if_due()  # too soon: no write
        assert heartbeat_module.seen(db.engine)[0].seen_at == T0
        wall.now, ticks[0] = T0 + timedelta(seconds=10), 100.0 + heartbeat_module.INTERVAL_S
        beat.beat_if_due()
        assert heartbeat_module.seen(db.engine)[0].seen_at == T0 + timedelta(seconds=10)


def test_a_broken_database_is_a_reason_not_a_500(tmp_path):
    database = tmp_path / "app.db"
    app = make_app(f"sqlite:///{database}", METRICS_ENABLED=True, METRICS_TOKEN=TOKEN)
    with app.app_context():
        db.engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"app.db{suffix}").unlink(missing_ok=True)  # the next connection finds no tables
    client = app.test_client()
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.get_json()["reason"] == "the database does not answer"
    scrape = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scrape.status_code == 200
    families = _families(scrape.get_data(as_text=True))
    assert families["leads_sync_database_up"][0].value == 0
    assert "leads_sync_outbound_requests" in families  # the process metrics are still there
    assert "leads_sync_events" not in families
