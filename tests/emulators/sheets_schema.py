"""Checks Sheets emulator answers against Google's discovery document (``sheets.v4.json``).

The document ships with google-api-python-client (a test-only dependency). ``check_response``
validates a body against the response schema of the method serving the request: every property
must exist in the schema with the right JSON type (and enum value), and ``REQUIRED`` keys must be
present. Error bodies are checked against ``google.rpc.Status``. ``ValidatingApp`` wraps the
emulator's WSGI app so every answer a test receives is checked.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import googleapiclient  # type: ignore[import-untyped]

DOC_PATH = os.path.join(os.path.dirname(googleapiclient.__file__), "discovery_cache", "documents",
                        "sheets.v4.json")

# Keys Google always sends (the discovery document has no "required"); checked when the answer
# was not narrowed by a ``fields`` mask.
REQUIRED: dict[str, tuple[str, ...]] = {
    "Spreadsheet": ("spreadsheetId", "properties", "sheets", "spreadsheetUrl"),
    "SpreadsheetProperties": ("title", "locale", "autoRecalc", "timeZone", "defaultFormat",
                              "spreadsheetTheme"),
    "Sheet": ("properties",),
    "SheetProperties": ("sheetId", "title", "index", "sheetType", "gridProperties"),
    "GridProperties": ("rowCount", "columnCount"),
    "SpreadsheetTheme": ("primaryFontFamily", "themeColors"),
    "NamedRange": ("namedRangeId", "name", "range"),
    "DeveloperMetadata": ("metadataId", "metadataKey", "location", "visibility"),
    "ValueRange": ("range", "majorDimension"),
    "UpdateValuesResponse": ("spreadsheetId", "updatedRange"),
    "AppendValuesResponse": ("spreadsheetId", "updates"),
    "BatchUpdateSpreadsheetResponse": ("spreadsheetId", "replies"),
    "BatchUpdateValuesResponse": ("spreadsheetId",),
    "BatchGetValuesResponse": ("spreadsheetId",),
    "ClearValuesResponse": ("spreadsheetId", "clearedRange"),
    "BatchClearValuesResponse": ("spreadsheetId",),
    "DimensionGroup": ("range", "depth"),
}

# google.rpc messages that may appear in error ``details`` (not in the discovery document).
ERROR_DETAILS: dict[str, dict[str, Callable[[Any], bool]]] = {
    "type.googleapis.com/google.rpc.BadRequest": {
        "fieldViolations": lambda v: isinstance(v, list) and all(
            isinstance(x, dict) and set(x) <= {"field", "description", "reason"}
            and all(isinstance(s, str) for s in x.values()) for x in v)},
    "type.googleapis.com/google.rpc.ErrorInfo": {
        "reason": lambda v: isinstance(v, str), "domain": lambda v: isinstance(v, str),
        "metadata": lambda v: isinstance(v, dict) and all(isinstance(s, str) for s in v.values())},
    "type.googleapis.com/google.rpc.Help": {
        "links": lambda v: isinstance(v, list) and all(
            isinstance(x, dict) and set(x) <= {"description", "url"} for x in v)},
}
STATUSES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
            404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


@cache
def document() -> dict[str, Any]:
    with open(DOC_PATH, encoding="utf-8") as f:
        return dict(json.load(f))


def revision() -> str:
    return str(document()["revision"])


@dataclass(frozen=True)
class Method:
    id: str
    http_method: str
    pattern: re.Pattern[str]
    response: str


def _methods(resource: dict[str, Any]) -> Iterable[dict[str, Any]]:
    for sub in resource.get("resources", {}).values():
        yield from sub.get("methods", {}).values()
        yield from _methods(sub)


@cache
def methods() -> tuple[Method, ...]:
    out = []
    for m in _methods(document()):
        parts = re.split(r"(\{[^}]+\})", "/" + m["flatPath"])
        regex = "".join("[^/]+?" if p.startswith("{") else re.escape(p) for p in parts)
        out.append(Method(m["id"], m["httpMethod"], re.compile(f"^{regex}$"), m["response"]["$ref"]))
    # literal paths first: ".../values:batchGet" must not be read as ".../values/{range}"
    return tuple(sorted(out, key=lambda m: -len(m.pattern.pattern.replace("[^/]+?", ""))))


def method_for(http_method: str, path: str) -> Method | None:
    """The discovery method serving ``http_method path`` (path as sent, percent-encoded)."""
    for m in methods():
        if m.http_method == http_method and m.pattern.match(path):
            return m
    return None


def _type_ok(value: Any, schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        if schema.get("format") in ("int64", "uint64"):
            return isinstance(value, str) and value.lstrip("-").isdigit()
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    return kind == "any" or kind is None


def validate(value: Any, schema: dict[str, Any] | str, path: str = "$", masked: bool = False) -> list[str]:
    """Problems of ``value`` against ``schema`` (a schema dict or a schema name)."""
    schemas = document()["schemas"]
    name = schema if isinstance(schema, str) else schema.get("$ref")
    if name is not None:
        return _validate_object(value, name, schemas[name], path, masked)
    assert isinstance(schema, dict)
    if not _type_ok(value, schema):
        return [f"{path}: expected {schema.get('type')}, got {type(value).__name__} {value!r:.60}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path}: {value!r} is not one of {schema['enum']}"]
    problems: list[str] = []
    if schema.get("type") == "array":
        for i, item in enumerate(value):
            problems += validate(item, schema["items"], f"{path}[{i}]", masked)
    elif schema.get("type") == "object" and "additionalProperties" in schema:
        for key, item in value.items():
            problems += validate(item, schema["additionalProperties"], f"{path}.{key}", masked)
    return problems


def _validate_object(value: Any, name: str, schema: dict[str, Any], path: str, masked: bool) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected a {name} object, got {type(value).__name__}"]
    props = schema.get("properties", {})
    problems = [f"{path}.{key}: not a property of {name}" for key in value if key not in props]
    for key, item in value.items():
        if key in props:
            problems += validate(item, props[key], f"{path}.{key}", masked)
    if not masked:
        problems += [f"{path}: {name} lacks required {key}" for key in REQUIRED.get(name, ())
                     if key not in value]
    return problems


def validate_error(body: Any, status: int) -> list[str]:
    """Problems of an error body against ``google.rpc.Status`` as Google serialises it."""
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        return [f"error body must be {{'error': {{...}}}}, got {body!r:.80}"]
    err = body["error"]
    problems = [f"error.{k}: unexpected" for k in err if k not in ("code", "message", "status", "details")]
    if err.get("code") != status:
        problems.append(f"error.code {err.get('code')!r} != HTTP status {status}")
    if not isinstance(err.get("message"), str) or not err.get("message"):
        problems.append("error.message must be a non-empty string")
    if err.get("status") != STATUSES.get(status, err.get("status")):
        problems.append(f"error.status {err.get('status')!r} should be {STATUSES.get(status)}")
    for i, detail in enumerate(err.get("details", [])):
        fields = ERROR_DETAILS.get(str(detail.get("@type"))) if isinstance(detail, dict) else None
        if fields is None:
            problems.append(f"error.details[{i}]: unknown @type {detail!r:.80}")
            continue
        for key, value in detail.items():
            if key != "@type" and (key not in fields or not fields[key](value)):
                problems.append(f"error.details[{i}].{key}: not valid for {detail['@type']}")
    return problems


def check_response(http_method: str, path: str, status: int, body: Any, masked: bool = False) -> list[str]:
    """Problems of one answer of the emulator's ``/v4`` API."""
    if status >= 400:
        return validate_error(body, status)
    method = method_for(http_method, path)
    if method is None:
        return [f"{http_method} {path}: not a method of the discovery document"]
    return validate(body, method.response, "$", masked)


class ValidatingApp:
    """WSGI middleware: checks every ``/v4`` answer; ``problems`` collects what failed."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.problems: list[str] = []
        self.checked = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/v4/"):
            return self.app(environ, start_response)
        seen: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"] = int(status.split()[0])
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        chunks = list(self.app(environ, capture))
        raw = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or path).split("?", 1)[0]
        masked = "fields=" in environ.get("QUERY_STRING", "")
        try:
            body = json.loads(b"".join(chunks) or b"null")
        except ValueError:
            self.problems.append(f"{environ['REQUEST_METHOD']} {raw}: answer is not JSON")
        else:
            self.checked += 1
            self.problems += [f"{environ['REQUEST_METHOD']} {raw}: {p}" for p in
                              check_response(environ["REQUEST_METHOD"], raw, seen.get("status", 200),
                                             body, masked)]
        return chunks
