"""Doctor pieces without a deployment: Google's redirecting error page, an unreachable database, the report."""

from __future__ import annotations

import base64
import json
import socket

import requests

from server.doctor import DoctorContext, Finding, Report, Status, run_checks
from server.doctor.web import _google_auth_error


def _response(status: int, *, location: str = "", body: str = "") -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = body.encode()
    if location:
        resp.headers["Location"] = location
    return resp


def test_google_error_is_read_from_its_page_or_from_the_error_page_it_redirects_to() -> None:
    auth_error = base64.urlsafe_b64encode(b"\n\x15redirect_uri_mismatch\x12\x04...").decode().rstrip("=")
    redirected = _response(302, location="https://accounts.google.com/signin/oauth/error/v2?authError="
                                          f"{auth_error}&client_id=x.apps.googleusercontent.com")
    assert _google_auth_error(redirected) == "redirect_uri_mismatch"
    assert _google_auth_error(_response(400, body="<b>Error 400: redirect_uri_mismatch</b>")) == "redirect_uri_mismatch"
    assert _google_auth_error(_response(401, body="Error 401: invalid_client")) == "invalid_client"
    assert _google_auth_error(_response(302, location="https://accounts.google.com/v3/signin/identifier?x=1")) == ""
    assert _google_auth_error(_response(200, body="Sign in - Google Accounts")) == ""


def test_an_unreachable_database_fails_once_and_skips_what_needs_it(tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = DoctorContext(public_base_url="http://127.0.0.1:5000", migrations_dir="migrations",
                        database_url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/nothing", timeout_s=2)
    try:
        found = run_checks(ctx, only={"database", "migrations", "encryption_key", "webhook_callbacks"}).by_check()
    finally:
        ctx.close()
    assert found["database"].status is Status.FAIL
    assert found["database"].message.startswith(f"cannot connect to postgresql+psycopg://postgres@127.0.0.1:{port}/nothing")
    assert "check DATABASE_URL" in found["database"].fix
    assert {found[name].status for name in ("migrations", "encryption_key", "webhook_callbacks")} == {Status.SKIP}


def test_report_lines_and_json() -> None:
    report = Report([Finding("database", Status.OK, "answers"),
                     Finding("trello_key", Status.FAIL, "Trello answers 'invalid key'", "copy the key again"),
                     Finding("encryption_key", Status.WARN, "derived key", "set TOKEN_ENCRYPTION_KEY")])
    assert report.lines() == [
        "OK   database: answers",
        "FAIL trello_key: Trello answers 'invalid key' -> fix: copy the key again",
        "WARN encryption_key: derived key -> fix: set TOKEN_ENCRYPTION_KEY",
        "doctor: 1 problem(s) found (1 ok, 1 warning(s), 1 failed, 0 skipped)",
    ]
    data = json.loads(json.dumps(report.as_json()))
    assert data["ok"] is False and data["summary"] == {"ok": 1, "warn": 1, "fail": 1, "skip": 0}
    assert data["checks"][1] == {"check": "trello_key", "status": "fail", "message": "Trello answers 'invalid key'",
                                 "fix": "copy the key again", "elapsed_ms": 0}
    assert Report([Finding("database", Status.WARN, "x", "y")]).ok


def test_public_url_shape_is_checked_before_any_call() -> None:
    from server.doctor.web import public_url

    for url, production, expected in (
        ("leads.example.com", False, "is not an absolute http(s) URL"),
        ("https://leads.example.com/?x=1", False, "carries a query or fragment"),
        ("http://leads.example.com", True, "is not https"),
        ("https://localhost", True, "is a loopback address"),
    ):
        ctx = DoctorContext(public_base_url=url, database_url="sqlite://", migrations_dir="migrations",
                            production=production)
        finding = public_url(ctx)
        ctx.close()
        assert finding.status is Status.FAIL and expected in finding.message, (url, finding)
        assert finding.fix.startswith("set PUBLIC_BASE_URL to the https address")
