"""A Power-Up enabled on the Trello emulator's boards: client library, ``t.jwt()`` tokens, keys.

Trello runs a Power-Up by framing its connector page on every board where it is enabled; the
client library in that page (``https://trello.com/power-ups/power-up.min.js``) talks to the board
by postMessage. :class:`PowerUpHost` gives the emulator what that needs, by wrapping its WSGI app
(:meth:`PowerUpHost.wrap`):

- ``GET /power-ups/power-up.min.js``: the client library stand-in (``powerup_client.js``).
- ``GET /1/resource/jwt-public-keys``: ``{"keys": ["-----BEGIN PUBLIC KEY-----..."]}``, as Trello's.
- ``GET /_emulator/powerup?board=<id>``: the enabled Power-Up (``{"id", "name", "connector_url",
  "member"}``, ``member`` being who the board UI acts as); 404 when none is enabled.
- ``POST /_emulator/powerup/jwt`` ``{"board", "card"?, "state"?}``: the token ``t.jwt()`` gives the
  board's first member (the member the board UI acts as): RS256 with ``idPlugin``, ``idBoard``,
  ``idMember``, ``idCard`` (when a card), ``state``, ``iat``, ``exp`` (15 minutes) and ``iss: trello``.

The board page (``trello_ui.board_page``) is the host side: it frames the connector, shows the
cards' badges and the card-back section.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.wrappers import Request, Response

from .trello_records import TrelloError

if TYPE_CHECKING:  # pragma: no cover
    from .trello import TrelloEmulator

CLIENT_LIBRARY = Path(__file__).resolve().parent / "powerup_client.js"
LIBRARY_PATH = "/power-ups/power-up.min.js"
KEYS_PATH = "/1/resource/jwt-public-keys"
TOKEN_TTL_S = 900


@dataclass(frozen=True)
class PowerUp:
    """The Power-Up as registered in Trello's Power-Up admin: its id, name and connector URL."""

    id: str
    name: str
    connector_url: str


class PowerUpHost:
    """Signs ``t.jwt()`` tokens for the enabled Power-Up and serves the client library."""

    def __init__(self, emulator: TrelloEmulator, powerup: PowerUp) -> None:
        self.emulator = emulator
        self.powerup = powerup
        self._key = RSAKey.generate_key(2048, private=True)

    def public_keys(self) -> dict[str, list[str]]:
        return {"keys": [self._key.as_pem(private=False).decode()]}

    def issue_token(self, board_id: str, card_id: str | None = None, state: str | None = None,
                    now: float | None = None) -> str:
        """A ``t.jwt()`` token for the board's first member; ``TrelloError`` for an unknown board or card."""
        with self.emulator._lock:
            board = self.emulator.state.board(board_id)
            if card_id is not None and self.emulator.state.card(card_id).board_id != board.id:
                raise TrelloError(404, "The requested resource was not found.")
            member_id = board.member_ids[0]
        issued = int(now if now is not None else time.time())
        claims: dict[str, Any] = {"idPlugin": self.powerup.id, "idBoard": board_id, "idMember": member_id,
                                  "iat": issued, "exp": issued + TOKEN_TTL_S, "iss": "trello"}
        if card_id:
            claims["idCard"] = card_id
        if state is not None:
            claims["state"] = state
        return jwt.encode({"alg": "RS256", "typ": "JWT"}, claims, self._key)

    def _member(self, board_id: str | None) -> dict[str, Any] | None:
        """The member the board UI acts as (the board's first), as ``t.member()`` gives it."""
        if not board_id:
            return None
        with self.emulator._lock:
            try:
                board = self.emulator.state.board(board_id)
            except TrelloError:
                return None
            member = self.emulator.state.members[board.member_ids[0]]
            return {"id": member.id, "username": member.username, "fullName": member.full_name}

    def wrap(self, app: Callable) -> Callable:
        """The emulator's WSGI app with the Power-Up routes in front of it."""

        def middleware(environ: dict, start_response: Callable) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path in (LIBRARY_PATH, KEYS_PATH) or path.startswith("/_emulator/powerup"):
                return self._handle(Request(environ))(environ, start_response)
            return app(environ, start_response)

        return middleware

    def _handle(self, request: Request) -> Response:
        path, method = request.path.rstrip("/"), request.method
        if path == LIBRARY_PATH and method == "GET":
            return Response(CLIENT_LIBRARY.read_bytes(), content_type="application/javascript; charset=utf-8",
                            headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"})
        if path == KEYS_PATH and method == "GET":
            return _json(self.public_keys())
        if path == "/_emulator/powerup" and method == "GET":
            return _json({"id": self.powerup.id, "name": self.powerup.name,
                          "connector_url": self.powerup.connector_url,
                          "member": self._member(request.args.get("board"))})
        if path == "/_emulator/powerup/jwt" and method == "POST":
            body = request.get_json(silent=True)
            if not isinstance(body, dict) or not isinstance(body.get("board"), str):
                return Response("invalid value for board", status=400, content_type="text/plain")
            card = body.get("card")
            state = body.get("state")
            try:
                token = self.issue_token(body["board"], card if isinstance(card, str) else None,
                                         state if isinstance(state, str) else None)
            except TrelloError as exc:
                return Response(exc.message, status=exc.status, content_type="text/plain")
            return _json({"jwt": token})
        return Response(f"Cannot {method} {request.path}", status=404, content_type="text/plain")


def _json(data: Any) -> Response:
    return Response(json.dumps(data), content_type="application/json")


__all__ = ["PowerUp", "PowerUpHost"]
