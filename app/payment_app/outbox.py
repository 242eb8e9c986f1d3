"""The outbox relay: sends committed dispatch records to SQS and marks them sent.

POST /payments writes the payment and its `payment_outbox` record in one transaction and answers
202 without touching SQS. This relay, running in every API task, publishes what is committed:

- it drains at start (records a crashed task left behind), after every local commit
  (`notify`), and again with backoff while records remain unsent (SQS down);
- a batch is locked with `FOR UPDATE SKIP LOCKED`, so relays of several tasks never send the
  same record concurrently, and a record is marked sent only after SQS accepted it;
- delivery is therefore at least once: a crash between the send and the mark sends the record
  again later, and the worker is idempotent per payment.

It does not poll an empty outbox: an idle service holds no database connection, which is what
lets Aurora Serverless v2 auto-pause. A record left by a task that died is sent when ECS starts
its replacement (every relay drains at start) or at the next commit in any task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

SQS_MAX_BATCH = 10  # SendMessageBatch takes at most 10 entries
MAX_BACKOFF_SECONDS = 30.0


class OutboxRelay:
    """One relay per process; `run` until `stop`."""

    def __init__(self, pool: asyncpg.Pool, sqs: Any, queue_url: str) -> None:
        self.pool = pool
        self.sqs = sqs
        self.queue_url = queue_url
        self.fifo = queue_url.endswith(".fifo")
        self._wake = asyncio.Event()
        self._stopping = False

    def notify(self) -> None:
        """A payment was committed: drain soon (the request does not wait for it)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the batch in hand and return from `run`."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Drain now, then whenever notified; retry with backoff while a drain fails."""
        backoff = 0.0
        while not self._stopping:
            self._wake.clear()
            try:
                await self.drain()
                backoff = 0.0
                timeout: float | None = None
            except Exception as exc:
                backoff = min(max(backoff * 2, 0.5), MAX_BACKOFF_SECONDS)
                timeout = backoff
                log.error("outbox relay failed; retrying", extra={"error": type(exc).__name__})
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def drain(self) -> int:
        """Send every unsent record; returns how many were sent. Raises if a send fails."""
        total = 0
        while not self._stopping:
            sent, selected = await self.relay_batch()
            total += sent
            if selected < SQS_MAX_BATCH:
                return total
        return total

    async def relay_batch(self) -> tuple[int, int]:
        """Lock, send and mark up to one SQS batch; returns (sent, selected)."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """
                SELECT payment_id::text AS payment_id, message_body, message_group
                  FROM payment_outbox
                 WHERE sent_at IS NULL
                 ORDER BY created_at
                 LIMIT $1
                   FOR UPDATE SKIP LOCKED
                """,
                SQS_MAX_BATCH,
            )
            if not rows:
                return 0, 0
            sent, failed = await self._send(rows)
            if sent:
                await conn.execute(
                    "UPDATE payment_outbox SET sent_at = now(), attempts = attempts + 1 "
                    "WHERE payment_id = ANY($1::uuid[])",
                    sent,
                )
                await conn.execute(
                    "UPDATE payments SET enqueued_at = now() WHERE id = ANY($1::uuid[]) "
                    "AND enqueued_at IS NULL",
                    sent,
                )
            if failed:
                await conn.execute(
                    "UPDATE payment_outbox SET attempts = attempts + 1 "
                    "WHERE payment_id = ANY($1::uuid[])",
                    failed,
                )
        if failed:
            raise OutboxSendError(len(failed))
        log.info("outbox relayed", extra={"sent": len(sent)})
        return len(sent), len(rows)

    async def _send(self, rows: list[asyncpg.Record]) -> tuple[list[str], list[str]]:
        """One SendMessageBatch; entry ids are the row positions (payment ids are too long)."""
        entries: list[dict[str, str]] = []
        for index, row in enumerate(rows):
            entry = {"Id": str(index), "MessageBody": row["message_body"]}
            if self.fifo:
                entry["MessageGroupId"] = row["message_group"]
                entry["MessageDeduplicationId"] = row["payment_id"]
            entries.append(entry)
        try:
            response = await asyncio.to_thread(
                self.sqs.send_message_batch, QueueUrl=self.queue_url, Entries=entries
            )
        except Exception:
            return [], [row["payment_id"] for row in rows]
        ok = {int(item["Id"]) for item in response.get("Successful", [])}
        sent = [row["payment_id"] for i, row in enumerate(rows) if i in ok]
        failed = [row["payment_id"] for i, row in enumerate(rows) if i not in ok]
        return sent, failed


class OutboxSendError(Exception):
    """SQS did not accept every record of a batch; they stay unsent and are retried."""

    def __init__(self, count: int) -> None:
        super().__init__(f"{count} outbox record(s) not accepted by SQS")
        self.count = count
