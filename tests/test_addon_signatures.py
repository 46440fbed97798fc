"""The add-on's request signatures: shared test vectors (the Node tests of apps_script/ use the same file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.sync.signatures import SignatureError, addon_signature, verify_addon

VECTORS = json.loads((Path(__file__).parent / "vectors" / "addon_signatures.json").read_text(encoding="utf-8"))


def test_vectors_are_present_and_varied():
    assert len(VECTORS) >= 5
    assert any(v["body"] == "" for v in VECTORS), "a GET signs the empty body"
    assert any(any(ord(ch) > 127 for ch in v["body"]) for v in VECTORS), "raw UTF-8 in a body"
    for vector in VECTORS:
        assert set(vector) == {"secret", "timestamp", "body", "signature"}
        assert len(vector["signature"]) == 64 and vector["signature"] == vector["signature"].lower()


@pytest.mark.parametrize("vector", VECTORS, ids=[f"v{i}" for i in range(len(VECTORS))])
def test_signature_vectors(vector):
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


def test_stale_and_missing_headers_are_refused():
    vector = VECTORS[0]
    body = vector["body"].encode()
    with pytest.raises(SignatureError, match="5 minutes"):
        verify_addon(vector["secret"], body, vector["timestamp"], vector["signature"],
                     now=float(vector["timestamp"]) + 301)
    with pytest.raises(SignatureError, match="missing"):
        verify_addon(vector["secret"], body, None, vector["signature"])
    with pytest.raises(SignatureError, match="missing"):
        verify_addon(vector["secret"], body, vector["timestamp"], "")
