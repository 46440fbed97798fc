"""The Trello emulator over real HTTP: auth, CRUD, paging, webhooks, rate limits, faults, OAuth."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from emulators.trello import TrelloEmulator
from tests.emulators.trello.http import KEY, SECRET, Api, Receiver, wait_until, webhook_for

DELIVERY_RETRY_DELAYS = (0.05, 0.1)  # the emulator's retries of a failed delivery (conftest.py)
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HEX24 = re.compile(r"^[0-9a-f]{24}$")


@pytest.fixture(autouse=True)
def _clean(emu: TrelloEmulator) -> Iterator[None]:
    yield
    emu.faults.clear()
    emu.resume_deliveries()
    emu.duplicate_deliveries = False
    emu.search_lag_s = 0.0
    emu.set_limits((1000, 10.0), (100000, 10.0))
    assert emu.wait_for_deliveries(5)


@pytest.fixture
def world(emu: TrelloEmulator) -> dict[str, Any]:
    """A fresh member with a token and a board with lists New / Doing / Won."""
    seeded = emu.seed(f"user{uuid.uuid4().hex[:8]}", "Leads", ["New", "Doing", "Won"])
    seeded["api"] = Api(emu, seeded["token"])
    seeded["list_ids"] = [lst["id"] for lst in seeded["lists"]]
    return seeded


# --------------------------------------------------------------------------- auth


def test_auth_errors(emu: TrelloEmulator, world: dict[str, Any]) -> None:
    url = emu.api_base_url + "/members/me"
    cases = [({}, "invalid key"), ({"key": "nope", "token": world["token"]}, "invalid key"),
             ({"key": KEY}, "invalid token"), ({"key": KEY, "token": "ATTA" + "0" * 72},
                                                "invalid token")]
    for params, message in cases:
        resp = requests.get(url, params=params, timeout=5)
        assert (resp.status_code, resp.text) == (401, message)
        assert resp.headers["Content-Type"].startswith("text/plain")
    header = f'OAuth oauth_consumer_key="{KEY}", oauth_token="{world["token"]}"'
    me = requests.get(url, headers={"Authorization": header}, timeout=5).json()
    assert me["username"] == world["member"]["username"]
    assert re.fullmatch(r"ATTA[0-9a-f]{72}", world["token"])

    other = emu.seed(f"other{uuid.uuid4().hex[:6]}", "Private")
    api = world["api"]
    resp = api.call("GET", f"/boards/{other['board']['id']}")
    assert (resp.status_code, resp.text) == (401, "unauthorized permission requested")
    resp = api.call("POST", "/cards", data={"idList": other["lists"][0]["id"], "name": "x"})
    assert resp.status_code == 401
    resp = api.call("GET", "/cards/not-an-id")
    assert (resp.status_code, resp.text) == (400, "invalid id")
    resp = api.call("GET", "/cards/" + "f" * 24)
    assert (resp.status_code, resp.text) == (404, "The requested resource was not found.")


# --------------------------------------------------------------------------- CRUD


def test_members_boards_lists(emu: TrelloEmulator, world: dict[str, Any]) -> None:
    api = world["api"]
    resp = api.call("GET", "/members/me")
    me = resp.json()
    assert {"id", "username", "fullName", "idBoards"} <= set(me)
    assert me["idBoards"] == [world["board"]["id"]]
    for name in ("token", "key"):
        assert resp.headers[f"x-rate-limit-api-{name}-max"]
        assert int(resp.headers[f"x-rate-limit-api-{name}-remaining"]) >= 0
        assert resp.headers[f"x-rate-limit-api-{name}-interval-ms"] == "10000"
    boards = api.ok("GET", "/members/me/boards")
    assert [b["id"] for b in boards] == [world["board"]["id"]]
    assert {"id", "name", "desc", "closed", "url", "shortUrl"} <= set(boards[0])
    board = api.ok("GET", f"/boards/{world['board']['id']}")
    assert board["name"] == "Leads" and board["url"].startswith("https://trello.com/b/")
    lists = api.ok("GET", f"/boards/{world['board']['id']}/lists")
    assert [lst["name"] for lst in lists] == ["New", "Doing", "Won"]
    assert set(lists[0]) >= {"id", "name", "closed", "idBoard", "pos"}
    made = api.ok("POST", "/lists", data={"name": "Lost", "idBoard": world["board"]["id"]})
    assert made["name"] == "Lost" and made["idBoard"] == world["board"]["id"]
    assert [lst["name"] for lst in emu.lists(world["board"]["id"])][-1] == "Lost"
    resp = api.call("POST", "/lists", data={"name": "X"})
    assert (resp.status_code, resp.text) == (400, "invalid value for idBoard")


def test_card_crud_and_shapes(emu: TrelloEmulator, world: dict[str, Any]) -> None:
    api, (new, _doing, won) = world["api"], world["list_ids"]
    resp = api.call("POST", "/cards", data={"name": "no list"})
    assert (resp.status_code, resp.text) == (400, "invalid value for idList")
    card = api.ok("POST", "/cards", json={"idList": new, "name": "Ada", "desc": "line1\nline2",
                                          "due": "2026-12-01T10:00:00Z"})
    assert HEX24.match(card["id"]) and card["idList"] == new and card["idShort"] == 1
    assert re.fullmatch(r"[A-Za-z0-9]{8}", card["shortLink"])
    assert card["url"].startswith(f"https://trello.com/c/{card['shortLink']}/1-ada")
    assert card["shortUrl"] == f"https://trello.com/c/{card['shortLink']}"
    assert ISO_MS.match(card["dateLastActivity"]) and card["due"] == "2026-12-01T10:00:00.000Z"
    for key in ("pos", "dueComplete", "labels", "idLabels", "idMembers", "closed", "idBoard"):
        assert key in card
    second = api.ok("POST", "/cards", data={"idList": new, "name": "Bob"})
    assert second["idShort"] == 2 and second["id"] > card["id"]

    full = api.ok("GET", f"/cards/{card['id']}", params={"list": "true", "members": "true",
                                                          "board": "true"})
    assert full["list"] == {"id": new, "name": "New"} and full["members"] == []
    assert full["board"]["id"] == world["board"]["id"]
    assert api.ok("GET", f"/cards/{card['id']}", params={"fields": "name"}) == {
        "id": card["id"], "name": "Ada"}

    moved = api.ok("PUT", f"/cards/{card['id']}", data={"idList": won, "name": "Ada L."})
    assert moved["idList"] == won and moved["name"] == "Ada L."
    assert [c["id"] for c in api.ok("GET", f"/lists/{won}/cards")] == [card["id"]]
    resp = api.call("PUT", f"/cards/{card['id']}", data={"idList": "nope"})
    assert (resp.status_code, resp.text) == (400, "invalid value for idList")
    api.ok("PUT", f"/cards/{card['id']}", data={"closed": "true"})
    board = world["board"]["id"]
    assert [c["id"] for c in api.ok("GET", f"/boards/{board}/cards")] == [second["id"]]
    assert [c["id"] for c in api.ok("GET", f"/boards/{board}/cards/closed")] == [card["id"]]
    assert len(api.ok("GET", f"/boards/{board}/cards/all")) == 2

    comment = api.ok("POST", f"/cards/{card['id']}/actions/comments", data={"text": "hi"})
    assert comment["type"] == "commentCard" and comment["data"]["text"] == "hi"
    assert api.ok("DELETE", f"/cards/{card['id']}") == {"limits": {}}
    assert api.call("GET", f"/cards/{card['id']}").status_code == 404
    assert emu.card(card["id"]) is None and emu.card(second["id"])["name"] == "Bob"
    types = [a["type"] for a in emu.actions(board)]
    assert types == ["createCard", "createCard", "updateCard", "updateCard", "commentCard",
                     "deleteCard"]
    update = emu.actions(board)[2]
    assert update["data"]["old"] == {"name": "Ada", "idList": new}
    assert update["data"]["listAfter"] == {"id": won, "name": "Won"}
    assert update["memberCreator"]["username"] == world["member"]["username"]


def test_paging_thousands_of_cards(emu: TrelloEmulator, world: dict[str, Any]) -> None:
    lists = world["list_ids"]
    for i in range(3000):
        emu.add_card(lists[i % 3], f"Lead {i}")
    api, board = world["api"], world["board"]["id"]
    api.ok("PUT", f"/cards/{emu.cards(board)[10]['id']}", data={"closed": "true"})
    seen: list[str] = []
    since = None
    while True:
        params: dict[str, Any] = {"limit": 1000, "fields": "name,idList"}
        if since:
            params["since"] = since
        started = time.monotonic()
        page = api.ok("GET", f"/boards/{board}/cards", params=params)
        assert time.monotonic() - started < 1.0
        if not page:
            break
        assert set(page[0]) == {"id", "name", "idList"}
        seen += [c["id"] for c in page]
        since = page[-1]["id"]
    assert len(seen) == 2999 and seen == sorted(seen) and len(set(seen)) == 2999
    everything = api.ok("GET", f"/boards/{board}/cards/all", params={"fields": "id"})
    assert len(everything) == 3000
    assert api.call("GET", f"/boards/{board}/cards", params={"limit": 1001}).status_code == 400


# --------------------------------------------------------------------------- webhooks


def test_webhook_registration(emu: TrelloEmulator, world: dict[str, Any],
                              receiver: Receiver) -> None:
    api, board = world["api"], world["board"]["id"]
    hook, path = webhook_for(world, receiver)
    assert set(hook) >= {"id", "description", "idModel", "callbackURL", "active",
                         "consecutiveFailures", "firstConsecutiveFailDate"}
    assert hook["active"] is True and hook["idModel"] == board
    assert len(receiver.requests_to(path, "HEAD")) == 1
    again = api.call("POST", "/webhooks", data={"callbackURL": receiver.url(path),
                                                "idModel": board})
    assert (again.status_code, again.text) == (
        400, "A webhook with that callback, model, and token already exists")
    refused = api.call("POST", f"/tokens/{world['token']}/webhooks",
                       data={"callbackURL": receiver.url("/refuse/x"), "idModel": board})
    assert (refused.status_code, refused.text) == (
        400, "URL (CALLBACK) did not return 200 status code, got 405")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    dead = api.call("POST", "/webhooks", data={"callbackURL": f"http://127.0.0.1:{dead_port}/",
                                               "idModel": board})
    assert dead.status_code == 400 and dead.text.startswith("URL (CALLBACK)")
    bad = api.call("POST", "/webhooks", data={"callbackURL": receiver.url("/y"),
                                              "idModel": "0" * 24})
    assert (bad.status_code, bad.text) == (400, "invalid value for idModel")

    assert api.ok("GET", f"/webhooks/{hook['id']}")["callbackURL"] == receiver.url(path)
    listed = api.ok("GET", f"/tokens/{world['token']}/webhooks")
    assert [w["id"] for w in listed] == [hook["id"]]
    updated = api.ok("PUT", f"/webhooks/{hook['id']}", data={"description": "renamed",
                                                             "active": "false"})
    assert (updated["description"], updated["active"]) == ("renamed", False)
    assert api.ok("DELETE", f"/webhooks/{hook['id']}") == {"_value": None}
    assert api.call("GET", f"/webhooks/{hook['id']}").status_code == 404


def _signature(body: bytes, url: str) -> str:
    digest = hmac.new(SECRET.encode(), body + url.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def test_deliveries_are_signed_and_describe_moves(emu: TrelloEmulator, world: dict[str, Any],
                                                  receiver: Receiver) -> None:
    api, board, (new, doing, _won) = world["api"], world["board"]["id"], world["list_ids"]
    hook, path = webhook_for(world, receiver)
    card = api.ok("POST", "/cards", data={"idList": new, "name": "Grace"})
    api.ok("PUT", f"/cards/{card['id']}", data={"idList": doing})
    resp = requests.post(f"{emu.base_url}/_emulator/ui/boards/{board}/action",
                         json={"op": "rename", "idCard": card["id"], "name": "Grace H."},
                         timeout=5)
    assert resp.status_code == 200
    assert emu.wait_for_deliveries(5)
    posts = receiver.requests_to(path)
    assert len(posts) == 3
    for post in posts:
        assert post["headers"]["Content-Type"] == "application/json"
        assert post["headers"]["X-Trello-Webhook"] == _signature(post["body"], receiver.url(path))
        payload = json.loads(post["body"])
        assert payload["model"]["id"] == board
        assert list(payload) == ["model", "action", "webhook"]  # Trello's order
        assert payload["webhook"] == {"id": hook["id"], "description": "test", "idModel": board,
                                      "callbackURL": receiver.url(path), "active": True,
                                      "consecutiveFailures": 0, "firstConsecutiveFailDate": None}
    created, moved, renamed = (json.loads(p["body"])["action"] for p in posts)
    assert created["type"] == "createCard"
    assert created["data"]["card"]["id"] == card["id"] and created["data"]["list"]["id"] == new
    assert created["data"]["board"]["id"] == board and ISO_MS.match(created["date"])
    assert moved["type"] == "updateCard" and moved["data"]["old"] == {"idList": new}
    assert moved["data"]["listBefore"] == {"id": new, "name": "New"}
    assert moved["data"]["listAfter"] == {"id": doing, "name": "Doing"}
    assert moved["data"]["card"]["idList"] == doing
    assert renamed["data"]["old"] == {"name": "Grace"} and renamed["data"]["list"]["id"] == doing
    assert created["id"] < moved["id"] < renamed["id"]
    assert emu.stats()["deliveries"]["sent"] >= 3


def test_card_webhook_and_board_move(emu: TrelloEmulator, world: dict[str, Any],
                                     receiver: Receiver) -> None:
    api, board = world["api"], world["board"]["id"]
    other = api.ok("POST", "/boards", data={"name": "Archive board"})
    other_lists = api.ok("GET", f"/boards/{other['id']}/lists")
    card = api.ok("POST", "/cards", data={"idList": world["list_ids"][0], "name": "Mover"})
    _, source_path = webhook_for(world, receiver)
    _, target_path = webhook_for(world, receiver, other["id"])
    _, card_path = webhook_for(world, receiver, card["id"])
    moved = api.ok("PUT", f"/cards/{card['id']}", data={"idBoard": other["id"]})
    assert moved["idBoard"] == other["id"] and moved["idList"] == other_lists[0]["id"]
    assert emu.wait_for_deliveries(5)
    [from_board] = receiver.actions(source_path)
    assert from_board["type"] == "moveCardFromBoard"
    assert from_board["data"]["boardTarget"]["id"] == other["id"]
    [to_board] = receiver.actions(target_path)
    assert to_board["type"] == "moveCardToBoard"
    assert to_board["data"]["boardSource"]["id"] == board
    assert [a["type"] for a in receiver.actions(card_path)] == ["moveCardFromBoard",
                                                               "moveCardToBoard"]


def test_410_deletes_webhook_and_failures_are_counted(emu: TrelloEmulator, world: dict[str, Any],
                                                      receiver: Receiver) -> None:
    api, new = world["api"], world["list_ids"][0]
    gone_hook, gone_path = webhook_for(world, receiver)
    receiver.post_status[gone_path] = 410
    failing_hook, failing_path = webhook_for(world, receiver)
    receiver.post_status[failing_path] = 500
    before = emu.stats()["deliveries"]
    api.ok("POST", "/cards", data={"idList": new, "name": "x"})
    assert emu.wait_for_deliveries(5)
    assert api.call("GET", f"/webhooks/{gone_hook['id']}").status_code == 404
    assert len(receiver.requests_to(gone_path)) == 1
    assert len(receiver.requests_to(failing_path)) == 3  # first try + 2 retries
    after = emu.stats()["deliveries"]
    assert after["failed"] == before["failed"] + 1 and after["gone"] == before["gone"] + 1
    hook = api.ok("GET", f"/webhooks/{failing_hook['id']}")
    assert hook["consecutiveFailures"] == 1 and ISO_MS.match(hook["firstConsecutiveFailDate"])


def test_revoked_token_loses_webhooks(emu: TrelloEmulator, world: dict[str, Any],
                                      receiver: Receiver) -> None:
    hook, _ = webhook_for(world, receiver)
    assert hook["id"] in [w["id"] for w in emu.webhooks()]
    resp = requests.post(f"{emu.base_url}/_emulator/tokens/{world['token']}/revoke", timeout=5)
    assert resp.status_code == 200
    assert hook["id"] not in [w["id"] for w in emu.webhooks()]
    resp = world["api"].call("GET", "/members/me")
    assert (resp.status_code, resp.text) == (401, "invalid token")


def test_drop_duplicate_and_pause_deliveries(emu: TrelloEmulator, world: dict[str, Any],
                                             receiver: Receiver) -> None:
    api, new, base = world["api"], world["list_ids"][0], emu.base_url
    _, path = webhook_for(world, receiver)
    dropped_before = emu.stats()["deliveries"]["dropped"]
    assert requests.post(f"{base}/_emulator/deliveries/drop", json={"n": 1},
                         timeout=5).status_code == 200
    first = api.ok("POST", "/cards", data={"idList": new, "name": "lost"})
    second = api.ok("POST", "/cards", data={"idList": new, "name": "kept"})
    assert emu.wait_for_deliveries(5)
    assert [a["data"]["card"]["id"] for a in receiver.actions(path)] == [second["id"]]
    assert first["id"] != second["id"]
    assert emu.stats()["deliveries"]["dropped"] == dropped_before + 1

    requests.post(f"{base}/_emulator/config", json={"duplicate_deliveries": True}, timeout=5)
    third = api.ok("POST", "/cards", data={"idList": new, "name": "twice"})
    assert emu.wait_for_deliveries(5)
    twice = [a for a in receiver.actions(path) if a["data"]["card"]["id"] == third["id"]]
    assert len(twice) == 2 and twice[0]["id"] == twice[1]["id"]
    emu.duplicate_deliveries = False

    requests.post(f"{base}/_emulator/deliveries/pause", timeout=5)
    fourth = api.ok("POST", "/cards", data={"idList": new, "name": "later"})
    assert emu.wait_for_deliveries(0.2) is False
    assert not [a for a in receiver.actions(path) if a["data"]["card"]["id"] == fourth["id"]]
    requests.post(f"{base}/_emulator/deliveries/resume", timeout=5)
    assert emu.wait_for_deliveries(5)
    assert [a for a in receiver.actions(path) if a["data"]["card"]["id"] == fourth["id"]]


# --------------------------------------------------------------------------- limits, faults


def test_rate_limit_429_and_recovery(emu: TrelloEmulator, world: dict[str, Any]) -> None:
    requests.post(f"{emu.base_url}/_emulator/config",
                  json={"token_limit": [5, 2.0], "key_limit": [1000, 2.0]}, timeout=5)
    api = world["api"]
    limited_before = emu.stats()["rate_limited"]
    remaining = [int(api.call("GET", "/members/me").headers["x-rate-limit-api-token-remaining"])
                 for _ in range(5)]
    assert remaining == [4, 3, 2, 1, 0]
    resp = api.call("GET", "/members/me")
    assert resp.status_code == 429
    assert resp.json() == {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}
    assert resp.headers["x-rate-limit-api-token-max"] == "5"
    assert resp.headers["x-rate-limit-api-token-interval-ms"] == "2000"
    assert resp.headers["x-rate-limit-api-token-remaining"] == "0"
    assert emu.stats()["rate_limited"] == limited_before + 1
    wait_until(lambda: api.call("GET", "/members/me").status_code == 200, timeout=5, interval=0.1)

    emu.set_limits((100, 1.0), (2, 5.0))
    assert api.call("GET", "/members/me").status_code == 200
    assert api.call("GET", "/members/me").status_code == 200
    resp = api.call("GET", "/members/me")
    assert resp.status_code == 429 and resp.json()["error"] == "API_KEY_LIMIT_EXCEEDED"


def test_fault_injection(emu: TrelloEmulator, world: dict[str, Any]) -> None:
    api, faults = world["api"], f"{emu.base_url}/_emulator/faults"
    resp = requests.post(faults, json={"path": "^/1/members/me$", "status": 500, "times": 1},
                         timeout=5)
    assert resp.status_code == 201
    assert api.call("GET", "/members/me").status_code == 500
    assert api.call("GET", "/members/me").status_code == 200
    requests.delete(faults, timeout=5)
    requests.post(faults, json={"path": "^/1/members/me$", "latency_ms": 150}, timeout=5)
    started = time.monotonic()
    assert api.call("GET", "/members/me").status_code == 200
    assert time.monotonic() - started >= 0.15
    requests.delete(faults, timeout=5)
    requests.post(faults, json={"path": "^/1/members/me$", "hang_s": 0.6, "times": 1}, timeout=5)
    with pytest.raises(requests.Timeout):
        requests.get(api.base + "/members/me", params={"key": KEY, "token": api.token},
                     timeout=0.2)
    assert api.call("GET", "/members/me").status_code == 200


# --------------------------------------------------------------------------- OAuth, search, control


def test_oauth1_flow_with_authlib(emu: TrelloEmulator, world: dict[str, Any]) -> None:
    from authlib.integrations.requests_client import OAuth1Session

    base = emu.api_base_url
    callback = "http://127.0.0.1:9/trello/callback"
    client = OAuth1Session(KEY, SECRET, redirect_uri=callback)
    request_token = client.fetch_request_token(base + "/OAuthGetRequestToken")
    assert request_token["oauth_callback_confirmed"] == "true"
    url = client.create_authorization_url(base + "/OAuthAuthorizeToken", scope="read,write",
                                          expiration="never", name="Leads Sync")
    page = requests.get(url, timeout=5)
    assert page.status_code == 200 and "Allow" in page.text and "Leads Sync" in page.text
    username = world["member"]["username"]
    resp = requests.get(url + f"&auto=1&member={username}", allow_redirects=False, timeout=5)
    assert resp.status_code == 302 and resp.headers["Location"].startswith(callback)
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert query["oauth_token"] == [request_token["oauth_token"]]
    client.parse_authorization_response(resp.headers["Location"])
    access = client.fetch_access_token(base + "/OAuthGetAccessToken")
    token = access["oauth_token"]
    assert re.fullmatch(r"ATTA[0-9a-f]{72}", token)
    me = requests.get(base + "/members/me", params={"key": KEY, "token": token}, timeout=5)
    assert me.json()["username"] == username
    grant = emu.oauth.grants[-1]
    assert (grant["scope"], grant["expiration"], grant["name"]) == (["read", "write"], "never",
                                                                     "Leads Sync")

    forger = OAuth1Session(KEY, "wrong-secret", redirect_uri=callback)
    with pytest.raises(Exception, match="invalid signature"):
        forger.fetch_request_token(base + "/OAuthGetRequestToken")

    reader = OAuth1Session(KEY, SECRET, redirect_uri=callback)
    reader.fetch_request_token(base + "/OAuthGetRequestToken")
    url = reader.create_authorization_url(base + "/OAuthAuthorizeToken", scope="read",
                                          expiration="1day", name="RO")
    resp = requests.get(url + "&auto=1", allow_redirects=False, timeout=5)
    reader.parse_authorization_response(resp.headers["Location"])
    read_only = reader.fetch_access_token(base + "/OAuthGetAccessToken")["oauth_token"]
    resp = requests.post(base + "/cards", timeout=5, params={"key": KEY, "token": read_only},
                         data={"idList": world["list_ids"][0], "name": "nope"})
    assert resp.status_code == 401


def test_search_is_not_real_time(emu: TrelloEmulator, world: dict[str, Any]) -> None:
    requests.post(f"{emu.base_url}/_emulator/config", json={"search_lag_s": 1.0}, timeout=5)
    api, board = world["api"], world["board"]["id"]
    card = api.ok("POST", "/cards", data={"idList": world["list_ids"][0], "name": "Unicorn Corp",
                                          "desc": "big deal"})
    params = {"query": "unicorn", "modelTypes": "cards", "idBoards": board, "cards_limit": 5}
    assert api.ok("GET", "/search", params=params)["cards"] == []
    found = wait_until(lambda: api.ok("GET", "/search", params=params)["cards"], timeout=5,
                       interval=0.05)
    assert [c["id"] for c in found] == [card["id"]]
    by_desc = api.ok("GET", "/search", params={**params, "query": "BIG DEAL"})
    assert [c["id"] for c in by_desc["cards"]] == [card["id"]] and by_desc["boards"] == []


def test_control_api_and_ui(emu: TrelloEmulator) -> None:
    base = emu.base_url + "/_emulator"
    seeded = requests.post(base + "/seed", json={"username": f"demo{uuid.uuid4().hex[:6]}",
                                                 "board": "Demo", "lists": ["New", "Won"]},
                           timeout=5).json()
    assert set(seeded) == {"member", "token", "board", "lists"}
    assert [lst["name"] for lst in seeded["lists"]] == ["New", "Won"]
    board = seeded["board"]["id"]
    made = requests.post(f"{base}/ui/boards/{board}/action", timeout=5, json={
        "op": "create", "idList": seeded["lists"][0]["id"], "name": "From UI"}).json()
    requests.post(f"{base}/ui/boards/{board}/action", timeout=5, json={
        "op": "move", "idCard": made["id"], "idList": seeded["lists"][1]["id"]})
    requests.post(f"{base}/ui/boards/{board}/action", timeout=5,
                  json={"op": "archive", "idCard": made["id"]})
    assert emu.card(made["id"])["closed"] is True
    assert [a["type"] for a in emu.actions(board)] == ["createCard", "updateCard", "updateCard"]
    state = requests.get(base + "/state", timeout=5).json()
    assert set(state) >= {"members", "boards", "lists", "cards", "webhooks"}
    assert made["id"] in [c["id"] for c in state["cards"]]
    one = requests.get(base + "/state", params={"board": board}, timeout=5).json()
    assert [c["name"] for c in one["cards"]] == ["From UI"]
    page = requests.get(f"{base}/ui/boards/{board}", timeout=5)
    assert page.status_code == 200 and "/_emulator/state" in page.text
    assert board in requests.get(base + "/ui", timeout=5).text
    stats = requests.get(base + "/stats", timeout=5).json()
    assert set(stats) >= {"calls", "total", "rate_limited", "deliveries"}
    assert set(stats["deliveries"]) >= {"sent", "failed", "dropped"}
    requests.get(emu.api_base_url + "/members/me",
                 params={"key": KEY, "token": seeded["token"]}, timeout=5)
    assert requests.get(base + "/stats", timeout=5).json()["calls"].get(
        "GET /1/members/me", 0) >= 1
    cleared = requests.delete(base + "/stats", timeout=5).json()
    assert cleared["total"] == 0 and cleared["calls"] == {}
