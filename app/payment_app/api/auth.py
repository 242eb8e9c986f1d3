"""Merchant authentication: `Authorization: Bearer pk_<key_id>_<secret>` -> the merchant id.

Keys are issued by `python -m payment_app.merchants`; the table holds SHA-256 of each secret
(see merchants.secret_digest for why no key stretching). Every rejection (no header, another
scheme, a malformed key, an unknown key id, a wrong secret, a revoked key) is the same 401, so a
client learns nothing about which part was wrong. An unknown key id costs the same digest
comparison as a known one, so timing does not tell which key ids exist either.

Verified keys are trusted in process for API_KEY_CACHE_SECONDS (0 disables), so a status read
need not hit the database: a revoked key therefore keeps working on each task for up to that
many seconds after `revoke-key`. The cache is keyed by SHA-256 of the presented key, never the
key itself, and the key is never logged nor put in an exception message.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Annotated

import asyncpg  # type: ignore[import-untyped]
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from payment_app.api.errors import ApiError
from payment_app.config import Settings
from payment_app.merchants import parse_key, secret_digest

log = logging.getLogger(__name__)

# Compared against when the key id is unknown: the same work as a wrong secret. Random bytes of a
# digest's length, chosen per process, that no presented secret can hash to in practice.
_DUMMY_DIGEST = secrets.token_bytes(hashlib.sha256().digest_size)
CACHE_MAX_ENTRIES = 10_000  # only verified keys enter, so this bounds memory, not attackers
_CACHE_STATE = "api_key_cache"  # attribute of app.state: one cache per app, not per module

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description=(
        "A merchant API key issued by `python -m payment_app.merchants create-key`, sent as "
        "`Authorization: Bearer pk_<key_id>_<secret>`. Requests act for that key's merchant."
    ),
)


def _unauthorized() -> ApiError:
    return ApiError(
        401, "unauthorized", "a valid API key is required", headers={"WWW-Authenticate": "Bearer"}
    )


@dataclass(frozen=True)
class _Verified:
    merchant_id: str
    expires_at: float  # time.monotonic()


class KeyCache:
    """Verified keys by SHA-256 of the whole presented key, each trusted for `ttl` seconds."""

    def __init__(self) -> None:
        self._entries: dict[bytes, _Verified] = {}

    def get(self, fingerprint: bytes) -> str | None:
        """The merchant of a key verified less than its ttl ago, else None."""
        entry = self._entries.get(fingerprint)
        if entry is None:
            return None
        if entry.expires_at <= time.monotonic():
            del self._entries[fingerprint]
            return None
        return entry.merchant_id

    def put(self, fingerprint: bytes, merchant_id: str, ttl: float) -> None:
        """Remember a verified key; when full, drop expired entries, then the oldest."""
        now = time.monotonic()
        if len(self._entries) >= CACHE_MAX_ENTRIES:
            for stale in [k for k, v in self._entries.items() if v.expires_at <= now]:
                del self._entries[stale]
            while len(self._entries) >= CACHE_MAX_ENTRIES:
                del self._entries[next(iter(self._entries))]
        self._entries[fingerprint] = _Verified(merchant_id, now + ttl)


def _cache(request: Request) -> KeyCache:
    cache = getattr(request.app.state, _CACHE_STATE, None)
    if not isinstance(cache, KeyCache):
        cache = KeyCache()
        setattr(request.app.state, _CACHE_STATE, cache)
    return cache


async def _lookup(request: Request, key_id: str) -> asyncpg.Record | None:
    """The stored row for a key id, as the application role (SELECT on four columns only)."""
    settings: Settings = request.app.state.settings
    pool: asyncpg.Pool = request.app.state.pool
    try:
        async with pool.acquire(timeout=settings.db_acquire_timeout_seconds) as conn:
            return await conn.fetchrow(
                "SELECT merchant_id, secret_sha256, revoked_at IS NOT NULL AS revoked "
                "FROM api_keys WHERE key_id = $1",
                key_id,
            )  # bounded by the pool's command timeout, derived from the request deadline
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        log.error("api key lookup failed", extra={"error": type(exc).__name__})
        raise ApiError(503, "unavailable", "authentication unavailable; retry") from None


async def authenticated_merchant(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None,
) -> str:
    """The merchant id the presented API key belongs to, or the one 401 for every failure."""
    if credentials is None:
        raise _unauthorized()
    presented = credentials.credentials
    parsed = parse_key(presented)
    if parsed is None:
        raise _unauthorized()
    key_id, secret = parsed
    settings: Settings = request.app.state.settings
    cache = _cache(request)
    fingerprint = hashlib.sha256(presented.encode("ascii")).digest()
    cached = cache.get(fingerprint) if settings.api_key_cache_seconds > 0 else None
    if cached is not None:
        return cached
    row = await _lookup(request, key_id)
    digest = secret_digest(secret)
    if row is None:
        hmac.compare_digest(digest, _DUMMY_DIGEST)  # same work as a known key id
        log.info("api key rejected", extra={"key_id": key_id, "reason": "unknown"})
        raise _unauthorized()
    if not hmac.compare_digest(digest, bytes(row["secret_sha256"])):
        log.info("api key rejected", extra={"key_id": key_id, "reason": "secret"})
        raise _unauthorized()
    if row["revoked"]:
        log.info("api key rejected", extra={"key_id": key_id, "reason": "revoked"})
        raise _unauthorized()
    merchant_id: str = row["merchant_id"]
    if settings.api_key_cache_seconds > 0:
        cache.put(fingerprint, merchant_id, settings.api_key_cache_seconds)
    return merchant_id


MerchantDep = Annotated[str, Depends(authenticated_merchant)]
