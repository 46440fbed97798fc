"""The Power-Up host of the Trello emulator: client library, t.jwt() tokens our server verifies, keys."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from emulators.trello import TrelloEmulator
from emulators.trello_powerup import KEYS_PATH, LIBRARY_PATH, PowerUp, PowerUpHost
from server.powerup.jwt import TokenError, clear_key_cache, verify_powerup_token

CONNECTOR = "http://127.0.0.1:5000/powerup/index.html"


@pytest.fixture(scope="module")
def trello():
    emulator = TrelloEmulator()
    host = PowerUpHost(emulator, PowerUp(id=emulator.app_id or "", name="Leads Sync", connector_url=CONNECTOR))
    emulator.wsgi_app = host.wrap(emulator.wsgi_app)
    emulator.start()
    member = emulator.add_member("ann", "Ann Lee")
    board = emulator.add_board("Sales", member["id"])
    card = emulator.add_card(board["lists"][0]["id"], "Ada")
    clear_key_cache()
    yield emulator, host, member, board, card
    emulator.stop()
    clear_key_cache()


def _fetch(url: str, body: dict | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_tokens_verify_with_the_published_keys(trello):
    emulator, host, member, board, card = trello
    status, body = _fetch(f"{emulator.base_url}/_emulator/powerup/jwt",
                          {"board": board["id"], "card": card["id"], "state": '{"card":"x"}'})
    assert status == 200
    claims = verify_powerup_token(json.loads(body)["jwt"], keys_url=emulator.base_url + KEYS_PATH,
                                  powerup_id=emulator.app_id or "")
    assert (claims.member_id, claims.board_id, claims.plugin_id, claims.state) == \
        (member["id"], board["id"], emulator.app_id, '{"card":"x"}')
    assert claims.expires_at - claims.issued_at == 900
    with pytest.raises(TokenError):
        verify_powerup_token(host.issue_token(board["id"]), keys_url=emulator.base_url + KEYS_PATH,
                             powerup_id="5e66784c606cb1160a8f5dc0")  # another Power-Up's


def test_routes(trello):
    emulator, _, member, board, _ = trello
    status, script = _fetch(emulator.base_url + LIBRARY_PATH)
    assert status == 200 and b"window.TrelloPowerUp" in script
    status, body = _fetch(f"{emulator.base_url}/_emulator/powerup?board={board['id']}")
    assert json.loads(body) == {"id": emulator.app_id, "name": "Leads Sync", "connector_url": CONNECTOR,
                                "member": {"id": member["id"], "username": "ann", "fullName": "Ann Lee"}}
    assert _fetch(f"{emulator.base_url}/_emulator/powerup/jwt", {"board": "f" * 24}) == \
        (404, b"The requested resource was not found.")
    assert _fetch(f"{emulator.base_url}/_emulator/powerup/jwt", {"card": "x"})[0] == 400
    other = emulator.add_board("Other", member["id"])
    card_elsewhere = emulator.add_card(other["lists"][0]["id"], "Elsewhere")
    assert _fetch(f"{emulator.base_url}/_emulator/powerup/jwt",
                  {"board": board["id"], "card": card_elsewhere["id"]})[0] == 404
    assert _fetch(f"{emulator.base_url}/1/members/me")[0] == 401  # the REST API is still there behind it
