"""The worker's own SQL: claims, dead-lettering and the stuck sweep.

Every statement writes only columns the application role may update (status, failure_reason,
updated_at) and is a guarded conditional UPDATE, so two workers racing on one payment cannot both
win. For a payment in `processing`, `updated_at` is the claim's heartbeat: the worker authorising
it refreshes it, so a claim older than the visibility timeout belongs to a worker that died.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg  # type: ignore[import-untyped]

DEAD_LETTERED = "dead_lettered"  # the failure_reason of a payment whose message was dead-lettered


@dataclass(frozen=True)
class ProcessingCount:
    """What one stuck sweep saw: payments in `processing`, and how many of them are stuck."""

    processing: int
    stuck: int


async def take_over_stale_claim(pool: asyncpg.Pool, payment_id: str, stale_seconds: float) -> bool:
    """Claim a payment left in `processing` by a worker that stopped heartbeating.

    False when the claim is still live (refreshed within `stale_seconds`) or the payment is no
    longer `processing`: the caller must then not authorise.
    """
    async with pool.acquire() as conn:
        value = await conn.fetchval(
            """
            UPDATE payments SET updated_at = now()
             WHERE id = $1 AND status = 'processing'
               AND updated_at < now() - make_interval(secs => $2)
            RETURNING true
            """,
            payment_id,
            float(stale_seconds),
        )
    return bool(value)


async def refresh_claim(pool: asyncpg.Pool, payment_id: str) -> bool:
    """Heartbeat of a live authorisation, so no other worker takes the claim over."""
    async with pool.acquire() as conn:
        value = await conn.fetchval(
            "UPDATE payments SET updated_at = now() WHERE id = $1 AND status = 'processing' "
            "RETURNING true",
            payment_id,
        )
    return bool(value)


async def fail_dead_lettered(pool: asyncpg.Pool, payment_id: str, stale_seconds: float) -> bool:
    """Move a payment whose message was dead-lettered to `failed` (`dead_lettered`).

    A `pending` payment always; a `processing` one only when its claim is stale, because a live
    claim means a worker is authorising it right now (a duplicate message of the same payment
    can be dead-lettered meanwhile) and its outcome must win. False: nothing was changed (the
    payment is terminal already, or a live claim holds it).
    """
    async with pool.acquire() as conn:
        value = await conn.fetchval(
            """
            UPDATE payments
               SET status = 'failed', failure_reason = $2, updated_at = now()
             WHERE id = $1
               AND (status = 'pending'
                    OR (status = 'processing'
                        AND updated_at < now() - make_interval(secs => $3)))
            RETURNING true
            """,
            payment_id,
            DEAD_LETTERED,
            float(stale_seconds),
        )
    return bool(value)


async def count_processing(pool: asyncpg.Pool, stuck_seconds: float) -> ProcessingCount:
    """One query: payments in `processing`, and those not updated for `stuck_seconds`."""
    async with pool.acquire() as conn:
        record = await conn.fetchrow(
            """
            SELECT count(*) AS processing,
                   count(*) FILTER (WHERE updated_at < now() - make_interval(secs => $1))
                       AS stuck
              FROM payments
             WHERE status = 'processing'
            """,
            float(stuck_seconds),
        )
    return ProcessingCount(processing=int(record["processing"]), stuck=int(record["stuck"]))
