"""What the Trello emulator's HTTP tests share: the key and secret it runs with, a webhook
receiver, a REST session bound to a token, and waiting."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any, Callable

import requests
from werkzeug.wrappers import Request, Response

from emulators.common import RunningServer, serve_in_thread
from emulators.trello import TrelloEmulator

KEY, SECRET = "emulator-key", "emulator-secret"


def wait_until(check: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


class Receiver:
    """A tiny webhook callback: records requests; HEAD answers 200 (405 under /refuse)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: list[dict[str, Any]] = []
        self.post_status: dict[str, int] = {}
        self.server: RunningServer = serve_in_thread(self.app)

    def app(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        entry = {"method": request.method, "path": request.path,
                 "headers": dict(request.headers), "body": request.get_data()}
        with self.lock:
            self.seen.append(entry)
        if request.method == "HEAD":
            status = 405 if request.path.startswith("/refuse") else 200
        else:
            status = self.post_status.get(request.path, 200)
        return Response("", status=status)(environ, start_response)

    def url(self, path: str) -> str:
        return self.server.base_url + path

    def requests_to(self, path: str, method: str = "POST") -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.seen if e["path"] == path and e["method"] == method]

    def actions(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(e["body"])["action"] for e in self.requests_to(path)]


class Api:
    """A requests session bound to one token."""

    def __init__(self, emu: TrelloEmulator, token: str) -> None:
        self.base = emu.api_base_url
        self.token = token
        self.session = requests.Session()

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        params = {"key": KEY, "token": self.token, **kwargs.pop("params", {})}
        return self.session.request(method, self.base + path, params=params, timeout=5, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.call(method, path, **kwargs)
        assert resp.status_code == 200, resp.text
        return resp.json()


def webhook_for(world: dict[str, Any], receiver: Receiver, model_id: str | None = None
                ) -> tuple[dict[str, Any], str]:
    path = f"/hook/{uuid.uuid4().hex}"
    hook = world["api"].ok("POST", "/webhooks", data={
        "callbackURL": receiver.url(path), "idModel": model_id or world["board"]["id"],
        "description": "test"})
    return hook, path
