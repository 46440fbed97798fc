"""OAuth 1.0a provider of the Trello emulator, plus Trello's client-side ``/1/authorize`` page.

Three-legged flow as Trello runs it: ``POST /1/OAuthGetRequestToken`` (signed with the API key
and secret, HMAC-SHA1), the user approves on ``/1/OAuthAuthorizeToken``, then
``POST /1/OAuthGetAccessToken`` (signed with the request token secret and the verifier) answers
an ordinary ``ATTA…`` API token for the approving member with the granted scope and expiration.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit
from urllib.request import parse_http_list, parse_keqv_list

from authlib.oauth1.rfc5849.signature import construct_base_string, hmac_sha1_signature
from authlib.oauth1.rfc5849.util import unescape
from werkzeug.wrappers import Request, Response

from .trello_records import TrelloError

if TYPE_CHECKING:  # pragma: no cover
    from .trello import TrelloEmulator

TIMESTAMP_SKEW_S = 600


def _add_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = (parts.query + "&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _form(data: dict[str, str]) -> Response:
    return Response(urlencode(data), content_type="application/x-www-form-urlencoded")


def _page(title: str, body: str, status: int = 200) -> Response:
    doc = ("<!doctype html><html><head><meta charset='utf-8'><title>" + html.escape(title) +
           "</title><style>body{font:15px system-ui,sans-serif;background:#0079bf;margin:0}"
           "main{background:#fff;max-width:420px;margin:60px auto;padding:24px;border-radius:6px}"
           "button{font-size:15px;padding:6px 16px;margin-right:8px}"
           "select{font-size:15px;padding:4px}.allow{background:#5aac44;color:#fff;border:0}"
           "</style></head><body><main>" + body + "</main></body></html>")
    return Response(doc, status=status, content_type="text/html; charset=utf-8")


class TrelloOAuth:
    """Request tokens, verifiers and consent pages (thread-safe)."""

    def __init__(self, emu: "TrelloEmulator") -> None:
        self.emu = emu
        self._lock = threading.Lock()
        self._requests: dict[str, dict[str, Any]] = {}
        self._nonces: set[tuple[str, str]] = set()
        self.grants: list[dict[str, Any]] = []  # every token granted, with scope etc.

    def handle(self, endpoint: str, request: Request) -> Response:
        return getattr(self, "_" + endpoint[len("oauth_"):])(request)

    # ---------------------------------------------------------------- signatures

    def _verify(self, request: Request, token_secret: str | None = None,
                token_required: bool = False) -> dict[str, str]:
        """Check consumer key, timestamp, nonce and the HMAC-SHA1 signature."""
        header_params: list[tuple[str, str]] = []
        header = request.headers.get("Authorization", "")
        if header[:6].lower() == "oauth ":
            items = parse_keqv_list(parse_http_list(header[6:]))
            header_params = [(unescape(k), unescape(v)) for k, v in items.items()]
        params = list(request.args.items(multi=True))
        if request.mimetype == "application/x-www-form-urlencoded":
            params += list(request.form.items(multi=True))
        params += header_params
        oauth = {k: v for k, v in params if k.startswith("oauth_")}
        if oauth.get("oauth_consumer_key") != self.emu.api_key:
            raise TrelloError(401, "invalid key")
        if oauth.get("oauth_signature_method") != "HMAC-SHA1":
            raise TrelloError(401, "invalid signature method")
        try:
            stamp = int(oauth.get("oauth_timestamp", ""))
        except ValueError:
            raise TrelloError(401, "invalid timestamp") from None
        if abs(time.time() - stamp) > TIMESTAMP_SKEW_S:
            raise TrelloError(401, "invalid timestamp")
        if token_required:
            with self._lock:
                pending = self._requests.get(oauth.get("oauth_token", ""))
            if pending is None:
                raise TrelloError(401, "invalid token")
            token_secret = pending["secret"]
        base = construct_base_string(request.method, request.base_url, params)
        expected = hmac_sha1_signature(base, self.emu.api_secret, token_secret)
        if not secrets.compare_digest(expected, oauth.get("oauth_signature", "")):
            raise TrelloError(401, "invalid signature")
        nonce = (oauth.get("oauth_nonce", ""), str(stamp))
        with self._lock:
            if not nonce[0] or nonce in self._nonces:
                raise TrelloError(401, "invalid nonce")
            self._nonces.add(nonce)
        return oauth

    # ---------------------------------------------------------------- three legs

    def _request_token(self, request: Request) -> Response:
        oauth = self._verify(request, token_secret="")
        callback = oauth.get("oauth_callback")
        if not callback:
            raise TrelloError(400, "invalid value for oauth_callback")
        token, secret = secrets.token_hex(16), secrets.token_hex(32)
        with self._lock:
            self._requests[token] = {"secret": secret, "callback": callback, "verifier": None,
                                     "member_id": None, "created": time.time()}
        return _form({"oauth_token": token, "oauth_token_secret": secret,
                      "oauth_callback_confirmed": "true"})

    def _access_token(self, request: Request) -> Response:
        oauth = self._verify(request, token_required=True)
        with self._lock:
            pending = self._requests.get(oauth["oauth_token"])
            if pending is None or pending["verifier"] is None:
                raise TrelloError(401, "invalid token")
            if not secrets.compare_digest(pending["verifier"], oauth.get("oauth_verifier", "")):
                raise TrelloError(401, "invalid verifier")
            del self._requests[oauth["oauth_token"]]
        value = self._grant(pending["member_id"], pending["scope"], pending["expiration"],
                            pending["name"], "oauth1")
        return _form({"oauth_token": value, "oauth_token_secret": secrets.token_hex(32)})

    def _grant(self, member_id: str, scope: str, expiration: str, name: str, via: str) -> str:
        scopes = tuple(s.strip() for s in scope.split(",") if s.strip()) or ("read",)
        with self.emu._lock:
            token = self.emu.state.issue_token(member_id, scope=scopes, expiration=expiration,
                                               name=name)
        with self._lock:
            self.grants.append({"token": token.value, "idMember": member_id, "scope": list(scopes),
                                "expiration": expiration, "name": name, "via": via})
        return token.value

    # ---------------------------------------------------------------- consent pages

    def _members(self) -> list[tuple[str, str]]:
        with self.emu._lock:
            return [(m.id, m.username) for m in self.emu.state.members.values()]

    def _choose_member(self, wanted: str | None) -> str | None:
        members = self._members()
        for mid, username in members:
            if wanted in (mid, username):
                return mid
        return members[0][0] if members and not wanted else None

    def _consent(self, action: str, hidden: dict[str, str], app: str, scope: str,
                 expiration: str, preselect: str | None) -> Response:
        options = "".join(
            f"<option value='{html.escape(mid)}'{' selected' if preselect in (mid, u) else ''}>"
            f"{html.escape(u)}</option>" for mid, u in self._members())
        fields = "".join(f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
                         for k, v in hidden.items())
        body = (f"<h2>Let {html.escape(app or 'this app')} use your account?</h2>"
                f"<p>Access: <b>{html.escape(scope)}</b>; expires: "
                f"<b>{html.escape(expiration)}</b>.</p>"
                f"<form method='post' action='{html.escape(action)}'>{fields}"
                f"<p><label>Log in as <select name='member'>{options}</select></label></p>"
                "<button class='allow' name='approve' value='1'>Allow</button>"
                "<button name='approve' value='0'>Deny</button></form>")
        return _page("Trello (emulator) authorization", body)

    def _authorize(self, request: Request) -> Response:
        values = {**request.args.to_dict(), **request.form.to_dict()}
        token = values.get("oauth_token", "")
        with self._lock:
            pending = self._requests.get(token)
        if pending is None:
            return _page("Invalid token", "<h2>Invalid or expired request token</h2>", 400)
        scope = values.get("scope", "read")
        expiration = values.get("expiration", "30days")
        name = values.get("name", "")
        approve = values.get("approve")
        if request.method == "GET" and values.get("auto") != "1":
            return self._consent(request.path, {"oauth_token": token, "scope": scope,
                                                "expiration": expiration, "name": name},
                                 name, scope, expiration, values.get("member"))
        if approve == "0":
            with self._lock:
                self._requests.pop(token, None)
            return _page("Denied", "<h2>Access denied</h2>")
        member_id = self._choose_member(values.get("member"))
        if member_id is None:
            return _page("Unknown member", "<h2>No such member</h2>", 400)
        verifier = secrets.token_hex(16)
        with self._lock:
            pending.update(verifier=verifier, member_id=member_id, scope=scope,
                           expiration=expiration, name=name)
        if pending["callback"] == "oob":
            return _page("Verifier", f"<h2>Your verification code</h2><p><code>{verifier}</code>")
        target = _add_query(pending["callback"], {"oauth_token": token,
                                                  "oauth_verifier": verifier})
        return Response("", status=302, headers={"Location": target})

    def _client_authorize(self, request: Request) -> Response:
        """Trello's ``/1/authorize`` (response_type=token): the token goes to the return_url."""
        values = {**request.args.to_dict(), **request.form.to_dict()}
        if values.get("key") != self.emu.api_key:
            return _page("Invalid key", "<h2>Invalid API key</h2>", 400)
        scope = values.get("scope", "read")
        expiration = values.get("expiration", "30days")
        name = values.get("name", "")
        return_url = values.get("return_url", "")
        method = values.get("callback_method", "postMessage")
        if request.method == "GET" and values.get("auto") != "1":
            hidden = {k: values[k] for k in ("key", "scope", "expiration", "name", "return_url",
                                             "callback_method", "response_type") if k in values}
            return self._consent(request.path, hidden, name, scope, expiration,
                                 values.get("member"))
        if values.get("approve") == "0":
            return _page("Denied", "<h2>Access denied</h2>")
        member_id = self._choose_member(values.get("member"))
        if member_id is None:
            return _page("Unknown member", "<h2>No such member</h2>", 400)
        value = self._grant(member_id, scope, expiration, name, "authorize")
        if method == "fragment" and return_url:
            return Response("", status=302, headers={"Location": f"{return_url}#token={value}"})
        origin = json.dumps(return_url or "*").replace("<", "\\u003c")
        script = ("<script>if(window.opener){window.opener.postMessage("
                  f"{json.dumps(value)},{origin});window.close();}}</script>")
        return _page("Authorized", f"<h2>Authorized</h2><p><code id='token'>{value}</code></p>"
                                   + script)
