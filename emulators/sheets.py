"""Stateful emulator of the Google Sheets API v4 (the endpoints gspread 6 calls).

It also simulates the Apps Script add-on: ``user_*`` methods change the sheet as a person would
and, once ``install_addon`` ran, send the add-on's signed webhook events (API writes never do,
like real installable triggers). Run by hand with ``python -m emulators.sheets --port 8102``.

Pieces: ``sheets_a1`` (A1 notation), ``sheets_model`` (grid and values), ``sheets_api``
(endpoints), ``sheets_addon`` (event delivery), ``sheets_ui`` (demo pages).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import threading
import time
from collections import deque
from typing import Any, Callable, Iterable
from urllib.parse import quote, unquote

from werkzeug.wrappers import Request, Response

from .common import FaultInjector, Served, serve_forever
from .drive_api import DriveApi
from .google_grants import INSUFFICIENT_SCOPES, Access
from .sheets_a1 import A1Error, parse_cells
from .sheets_addon import AddonConfig, AddonDelivery, DeliveryAttempt, build_body, new_lead_id
from .sheets_api import READ_OPS, WRITE_OPS, SheetsApi
from .sheets_errors import invalid_json, quota_exceeded, unauthenticated
from .sheets_fields import apply_mask, check_known, parse_mask
from .sheets_meta import SPREADSHEET_FIELDS
from .sheets_model import (
    ApiError,
    Formula,
    Sheet,
    Spreadsheet,
    fill_rows,
    formatted,
    input_value,
    new_spreadsheet_id,
    not_found,
    typed_value,
)
from .sheets_render import Renderer
from .sheets_ui import index_page, sheet_page

Limit = tuple[int, float] | None

_UNCHANGED: Any = object()
_ROUTE = re.compile(r"^/v4/spreadsheets/([^/:]+)(.*)$")
_VALUES = re.compile(r"^/values/(.+?)(:append|:clear)?$", re.S)
_METADATA = re.compile(r"^/developerMetadata/([0-9]+)$")
_MISSING_AUTH = ("Request is missing required authentication credential. Expected OAuth 2 access "
                 "token, login cookie or other valid authentication credential.")
_BAD_AUTH = ("Request had invalid authentication credentials. Expected OAuth 2 access token, "
             "login cookie or other valid authentication credential.")
DEMO_SPREADSHEET_ID = "1DemoLeadsSheet0000000000000000000000000000A"
DEMO_HEADERS = ["Name", "Email", "Phone", "Company", "Status", "Notes", "Owner", "Lead ID"]


def _quota_message(kind: str) -> str:
    word = "Read" if kind == "read" else "Write"
    return (f"Quota exceeded for quota metric '{word} requests' and limit '{word} requests per "
            f"minute per user' of service 'sheets.googleapis.com' for consumer "
            f"'project_number:000'.")


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, separators=(",", ":")), status=status,
                    content_type="application/json; charset=UTF-8")


def _error(exc: ApiError) -> Response:
    resp = _json(exc.as_json(), exc.code)
    if exc.code == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
    return resp


def _limit(value: Any) -> Limit:
    if value is None:
        return None
    count, window = value
    return int(count), float(window)


class SheetsEmulator(Served):
    """The emulator: state, HTTP app (``wsgi_app``), control API and the simulated add-on."""

    def __init__(self, *, read_limit: Limit = (60, 60.0), write_limit: Limit = (60, 60.0),
                 seed: int | None = None) -> None:
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._spreadsheets: dict[str, Spreadsheet] = {}
        self._api = SheetsApi(self._rng)
        self._limits: dict[str, Limit] = {"read": _limit(read_limit), "write": _limit(write_limit)}
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self._revoked: set[str] = set()
        # Scope checks (emulators/google_grants.py), switched on by GoogleOAuthEmulator.link_sheets.
        self._token_grant: Callable[[str], Any] | None = None
        self._file_grants: Any = None
        self._addons: dict[tuple[str, int], AddonConfig] = {}
        self._delivery = AddonDelivery()
        self.drive = DriveApi(self._spreadsheets, self._rng, self._authenticate)   # files.copy (drive_api)
        self.base_url: str | None = None
        self.faults = FaultInjector()
        self.wsgi_app: Callable = self.faults.wrap(self._dispatch)
        self.reset_stats()

    def on_stop(self) -> None:
        self._delivery.stop()

    @property
    def api_base_url(self) -> str:
        if self.base_url is None:
            raise RuntimeError("the emulator is not started")
        return self.base_url + "/v4"

    @property
    def drive_base_url(self) -> str:
        """The Drive API v3 root (``files.copy`` only, see ``drive_api``)."""
        if self.base_url is None:
            raise RuntimeError("the emulator is not started")
        return self.base_url + "/drive/v3"

    # ------------------------------------------------------------------ state (Python API)

    def create_spreadsheet(self, title: str, sheets: dict[str, list[list]] | None = None,
                           spreadsheet_id: str | None = None) -> str:
        """Create a spreadsheet (``sheets``: title → rows of values); returns its id."""
        with self._lock:
            sid = spreadsheet_id or new_spreadsheet_id(self._rng)
            if sid in self._spreadsheets:
                raise ValueError(f"spreadsheet {sid} already exists")
            ss = Spreadsheet(sid, title)
            for name, rows in (sheets or {"Sheet1": []}).items():
                fill_rows(ss.add_sheet(name, self._rng), rows or [])
            self._spreadsheets[sid] = ss
            return sid

    def _sheet(self, spreadsheet_id: str, sheet: str) -> tuple[Spreadsheet, Sheet]:
        ss = self._spreadsheets.get(spreadsheet_id)
        if ss is None:
            raise KeyError(f"no spreadsheet {spreadsheet_id!r}")
        sh = ss.sheet(sheet)
        if sh is None:
            raise KeyError(f"no sheet {sheet!r} in spreadsheet {spreadsheet_id!r}")
        return ss, sh

    def sheet_id(self, spreadsheet_id: str, sheet: str) -> int:
        """A tab's numeric id (``properties.sheetId``, the ``gid`` in its URL): 0 for the first tab created."""
        with self._lock:
            return self._sheet(spreadsheet_id, sheet)[1].sheet_id

    def values(self, spreadsheet_id: str, sheet: str) -> list[list]:
        """The grid as a person sees it (formatted strings, formulas computed), trailing empties trimmed."""
        with self._lock:
            ss, sh = self._sheet(spreadsheet_id, sheet)
            return sh.read(1, 1, sh.row_count, sh.col_count, Renderer(ss).for_sheet(sh))

    def rows_as_dicts(self, spreadsheet_id: str, sheet: str, header_row: int = 1) -> list[dict]:
        """One dict per non-blank row below the header (formatted values), plus ``_row``."""
        with self._lock:
            ss, sh = self._sheet(spreadsheet_id, sheet)
            shown = Renderer(ss).for_sheet(sh)
            headers = self._headers(sh, header_row)
            out = []
            for r in range(header_row + 1, len(sh.rows) + 1):
                if sh.row_is_blank(r):
                    continue
                item: dict[str, Any] = {name: shown(sh.get(r, col)) for name, col in headers.items()}
                item["_row"] = r
                out.append(item)
            return out

    def cell(self, spreadsheet_id: str, sheet: str, a1: str) -> dict:
        """``{"value": stored value (None if empty, "#FORMULA" for a formula), "formula": str | None}``."""
        bounds = parse_cells(a1)
        with self._lock:
            _, sh = self._sheet(spreadsheet_id, sheet)
            value = sh.get(bounds.start_row, bounds.start_col)
        if isinstance(value, Formula):
            return {"value": formatted(value), "formula": value.text}
        return {"value": value, "formula": None}

    def revoke_token(self, token: str) -> None:
        with self._lock:
            self._revoked.add(token)

    def use_grants(self, token_grant: Callable[[str], Any], file_grants: Any) -> None:
        """Enforce the scopes of the tokens ``token_grant`` knows (``drive.file``: picked files only)."""
        with self._lock:
            self._token_grant, self._file_grants = token_grant, file_grants

    def _check_grant(self, token: str, spreadsheet_id: str, kind: str) -> None:
        if self._token_grant is not None:
            self._file_grants.check(self._token_grant(token), spreadsheet_id, kind == "write")

    def _create_via_api(self, token: str, body: dict[str, Any], args: Any) -> dict[str, Any]:
        """``POST /v4/spreadsheets`` (spreadsheets.create, ``sheets_create``); a ``drive.file``
        token may open what it created."""
        grant = self._token_grant(token) if self._token_grant is not None else None
        if grant is not None and grant.access(True) is Access.NONE:
            raise ApiError(403, INSUFFICIENT_SCOPES)
        with self._lock:
            created = self._api.create(body)
            self._spreadsheets[created.id] = created
            if grant is not None:
                self._file_grants.grant(grant.client_id, grant.sub, created.id)
            return self._api.spreadsheets_get(created, args)

    def set_limits(self, read_limit: Limit = _UNCHANGED, write_limit: Limit = _UNCHANGED) -> None:
        """Change quotas; ``None`` disables one, an omitted argument leaves it as it is."""
        with self._lock:
            if read_limit is not _UNCHANGED:
                self._limits["read"] = _limit(read_limit)
            if write_limit is not _UNCHANGED:
                self._limits["write"] = _limit(write_limit)
            self._windows.clear()

    def stats(self) -> dict:
        with self._lock:
            return {**self._stats, "calls": dict(self._stats["calls"])}

    def reset_stats(self) -> None:
        with self._lock:
            self._stats: dict[str, Any] = {"calls": {op: 0 for op in READ_OPS + WRITE_OPS},
                                           "reads": 0, "writes": 0, "total": 0, "rate_limited": 0}

    # ------------------------------------------------------------------ the simulated add-on

    @staticmethod
    def _headers(sh: Sheet, header_row: int = 1) -> dict[str, int]:
        headers: dict[str, int] = {}
        if header_row <= len(sh.rows):
            for col, value in enumerate(sh.rows[header_row - 1], start=1):
                name = formatted(value)
                if name and name not in headers:
                    headers[name] = col
        return headers

    def install_addon(self, spreadsheet_id: str, sheet: str, *, webhook_url: str, secret: str,
                      lead_id_header: str = "Lead ID", assign_ids: bool = False) -> None:
        """Install the add-on's triggers on a sheet; adds the id column to the header if missing.

        ``assign_ids`` also gives every existing data row a lead id (no event is sent).
        """
        with self._lock:
            _, sh = self._sheet(spreadsheet_id, sheet)
            headers = self._headers(sh)
            if lead_id_header not in headers:
                col = (max(headers.values()) + 1) if headers else 1
                sh.set(1, col, lead_id_header)
                headers[lead_id_header] = col
            self._addons[(spreadsheet_id, sh.sheet_id)] = AddonConfig(webhook_url, secret, lead_id_header)
            if assign_ids:
                for r in range(2, sh.last_data_row() + 1):
                    if not sh.row_is_blank(r) and sh.get(r, headers[lead_id_header]) is None:
                        sh.set(r, headers[lead_id_header], new_lead_id())

    def _emit(self, spreadsheet_id: str, sh: Sheet, rows: Iterable[int],
              removed: list[dict[str, Any]] | None = None, changed: Iterable[str] | None = None,
              old: dict[str, str] | None = None) -> None:
        """What the add-on's trigger does after a person's change (call with the lock held).

        ``changed`` names the edited columns (the add-on reads them from the edited range);
        a sort changes none, only row positions. ``old``: a single cell's previous value (Apps
        Script's ``e.oldValue``, "" for an empty cell), sent as the row's ``old``.
        """
        config = self._addons.get((spreadsheet_id, sh.sheet_id))
        if config is None:
            return
        headers = self._headers(sh)
        id_col = headers.get(config.lead_id_header)
        now = int(time.time() * 1000)
        shown = Renderer(self._spreadsheets[spreadsheet_id]).for_sheet(sh)

        def got(value: Any) -> Any:
            """Apps Script's ``getValues()``: a formula's computed value, the others typed."""
            return shown(value) if isinstance(value, Formula) else typed_value(value)
        payload_rows = []
        for r in sorted(set(rows)):
            if r <= 1 or sh.row_is_blank(r):
                continue
            if id_col is not None and sh.get(r, id_col) is None:
                sh.set(r, id_col, new_lead_id())
            payload_rows.append({
                "lead_id": formatted(sh.get(r, id_col)) if id_col else "",
                "row": r,
                "values": {name: got(sh.get(r, col)) for name, col in headers.items()},
                "changed": sorted(set(changed)) if changed is not None else list(headers),
                "edited_at": now,
                **({"old": old} if old else {}),
            })
        removed = removed or []
        if not payload_rows and not removed:
            return
        body = build_body(spreadsheet_id, sh.title, payload_rows, removed)
        self._delivery.enqueue(config.webhook_url, config.secret, body)

    def _set_by_header(self, sh: Sheet, row: int, values: dict[str, Any],
                       columns: dict[str, Any] | None = None) -> None:
        headers = self._headers(sh)
        writes = []
        for name, value in values.items():
            if name not in headers:
                raise ValueError(f"no column {name!r} in the header row of {sh.title!r}")
            writes.append((headers[name], value))
        for letters, value in (columns or {}).items():
            writes.append((parse_cells(f"{letters}1").start_col, value))
        for col, value in writes:
            stored = None if value is None else input_value(value, True)
            sh.set(row, col, stored)

    def user_edit(self, spreadsheet_id: str, sheet: str, row: int, values: dict[str, object], *,
                  columns: dict[str, object] | None = None) -> None:
        """A person types into ``row`` (cells by header; ``columns`` by letter, for the UI)."""
        if row < 1:
            raise ValueError("row numbers start at 1")
        with self._lock:
            _, sh = self._sheet(spreadsheet_id, sheet)
            headers = self._headers(sh)
            by_col = {col: name for name, col in headers.items()}
            edited = list(values) + [by_col.get(parse_cells(f"{c}1").start_col, c) for c in (columns or {})]
            old = None
            if len(edited) == 1 and edited[0] in headers:  # one cell: the trigger knows what it held
                held = sh.get(row, headers[edited[0]])
                old = {edited[0]: "" if held is None else formatted(held)}
            self._set_by_header(sh, row, values, columns)
            self._emit(spreadsheet_id, sh, [row], changed=edited, old=old)

    def user_append(self, spreadsheet_id: str, sheet: str, values: dict[str, object]) -> int:
        """A person fills the row below the last one; returns its number."""
        with self._lock:
            _, sh = self._sheet(spreadsheet_id, sheet)
            row = max(sh.last_data_row(), 1) + 1
            self._set_by_header(sh, row, values)
            self._emit(spreadsheet_id, sh, [row], changed=list(values))
            return row

    def user_delete_row(self, spreadsheet_id: str, sheet: str, row: int) -> None:
        """A person deletes a whole row (the event lists its lead id in ``removed``)."""
        with self._lock:
            _, sh = self._sheet(spreadsheet_id, sheet)
            if not 1 <= row <= sh.row_count:
                raise ValueError(f"row {row} is outside the sheet")
            removed = []
            config = self._addons.get((spreadsheet_id, sh.sheet_id))
            if config is not None and row > 1:
                id_col = self._headers(sh).get(config.lead_id_header)
                lead_id = sh.get(row, id_col) if id_col else None
                if lead_id is not None:
                    removed.append({"lead_id": formatted(lead_id), "row": row})
            sh.delete_rows(row - 1, row)
            self._emit(spreadsheet_id, sh, [], removed)

    def user_sort(self, spreadsheet_id: str, sheet: str, header: str, reverse: bool = False) -> None:
        """A person sorts the data rows by a column (empty cells last, like Sheets)."""
        with self._lock:
            _, sh = self._sheet(spreadsheet_id, sheet)
            headers = self._headers(sh)
            if header not in headers:
                raise ValueError(f"no column {header!r} in the header row of {sh.title!r}")
            col = headers[header] - 1
            last = sh.last_data_row()
            while len(sh.rows) < last:
                sh.rows.append([])
            data = sh.rows[1:last]

            def value(cells: list[Any]) -> Any:
                return cells[col] if col < len(cells) else None

            def key(cells: list[Any]) -> tuple:
                v = value(cells)
                if isinstance(v, bool):
                    return (2, v)
                if isinstance(v, (int, float)):
                    return (0, v)
                return (1, formatted(v).casefold())

            filled = sorted((c for c in data if value(c) is not None), key=key, reverse=reverse)
            sh.rows[1:last] = filled + [c for c in data if value(c) is None]
            self._emit(spreadsheet_id, sh, range(2, last + 1), changed=[])

    def user_paste(self, spreadsheet_id: str, sheet: str, first_row: int,
                   rows: list[dict[str, object]]) -> None:
        """A person pastes several rows at once (one event carrying every row)."""
        if first_row < 1:
            raise ValueError("row numbers start at 1")
        with self._lock:
            _, sh = self._sheet(spreadsheet_id, sheet)
            for i, values in enumerate(rows):
                self._set_by_header(sh, first_row + i, values)
            pasted = {name for values in rows for name in values}
            self._emit(spreadsheet_id, sh, range(first_row, first_row + len(rows)), changed=pasted)

    def pause_events(self) -> None:
        """Hold the add-on's deliveries (a trigger that runs late); ``resume_events`` sends them."""
        self._delivery.pause()

    def resume_events(self) -> None:
        self._delivery.resume()

    def drop_next_events(self, n: int) -> None:
        """Lose the next ``n`` add-on POSTs silently."""
        self._delivery.drop_next(n)

    @property
    def duplicate_events(self) -> bool:
        return self._delivery.duplicate_events

    @duplicate_events.setter
    def duplicate_events(self, value: bool) -> None:
        self._delivery.duplicate_events = bool(value)

    def wait_for_events(self, timeout: float = 10.0) -> bool:
        """Wait until every queued add-on event is delivered (or given up); False on timeout."""
        return self._delivery.wait_idle(timeout)

    def addon_deliveries(self) -> list[tuple[int | None, str]]:
        """Every delivery attempt as ``(status or None on a connection error, body)``."""
        return [(a.status, a.body) for a in list(self._delivery.attempts)]

    def addon_delivery_log(self) -> list[DeliveryAttempt]:
        """Every delivery attempt with its URL, timestamp, signature and error."""
        return list(self._delivery.attempts)

    # ------------------------------------------------------------------ HTTP

    def _dispatch(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path
        try:
            if path.startswith("/_emulator"):
                response = self._control(request)
            elif path.startswith("/v4/"):
                response = self._handle_api(request, environ)
            elif path.startswith("/drive/v3/"):
                with self._lock:
                    response = self.drive.handle(request)
            elif path in ("", "/"):
                response = Response(status=302, headers={"Location": "/_emulator/ui"})
            else:
                raise not_found()
        except ApiError as exc:
            response = _error(exc)
        return response(environ, start_response)

    @staticmethod
    def _raw_path(environ: dict) -> str:
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if not raw:
            return quote(environ.get("PATH_INFO", ""), safe="/:")
        raw = raw.split("?", 1)[0]
        if "://" in raw:
            raw = "/" + raw.split("://", 1)[1].partition("/")[2]
        return raw

    def _route(self, method: str, raw_path: str) -> tuple[str, str, str | None]:
        """(operation, spreadsheet id, range text) for an API path, else a 404."""
        if raw_path.rstrip("/") == "/v4/spreadsheets" and method == "POST":
            return "spreadsheets.create", "", None
        m = _ROUTE.match(raw_path)
        if not m:
            raise not_found()
        sid, rest = unquote(m.group(1)), m.group(2)
        simple = {("GET", ""): "spreadsheets.get", ("POST", ":batchUpdate"): "spreadsheets.batchUpdate",
                  ("GET", "/values:batchGet"): "values.batchGet",
                  ("POST", "/values:batchUpdate"): "values.batchUpdate",
                  ("POST", "/values:batchClear"): "values.batchClear",
                  ("POST", "/developerMetadata:search"): "developerMetadata.search"}
        if (method, rest) in simple:
            return simple[(method, rest)], sid, None
        mm = _METADATA.match(rest)
        if mm and method == "GET":
            return "developerMetadata.get", sid, mm.group(1)
        vm = _VALUES.match(rest)
        if vm:
            text = unquote(vm.group(1))
            op = {(None, "GET"): "values.get", (None, "PUT"): "values.update",
                  (":append", "POST"): "values.append", (":clear", "POST"): "values.clear"}.get(
                      (vm.group(2), method))
            if op:
                return op, sid, text
        raise not_found()

    def _authenticate(self, request: Request) -> str:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        token = token or request.args.get("access_token", "")
        if not token:
            raise unauthenticated(_MISSING_AUTH, "CREDENTIALS_MISSING")
        if token in self._revoked:
            raise unauthenticated(_BAD_AUTH, "ACCESS_TOKEN_TYPE_UNSUPPORTED")
        return token

    def _handle_api(self, request: Request, environ: dict) -> Response:
        try:
            op = self._route(request.method, self._raw_path(environ))[0]
        except ApiError:
            op = ""
        try:
            op, result = self._api_call(request, environ)
        except ApiError as exc:
            exc.for_operation(op)
            raise
        return _json(result)

    def _api_call(self, request: Request, environ: dict) -> tuple[str, Any]:
        with self._lock:
            token = self._authenticate(request)
        op, sid, text = self._route(request.method, self._raw_path(environ))
        mask = parse_mask(request.args["fields"]) if request.args.get("fields") else None
        if mask is not None and op in ("spreadsheets.get", "spreadsheets.create"):
            check_known(mask, {}, SPREADSHEET_FIELDS)
        kind = "read" if op in READ_OPS else "write"
        body: dict[str, Any] = {}
        if request.method in ("POST", "PUT"):
            data = request.get_data()
            if data.strip():
                try:
                    body = json.loads(data)
                except ValueError:
                    raise invalid_json("Unexpected token.") from None
                if not isinstance(body, dict):
                    raise invalid_json("Expected an object.")
        with self._lock:
            if not self._take_quota(token, kind):
                self._stats["rate_limited"] += 1
                word = "Read" if kind == "read" else "Write"
                limit = self._limits[kind]
                raise quota_exceeded(
                    _quota_message(kind), f"sheets.googleapis.com/{kind}_requests",
                    f"{word}RequestsPerMinutePerUser", int(limit[0]) if limit else 0)
            self._stats["calls"][op] += 1
            self._stats["reads" if kind == "read" else "writes"] += 1
            self._stats["total"] += 1
            if op == "spreadsheets.create":
                result = self._create_via_api(token, body, request.args)
                return op, result if mask is None else apply_mask(result, mask)
            ss = self._spreadsheets.get(sid)
            if ss is None:
                raise not_found()
            self._check_grant(token, sid, kind)
            api, args = self._api, request.args
            result = {
                "spreadsheets.get": lambda: api.spreadsheets_get(ss, args),
                "spreadsheets.batchUpdate": lambda: api.batch_update(ss, body),
                "values.get": lambda: api.values_get(ss, text, args),
                "values.batchGet": lambda: api.values_batch_get(ss, args),
                "values.update": lambda: api.values_update(ss, text, args, body),
                "values.batchUpdate": lambda: api.values_batch_update(ss, body),
                "values.append": lambda: api.values_append(ss, text, args, body),
                "values.clear": lambda: api.values_clear(ss, text),
                "values.batchClear": lambda: api.values_batch_clear(ss, body),
                "developerMetadata.search": lambda: api.metadata_search(ss, body),
                "developerMetadata.get": lambda: api.metadata_get(ss, text or ""),
            }[op]()
        return op, result if mask is None else apply_mask(result, mask)

    def _take_quota(self, token: str, kind: str) -> bool:
        limit = self._limits[kind]
        if limit is None:
            return True
        count, window = limit
        now = time.monotonic()
        log = self._windows.setdefault((token, kind), deque())
        while log and log[0] <= now - window:
            log.popleft()
        if len(log) >= count:
            return False
        log.append(now)
        return True

    # ------------------------------------------------------------------ control API

    def state(self, spreadsheet_id: str | None = None, sheet: str | None = None,
              max_rows: int | None = None) -> dict[str, Any]:
        """Spreadsheets with their sheets and formatted values (as ``GET /_emulator/state``)."""
        with self._lock:
            out = []
            for ss in self._spreadsheets.values():
                if spreadsheet_id and ss.id != spreadsheet_id:
                    continue
                sheets = []
                for sh in ss.sheets:
                    if sheet and sh.title != sheet:
                        continue
                    last = sh.row_count if max_rows is None else min(sh.row_count, max_rows)
                    config = self._addons.get((ss.id, sh.sheet_id))
                    sheets.append({
                        "title": sh.title, "sheet_id": sh.sheet_id, "row_count": sh.row_count,
                        "column_count": sh.col_count, "frozen_row_count": sh.frozen_rows,
                        "values": sh.read(1, 1, last, sh.col_count, Renderer(ss).for_sheet(sh)),
                        "truncated": last < sh.last_data_row(),
                        "addon": None if config is None else {
                            "webhook_url": config.webhook_url, "lead_id_header": config.lead_id_header},
                    })
                out.append({"spreadsheet_id": ss.id, "title": ss.title, "sheets": sheets})
            return {"spreadsheets": out, "addon_deliveries": len(self._delivery.attempts)}

    def _control(self, request: Request) -> Response:
        path = request.path[len("/_emulator"):].rstrip("/") or "/"
        method = request.method
        if path == "/faults":
            return self.faults.handle_control(request)
        if path == "/ui" and method == "GET":
            listing = self.state(max_rows=1)["spreadsheets"]
            return Response(index_page(listing), mimetype="text/html")
        if path.startswith("/ui/spreadsheets/") and method == "GET":
            sid, _, sheet = path[len("/ui/spreadsheets/"):].partition("/")
            with self._lock:
                try:
                    ss, sh = self._sheet(sid, sheet)
                except KeyError as exc:
                    return Response(f"Not found: {exc}", status=404, mimetype="text/plain")
                return Response(sheet_page(ss.id, ss.title, sh.title), mimetype="text/html")
        if path == "/state" and method == "GET":
            max_rows = request.args.get("max_rows", type=int)
            return _json(self.state(request.args.get("spreadsheet_id"), request.args.get("sheet"),
                                    max_rows))
        if path == "/stats":
            if method == "DELETE":
                self.reset_stats()
            return _json(self.stats())
        if path == "/addon" and method == "GET":
            return _json({"deliveries": [vars(a) for a in self.addon_delivery_log()],
                          "dropped": list(self._delivery.dropped)})
        if method != "POST":
            return _json({"error": f"unknown control endpoint {method} {request.path}"}, 404)
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            data = {}
        try:
            return self._control_post(path, data)
        except (KeyError, ValueError, TypeError, A1Error, ApiError) as exc:
            return _json({"error": str(exc)}, 400)

    def _control_post(self, path: str, d: dict[str, Any]) -> Response:
        if path == "/config":
            self.set_limits(**{k: d[k] for k in ("read_limit", "write_limit") if k in d})
            return _json({"read_limit": self._limits["read"], "write_limit": self._limits["write"]})
        if path == "/spreadsheets":
            sid = self.create_spreadsheet(d.get("title", "Untitled spreadsheet"), d.get("sheets"),
                                          d.get("spreadsheet_id"))
            return _json({"spreadsheet_id": sid}, 201)
        if path == "/revoke":
            self.revoke_token(d["token"])
            return _json({"revoked": True})
        if path == "/addon":
            self.install_addon(d["spreadsheet_id"], d["sheet"], webhook_url=d["webhook_url"],
                               secret=d["secret"], lead_id_header=d.get("lead_id_header", "Lead ID"),
                               assign_ids=bool(d.get("assign_ids", False)))
            return _json({"installed": True})
        if path == "/addon/options":
            if "drop_next" in d:
                self.drop_next_events(int(d["drop_next"]))
            if "duplicate_events" in d:
                self.duplicate_events = bool(d["duplicate_events"])
            return _json({"duplicate_events": self.duplicate_events})
        sid, sheet = d.get("spreadsheet_id"), d.get("sheet")
        if path == "/user/edit":
            self.user_edit(sid, sheet, int(d["row"]), d.get("values") or {}, columns=d.get("columns"))
            return _json({"ok": True})
        if path == "/user/append":
            return _json({"row": self.user_append(sid, sheet, d.get("values") or {})})
        if path == "/user/delete":
            self.user_delete_row(sid, sheet, int(d["row"]))
            return _json({"ok": True})
        if path == "/user/sort":
            self.user_sort(sid, sheet, d["header"], bool(d.get("reverse", False)))
            return _json({"ok": True})
        if path == "/user/paste":
            self.user_paste(sid, sheet, int(d["first_row"]), d.get("rows") or [])
            return _json({"ok": True})
        return _json({"error": f"unknown control endpoint POST /_emulator{path}"}, 404)


def seed_demo(emulator: SheetsEmulator) -> str:
    """Create the demo spreadsheet (fixed id ``DEMO_SPREADSHEET_ID``, sheet ``Leads``)."""
    rows = [DEMO_HEADERS,
            ["Ada Lovelace", "ada@example.com", "+44 20 7946 0001", "Analytical Engines", "New",
             "Met at the conference", "sam", ""],
            ["Grace Hopper", "grace@example.com", "+1 555 0100", "COBOL Inc", "Contacted",
             "Wants a demo", "kim", ""],
            ["Alan Turing", "alan@example.com", "+44 161 496 0002", "Bletchley Ltd", "Qualified",
             "", "sam", ""]]
    return emulator.create_spreadsheet("Leads (demo)", {"Leads": rows},
                                       spreadsheet_id=DEMO_SPREADSHEET_ID)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Google Sheets API v4 emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8102)
    parser.add_argument("--seed-demo", action="store_true", help="create a demo Leads sheet")
    parser.add_argument("--addon-webhook", help="install the simulated add-on on the demo sheet")
    parser.add_argument("--addon-secret", default="dev-secret")
    parser.add_argument("--no-limits", action="store_true", help="disable read/write quotas")
    args = parser.parse_args(argv)
    emulator = SheetsEmulator()
    if args.no_limits:
        emulator.set_limits(None, None)
    base = f"http://{args.host}:{args.port}"
    print(f"Sheets emulator on {base} (API base {base}/v4, UI {base}/_emulator/ui)", flush=True)
    if args.seed_demo:
        sid = seed_demo(emulator)
        print(f"demo spreadsheet {sid}: {base}/_emulator/ui/spreadsheets/{sid}/Leads", flush=True)
        if args.addon_webhook:
            emulator.install_addon(sid, "Leads", webhook_url=args.addon_webhook,
                                   secret=args.addon_secret, assign_ids=True)
            print(f"add-on installed, posting to {args.addon_webhook}", flush=True)
    serve_forever(emulator.wsgi_app, args.host, args.port)


if __name__ == "__main__":
    main()
