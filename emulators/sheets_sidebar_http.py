"""The sidebar bridge's HTTP side: the sidebar page and the ``google.script.run`` calls (see ``sheets_sidebar``).

- ``GET /_emulator/sidebar/<spreadsheet id>/<sheet>``: ``apps_script/Sidebar.html`` unchanged but for
  the ``google.script.run`` stand-in (``google_script_run.js``) in front of its script. The selection is
  the sheet UI's (the sheet page frames the sidebar and says which row is selected).
- ``GET /_emulator/sidebar/config``: ``{"server_url"}``, the address the Connect prompt offers.
- ``POST /_emulator/sidebar/connect`` ``{"spreadsheet_id", "sheet", "server_url", "code"}``: *Leads
  Sync › Connect to server…* (Code.js ``connectWithCode_``) → ``{"ok", "message"}``.
- ``POST /_emulator/sidebar/run/<function>`` ``{"spreadsheet_id", "sheet", "row", "args"}`` → the
  function's answer as JSON (what ``withSuccessHandler`` receives), or 4xx ``{"error"}``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from .sheets_sidebar import SIDEBAR_HTML, STAND_IN, BridgeError, SidebarBridge

PREFIX = "/_emulator/sidebar/"


def page(bridge: SidebarBridge, spreadsheet_id: str, sheet: str) -> str:
    """Sidebar.html with the stand-in in front of its own script."""
    where = html.escape(json.dumps({"spreadsheet_id": spreadsheet_id, "sheet": sheet}))
    functions = html.escape(json.dumps(sorted(bridge.functions)))
    stand_in = (f"<script data-sheet=\"{where}\" data-functions=\"{functions}\">"
                + STAND_IN.read_text(encoding="utf-8").replace("</", "<\\/") + "</script>\n")
    return SIDEBAR_HTML.read_text(encoding="utf-8").replace("<script>", stand_in + "<script>", 1)


def wrap(bridge: SidebarBridge, app: Callable) -> Callable:
    """``app`` (the Sheets emulator) with the sidebar's routes in front of it."""

    def middleware(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if not environ.get("PATH_INFO", "").startswith(PREFIX):
            return app(environ, start_response)
        return _handle(bridge, Request(environ))(environ, start_response)

    return middleware


def _handle(bridge: SidebarBridge, request: Request) -> Response:
    rest = request.path[len(PREFIX):]
    if rest == "connect" or rest.startswith("run/"):
        if request.method != "POST":
            return _json({"error": f"Cannot {request.method} {request.path}"}, 405)
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return _json({"error": "the body must be a JSON object"}, 400)
        return _post(bridge, rest, data)
    if rest == "config" and request.method == "GET":
        return _json({"server_url": bridge.default_server_url})
    spreadsheet_id, _, sheet = rest.partition("/")
    if request.method == "GET" and spreadsheet_id and sheet:
        return Response(page(bridge, spreadsheet_id, sheet), content_type="text/html; charset=utf-8")
    return _json({"error": f"Cannot {request.method} {request.path}"}, 404)


def _post(bridge: SidebarBridge, rest: str, data: dict[str, Any]) -> Response:
    spreadsheet_id, sheet = str(data.get("spreadsheet_id", "")), str(data.get("sheet", ""))
    if rest == "connect":
        return _json(bridge.connect_with_code(spreadsheet_id, sheet, str(data.get("server_url", "")),
                                              str(data.get("code", ""))))
    try:
        answer = bridge.run(rest[len("run/"):], spreadsheet_id, sheet, data.get("row"), data.get("args", []))
    except BridgeError as exc:
        return _json({"error": str(exc)}, exc.status)
    return _json(answer)


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")


__all__ = ["PREFIX", "page", "wrap"]
