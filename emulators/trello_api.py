"""The ``/1`` REST endpoints of the Trello emulator (auth, rate limits, routing, handlers)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .trello_delivery import check_callback
from .trello_fields_api import FIELD_RULES, LABEL_DEFAULT_FIELDS, CardFeaturesApi, comment_answer
from .trello_records import (
    HEX_ID,
    NOT_FOUND,
    UNAUTHORIZED,
    UNSET,
    Card,
    Member,
    Token,
    TrelloError,
    Webhook,
    invalid,
    new_id,
    parse_date,
)

if TYPE_CHECKING:  # pragma: no cover
    from .trello import TrelloEmulator

Limit = tuple[int, float]
_OAUTH_HEADER = re.compile(r'(oauth_consumer_key|oauth_token)\s*=\s*"([^"]*)"')
_RULE_ARG = re.compile(r"<(?:[a-z]+:)?(\w+)>")


def json_response(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, separators=(",", ":")), status=status,
                    content_type="application/json; charset=utf-8")


def text_response(text: str, status: int) -> Response:
    return Response(text, status=status, content_type="text/plain; charset=utf-8")


# --------------------------------------------------------------------------- rate limits


class RateLimiter:
    """Exact sliding-window limits per token and per API key."""

    def __init__(self, token_limit: Limit, key_limit: Limit) -> None:
        self._lock = threading.Lock()
        self.token_limit = (int(token_limit[0]), float(token_limit[1]))
        self.key_limit = (int(key_limit[0]), float(key_limit[1]))
        self._hits: dict[str, deque[float]] = {}

    def set(self, token_limit: Limit | None = None, key_limit: Limit | None = None) -> None:
        with self._lock:
            if token_limit is not None:
                self.token_limit = (int(token_limit[0]), float(token_limit[1]))
            if key_limit is not None:
                self.key_limit = (int(key_limit[0]), float(key_limit[1]))
            self._hits.clear()

    def hit(self, token: str, key: str) -> tuple[str | None, dict[str, str]]:
        """Count one call; returns (error code or None, rate-limit headers)."""
        with self._lock:
            now = time.monotonic()
            queues = []
            for name, (limit, window) in (("t:" + token, self.token_limit),
                                          ("k:" + key, self.key_limit)):
                q = self._hits.setdefault(name, deque())
                while q and q[0] <= now - window:
                    q.popleft()
                queues.append((q, limit, window))
            (tq, tmax, twin), (kq, kmax, kwin) = queues
            error = None
            if len(tq) >= tmax:
                error = "API_TOKEN_LIMIT_EXCEEDED"
            elif len(kq) >= kmax:
                error = "API_KEY_LIMIT_EXCEEDED"
            else:
                tq.append(now)
                kq.append(now)
            headers = {
                "x-rate-limit-api-token-interval-ms": str(int(twin * 1000)),
                "x-rate-limit-api-token-max": str(tmax),
                "x-rate-limit-api-token-remaining": str(max(0, tmax - len(tq))),
                "x-rate-limit-api-key-interval-ms": str(int(kwin * 1000)),
                "x-rate-limit-api-key-max": str(kmax),
                "x-rate-limit-api-key-remaining": str(max(0, kmax - len(kq))),
            }
            return error, headers


# --------------------------------------------------------------------------- parameters


class Ctx:
    """One authenticated call: merged parameters, member and token."""

    __slots__ = ("request", "params", "member", "token")

    def __init__(self, request: Request, params: dict[str, Any], member: Member | None,
                 token: Token | None) -> None:
        self.request, self.params, self.member, self.token = request, params, member, token

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def text(self, name: str, default: Any = UNSET) -> Any:
        value = self.params.get(name, default)
        if value is UNSET or value is None:
            return value
        return value if isinstance(value, str) else json.dumps(value) if isinstance(
            value, (dict, list)) else str(value)

    def flag(self, name: str, default: Any = UNSET) -> Any:
        value = self.params.get(name, default)
        if value is UNSET or isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise invalid(name)

    def number(self, name: str, default: int | None, low: int, high: int) -> int | None:
        value = self.params.get(name)
        if value in (None, ""):
            return default
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise invalid(name) from None
        if not low <= number <= high:
            raise invalid(name)
        return number

    def ids(self, name: str) -> Any:
        value = self.params.get(name, UNSET)
        if value is UNSET or isinstance(value, list):
            return value
        return [v.strip() for v in str(value or "").split(",") if v.strip()]

    def fields(self, default: tuple[str, ...] | None = None,
               name: str = "fields") -> tuple[str, ...] | None:
        value = self.params.get(name)
        if value in (None, "", "all"):
            return default
        parts = value if isinstance(value, list) else str(value).split(",")
        return tuple(p.strip() for p in parts if p.strip())


def request_params(request: Request) -> dict[str, Any]:
    """Query string, then form or JSON body (the body wins)."""
    params: dict[str, Any] = dict(request.args.items())
    if request.method in ("POST", "PUT", "DELETE"):
        if request.mimetype == "application/json":
            body = request.get_json(silent=True)
            if isinstance(body, dict):
                params.update(body)
        else:
            params.update(request.form.items())
    return params


def _listed(value: Any) -> list[str]:
    return [] if value is UNSET else list(value)


def _displayed(action: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """The actions endpoints add ``display`` only when asked (``display=true``); webhook
    deliveries always carry it."""
    if not ctx.flag("display", False):
        action.pop("display", None)
    return action


def _pick(data: dict[str, Any], fields: tuple[str, ...] | None) -> dict[str, Any]:
    if fields is None:
        return data
    return {k: data[k] for k in ("id", *fields) if k in data}


# --------------------------------------------------------------------------- the API


R = Rule
URL_MAP = Map([
    R("/1/members/me", endpoint="member", methods=["GET"], defaults={"mid": "me"}),
    R("/1/members/me/boards", endpoint="member_boards", methods=["GET"],
      defaults={"mid": "me"}),
    R("/1/members/<mid>", endpoint="member", methods=["GET"]),
    R("/1/members/<mid>/boards", endpoint="member_boards", methods=["GET"]),
    R("/1/boards", endpoint="board_create", methods=["POST"]),
    R("/1/boards/", endpoint="board_create", methods=["POST"]),
    R("/1/boards/<bid>", endpoint="board", methods=["GET"]),
    R("/1/boards/<bid>/lists", endpoint="board_lists", methods=["GET"]),
    R("/1/boards/<bid>/lists", endpoint="board_list_create", methods=["POST"]),
    R("/1/boards/<bid>/cards", endpoint="board_cards", methods=["GET"]),
    R("/1/boards/<bid>/cards/<cfilter>", endpoint="board_cards", methods=["GET"]),
    R("/1/boards/<bid>/labels", endpoint="board_labels", methods=["GET"]),
    R("/1/boards/<bid>/members", endpoint="board_members", methods=["GET"]),
    R("/1/boards/<bid>/actions", endpoint="board_actions", methods=["GET"]),
    R("/1/lists", endpoint="list_create", methods=["POST"]),
    R("/1/lists/<lid>", endpoint="list_get", methods=["GET"]),
    R("/1/lists/<lid>", endpoint="list_update", methods=["PUT"]),
    R("/1/lists/<lid>/cards", endpoint="list_cards", methods=["GET"]),
    R("/1/cards", endpoint="card_create", methods=["POST"]),
    R("/1/cards/<cid>", endpoint="card_get", methods=["GET"]),
    R("/1/cards/<cid>", endpoint="card_update", methods=["PUT"]),
    R("/1/cards/<cid>", endpoint="card_delete", methods=["DELETE"]),
    R("/1/cards/<cid>/list", endpoint="card_list", methods=["GET"]),
    R("/1/cards/<cid>/board", endpoint="card_board", methods=["GET"]),
    R("/1/cards/<cid>/members", endpoint="card_members", methods=["GET"]),
    R("/1/cards/<cid>/actions", endpoint="card_actions", methods=["GET"]),
    R("/1/cards/<cid>/actions/comments", endpoint="card_comment", methods=["POST"]),
    R("/1/actions/<aid>", endpoint="action_get", methods=["GET"]),
    R("/1/search", endpoint="search", methods=["GET"]),
    R("/1/webhooks", endpoint="webhook_create", methods=["POST"]),
    R("/1/webhooks/", endpoint="webhook_create", methods=["POST"]),
    R("/1/webhooks/<wid>", endpoint="webhook_get", methods=["GET"]),
    R("/1/webhooks/<wid>", endpoint="webhook_update", methods=["PUT"]),
    R("/1/webhooks/<wid>", endpoint="webhook_delete", methods=["DELETE"]),
    R("/1/tokens/<tok>", endpoint="token_get", methods=["GET"]),
    R("/1/tokens/<tok>", endpoint="token_delete", methods=["DELETE"]),
    R("/1/tokens/<tok>/member", endpoint="token_member", methods=["GET"]),
    R("/1/tokens/<tok>/webhooks", endpoint="token_webhooks", methods=["GET"]),
    R("/1/tokens/<tok>/webhooks", endpoint="webhook_create", methods=["POST"]),
    R("/1/tokens/<tok>/webhooks/<wid>", endpoint="webhook_get", methods=["GET"]),
    R("/1/tokens/<tok>/webhooks/<wid>", endpoint="webhook_delete", methods=["DELETE"]),
    R("/1/OAuthGetRequestToken", endpoint="oauth_request_token", methods=["GET", "POST"]),
    R("/1/OAuthAuthorizeToken", endpoint="oauth_authorize", methods=["GET", "POST"]),
    R("/1/OAuthGetAccessToken", endpoint="oauth_access_token", methods=["GET", "POST"]),
    R("/1/authorize", endpoint="oauth_client_authorize", methods=["GET", "POST"]),
    *FIELD_RULES,
], strict_slashes=False, redirect_defaults=False)
# names of rule arguments in call statistics ("GET /1/cards/{id}")
_ARG_NAMES = {"tok": "token", "cfilter": "filter"}

# handlers that take the state lock themselves (they make outbound HTTP calls)
_SELF_LOCKING = {"webhook_create", "webhook_update", "token_delete"}


class TrelloApi(CardFeaturesApi):
    """Answers ``/1`` requests against the emulator's state (the endpoints of labels, members,
    checklists and custom fields of cards in ``trello_fields_api``)."""

    def __init__(self, emu: "TrelloEmulator") -> None:
        self.emu = emu
        self.state = emu.state
        self.lock = emu._lock

    # ---------------------------------------------------------------- entry point

    def handle(self, request: Request) -> Response:
        adapter = URL_MAP.bind_to_environ(request.environ)
        try:
            rule, args = adapter.match(return_rule=True)
            endpoint = rule.endpoint
            template = _RULE_ARG.sub(lambda m: "{%s}" % _ARG_NAMES.get(m[1], "id"),
                                     rule.rule.rstrip("/") or rule.rule)
        except HTTPException:
            rule, args, endpoint, template = None, {}, None, request.path
        self.emu._count(f"{request.method} {template}")
        if endpoint and endpoint.startswith("oauth_"):
            try:
                return self.emu.oauth.handle(endpoint, request)
            except TrelloError as exc:
                return text_response(exc.message, exc.status)
        try:
            params = request_params(request)
            key, token = self._authenticate(request, params)
        except TrelloError as exc:
            return text_response(exc.message, exc.status)
        error, headers = self.emu.limiter.hit(token.value, key)
        if error is not None:
            self.emu._count_rate_limited()
            resp = json_response({"error": error, "message": "Rate limit exceeded"}, 429)
        elif endpoint is None:
            resp = text_response(f"Cannot {request.method} {request.path}", 404)
        else:
            resp = self._call(endpoint, request, params, token, args, self.emu.api_keys.get(key))
        resp.headers.update(headers)
        return resp

    def _authenticate(self, request: Request, params: dict[str, Any]) -> tuple[str, Token]:
        key, token_value = params.get("key"), params.get("token")
        header = request.headers.get("Authorization", "")
        if header[:6].lower() == "oauth ":
            found = dict(_OAUTH_HEADER.findall(header))
            key = found.get("oauth_consumer_key", key)
            token_value = found.get("oauth_token", token_value)
        if not key or key not in self.emu.api_keys:
            raise TrelloError(401, "invalid key")
        with self.lock:
            token = self.state.tokens.get(str(token_value or ""))
        if token is None or token.expired():
            raise TrelloError(401, "invalid token")
        return str(key), token

    def _call(self, endpoint: str, request: Request, params: dict[str, Any], token: Token,
              args: dict[str, Any], app_id: str | None = None) -> Response:
        handler: Callable[..., Any] = getattr(self, "h_" + endpoint)
        try:
            if request.method != "GET" and "write" not in token.scope:
                raise TrelloError(401, UNAUTHORIZED)
            if endpoint in _SELF_LOCKING:
                ctx = Ctx(request, params, None, token)
                result = handler(ctx, **args)
            else:
                with self.lock:
                    member = self.state.members[token.member_id]
                    self.state.acting_app = app_id  # actions made by this call name the key's app
                    try:
                        result = handler(Ctx(request, params, member, token), **args)
                    finally:
                        self.state.acting_app = None
        except TrelloError as exc:
            return text_response(exc.message, exc.status)
        return result if isinstance(result, Response) else json_response(result)

    # ---------------------------------------------------------------- members and boards

    def _member_for(self, ctx: Ctx, mid: str) -> Member:
        return ctx.member if mid == "me" else self.state.member(mid)

    def h_member(self, ctx: Ctx, mid: str) -> Any:
        return _pick(self._member_for(ctx, mid).to_json(), ctx.fields())

    def h_member_boards(self, ctx: Ctx, mid: str) -> Any:
        member = self._member_for(ctx, mid)
        if member.id != ctx.member.id:
            raise TrelloError(401, UNAUTHORIZED)
        board_filter = ctx.text("filter", "open")
        fields = ctx.fields(("name", "desc", "closed", "url", "shortUrl"))
        out = []
        for bid in member.board_ids:
            board = self.state.boards[bid]
            if board_filter == "all" or (board_filter == "closed") == board.closed:
                out.append(_pick(board.to_json(), fields))
        return out

    def h_board_create(self, ctx: Ctx) -> Any:
        name = ctx.text("name", "")
        if not name:
            raise invalid("name")
        lists = ("To Do", "Doing", "Done") if ctx.flag("defaultLists", True) else ()
        board = self.state.add_board(name, ctx.member.id, lists, desc=ctx.text("desc", "") or "")
        return board.to_json()

    def h_board(self, ctx: Ctx, bid: str) -> Any:
        board = self.state.board(bid, ctx.member)
        fields = ctx.fields()
        data = board.default_json() if fields is None else _pick(board.to_json(), fields)
        list_filter = ctx.text("lists", "none")
        if list_filter != "none":
            data["lists"] = self._lists(board.list_ids, list_filter)
        card_filter = ctx.text("cards", "none")
        if card_filter != "none":
            data["cards"] = [self.state.card_json(c, custom_field_items=self._with_items(ctx))
                             for c in self.state.board_cards(board, card_filter)]
        if ctx.flag("customFields", False):
            data["customFields"] = [f.to_json() for f in self.state.board_custom_fields(board)]
        if ctx.text("labels", "none") != "none":
            data["labels"] = [self.state.labels[i].to_json() for i in board.label_ids]
        return data

    def _lists(self, list_ids: list[str], list_filter: str) -> list[dict[str, Any]]:
        lists = [self.state.lists[i] for i in list_ids]
        if list_filter in ("open", "closed"):
            lists = [lst for lst in lists if lst.closed == (list_filter == "closed")]
        return [lst.to_json() for lst in sorted(lists, key=lambda lst: lst.pos)]

    def h_board_lists(self, ctx: Ctx, bid: str) -> Any:
        board = self.state.board(bid, ctx.member)
        out = self._lists(board.list_ids, ctx.text("filter", "open"))
        card_filter = ctx.text("cards", "none")
        if card_filter != "none":
            for data in out:
                data["cards"] = self._list_cards(data["id"], card_filter, None)
        return [_pick(d, ctx.fields()) for d in out]

    def h_board_list_create(self, ctx: Ctx, bid: str) -> Any:
        board = self.state.board(bid, ctx.member)
        return self.state.add_list(board, ctx.text("name", ""), ctx.member,
                                   ctx.get("pos", "bottom")).to_json()

    def h_board_cards(self, ctx: Ctx, bid: str, cfilter: str = "open") -> Any:
        board = self.state.board(bid, ctx.member)
        if HEX_ID.match(cfilter):
            card = self.state.card(cfilter)
            if card.board_id != board.id:
                raise TrelloError(404, NOT_FOUND)
            return self.state.card_json(card, ctx.fields(),
                                        custom_field_items=self._with_items(ctx))
        cfilter = ctx.text("filter", cfilter)
        if cfilter not in ("open", "closed", "all", "visible"):
            raise invalid("filter")
        since, before = ctx.text("since", None), ctx.text("before", None)
        for name, value in (("since", since), ("before", before)):
            if value is not None and not HEX_ID.match(value):
                raise invalid(name)
        limit = ctx.number("limit", None, 1, 1000)
        fields = ctx.fields()
        cards = self.state.board_cards(board, cfilter, since=since, before=before, limit=limit)
        items = self._with_items(ctx)
        return [self.state.card_json(c, fields, custom_field_items=items) for c in cards]

    @staticmethod
    def _with_items(ctx: Ctx) -> bool:
        """``customFieldItems=true``: each card with its custom field items."""
        return bool(ctx.flag("customFieldItems", False))

    def h_board_labels(self, ctx: Ctx, bid: str) -> Any:
        """The board's labels; by default ``id, idBoard, name, color`` (``fields=all`` adds
        ``uses``), at most ``limit`` (50)."""
        board = self.state.board(bid, ctx.member)
        fields = ctx.fields(LABEL_DEFAULT_FIELDS)
        if ctx.text("fields", "") == "all":
            fields = None
        limit = ctx.number("limit", 50, 0, 1000)
        labels = [self.state.labels[i] for i in board.label_ids][:limit]
        return [_pick(label.to_json(), fields) for label in labels]

    def h_board_members(self, ctx: Ctx, bid: str) -> Any:
        board = self.state.board(bid, ctx.member)
        return [self.state.members[m].ref() for m in board.member_ids]

    def _actions(self, ctx: Ctx, model_id: str, default_filter: str) -> Any:
        action_filter = ctx.text("filter", default_filter)
        types: dict[str, set[str]] | None = None
        if action_filter != "all":
            types, whole = {}, set()
            for part in action_filter.split(","):
                action_type, _, field_name = part.strip().partition(":")
                types.setdefault(action_type, set()).update([field_name] if field_name else [])
                if not field_name:
                    whole.add(action_type)
            types.update((t, set()) for t in whole)  # plain "updateCard" takes every change
        limit = ctx.number("limit", 50, 0, 1000) or 0
        actions = self.state.model_action_list(model_id, types, limit,
                                               since=ctx.text("since", None),
                                               before=ctx.text("before", None))
        return [_displayed(a, ctx) for a in actions]

    def h_board_actions(self, ctx: Ctx, bid: str) -> Any:
        return self._actions(ctx, self.state.board(bid, ctx.member).id, "all")

    # ---------------------------------------------------------------- lists

    def h_list_create(self, ctx: Ctx) -> Any:
        board_id = ctx.text("idBoard", None)
        if not board_id or not HEX_ID.match(board_id):
            raise invalid("idBoard")
        board = self.state.board(board_id, ctx.member)
        return self.state.add_list(board, ctx.text("name", ""), ctx.member,
                                   ctx.get("pos", "bottom")).to_json()

    def h_list_get(self, ctx: Ctx, lid: str) -> Any:
        return _pick(self.state.list(lid, ctx.member).to_json(), ctx.fields())

    def h_list_update(self, ctx: Ctx, lid: str) -> Any:
        lst = self.state.list(lid, ctx.member)
        return self.state.update_list(ctx.member, lst, name=ctx.text("name"),
                                      closed=ctx.flag("closed"),
                                      pos=ctx.get("pos", UNSET)).to_json()

    def _list_cards(self, lid: str, card_filter: str, fields: tuple[str, ...] | None,
                    custom_field_items: bool = False) -> Any:
        lst = self.state.lists[lid]
        cards = [self.state.cards[i] for i in lst.card_ids]
        if card_filter in ("open", "closed"):
            cards = [c for c in cards if c.closed == (card_filter == "closed")]
        cards.sort(key=lambda c: (c.pos, c.id))
        return [self.state.card_json(c, fields, custom_field_items=custom_field_items)
                for c in cards]

    def h_list_cards(self, ctx: Ctx, lid: str) -> Any:
        lst = self.state.list(lid, ctx.member)
        return self._list_cards(lst.id, ctx.text("filter", "open"), ctx.fields(),
                                self._with_items(ctx))

    # ---------------------------------------------------------------- cards

    def _card_changes(self, ctx: Ctx) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for name in ("name", "desc"):
            value = ctx.text(name)
            if value is not UNSET:
                changes[name] = value or ""
        for name in ("closed", "dueComplete"):
            value = ctx.flag(name)
            if value is not UNSET:
                changes[name] = value
        for name in ("due", "start"):
            if name in ctx.params:
                changes[name] = parse_date(ctx.get(name), name)
        for name in ("idList", "idBoard"):
            value = ctx.text(name)
            if value is not UNSET:
                if not value or not HEX_ID.match(value):
                    raise invalid(name)
                changes[name] = value
        if "pos" in ctx.params:
            changes["pos"] = ctx.get("pos")
        for name in ("idLabels", "idMembers"):
            value = ctx.ids(name)
            if value is not UNSET:
                changes[name] = value
        return changes

    def h_card_create(self, ctx: Ctx) -> Any:
        list_id = ctx.text("idList", None)
        if not list_id or not HEX_ID.match(list_id) or list_id not in self.state.lists:
            raise invalid("idList")
        lst = self.state.list(list_id, ctx.member)
        source_id = ctx.text("idCardSource", None)
        if source_id:
            source = self.state.card(source_id, ctx.member)
            keep = [k.strip() for k in (ctx.text("keepFromSource", "all") or "").split(",")]
            assert ctx.member is not None  # set for every locked handler
            return self.state.card_json(self.state.copy_card(
                ctx.member, source, lst, ctx.text("name", None), pos=ctx.get("pos", "bottom"),
                keep=keep))
        due = parse_date(ctx.get("due"), "due")
        card = self.state.create_card(
            ctx.member, lst, ctx.text("name", "") or "", ctx.text("desc", "") or "",
            pos=ctx.get("pos", "bottom"), due=due,
            due_complete=bool(ctx.flag("dueComplete", False)),
            id_members=_listed(ctx.ids("idMembers")), id_labels=_listed(ctx.ids("idLabels")),
            start=parse_date(ctx.get("start"), "start"))
        return self.state.card_json(card)

    def h_card_get(self, ctx: Ctx, cid: str) -> Any:
        card = self.state.card(cid, ctx.member)
        data = self.state.card_json(card, ctx.fields(), custom_field_items=self._with_items(ctx))
        if ctx.text("checklists", "none") not in ("none", "", None):
            data["checklists"] = self.state.card_checklists(card)
        if ctx.flag("list", False):
            data["list"] = self.state.lists[card.list_id].ref()
        if ctx.flag("members", False):
            data["members"] = [self.state.members[m].ref() for m in card.id_members]
        if ctx.flag("board", False):
            board = self.state.boards[card.board_id]
            data["board"] = {"id": board.id, "name": board.name, "url": board.url}
        return data

    def h_card_update(self, ctx: Ctx, cid: str) -> Any:
        card = self.state.card(cid, ctx.member)
        self.state.update_card(ctx.member, card, self._card_changes(ctx))
        return self.state.card_json(card)

    def h_card_delete(self, ctx: Ctx, cid: str) -> Any:
        self.state.delete_card(ctx.member, self.state.card(cid, ctx.member))
        return {"limits": {}}

    def h_card_list(self, ctx: Ctx, cid: str) -> Any:
        return self.state.lists[self.state.card(cid, ctx.member).list_id].to_json()

    def h_card_board(self, ctx: Ctx, cid: str) -> Any:
        return self.state.boards[self.state.card(cid, ctx.member).board_id].default_json()

    def h_card_members(self, ctx: Ctx, cid: str) -> Any:
        card = self.state.card(cid, ctx.member)
        return [self.state.members[m].ref() for m in card.id_members]

    def h_card_actions(self, ctx: Ctx, cid: str) -> Any:
        return self._actions(ctx, self.state.card(cid, ctx.member).id, "commentCard,updateCard")

    def h_card_comment(self, ctx: Ctx, cid: str) -> Any:
        card = self.state.card(cid, ctx.member)
        return comment_answer(self.state.comment(ctx.member, card, ctx.text("text", "") or ""))

    def h_action_get(self, ctx: Ctx, aid: str) -> Any:
        if not HEX_ID.match(aid):
            raise TrelloError(400, "invalid id")
        stored = self.state.actions.get(aid)
        if stored is None:
            raise TrelloError(404, NOT_FOUND)
        action = json.loads(stored[1])
        self.state.board(action["data"]["board"]["id"], ctx.member)
        return _displayed(action, ctx)

    # ---------------------------------------------------------------- search

    def h_search(self, ctx: Ctx) -> Any:
        query = (ctx.text("query", "") or "").strip()
        if not query:
            raise invalid("query")
        types = ctx.text("modelTypes", "all") or "all"
        types_set = {"actions", "boards", "cards", "members", "organizations"} if \
            types == "all" else set(types.split(","))
        board_ids = ctx.text("idBoards", "mine") or "mine"
        if board_ids == "mine":
            boards = [self.state.boards[b] for b in ctx.member.board_ids]
        else:
            boards = [self.state.board(b, ctx.member) for b in board_ids.split(",")]
        needle = query.lower()
        result: dict[str, Any] = {"options": {"terms": [{"text": w} for w in query.split()],
                                              "modelTypes": sorted(types_set),
                                              "partial": bool(ctx.flag("partial", False))},
                                  "cards": [], "boards": [], "members": [],
                                  "organizations": [], "actions": []}
        if "cards" in types_set:
            limit = ctx.number("cards_limit", 10, 1, 1000) or 10
            fields = ctx.fields(name="card_fields")
            indexed_before = time.monotonic() - self.emu.search_lag_s
            found: list[Card] = []
            for board in boards:
                for cid in board.card_ids:
                    card = self.state.cards[cid]
                    if card.closed or card.changed_at > indexed_before:
                        continue
                    if needle in card.name.lower() or needle in card.desc.lower():
                        found.append(card)
            found.sort(key=lambda c: c.date_last_activity, reverse=True)
            result["cards"] = [self.state.card_json(c, fields) for c in found[:limit]]
        if "boards" in types_set:
            result["boards"] = [b.to_json() for b in boards if needle in b.name.lower()]
        return result

    # ---------------------------------------------------------------- webhooks and tokens

    def _own_webhook(self, ctx: Ctx, wid: str, tok: str | None = None) -> Webhook:
        if not HEX_ID.match(wid):
            raise TrelloError(400, "invalid id")
        webhook = self.state.webhooks.get(wid)
        if webhook is None:
            raise TrelloError(404, NOT_FOUND)
        if webhook.token != ctx.token.value or (tok is not None and tok != ctx.token.value):
            raise TrelloError(401, UNAUTHORIZED)
        return webhook

    def _check_model(self, member: Member, id_model: Any) -> str:
        if not isinstance(id_model, str) or not HEX_ID.match(id_model):
            raise invalid("idModel")
        board = self.state.boards.get(id_model)
        card = self.state.cards.get(id_model)
        board_id = board.id if board else card.board_id if card else None
        if board_id is None or member.id not in self.state.boards[board_id].member_ids:
            raise invalid("idModel")
        return id_model

    def _duplicate(self, token: str, url: str, id_model: str, skip: str | None = None) -> None:
        for w in self.state.webhooks.values():
            if (w.token, w.callback_url, w.id_model) == (token, url, id_model) and w.id != skip:
                raise TrelloError(400, "A webhook with that callback, model, and token "
                                       "already exists")

    def h_webhook_create(self, ctx: Ctx, tok: str | None = None) -> Any:
        if tok is not None and tok != ctx.token.value:
            raise TrelloError(401, UNAUTHORIZED)
        url = ctx.text("callbackURL", None)
        if not url:
            raise invalid("callbackURL")
        active = ctx.flag("active", True)
        description = ctx.text("description", "") or ""
        with self.lock:
            member = self.state.members[ctx.token.member_id]
            id_model = self._check_model(member, ctx.get("idModel"))
            self._duplicate(ctx.token.value, url, id_model)
        check_callback(url)
        with self.lock:
            if ctx.token.value not in self.state.tokens:
                raise TrelloError(401, "invalid token")
            self._check_model(member, id_model)
            self._duplicate(ctx.token.value, url, id_model)
            webhook = Webhook(new_id(), ctx.token.value, url, id_model, description, active)
            self.state.webhooks[webhook.id] = webhook
            return webhook.to_json()

    def h_webhook_get(self, ctx: Ctx, wid: str, tok: str | None = None) -> Any:
        return self._own_webhook(ctx, wid, tok).to_json()

    def h_webhook_update(self, ctx: Ctx, wid: str) -> Any:
        with self.lock:
            webhook = self._own_webhook(ctx, wid)
            member = self.state.members[ctx.token.member_id]
            url = ctx.text("callbackURL", webhook.callback_url) or webhook.callback_url
            id_model = ctx.get("idModel", webhook.id_model)
            if id_model != webhook.id_model:
                self._check_model(member, id_model)
            active = ctx.flag("active", webhook.active)
            description = ctx.text("description", webhook.description) or ""
            self._duplicate(ctx.token.value, url, id_model, skip=webhook.id)
            new_url = url != webhook.callback_url
        if new_url:
            check_callback(url)
        with self.lock:
            webhook = self._own_webhook(ctx, wid)
            webhook.callback_url, webhook.id_model = url, id_model
            webhook.active, webhook.description = active, description
            return webhook.to_json()

    def h_webhook_delete(self, ctx: Ctx, wid: str, tok: str | None = None) -> Any:
        webhook = self._own_webhook(ctx, wid, tok)
        del self.state.webhooks[webhook.id]
        return {"_value": None}

    def _own_token(self, ctx: Ctx, tok: str) -> Token:
        token = self.state.tokens.get(tok)
        if token is None:
            raise TrelloError(404, NOT_FOUND)
        if token.member_id != ctx.token.member_id:
            raise TrelloError(401, UNAUTHORIZED)
        return token

    def h_token_get(self, ctx: Ctx, tok: str) -> Any:
        return _pick(self._own_token(ctx, tok).to_json(), ctx.fields())

    def h_token_member(self, ctx: Ctx, tok: str) -> Any:
        return _pick(self.state.members[self._own_token(ctx, tok).member_id].to_json(),
                     ctx.fields())

    def h_token_webhooks(self, ctx: Ctx, tok: str) -> Any:
        token = self._own_token(ctx, tok)
        return [w.to_json() for w in self.state.webhooks.values() if w.token == token.value]

    def h_token_delete(self, ctx: Ctx, tok: str) -> Any:
        with self.lock:
            self._own_token(ctx, tok)
        self.emu.revoke_token(tok)
        return {"_value": None}

