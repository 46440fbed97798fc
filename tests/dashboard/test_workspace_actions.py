"""The workspace page's state transitions (``server/dashboard/workspace_actions.py``), without Flask.

A plain SQLAlchemy session on a fresh SQLite database, an in-memory Trello that keeps webhooks,
an in-memory sheet tab, and recorders for ``forget`` and ``wake``. The views' wiring (routes,
flashes, redirects, CSRF, tenancy) is tested in ``tests/dashboard/`` and ``tests/app/test_tenancy.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from server import crypto
from server.dashboard import workspace_actions as actions
from server.database import install_engine_hooks
from server.models import Base, Event, User, Workspace, WorkspaceMember
from server.models.sync import PARKED, PENDING
from server.models.workspace import ACTIVE, DISCONNECTED, DRAFT, NEEDS_REAUTH, PAUSED
from server.seed import seed_workspace
from server.sheets.errors import SheetsAuthError, sheets_error_message
from server.trello.errors import TrelloBadRequest, TrelloError, TrelloNotFound, TrelloUnavailable

BASE_URL = "https://leads.example.com/"


class FakeTrello:
    """Trello's webhook endpoints, in memory; set ``fail_with`` to make every call raise it."""

    def __init__(self) -> None:
        self.hooks: dict[str, dict[str, Any]] = {}
        self.fail_with: TrelloError | None = None
        self.calls = 0

    def _call(self) -> None:
        self.calls += 1
        if self.fail_with is not None:
            raise self.fail_with

    def create_webhook(self, *, callback_url: str, id_model: str, description: str = "") -> dict[str, Any]:
        self._call()
        hook = {"id": f"hook-{len(self.hooks) + 1}", "callbackURL": callback_url, "idModel": id_model, "active": True}
        self.hooks[hook["id"]] = hook
        return hook

    def token_webhooks(self) -> list[dict[str, Any]]:
        self._call()
        return list(self.hooks.values())

    def delete_webhook(self, webhook_id: str) -> None:
        self._call()
        if self.hooks.pop(webhook_id, None) is None:
            raise TrelloNotFound("webhook not found", 404)


class FakeSheet:
    """A tab's header row and grid width; ``sheet_id`` is learnt from ``grid_size`` as the real tab does."""

    def __init__(self, header: list[str], columns: int, gid: int = 0) -> None:
        self.row = list(header)
        self.columns = columns
        self.gid = gid
        self.sheet_id: int | None = None

    def header(self, header_row: int = 1) -> list[str]:
        return list(self.row)

    def grid_size(self) -> tuple[int, int]:
        self.sheet_id = self.gid
        return 1000, self.columns

    def write_cells(self, cells: list[tuple[int, int, Any]]) -> int:
        for row, column, value in cells:
            assert row == 1 and column == len(self.row) + 1
            self.row.append(value)
        return len(cells)


@dataclass
class Scene:
    """Ann owns a syncing workspace with a registered webhook; Bob is a member."""

    session: Session
    ws: Workspace
    ann: User
    bob: User
    trello: FakeTrello
    forgotten: list[str] = field(default_factory=list)
    wakes: int = 0

    def trello_for(self, workspace: Workspace) -> FakeTrello:
        return self.trello

    def forget(self, workspace_id: str) -> None:
        self.forgotten.append(workspace_id)

    def wake(self) -> None:
        self.session.commit()
        self.wakes += 1

    def events(self, **filters: Any) -> list[Event]:
        return list(self.session.execute(select(Event).filter_by(workspace_id=self.ws.id, **filters)
                                         .order_by(Event.id)).scalars())

    def snapshot(self) -> dict[str, Any]:
        """Everything a refusal must leave alone, as stored (and as held in the session)."""
        columns = {c.key: getattr(self.ws, c.key) for c in Workspace.__table__.columns}
        counts = {table.__name__: self.session.execute(select(func.count()).select_from(table)).scalar()
                  for table in (Event, WorkspaceMember, Workspace)}
        return {"workspace": columns, "counts": counts, "hooks": dict(self.trello.hooks),
                "forgotten": list(self.forgotten), "wakes": self.wakes}

    def refused(self, call: Any, exception: type[actions.Refused] = actions.Refused) -> actions.Refused:
        """Run ``call``; it must raise ``exception`` and change nothing."""
        before = self.snapshot()
        with pytest.raises(exception) as raised:
            call()
        assert not (self.session.dirty or self.session.new or self.session.deleted)
        assert self.snapshot() == before
        return raised.value


@pytest.fixture
def scene(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Scene]:
    monkeypatch.setattr(crypto, "_cipher", None)  # the app's cipher comes back after the test
    crypto.configure(crypto.generate_key(), "unused")
    engine = create_engine(sqlite_url)
    install_engine_hooks(engine)
    Base.metadata.create_all(engine)
    trello = FakeTrello()
    with Session(engine) as session:
        ws = seed_workspace(session, email="ann@example.com", trello_member_id="m-ann", trello_username="ann",
                            trello_token="trello-token", google_token="google-token", spreadsheet_id="s" * 20,
                            sheet_name="Leads", board_id="b" * 24, mapping={}, name="Pipeline")
        hook = trello.create_webhook(callback_url=f"{BASE_URL}webhooks/trello/{ws.id}", id_model=ws.trello_board_id)
        ws.trello_webhook_id, ws.trello_webhook_callback = hook["id"], hook["callbackURL"]
        bob = User(email="bob@example.com", name="Bob")
        session.add_all([bob, WorkspaceMember(workspace_id=ws.id, email="bob@example.com")])
        session.commit()
        ann = session.get(User, ws.owner_id)
        trello.calls = 0
        yield Scene(session=session, ws=ws, ann=ann, bob=bob, trello=trello)
    engine.dispose()


def make_draft(scene: Scene) -> None:
    scene.ws.state = DRAFT
    scene.ws.trello_webhook_id = scene.ws.trello_webhook_callback = None
    scene.trello.hooks.clear()
    scene.session.commit()


def texts(outcome: actions.Outcome) -> list[tuple[str, str]]:
    return list(outcome.messages)


# --------------------------------------------------------------------------- sync now, pause, resume


def test_sync_now_queues_a_reconciliation_of_a_syncing_workspace(scene: Scene) -> None:
    outcome = actions.sync_now(scene.session, scene.ws, scene.bob, wake=scene.wake)
    assert texts(outcome) == [("success", "A full sync is queued; the page updates as it runs.")]
    [event] = scene.events(state=PENDING)
    assert (event.source, event.kind, event.payload) == ("system", "reconcile", f'{{"requested_by":{scene.bob.id}}}')
    assert scene.wakes == 1


@pytest.mark.parametrize("state", [PAUSED, NEEDS_REAUTH, DISCONNECTED, DRAFT])
def test_sync_now_is_refused_unless_syncing(scene: Scene, state: str) -> None:
    scene.ws.state = state
    scene.session.commit()
    refusal = scene.refused(lambda: actions.sync_now(scene.session, scene.ws, scene.ann, wake=scene.wake))
    assert str(refusal).startswith("The workspace is not syncing") and refusal.category == "error"


def test_pause_stops_a_syncing_workspace_and_says_who(scene: Scene) -> None:
    outcome = actions.pause(scene.session, scene.ws, scene.bob)  # members may pause
    assert texts(outcome) == [("success", "Sync is paused. Changes are kept and applied when you resume.")]
    scene.session.expire_all()
    assert (scene.ws.state, scene.ws.state_detail) == (PAUSED, "Paused by bob@example.com.")


@pytest.mark.parametrize("state", [PAUSED, NEEDS_REAUTH, DISCONNECTED, DRAFT])
def test_pause_is_refused_unless_syncing(scene: Scene, state: str) -> None:
    scene.ws.state = state
    scene.session.commit()
    refusal = scene.refused(lambda: actions.pause(scene.session, scene.ws, scene.ann))
    assert str(refusal) == "Only a syncing workspace can be paused."


@pytest.mark.parametrize("state", [PAUSED, NEEDS_REAUTH])
def test_resume_syncs_a_paused_or_reauthorised_workspace_again(scene: Scene, state: str) -> None:
    scene.ws.state, scene.ws.state_detail = state, "Paused by ann@example.com."
    scene.session.commit()
    outcome = actions.resume(scene.ws, forget=scene.forget, wake=scene.wake)
    assert texts(outcome) == [("success", "Sync resumed.")]
    scene.session.expire_all()
    assert (scene.ws.state, scene.ws.state_detail) == (ACTIVE, "")
    assert scene.forgotten == [scene.ws.id] and scene.wakes == 1


@pytest.mark.parametrize("state", [ACTIVE, DISCONNECTED])
def test_resume_is_refused_unless_paused(scene: Scene, state: str) -> None:
    scene.ws.state = state
    scene.session.commit()
    refusal = scene.refused(lambda: actions.resume(scene.ws, forget=scene.forget, wake=scene.wake))
    assert str(refusal) == "Only a paused workspace (or one waiting for re-authorisation) can be resumed."


def test_a_draft_is_not_resumed_but_sent_to_its_setup(scene: Scene) -> None:
    make_draft(scene)
    scene.refused(lambda: actions.resume(scene.ws, forget=scene.forget, wake=scene.wake), actions.DraftNotStarted)
    assert scene.ws.state == DRAFT


# --------------------------------------------------------------------------- disconnect and reconnect


def disconnect(scene: Scene, user: User, trello: Any = None) -> actions.Outcome:
    return actions.disconnect(scene.session, scene.ws, user, trello=trello or scene.trello_for, forget=scene.forget)


def reconnect(scene: Scene, user: User, trello: Any = None) -> actions.Outcome:
    return actions.reconnect(scene.session, scene.ws, user, trello=trello or scene.trello_for,
                             public_base_url=BASE_URL, wake=scene.wake)


def test_disconnect_removes_the_webhook_and_the_connect_code(scene: Scene) -> None:
    actions.new_connect_code(scene.session, scene.ws)
    outcome = disconnect(scene, scene.ann)
    assert texts(outcome) == [("success", "Disconnected: the Trello webhook is removed and the add-on's events are "
                                          "refused.")]
    scene.session.expire_all()
    ws = scene.ws
    assert (ws.state, ws.state_detail) == (DISCONNECTED, "Disconnected by ann@example.com.")
    assert ws.trello_webhook_id is ws.trello_webhook_callback is ws.connect_code_hash is None
    assert ws.connect_code_expires_at is None and scene.trello.hooks == {}
    assert scene.forgotten == [ws.id]


def test_disconnect_is_for_the_owner_only(scene: Scene) -> None:
    refusal = scene.refused(lambda: disconnect(scene, scene.bob))
    assert str(refusal) == "Only the workspace's owner can disconnect it."
    assert scene.trello.calls == 0


def test_disconnecting_twice_says_so(scene: Scene) -> None:
    disconnect(scene, scene.ann)
    refusal = scene.refused(lambda: disconnect(scene, scene.ann))
    assert (str(refusal), refusal.category) == ("The workspace is already disconnected.", "info")


def test_a_webhook_trello_would_not_remove_gives_a_warning_but_disconnects(scene: Scene) -> None:
    scene.trello.fail_with = TrelloUnavailable("read timed out")
    outcome = disconnect(scene, scene.ann)
    [(category, warning), success] = texts(outcome)
    assert category == "error" and warning == ("Trello did not remove the webhook (Trello did not answer; try again in "
                                               "a moment.) It stops by itself: this server answers its deliveries "
                                               "with 410 Gone.")
    assert success[0] == "success" and success[1].startswith("Disconnected:")
    scene.session.expire_all()
    assert scene.ws.state == DISCONNECTED and scene.ws.trello_webhook_id is None
    assert scene.trello.hooks  # still at Trello: it stops when this server answers 410


def test_disconnect_without_a_trello_account_warns_and_disconnects(scene: Scene) -> None:
    outcome = disconnect(scene, scene.ann, trello=lambda ws: None)
    assert texts(outcome)[0] == ("error", "The Trello webhook could not be removed (no Trello account); Trello removes "
                                          "it on its next delivery, which this server refuses.")
    scene.session.expire_all()
    assert scene.ws.state == DISCONNECTED and scene.ws.trello_webhook_id is None


def test_reconnect_registers_the_webhook_and_queues_a_full_sync(scene: Scene) -> None:
    disconnect(scene, scene.ann)
    outcome = reconnect(scene, scene.ann)
    assert texts(outcome) == [("success", "Reconnected: the Trello webhook is back and a full sync is queued.")]
    scene.session.expire_all()
    ws = scene.ws
    assert (ws.state, ws.state_detail) == (ACTIVE, "")
    assert ws.trello_webhook_callback == f"https://leads.example.com/webhooks/trello/{ws.id}"
    assert scene.trello.hooks[ws.trello_webhook_id]["idModel"] == ws.trello_board_id
    assert [(e.kind, e.payload) for e in scene.events(state=PENDING)] == [("reconcile", '{"reconnected":true}')]
    assert scene.wakes == 1


def test_reconnect_is_for_the_owner_only_and_only_when_disconnected(scene: Scene) -> None:
    refusal = scene.refused(lambda: reconnect(scene, scene.ann))
    assert (str(refusal), refusal.category) == ("The workspace is not disconnected.", "info")
    disconnect(scene, scene.ann)
    refusal = scene.refused(lambda: reconnect(scene, scene.bob))
    assert str(refusal) == "Only the workspace's owner can reconnect it."


def test_a_refused_registration_changes_nothing(scene: Scene) -> None:
    disconnect(scene, scene.ann)
    scene.trello.fail_with = TrelloBadRequest("URL did not respond with 200", 400)
    failure = scene.refused(lambda: reconnect(scene, scene.ann), actions.StepFailed)
    assert str(failure) == ("Trello could not register the board's webhook: it must reach "
                            f"https://leads.example.com/webhooks/trello/{scene.ws.id}. Check that PUBLIC_BASE_URL is "
                            "this server's public HTTPS address. (URL did not respond with 200)")
    assert scene.ws.state == DISCONNECTED and not scene.events()
    failure = scene.refused(lambda: reconnect(scene, scene.ann, trello=lambda ws: None), actions.StepFailed)
    assert str(failure) == "This workspace has no Trello account; connect Trello on the Connections page."


# --------------------------------------------------------------------------- delete


def test_delete_removes_the_workspace_and_its_webhook(scene: Scene) -> None:
    ws_id = scene.ws.id
    refusal = scene.refused(lambda: actions.delete(scene.session, scene.ws, scene.bob, trello=scene.trello_for,
                                                   forget=scene.forget))
    assert str(refusal) == "Only the workspace's owner can delete it."
    outcome = actions.delete(scene.session, scene.ws, scene.ann, trello=scene.trello_for, forget=scene.forget)
    assert texts(outcome) == [("success", "The workspace “Pipeline” is deleted. The sheet and the board are "
                                          "untouched.")]
    assert scene.session.get(Workspace, ws_id) is None and scene.trello.hooks == {}
    assert scene.forgotten == [ws_id]


# --------------------------------------------------------------------------- start a draft, connect codes


def start(scene: Scene, user: User, tab: FakeSheet) -> actions.Outcome:
    return actions.start(scene.session, scene.ws, user, sheet=lambda ws: tab, trello=scene.trello_for,
                         public_base_url=BASE_URL, wake=scene.wake)


def test_start_adds_the_lead_id_column_registers_and_queues_the_first_sync(scene: Scene) -> None:
    make_draft(scene)
    tab = FakeSheet(["Name", "Status"], columns=26, gid=777)
    outcome = start(scene, scene.ann, tab)
    assert texts(outcome) == [("success", "The workspace is created and its first sync is queued.")]
    assert outcome.connect_code and len(outcome.connect_code) == 14
    scene.session.expire_all()
    ws = scene.ws
    assert (ws.state, ws.state_detail, ws.sheet_gid) == (ACTIVE, "", 777)
    assert ws.sync_progress == {"phase": "queued", "done": 0, "total": 0}
    assert tab.row == ["Name", "Status", "Lead ID"] and ws.trello_webhook_id in scene.trello.hooks
    assert [(e.kind, e.payload) for e in scene.events()] == [("reconcile", '{"first_sync":true}')]
    assert ws.connect_code_hash and scene.wakes == 1


def test_start_is_refused_for_a_started_workspace_or_a_member(scene: Scene) -> None:
    tab = FakeSheet(["Name", "Status", "Lead ID"], columns=26)
    refusal = scene.refused(lambda: start(scene, scene.ann, tab))
    assert (str(refusal), refusal.category) == ("This workspace is already set up.", "info")
    make_draft(scene)
    refusal = scene.refused(lambda: start(scene, scene.bob, tab))
    assert str(refusal) == "Only the workspace's owner can start it."


def test_start_without_room_for_the_lead_id_column_changes_nothing(scene: Scene) -> None:
    make_draft(scene)
    tab = FakeSheet(["Name", "Status"], columns=2)
    failure = scene.refused(lambda: start(scene, scene.ann, tab), actions.StepFailed)
    assert str(failure).startswith("The tab “Leads” has no free column for “Lead ID”.")
    assert tab.row == ["Name", "Status"] and scene.trello.calls == 0


def test_start_says_in_words_what_google_refused(scene: Scene) -> None:
    make_draft(scene)

    def revoked(ws: Workspace) -> FakeSheet:
        raise SheetsAuthError("invalid_grant", 401)

    failure = scene.refused(lambda: actions.start(scene.session, scene.ws, scene.ann, sheet=revoked,
                                                  trello=scene.trello_for, public_base_url=BASE_URL, wake=scene.wake),
                            actions.StepFailed)
    assert str(failure) == sheets_error_message(SheetsAuthError("invalid_grant", 401))
    assert scene.trello.calls == 0


def test_connect_codes_only_for_started_connected_workspaces(scene: Scene) -> None:
    outcome = actions.new_connect_code(scene.session, scene.ws)
    assert outcome.connect_code and outcome.messages == ()
    disconnect(scene, scene.ann)
    refusal = scene.refused(lambda: actions.new_connect_code(scene.session, scene.ws))
    assert str(refusal) == "Start (or reconnect) the workspace before connecting the add-on."
    make_draft(scene)
    refusal = scene.refused(lambda: actions.new_connect_code(scene.session, scene.ws))
    assert str(refusal) == "Start (or reconnect) the workspace before connecting the add-on."


# --------------------------------------------------------------------------- parked events


def park(scene: Scene, name: str) -> Event:
    event = Event(workspace_id=scene.ws.id, source="system", provider_event_id=name, kind="reconcile",
                  order_key="workspace:reconcile", payload="{}", state=PARKED, attempts=8, locked_by="w1",
                  processed_at=datetime.now(timezone.utc), last_error="the sheet is protected")
    scene.session.add(event)
    scene.session.commit()
    return event


def test_retry_queues_a_parked_event_as_new(scene: Scene) -> None:
    event = park(scene, "parked-1")
    outcome = actions.retry_event(event, wake=scene.wake)
    assert texts(outcome) == [("success", f"Event {event.id} is queued again.")]
    scene.session.expire_all()
    assert (event.state, event.attempts, event.processed_at, event.locked_by) == (PENDING, 0, None, None)
    refusal = scene.refused(lambda: actions.retry_event(event, wake=scene.wake))
    assert (str(refusal), refusal.category) == ("That event is not parked any more.", "info")


def test_retry_all_queues_every_parked_event(scene: Scene) -> None:
    assert texts(actions.retry_parked(scene.session, scene.ws, wake=scene.wake)) == [("success", "Nothing is parked.")]
    park(scene, "parked-1")
    park(scene, "parked-2")
    outcome = actions.retry_parked(scene.session, scene.ws, wake=scene.wake)
    assert texts(outcome) == [("success", "2 parked event(s) queued again.")]
    assert not scene.events(state=PARKED) and len(scene.events(state=PENDING)) == 2


# --------------------------------------------------------------------------- members


def test_invite_checks_the_address_then_adds_a_member(scene: Scene) -> None:
    invite = actions.invite
    refusal = scene.refused(lambda: invite(scene.session, scene.ws, scene.bob, "carol@example.com"))
    assert str(refusal) == "Only the workspace's owner can invite members."
    refusal = scene.refused(lambda: invite(scene.session, scene.ws, scene.ann, "not-an-email"))
    assert str(refusal) == "Enter an email address, like sam@example.com."
    refusal = scene.refused(lambda: invite(scene.session, scene.ws, scene.ann, " Ann@Example.com "))
    assert (str(refusal), refusal.category) == ("That is the owner's address.", "info")
    refusal = scene.refused(lambda: invite(scene.session, scene.ws, scene.ann, "BOB@example.com"))
    assert (str(refusal), refusal.category) == ("BOB@example.com is already a member.", "info")
    outcome = invite(scene.session, scene.ws, scene.ann, " Carol@Example.com ")
    assert texts(outcome) == [("success", "Carol@Example.com can now see and run this workspace after signing in "
                                          "with that address.")]
    emails = scene.session.execute(select(WorkspaceMember.email).where(WorkspaceMember.workspace_id == scene.ws.id))
    assert sorted(emails.scalars()) == ["bob@example.com", "carol@example.com"]


def test_only_the_owner_removes_members(scene: Scene) -> None:
    member = scene.session.execute(select(WorkspaceMember)).scalar_one()
    refusal = scene.refused(lambda: actions.remove_member(scene.session, scene.ws, scene.bob, member))
    assert str(refusal) == "Only the workspace's owner can remove members."
    outcome = actions.remove_member(scene.session, scene.ws, scene.ann, member)
    assert texts(outcome) == [("success", "bob@example.com is no longer a member.")]
    assert scene.session.execute(select(WorkspaceMember)).first() is None
