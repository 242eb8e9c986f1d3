"""TLS to PostgreSQL and Redis through the app's own settings, db and cache code.

The servers (conftest.py) present a certificate for 127.0.0.1/localhost signed by a throwaway CA.
PostgreSQL: DB_SSLMODE/DB_SSLROOTCERT. Redis: REDIS_TLS=true verifies against the default
OpenSSL trust store (ElastiCache chains to a public CA), which SSL_CERT_FILE points at the
throwaway CA here.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from payment_app import cache, db
from payment_app.api import create_app
from payment_app.config import Settings, load_settings
from redis.asyncio.connection import SSLConnection
from redis.exceptions import ConnectionError as RedisConnectionError

pytestmark = pytest.mark.asyncio

PG_SSL_QUERY = "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


@pytest.fixture
def tls_env(
    env: dict[str, str],
    tls_material: Any,
    redis_tls_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, str]]:
    """The session env switched to verify-full PostgreSQL and TLS-only Redis."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_material.ca_cert))
    yield {
        **env,
        "DB_SSLMODE": "verify-full",
        "DB_SSLROOTCERT": str(tls_material.ca_cert),
        "REDIS_HOST": redis_tls_server.host,
        "REDIS_PORT": str(redis_tls_server.port),
        "REDIS_TLS": "true",
    }


def load(env: dict[str, str], **overrides: str) -> Settings:
    return load_settings({**env, **overrides}, role="api")


@asynccontextmanager
async def pg_pool(settings: Settings) -> AsyncIterator[Any]:
    pool = await db.create_pool(settings)
    try:
        yield pool
    finally:
        await pool.close()


@asynccontextmanager
async def redis_client(settings: Settings) -> AsyncIterator[redis.Redis]:
    client = cache.create_client(settings)
    try:
        yield client
    finally:
        await client.aclose()


async def pg_ssl_row(settings: Settings) -> dict[str, Any]:
    async with pg_pool(settings) as pool, pool.acquire() as conn:
        row = await conn.fetchrow(PG_SSL_QUERY)
    assert row is not None
    return dict(row)


async def pg_verify_error(settings: Settings) -> ssl.SSLCertVerificationError:
    with pytest.raises(ssl.SSLCertVerificationError) as caught:
        async with pg_pool(settings) as pool:
            await db.ping(pool)
    return caught.value


# --- PostgreSQL ------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_postgres_verify_full_with_right_ca_uses_tls(
    tls_env: dict[str, str], host: str
) -> None:
    settings = load(tls_env, DB_HOST=host)
    assert settings.db_sslmode == "verify-full"
    row = await pg_ssl_row(settings)
    assert row["ssl"] is True
    assert row["version"] in ("TLSv1.2", "TLSv1.3")


async def test_postgres_plain_connection_still_accepted_without_tls(env: dict[str, str]) -> None:
    """Control: the same server reports ssl = false for the suite's DB_SSLMODE=disable setup,
    so ssl = true above is a property of the connection, not of the query."""
    row = await pg_ssl_row(load(env))
    assert row["ssl"] is False


async def test_postgres_verify_full_with_other_ca_fails(
    tls_env: dict[str, str], tls_material: Any
) -> None:
    settings = load(tls_env, DB_SSLROOTCERT=str(tls_material.other_ca_cert))
    error = await pg_verify_error(settings)
    assert "certificate verify failed" in str(error)
    assert error.verify_code == 20  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY


async def test_postgres_verify_full_rejects_host_not_in_certificate(
    tls_env: dict[str, str], uncertified_host: str
) -> None:
    error = await pg_verify_error(load(tls_env, DB_HOST=uncertified_host))
    assert "certificate verify failed" in str(error)
    assert "mismatch" in error.verify_message.lower()  # "IP address mismatch"


async def test_postgres_verify_ca_accepts_host_not_in_certificate(
    tls_env: dict[str, str], uncertified_host: str
) -> None:
    """Control for the test above: the address is reachable and the chain is fine, so
    verify-full fails on the host name check alone (verify-ca skips it by design)."""
    row = await pg_ssl_row(load(tls_env, DB_HOST=uncertified_host, DB_SSLMODE="verify-ca"))
    assert row["ssl"] is True


# --- Redis -----------------------------------------------------------------------------------


async def test_redis_tls_with_ca_pings(tls_env: dict[str, str]) -> None:
    settings = load(tls_env)
    assert settings.redis_tls is True
    async with redis_client(settings) as client:
        assert client.connection_pool.connection_class is SSLConnection
        assert await client.ping() is True
        await cache.PaymentCache(client, settings.cache_ttl_seconds).ping()


async def test_redis_tls_port_refuses_plaintext(tls_env: dict[str, str]) -> None:
    """Control: the server has no plaintext port, so the PING above really went over TLS."""
    async with redis_client(load(tls_env, REDIS_TLS="false")) as client:
        with pytest.raises(RedisConnectionError):
            await client.ping()


async def test_redis_tls_with_other_ca_fails(
    tls_env: dict[str, str], tls_material: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_material.other_ca_cert))
    async with redis_client(load(tls_env)) as client:
        with pytest.raises(RedisConnectionError, match="certificate verify failed"):
            await client.ping()


async def test_redis_tls_rejects_host_not_in_certificate(
    tls_env: dict[str, str], uncertified_host: str
) -> None:
    """redis-py 8 checks the host name by default; this pins that the app relies on it."""
    async with redis_client(load(tls_env, REDIS_HOST=uncertified_host)) as client:
        with pytest.raises(RedisConnectionError, match="mismatch"):
            await client.ping()


# --- The API, end to end ---------------------------------------------------------------------


async def _ready(settings: Settings) -> httpx.Response:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            return await http.get("/ready")


async def test_ready_through_tls_configuration(tls_env: dict[str, str]) -> None:
    # RUN_MIGRATIONS=true: the lifespan's Alembic run (at head: a no-op) also goes over TLS.
    response = await _ready(load(tls_env, RUN_MIGRATIONS="true"))
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "cache": "ok"}}


async def test_ready_not_ready_when_certificates_do_not_verify(
    tls_env: dict[str, str], tls_material: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong CA never degrades to plaintext: both dependencies report errors, 503."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_material.other_ca_cert))
    response = await _ready(load(tls_env, DB_SSLROOTCERT=str(tls_material.other_ca_cert)))
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": "error: SSLCertVerificationError",
        "cache": "error: ConnectionError",
    }


async def test_migrations_fail_fast_on_a_certificate_error(
    tls_env: dict[str, str], tls_material: Any
) -> None:
    """A wrong CA does not heal by waiting: the task stops at once instead of retrying."""
    import time

    from payment_app import migrate

    settings = load(tls_env, DB_SSLROOTCERT=str(tls_material.other_ca_cert))
    started = time.monotonic()
    with pytest.raises(ssl.SSLCertVerificationError):
        await migrate.upgrade_async(settings, attempts=3)
    assert time.monotonic() - started < 2.0  # no backoff sleeps (the first would be 2 s)
