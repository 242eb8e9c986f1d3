"""PostgreSQL access through asyncpg; every status change is a guarded conditional UPDATE."""

from __future__ import annotations

import ssl
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from payment_app.config import Settings
from payment_app.credentials import DbPassword, db_password_provider
from payment_app.models import Payment, PaymentRequest, PaymentStatus

_COLUMNS = """
    id::text AS id, idempotency_key, request_hash, merchant_id, amount, currency,
    payment_method_token, description, status, failure_reason, processor_reference,
    enqueued_at IS NOT NULL AS enqueued, event_published_at IS NOT NULL AS event_published,
    created_at, updated_at
"""


def ssl_context(settings: Settings) -> ssl.SSLContext | bool:
    """Map libpq-style sslmode onto an SSLContext (verify-full checks CA and host name)."""
    mode = settings.db_sslmode
    if mode == "disable":
        return False
    if mode == "require":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx = ssl.create_default_context(cafile=settings.db_sslrootcert)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = mode == "verify-full"
    return ctx


def connect_kwargs(settings: Settings, password: DbPassword | str) -> dict[str, Any]:
    """Connection arguments as the application role.

    asyncpg calls a callable password (an IAM token provider) for every new connection.
    """
    return {
        "host": settings.db_host,
        "port": settings.db_port,
        "database": settings.db_name,
        "user": settings.db_user,
        "password": password,
        "ssl": ssl_context(settings),
        "timeout": 5,
        "server_settings": {"application_name": f"payment-app-{settings.environment}"},
    }


async def create_pool(settings: Settings, password: DbPassword | None = None) -> asyncpg.Pool:
    """Lazy pool as the application role, with no minimum size: connections are opened on
    demand, so the API starts (and reports not-ready) while the database is down, and every
    connection closes after DB_POOL_IDLE_SECONDS idle, which lets Aurora Serverless auto-pause.

    `password` defaults to the provider DB_AUTH selects (a fresh IAM token per connection).
    """
    if password is None:
        password = db_password_provider(settings)
    pool = await asyncpg.create_pool(
        min_size=0,
        max_size=settings.db_pool_max,
        command_timeout=10,
        max_inactive_connection_lifetime=settings.db_pool_idle_seconds,
        **connect_kwargs(settings, password),
    )
    assert pool is not None
    return pool


def _row(record: asyncpg.Record | None) -> Payment | None:
    return None if record is None else Payment.model_validate(dict(record))


async def create_or_get(
    pool: asyncpg.Pool, idempotency_key: str, request: PaymentRequest
) -> tuple[Payment, bool]:
    """Insert a pending payment, or return the one already stored under the key."""
    async with pool.acquire() as conn:
        record = await conn.fetchrow(
            f"""
            INSERT INTO payments (idempotency_key, request_hash, merchant_id, amount, currency,
                                  payment_method_token, description, status)
            VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending')
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING {_COLUMNS}
            """,
            idempotency_key,
            request.fingerprint(),
            request.merchant_id,
            request.amount,
            request.currency,
            request.payment_method_token,
            request.description,
        )
        if record is not None:
            payment = _row(record)
            assert payment is not None
            return payment, True
        existing = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM payments WHERE idempotency_key = $1", idempotency_key
        )
    payment = _row(existing)
    if payment is None:  # pragma: no cover - a conflict implies the row exists
        raise RuntimeError("idempotency conflict without an existing row")
    return payment, False


async def get_payment(pool: asyncpg.Pool, payment_id: str) -> Payment | None:
    """Fetch one payment by id."""
    async with pool.acquire() as conn:
        record = await conn.fetchrow(f"SELECT {_COLUMNS} FROM payments WHERE id = $1", payment_id)
    return _row(record)


async def claim_enqueue(pool: asyncpg.Pool, payment_id: str) -> bool:
    """Mark the payment as enqueued; only the caller that wins the update sends to SQS."""
    async with pool.acquire() as conn:
        value = await conn.fetchval(
            "UPDATE payments SET enqueued_at = now() WHERE id = $1 AND enqueued_at IS NULL "
            "RETURNING true",
            payment_id,
        )
    return bool(value)


async def release_enqueue(pool: asyncpg.Pool, payment_id: str) -> None:
    """Undo claim_enqueue after a failed send so a client retry with the same key re-sends."""
    async with pool.acquire() as conn:
        await conn.execute("UPDATE payments SET enqueued_at = NULL WHERE id = $1", payment_id)


async def transition(
    pool: asyncpg.Pool,
    payment_id: str,
    from_status: PaymentStatus,
    to_status: PaymentStatus,
    *,
    failure_reason: str | None = None,
    processor_reference: str | None = None,
) -> Payment | None:
    """Move from_status -> to_status; None when another worker already moved it."""
    async with pool.acquire() as conn:
        record = await conn.fetchrow(
            f"""
            UPDATE payments
               SET status = $3, failure_reason = COALESCE($4, failure_reason),
                   processor_reference = COALESCE($5, processor_reference), updated_at = now()
             WHERE id = $1 AND status = $2
            RETURNING {_COLUMNS}
            """,
            payment_id,
            from_status,
            to_status,
            failure_reason,
            processor_reference,
        )
    return _row(record)


async def mark_event_published(pool: asyncpg.Pool, payment_id: str) -> None:
    """Remember the terminal event went out so a redelivered message does not publish twice."""
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE payments SET event_published_at = now() WHERE id = $1 "
            "AND event_published_at IS NULL",
            payment_id,
        )


async def ping(pool: asyncpg.Pool) -> None:
    """Round-trip to the database; raises on failure."""
    async with pool.acquire(timeout=2) as conn:
        await conn.fetchval("SELECT 1", timeout=2)
