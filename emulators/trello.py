"""Stateful emulator of the Trello REST API, with webhooks that really POST signed deliveries.

Run by hand with ``python -m emulators.trello --port 8101 --seed-demo``.

Pieces: ``trello_records`` (ids, dates, errors, records), ``trello_model`` (state, actions),
``trello_api`` (the ``/1`` endpoints, auth, rate limits), ``trello_delivery`` (webhook delivery
thread), ``trello_oauth`` (OAuth 1.0a and the consent pages), ``trello_ui`` (demo pages). This
module wires them together and serves the ``/_emulator`` control API.
"""

from __future__ import annotations

import argparse
import json
import threading
import traceback
from collections import Counter
from typing import Any, Callable, Iterable

from werkzeug.wrappers import Request, Response

from .common import FaultInjector, Served, serve_forever
from .trello_api import RateLimiter, TrelloApi, json_response, text_response
from .trello_delivery import Delivery, DeliveryQueue, sign
from .trello_model import TrelloState
from .trello_oauth import TrelloOAuth
from .trello_records import Board, Card, TrelloError, iso
from .trello_ui import board_page, index_page, ui_action

# The application (Power-Up) the emulator's default API key belongs to: REST changes made with
# that key carry ``appCreator: {"id": DEFAULT_APP_ID}``, as Trello's do for a Power-Up's key.
DEFAULT_APP_ID = "5e1ea95c0ffee0000000a991"
DEMO_LISTS = ["New", "Contacted", "Qualified", "Won", "Lost"]


class TrelloEmulator(Served):
    """The emulator: state, the WSGI app (``wsgi_app``), control API and webhook deliveries."""

    def __init__(self, api_key: str = "emulator-key", api_secret: str = "emulator-secret", *,
                 app_id: str | None = DEFAULT_APP_ID,
                 token_limit: tuple[int, float] = (100, 10.0),
                 key_limit: tuple[int, float] = (300, 10.0),
                 delivery_retry_delays: Iterable[float] = (0.2, 0.5, 1.0),
                 search_lag_s: float = 0.0) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.app_id = app_id
        # API key -> id of the application (Power-Up) it belongs to, or None (a legacy key).
        # Actions made through the REST API carry ``appCreator: {"id": app}`` for a key that
        # belongs to an app; actions made in Trello's own web UI carry ``appCreator: null``.
        self.api_keys: dict[str, str | None] = {api_key: app_id}
        self.search_lag_s = float(search_lag_s)
        # Trello deactivates a webhook whose deliveries keep failing (``active: false``, its
        # ``consecutiveFailures`` kept); after this many failed deliveries in a row here (None: never).
        self.deactivate_after_failures: int | None = None
        self._lock = threading.RLock()
        self.state = TrelloState(on_action=self._on_action)
        self.limiter = RateLimiter(token_limit, key_limit)
        self.deliveries = DeliveryQueue(tuple(delivery_retry_delays), self._webhook_live,
                                        self._delivery_outcome)
        self.api = TrelloApi(self)
        self.oauth = TrelloOAuth(self)
        self.faults = FaultInjector()
        self._stats_lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._rate_limited = 0
        self.wsgi_app: Callable = self.faults.wrap(self._app)

    def on_stop(self) -> None:
        self.deliveries.stop()

    @property
    def api_base_url(self) -> str:
        return self.base_url + "/1"

    def _app(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path
        try:
            if path.startswith("/1/"):
                response = self.api.handle(request)
            elif path.startswith("/_emulator"):
                response = self._control(request)
            elif path == "/":
                response = Response("", status=302, headers={"Location": "/_emulator/ui"})
            else:
                response = text_response(f"Cannot {request.method} {path}", 404)
        except TrelloError as exc:
            response = text_response(exc.message, exc.status)
        except Exception:  # noqa: BLE001 - a bug in the emulator: say so loudly, answer 500
            traceback.print_exc()
            response = text_response("Internal Server Error (emulator bug)", 500)
        return response(environ, start_response)

    # ---------------------------------------------------------------- seeding and state

    def add_api_key(self, key: str, app_id: str | None = None) -> None:
        """Accept another API key (another app's, or with ``app_id=None`` one tied to no app)."""
        with self._lock:
            self.api_keys[key] = app_id

    def add_member(self, username: str, full_name: str = "") -> dict:
        with self._lock:
            return self.state.add_member(username, full_name).to_json()

    def issue_token(self, member_id: str, *, value: str | None = None) -> str:
        """A new ``ATTA…`` token for the member (id or username); ``value`` fixes its text."""
        with self._lock:
            token = self.state.issue_token(member_id)
            if value is not None:
                del self.state.tokens[token.value]
                token.value = value
                self.state.tokens[value] = token
            return token.value

    def revoke_token(self, token: str) -> None:
        """The token stops working (401) and its webhooks are deleted, like Trello."""
        with self._lock:
            self.state.revoke_token(token)

    def add_board(self, name: str, member_id: str,
                  lists: Iterable[str] = ("To Do", "Doing", "Done")) -> dict:
        with self._lock:
            board = self.state.add_board(name, member_id, lists)
            return {**board.to_json(), "lists": [self.state.lists[i].to_json()
                                                 for i in board.list_ids]}

    def add_board_member(self, board_id: str, member_id: str) -> None:
        with self._lock:
            self.state.add_board_member(self.state.board(board_id),
                                        self.state.member(member_id))

    def set_custom_fields(self, board_id: str, enabled: bool = True) -> None:
        """Custom Fields usable on the board (a paid plan, or the Custom Fields Power-Up
        enabled) or not: writes answer 403 and ``boardPlugins`` omits the Power-Up when not."""
        with self._lock:
            self.state.set_custom_fields(self.state.board(board_id), enabled)

    def add_custom_field(self, board_id: str, name: str, field_type: str,
                         options: Iterable[str] = (), *, as_member: str | None = None) -> dict:
        """Define a custom field as a person does in Trello (createCustomField action)."""
        with self._lock:
            board = self.state.board(board_id)
            member = self.state.member(as_member or board.member_ids[0])
            return self.state.create_custom_field(member, board, name, field_type,
                                                  options=options).to_json()

    def set_custom_field_item(self, card_id: str, field_id: str, value: Any = None, *,
                              id_value: str | None = None, as_member: str | None = None) -> dict:
        """A person sets (or, with neither ``value`` nor ``id_value``, clears) a card's custom
        field in Trello: ``value`` as the API takes it (``{"number": "3"}``...)."""
        with self._lock:
            card = self.state.card(card_id)
            member = self.state.member(as_member or self.state.boards[card.board_id].member_ids[0])
            change = self.state.custom_item_change(card, field_id,
                                                   {"value": value, "idValue": id_value})
            [item] = self.state.set_custom_items(member, card, [change])
            return item.to_json()

    def add_checklist(self, card_id: str, name: str = "Checklist", items: Iterable[str] = (), *,
                      as_member: str | None = None) -> dict:
        """A person adds a checklist with these items to a card."""
        with self._lock:
            card = self.state.card(card_id)
            member = self.state.member(as_member or self.state.boards[card.board_id].member_ids[0])
            checklist = self.state.create_checklist(member, card, name)
            for item in items:
                self.state.add_check_item(member, checklist, item)
            return self.state.checklist_json(checklist)

    def set_check_item(self, card_id: str, item_id: str, complete: bool = True, *,
                       as_member: str | None = None) -> dict:
        """A person ticks (or unticks) a checklist item (updateCheckItemStateOnCard)."""
        with self._lock:
            card = self.state.card(card_id)
            member = self.state.member(as_member or self.state.boards[card.board_id].member_ids[0])
            item = self.state.check_items[item_id]
            return self.state.update_check_item(
                member, card, item, state="complete" if complete else "incomplete").to_json()

    def add_list(self, board_id: str, name: str) -> dict:
        with self._lock:
            return self.state.add_list(self.state.board(board_id), name, None).to_json()

    def add_card(self, list_id: str, name: str, desc: str = "", *,
                 as_member: str | None = None) -> dict:
        """Create a card like ``POST /1/cards`` (createCard action and webhook deliveries)."""
        with self._lock:
            lst = self.state.list(list_id)
            board = self.state.boards[lst.board_id]
            member = self.state.member(as_member or board.member_ids[0])
            return self.state.card_json(self.state.create_card(member, lst, name, desc))

    def email_card(self, list_id: str, name: str, desc: str = "", *, as_member: str | None = None) -> dict:
        """A card sent to the board's email address: Trello records it as an ``emailCard`` action."""
        with self._lock:
            lst = self.state.list(list_id)
            board = self.state.boards[lst.board_id]
            member = self.state.member(as_member or board.member_ids[0])
            return self.state.card_json(self.state.create_card(member, lst, name, desc, action_type="emailCard"))

    def comment_card(self, card_id: str, text: str, *, as_member: str | None = None) -> dict:
        """A person's comment on a card (``POST /1/cards/{id}/actions/comments``)."""
        with self._lock:
            card = self.state.card(card_id)
            member = self.state.member(as_member or self.state.boards[card.board_id].member_ids[0])
            return self.state.comment(member, card, text)

    def update_card(self, card_id: str, *, as_member: str | None = None, **changes: Any) -> dict:
        """Change a card like ``PUT /1/cards/{id}`` (Trello field names: name, idList, ...)."""
        with self._lock:
            card = self.state.card(card_id)
            member = self.state.member(as_member or self.state.boards[card.board_id].member_ids[0])
            self.state.update_card(member, card, changes)
            return self.state.card_json(card)

    def card(self, card_id: str) -> dict | None:
        with self._lock:
            card = self.state.cards.get(card_id)
            return None if card is None else self.state.card_json(card)

    def cards(self, board_id: str, include_closed: bool = False) -> list[dict]:
        with self._lock:
            board = self.state.board(board_id)
            return [self.state.card_json(c) for c in
                    self.state.board_cards(board, "all" if include_closed else "open")]

    def lists(self, board_id: str) -> list[dict]:
        with self._lock:
            board = self.state.board(board_id)
            return [self.state.lists[i].to_json() for i in board.list_ids]

    def webhooks(self) -> list[dict]:
        with self._lock:
            return [{**w.to_json(), "token": w.token} for w in self.state.webhooks.values()]

    def actions(self, model_id: str) -> list[dict]:
        """Actions recorded on a board or card, oldest first."""
        with self._lock:
            return [json.loads(self.state.actions[a][1])
                    for a in self.state.model_actions.get(model_id, [])]

    def set_limits(self, token_limit: tuple[int, float] | None = None,
                   key_limit: tuple[int, float] | None = None) -> None:
        """Change the (max_requests, window_seconds) limits; the windows start afresh."""
        self.limiter.set(token_limit, key_limit)

    def state_json(self, board_id: str | None = None) -> dict[str, Any]:
        """Everything (or one board's lists and cards), as served by ``/_emulator/state``."""
        with self._lock:
            s = self.state
            if board_id:
                board = s.board(board_id)
                return {"board": board.to_json(),
                        "lists": [s.lists[i].to_json() for i in board.list_ids],
                        "cards": [s.card_json(c, custom_field_items=True)
                                  for c in s.board_cards(board, "all")],
                        "customFieldsEnabled": board.custom_fields_enabled,
                        "customFields": [f.to_json() for f in s.board_custom_fields(board)]}
            return {
                "members": [m.to_json() for m in s.members.values()],
                "boards": [{**b.to_json(), "idLists": list(b.list_ids)}
                           for b in s.boards.values()],
                "lists": [lst.to_json() for lst in s.lists.values()],
                "cards": [s.card_json(c) for c in s.cards.values()],
                "webhooks": [{**w.to_json(), "idMember": s.tokens[w.token].member_id
                              if w.token in s.tokens else None}
                             for w in s.webhooks.values()],
            }

    # ---------------------------------------------------------------- accounting

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self._calls[key] += 1

    def _count_rate_limited(self) -> None:
        with self._stats_lock:
            self._rate_limited += 1

    def stats(self) -> dict:
        with self._stats_lock:
            calls = dict(self._calls)
            limited = self._rate_limited
        return {"calls": calls, "total": sum(calls.values()), "rate_limited": limited,
                "deliveries": self.deliveries.snapshot()}

    def reset_stats(self) -> None:
        with self._stats_lock:
            self._calls.clear()
            self._rate_limited = 0
        self.deliveries.reset_stats()

    # ---------------------------------------------------------------- deliveries

    def _on_action(self, action: dict[str, Any], action_json: str, board: Board,
                   card: Card | None) -> None:
        """Queue one delivery per active webhook on the board or the card (under the lock)."""
        hooks = [w for w in self.state.webhooks.values() if w.active and
                 (w.id_model == board.id or (card is not None and w.id_model == card.id))]
        for webhook in hooks:
            model = board.default_json() if webhook.id_model == board.id else \
                self.state.card_json(card)  # type: ignore[arg-type]
            # Trello's order: the watched model, the action, then the webhook as GET returns it
            body = ('{"model":%s,"action":%s,"webhook":%s}' % (
                json.dumps(model, separators=(",", ":")), action_json,
                json.dumps(webhook.to_json(), separators=(",", ":")))).encode()
            self.deliveries.put(Delivery(webhook.id, webhook.callback_url, body,
                                         sign(self.api_secret, body, webhook.callback_url),
                                         action["id"], action["type"]))

    def _webhook_live(self, webhook_id: str) -> bool:
        with self._lock:
            webhook = self.state.webhooks.get(webhook_id)
            return webhook is not None and webhook.active

    def _delivery_outcome(self, webhook_id: str, outcome: str) -> None:
        with self._lock:
            webhook = self.state.webhooks.get(webhook_id)
            if webhook is None:
                return
            if outcome == "ok":
                webhook.consecutive_failures, webhook.first_fail_date = 0, None
            elif outcome == "gone":
                del self.state.webhooks[webhook_id]
            else:
                webhook.consecutive_failures += 1
                webhook.first_fail_date = webhook.first_fail_date or iso()
                limit = self.deactivate_after_failures
                if limit is not None and webhook.consecutive_failures >= limit:
                    webhook.active = False

    def deactivate_webhook(self, webhook_id: str, failures: int = 1000) -> None:
        """Trello gives up on a callback that keeps failing: the webhook stays, ``active: false``,
        with its ``consecutiveFailures``, and nothing more is delivered to it."""
        with self._lock:
            webhook = self.state.webhooks[webhook_id]
            webhook.active = False
            webhook.consecutive_failures = failures
            webhook.first_fail_date = webhook.first_fail_date or iso()

    def drop_next_deliveries(self, n: int) -> None:
        """The next ``n`` webhook deliveries are silently lost."""
        self.deliveries.drop_next(n)

    @property
    def duplicate_deliveries(self) -> bool:
        return self.deliveries.duplicate

    @duplicate_deliveries.setter
    def duplicate_deliveries(self, value: bool) -> None:
        self.deliveries.duplicate = bool(value)

    def pause_deliveries(self) -> None:
        self.deliveries.pause()

    def resume_deliveries(self) -> None:
        self.deliveries.resume()

    def wait_for_deliveries(self, timeout: float = 10.0) -> bool:
        """Block until the delivery queue is empty and nothing is in flight."""
        return self.deliveries.wait_idle(timeout)

    def delivery_log(self) -> list[dict[str, Any]]:
        """The last deliveries: webhook, action, type, attempt, status, outcome."""
        with self.deliveries._cond:
            return list(self.deliveries.log)

    # ---------------------------------------------------------------- control API

    def seed(self, username: str = "demo", board: str = "Leads",
             lists: Iterable[str] = ("To Do", "Doing", "Done"), full_name: str = "",
             token: str | None = None, custom_fields: bool = False) -> dict[str, Any]:
        """A member (reused if the username exists), a token and a new board with lists
        (``custom_fields``: with Custom Fields enabled)."""
        with self._lock:
            member_id = self.state.usernames.get(username)
        member = (self.state.members[member_id].to_json() if member_id else
                  self.add_member(username, full_name))
        value = self.issue_token(member["id"], value=token)
        made = self.add_board(board, member["id"], lists)
        if custom_fields:
            self.set_custom_fields(made["id"], True)
        with self._lock:
            member = self.state.members[member["id"]].to_json()
        return {"member": member, "token": value, "board": {k: v for k, v in made.items()
                                                           if k != "lists"},
                "lists": made["lists"]}

    def _control(self, request: Request) -> Response:
        path = request.path[len("/_emulator"):].rstrip("/") or "/"
        method = request.method
        body = request.get_json(silent=True) if method in ("POST", "PUT") else None
        body = body if isinstance(body, dict) else {}
        if path == "/faults" or path.startswith("/faults/"):
            return self.faults.handle_control(request)
        if path == "/state" and method == "GET":
            return json_response(self.state_json(request.args.get("board")))
        if path == "/stats":
            if method == "DELETE":
                self.reset_stats()
            return json_response(self.stats())
        if path == "/config" and method == "POST":
            self.set_limits(body.get("token_limit"), body.get("key_limit"))
            if "duplicate_deliveries" in body:
                self.duplicate_deliveries = bool(body["duplicate_deliveries"])
            if "search_lag_s" in body:
                self.search_lag_s = float(body["search_lag_s"])
            api_keys = body.get("api_keys")
            if isinstance(api_keys, dict):  # {key: app id or null}: accept more API keys
                for key, app_id in api_keys.items():
                    self.add_api_key(str(key), None if app_id is None else str(app_id))
            return json_response(self._config())
        if path == "/config" and method == "GET":
            return json_response(self._config())
        if path == "/seed" and method == "POST":
            return json_response(self.seed(
                body.get("username", "demo"), body.get("board", "Leads"),
                body.get("lists", ["To Do", "Doing", "Done"]), body.get("fullName", ""),
                body.get("token"), bool(body.get("customFields", False))))
        if path == "/members" and method == "POST":
            return json_response(self.add_member(body["username"], body.get("fullName", "")))
        if path == "/tokens" and method == "POST":
            return json_response({"token": self.issue_token(body["member"])})
        if path.startswith("/tokens/") and path.endswith("/revoke") and method == "POST":
            self.revoke_token(path[len("/tokens/"):-len("/revoke")])
            return json_response({"revoked": True})
        if path.startswith("/deliveries"):
            return self._control_deliveries(path[len("/deliveries"):], method, body)
        if path.startswith("/boards/") and method == "POST":
            return self._control_board(path[len("/boards/"):], body)
        if path == "/ui" and method == "GET":
            return Response(index_page(self._board_summaries()),
                            content_type="text/html; charset=utf-8")
        if path.startswith("/ui/boards/"):
            rest = path[len("/ui/boards/"):]
            if rest.endswith("/action") and method == "POST":
                return json_response(ui_action(self, rest[:-len("/action")], body))
            if method == "GET" and "/" not in rest:
                with self._lock:
                    self.state.board(rest)
                return Response(board_page(rest), content_type="text/html; charset=utf-8")
        return text_response(f"Cannot {method} {request.path}", 404)

    def _control_board(self, rest: str, body: dict[str, Any]) -> Response:
        """``POST /_emulator/boards/{id}`` ``{"customFields": true|false}`` switches Custom
        Fields; ``POST /_emulator/boards/{id}/members`` ``{"member": id or username}`` or
        ``{"username", "fullName"}`` (a new member) makes someone a board member."""
        board_id, _, sub = rest.partition("/")
        if sub == "members":
            ref = body.get("member") or body.get("username")
            if not ref:
                return text_response("member or username required", 400)
            with self._lock:
                known = self.state.members.get(ref) or self.state.usernames.get(ref)
            member = (self.state.members[self.state.usernames.get(ref, ref)].to_json() if known
                      else self.add_member(ref, body.get("fullName", "")))
            self.add_board_member(board_id, member["id"])
            with self._lock:
                return json_response(self.state.members[member["id"]].to_json())
        if sub:
            return text_response(f"Cannot POST /_emulator/boards/{rest}", 404)
        if "customFields" in body:
            self.set_custom_fields(board_id, bool(body["customFields"]))
        with self._lock:
            board = self.state.board(board_id)
            return json_response({"id": board.id, "customFields": board.custom_fields_enabled})

    def _config(self) -> dict[str, Any]:
        return {"token_limit": list(self.limiter.token_limit),
                "key_limit": list(self.limiter.key_limit),
                "duplicate_deliveries": self.duplicate_deliveries,
                "search_lag_s": self.search_lag_s}

    def _control_deliveries(self, sub: str, method: str, body: dict[str, Any]) -> Response:
        if sub in ("", "/") and method == "GET":
            return json_response({"stats": self.deliveries.snapshot(), "log": self.delivery_log()})
        if method != "POST":
            return text_response("method not allowed", 405)
        if sub == "/drop":
            self.drop_next_deliveries(int(body.get("n", 1)))
        elif sub == "/pause":
            self.pause_deliveries()
        elif sub == "/resume":
            self.resume_deliveries()
        elif sub == "/wait":
            return json_response({"idle": self.wait_for_deliveries(float(body.get("timeout", 10)))})
        else:
            return text_response("unknown deliveries control", 404)
        return json_response({"ok": True, **self.deliveries.snapshot()})

    def _board_summaries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"id": b.id, "name": b.name,
                     "cards": sum(1 for c in b.card_ids if not self.state.cards[c].closed),
                     "members": [self.state.members[m].username for m in b.member_ids]}
                    for b in self.state.boards.values()]


def main(argv: list[str] | None = None) -> None:
    """``python -m emulators.trello --port 8101 [--seed-demo]``."""
    parser = argparse.ArgumentParser(description="Trello REST API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--api-key", default="emulator-key")
    parser.add_argument("--api-secret", default="emulator-secret")
    parser.add_argument("--seed-demo", action="store_true",
                        help="create member 'demo', a token and a 'Leads' board")
    parser.add_argument("--demo-token", default=None, help="use this token text for the demo")
    parser.add_argument("--search-lag", type=float, default=0.0)
    args = parser.parse_args(argv)
    emu = TrelloEmulator(args.api_key, args.api_secret, search_lag_s=args.search_lag)
    base = f"http://{args.host}:{args.port}"
    print(f"Trello emulator on {base} (API base {base}/1)")
    print(f"  api key: {args.api_key}  api secret: {args.api_secret}")
    if args.seed_demo:
        seeded = emu.seed("demo", "Leads", DEMO_LISTS, "Demo User", args.demo_token)
        print(f"  member: demo ({seeded['member']['id']})  token: {seeded['token']}")
        print(f"  board: Leads ({seeded['board']['id']})  "
              f"UI: {base}/_emulator/ui/boards/{seeded['board']['id']}")
    print(f"  control: {base}/_emulator/state, /_emulator/stats, /_emulator/faults", flush=True)
    try:
        serve_forever(emu.wsgi_app, args.host, args.port)
    finally:
        emu.deliveries.stop()


if __name__ == "__main__":
    main()
