"""An emulator in its own process, plus ``/_bench`` routes for seeding large states quickly.

``python -m bench.emuhost trello --port N`` or ``python -m bench.emuhost sheets --port N``.
It is ``python -m emulators.trello|sheets`` with one addition: the Trello emulator's
``POST /_bench/cards`` creates many cards at once through the emulator's own model (no action
records and no webhook deliveries, like cards that existed before the webhook), so a 50,000-card
board is seeded in seconds. Everything else goes through the emulators' ``/_emulator`` control API.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.wrappers import Request, Response


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")


def trello_bench_routes(emu: Any) -> Callable[[Request], Response | None]:
    def handle(request: Request) -> Response | None:
        if request.path == "/_bench/cards" and request.method == "POST":
            body = request.get_json(force=True)
            state = emu.state
            ids: list[str] = []
            with emu._lock:
                board = state.board(body["board_id"])
                member = state.member(board.member_ids[0])
                state._emit = lambda *args, **kwargs: {}  # seeding: no actions, no deliveries
                try:
                    for list_id, name, desc in body["cards"]:
                        card = state.create_card(member, state.list(list_id), name, desc)
                        ids.append(card.id)
                finally:
                    del state._emit
            return _json({"ids": ids})
        if request.path == "/_bench/ping":
            return _json({"ok": True})
        return None

    return handle


def sheets_bench_routes(emu: Any) -> Callable[[Request], Response | None]:
    def handle(request: Request) -> Response | None:
        if request.path == "/_bench/ping":
            return _json({"ok": True})
        return None

    return handle


def wrap(app: Callable, routes: Callable[[Request], Response | None]) -> Callable:
    def middleware(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith("/_bench/"):
            response = routes(Request(environ)) or _json({"error": "unknown bench route"}, 404)
            return response(environ, start_response)
        return app(environ, start_response)

    return middleware


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["trello", "sheets"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", default="emulator-key")
    parser.add_argument("--api-secret", default="emulator-secret")
    args = parser.parse_args(argv)

    import gc

    from emulators.common import serve_forever

    if args.kind == "trello":
        from emulators.trello import TrelloEmulator

        emu = TrelloEmulator(args.api_key, args.api_secret)
        app = wrap(emu.wsgi_app, trello_bench_routes(emu))
    else:
        from emulators.sheets import SheetsEmulator

        emu = SheetsEmulator()
        app = wrap(emu.wsgi_app, sheets_bench_routes(emu))
    # Large seeded states are long-lived: keep the cyclic GC from rescanning them on every pass.
    gc.set_threshold(50_000, 20, 100)
    print(f"{args.kind} emulator (bench host) on http://127.0.0.1:{args.port}", flush=True)
    try:
        serve_forever(app, "127.0.0.1", args.port)
    finally:
        if args.kind == "trello":
            emu.deliveries.stop()
        else:
            emu.stop()


if __name__ == "__main__":
    main()
