"""Cache-aside for payment status in Redis; a cache outage degrades to database reads."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.credentials import CredentialProvider
from redis.exceptions import RedisError
from redis.maint_notifications import MaintNotificationsConfig

from payment_app.config import Settings
from payment_app.credentials import redis_credentials_provider

log = logging.getLogger(__name__)


# NOTE: ElastiCache disconnects IAM-authenticated connections after 12 hours (auth-iam.html,
# Limitations; tokens are valid 15 minutes), and a connection the server closed for any other
# reason looks the same. The client below replaces one without a failed call: the pool checks a
# connection before handing it out and reconnects one the server has closed (redis-py skips that
# check while maintenance notifications are on, one more reason they are off),
# `health_check_interval` PINGs one idle longer than that and reconnects if the PING fails, and
# `retry` reconnects and repeats a command that still hit a connection error. Every reconnect
# asks the credential provider again, so it gets a fresh token, never the expired first one.
# tests/app/test_credentials.py kills the service's connections server-side to prove it.
def create_client(settings: Settings, credentials: CredentialProvider | None = None) -> redis.Redis:
    """Redis client; rediss with certificate verification when REDIS_TLS is true.

    `credentials` is asked for `(user, password or token)` on every new connection; it defaults
    to the provider REDIS_AUTH selects.
    """
    if credentials is None:
        credentials = redis_credentials_provider(settings)
    return redis.Redis(
        host=settings.redis_host,
        port=settings.redis_port,
        credential_provider=credentials,
        ssl=settings.redis_tls,
        ssl_cert_reqs="required" if settings.redis_tls else "none",
        ssl_check_hostname=settings.redis_tls,  # explicit: older redis-py defaulted to off
        socket_timeout=0.5,
        socket_connect_timeout=1.0,
        health_check_interval=30,
        # One quick retry only: a slow cache must not make status reads slower than the DB.
        retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.05), retries=1),
        max_connections=100,
        decode_responses=True,
        # No CLIENT SETINFO or CLIENT MAINT_NOTIFICATIONS on connect: the service's ElastiCache
        # user may run only GET, SET, DEL and PING, so each would be refused on every connect.
        driver_info=None,
        maint_notifications_config=MaintNotificationsConfig(enabled=False),
    )


class PaymentCache:
    """Readers populate with SET NX; writers overwrite, so a slow reader cannot undo a change."""

    def __init__(self, client: redis.Redis, ttl_seconds: int, bypass_seconds: float = 5.0) -> None:
        self.client = client
        self.ttl = ttl_seconds
        self.bypass_seconds = bypass_seconds
        self._bypass_until = 0.0

    def _bypassing(self) -> bool:
        """After a read-path failure, skip the cache briefly instead of timing out each time."""
        return time.monotonic() < self._bypass_until

    def _trip(self, what: str, exc: Exception) -> None:
        self._bypass_until = time.monotonic() + self.bypass_seconds
        log.warning(f"cache {what} failed; bypassing", extra={"error": type(exc).__name__})

    @staticmethod
    def key(payment_id: str) -> str:
        """Versioned, so a new cached shape can move to new keys instead of misreading old ones."""
        return f"payment:v1:{payment_id}"

    async def get_raw(self, payment_id: str) -> str | None:
        """Cached JSON text (served as-is on a hit), or None on a miss or cache error."""
        if self._bypassing():
            return None
        try:
            raw = await self.client.get(self.key(payment_id))
        except RedisError as exc:
            self._trip("read", exc)
            return None
        return raw if isinstance(raw, str) else None

    async def get(self, payment_id: str) -> dict[str, Any] | None:
        """The cached view decoded, for callers that need fields rather than the raw text."""
        raw = await self.get_raw(payment_id)
        value = json.loads(raw) if raw is not None else None
        return value if isinstance(value, dict) else None

    async def populate(self, payment_id: str, view: dict[str, Any]) -> None:
        """Fill after a miss, without overwriting a fresher value a writer may have set."""
        if self._bypassing():
            return
        try:
            await self.client.set(self.key(payment_id), json.dumps(view), ex=self.ttl, nx=True)
        except RedisError as exc:
            self._trip("populate", exc)

    async def refresh(self, payment_id: str, view: dict[str, Any]) -> None:
        """Replace the entry after a status change; fall back to deleting it."""
        key = self.key(payment_id)
        try:
            await self.client.set(key, json.dumps(view), ex=self.ttl)
            return
        except RedisError as exc:
            log.warning("cache refresh failed", extra={"error": type(exc).__name__})
        await self.invalidate(payment_id)

    async def invalidate(self, payment_id: str) -> None:
        """Drop the entry; a failure is an error, since a stale status then lives until the TTL."""
        try:
            await self.client.delete(self.key(payment_id))
        except RedisError as exc:
            log.error("cache invalidation failed", extra={"error": type(exc).__name__})

    async def ping(self) -> None:
        """Round-trip for the readiness probe; unlike the read paths it raises on failure."""
        await self.client.ping()
