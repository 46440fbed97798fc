"""Encryption of secrets at rest (OAuth tokens, add-on signing secrets) with Fernet.

``TOKEN_ENCRYPTION_KEY`` holds one or more comma-separated Fernet keys; the first encrypts and
all decrypt (MultiFernet), so keys can be rotated. Without it (development only) a key is derived
from ``SECRET_KEY``.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_cipher: MultiFernet | None = None
_key_count = 0


class DecryptionError(Exception):
    """A stored secret could not be decrypted with the configured keys."""


def derive_key(secret: str) -> str:
    """A Fernet key derived from an arbitrary secret string (development fallback)."""
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()).decode()


def configure(keys: str, fallback_secret: str) -> None:
    """Install the process-wide cipher from the configured key list."""
    global _cipher, _key_count
    raw = [k.strip() for k in (keys or "").split(",") if k.strip()] or [derive_key(fallback_secret)]
    try:
        _cipher = MultiFernet([Fernet(k.encode()) for k in raw])
    except ValueError as exc:
        from .config import ConfigError

        raise ConfigError("TOKEN_ENCRYPTION_KEY must be Fernet keys (32 url-safe base64 bytes)") from exc
    _key_count = len(raw)
    decrypt_cached.cache_clear()


def _get() -> MultiFernet:
    if _cipher is None:
        raise RuntimeError("server.crypto.configure() has not been called")
    return _cipher


def encrypt(plaintext: str) -> str:
    return _get().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _get().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("stored secret cannot be decrypted with TOKEN_ENCRYPTION_KEY") from exc


@lru_cache(maxsize=4096)
def decrypt_cached(token: str) -> str:
    """``decrypt`` remembered per ciphertext, for a secret read on every request (webhook intake).

    The process holds the keys anyway; what this saves is the HMAC check and AES of each read.
    """
    return decrypt(token)


def generate_key() -> str:
    return Fernet.generate_key().decode()


def rotate(token: str) -> str:
    """``token`` re-encrypted with the first configured key (it may have been made with any of them)."""
    try:
        return _get().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("stored secret cannot be decrypted with TOKEN_ENCRYPTION_KEY") from exc


def key_count() -> int:
    """How many keys the cipher holds (more than one while a rotation is under way)."""
    _get()
    return _key_count
