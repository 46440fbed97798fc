"""Checks that the provider credentials work: Trello key and secret, Google OAuth client."""

from __future__ import annotations

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth1Session

from .context import DoctorContext
from .report import Finding, fail, ok, skip
from .web import google_metadata

TRELLO_KEY_PAGE = "https://trello.com/power-ups/admin (your Power-Up > API key)"
PROBE_CODE = "doctor-probe-not-a-real-code"


def _trello_key_refused(ctx: DoctorContext) -> bool | None:
    """Does Trello refuse the key itself? A call with the key and no token: a valid key gets
    "invalid token" (or another refusal), an unknown one "invalid key". None: no answer."""
    try:
        resp = ctx.http.get(ctx.trello_api_base_url.rstrip("/") + "/members/me",
                            params={"key": ctx.trello_api_key}, timeout=ctx.timeout_s)
    except requests.RequestException:
        return None
    return resp.status_code == 401 and "invalid key" in resp.text.lower()


def trello_key(ctx: DoctorContext) -> Finding:
    name = "trello_key"
    if not ctx.trello_api_key:
        return fail(name, "TRELLO_API_KEY is empty", f"set TRELLO_API_KEY to the key shown at {TRELLO_KEY_PAGE}")
    refused = _trello_key_refused(ctx)
    if refused is None:
        return fail(name, f"Trello cannot be reached at {ctx.trello_api_base_url}",
                    "check TRELLO_API_BASE_URL and outbound network access")
    if refused:
        return fail(name, "Trello answers 'invalid key' for TRELLO_API_KEY",
                    f"copy the key again from {TRELLO_KEY_PAGE}")
    return ok(name, "Trello accepts TRELLO_API_KEY")


def trello_secret(ctx: DoctorContext) -> Finding:
    """The secret belongs to the key: an OAuth request token signed with both is granted."""
    name = "trello_secret"
    if not ctx.trello_api_key:
        return skip(name, "TRELLO_API_KEY is empty (see trello_key)")
    if not ctx.trello_api_secret:
        return fail(name, "TRELLO_API_SECRET is empty: Trello webhook signatures cannot be verified "
                          "(every delivery is refused) and Trello accounts cannot be connected",
                    f"set TRELLO_API_SECRET to the secret shown next to the key at {TRELLO_KEY_PAGE}")
    client = OAuth1Session(ctx.trello_api_key, ctx.trello_api_secret, redirect_uri=ctx.trello_redirect_uri)
    try:
        client.fetch_request_token(ctx.trello_oauth_base_url.rstrip("/") + "/OAuthGetRequestToken",
                                   timeout=ctx.timeout_s)
    except requests.RequestException as exc:
        return fail(name, f"Trello cannot be reached at {ctx.trello_oauth_base_url} ({type(exc).__name__})",
                    "check TRELLO_OAUTH_BASE_URL and outbound network access")
    except (OAuthError, ValueError):
        if _trello_key_refused(ctx):
            return skip(name, "the key itself is refused (see trello_key)")
        return fail(name, "Trello refuses requests signed with TRELLO_API_KEY and TRELLO_API_SECRET: "
                          "the secret does not belong to the key",
                    f"copy the secret shown next to the key at {TRELLO_KEY_PAGE} into TRELLO_API_SECRET")
    finally:
        client.close()
    return ok(name, "Trello grants an OAuth request token signed with the key and secret")


def google_client(ctx: DoctorContext) -> Finding:
    """The token endpoint answers ``invalid_grant`` (not ``invalid_client``) to a made-up code."""
    name = "google_client"
    if not ctx.google_client_id or not ctx.google_client_secret:
        missing = " and ".join(n for n, v in (("GOOGLE_CLIENT_ID", ctx.google_client_id),
                                              ("GOOGLE_CLIENT_SECRET", ctx.google_client_secret)) if not v)
        return fail(name, f"{missing} empty: nobody can sign in",
                    "create an OAuth client (Web application) in Google Cloud Console and set both")
    try:
        endpoint = google_metadata(ctx)["token_endpoint"]
        resp = ctx.http.post(endpoint, timeout=ctx.timeout_s, data={
            "grant_type": "authorization_code", "code": PROBE_CODE, "redirect_uri": ctx.google_redirect_uri,
            "client_id": ctx.google_client_id, "client_secret": ctx.google_client_secret})
    except (requests.RequestException, ValueError, KeyError) as exc:
        return fail(name, f"Google's token endpoint cannot be reached ({type(exc).__name__})",
                    "check GOOGLE_SERVER_METADATA_URL and outbound network access")
    try:
        body = resp.json()
    except ValueError:
        body = {}
    error = body.get("error", "") if isinstance(body, dict) else ""
    if error == "invalid_client":
        detail = str(body.get("error_description", ""))
        which = "GOOGLE_CLIENT_ID is unknown to Google" if "not found" in detail.lower() \
            else "GOOGLE_CLIENT_SECRET does not match the client id"
        return fail(name, f"Google answers invalid_client: {which}",
                    "copy the client id and secret again from Google Cloud Console (APIs & Services > Credentials)")
    if error in ("invalid_grant", "redirect_uri_mismatch"):
        return ok(name, "Google accepts GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET")
    return fail(name, f"Google's token endpoint answered {resp.status_code} {error or 'without an OAuth error'}",
                "check GOOGLE_SERVER_METADATA_URL points at Google's (or the emulator's) discovery document")
