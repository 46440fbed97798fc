"""The add-on's request signatures: shared test vectors (the Node tests of apps_script/ use the same file).

``webhook`` vectors: the sheets webhook's ``timestamp + "." + body``. ``request`` vectors: the add-on
API's ``timestamp \\n nonce \\n METHOD \\n target \\n body``, with the path the add-on appends to the
server address and the target both sides derive from it (see ``server/sync/signatures.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from flask import Flask

from server.addon import signed_target
from server.sync.signatures import (
    BAD_NONCE,
    OUTDATED_ADDON,
    SignatureError,
    SignatureMismatch,
    addon_request_signature,
    addon_signature,
    verify_addon,
    verify_addon_request,
)

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "addon_signatures.json").read_text(encoding="utf-8"))
WEBHOOK = VECTORS["webhook"]
REQUEST = VECTORS["request"]


def test_vectors_are_present_and_varied():
    assert len(WEBHOOK) >= 5 and len(REQUEST) >= 8
    assert any(v["body"] == "" for v in WEBHOOK), "the empty body"
    assert any(any(ord(ch) > 127 for ch in v["body"]) for v in WEBHOOK), "raw UTF-8 in a body"
    for vector in WEBHOOK:
        assert set(vector) == {"secret", "timestamp", "body", "signature"}
        assert len(vector["signature"]) == 64 and vector["signature"] == vector["signature"].lower()
    for vector in REQUEST:
        assert set(vector) == {"secret", "timestamp", "nonce", "method", "path", "target", "body", "signature"}
        assert vector["method"] in ("GET", "POST") and vector["path"].startswith("/api/addon/")
        assert 16 <= len(vector["nonce"]) <= 64
        assert len(vector["signature"]) == 64 and vector["signature"] == vector["signature"].lower()
    assert any(v["method"] == "GET" and v["body"] == "" for v in REQUEST), "a GET signs the empty body"
    assert any("?" in v["target"] for v in REQUEST), "a query string"
    assert any("?" in v["path"] and "?" not in v["target"] for v in REQUEST), "an empty query string"
    assert any(any(ord(ch) > 127 for ch in v["target"]) for v in REQUEST), "a percent-encoded UTF-8 path"
    assert any(any(ord(ch) > 127 for ch in v["body"]) for v in REQUEST), "raw UTF-8 in a body"
    assert len({v["signature"] for v in REQUEST}) == len(REQUEST)
    assert len({v["nonce"] for v in REQUEST}) == len(REQUEST)
    assert any(len(v["nonce"]) == 16 for v in REQUEST) and any(len(v["nonce"]) == 64 for v in REQUEST)
    assert any("-" in v["nonce"] and "_" in v["nonce"] for v in REQUEST)


@pytest.mark.parametrize("vector", WEBHOOK, ids=[f"webhook{i}" for i in range(len(WEBHOOK))])
def test_webhook_signature_vectors(vector):
    body = vector["body"].encode("utf-8")
    assert addon_signature(vector["secret"], vector["timestamp"], body) == vector["signature"]
    # verify_addon accepts it at that moment and refuses any tampering
    now = float(vector["timestamp"])
    verify_addon(vector["secret"], body, vector["timestamp"], vector["signature"], now=now)
    verify_addon(vector["secret"], body, vector["timestamp"], vector["signature"].upper(), now=now)
    with pytest.raises(SignatureError):
        verify_addon(vector["secret"], body + b" ", vector["timestamp"], vector["signature"], now=now)
    with pytest.raises(SignatureError):
        verify_addon(vector["secret"] + "x", body, vector["timestamp"], vector["signature"], now=now)
    with pytest.raises(SignatureError):
        verify_addon(vector["secret"], body, str(int(vector["timestamp"]) + 1), vector["signature"], now=now)


def _nonceless(secret: str, ts: str, method: str, target: str, body: bytes) -> str:
    """What the add-on signed before nonces: ``timestamp \\n METHOD \\n target \\n body``."""
    message = b"\n".join((ts.encode(), method.encode(), target.encode(), body))
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("vector", REQUEST, ids=[f"request{i}" for i in range(len(REQUEST))])
def test_request_signature_vectors(vector):
    secret, ts, nonce = vector["secret"], vector["timestamp"], vector["nonce"]
    method, target = vector["method"], vector["target"]
    body = vector["body"].encode("utf-8")
    assert addon_request_signature(secret, ts, nonce, method, target, body) == vector["signature"]
    assert addon_request_signature(secret, ts, nonce, method.lower(), target, body) == vector["signature"]
    now = float(ts)
    verify_addon_request(secret, method, target, body, ts, vector["signature"], nonce, now=now)
    verify_addon_request(secret, method, target, body, ts, vector["signature"].upper(), nonce, now=now)
    other_nonce = ("a" if nonce[0] != "a" else "b") + nonce[1:]
    tampered = [
        (secret, "PUT" if method == "POST" else "POST", target, body, ts, nonce),
        (secret, method, target + "x", body, ts, nonce),
        (secret, method, target.replace("/api/addon/", "/api/addon/x/"), body, ts, nonce),
        (secret, method, target + ("&" if "?" in target else "?") + "a=1", body, ts, nonce),
        (secret, method, target, body + b" ", ts, nonce),
        (secret + "x", method, target, body, ts, nonce),
        (secret, method, target, body, str(int(ts) + 1), nonce),
        (secret, method, target, body, ts, other_nonce),
    ]
    for args in tampered:
        with pytest.raises(SignatureMismatch, match="signature does not match"):
            verify_addon_request(*args[:4], args[4], vector["signature"], args[5], now=now)
    # the older forms (no nonce; the webhook's, with no method and path) are refused, saying why
    for old in (_nonceless(secret, ts, method, target, body), addon_signature(secret, ts, body)):
        with pytest.raises(SignatureError) as refused:
            verify_addon_request(secret, method, target, body, ts, old, nonce, now=now)
        assert str(refused.value) == OUTDATED_ADDON and not isinstance(refused.value, SignatureMismatch)
    # a request without a nonce comes from an out-of-date Code.js, whatever it signed
    with pytest.raises(SignatureError) as refused:
        verify_addon_request(secret, method, target, body, ts, _nonceless(secret, ts, method, target, body), None,
                             now=now)
    assert str(refused.value) == OUTDATED_ADDON


@pytest.mark.parametrize("nonce", ["", "short", "x" * 65, "with space 123456", "new\nline123456789", "caf\u00e9" * 5,
                                   "semi;colon1234567"])
def test_malformed_nonces_are_refused(nonce):
    vector = REQUEST[0]
    body = vector["body"].encode()
    signature = addon_request_signature(vector["secret"], vector["timestamp"], nonce, vector["method"],
                                        vector["target"], body)
    with pytest.raises(SignatureError) as refused:
        verify_addon_request(vector["secret"], vector["method"], vector["target"], body, vector["timestamp"],
                             signature, nonce, now=float(vector["timestamp"]))
    assert str(refused.value) == (OUTDATED_ADDON if not nonce else BAD_NONCE)


@pytest.mark.parametrize("vector", REQUEST, ids=[f"request{i}" for i in range(len(REQUEST))])
def test_the_server_derives_the_vectors_target_from_the_path(vector):
    """``signed_target`` sees the request as a WSGI server hands it over (path decoded, query raw)."""
    app = Flask(__name__)
    with app.test_request_context(vector["path"], method=vector["method"]):
        assert signed_target() == vector["target"]
    # behind a proxy that strips a path prefix into SCRIPT_NAME the target is the same
    with app.test_request_context(vector["path"], method=vector["method"], base_url="https://x.example.com/leads"):
        assert signed_target() == vector["target"]


def test_the_forms_never_collide():
    """A webhook signature (or a nonce-less one) is never an API signature for the same secret,
    timestamp and body."""
    for vector in REQUEST:
        body = vector["body"].encode("utf-8")
        assert addon_signature(vector["secret"], vector["timestamp"], body) != vector["signature"]
        assert _nonceless(vector["secret"], vector["timestamp"], vector["method"], vector["target"], body) \
            != vector["signature"]


def test_stale_and_missing_headers_are_refused():
    vector = WEBHOOK[0]
    body = vector["body"].encode()
    with pytest.raises(SignatureError, match="5 minutes"):
        verify_addon(vector["secret"], body, vector["timestamp"], vector["signature"],
                     now=float(vector["timestamp"]) + 301)
    with pytest.raises(SignatureError, match="missing"):
        verify_addon(vector["secret"], body, None, vector["signature"])
    with pytest.raises(SignatureError, match="missing"):
        verify_addon(vector["secret"], body, vector["timestamp"], "")
    request = REQUEST[0]
    args = (request["secret"], request["method"], request["target"], request["body"].encode())
    nonce = request["nonce"]
    with pytest.raises(SignatureError, match="5 minutes"):
        verify_addon_request(*args, request["timestamp"], request["signature"], nonce,
                             now=float(request["timestamp"]) - 301)
    with pytest.raises(SignatureError, match="missing"):
        verify_addon_request(*args, None, request["signature"], nonce)
    with pytest.raises(SignatureError, match="missing"):
        verify_addon_request(*args, request["timestamp"], None, nonce)
    with pytest.raises(SignatureError, match="Unix seconds"):
        verify_addon_request(*args, "yesterday", request["signature"], nonce)
