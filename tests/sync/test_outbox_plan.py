"""The sheet outbox's reads cost what is marked, not what is linked: on SQLite both go through the
partial index of marked links, never a walk of the workspace's links (40 ms at 100,000 links)."""

from __future__ import annotations

from server.extensions import db
from server.sync import sheet_flush


def _plan(statement, parameters) -> str:  # type: ignore[no-untyped-def]
    compiled = statement.compile(dialect=db.engine.dialect)
    params = {**compiled.params, **parameters}
    with db.engine.connect() as connection:
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled),
                                          tuple(params[name] for name in compiled.positiontup)).all()
    return " | ".join(row[3] for row in rows)


def test_the_outboxs_reads_walk_only_marked_links(app):
    with app.app_context():
        due = _plan(sheet_flush._MARKED, {})
        assert "ix_links_marked" in due, due
        flush = _plan(sheet_flush._MARKED_LINKS, {"workspace_id": "ws_x"})
        assert "ix_links_marked" in flush and "TEMP B-TREE" not in flush, flush
