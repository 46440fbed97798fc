"""The dashboard's forms need a CSRF token; its pages are locked down (CSP, no framing) while the
Power-Up pages stay framable by Trello; production forces HTTPS, HSTS and secure cookies."""

from __future__ import annotations

import re
from typing import Any

from server.extensions import db
from tests.conftest import make_app
from tests.dashboard.helpers import (
    login,
    page,
    workspace,
)


def test_forms_are_refused_without_a_csrf_token(sqlite_url):
    app = make_app(sqlite_url, WTF_CSRF_ENABLED=True)
    from server.seed import seed_workspace

    with app.app_context():
        ws = seed_workspace(db.session, email="ann@example.com", trello_member_id="m1", trello_username="ann",
                            trello_token="t", google_token="g", spreadsheet_id="s" * 20, sheet_name="Leads",
                            board_id="b" * 24, mapping={"status_to_list": {"new": "l1"}})
        ws_id = ws.id
    client = app.test_client()
    login(client, app)
    for url in (f"/app/workspaces/{ws_id}/pause", f"/app/workspaces/{ws_id}/sync", "/auth/logout",
                f"/app/workspaces/{ws_id}/delete", f"/app/workspaces/{ws_id}/members", "/app/workspaces/new"):
        response = client.post(url, data={"confirm": "yes", "email": "x@example.com", "step": "sheet"})
        assert response.status_code == 400, url
    assert workspace(app, ws_id).state == "active"
    html = page(client, f"/app/workspaces/{ws_id}")
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    response = client.post(f"/app/workspaces/{ws_id}/pause", data={"csrf_token": token + "x"})
    assert response.status_code == 400
    response = client.post(f"/app/workspaces/{ws_id}/pause", data={"csrf_token": token})
    assert response.status_code == 302 and workspace(app, ws_id).state == "paused"
    # the JSON APIs and webhooks are not CSRF-protected (they are signed instead)
    assert client.post(f"/webhooks/sheets/{ws_id}", data=b"{}").status_code == 401


def test_security_headers_dashboard_and_powerup(client):
    dashboard = client.get("/app/workspaces/new")
    csp = dashboard.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert dashboard.headers["X-Frame-Options"] == "DENY"
    assert dashboard.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in dashboard.headers  # not production
    for path in ("/powerup/index.html", "/powerup/"):
        powerup = client.get(path)
        assert powerup.status_code == 200
        assert "X-Frame-Options" not in powerup.headers
        assert "frame-ancestors https://trello.com" in powerup.headers["Content-Security-Policy"]
        assert "'none'" not in powerup.headers["Content-Security-Policy"].split("frame-ancestors")[1].split(";")[0]
    api = client.get("/api/powerup/boards/" + "a" * 24)
    assert api.status_code in (401, 503) and api.is_json
    assert client.get("/health").get_json() == {"status": "ok"}
    assert client.head("/webhooks/trello/ws_nothing").status_code == 404


def production_app(sqlite_url: str, **overrides: Any):
    from server.crypto import generate_key

    return make_app(sqlite_url, APP_ENV="production", SECRET_KEY="a-long-production-secret-key-0123456789",
                    TOKEN_ENCRYPTION_KEY=generate_key(), **overrides)


def test_production_forces_https_hsts_and_secure_cookies(sqlite_url):
    app = production_app(sqlite_url)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    client = app.test_client()
    plain = client.get("/app/workspaces/new")
    assert plain.status_code == 302 and plain.headers["Location"].startswith("https://")
    assert client.get("/health").status_code == 200  # probes are not redirected
    secure = app.test_client()
    login(secure, app)
    response = secure.post("/auth/logout", base_url="https://leads.example.com")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page_response = secure.get("/app/connections", base_url="https://leads.example.com")
    assert page_response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    # HTTPS is what the WSGI server says (gunicorn believes X-Forwarded-Proto only from
    # FORWARDED_ALLOW_IPS): the header alone, over plain HTTP, is a client's claim
    spoofed = client.get("/app/login", headers={"X-Forwarded-Proto": "https"})
    assert spoofed.status_code == 302 and spoofed.headers["Location"].startswith("https://")
    assert "Strict-Transport-Security" not in spoofed.headers
    proxied = client.get("/powerup/index.html", base_url="https://leads.example.com")
    assert proxied.status_code == 200 and "X-Frame-Options" not in proxied.headers
    assert "frame-ancestors https://trello.com" in proxied.headers["Content-Security-Policy"]


def test_development_cookies_are_not_secure_only(app):
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
