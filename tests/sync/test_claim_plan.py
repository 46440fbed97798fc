"""A claim costs what it takes, not what the queue holds: on SQLite its statements must find
events through an index that leads to the claimed groups, never by walking every pending event."""

from __future__ import annotations

from sqlalchemy import event as sa_event

from server.extensions import db
from server.models.enums import Lane
from server.seed import seed_workspace
from server.sync import queue


def _workspace(n: int) -> str:
    ws = seed_workspace(db.session, email=f"p{n}@example.com", trello_member_id=f"m{n}", trello_username=f"p{n}",
                        trello_token="ATTA" + str(n) * 72, google_token="g", spreadsheet_id=f"sheet-{n}",
                        sheet_name="Leads", board_id=f"board-{n}",
                        mapping={"status_to_list": {"New": "list-new"}, "list_to_status": {"list-new": "New"}})
    return ws.id


def test_the_claims_statements_reach_events_by_their_group(app):
    with app.app_context():
        workspaces = [_workspace(n) for n in (1, 2, 3)]
        for ws in workspaces:
            for i in range(300):  # a paste waiting in each workspace
                queue.enqueue_command(db.session, ws, queue.Command.CREATE_CARD, {"lead_id": f"L-{i}"},
                                      lane=Lane.BULK)
        db.session.commit()
        statements: list[tuple[str, object]] = []

        def seen(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith(("UPDATE EVENTS", "SELECT")) and "events" in statement:
                statements.append((statement, parameters))

        engine = db.engine
        sa_event.listen(engine, "before_cursor_execute", seen)
        try:
            claim = queue.claim(engine, "w1", queue.ClaimPolicy())
        finally:
            sa_event.remove(engine, "before_cursor_execute", seen)
        assert {g.workspace_id for g in claim.groups} == set(workspaces)
        updates = [(s, p) for s, p in statements if s.lstrip().upper().startswith("UPDATE EVENTS SET STATE")]
        assert len(updates) == 3  # one per workspace
        with engine.connect() as connection:
            for statement, parameters in updates:
                plan = " | ".join(row[3] for row in connection.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + statement, parameters).all())
                assert "ix_events_order" in plan and "ix_events_state" not in plan, plan
