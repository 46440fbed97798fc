"""Checks of the public address: reachable, answering Trello's HEAD, and the OAuth redirect URIs."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from ..models import Workspace
from ..trello.webhooks import callback_url
from .context import DoctorContext
from .report import Finding, fail, ok, skip, warn

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
SET_PUBLIC_URL = ("set PUBLIC_BASE_URL to the https address people and Trello reach this server at "
                  "(scheme and host only, e.g. https://leads.example.com)")


def _url_problem(url: str, production: bool) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"PUBLIC_BASE_URL {url!r} is not an absolute http(s) URL"
    if parts.query or parts.fragment:
        return f"PUBLIC_BASE_URL {url!r} carries a query or fragment"
    if production and parts.scheme != "https":
        return f"PUBLIC_BASE_URL {url!r} is not https (Google refuses http redirect URIs outside localhost)"
    if production and parts.hostname in LOOPBACK_HOSTS:
        return f"PUBLIC_BASE_URL {url!r} is a loopback address Trello and Google cannot reach"
    return ""


def _first_workspace(ctx: DoctorContext) -> str | None:
    with ctx.engine().connect() as connection:
        return connection.execute(select(Workspace.id).order_by(Workspace.created_at).limit(1)).scalar()


def public_url(ctx: DoctorContext) -> Finding:
    """PUBLIC_BASE_URL well formed, serving this app, and answering 200 to HEAD on the Trello webhook path."""
    name = "public_url"
    problem = _url_problem(ctx.public_base_url, ctx.production)
    if problem:
        return fail(name, problem, SET_PUBLIC_URL)
    health = ctx.public_base_url.rstrip("/") + "/health"
    try:
        resp = ctx.http.get(health, timeout=ctx.timeout_s, allow_redirects=False)
    except requests.RequestException as exc:
        return fail(name, f"{health} cannot be reached ({type(exc).__name__})",
                    "start the web process, or " + SET_PUBLIC_URL)
    if resp.status_code != 200 or not _is_health(resp):
        return fail(name, f"{health} answered {resp.status_code}, not this app's health check",
                    SET_PUBLIC_URL + "; a redirect means the address is not the final one")
    try:
        workspace_id = _first_workspace(ctx)
    except SQLAlchemyError:
        return warn(name, f"{health} answers, but the webhook path was not checked (database unreachable)",
                    "fix the database (see the database check), then run doctor again")
    if workspace_id is None:
        return ok(name, f"{health} answers (no workspace yet, so no webhook path to check)")
    hook = callback_url(ctx.public_base_url, workspace_id)
    try:
        head = ctx.http.head(hook, timeout=ctx.timeout_s, allow_redirects=False)
    except requests.RequestException as exc:
        return fail(name, f"HEAD {hook} failed ({type(exc).__name__})", SET_PUBLIC_URL)
    if head.status_code != 200:
        return fail(name, f"HEAD {hook} answered {head.status_code}; Trello needs 200 (it follows no redirects)",
                    SET_PUBLIC_URL + ", and let the proxy pass HEAD /webhooks/trello/* through")
    return ok(name, f"{health} answers and HEAD on the Trello webhook path answers 200")


def _is_health(resp: requests.Response) -> bool:
    try:
        return resp.json().get("status") == "ok"
    except ValueError:
        return False


def webhook_callbacks(ctx: DoctorContext) -> Finding:
    """The webhooks Trello holds were registered at the current public address."""
    name = "webhook_callbacks"
    base = ctx.public_base_url.rstrip("/") + "/webhooks/trello/"
    try:
        with ctx.engine().connect() as connection:
            stored = connection.execute(select(Workspace.id, Workspace.trello_webhook_callback)
                                        .where(Workspace.trello_webhook_callback.is_not(None))).all()
    except SQLAlchemyError:
        return skip(name, "database unreachable")
    stale = [workspace_id for workspace_id, url in stored if not url.startswith(base)]
    if stale:
        shown = ", ".join(stale[:5]) + (" ..." if len(stale) > 5 else "")
        return fail(name, f"{len(stale)} workspace(s) have Trello webhooks at another address ({shown})",
                    "on each workspace's dashboard page press Disconnect, then Reconnect: the webhook is "
                    "registered again at PUBLIC_BASE_URL")
    return ok(name, f"{len(stored)} registered webhook(s) point at PUBLIC_BASE_URL")


def google_metadata(ctx: DoctorContext) -> dict[str, str]:
    resp = ctx.http.get(ctx.google_metadata_url, timeout=ctx.timeout_s)
    resp.raise_for_status()
    data = resp.json()
    return {"authorization_endpoint": data["authorization_endpoint"], "token_endpoint": data["token_endpoint"]}


def google_redirect_uri(ctx: DoctorContext) -> Finding:
    """Google's authorization endpoint accepts our redirect URI for our client id."""
    name = "google_redirect_uri"
    if not ctx.google_client_id:
        return skip(name, "GOOGLE_CLIENT_ID is empty (see google_client)")
    uri = ctx.google_redirect_uri
    try:
        endpoint = google_metadata(ctx)["authorization_endpoint"]
        resp = ctx.http.get(endpoint, timeout=ctx.timeout_s, allow_redirects=False, params={
            "client_id": ctx.google_client_id, "redirect_uri": uri, "response_type": "code",
            "scope": ctx.google_scopes})
    except (requests.RequestException, ValueError, KeyError) as exc:
        return fail(name, f"Google's OAuth endpoints cannot be read from {ctx.google_metadata_url} "
                          f"({type(exc).__name__})", "check GOOGLE_SERVER_METADATA_URL and outbound network access")
    error = _google_auth_error(resp)
    if error == "redirect_uri_mismatch":
        return fail(name, f"Google refuses the redirect URI {uri}",
                    f"add {uri} to the OAuth client's Authorized redirect URIs in Google Cloud Console "
                    "(APIs & Services > Credentials), or correct PUBLIC_BASE_URL")
    if error == "invalid_client":
        return skip(name, "Google does not know the client id (see google_client)")
    if error:
        return fail(name, f"Google's sign-in page answers {error!r} for {uri}",
                    "check the OAuth client in Google Cloud Console")
    return ok(name, f"Google accepts {uri}")


def _google_auth_error(resp: requests.Response) -> str:
    """The error Google's authorization endpoint shows: in its error page, or in the ``authError``
    of the error page it redirects to (base64 of a message naming the error)."""
    text = resp.text if resp.status_code >= 400 else ""
    location = resp.headers.get("Location", "") if 300 <= resp.status_code < 400 else ""
    if "/signin/oauth/error" in location:
        for value in parse_qs(urlsplit(location).query).get("authError", []):
            try:
                text += base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("latin-1")
            except (binascii.Error, ValueError):
                continue
        text = text or "error"
    for known in ("redirect_uri_mismatch", "invalid_client", "invalid_request"):
        if known in text:
            return known
    return "error" if text else ""


def trello_redirect_uri(ctx: DoctorContext) -> Finding:
    """The Trello connect callback is on the public address, over https in production."""
    name = "trello_redirect_uri"
    uri = ctx.trello_redirect_uri
    problem = _url_problem(ctx.public_base_url, ctx.production)
    if problem:
        return fail(name, f"the Trello callback {uri} is built from a bad PUBLIC_BASE_URL", SET_PUBLIC_URL)
    if urlsplit(uri).netloc != urlsplit(ctx.public_base_url).netloc:
        return fail(name, f"the Trello callback {uri} is not on PUBLIC_BASE_URL's host", SET_PUBLIC_URL)
    return ok(name, f"Trello sends people back to {uri} (sent as oauth_callback; see trello_secret)")
