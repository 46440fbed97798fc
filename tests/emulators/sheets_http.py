"""A plain-HTTP client for the Sheets emulator tests: every answer is schema-checked."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from tests.emulators.sheets_schema import check_response


class Api:
    """Calls ``/v4/...`` with a bearer token and asserts each answer matches the discovery schema."""

    def __init__(self, api_base_url: str, token: str = "tok") -> None:
        self.base = api_base_url + "/spreadsheets"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, params: Any = None, body: Any = None,
             status: int = 200) -> dict[str, Any]:
        resp = self.session.request(method, self.base + path, params=params, json=body, timeout=10)
        data = resp.json()
        assert resp.status_code == status, (resp.status_code, data)
        masked = bool(params and "fields" in dict(params))
        raw_path = resp.request.path_url.split("?", 1)[0]
        problems = check_response(method, raw_path, resp.status_code, data, masked)
        assert problems == [], problems
        return dict(data)

    def get(self, sid: str, status: int = 200, **params: Any) -> dict[str, Any]:
        return self.call("GET", f"/{sid}", params or None, status=status)

    def values(self, sid: str, rng: str, status: int = 200, **params: Any) -> dict[str, Any]:
        return self.call("GET", f"/{sid}/values/{quote(rng, safe='')}", params or None, status=status)

    def update(self, sid: str, rng: str, values: list[list[Any]], option: str = "USER_ENTERED",
               status: int = 200, **params: Any) -> dict[str, Any]:
        return self.call("PUT", f"/{sid}/values/{quote(rng, safe='')}",
                         {"valueInputOption": option, **params}, {"values": values}, status)

    def append(self, sid: str, rng: str, values: list[list[Any]], status: int = 200,
               **params: Any) -> dict[str, Any]:
        params.setdefault("valueInputOption", "USER_ENTERED")
        return self.call("POST", f"/{sid}/values/{quote(rng, safe='')}:append", params,
                         {"values": values}, status)

    def batch(self, sid: str, *requests_: dict[str, Any], status: int = 200) -> dict[str, Any]:
        return self.call("POST", f"/{sid}:batchUpdate", None, {"requests": list(requests_)}, status)
