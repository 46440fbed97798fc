"""The history page and the per-lead timeline through the test client, on SQLite and PostgreSQL:
readable entries, search, filters, keyset paging over the whole history, and scoping by
workspace and user (another user's workspace or lead is 404, a bad filter 400 with a message)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server.extensions import db
from server.models import Event, History, Link, WorkspaceMember
from server.models.sync import PARKED, UNLINKED
from server.seed import seed_workspace
from tests.conftest import make_app, sign_in_as

MAPPING = {"title_column": "Name", "status_column": "Status", "description_columns": ["Email", "Notes"],
           "due_column": None, "status_to_list": {"new": "list-new"}, "list_to_status": {"list-new": "New"},
           "default_status": "New"}
START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
FILLER = 120  # more than two pages of 50


def _workspace(email: str, board: str, spreadsheet: str) -> str:
    ws = seed_workspace(db.session, email=email, trello_member_id=f"m-{board}", trello_username=board,
                        trello_token="t", google_token="g", spreadsheet_id=spreadsheet, sheet_name="Leads",
                        board_id=board, mapping=MAPPING, sheet_gid=77, name=f"{board} pipeline", state="active")
    return ws.id


def _entry(workspace_id: str, minute: int, **fields: Any) -> History:
    fields.setdefault("side", "sheets")
    fields.setdefault("action", "update_card")
    return History(workspace_id=workspace_id, created_at=START + timedelta(minutes=minute), **fields)


def _seed(app) -> dict[str, Any]:
    """Ann's workspace with three leads and a long history; Bob's with a lead of his own."""
    with app.app_context():
        ann = _workspace("ann@example.com", "board-ann", "sheet-ann")
        bob = _workspace("bob@example.com", "board-bob", "sheet-bob")
        db.session.add_all([
            Link(workspace_id=ann, lead_id="L-ada", card_id="card-ada", row_number=20,
                 shadow={"Name": "Ada Lovelace", "Status": "Won", "Email": "ada@example.com", "Notes": "Demo"}),
            Link(workspace_id=ann, lead_id="L-grace", card_id="card-grace", row_number=21,
                 shadow={"Name": "Grace Hopper", "Status": "New"}),
            Link(workspace_id=ann, lead_id="L-gone", card_id="card-gone", row_number=22, status=UNLINKED,
                 shadow={"Name": "Katherine Johnson", "Status": "Lost"}),
            Link(workspace_id=bob, lead_id="L-bob", card_id="card-bob", row_number=2,
                 shadow={"Name": "Bob's Secret Lead", "Status": "New"}),
        ])
        entries = [
            _entry(ann, 0, action="create_card", lead_id="L-ada", card_id="card-ada", event_id=20,
                   changes={"Name": [None, "Ada Lovelace"], "Status": [None, "New"]}),
            _entry(ann, 1, side="trello", action="update_row", lead_id="L-ada", card_id="card-ada", event_id=21,
                   changes={"Status": ["New", "Won"]}),
            _entry(ann, 2, side="trello", action="conflict", lead_id="L-ada", card_id="card-ada", outcome="conflict",
                   changes={"Notes": ["from trello", "Demo"]}, message="Notes: kept 'Demo' from sheets"),
            _entry(ann, 3, side="trello", action="error", lead_id="L-grace", outcome="error", event_id=7,
                   message="Trello answered with an error: 500 card_50%_full"),
            _entry(ann, 4, side="reconcile", action="reconcile",
                   changes={"links_to_make": 12, "cards_to_create": 3, "rows_to_append": 0, "cards_to_update": 0,
                            "rows_to_update": 0, "removed": 0, "conflicts": 0, "errors": 0, "rows_read": 15,
                            "cards_read": 12}),
            _entry(ann, 5, side="system", action="needs_reauth", outcome="error",
                   message="Google refused to refresh the access token: invalid_grant"),
            _entry(ann, 6, side="trello", action="unlink", lead_id="L-gone", card_id="card-gone",
                   message="card deleted in Trello: lead unlinked, row kept"),
        ]
        entries += [_entry(ann, 10 + i, lead_id="L-grace", card_id="card-grace", changes={"Notes": [str(i), str(i + 1)]})
                     for i in range(FILLER)]
        entries.append(_entry(bob, 0, action="create_card", lead_id="L-bob", changes={"Name": [None, "Bob's Secret Lead"]}))
        db.session.add_all(entries)
        db.session.add(Event(workspace_id=ann, source="sheets", provider_event_id="e1", kind="row",
                             order_key="lead:L-ada", payload='{"lead_id": "L-ada", "row": 20, "values": {}}',
                             state=PARKED, attempts=5, last_error="Google Sheets refused the write"))
        # a new row whose first change failed: no link, no lead id; named from its event
        failed = Event(workspace_id=ann, source="sheets", provider_event_id="e2", kind="row", order_key="row:30",
                       payload='{"lead_id": "", "row": 30, "values": {"Name": "Bob Builder", "Status": "Someday"}}',
                       state=PARKED, attempts=1, last_error="Status 'Someday' has no Trello list")
        db.session.add(failed)
        # a lead id the add-on gave a row whose first change is parked: no link, no history yet
        nina = Event(workspace_id=ann, source="sheets", provider_event_id="e3", kind="row", order_key="lead:L-new",
                     state=PARKED, attempts=5, last_error="Trello did not answer",
                     payload='{"lead_id": "L-new", "row": 31, "values": {"Name": "Nina New"}}')
        db.session.add(nina)
        db.session.flush()
        db.session.add(_entry(ann, 8, action="error", outcome="error", event_id=nina.id,
                              message="Trello did not answer"))
        db.session.add(_entry(ann, 9, action="error", outcome="error", event_id=failed.id,
                              message="Status 'Someday' has no Trello list"))
        db.session.commit()
        from server.models import User
        ids = {u.email: u.id for u in db.session.query(User).all()}
    return {"ann": ann, "bob": bob, "ann_user": ids["ann@example.com"], "bob_user": ids["bob@example.com"]}


def _words(markup: str) -> str:
    """Markup's visible words, roughly: scripts and screen-reader-only text dropped, tags removed,
    entities decoded, spaces collapsed (the browser test checks what Chromium shows)."""
    markup = re.sub(r"<(script|style)\b.*?</\1>", " ", markup, flags=re.DOTALL)
    markup = re.sub(r'<span class="visually-hidden">[^<]*</span>', "", markup)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def _text(response) -> str:
    return _words(response.get_data(as_text=True))


def _rows(response) -> list[str]:
    body = response.get_data(as_text=True)
    return [_words(row) for row in re.findall(r'<tr class="outcome-[a-z]+" data-entry="\d+">(.*?)</tr>', body, re.DOTALL)]


def _older_link(response) -> str | None:
    found = re.search(r'rel="next" href="([^"]+)"', response.get_data(as_text=True))
    return html.unescape(found.group(1)) if found else None


def _newer_link(response) -> str | None:
    found = re.search(r'rel="prev" href="([^"]+)"', response.get_data(as_text=True))
    return html.unescape(found.group(1)) if found else None


@pytest.fixture(params=["sqlite", "postgresql"])
def site(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'app.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    app = make_app(url)
    seeded = _seed(app)
    client = app.test_client()
    sign_in_as(client, app, seeded["ann_user"])
    yield app, client, seeded
    with app.app_context():
        db.engine.dispose()


def test_entries_name_their_lead_in_plain_words(site):
    _app, client, s = site
    response = client.get(f"/app/workspaces/{s['ann']}/history?q=Ada")
    assert response.status_code == 200
    rows = _rows(response)
    assert any(r.startswith("2026-11-01 09:00 UTC event 20 Ada Lovelace Sheet row 20 Trello card L-ada")
               and "Card created in Trello" in r and "Name: “Ada Lovelace”" in r for r in rows), rows
    assert any("Row updated in the sheet" in r and "Status: “New” → “Won”" in r for r in rows)
    assert any("Conflict: kept the sheet's value" in r and "Notes: kept “Demo”; Trello's “from trello” was not applied"
               in r for r in rows)
    body = response.get_data(as_text=True)
    assert "https://docs.google.com/spreadsheets/d/sheet-ann/edit#gid=77&amp;range=A20" in body
    assert "https://trello.com/c/card-ada" in body
    assert f'href="/app/workspaces/{s["ann"]}/leads/L-ada"' in body
    assert "#20" not in _text(response) and "#7" not in _text(client.get(f"/app/workspaces/{s['ann']}/history"))


def test_full_sync_and_system_entries_read_as_sentences(site):
    _app, client, s = site
    text = _text(client.get(f"/app/workspaces/{s['ann']}/history?side=reconcile"))
    assert "Linked 12 leads, created 3 cards, nothing else changed (read 15 rows and 12 cards)" in text
    assert "links_to_make" not in text and "Whole workspace" in text
    text = _text(client.get(f"/app/workspaces/{s['ann']}/history?side=system"))
    assert "Needs you to reconnect Google" in text and "error error" not in text.lower()


def test_search_by_title_lead_id_and_text(site):
    _app, client, s = site
    base = f"/app/workspaces/{s['ann']}/history"
    assert all("Ada Lovelace" in r for r in _rows(client.get(f"{base}?q=lovelace")))
    assert len(_rows(client.get(f"{base}?q=lovelace"))) == 3
    by_id = _rows(client.get(f"{base}?q=L-gone"))
    assert len(by_id) == 1 and by_id[0].count("Katherine Johnson") == 1 and "Lead unlinked from its card" in by_id[0]
    assert "Trello card" not in by_id[0]  # an unlinked lead's card is not offered as its card
    by_text = _rows(client.get(f"{base}?q=card_50%25_full"))
    assert len(by_text) == 1 and "A change from Trello could not be applied" in by_text[0]
    assert "Grace Hopper" in by_text[0]
    assert _rows(client.get(f"{base}?q=5_0")) == []  # "_" and "%" are characters, not wildcards
    assert _rows(client.get(f"{base}?q=0%25_f")) == by_text
    assert _rows(client.get(f"{base}?q=Secret")) == []  # Bob's lead is not in Ann's workspace
    assert "No entry matches these filters." in _text(client.get(f"{base}?q=Secret"))


def test_search_finds_a_title_with_accents(site):
    app, client, s = site
    with app.app_context():
        db.session.add(Link(workspace_id=s["ann"], lead_id="L-zoe", card_id="card-zoe", row_number=40,
                            shadow={"Name": "Zoë Café", "Status": "New"}))
        db.session.add(_entry(s["ann"], 500, lead_id="L-zoe", changes={"Status": ["New", "Won"]}))
        db.session.commit()
    found = _rows(client.get(f"/app/workspaces/{s['ann']}/history?q=zoë+café"))
    assert len(found) == 1 and "Zoë Café Sheet row 40" in found[0]


def test_filters_side_kind_errors_conflicts(site):
    _app, client, s = site
    base = f"/app/workspaces/{s['ann']}/history"
    trello = _rows(client.get(f"{base}?side=trello"))
    assert len(trello) == 4 and all(" Trello " in f" {r} " for r in trello)
    assert _rows(client.get(f"{base}?action=create_card"))[0].count("Card created in Trello") == 1
    errors = _rows(client.get(f"{base}?errors=1"))
    assert len(errors) == 4 and {"Needs you to reconnect Google", "A change from Trello could not be applied"} == {
        label for label in ("Needs you to reconnect Google", "A change from Trello could not be applied")
        if any(label in r for r in errors)}
    conflicts = _rows(client.get(f"{base}?conflicts=on"))
    assert len(conflicts) == 1 and "Conflict" in conflicts[0]
    assert len(_rows(client.get(f"{base}?conflicts=1&errors=1"))) == 5
    assert len(_rows(client.get(f"{base}?side=trello&errors=1"))) == 1


BAD_FILTERS = [
    ("side=moon", "Unknown side 'moon'"),
    ("action=drop_table", "Unknown kind of entry 'drop_table'"),
    ("errors=maybe", "“Errors only” must be on or off"),
    ("before=abc", "must be a positive whole number"),
    ("before=-4", "must be a positive whole number"),
    ("before=99999999999999999999999", "must be a positive whole number"),
    ("before=5&after=3", "either 'before' or 'after'"),
    ("q=" + "x" * 201, "too long"),
]


def test_bad_filters_answer_400_with_a_message(site):
    _app, client, s = site
    for query, words in BAD_FILTERS:
        response = client.get(f"/app/workspaces/{s['ann']}/history?{query}")
        assert response.status_code == 400, query
        assert words in _text(response), query
        assert _rows(response) == [], query


def test_paging_walks_the_whole_history_both_ways(site):
    _app, client, s = site
    url: str | None = f"/app/workspaces/{s['ann']}/history"
    pages: list[list[str]] = []
    responses = []
    while url:
        response = client.get(url)
        assert response.status_code == 200
        responses.append(response)
        pages.append(re.findall(r'data-entry="(\d+)"', response.get_data(as_text=True)))
        url = _older_link(response)
    ids = [int(i) for page in pages for i in page]
    assert [len(p) for p in pages] == [50, 50, 29]  # 9 + 120 entries
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids) == 9 + FILLER
    assert _newer_link(responses[0]) is None
    back = client.get(_newer_link(responses[-1]))  # from the last page back to the middle one
    assert re.findall(r'data-entry="(\d+)"', back.get_data(as_text=True)) == pages[1]
    # filters are kept across pages
    filtered = client.get(f"/app/workspaces/{s['ann']}/history?q=Grace")
    older = _older_link(filtered)
    assert older and "q=Grace" in older
    assert all("Grace Hopper" in r for r in _rows(client.get(older)))
    # a cursor past the end is an empty page with a way back, never an error
    past = client.get(f"/app/workspaces/{s['ann']}/history?before=1")
    assert past.status_code == 200 and _rows(past) == [] and _newer_link(past)


def test_lead_timeline_in_time_order_with_its_link(site):
    _app, client, s = site
    response = client.get(f"/app/workspaces/{s['ann']}/leads/L-ada")
    assert response.status_code == 200
    text = _text(response)
    assert "Ada Lovelace" in text and "Linked: row and card kept in sync" in text
    assert "Sheet row 20" in text and "Open the Trello card" in text
    assert "Email ada@example.com" in text and "Notes Demo" in text
    rows = _rows(response)
    assert [next(w for w in ("Card created", "Row updated", "Conflict") if w in r) for r in rows] == [
        "Card created", "Row updated", "Conflict"]
    long = client.get(f"/app/workspaces/{s['ann']}/leads/L-grace")
    assert "121 entries" in _text(long) and len(_rows(long)) == 121  # one page holds up to 200


def test_lead_page_shows_its_changes_not_applied_yet(site):
    _app, client, s = site
    ada = client.get(f"/app/workspaces/{s['ann']}/leads/L-ada")
    text = _text(ada)
    assert "Changes not applied yet" in text and "Parked: failed, needs you" in text
    assert "Google Sheets refused the write" in text and "Row change from the sheet" in text
    # a lead known only by its parked first change: named from it, not linked yet, not a 404
    nina = client.get(f"/app/workspaces/{s['ann']}/leads/L-new")
    assert nina.status_code == 200
    text = _text(nina)
    assert "Nina New" in text and "Not linked yet: its first change has not gone through" in text
    assert "Trello did not answer" in text and "Retry" in text
    assert "Sheet row 31" in text  # from its parked change
    timeline = _rows(nina)  # the failure, written before the lead had a link, is in its timeline
    assert "1 entry" in text and len(timeline) == 1 and "A change from the sheet could not be applied" in timeline[0]
    named = _rows(client.get(f"/app/workspaces/{s['ann']}/history?q=did+not+answer"))
    assert len(named) == 1 and named[0].count("Nina New") == 1
    # the workspace page's parked table links to it
    assert f'href="/app/workspaces/{s["ann"]}/leads/L-new"' in client.get(f"/app/workspaces/{s['ann']}").get_data(
        as_text=True)


def test_scoping_other_users_workspace_and_unknown_lead_are_404(site):
    app, client, s = site
    assert client.get(f"/app/workspaces/{s['bob']}/history").status_code == 404
    assert client.get(f"/app/workspaces/{s['bob']}/leads/L-bob").status_code == 404
    assert client.get(f"/app/workspaces/{s['ann']}/leads/L-bob").status_code == 404  # Bob's lead id in Ann's
    assert client.get(f"/app/workspaces/{s['ann']}/leads/L-nobody").status_code == 404
    assert client.get(f"/app/workspaces/{s['ann']}/leads/{'x' * 65}").status_code == 404
    assert client.get("/app/workspaces/ws_nope/history").status_code == 404
    # an invited member sees it; signed out, nobody does
    with app.app_context():
        db.session.add(WorkspaceMember(workspace_id=s["bob"], email="ANN@example.com"))
        db.session.commit()
    assert client.get(f"/app/workspaces/{s['bob']}/leads/L-bob").status_code == 200
    anonymous = app.test_client()
    assert anonymous.get(f"/app/workspaces/{s['ann']}/history").status_code in (302, 401)


def test_workspace_page_summary_is_readable_and_links_all_history(site):
    _app, client, s = site
    response = client.get(f"/app/workspaces/{s['ann']}")
    assert response.status_code == 200
    text = _text(response)
    assert "All history" in text and f'href="/app/workspaces/{s["ann"]}/history"' in response.get_data(as_text=True)
    assert "(latest 25)" in text
    assert "Parked changes" in text and "Row change from the sheet" in text and "event " in text
    parked = re.search(r'<table class="table parked">(.*?)</table>', response.get_data(as_text=True), re.DOTALL)
    assert parked and "Ada Lovelace" in parked.group(1) and "Sheet row 20" in parked.group(1)
    assert "Conflict: kept the sheet's value" in text
    assert "Bob Builder" in parked.group(1) and "Sheet row 30" in parked.group(1)
    failed = [r for r in _rows(client.get(f"/app/workspaces/{s['ann']}/history?q=Someday"))]
    assert len(failed) == 1 and "Bob Builder Sheet row 30" in failed[0]
    assert "A change from the sheet could not be applied" in failed[0]
    assert "error error" not in text.lower() and "updateCard" not in text
