"""Security headers (Flask-Talisman) for the whole app, without breaking the Power-Up's iframes.

- Dashboard and everything else: ``Content-Security-Policy`` with ``default-src 'self'`` (no inline
  script or style: the pages use ``/static/app.css`` and ``/static/workspace.js``) and
  ``frame-ancestors 'none'``, plus ``X-Frame-Options: DENY``, ``nosniff`` and a referrer policy.
- ``/powerup/...``: Trello frames these pages, so Talisman sets neither a CSP nor
  ``X-Frame-Options`` there; the Power-Up blueprint sets its own ``frame-ancestors https://trello.com``.
- ``/demo`` (registered by the local demo only): the dashboard's policy plus ``frame-src`` for the
  emulators' origins in ``DEMO_FRAME_ORIGINS``; still no inline script or style.
- Production (``APP_ENV=production``): HTTPS is forced (a plain-HTTP request is redirected), HSTS
  is sent, and the session cookie is ``Secure``; ``HttpOnly`` and ``SameSite=Lax`` always.
  ``FORCE_HTTPS=0`` turns the redirect off (a proxy that terminates TLS without saying so, or a
  loopback test of the production processes); HSTS is only ever sent on HTTPS requests anyway.
- What counts as HTTPS is the WSGI scheme alone (``request.is_secure``): gunicorn sets it from
  ``X-Forwarded-Proto`` only when the request comes from an address in ``FORWARDED_ALLOW_IPS``
  (``gunicorn.conf.py``). Talisman on its own also believes the header from anyone; that is
  switched off here, so a client cannot claim HTTPS past a proxy that did not vouch for it.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g, redirect, request
from flask_talisman import Talisman
from werkzeug.wrappers import Response

from .config import settings_of

POWERUP_PREFIX = "/powerup"
# Probes from the platform may come over plain HTTP from inside the network.
PROBE_PATHS = ("/health", "/ready", "/metrics")  # /metrics: scraped from inside, token-protected

DASHBOARD_CSP = {
    "default-src": "'self'",
    "img-src": "'self' data:",
    "style-src": "'self'",
    "script-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
}


DEMO_PAGE = "/demo"


def _demo_policy(origins: str) -> dict[str, str]:
    """The dashboard's policy, plus framing the emulators' UIs (the local demo's page only)."""
    return {**DASHBOARD_CSP, "frame-src": " ".join(["'self'", *origins.split()])}


def _is_powerup_page() -> bool:
    path = request.path
    return path == POWERUP_PREFIX or path.startswith(POWERUP_PREFIX + "/")


class _Talisman(Talisman):
    """Talisman that leaves framing headers of the Power-Up pages to their blueprint, and takes the
    scheme from the WSGI server (which trusts forwarding headers only from the configured proxies)."""

    def _force_https(self) -> Response | None:
        if self.session_cookie_secure and not self.app.debug:
            self.app.config["SESSION_COOKIE_SECURE"] = True
        if self.app.debug or request.is_secure or not self._get_local_options()["force_https"]:
            return None
        if request.url.startswith("http://"):
            code = 301 if self.force_https_permanent else 302
            return redirect(request.url.replace("http://", "https://", 1), code=code)
        return None

    def _set_hsts_headers(self, headers: dict[str, str]) -> None:
        if self.strict_transport_security and request.is_secure:
            super()._set_hsts_headers(headers)

    def _get_local_options(self) -> dict[str, Any]:
        options = dict(super()._get_local_options())
        if _is_powerup_page():
            options["frame_options"] = None
            options["content_security_policy"] = None
        if request.path in PROBE_PATHS:
            options["force_https"] = False
        frame_origins = self.app.config.get("DEMO_FRAME_ORIGINS")
        if frame_origins and request.path == DEMO_PAGE:
            options["content_security_policy"] = _demo_policy(str(frame_origins))
        extra = g.get(_EXTRA_SOURCES)
        if extra and options.get("content_security_policy"):
            policy = dict(options["content_security_policy"])
            for directive, sources in extra.items():
                policy[directive] = f"{policy.get(directive, policy['default-src'])} {sources}"
            options["content_security_policy"] = policy
        return options


_EXTRA_SOURCES = "csp_extra_sources"


def allow_on_this_page(directive: str, *sources: str) -> None:
    """Add ``sources`` to one CSP directive of the current response only (a page that embeds a
    third-party widget, e.g. Google Picker on the wizard's spreadsheet step)."""
    extra = g.setdefault(_EXTRA_SOURCES, {})
    extra[directive] = " ".join(dict.fromkeys([*extra.get(directive, "").split(), *sources]))


def init_security(app: Flask) -> Talisman:
    settings = settings_of(app)
    production = settings.production
    force_https = production if settings.force_https is None else settings.force_https
    talisman = _Talisman()
    talisman.init_app(
        app,
        force_https=force_https,
        force_https_permanent=False,
        strict_transport_security=production,
        strict_transport_security_max_age=31536000,
        strict_transport_security_include_subdomains=False,
        content_security_policy=DASHBOARD_CSP,
        frame_options="DENY",
        referrer_policy="strict-origin-when-cross-origin",
        session_cookie_secure=production,
        session_cookie_http_only=True,
        session_cookie_samesite=app.config.get("SESSION_COOKIE_SAMESITE") or "Lax",
        x_xss_protection=False,  # obsolete header; the CSP is the protection
        permissions_policy={"geolocation": "()", "microphone": "()", "camera": "()"},
    )
    app.extensions["talisman"] = talisman
    return talisman


__all__ = ["init_security", "DASHBOARD_CSP", "allow_on_this_page"]
