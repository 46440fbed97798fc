"""A minimal Google Drive API v3 over the Sheets emulator's spreadsheets: ``files.copy``.

``POST /drive/v3/files/{fileId}/copy`` (body: optional ``name``) copies a spreadsheet (all its tabs
and cells) under a new id and answers like Drive: ``{"kind": "drive#file", "id", "name",
"mimeType"}`` (or the fields listed in ``?fields=``). Errors have Drive's shape,
``{"error": {"code", "message", "errors": [{"domain", "reason", "message", ...}]}}``: 401 without a
bearer token, 404 ``File not found: <id>.`` for an unknown file, 400 for a body that is not JSON.
The Sheets emulator routes ``/drive/v3/...`` here (``SheetsEmulator.drive_base_url``).
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from .sheets_model import ApiError, Spreadsheet, new_spreadsheet_id

SPREADSHEET_MIME = "application/vnd.google-apps.spreadsheet"
_COPY = re.compile(r"^/drive/v3/files/([^/]+)/copy$")
_DEFAULT_FIELDS = ("kind", "id", "name", "mimeType")


@dataclass
class DriveError(Exception):
    code: int
    message: str
    reason: str
    location: str | None = None
    location_type: str | None = None

    def as_json(self) -> dict[str, Any]:
        detail: dict[str, Any] = {"message": self.message, "domain": "global", "reason": self.reason}
        if self.location:
            detail.update(location=self.location, locationType=self.location_type)
        return {"error": {"code": self.code, "message": self.message, "errors": [detail]}}


def _respond(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json; charset=UTF-8")


class DriveApi:
    """``files.copy`` over ``spreadsheets`` (the Sheets emulator's dict; callers hold its lock)."""

    def __init__(self, spreadsheets: dict[str, Spreadsheet], rng: random.Random,
                 authenticate: Callable[[Request], str]) -> None:
        self.spreadsheets = spreadsheets
        self.rng = rng
        self.authenticate = authenticate
        self.copies: list[tuple[str, str]] = []   # (source id, copy id), for tests

    def handle(self, request: Request) -> Response:
        try:
            return _respond(self._handle(request))
        except DriveError as exc:
            response = _respond(exc.as_json(), exc.code)
            if exc.code == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
            return response

    def _handle(self, request: Request) -> dict[str, Any]:
        match = _COPY.match(request.path)
        if not match or request.method != "POST":
            raise DriveError(404, "Not Found", "notFound")
        try:
            self.authenticate(request)
        except ApiError:   # the Sheets emulator's own error: answer in Drive's shape
            raise DriveError(401, "Request is missing required authentication credential. Expected OAuth 2 "
                                  "access token, login cookie or other valid authentication credential.",
                             "required", "Authorization", "header") from None
        file_id = match.group(1)
        body = self._body(request)
        source = self.spreadsheets.get(file_id)
        if source is None:
            raise DriveError(404, f"File not found: {file_id}.", "notFound", "fileId", "parameter")
        wanted = body.get("name")
        name = wanted if isinstance(wanted, str) and wanted.strip() else f"Copy of {source.title}"
        duplicate = copy.deepcopy(source)
        duplicate.id = new_spreadsheet_id(self.rng)
        duplicate.title = name
        self.spreadsheets[duplicate.id] = duplicate
        self.copies.append((file_id, duplicate.id))
        resource = {"kind": "drive#file", "id": duplicate.id, "name": name, "mimeType": SPREADSHEET_MIME}
        fields = [f.strip() for f in (request.args.get("fields") or "").split(",") if f.strip()]
        return {k: resource[k] for k in (fields or _DEFAULT_FIELDS) if k in resource}

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        data = request.get_data()
        if not data.strip():
            return {}
        try:
            body = json.loads(data)
        except ValueError:
            raise DriveError(400, "Invalid JSON payload received.", "parseError") from None
        if not isinstance(body, dict):
            raise DriveError(400, "Invalid JSON payload received. Expected an object.", "parseError")
        return body


__all__ = ["SPREADSHEET_MIME", "DriveApi", "DriveError"]
