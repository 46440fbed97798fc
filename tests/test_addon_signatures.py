"""The add-on's request signatures: shared test vectors (the Node tests of apps_script/ use the same file).

``webhook`` vectors: the sheets webhook's ``timestamp + "." + body``. ``request`` vectors: the add-on
API's ``timestamp \\n METHOD \\n target \\n body``, with the path the add-on appends to the server
address and the target both sides derive from it (see ``server/sync/signatures.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask

from server.addon import signed_target
from server.sync.signatures import (
    OUTDATED_ADDON, SignatureError, addon_request_signature, addon_signature, verify_addon, verify_addon_request,
)

VECTORS = json.loads((Path(__file__).parent / "vectors" / "addon_signatures.json").read_text(encoding="utf-8"))
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
        assert set(vector) == {"secret", "timestamp", "method", "path", "target", "body", "signature"}
        assert vector["method"] in ("GET", "POST") and vector["path"].startswith("/api/addon/")
        assert len(vector["signature"]) == 64 and vector["signature"] == vector["signature"].lower()
    assert any(v["method"] == "GET" and v["body"] == "" for v in REQUEST), "a GET signs the empty body"
    assert any("?" in v["target"] for v in REQUEST), "a query string"
    assert any("?" in v["path"] and "?" not in v["target"] for v in REQUEST), "an empty query string"
    assert any(any(ord(ch) > 127 for ch in v["target"]) for v in REQUEST), "a percent-encoded UTF-8 path"
    assert any(any(ord(ch) > 127 for ch in v["body"]) for v in REQUEST), "raw UTF-8 in a body"
    assert len({v["signature"] for v in REQUEST}) == len(REQUEST)


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


@pytest.mark.parametrize("vector", REQUEST, ids=[f"request{i}" for i in range(len(REQUEST))])
def test_request_signature_vectors(vector):
    secret, ts, method, target = vector["secret"], vector["timestamp"], vector["method"], vector["target"]
    body = vector["body"].encode("utf-8")
    assert addon_request_signature(secret, ts, method, target, body) == vector["signature"]
    assert addon_request_signature(secret, ts, method.lower(), target, body) == vector["signature"]
    now = float(ts)
    verify_addon_request(secret, method, target, body, ts, vector["signature"], now=now)
    verify_addon_request(secret, method, target, body, ts, vector["signature"].upper(), now=now)
    tampered = [
        (secret, "PUT" if method == "POST" else "POST", target, body, ts),
        (secret, method, target + "x", body, ts),
        (secret, method, target.replace("/api/addon/", "/api/addon/x/"), body, ts),
        (secret, method, target + ("&" if "?" in target else "?") + "a=1", body, ts),
        (secret, method, target, body + b" ", ts),
        (secret + "x", method, target, body, ts),
        (secret, method, target, body, str(int(ts) + 1)),
    ]
    for args in tampered:
        with pytest.raises(SignatureError, match="signature does not match"):
            verify_addon_request(*args[:4], args[4], vector["signature"], now=now)
    # the webhook's form (no method, no path) is not accepted here, and the answer says why
    with pytest.raises(SignatureError) as refused:
        verify_addon_request(secret, method, target, body, ts, addon_signature(secret, ts, body), now=now)
    assert str(refused.value) == OUTDATED_ADDON


@pytest.mark.parametrize("vector", REQUEST, ids=[f"request{i}" for i in range(len(REQUEST))])
def test_the_server_derives_the_vectors_target_from_the_path(vector):
    """``signed_target`` sees the request as a WSGI server hands it over (path decoded, query raw)."""
    app = Flask(__name__)
    with app.test_request_context(vector["path"], method=vector["method"]):
        assert signed_target() == vector["target"]
    # behind a proxy that strips a path prefix into SCRIPT_NAME the target is the same
    with app.test_request_context(vector["path"], method=vector["method"], base_url="https://x.example.com/leads"):
        assert signed_target() == vector["target"]


def test_the_two_forms_never_collide():
    """A webhook signature is never an API signature for the same secret, timestamp and body."""
    for vector in REQUEST:
        body = vector["body"].encode("utf-8")
        assert addon_signature(vector["secret"], vector["timestamp"], body) != vector["signature"]


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
    with pytest.raises(SignatureError, match="5 minutes"):
        verify_addon_request(*args, request["timestamp"], request["signature"], now=float(request["timestamp"]) - 301)
    with pytest.raises(SignatureError, match="missing"):
        verify_addon_request(*args, None, request["signature"])
    with pytest.raises(SignatureError, match="missing"):
        verify_addon_request(*args, request["timestamp"], None)
    with pytest.raises(SignatureError, match="Unix seconds"):
        verify_addon_request(*args, "yesterday", request["signature"])
