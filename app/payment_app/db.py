"""PostgreSQL access through asyncpg; every status change is a guarded conditional UPDATE."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from payment_app.config import Settings
from payment_app.credentials import DbPassword, db_password_provider
from payment_app.models import Payment, PaymentRequest, PaymentStatus

_COLUMNS = """
    id::text AS id, request_hash, merchant_id, amount, currency,
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
    kwargs = connect_kwargs(settings, password)
    # Both below the request deadline: the client's timeout on a hung server (no answer at
    # all) and the server's own, which also frees the backend of a statement nobody awaits.
    kwargs["server_settings"]["statement_timeout"] = str(settings.db_statement_timeout_ms)
    pool = await asyncpg.create_pool(
        min_size=0,
        max_size=settings.db_pool_max,
        command_timeout=settings.request_deadline_seconds * 0.8,
        max_inactive_connection_lifetime=settings.db_pool_idle_seconds,
        **kwargs,
    )
    assert pool is not None
    return pool


def _row(record: asyncpg.Record | None) -> Payment | None:
    return None if record is None else Payment.model_validate(dict(record))


@dataclass(frozen=True)
class Dispatch:
    """The queue message a new payment is due to be sent as, stored with it (the outbox)."""

    body: str
    group: str


async def create_or_get(
    pool: asyncpg.Pool,
    merchant_id: str,
    digests: list[bytes],
    request: PaymentRequest,
    dispatch: Callable[[str], Dispatch],
    *,
    timeout: float | None = None,
) -> tuple[Payment, bool]:
    """Store a pending payment and its outbox record in one transaction, or return the
    merchant's payment already stored under one of `digests` (the first is the new key's).

    Once this returns `created`, the payment is durably due for processing: the relay sends
    every committed outbox record, whatever happens to this process afterwards.
    """
    async with pool.acquire(timeout=timeout) as conn, conn.transaction():
        existing = await _by_digest(conn, merchant_id, digests)
        if existing is not None:
            return existing, False
        record = await conn.fetchrow(
            f"""
            INSERT INTO payments (idempotency_digest, request_hash, merchant_id, amount,
                                  currency, payment_method_token, description, status)
            VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending')
            ON CONFLICT (merchant_id, idempotency_digest) DO NOTHING
            RETURNING {_COLUMNS}
            """,
            digests[0],
            request.fingerprint(),
            merchant_id,
            request.amount,
            request.currency,
            request.payment_method_token,
            request.description,
        )
        if record is None:  # a concurrent request with the same key committed first
            raced = await _by_digest(conn, merchant_id, digests)
            if raced is None:  # pragma: no cover - a conflict implies the row exists
                raise RuntimeError("idempotency conflict without an existing row")
            return raced, False
        payment = _row(record)
        assert payment is not None
        message = dispatch(payment.id)
        await conn.execute(
            "INSERT INTO payment_outbox (payment_id, message_body, message_group) "
            "VALUES ($1, $2, $3)",
            payment.id,
            message.body,
            message.group,
        )
    return payment, True


async def _by_digest(
    conn: asyncpg.Connection, merchant_id: str, digests: list[bytes]
) -> Payment | None:
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM payments WHERE merchant_id = $1 "
        "AND idempotency_digest = ANY($2::bytea[])",
        merchant_id,
        digests,
    )
    return _row(record)


async def get_payment(
    pool: asyncpg.Pool, payment_id: str, *, timeout: float | None = None
) -> Payment | None:
    """Fetch one payment by id (`timeout`: the longest wait for a pooled connection)."""
    async with pool.acquire(timeout=timeout) as conn:
        record = await conn.fetchrow(f"SELECT {_COLUMNS} FROM payments WHERE id = $1", payment_id)
    return _row(record)


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


@contextlib.asynccontextmanager
async def event_publication(
    pool: asyncpg.Pool, payment_id: str
) -> AsyncIterator[Callable[[], Awaitable[None]] | None]:
    """The payment's row, locked while its terminal event is recorded and published.

    Yields `mark` (remember the event went out, in the same transaction) when this caller is to
    publish; None when the event is out already or another worker holds the row right now.
    Two deliveries of one payment (the outbox sends a message again after a crash) can both
    find it terminal and unpublished; without the lock both would publish. The one that skips
    may drop its message: the holder's message stays until the holder's mark commits.
    """
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT event_published_at FROM payments WHERE id = $1 FOR UPDATE SKIP LOCKED",
            payment_id,
        )
        if row is None or row["event_published_at"] is not None:
            yield None
            return

        async def mark() -> None:
            await conn.execute(
                "UPDATE payments SET event_published_at = now() WHERE id = $1", payment_id
            )

        yield mark


async def ping(pool: asyncpg.Pool) -> None:
    """Round-trip to the database; raises on failure."""
    async with pool.acquire(timeout=2) as conn:
        await conn.fetchval("SELECT 1", timeout=2)
