"""What the dashboard tests share: the wizard's sample leads, signing in, reading pages and flashes,
the database rows behind them, and walking the new-workspace wizard to a draft."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from server.extensions import db
from server.models import Event, User, Workspace
from tests.conftest import sign_in_as

LEADS_HEADER = ["Name", "Email", "Company", "Status", "Notes", "Follow up"]
LEADS = [
    ["Ada Lovelace", "ada@example.com", "Analytical Engines", "New", "Asked for a demo", "2026-12-01"],
    ["Grace Hopper", "grace@example.com", "Navy Labs", "won", "", ""],
    ["Katherine Johnson", "katherine@example.com", "NASA", "Lost", "Budget cut", ""],
]


def user_id(app, email: str) -> int:
    with app.app_context():
        found = db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
        if found is None:
            found = User(email=email, name=email.split("@")[0].title())
            db.session.add(found)
            db.session.commit()
        return found.id


def login(client, app, email: str = "ann@example.com") -> int:
    uid = user_id(app, email)
    sign_in_as(client, app, uid)
    return uid


def flashes(client) -> list[str]:
    with client.session_transaction() as session:
        return [message for _, message in session.get("_flashes", [])]


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.get_data(as_text=True)[:500])
    return response.get_data(as_text=True)


def workspace(app, workspace_id: str) -> Workspace:
    with app.app_context():
        ws = db.session.get(Workspace, workspace_id)
        if ws is not None:
            db.session.expunge(ws)
        return ws


def events(app, workspace_id: str, **filters: Any) -> list[Event]:
    with app.app_context():
        rows = db.session.execute(select(Event).filter_by(workspace_id=workspace_id, **filters)
                                  .order_by(Event.id)).scalars().all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def post_step(client, step: str, **form: Any):
    return client.post("/app/workspaces/new", data={"step": step, **form})


def location(response) -> str:
    return response.headers.get("Location", "")


def seed_pipeline(world) -> dict[str, Any]:
    """A second spreadsheet and board for the wizard: 3 rows; one card matching a row, one not."""
    # The leads are on the second tab: its gid is not 0, so links must carry the right one.
    spreadsheet_id = world.sheets.create_spreadsheet(
        "Pipeline 2026", {"Archive": [["Name", "Status"]], "Leads 2026": [LEADS_HEADER, *LEADS]})
    member_id = "ann"  # the emulator takes a member's id or username
    board = world.trello.add_board("Sales", member_id, lists=["New", "Contacted", "Closed"])
    lists = {lst["name"]: lst["id"] for lst in world.trello.lists(board["id"])}
    world.trello.add_card(lists["Closed"], "Grace Hopper", "Email: grace@example.com\nCompany: Navy Labs")
    world.trello.add_card(lists["Contacted"], "Walk-in lead", "Email: walkin@example.com")
    empty = world.trello.add_board("Empty board", member_id, lists=[])
    return {"spreadsheet_id": spreadsheet_id, "board_id": board["id"], "lists": lists, "empty_board": empty["id"]}


def account_ids(app, email: str = "ann@example.com") -> dict[str, int]:
    from server.models import ProviderAccount

    with app.app_context():
        uid = db.session.execute(select(User.id).where(User.email == email)).scalar_one()
        accounts = db.session.execute(select(ProviderAccount).where(ProviderAccount.user_id == uid)).scalars()
        return {a.provider: a.id for a in accounts}


def run_wizard_to_draft(client, world, seeded: dict[str, Any]) -> str:
    """Walk every step with valid answers; returns the draft workspace id."""
    ids = account_ids(world.app)
    url = f"https://docs.google.com/spreadsheets/d/{seeded['spreadsheet_id']}/edit#gid=0"
    assert location(post_step(client, "sheet", spreadsheet=url, google_account=ids["google"])).endswith("step=tab")
    assert location(post_step(client, "tab", tab="Leads 2026", header_row="1")).endswith("step=board")
    board_value = f"{ids['trello']}:{seeded['board_id']}"
    assert location(post_step(client, "board", board=board_value)).endswith("step=columns")
    response = client.post("/app/workspaces/new", data={
        "step": "columns", "title_column": "Name", "status_column": "Status", "due_column": "Follow up",
        "description_columns": ["Email", "Company", "Notes"]})
    assert location(response).endswith("step=statuses"), flashes(client)
    lists = seeded["lists"]
    statuses = page(client, "/app/workspaces/new?step=statuses")
    found = re.findall(r'name="status_name_(\d+)" value="([^"]+)"', statuses)
    form = {"step": "statuses", "default_status": "New"}
    target = {"new": lists["New"], "won": lists["Closed"], "lost": lists["Closed"]}
    for index, status in found:
        form[f"status_name_{index}"] = status
        form[f"status_list_{index}"] = target[status.casefold()]
    form.update({"extra_status_0": "Contacted", "extra_list_0": lists["Contacted"],
                 "extra_status_1": "", "extra_list_1": lists["New"], "extra_status_2": "",
                 "extra_list_2": lists["New"],
                 f"reverse_{lists['New']}": "New", f"reverse_{lists['Contacted']}": "Contacted",
                 f"reverse_{lists['Closed']}": "Won"})
    response = client.post("/app/workspaces/new", data=form)
    assert location(response).endswith("step=policies"), flashes(client)
    response = post_step(client, "policies", name="Pipeline 2026", row_removed_policy="archive",
                         card_removed_policy="set_status", card_removed_status="Archived")
    match = re.search(r"/app/workspaces/(ws_[0-9a-f]+)/setup$", location(response))
    assert match, (location(response), flashes(client))
    return match.group(1)
