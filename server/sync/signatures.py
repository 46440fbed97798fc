"""Webhook and add-on request signatures.

Trello: ``X-Trello-Webhook`` = base64(HMAC-SHA1(app secret, raw body + callback URL exactly as
registered)).

The Google Sheets add-on signs with its workspace's secret; ``X-Signature`` is lowercase hex of
HMAC-SHA256 (upper case is accepted), ``X-Timestamp`` is Unix seconds and refused when more than
5 minutes off. Two messages are signed:

- The sheets webhook (``POST /webhooks/sheets/<workspace>``, ``addon_signature``)::

      timestamp + "." + body

  Enough there: one endpoint per workspace, POST only, and every delivery carries an event id that
  the inbox stores once, so a replay within the window changes nothing.

- The add-on API (``/api/addon/...``, ``addon_request_signature``), which also serves GETs with an
  empty body, so the method and the target must be signed too (else a captured signature would
  open any other GET of that workspace for 5 minutes), and whose POSTs queue work (a replayed
  "sync now" would queue another full sync), so each request carries a nonce the server accepts
  once (``X-Nonce``, 16 to 64 of ``A-Z a-z 0-9 - _``; see ``server/addon/nonces.py``)::

      timestamp + "\\n" + nonce + "\\n" + METHOD + "\\n" + target + "\\n" + body

  ``METHOD`` is upper case (``GET``, ``POST``). ``target`` is the path relative to the server
  address the add-on was connected with (``PUBLIC_BASE_URL``, the application root: a path prefix
  of that address is NOT part of it), percent-decoded and encoded as UTF-8 — the path the app routes
  on, Flask's ``request.path`` whether a proxy strips the prefix or ``SCRIPT_NAME`` is set — then, if
  the query string is not empty, ``"?"`` and the query string exactly as sent (not decoded). So
  ``GET https://x.example.com/leads/api/addon/leads/L-a%20b?x=%C3%A9`` with the server address
  ``https://x.example.com/leads`` signs the target ``/api/addon/leads/L-a b?x=%C3%A9``. ``body`` is
  the raw body (empty for a GET). A newline cannot occur in a header (the timestamp, the nonce), a
  method or a request target, so the five parts cannot be shifted into one another, and neither
  form can be taken for the other. ``apps_script/Code.js`` (``signRequest_``) builds the same
  string; the test vectors in ``tests/vectors/addon_signatures.json`` are checked by both test
  suites. Requests signed by older add-ons (no nonce: ``timestamp \\n METHOD \\n target \\n body``;
  or the body only) are refused with ``OUTDATED_ADDON``, which tells the user to update ``Code.js``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

FRESHNESS_WINDOW_S = 300
NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
OUTDATED_ADDON = ("this spreadsheet's copy of the add-on is out of date (its requests carry no X-Nonce, or are "
                  "signed the old way), so the server refuses them; paste the current Code.js into its Apps Script "
                  "project")
BAD_NONCE = "X-Nonce must be 16 to 64 letters, digits, '-' or '_' (a new random value for every request)"


def trello_signature(app_secret: str, body: bytes, callback_url: str) -> str:
    digest = hmac.new(app_secret.encode(), body + callback_url.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify_trello(app_secret: str, body: bytes, callback_url: str, header: str | None) -> bool:
    if not header or not app_secret:
        return False
    return hmac.compare_digest(trello_signature(app_secret, body, callback_url), header.strip())


def addon_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The sheets webhook's signature: hex HMAC-SHA256 over ``timestamp + "." + body``."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def addon_request_message(timestamp: str, nonce: str, method: str, target: str, body: bytes) -> bytes:
    """The add-on API's signed message: ``timestamp \\n nonce \\n METHOD \\n target \\n body`` (see the module doc)."""
    return b"\n".join((timestamp.encode(), nonce.encode(), method.upper().encode(), target.encode("utf-8"), body))


def addon_request_signature(secret: str, timestamp: str, nonce: str, method: str, target: str, body: bytes) -> str:
    """The add-on API's signature: hex HMAC-SHA256 over ``addon_request_message``."""
    message = addon_request_message(timestamp, nonce, method, target, body)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _nonceless_request_signature(secret: str, timestamp: str, method: str, target: str, body: bytes) -> str:
    """What add-ons made before nonces signed (``timestamp \\n METHOD \\n target \\n body``): only recognised."""
    message = b"\n".join((timestamp.encode(), method.upper().encode(), target.encode("utf-8"), body))
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class SignatureError(Exception):
    """The request's signature is missing, wrong or stale; answer 401 with ``str(self)``."""


class SignatureMismatch(SignatureError):
    """Fresh and well-formed, but not signed with this secret (another secret may still match)."""

    def __init__(self, message: str = "signature does not match") -> None:
        super().__init__(message)


def _check_fresh(timestamp: str | None, signature: str | None, now: float | None, window_s: int) -> str:
    if not timestamp or not signature:
        raise SignatureError("missing X-Timestamp or X-Signature header")
    try:
        sent = int(timestamp)
    except ValueError as exc:
        raise SignatureError("X-Timestamp must be Unix seconds") from exc
    current = time.time() if now is None else now
    if abs(current - sent) > window_s:
        raise SignatureError("X-Timestamp is more than 5 minutes off; check the clock or replay")
    return signature.strip().lower()


def verify_addon(secret: str, body: bytes, timestamp: str | None, signature: str | None,
                 now: float | None = None, window_s: int = FRESHNESS_WINDOW_S) -> None:
    """Raise ``SignatureError`` unless the webhook delivery is signed with ``secret`` and fresh."""
    given = _check_fresh(timestamp, signature, now, window_s)
    assert timestamp is not None
    if not hmac.compare_digest(addon_signature(secret, timestamp, body), given):
        raise SignatureMismatch()


def verify_addon_request(secret: str, method: str, target: str, body: bytes, timestamp: str | None,
                         signature: str | None, nonce: str | None = None, now: float | None = None,
                         window_s: int = FRESHNESS_WINDOW_S) -> None:
    """Raise ``SignatureError`` unless the add-on API request (nonce, method, target, body) is signed
    and fresh; ``SignatureMismatch`` when it is well-formed but signed with another secret. Whether
    the nonce was used before is the caller's question (``server/addon/nonces.py``)."""
    given = _check_fresh(timestamp, signature, now, window_s)
    assert timestamp is not None
    if not nonce:
        raise SignatureError(OUTDATED_ADDON)
    if not NONCE_PATTERN.match(nonce):
        raise SignatureError(BAD_NONCE)
    if hmac.compare_digest(addon_request_signature(secret, timestamp, nonce, method, target, body), given):
        return
    if (hmac.compare_digest(_nonceless_request_signature(secret, timestamp, method, target, body), given)
            or hmac.compare_digest(addon_signature(secret, timestamp, body), given)):
        # Signed with this secret the way older add-ons signed: say what to do about it.
        raise SignatureError(OUTDATED_ADDON)
    raise SignatureMismatch()
