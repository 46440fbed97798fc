"""The add-on's sidebar beside the emulated sheet: ``apps_script/Sidebar.html`` with ``google.script.run``.

In Google Sheets the sidebar's ``google.script.run`` calls run the server-side functions of
``apps_script/Code.js`` on Google's servers, which call our add-on API signed with the document's
secret. Here the Sheets emulator plays Google: :class:`SidebarBridge` keeps what Code.js keeps in
its document properties after connecting (server address, workspace, secret), and runs the same
functions in Python (``getSelectedLead``, ``getCardForLead``, ``createCardNow``, ``syncNow``,
``clearErrors``, and one-click connect's ``beginConnect`` and ``finishConnect``), with the same
signed requests (``signRequest_``: HMAC-SHA256 of ``timestamp \\n nonce \\n METHOD \\n target \\n
body``, headers ``X-Workspace``, ``X-Timestamp``, ``X-Nonce``, ``X-Signature``).

Served by wrapping the emulator's WSGI app (:meth:`SidebarBridge.wrap`, routes in ``sheets_sidebar_http``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import requests

SIDEBAR_HTML = Path(__file__).resolve().parent.parent / "apps_script" / "Sidebar.html"
MAX_ERRORS = 20
CONNECT_WAIT_S = 15 * 60  # how long a one-click connect waits for the popup (Code.js CONNECT_WAIT_MS)

STAND_IN = Path(__file__).resolve().parent / "google_script_run.js"


def sign_request(secret: str, timestamp: str, nonce: str, method: str, target: str, body: str) -> str:
    """Code.js ``signRequest_``: lowercase hex HMAC-SHA256 of the five parts joined by newlines."""
    message = f"{timestamp}\n{nonce}\n{method.upper()}\n{target}\n{body}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def _ascii_json(value: Any) -> str:
    """Code.js ``asciiJson_``: JSON with every non-ASCII character escaped."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True)


@dataclass
class Connection:
    """What Code.js keeps in the document properties once connected to a server."""

    server_url: str
    workspace_id: str
    workspace_name: str
    secret: str
    lead_id_column: str = "Lead ID"
    header_row: int = 1
    errors: list[dict[str, Any]] = field(default_factory=list)


class BridgeError(Exception):
    """A call the sidebar made wrongly (unknown function, bad arguments): a 4xx answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class SidebarBridge:
    """Runs the sidebar's server-side functions against a :class:`SheetsEmulator` and our API."""

    def __init__(self, sheets: Any, timeout: float = 10.0) -> None:
        self.sheets = sheets
        self.timeout = timeout
        self._lock = threading.Lock()
        self._connections: dict[tuple[str, str], Connection] = {}
        self._session = requests.Session()
        self.default_server_url = ""  # the add-on's built-in server address (what Connect offers)
        self._pending: dict[str, dict[str, Any]] = {}  # one-click connects under way, by spreadsheet
        self.functions: dict[str, Callable[..., Any]] = {
            "getSelectedLead": self.get_selected_lead,
            "getCardForLead": self.get_card_for_lead,
            "createCardNow": self.create_card_now,
            "syncNow": self.sync_now,
            "clearErrors": self.clear_errors,
            "beginConnect": self.begin_connect,
            "finishConnect": self.finish_connect,
        }

    # ---------------------------------------------------------------- document properties

    def connect(self, spreadsheet_id: str, sheet: str, *, server_url: str, workspace_id: str,
                workspace_name: str, secret: str, lead_id_column: str = "Lead ID") -> None:
        """What *Leads Sync › Connect to server…* leaves behind for this spreadsheet's sheet."""
        with self._lock:
            self._connections[(spreadsheet_id, sheet)] = Connection(
                server_url.rstrip("/"), workspace_id, workspace_name, secret, lead_id_column)

    def connect_with_code(self, spreadsheet_id: str, sheet: str, server_url: str, code: str) -> dict[str, Any]:
        """Code.js ``connectWithCode_`` (*Connect to server…*): trade the dashboard's one-time code for the
        workspace's settings and apply them. ``{ok, message}``."""
        server_url = server_url.strip().rstrip("/")
        if not server_url.startswith(("http://", "https://")):
            return {"ok": False, "message": "That is not a server address: it must start with https:// "
                                            "(or http:// for a local test server)."}
        if not code.strip():
            return {"ok": False, "message": "No code was entered; nothing changed."}
        body = _ascii_json({"code": code.strip(), "spreadsheet_id": spreadsheet_id, "sheet": sheet})
        status, data = self._post_json(server_url + "/api/addon/connect", body)
        if status == 0:
            return {"ok": False, "message": f"Could not connect: {server_url} did not answer like a Leads Sync "
                                            "server."}
        if status >= 300:
            return {"ok": False, "message": f"Could not connect: {_message(data, status)}"}
        return self._apply_connection(spreadsheet_id, server_url, data)

    def begin_connect(self, where: tuple[str, str], row: int | None) -> dict[str, Any]:
        """Code.js ``beginConnect`` (the sidebar's *Connect to Leads Sync*): a new nonce, and the server's
        connect page for the sidebar to open in a popup."""
        cfg = self.connection(*where)
        server_url = self.default_server_url or (cfg.server_url if cfg else "")
        if not server_url:
            return {"ok": False, "error": "This copy of the add-on does not know its Leads Sync server. Choose "
                                          "Leads Sync \u203a Connect to server\u2026 and enter the server address "
                                          "and a connect code from the dashboard."}
        nonce = secrets.token_hex(16)
        with self._lock:
            self._pending[where[0]] = {"nonce": nonce, "server_url": server_url, "sheet": where[1],
                                       "started": time.monotonic()}
        url = (f"{server_url}/app/addon/connect?nonce={nonce}&spreadsheet={quote(where[0], safe='')}"
               f"&sheet={quote(where[1], safe='')}")
        return {"ok": True, "url": url}

    def finish_connect(self, where: tuple[str, str], row: int | None) -> dict[str, Any]:
        """Code.js ``finishConnect`` (polled by the sidebar): ``waiting`` until the person chose a
        workspace in the popup, then ``connected`` (or ``failed``)."""
        with self._lock:
            pending = self._pending.get(where[0])
        if pending is None:
            return {"state": "none"}
        if time.monotonic() - pending["started"] > CONNECT_WAIT_S:
            with self._lock:
                self._pending.pop(where[0], None)
            return {"state": "failed", "error": "Nobody chose a workspace in the connect window for 15 minutes, "
                                                "so the request expired. Choose Connect to Leads Sync again."}
        body = _ascii_json({"nonce": pending["nonce"], "spreadsheet_id": where[0], "sheet": pending["sheet"]})
        status, data = self._post_json(pending["server_url"] + "/api/addon/connect/poll", body)
        if status == 202:
            return {"state": "waiting"}
        if status == 0 or status == 429 or status >= 500:  # try again with the next poll
            return {"state": "waiting", "problem": _message(data, status)}
        with self._lock:
            self._pending.pop(where[0], None)  # used up (or refused): the next connect starts afresh
        if status >= 300:
            return {"state": "failed", "error": f"Could not connect: {_message(data, status)}"}
        result = self._apply_connection(where[0], pending["server_url"], data)
        return {"state": "connected", "message": result["message"]} if result["ok"] else \
            {"state": "failed", "error": result["message"]}

    def _apply_connection(self, spreadsheet_id: str, server_url: str, data: Any) -> dict[str, Any]:
        """Code.js ``applyConnection_``: keep the workspace's settings, install the add-on's triggers on its
        tab (ids for every row), and ask for a first sync. ``{ok, message}``."""
        if not isinstance(data, dict) or not data.get("workspace_id") or not data.get("secret"):
            return {"ok": False, "message": "Could not connect: the server answered without a workspace id and "
                                            f"secret. Is {server_url} a Leads Sync server?"}
        tab = str(data.get("sheet") or "")
        try:
            self.sheets.sheet_id(spreadsheet_id, tab)
        except KeyError:
            return {"ok": False, "message": f"Could not connect: the workspace syncs the tab \u201c{tab}\u201d, "
                                            "which this spreadsheet does not have."}
        lead_id_column = str(data.get("lead_id_column") or "Lead ID")
        self.connect(spreadsheet_id, tab, server_url=server_url, workspace_id=str(data["workspace_id"]),
                     workspace_name=str(data.get("workspace_name") or ""), secret=str(data["secret"]),
                     lead_id_column=lead_id_column)
        self.sheets.install_addon(spreadsheet_id, tab, webhook_url=str(data.get("webhook_url") or
                                  f"{server_url}/webhooks/sheets/{data['workspace_id']}"),
                                  secret=str(data["secret"]), lead_id_header=lead_id_column, assign_ids=True)
        first = self.sync_now((spreadsheet_id, tab), None)
        name = f"\u201c{data['workspace_name']}\u201d" if data.get("workspace_name") else data["workspace_id"]
        message = f"Connected to the workspace {name}. The tab \u201c{tab}\u201d now syncs with Trello."
        if not first["ok"]:
            message += " The first sync could not be started yet: " + first["error"]
        return {"ok": True, "message": message}

    def _post_json(self, url: str, body: str) -> tuple[int, Any]:
        """An unsigned JSON POST (the connect calls): (status, JSON body); status 0 when unreachable."""
        try:
            resp = self._session.post(url, data=body.encode(), timeout=self.timeout, allow_redirects=False,
                                      headers={"Content-Type": "application/json"})
        except requests.RequestException:
            return 0, None
        try:
            return resp.status_code, resp.json()
        except ValueError:
            return resp.status_code, None

    def connection(self, spreadsheet_id: str, sheet: str) -> Connection | None:
        with self._lock:
            return self._connections.get((spreadsheet_id, sheet))

    # ---------------------------------------------------------------- the Code.js functions

    def get_selected_lead(self, where: tuple[str, str], row: int | None) -> dict[str, Any]:
        """Code.js ``getSelectedLead``: the lead on the selected row."""
        cfg = self.connection(*where)
        result: dict[str, Any] = {"connected": cfg is not None, "errors": list(cfg.errors) if cfg else []}
        if cfg is None:
            return result
        result.update(workspaceName=cfg.workspace_name, reconnect=None, sheet=where[1], serverUrl=cfg.server_url,
                      queued=0, onSheet=True)
        if not row:
            return result
        result["row"] = row
        if row <= cfg.header_row:
            result["header"] = True
            return result
        values = self.sheets.values(*where)
        headers = [str(h) for h in (values[cfg.header_row - 1] if len(values) >= cfg.header_row else [])]
        if not any(headers):
            result["blank"] = True
            return result
        cells = [str(c) for c in (values[row - 1] if row <= len(values) else [])]
        cells += [""] * (len(headers) - len(cells))
        id_index = headers.index(cfg.lead_id_column) if cfg.lead_id_column in headers else -1
        result["blank"] = all(not c.strip() for i, c in enumerate(cells) if i != id_index)
        result["leadId"] = cells[id_index].strip() if id_index >= 0 else ""
        result["values"] = {h: cells[i] for i, h in enumerate(headers) if h and i != id_index}
        return result

    def get_card_for_lead(self, where: tuple[str, str], row: int | None, lead_id: str = "") -> dict[str, Any]:
        """Code.js ``getCardForLead``: the Trello card linked to a lead, from our server."""
        cfg = self.connection(*where)
        if cfg is None:
            return {"ok": False, "error": "Not connected."}
        if not lead_id:
            return {"ok": False, "error": "This row has no lead id yet."}
        ok, code, data, message = self._api(cfg, "get", "/api/addon/leads/" + quote(lead_id, safe=""), "")
        if not ok:
            return {"ok": False, "error": message, "code": code}
        return {**(data if isinstance(data, dict) else {}), "ok": True}

    def create_card_now(self, where: tuple[str, str], row: int | None, lead_id: str = "") -> dict[str, Any]:
        """Code.js ``createCardNow``: ask our server to make the lead's card now."""
        cfg = self.connection(*where)
        if cfg is None:
            return {"ok": False, "error": "Not connected."}
        if not lead_id:
            return {"ok": False, "error": "This row has no lead id yet."}
        ok, code, _, message = self._api(cfg, "post", "/api/addon/leads/" + quote(lead_id, safe="") + "/card",
                                         _ascii_json({"lead_id": lead_id}))
        if not ok:
            self._log_error(cfg, f"Could not ask for a card for {lead_id}: {message}", code)
            return {"ok": False, "error": message}
        return {"ok": True, "message": "The card is being created; it shows here in a few seconds."}

    def sync_now(self, where: tuple[str, str], row: int | None) -> dict[str, Any]:
        """Code.js ``syncNow``: ask our server to compare the sheet and the board."""
        cfg = self.connection(*where)
        if cfg is None:
            return {"ok": False, "error": "Not connected: use Leads Sync \u203a Connect to server\u2026 first."}
        ok, code, _, message = self._api(cfg, "post", "/api/addon/sync", "{}")
        if not ok:
            self._log_error(cfg, f"Sync now failed: {message}", code)
            return {"ok": False, "error": message}
        return {"ok": True, "message": "Sync started: the sheet and the board are being compared."}

    def clear_errors(self, where: tuple[str, str], row: int | None) -> dict[str, Any]:
        cfg = self.connection(*where)
        if cfg is not None:
            with self._lock:
                cfg.errors.clear()
        return {"ok": True}

    def run(self, name: str, spreadsheet_id: str, sheet: str, row: Any, args: list[Any]) -> Any:
        """Run one function as ``google.script.run.<name>(...args)`` would."""
        function = self.functions.get(name)
        if function is None:
            raise BridgeError(f"Script function not found: {name}", 404)
        if not isinstance(args, list) or not all(isinstance(a, (str, int, float, bool)) for a in args):
            raise BridgeError("args must be a list of plain values")
        selected = row if isinstance(row, int) and row > 0 else None
        try:
            return function((spreadsheet_id, sheet), selected, *args)
        except TypeError as exc:
            raise BridgeError(f"{name}: wrong arguments ({exc})") from exc
        except KeyError as exc:  # no such spreadsheet or tab
            raise BridgeError(str(exc.args[0] if exc.args else exc), 404) from exc

    # ---------------------------------------------------------------- transport

    def _api(self, cfg: Connection, method: str, path: str, body: str) -> tuple[bool, int, Any, str]:
        """A signed call to our add-on API: (ok, HTTP status, JSON body, message for the person)."""
        timestamp = str(int(time.time()))
        nonce = secrets.token_hex(16)
        query = path.partition("?")[2]
        target = unquote(path.partition("?")[0]) + ("?" + query if query else "")
        headers = {"X-Workspace": cfg.workspace_id, "X-Timestamp": timestamp, "X-Nonce": nonce,
                   "X-Signature": sign_request(cfg.secret, timestamp, nonce, method, target, body)}
        if method != "get":
            headers["Content-Type"] = "application/json"
        try:
            resp = self._session.request(method.upper(), cfg.server_url + path, data=body.encode() or None,
                                         headers=headers, timeout=self.timeout, allow_redirects=False)
        except requests.RequestException:
            return False, 0, None, "The Leads Sync server could not be reached."
        try:
            data = resp.json()
        except ValueError:
            data = None
        if resp.ok:
            return True, resp.status_code, data, ""
        return False, resp.status_code, data, _message(data, resp.status_code)

    def _log_error(self, cfg: Connection, message: str, code: int) -> None:
        with self._lock:
            cfg.errors.insert(0, {"at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                                  "message": message[:300], "code": code})
            del cfg.errors[MAX_ERRORS:]

    def wrap(self, app: Callable) -> Callable:
        """The emulator's WSGI app with the sidebar's routes in front of it (``sheets_sidebar_http``)."""
        from .sheets_sidebar_http import wrap

        return wrap(self, app)


def _message(data: Any, status: int) -> str:
    """Code.js ``serverMessage_``: the server's error sentence and the HTTP status."""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    return f"{error or 'The server refused the request'} (HTTP {status})"


__all__ = ["BridgeError", "SidebarBridge", "sign_request"]
