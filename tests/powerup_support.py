"""Shared by the Power-Up tests: a stand-in for Trello's JWT key endpoint, token signing, seed data."""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.wrappers import Request, Response

from emulators.common import RunningServer, serve_in_thread

PLUGIN_ID = "5e66784c606cb1160a8f5dc0"
MEMBER_ID = "5e645dc2c4205e1416218404"
INVITED_MEMBER_ID = "5e645dc2c4205e1416218405"
STRANGER_MEMBER_ID = "5e645dc2c4205e1416218406"
BOARD_ID = "5e667811606cb1160a8f5bf7"
OTHER_BOARD_ID = "5e667811606cb1160a8f5bf8"
LINKED_CARD = "60a000000000000000000001"
ERROR_CARD = "60a000000000000000000002"
UNLINKED_CARD = "60a000000000000000000003"
OTHER_BOARD_CARD = "60a000000000000000000009"
SHEET_GID = 1803417293  # our workspace's tab is not the spreadsheet's first (gid 0)
KEYS_PATH = "/1/resource/jwt-public-keys"


def new_key() -> RSAKey:
    return RSAKey.generate_key(2048, private=True)


def public_pem(key: RSAKey) -> str:
    return key.as_pem(private=False).decode()


def public_jwk(key: RSAKey, kid: str) -> dict[str, Any]:
    return {**key.as_dict(private=False), "kid": kid, "alg": "RS256", "use": "sig"}


def claims(**overrides: Any) -> dict[str, Any]:
    """The claims Trello puts in a ``t.jwt()`` token, for our member on our board."""
    now = int(time.time())
    data = {"idPlugin": PLUGIN_ID, "idBoard": BOARD_ID, "idMember": MEMBER_ID, "iat": now, "exp": now + 900,
            "iss": "trello"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def sign(key: RSAKey, kid: str | None = None, **overrides: Any) -> str:
    header = {"alg": "RS256", "typ": "JWT"}
    if kid:
        header["kid"] = kid
    return jwt.encode(header, claims(**overrides), key)


def b64(data: Any) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class KeyServer:
    """Serves ``body`` as JSON at ``KEYS_PATH`` on loopback and counts the fetches."""

    body: Any
    fetches: int = 0
    running: RunningServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path != KEYS_PATH:
            return Response("not found", status=404)(environ, start_response)
        with self.lock:
            self.fetches += 1
            body = json.dumps(self.body)
        return Response(body, mimetype="application/json")(environ, start_response)

    def start(self) -> "KeyServer":
        self.running = serve_in_thread(self)
        return self

    @property
    def url(self) -> str:
        assert self.running is not None
        return self.running.base_url + KEYS_PATH

    def stop(self) -> None:
        if self.running:
            self.running.stop()


def seed(db: Any) -> None:
    """Our member owns a workspace on BOARD_ID; a stranger owns one on OTHER_BOARD_ID."""
    from server.models import Link, ProviderAccount, User, Workspace, WorkspaceMember

    now = datetime.now(timezone.utc)
    ann = User(email="ann@example.com", name="Ann")
    zed = User(email="zed@example.com", name="Zed")
    ivy = User(email="Ivy@Example.com", name="Ivy")
    db.session.add_all([ann, zed, ivy])
    db.session.flush()
    db.session.add_all([
        ProviderAccount(user_id=ann.id, provider="trello", provider_user_id=MEMBER_ID, username="ann"),
        ProviderAccount(user_id=zed.id, provider="trello", provider_user_id=STRANGER_MEMBER_ID, username="zed"),
        ProviderAccount(user_id=ivy.id, provider="trello", provider_user_id=INVITED_MEMBER_ID, username="ivy"),
    ])
    mapping = {"status_column": "Status", "title_column": "Name", "description_columns": ["Email", "Company", "Notes"],
               "list_to_status": {"l1": "New", "l2": "Qualified", "l3": "Won", "l4": "Lost"},
               "status_to_list": {"new": "l1", "qualified": "l2", "won": "l3", "lost": "l4"}}
    ours = Workspace(id="ws_ours", name="Acme leads", owner_id=ann.id, spreadsheet_id="sheet-123", sheet_name="Leads",
                     sheet_gid=SHEET_GID, trello_board_id=BOARD_ID, mapping=mapping)
    theirs = Workspace(id="ws_theirs", name="Secret pipeline", owner_id=zed.id, spreadsheet_id="sheet-999",
                       sheet_name="Leads", trello_board_id=OTHER_BOARD_ID, mapping=mapping)
    db.session.add_all([ours, theirs])
    db.session.flush()
    db.session.add(WorkspaceMember(workspace_id=ours.id, email="ivy@example.com"))
    db.session.add_all([
        Link(workspace_id=ours.id, lead_id="L-ada", card_id=LINKED_CARD, row_number=7, sync_state="synced",
             last_synced_at=now - timedelta(minutes=5),
             shadow={"Name": "Ada Lovelace", "Status": "Qualified", "Email": "ada@example.com",
                     "Company": "Analytical Engines Ltd", "Notes": "Wants a demo next week", "Lead ID": "L-ada"}),
        Link(workspace_id=ours.id, lead_id="L-bob", card_id=ERROR_CARD, row_number=8, sync_state="error",
             last_error="Google Sheets refused the write: the sheet 'Leads' is protected.",
             last_synced_at=now - timedelta(hours=3),
             shadow={"Name": "Bob Byte", "Status": "Won", "Email": "bob@example.com"}),
        Link(workspace_id=theirs.id, lead_id="L-secret", card_id=OTHER_BOARD_CARD, row_number=2,
             shadow={"Name": "Top Secret Prospect", "Status": "New"}),
    ])
    db.session.commit()
