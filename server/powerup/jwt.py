"""Verify the JWT a Power-Up page gets from ``t.jwt()``.

Trello signs it with RS256 and publishes its public keys at
``https://api.trello.com/1/resource/jwt-public-keys``, served as ``{"keys": ["-----BEGIN PUBLIC
KEY-----...", ...]}`` (PEM strings, usually one, two while Trello rotates keys; Trello's own sample
code tries each). We accept that shape and also a JWKS (``{"keys": [{"kty": "RSA", "kid", ...}]}``)
or a bare list of either. Keys with a ``kid`` are matched to the token's ``kid``; keys without one
are tried in turn. Keys are cached for an hour; a token signed by a key we do not hold (an unknown
``kid``, or no cached key verifies it) forces one refetch, at most once every
``FORCED_REFETCH_INTERVAL_S`` so forged tokens cannot make us hammer Trello.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
import structlog
from joserfc import jwt
from joserfc.errors import BadSignatureError, ExpiredTokenError, JoseError, MissingClaimError
from joserfc.jwk import RSAKey

log = structlog.get_logger(__name__)

ALGORITHM = "RS256"
ISSUER = "trello"
LEEWAY_S = 30
KEYS_TTL_S = 3600.0
FORCED_REFETCH_INTERVAL_S = 30.0


class TokenError(Exception):
    """The token is not acceptable; ``str(self)`` is a sentence for the person using Trello."""

    def __init__(self, message: str, reason: str = "invalid_token") -> None:
        super().__init__(message)
        self.reason = reason


class KeysUnavailable(Exception):
    """Trello's public keys could not be fetched (or parsed): a server-side problem, not the user's."""


@dataclass(frozen=True)
class TrelloClaims:
    """What a verified token says: who, on which board, for which Power-Up."""

    member_id: str
    board_id: str
    plugin_id: str
    state: str
    issued_at: int
    expires_at: int


@dataclass
class _KeyCache:
    url: str
    keys: list[tuple[str | None, RSAKey]] = field(default_factory=list)
    fetched_at: float = 0.0
    forced_at: float = float("-inf")
    lock: threading.Lock = field(default_factory=threading.Lock)


_caches: dict[str, _KeyCache] = {}
_caches_lock = threading.Lock()


def clear_key_cache() -> None:
    """Forget every cached key set (tests)."""
    with _caches_lock:
        _caches.clear()


def parse_public_keys(data: Any) -> list[tuple[str | None, RSAKey]]:
    """``(kid, key)`` pairs from Trello's answer; entries that are not RSA public keys are skipped."""
    entries = data.get("keys", []) if isinstance(data, dict) else data
    if isinstance(entries, (str, dict)):
        entries = [entries]
    if not isinstance(entries, list):
        return []
    keys: list[tuple[str | None, RSAKey]] = []
    for entry in entries:
        try:
            if isinstance(entry, str):
                keys.append((None, RSAKey.import_key(entry)))
            elif isinstance(entry, dict) and entry.get("kty") == "RSA" and entry.get("use", "sig") == "sig":
                public = {k: v for k, v in entry.items() if k not in ("d", "p", "q", "dp", "dq", "qi")}
                keys.append((public.get("kid"), RSAKey.import_key(public)))
        except (JoseError, ValueError, TypeError) as exc:
            log.warning("trello_jwt_key_skipped", error=str(exc))
    return keys


def _fetch(cache: _KeyCache, timeout: float) -> None:
    try:
        response = requests.get(cache.url, timeout=timeout, headers={"Accept": "application/json"})
        response.raise_for_status()
        keys = parse_public_keys(response.json())
    except (requests.RequestException, ValueError) as exc:
        raise KeysUnavailable(f"could not fetch Trello's JWT keys: {exc}") from exc
    if not keys:
        raise KeysUnavailable("Trello's JWT key list holds no usable RSA key")
    cache.keys = keys
    cache.fetched_at = time.monotonic()


def _keys(url: str, timeout: float, force: bool = False) -> tuple[list[tuple[str | None, RSAKey]], bool]:
    """The cached keys (fetched when stale); ``force`` refetches unless done very recently.

    Returns the keys and whether they were fetched by this call.
    """
    with _caches_lock:
        cache = _caches.setdefault(url, _KeyCache(url=url))
    with cache.lock:
        now = time.monotonic()
        if not cache.keys or now - cache.fetched_at > KEYS_TTL_S:
            _fetch(cache, timeout)
            return cache.keys, True
        if force and now - cache.forced_at > FORCED_REFETCH_INTERVAL_S:
            cache.forced_at = now
            _fetch(cache, timeout)
            return cache.keys, True
        return cache.keys, False


def _b64_json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def read_header(token: str) -> dict[str, Any]:
    """The unverified JOSE header (to choose the key); raises ``TokenError`` when malformed."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise TokenError("The sign-in token from Trello is malformed.", "malformed_token")
    try:
        header = _b64_json(parts[0])
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenError("The sign-in token from Trello is malformed.", "malformed_token") from exc
    if not isinstance(header, dict):
        raise TokenError("The sign-in token from Trello is malformed.", "malformed_token")
    if header.get("alg") != ALGORITHM:
        raise TokenError("The sign-in token is not signed the way Trello signs its tokens.", "bad_algorithm")
    return header


def _verify_signature(token: str, kid: str | None, keys: list[tuple[str | None, RSAKey]]) -> jwt.Token | None:
    candidates = [key for key_id, key in keys if key_id is None or (kid is not None and key_id == kid)]
    for key in candidates:
        try:
            return jwt.decode(token, key, algorithms=[ALGORITHM])
        except BadSignatureError:
            continue
        except JoseError as exc:
            raise TokenError("The sign-in token from Trello is malformed.", "malformed_token") from exc
    return None


def _check_claims(claims: dict[str, Any], powerup_id: str, now: int | None) -> TrelloClaims:
    registry = jwt.JWTClaimsRegistry(
        now=now, leeway=LEEWAY_S,
        iss={"essential": True, "value": ISSUER},
        idPlugin={"essential": True, "value": powerup_id},
        idMember={"essential": True}, idBoard={"essential": True},
        exp={"essential": True}, iat={"essential": True},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError as exc:
        raise TokenError("Your Trello session expired; reopen the card to sign in again.", "token_expired") from exc
    except MissingClaimError as exc:
        raise TokenError("The sign-in token from Trello is missing information.", "invalid_token") from exc
    except JoseError as exc:
        messages = {
            "iss": ("The sign-in token was not issued by Trello.", "wrong_issuer"),
            "idPlugin": ("The sign-in token was issued for another Power-Up.", "wrong_powerup"),
            "iat": ("The sign-in token is dated in the future; check the clock of this server.", "token_not_yet_valid"),
        }
        message, reason = messages.get(getattr(exc, "claim", ""), ("The sign-in token from Trello is not valid.",
                                                                   "invalid_token"))
        raise TokenError(message, reason) from exc
    for name in ("idMember", "idBoard", "idPlugin"):
        if not isinstance(claims.get(name), str):
            raise TokenError("The sign-in token from Trello is not valid.", "invalid_token")
    state = claims.get("state", "")
    return TrelloClaims(
        member_id=claims["idMember"], board_id=claims["idBoard"], plugin_id=claims["idPlugin"],
        state=state if isinstance(state, str) else "", issued_at=int(claims["iat"]), expires_at=int(claims["exp"]),
    )


def verify_powerup_token(token: str, *, keys_url: str, powerup_id: str, timeout: float = 10.0,
                         now: int | None = None) -> TrelloClaims:
    """Verify a ``t.jwt()`` token and return its claims.

    Raises ``TokenError`` (answer 401) or ``KeysUnavailable`` (answer 503).
    """
    if not powerup_id:
        raise KeysUnavailable("TRELLO_POWERUP_ID is not configured")
    header = read_header(token)
    kid = header.get("kid") if isinstance(header.get("kid"), str) else None
    keys, fresh = _keys(keys_url, timeout)
    verified = _verify_signature(token, kid, keys)
    if verified is None and not fresh:
        keys, fresh = _keys(keys_url, timeout, force=True)
        if fresh:
            verified = _verify_signature(token, kid, keys)
    if verified is None:
        raise TokenError("The sign-in token's signature does not match Trello's keys.", "bad_signature")
    return _check_claims(verified.claims, powerup_id, now)


__all__ = ["TokenError", "KeysUnavailable", "TrelloClaims", "verify_powerup_token", "parse_public_keys",
           "clear_key_cache", "read_header"]
