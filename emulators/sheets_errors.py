"""Error answers in Google's JSON shape (``google.rpc.Status`` with ``details``).

Google answers ``{"error": {"code", "message", "status", "details": [...]}}``; ``details`` holds
typed messages such as ``google.rpc.BadRequest`` (which field was wrong) and
``google.rpc.ErrorInfo`` (a machine-readable reason). Plain validation errors (a range that does
not parse, a batchUpdate request that cannot apply) come without ``details``, as on Google.
"""

from __future__ import annotations

from typing import Any, ClassVar

SERVICE = "sheets.googleapis.com"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
HELP = "type.googleapis.com/google.rpc.Help"

# Operation → the RPC method name Google reports in ErrorInfo.metadata.method.
RPC_METHODS = {
    "spreadsheets.get": "GetSpreadsheet", "spreadsheets.create": "CreateSpreadsheet",
    "spreadsheets.batchUpdate": "BatchUpdateSpreadsheet", "values.get": "GetValues",
    "values.batchGet": "BatchGetValues", "values.update": "UpdateValues",
    "values.batchUpdate": "BatchUpdateValues", "values.append": "AppendValues",
    "values.clear": "ClearValues", "values.batchClear": "BatchClearValues",
    "developerMetadata.search": "SearchDeveloperMetadata",
    "developerMetadata.get": "GetDeveloperMetadata",
}


class ApiError(Exception):
    """An error answered as Google does; ``details`` are ``google.rpc`` messages."""

    STATUSES: ClassVar[dict[int, str]] = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}

    def __init__(self, code: int, message: str, status: str | None = None,
                 details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or self.STATUSES.get(code, "UNKNOWN")
        self.details = details or []

    def for_operation(self, op: str) -> ApiError:
        """Fill in the RPC method of any ErrorInfo (known only once the request is routed)."""
        method = RPC_METHODS.get(op)
        for detail in self.details:
            if detail.get("@type") == ERROR_INFO and method:
                detail.setdefault("metadata", {}).setdefault(
                    "method", f"google.apps.sheets.v4.SpreadsheetsService.{method}")
        return self

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            body["details"] = self.details
        return {"error": body}


def not_found() -> ApiError:
    return ApiError(404, "Requested entity was not found.")


def field_violation(field: str, message: str, description: str | None = None) -> ApiError:
    """A 400 carrying ``google.rpc.BadRequest`` naming the offending ``field``."""
    return ApiError(400, message, details=[{
        "@type": BAD_REQUEST,
        "fieldViolations": [{"field": field, "description": description or message}]}])


def invalid_enum(field: str, value: str, enum_type: str) -> ApiError:
    """Google's answer to an unknown enum value in a query parameter or body field."""
    return field_violation(
        field, f"Invalid value at '{field}' (type.googleapis.com/google.apps.sheets.v4.{enum_type}), "
               f"\"{value}\"", f"Invalid value at '{field}' (TYPE_ENUM), \"{value}\"")


def invalid_json(detail: str, field: str = "") -> ApiError:
    """Google's answer to a body that is not JSON or names an unknown field."""
    text = f"Invalid JSON payload received. {detail}"
    return field_violation(field, text, text)


def wrong_shape(field: str, exc: Exception) -> ApiError:
    """A body part of the wrong JSON type or shape (what Google's JSON decoding rejects)."""
    return field_violation(field, f"Invalid value at '{field}': the request body does not have the "
                                  f"documented shape ({type(exc).__name__}: {exc})")


def unauthenticated(message: str, reason: str) -> ApiError:
    """401 with ``ErrorInfo`` (``CREDENTIALS_MISSING``, ``ACCESS_TOKEN_TYPE_UNSUPPORTED``…)."""
    return ApiError(401, message, details=[{
        "@type": ERROR_INFO, "reason": reason, "domain": "googleapis.com",
        "metadata": {"service": SERVICE}}])


def quota_exceeded(message: str, metric: str, limit_name: str, limit_value: int) -> ApiError:
    """429 with ``ErrorInfo`` ``RATE_LIMIT_EXCEEDED`` and a ``Help`` link, as Google sends it."""
    return ApiError(429, message, details=[
        {"@type": ERROR_INFO, "reason": "RATE_LIMIT_EXCEEDED", "domain": "googleapis.com",
         "metadata": {"service": SERVICE, "quota_metric": metric, "quota_limit": limit_name,
                      "quota_limit_value": str(limit_value), "consumer": "projects/000",
                      "quota_location": "global"}},
        {"@type": HELP, "links": [{
            "description": "Request a higher quota limit.",
            "url": "https://cloud.google.com/docs/quotas/help/request_increase"}]}])
