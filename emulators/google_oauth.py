"""A small OpenID Connect provider standing in for Google's (accounts.google.com + oauth2.googleapis.com).

Run by hand with ``python -m emulators.google_oauth --port 8103 --user ann@example.com``.

What it serves, answering like Google (status codes, error JSON ``{"error", "error_description"}``):

- ``/.well-known/openid-configuration``: discovery; ``issuer`` is the emulator's base URL.
- ``/o/oauth2/v2/auth``: the account chooser. Unknown ``client_id`` or an unregistered
  ``redirect_uri`` get an error page (never a redirect). A user is picked, and the browser sent to
  ``redirect_uri`` with ``code`` and ``state``, when ``login_hint`` names a known user, when
  ``auto=1`` is given, when ``auto_approve_as`` is set, or when the chooser form is posted.
  ``deny=1`` (or the form's Cancel) answers ``error=access_denied``.
- ``/token``: ``authorization_code`` (client id and secret checked, by HTTP Basic or in the body;
  PKCE checked when a challenge was sent; a ``refresh_token`` only when ``access_type=offline``
  *and* ``prompt=consent`` were asked; an RS256 ``id_token`` when ``openid`` was asked),
  ``refresh_token`` (``invalid_grant`` once the grant is revoked), and
  ``urn:ietf:params:oauth:grant-type:jwt-bearer`` for service accounts (the assertion's RS256
  signature is checked against the registered public key).
- ``/oauth2/v3/certs`` (JWKS), ``/v1/userinfo``, ``/revoke``.
- ``/_emulator/...``: control API (users, tokens, revoke, faults, ``POST /_emulator/picked``).

Scopes are enforced in a linked ``SheetsEmulator`` (``emulators/google_grants.py``): a token
granted only ``drive.file`` reaches the spreadsheets the user picked with Google Picker
(``pick_file``, what the Picker does when a file is chosen with ``setAppId`` = ``project_number``)
or that the app created; other spreadsheets answer 403 ``PERMISSION_DENIED``.

Access tokens it issues are accepted by the Sheets emulator (which accepts any bearer token); when
a grant is revoked here, its access tokens are revoked in a linked ``SheetsEmulator`` too.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import secrets
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from werkzeug.wrappers import Request, Response

from .common import FaultInjector, Served, serve_forever
from .google_grants import FileGrants, TokenGrant

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
CODE_TTL_S = 600
# Google reports the short scope names with their full URLs.
SCOPE_ALIASES = {"email": "https://www.googleapis.com/auth/userinfo.email",
                 "profile": "https://www.googleapis.com/auth/userinfo.profile"}
AUTH_PARAMS = ("client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "access_type",
               "prompt", "login_hint", "code_challenge", "code_challenge_method", "include_granted_scopes")


@dataclass
class GoogleUser:
    sub: str
    email: str
    name: str
    email_verified: bool = True


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: set[str] = field(default_factory=set)


@dataclass
class Grant:
    """One consent (or one service-account assertion): its refresh token and access tokens."""

    id: str
    client_id: str
    sub: str | None
    scope: list[str]
    via: str
    refresh_token: str | None = None
    access_tokens: list[str] = field(default_factory=list)
    revoked: bool = False
    service_account: str | None = None


@dataclass
class AccessToken:
    value: str
    grant_id: str
    expires_at: float
    via: str


class OAuthFailure(Exception):
    """An OAuth error answer: ``{"error", "error_description"}`` with a status code."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(data), status=status, content_type="application/json; charset=utf-8",
                        headers=headers or {})
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _page(title: str, body: str, status: int = 200) -> Response:
    doc = ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>" + html.escape(title) +
           "</title><style>body{font:15px system-ui,sans-serif;background:#f1f3f4;margin:0}"
           "main{background:#fff;max-width:440px;margin:60px auto;padding:24px 32px;border-radius:8px;"
           "border:1px solid #dadce0}button{font-size:15px;padding:8px 16px;margin:4px 0}"
           "ul{list-style:none;padding:0}li{margin:6px 0}input{font-size:15px;padding:4px}"
           "label{display:block;margin:6px 0}</style></head><body><main>" + body + "</main></body></html>")
    return Response(doc, status=status, content_type="text/html; charset=utf-8")


def _add_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = (parts.query + "&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _normalise_scope(scope: str) -> list[str]:
    out: list[str] = []
    for item in scope.split():
        item = SCOPE_ALIASES.get(item, item)
        if item not in out:
            out.append(item)
    return out


class GoogleOAuthEmulator(Served):
    """The emulator: users, OAuth clients, grants and tokens, served by ``wsgi_app``."""

    def __init__(self, client_id: str = "emulator-client-id", client_secret: str = "emulator-client-secret",
                 redirect_uris: Iterable[str] = (), *, sheets: Any = None, access_token_ttl: int = 3599,
                 auto_approve_as: str | None = None, project_number: str = "123456789012") -> None:
        self._lock = threading.RLock()
        self.project_number = project_number  # the Cloud project of the client (Picker's setAppId)
        self.file_grants = FileGrants()
        self.client_id = client_id
        self.client_secret = client_secret
        self.sheets = sheets
        self.access_token_ttl = int(access_token_ttl)
        self.auto_approve_as = auto_approve_as
        self._key = RSAKey.generate_key(2048, parameters={"kid": "emu-" + secrets.token_hex(8), "alg": "RS256",
                                                           "use": "sig"})
        self._users: dict[str, GoogleUser] = {}  # by sub
        self._clients: dict[str, OAuthClient] = {}
        self._codes: dict[str, dict[str, Any]] = {}
        self._grants: dict[str, Grant] = {}
        self._refresh: dict[str, str] = {}  # refresh token -> grant id
        self._access: dict[str, AccessToken] = {}
        self._service_accounts: dict[str, dict[str, Any]] = {}  # client_email -> {"key", "key_id"}
        self._issued: list[dict[str, Any]] = []
        self.faults = FaultInjector()
        self.wsgi_app: Callable = self.faults.wrap(self._app)
        self.register_client(client_id, client_secret, redirect_uris)

    @property
    def metadata_url(self) -> str:
        return self.base_url + "/.well-known/openid-configuration"

    @property
    def token_endpoint(self) -> str:
        return self.base_url + "/token"

    # ---------------------------------------------------------------- seeding (Python API)

    def add_user(self, email: str, name: str = "", *, email_verified: bool = True) -> str:
        """A Google account; returns its ``sub`` (the same one if the email exists)."""
        with self._lock:
            for user in self._users.values():
                if user.email.lower() == email.lower():
                    return user.sub
            sub = str(100000000000000000000 + secrets.randbelow(10 ** 20))
            self._users[sub] = GoogleUser(sub, email, name or email.split("@")[0].title(), email_verified)
            return sub

    def users(self) -> list[dict[str, Any]]:
        with self._lock:
            return [vars(u).copy() for u in self._users.values()]

    def register_client(self, client_id: str, client_secret: str, redirect_uris: Iterable[str] = ()) -> None:
        """An OAuth client (a "Web application" in Google Cloud console)."""
        with self._lock:
            client = self._clients.setdefault(client_id, OAuthClient(client_id, client_secret))
            client.client_secret = client_secret
            client.redirect_uris.update(redirect_uris)

    def allow_redirect_uri(self, uri: str, client_id: str | None = None) -> None:
        """Register one more authorised redirect URI (the app's port is known only once it runs)."""
        with self._lock:
            self._clients[client_id or self.client_id].redirect_uris.add(uri)

    def register_service_account(self, client_email: str, public_key_pem: str | bytes,
                                 key_id: str | None = None) -> None:
        """A service account whose JWT assertions are verified with this RSA public key."""
        with self._lock:
            self._service_accounts[client_email] = {"key": RSAKey.import_key(public_key_pem), "key_id": key_id}

    def link_sheets(self, sheets: Any) -> None:
        """Revoke access tokens in this Sheets emulator too when a grant is revoked here; and let it
        enforce the scopes of the tokens issued here (``drive.file``: picked files only)."""
        self.sheets = sheets
        if hasattr(sheets, "use_grants"):
            sheets.use_grants(self.token_grant, self.file_grants)

    # ---------------------------------------------------------------- drive.file (Google Picker)

    def token_grant(self, token: str) -> TokenGrant | None:
        """Client, user and scopes of an access token issued here (None: not ours, or a service account)."""
        with self._lock:
            access = self._access.get(token)
            grant = self._grants.get(access.grant_id) if access else None
            if grant is None or grant.sub is None:
                return None
            return TokenGrant(grant.client_id, grant.sub, frozenset(grant.scope))

    def pick_file(self, access_token: str, file_id: str, app_id: str) -> bool:
        """What Google Picker does when the user chooses ``file_id``: with ``setOAuthToken(access_token)``
        and ``setAppId(app_id)`` equal to the client's project number, the client's ``drive.file``
        grant covers the file from then on. False (nothing granted) otherwise, as with Google."""
        grant = self.token_grant(access_token)
        if grant is None or str(app_id) != self.project_number:
            return False
        self.file_grants.grant(grant.client_id, grant.sub, file_id)
        return True

    def grant_file(self, email: str, file_id: str, client_id: str | None = None) -> None:
        """Test helper: ``email`` picked (or the app created) ``file_id`` for ``client_id``."""
        sub = self.add_user(email)
        self.file_grants.grant(client_id or self.client_id, sub, file_id)

    def issue_grant(self, email: str, *, scope: str = "openid email https://www.googleapis.com/auth/spreadsheets",
                    offline: bool = True, client_id: str | None = None) -> dict[str, Any]:
        """Test helper: the token response a completed consent would give (creates the user if needed)."""
        sub = self.add_user(email)
        with self._lock:
            return self._issue(client_id or self.client_id, sub, _normalise_scope(scope), offline, None,
                               "authorization_code")

    def revoke(self, token: str) -> bool:
        """Revoke the grant of a refresh or access token (all its tokens); False if unknown or already revoked."""
        with self._lock:
            grant = self._grant_of(token)
            if grant is None or grant.revoked:
                return False
            grant.revoked = True
            tokens = list(grant.access_tokens)
        if self.sheets is not None:
            for value in tokens:
                self.sheets.revoke_token(value)
        return True

    def issued_tokens(self) -> list[dict[str, Any]]:
        """Every token issued, oldest first: kind, value, via, sub, email, client_id, grant, revoked."""
        with self._lock:
            out = []
            for item in self._issued:
                grant = self._grants[item["grant"]]
                out.append({**item, "revoked": grant.revoked})
            return out

    def expire_access_tokens(self) -> None:
        """Make every issued access token expired (userinfo refuses them)."""
        with self._lock:
            for token in self._access.values():
                token.expires_at = 0.0

    # ---------------------------------------------------------------- internals

    def _grant_of(self, token: str) -> Grant | None:
        grant_id = self._refresh.get(token)
        if grant_id is None and token in self._access:
            grant_id = self._access[token].grant_id
        return self._grants.get(grant_id) if grant_id else None

    def _new_access_token(self, grant: Grant, via: str) -> tuple[str, int]:
        value = "ya29.emu-" + secrets.token_urlsafe(40)
        self._access[value] = AccessToken(value, grant.id, time.time() + self.access_token_ttl, via)
        grant.access_tokens.append(value)
        self._record("access_token", value, grant, via)
        return value, self.access_token_ttl

    def _record(self, kind: str, value: str, grant: Grant, via: str) -> None:
        user = self._users.get(grant.sub) if grant.sub else None
        self._issued.append({"kind": kind, "value": value, "via": via, "sub": grant.sub,
                             "email": user.email if user else grant.service_account,
                             "client_id": grant.client_id, "grant": grant.id, "issued_at": time.time()})

    def _issue(self, client_id: str, sub: str, scope: list[str], offline: bool, nonce: str | None,
               via: str) -> dict[str, Any]:
        """A new grant with its first tokens (under the lock)."""
        grant = Grant("g-" + secrets.token_hex(8), client_id, sub, scope, via)
        self._grants[grant.id] = grant
        access, expires_in = self._new_access_token(grant, via)
        body: dict[str, Any] = {"access_token": access, "expires_in": expires_in, "scope": " ".join(scope),
                                "token_type": "Bearer"}
        if offline:
            grant.refresh_token = "1//emu-" + secrets.token_urlsafe(40)
            self._refresh[grant.refresh_token] = grant.id
            self._record("refresh_token", grant.refresh_token, grant, via)
            body["refresh_token"] = grant.refresh_token
        if "openid" in scope:
            body["id_token"] = self._id_token(client_id, self._users[sub], scope, access, nonce)
        return body

    def _id_token(self, client_id: str, user: GoogleUser, scope: list[str], access_token: str,
                  nonce: str | None) -> str:
        now = int(time.time())
        digest = hashlib.sha256(access_token.encode()).digest()
        claims: dict[str, Any] = {"iss": self.base_url, "azp": client_id, "aud": client_id, "sub": user.sub,
                                  "at_hash": _b64url(digest[:16]), "iat": now, "exp": now + 3600}
        if SCOPE_ALIASES["email"] in scope:
            claims.update(email=user.email, email_verified=user.email_verified)
        if SCOPE_ALIASES["profile"] in scope:
            given, _, family = user.name.partition(" ")
            claims.update(name=user.name, given_name=given, family_name=family)
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode({"alg": "RS256", "kid": self._key.kid, "typ": "JWT"}, claims, self._key)

    def _metadata(self) -> dict[str, Any]:
        base = self.base_url
        return {
            "issuer": base,
            "authorization_endpoint": base + "/o/oauth2/v2/auth",
            "device_authorization_endpoint": base + "/device/code",
            "token_endpoint": base + "/token",
            "userinfo_endpoint": base + "/v1/userinfo",
            "revocation_endpoint": base + "/revoke",
            "jwks_uri": base + "/oauth2/v3/certs",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": ["aud", "email", "email_verified", "exp", "family_name", "given_name", "iat",
                                 "iss", "name", "sub"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "grant_types_supported": ["authorization_code", "refresh_token", JWT_BEARER],
        }

    # ---------------------------------------------------------------- WSGI

    def _app(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path
        try:
            if path == "/.well-known/openid-configuration":
                response = _json(self._metadata())
            elif path == "/o/oauth2/v2/auth":
                response = self._authorize(request)
            elif path == "/token" and request.method == "POST":
                response = self._token(request)
            elif path == "/oauth2/v3/certs":
                response = _json({"keys": [self._key.as_dict(private=False)]})
            elif path in ("/v1/userinfo", "/oauth2/v3/userinfo"):
                response = self._userinfo(request)
            elif path == "/revoke" and request.method == "POST":
                response = self._revoke(request)
            elif path.startswith("/_emulator"):
                response = self._control(request)
            else:
                response = _json({"error": "not_found", "error_description": f"Cannot {request.method} {path}"},
                                 404)
        except OAuthFailure as exc:
            response = _json({"error": exc.error, "error_description": exc.description}, exc.status)
        except Exception:  # noqa: BLE001 - a bug in the emulator: say so loudly, answer 500
            traceback.print_exc()
            response = _json({"error": "internal_failure", "error_description": "emulator bug"}, 500)
        return response(environ, start_response)

    # ---------------------------------------------------------------- authorization endpoint

    def _authorize(self, request: Request) -> Response:
        values = {**request.args.to_dict(), **request.form.to_dict()}
        client_id = values.get("client_id", "")
        redirect_uri = values.get("redirect_uri", "")
        with self._lock:
            client = self._clients.get(client_id)
            redirect_ok = client is not None and redirect_uri in client.redirect_uris
        if client is None:
            return _page("Error 401: invalid_client", "<h1>Access blocked: authorisation error</h1>"
                         "<p>The OAuth client was not found.</p><p><b>Error 401: invalid_client</b></p>", 401)
        if not redirect_ok:
            return _page("Error 400: redirect_uri_mismatch",
                         "<h1>Access blocked: this app's request is invalid</h1>"
                         f"<p>The redirect URI <code>{html.escape(redirect_uri)}</code> is not registered for "
                         "this client.</p><p><b>Error 400: redirect_uri_mismatch</b></p>", 400)
        state = values.get("state")

        def back(params: dict[str, str]) -> Response:
            if state:
                params["state"] = state
            return Response("", status=302, headers={"Location": _add_query(redirect_uri, params)})

        if values.get("response_type") != "code":
            return back({"error": "unsupported_response_type"})
        if not values.get("scope", "").strip():
            return back({"error": "invalid_request", "error_description": "Missing required parameter: scope"})
        method = values.get("code_challenge_method", "plain") if values.get("code_challenge") else None
        if method not in (None, "plain", "S256"):
            return back({"error": "invalid_request", "error_description": "Invalid code_challenge_method"})
        if values.get("deny") == "1" or values.get("approve") == "0":
            return back({"error": "access_denied"})
        user = self._chosen_user(request, values)
        if user is None:
            return self._chooser(values)
        scope = _normalise_scope(values["scope"])
        code = "4/emu-" + secrets.token_urlsafe(32)
        prompt = values.get("prompt", "").split()
        with self._lock:
            self._codes[code] = {
                "client_id": client_id, "redirect_uri": redirect_uri, "sub": user.sub, "scope": scope,
                "nonce": values.get("nonce"), "code_challenge": values.get("code_challenge"),
                "code_challenge_method": method, "created": time.time(),
                "offline": values.get("access_type") == "offline" and "consent" in prompt,
            }
        return back({"code": code, "scope": " ".join(scope), "authuser": "0", "prompt": "consent"})

    def _chosen_user(self, request: Request, values: dict[str, str]) -> GoogleUser | None:
        with self._lock:
            by_email = {u.email.lower(): u for u in self._users.values()}
            first = next(iter(self._users.values()), None)
        if request.method == "POST" and values.get("email"):
            email = values["email"].strip()
            if "@" not in email:
                return None
            sub = self.add_user(email, values.get("name", "").strip())
            with self._lock:
                return self._users[sub]
        hint = values.get("login_hint", "").strip().lower()
        if hint and hint in by_email:
            return by_email[hint]
        auto = (self.auto_approve_as or "").lower()
        if auto:
            return by_email.get(auto) or self._users[self.add_user(auto)]
        if values.get("auto") == "1":
            return first
        return None

    def _chooser(self, values: dict[str, str]) -> Response:
        hidden = "".join(f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(values[k])}'>"
                         for k in AUTH_PARAMS if k in values)
        with self._lock:
            users = list(self._users.values())
        items = "".join(
            f"<li><form method='post'>{hidden}<input type='hidden' name='email' value='{html.escape(u.email)}'>"
            f"<button type='submit'>Continue as {html.escape(u.name)} ({html.escape(u.email)})</button></form></li>"
            for u in users)
        body = ("<h1>Choose an account</h1><p>to continue to the application "
                f"<code>{html.escape(values.get('client_id', ''))}</code></p>"
                f"<ul>{items}</ul>"
                f"<h2>Use another account</h2><form method='post'>{hidden}"
                "<label>Email <input type='email' name='email' required autocomplete='email'></label>"
                "<label>Name <input type='text' name='name' autocomplete='name'></label>"
                "<button type='submit'>Continue</button></form>"
                f"<form method='post'>{hidden}<input type='hidden' name='approve' value='0'>"
                "<button type='submit'>Cancel</button></form>")
        return _page("Sign in - Google Accounts (emulator)", body)

    # ---------------------------------------------------------------- token endpoint

    def _client_credentials(self, request: Request) -> tuple[str, str | None]:
        header = request.headers.get("Authorization", "")
        if header[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(header[6:].strip()).decode()
            except (ValueError, UnicodeDecodeError):
                raise OAuthFailure("invalid_client", "Unauthorized", 401) from None
            client_id, _, secret = decoded.partition(":")
            return unquote_plus(client_id), unquote_plus(secret)
        return request.form.get("client_id", ""), request.form.get("client_secret")

    def _authenticate_client(self, request: Request) -> OAuthClient:
        client_id, secret = self._client_credentials(request)
        with self._lock:
            client = self._clients.get(client_id)
        if client is None:
            raise OAuthFailure("invalid_client", "The OAuth client was not found.", 401)
        if secret is None or not secrets.compare_digest(secret, client.client_secret):
            raise OAuthFailure("invalid_client", "Unauthorized", 401)
        return client

    def _token(self, request: Request) -> Response:
        grant_type = request.form.get("grant_type", "")
        if grant_type == "authorization_code":
            return _json(self._code_grant(request, self._authenticate_client(request)))
        if grant_type == "refresh_token":
            return _json(self._refresh_grant(request, self._authenticate_client(request)))
        if grant_type == JWT_BEARER:
            return _json(self._jwt_grant(request))
        if not grant_type:
            raise OAuthFailure("unsupported_grant_type", "Missing grant_type")
        raise OAuthFailure("unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    def _code_grant(self, request: Request, client: OAuthClient) -> dict[str, Any]:
        code = request.form.get("code", "")
        if not code:
            raise OAuthFailure("invalid_request", "Missing required parameter: code")
        with self._lock:
            pending = self._codes.pop(code, None)  # one use only
            if pending is None or pending["client_id"] != client.client_id or \
                    time.time() - pending["created"] > CODE_TTL_S:
                raise OAuthFailure("invalid_grant", "Bad Request")
            if request.form.get("redirect_uri", "") != pending["redirect_uri"]:
                raise OAuthFailure("redirect_uri_mismatch", "Bad Request")
            challenge = pending["code_challenge"]
            if challenge:
                verifier = request.form.get("code_verifier", "")
                if not verifier:
                    raise OAuthFailure("invalid_grant", "Missing code verifier.")
                computed = (_b64url(hashlib.sha256(verifier.encode()).digest())
                            if pending["code_challenge_method"] == "S256" else verifier)
                if not secrets.compare_digest(computed, challenge):
                    raise OAuthFailure("invalid_grant", "Invalid code verifier.")
            return self._issue(client.client_id, pending["sub"], pending["scope"], pending["offline"],
                               pending["nonce"], "authorization_code")

    def _refresh_grant(self, request: Request, client: OAuthClient) -> dict[str, Any]:
        token = request.form.get("refresh_token", "")
        if not token:
            raise OAuthFailure("invalid_request", "Missing required parameter: refresh_token")
        with self._lock:
            grant_id = self._refresh.get(token)
            grant = self._grants.get(grant_id) if grant_id else None
            if grant is None:
                raise OAuthFailure("invalid_grant", "Bad Request")
            if grant.revoked:
                raise OAuthFailure("invalid_grant", "Token has been expired or revoked.")
            if grant.client_id != client.client_id:
                raise OAuthFailure("unauthorized_client", "Unauthorized")
            scope = grant.scope
            if request.form.get("scope"):
                asked = _normalise_scope(request.form["scope"])
                if not set(asked) <= set(grant.scope):
                    raise OAuthFailure("invalid_scope", "Bad Request")
                scope = asked
            access, expires_in = self._new_access_token(grant, "refresh_token")
            body: dict[str, Any] = {"access_token": access, "expires_in": expires_in, "scope": " ".join(scope),
                                    "token_type": "Bearer"}
            if "openid" in scope and grant.sub in self._users:
                body["id_token"] = self._id_token(client.client_id, self._users[grant.sub], scope, access, None)
            return body

    def _jwt_grant(self, request: Request) -> dict[str, Any]:
        assertion = request.form.get("assertion", "")
        if not assertion:
            raise OAuthFailure("invalid_request", "Missing required parameter: assertion")
        try:
            header_b64, payload_b64 = assertion.split(".")[:2]
            header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
            unverified = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
        except (ValueError, TypeError):
            raise OAuthFailure("invalid_grant", "Invalid JWT: not a JWT.") from None
        issuer = str(unverified.get("iss", ""))
        with self._lock:
            account = self._service_accounts.get(issuer)
        if account is None:
            raise OAuthFailure("invalid_grant", "Invalid grant: account not found")
        if header.get("alg") != "RS256":
            raise OAuthFailure("invalid_grant", "Invalid JWT Signature.")
        if account["key_id"] and header.get("kid") not in (None, account["key_id"]):
            raise OAuthFailure("invalid_grant", "Invalid JWT Signature.")
        try:
            claims = jwt.decode(assertion, account["key"], algorithms=["RS256"]).claims
        except (JoseError, ValueError):
            raise OAuthFailure("invalid_grant", "Invalid JWT Signature.") from None
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)) or exp - iat > 3600 \
                or exp < now or iat > now + 300:
            raise OAuthFailure("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and "
                                                "in a reasonable timeframe. Check your iat and exp values in the "
                                                "JWT claim.")
        if claims.get("aud") not in (self.token_endpoint, GOOGLE_TOKEN_URI):
            raise OAuthFailure("invalid_grant", f"Invalid JWT: Failed audience check. The right audience is "
                                                f"{self.token_endpoint}")
        scope = str(claims.get("scope", "")).split()
        if not scope:
            raise OAuthFailure("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        with self._lock:
            grant = Grant("g-" + secrets.token_hex(8), issuer, None, scope, "jwt_bearer",
                          service_account=issuer)
            self._grants[grant.id] = grant
            access, expires_in = self._new_access_token(grant, "jwt_bearer")
        return {"access_token": access, "expires_in": expires_in, "token_type": "Bearer"}

    # ---------------------------------------------------------------- userinfo and revocation

    def _userinfo(self, request: Request) -> Response:
        header = request.headers.get("Authorization", "")
        value = header[7:].strip() if header[:7].lower() == "bearer " else request.args.get("access_token", "")
        with self._lock:
            token = self._access.get(value)
            grant = self._grants.get(token.grant_id) if token else None
            user = self._users.get(grant.sub) if grant and grant.sub else None
        if token is None or grant is None or grant.revoked or token.expires_at < time.time() or user is None:
            return _json({"error": "invalid_request", "error_description": "Invalid Credentials"}, 401,
                         {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'})
        info: dict[str, Any] = {"sub": user.sub}
        if SCOPE_ALIASES["email"] in grant.scope:
            info.update(email=user.email, email_verified=user.email_verified)
        if SCOPE_ALIASES["profile"] in grant.scope:
            given, _, family = user.name.partition(" ")
            info.update(name=user.name, given_name=given, family_name=family)
        return _json(info)

    def _revoke(self, request: Request) -> Response:
        token = request.form.get("token") or request.args.get("token", "")
        if not token:
            raise OAuthFailure("invalid_request", "Missing required parameter: token")
        if not self.revoke(token):
            raise OAuthFailure("invalid_token", "Token expired or revoked")
        return _json({})

    # ---------------------------------------------------------------- control API

    def _control(self, request: Request) -> Response:
        path = request.path[len("/_emulator"):].rstrip("/") or "/"
        if path == "/faults" or path.startswith("/faults/"):
            return self.faults.handle_control(request)
        body = request.get_json(silent=True) if request.method == "POST" else None
        body = body if isinstance(body, dict) else {}
        if path == "/users" and request.method == "GET":
            return _json(self.users())
        if path == "/users" and request.method == "POST":
            return _json({"sub": self.add_user(body["email"], body.get("name", ""))}, 201)
        if path == "/tokens" and request.method == "GET":
            return _json(self.issued_tokens())
        if path == "/revoke" and request.method == "POST":
            return _json({"revoked": self.revoke(str(body.get("token", "")))})
        if path == "/picked" and request.method == "POST":
            if body.get("email"):
                self.grant_file(str(body["email"]), str(body.get("file_id", "")), body.get("client_id"))
                return _json({"granted": True})
            return _json({"granted": self.pick_file(str(body.get("access_token", "")), str(body.get("file_id", "")),
                                                    str(body.get("app_id", "")))})
        if path == "/clients" and request.method == "POST":
            self.register_client(body["client_id"], body["client_secret"], body.get("redirect_uris", []))
            return _json({"ok": True}, 201)
        return _json({"error": f"unknown control endpoint {request.method} {request.path}"}, 404)


def main(argv: list[str] | None = None) -> None:
    """``python -m emulators.google_oauth --port 8103 [--user email] [--redirect-uri uri]``."""
    parser = argparse.ArgumentParser(description="Google OpenID Connect provider emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8103)
    parser.add_argument("--client-id", default="emulator-client-id")
    parser.add_argument("--client-secret", default="emulator-client-secret")
    parser.add_argument("--redirect-uri", action="append", default=[],
                        help="an authorised redirect URI (repeatable)")
    parser.add_argument("--user", action="append", default=[], help="a Google account email (repeatable)")
    parser.add_argument("--project-number", default="123456789012",
                        help="the client's Cloud project number (Google Picker's setAppId for drive.file)")
    args = parser.parse_args(argv)
    emu = GoogleOAuthEmulator(args.client_id, args.client_secret, args.redirect_uri,
                              project_number=args.project_number)
    emu.base_url = f"http://{args.host}:{args.port}"
    for email in args.user:
        emu.add_user(email)
    print(f"Google OIDC emulator on {emu.base_url}")
    print(f"  discovery: {emu.metadata_url}")
    print(f"  client id: {args.client_id}  secret: {args.client_secret}")
    print(f"  redirect URIs: {', '.join(args.redirect_uri) or '(none: add with --redirect-uri)'}", flush=True)
    serve_forever(emu.wsgi_app, args.host, args.port)


if __name__ == "__main__":
    main()
