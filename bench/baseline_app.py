"""A bare webhook receiver, for context only: verify the add-on signature, parse, INSERT, answer.

Served by the same ``gunicorn --config gunicorn.conf.py`` (2 workers x 4 threads) on the same
SQLite settings as the service (WAL, synchronous=NORMAL, busy_timeout), it shows what this
machine allows for "a Flask + gunicorn + SQLite insert", so the service's own figures can be read
against it. ``gunicorn --config gunicorn.conf.py "bench.baseline_app:create_app()"`` with
``DATABASE_URL=sqlite:///...`` and ``BASELINE_SECRET``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time

from flask import Flask, jsonify, request
from sqlalchemy import create_engine, event, text

SCHEMA = """CREATE TABLE IF NOT EXISTS baseline_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, workspace_id TEXT NOT NULL, provider_event_id TEXT NOT NULL,
    payload TEXT NOT NULL, received_at REAL NOT NULL, UNIQUE (workspace_id, provider_event_id))"""


def create_app() -> Flask:
    url = os.environ["DATABASE_URL"]
    secret = os.environ.get("BASELINE_SECRET", "secret").encode()
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    with engine.begin() as connection:
        connection.execute(text(SCHEMA))
    engine.dispose()  # nothing inherited over gunicorn's fork
    insert = text("INSERT INTO baseline_events (workspace_id, provider_event_id, payload, received_at) "
                  "VALUES (:w, :e, :p, :t) ON CONFLICT DO NOTHING")
    app = Flask(__name__)

    @app.post("/webhooks/sheets/<workspace_id>")
    def sheets(workspace_id: str):  # type: ignore[no-untyped-def]
        body = request.get_data()
        timestamp = request.headers.get("X-Timestamp", "")
        expected = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Signature", "")):
            return jsonify({"error": "signature"}), 401
        data = json.loads(body)
        with engine.begin() as connection:
            stored = connection.execute(insert, {"w": workspace_id, "e": data["event_id"], "p": body.decode(),
                                                 "t": time.time()}).rowcount
        return jsonify({"stored": stored, "duplicates": 1 - stored})

    @app.get("/health")
    def health():  # type: ignore[no-untyped-def]
        return jsonify({"status": "ok"})

    return app
