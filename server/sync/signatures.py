"""Webhook and add-on request signatures.

Trello: ``X-Trello-Webhook`` = base64(HMAC-SHA1(app secret, raw body + callback URL exactly as
registered)). The add-on: ``X-Signature`` = hex(HMAC-SHA256(workspace secret, timestamp + "." +
raw body)) with ``X-Timestamp`` in Unix seconds, refused when more than 5 minutes off.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

FRESHNESS_WINDOW_S = 300


def trello_signature(app_secret: str, body: bytes, callback_url: str) -> str:
    digest = hmac.new(app_secret.encode(), body + callback_url.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify_trello(app_secret: str, body: bytes, callback_url: str, header: str | None) -> bool:
    if not header or not app_secret:
        return False
    return hmac.compare_digest(trello_signature(app_secret, body, callback_url), header.strip())


def addon_signature(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class SignatureError(Exception):
    """The request's signature is missing, wrong or stale; answer 401 with ``str(self)``."""


def verify_addon(secret: str, body: bytes, timestamp: str | None, signature: str | None,
                 now: float | None = None, window_s: int = FRESHNESS_WINDOW_S) -> None:
    """Raise ``SignatureError`` unless the add-on request is signed with ``secret`` and fresh."""
    if not timestamp or not signature:
        raise SignatureError("missing X-Timestamp or X-Signature header")
    try:
        sent = int(timestamp)
    except ValueError as exc:
        raise SignatureError("X-Timestamp must be Unix seconds") from exc
    current = time.time() if now is None else now
    if abs(current - sent) > window_s:
        raise SignatureError("X-Timestamp is more than 5 minutes off; check the clock or replay")
    expected = addon_signature(secret, timestamp, body)
    if not hmac.compare_digest(expected, signature.strip().lower()):
        raise SignatureError("signature does not match")
