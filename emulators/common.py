"""Pieces shared by the emulators: a threaded loopback HTTP server and fault injection."""

from __future__ import annotations

import json
import random
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from werkzeug.wrappers import Request, Response


@dataclass
class RunningServer:
    """A WSGI app served on a loopback port by waitress, in a background thread.

    waitress speaks HTTP/1.1 with keep-alive and sets TCP_NODELAY on every connection (its
    default ``socket_options``). Werkzeug's development server closes every connection, and a
    stand-in without TCP_NODELAY on keep-alive connections pays ~40 ms a call to Nagle's
    algorithm and delayed ACKs; either would make latency figures wrong.
    """

    server: Any
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.effective_port)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Close every socket from inside the server's own loop (no race with its poll), then end."""
        from waitress import wasyncore

        self.server.task_dispatcher.shutdown(timeout=0.2)
        server_map = self.server._map
        try:
            self.server.trigger.pull_trigger(lambda: wasyncore.close_all(server_map))
        except OSError:
            # The trigger is closed already: waitress closes the listener, and its trigger with
            # it, after an error it did not expect in its loop. The loop cannot be woken any
            # more; close what is left from here, and its next poll finds an empty map and ends.
            wasyncore.close_all(server_map)
        self.thread.join(timeout=2)


class Served:
    """Start/stop for an emulator object with a ``wsgi_app``: ``start()`` serves it on loopback.

    Subclasses add their own shutdown (delivery threads) in ``on_stop``.
    """

    wsgi_app: Callable
    server: "RunningServer | None" = None
    base_url: str = ""

    def start(self, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
        """Serve on a loopback port in a background thread; sets ``base_url``."""
        self.server = serve_in_thread(self.wsgi_app, host, port)
        self.base_url = self.server.base_url
        return self.server

    def stop(self) -> None:
        """Stop the server (if started), then whatever the emulator runs besides."""
        if self.server is not None:
            self.server.stop()
            self.server = None
        self.on_stop()

    def on_stop(self) -> None:
        pass

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _create_server(app: Callable, host: str, port: int, threads: int) -> Any:
    from waitress.server import create_server

    server = create_server(app, host=host, port=port, threads=threads, ident="emulator",
                           channel_timeout=120, connection_limit=1000, backlog=1024,
                           clear_untrusted_proxy_headers=True)
    assert (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1) in server.adj.socket_options or \
        (socket.SOL_TCP, socket.TCP_NODELAY, 1) in server.adj.socket_options
    return server


def serve_in_thread(app: Callable, host: str = "127.0.0.1", port: int = 0, threads: int = 32) -> RunningServer:
    """Start ``app`` on ``host:port`` (0 picks a free port) and return once it accepts."""
    server = _create_server(app, host, port, threads)
    thread = threading.Thread(target=server.run, name=f"wsgi-{server.effective_port}", daemon=True)
    thread.start()
    return RunningServer(server=server, thread=thread)


def serve_forever(app: Callable, host: str, port: int) -> None:
    """Serve ``app`` in the foreground until interrupted (used by ``python -m emulators.x``)."""
    server = _create_server(app, host, port, 32)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


# --------------------------------------------------------------------------- fault injection


@dataclass
class FaultRule:
    """One injected fault.

    A request matches when its method is in ``methods`` (empty: any) and ``path`` (a regular
    expression, searched) matches its path. A matching request is delayed by ``latency_ms``;
    then, if ``status`` is set, answered with that status, ``body`` and ``headers`` instead of
    reaching the emulator; if ``hang_s`` is set, the answer is held that long first (a client
    with a shorter timeout sees a timeout). ``times`` limits how many requests the rule hits
    (None: unlimited); ``probability`` makes it hit only some (seeded, so runs repeat).
    """

    path: str = ".*"
    methods: tuple[str, ...] = ()
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    latency_ms: float = 0.0
    hang_s: float = 0.0
    times: int | None = None
    probability: float = 1.0
    hits: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "methods": list(self.methods), "status": self.status,
            "body": self.body, "headers": self.headers, "latency_ms": self.latency_ms,
            "hang_s": self.hang_s, "times": self.times, "probability": self.probability,
            "hits": self.hits,
        }


class FaultInjector:
    """Holds fault rules and applies them to incoming requests (thread-safe)."""

    def __init__(self, seed: int = 1234) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def add(self, **kwargs: Any) -> FaultRule:
        """Add a rule; keyword arguments are ``FaultRule`` fields. Returns the rule."""
        if "methods" in kwargs:
            kwargs["methods"] = tuple(m.upper() for m in kwargs["methods"])
        rule = FaultRule(**kwargs)
        re.compile(rule.path)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def match(self, method: str, path: str) -> FaultRule | None:
        """Return the first rule that fires for this request, counting the hit."""
        with self._lock:
            for rule in self._rules:
                if rule.methods and method.upper() not in rule.methods:
                    continue
                if not re.search(rule.path, path):
                    continue
                if rule.times is not None and rule.hits >= rule.times:
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                rule.hits += 1
                return rule
        return None

    def wrap(self, app: Callable, control_prefix: str = "/_emulator") -> Callable:
        """WSGI middleware applying the rules to every request outside ``control_prefix``."""

        def middleware(environ: dict, start_response: Callable) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path.startswith(control_prefix):
                return app(environ, start_response)
            rule = self.match(environ.get("REQUEST_METHOD", "GET"), path)
            if rule is None:
                return app(environ, start_response)
            if rule.latency_ms:
                time.sleep(rule.latency_ms / 1000.0)
            if rule.hang_s:
                time.sleep(rule.hang_s)
            if rule.status is None:
                return app(environ, start_response)
            body = rule.body
            if isinstance(body, (dict, list)):
                payload = json.dumps(body)
                mimetype = "application/json"
            else:
                payload = "" if body is None else str(body)
                mimetype = "text/plain"
            response = Response(payload, status=rule.status, mimetype=mimetype, headers=rule.headers)
            return response(environ, start_response)

        return middleware

    def handle_control(self, request: Request) -> Response:
        """``GET`` lists rules, ``POST`` (JSON ``FaultRule`` fields) adds one, ``DELETE`` clears."""
        if request.method == "GET":
            return _json([r.as_dict() for r in self.rules()])
        if request.method == "DELETE":
            self.clear()
            return _json({"cleared": True})
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return _json({"error": "body must be a JSON object of fault fields"}, 400)
        allowed = set(FaultRule.__dataclass_fields__) - {"hits"}
        unknown = set(data) - allowed
        if unknown:
            return _json({"error": f"unknown fault fields: {sorted(unknown)}"}, 400)
        try:
            rule = self.add(**data)
        except (TypeError, re.error) as exc:
            return _json({"error": str(exc)}, 400)
        return _json(rule.as_dict(), 201)


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")
