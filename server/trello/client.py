"""A thin, typed Trello REST client over ``requests.Session``.

Auth goes in the ``Authorization: OAuth oauth_consumer_key=…, oauth_token=…`` header so that
tokens never appear in URLs or logs. Every call has a timeout. An optional ``throttle`` callable
runs before each request (the shared token buckets); what it returns, if anything, is called
once the request has ended, however it ended (the limiter redates slow calls).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests

from .. import metrics
from .cardfields import CardFieldsMixin
from .errors import (
    TrelloAuthError,
    TrelloBadRequest,
    TrelloError,
    TrelloNotFound,
    TrelloRateLimited,
    TrelloServerError,
    TrelloUnavailable,
)

# Waits before a request; may return a callable to run once the request has ended.
Throttle = Callable[[], Callable[[], None] | None]

MAX_429_RETRIES = 2
MAX_INLINE_WAIT_S = 15.0
CARD_FIELDS = ("id,name,desc,idList,idBoard,closed,due,start,dueComplete,dateLastActivity,url,shortUrl,labels,"
               "idMembers,pos")


class TrelloClient(CardFieldsMixin):
    """Boards, lists, cards and webhooks here; custom fields, labels, members, dates, checklists
    and comments of cards in ``CardFieldsMixin`` (``cardfields.py``)."""

    def __init__(self, api_key: str, token: str, *, base_url: str = "https://api.trello.com/1",
                 timeout: float = 20.0, session: requests.Session | None = None,
                 throttle: Throttle | None = None, max_inline_wait_s: float | None = None) -> None:
        """``max_inline_wait_s``: the longest 429 wait this client sleeps through itself (default
        ``MAX_INLINE_WAIT_S``); 0 makes every 429 the caller's (a worker defers the work)."""
        self.api_key = api_key
        self.token = token
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        # Proxies from the environment once, for our one base URL: requests would otherwise walk
        # the whole environment on every call (a fifth of a millisecond each, at 100 calls a second).
        if self.session.trust_env:
            self.session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            if bundle and self.session.verify is True:
                self.session.verify = bundle
            self.session.trust_env = False
        metrics.count_responses(self.session, "trello")
        self.throttle = throttle
        self.max_inline_wait_s = MAX_INLINE_WAIT_S if max_inline_wait_s is None else max_inline_wait_s
        self.calls = 0
        self.rate_limited = 0

    # ------------------------------------------------------------------ transport

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json: dict[str, Any] | None = None) -> Any:
        """Send one request; return the decoded JSON, or raise a ``TrelloError``.

        A 429 asking for a short wait is waited out and retried here (at most twice), so one
        crowded window does not fail a whole batch or a first sync; longer waits go back to the
        caller (the worker reschedules the event).
        """
        for attempt in range(MAX_429_RETRIES + 1):
            try:
                return self._send(method, path, params, json)
            except TrelloRateLimited as exc:
                if attempt == MAX_429_RETRIES or exc.retry_after > self.max_inline_wait_s:
                    raise
                self.rate_limited += 1
                time.sleep(exc.retry_after)
        raise AssertionError("unreachable")

    def _send(self, method: str, path: str, params: dict[str, Any] | None, json: dict[str, Any] | None) -> Any:
        finish = self.throttle() if self.throttle is not None else None
        headers = {"Authorization": f'OAuth oauth_consumer_key="{self.api_key}", oauth_token="{self.token}"',
                   "Accept": "application/json"}
        self.calls += 1
        try:
            response = self.session.request(method, self.base_url + path, params=params, json=json,
                                            headers=headers, timeout=self.timeout)
        except requests.Timeout as exc:
            raise TrelloUnavailable(f"Trello did not answer within {self.timeout:g} s") from exc
        except requests.ConnectionError as exc:
            raise TrelloUnavailable("cannot reach Trello") from exc
        finally:
            if finish is not None:
                finish()
        if response.status_code >= 400:
            raise _error_for(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise TrelloServerError("Trello answered with a body that is not JSON", response.status_code) from exc

    # ------------------------------------------------------------------ members and boards

    def me(self) -> dict[str, Any]:
        return self.request("GET", "/members/me", params={"fields": "id,username,fullName"})

    def boards(self) -> list[dict[str, Any]]:
        return self.request("GET", "/members/me/boards", params={"filter": "open", "fields": "id,name,url"})

    def board(self, board_id: str) -> dict[str, Any]:
        return self.request("GET", f"/boards/{board_id}", params={"fields": "id,name,url,closed"})

    def lists(self, board_id: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/boards/{board_id}/lists", params={"filter": "open"})

    def board_cards(self, board_id: str, *, fields: str = CARD_FIELDS, filter: str = "open",
                    since: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"fields": fields}
        if since:
            params["since"] = since
        if limit:
            params["limit"] = limit
        return self.request("GET", f"/boards/{board_id}/cards/{filter}", params=params)

    def iter_board_cards(self, board_id: str, *, fields: str = CARD_FIELDS, filter: str = "open",
                         page_size: int = 1000) -> Iterator[list[dict[str, Any]]]:
        """Yield the board's cards in pages of ``page_size`` (ascending id)."""
        since: str | None = None
        while True:
            page = self.board_cards(board_id, fields=fields, filter=filter, since=since, limit=page_size)
            if page:
                yield page
            if len(page) < page_size:
                return
            since = page[-1]["id"]

    # ------------------------------------------------------------------ cards

    def get_card(self, card_id: str, *, list: bool = False, members: bool = False, board: bool = False,
                 fields: str = CARD_FIELDS) -> dict[str, Any]:
        params: dict[str, Any] = {"fields": fields}
        if list:
            params["list"] = "true"
        if members:
            params["members"] = "true"
        if board:
            params["board"] = "true"
        return self.request("GET", f"/cards/{card_id}", params=params)

    def create_card(self, *, id_list: str, name: str, desc: str = "", due: str | None = None,
                    start: str | None = None, due_complete: bool = False, id_labels: list[str] | None = None,
                    pos: str = "bottom", id_members: list[str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"idList": id_list, "name": name, "desc": desc, "pos": pos}
        if due:
            body["due"] = due
        if start:
            body["start"] = start
        if due_complete:
            body["dueComplete"] = True
        if id_labels:
            body["idLabels"] = list(id_labels)
        if id_members:
            body["idMembers"] = list(id_members)
        return self.request("POST", "/cards", json=body)

    def update_card(self, card_id: str, **fields: Any) -> dict[str, Any]:
        """PUT the given Trello fields (``name``, ``desc``, ``idList``, ``closed``, ``due``…) in one call."""
        return self.request("PUT", f"/cards/{card_id}", json=fields)

    def archive_card(self, card_id: str) -> dict[str, Any]:
        return self.update_card(card_id, closed=True)

    def delete_card(self, card_id: str) -> None:
        self.request("DELETE", f"/cards/{card_id}")

    # ------------------------------------------------------------------ webhooks

    def create_webhook(self, *, callback_url: str, id_model: str, description: str = "") -> dict[str, Any]:
        return self.request("POST", "/webhooks", json={"callbackURL": callback_url, "idModel": id_model,
                                                         "description": description})

    def get_webhook(self, webhook_id: str) -> dict[str, Any]:
        return self.request("GET", f"/webhooks/{webhook_id}")

    def delete_webhook(self, webhook_id: str) -> None:
        self.request("DELETE", f"/webhooks/{webhook_id}")

    def token_webhooks(self) -> list[dict[str, Any]]:
        return self.request("GET", f"/tokens/{self.token}/webhooks")


def _retry_after(response: requests.Response) -> float:
    """Seconds to wait after a 429: ``Retry-After`` if given, else the limit's interval."""
    header = response.headers.get("Retry-After")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
    for name in ("x-rate-limit-api-token-interval-ms", "x-rate-limit-api-key-interval-ms"):
        remaining = response.headers.get(name.replace("interval-ms", "remaining"))
        interval = response.headers.get(name)
        if interval and remaining == "0":
            try:
                return int(interval) / 1000.0
            except ValueError:
                pass
    return 1.0


def _error_for(response: requests.Response) -> TrelloError:
    text = response.text.strip()
    message = text
    try:
        body = response.json()
        if isinstance(body, dict):
            message = str(body.get("message") or body.get("error") or text)
    except ValueError:
        pass
    message = message[:300] or response.reason
    status = response.status_code
    if status == 429:
        return TrelloRateLimited(f"Trello rate limit: {message}", _retry_after(response))
    if status in (401, 403):
        return TrelloAuthError(f"Trello refused the token: {message}", status)
    if status == 404:
        return TrelloNotFound(f"not found on Trello: {message}", status)
    if status >= 500:
        return TrelloServerError(f"Trello error {status}: {message}", status)
    return TrelloBadRequest(f"Trello refused the request ({status}): {message}", status)
