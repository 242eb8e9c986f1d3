"""SQS consumer: one authorisation per payment at a time, dead-lettered payments failed, a
sweep that reports payments stuck in `processing`, and a stop that does not wait for a poll.

Delivery is at least once (the queue, and the outbox relay that feeds it), so two messages for
one payment can reach two workers at once. Only the worker that moved the payment
pending -> processing, or that took over a stale claim, calls the processor; the claim is kept
alive by refreshing `updated_at` from the visibility heartbeat.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from payment_app import db, records
from payment_app.cache import PaymentCache
from payment_app.config import Settings
from payment_app.healthcheck import WORKER_HEARTBEAT
from payment_app.logs import request_id_var
from payment_app.models import TERMINAL_STATUSES, Payment
from payment_app.processor import PaymentProcessor
from payment_app.retry import with_retries
from payment_app.worker import store

log = logging.getLogger(__name__)

# The stuck sweep runs at most this often, and only while there is work (see `sweep`).
SWEEP_INTERVAL_SECONDS = 60.0
# Dead-lettered messages are rare and each costs a few writes: a small batch per receive.
DEAD_LETTER_BATCH_SIZE = 5
# After SIGTERM, in-flight messages get this long to finish; the rest are cancelled and handed
# back. Below ECS's stop timeout (30 s by default, 120 s on the worker's task definition).
STOP_DRAIN_SECONDS = 25.0
# A dead-lettered message naming no payment stays in the DLQ; received again only this often so
# it is not logged on every poll.
UNUSABLE_DEAD_LETTER_RETRY_SECONDS = 900


class PaymentNotFoundError(Exception):
    """The message names a payment that is not in the database."""


class ClaimHeldError(Exception):
    """Another worker is authorising this payment now; the message is left for redelivery."""


class _Lease:
    """One message being worked on, and whether this handling holds its payment's claim.

    Mutable and private: the heartbeat reads `holds_claim` to know whether to refresh the claim.
    """

    def __init__(self, queue_url: str | None, receipt: str | None, payment_id: str) -> None:
        self.queue_url = queue_url
        self.receipt = receipt
        self.payment_id = payment_id
        self.holds_claim = False


class PaymentWorker:
    """Polls the payment queue and its DLQ until request_stop(); in-flight work is finished."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        cache: PaymentCache,
        processor: PaymentProcessor,
        *,
        sqs: Any,
        s3: Any,
        sns: Any,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.cache = cache
        self.processor = processor
        self.sqs, self.s3, self.sns = sqs, s3, sns
        self._stop = asyncio.Event()
        self._handled_since_sweep = False  # a message was handled since the last sweep
        self._sweep_saw_processing = False  # the last sweep found payments in `processing`

    def request_stop(self) -> None:
        """Called from the SIGTERM handler: stop polling now, let current messages finish."""
        if not self._stop.is_set():
            log.info("shutdown requested; finishing in-flight messages")
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether a stop was requested, for callers that must not start new work."""
        return self._stop.is_set()

    async def run(self) -> None:
        """Poll both queues and sweep until stopped; in-flight messages get STOP_DRAIN_SECONDS."""
        log.info(
            "worker polling",
            extra={
                "queue": self.settings.payment_queue_url,
                "dead_letter_queue": self.settings.payment_dlq_url,
            },
        )
        loops = [
            asyncio.create_task(self._poll(self.run_once), name="payment-queue"),
            asyncio.create_task(self._poll(self.run_dead_letters_once), name="dead-letter-queue"),
            asyncio.create_task(self._sweep_loop(), name="stuck-sweep"),
        ]
        try:
            await self._stop.wait()
            _, unfinished = await asyncio.wait(loops, timeout=STOP_DRAIN_SECONDS)
            if unfinished:
                log.warning("in-flight messages did not finish in time; handing them back")
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            with contextlib.suppress(OSError):
                WORKER_HEARTBEAT.unlink()
        log.info("worker stopped")

    async def _poll(self, once: Callable[[], Awaitable[int]]) -> None:
        """Repeat one receive-and-handle step; a failing poll backs off instead of crashing."""
        failures = 0
        while not self.stopping:
            _beat()
            try:
                await once()
                failures = 0
            except Exception as exc:
                failures += 1
                log.error("poll failed", extra={"error": type(exc).__name__})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=min(2.0**failures, 30.0))

    async def run_once(self) -> int:
        """One long poll of the payment queue and processing of what it returned (the count)."""
        queue_url = self.settings.payment_queue_url
        messages = await self._receive(queue_url, self.settings.worker_batch_size)
        if not messages:
            return 0
        if self.stopping:  # received after SIGTERM: hand back instead of starting new work
            await asyncio.gather(*(self._set_visibility(queue_url, m, 0) for m in messages))
            return 0
        self._handled_since_sweep = True
        await asyncio.gather(*(self.handle(m) for m in messages))
        return len(messages)

    async def run_dead_letters_once(self) -> int:
        """One long poll of the dead-letter queue and handling of what it returned (the count)."""
        queue_url = self.settings.payment_dlq_url
        messages = await self._receive(queue_url, DEAD_LETTER_BATCH_SIZE)
        if not messages:
            return 0
        if self.stopping:
            await asyncio.gather(*(self._set_visibility(queue_url, m, 0) for m in messages))
            return 0
        self._handled_since_sweep = True
        await asyncio.gather(*(self.handle_dead_letter(m) for m in messages))
        return len(messages)

    async def handle(self, message: dict[str, Any]) -> bool:
        """Process one message; delete it only on success. Returns whether it was deleted."""
        queue_url = self.settings.payment_queue_url
        receive_count = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
        token = request_id_var.set(message.get("MessageId", "unknown"))
        lease: _Lease | None = None
        heartbeat: asyncio.Task[None] | None = None
        try:
            payment_id = _payment_id(message.get("Body", ""))
            lease = _Lease(queue_url, message["ReceiptHandle"], payment_id)
            heartbeat = asyncio.create_task(self._heartbeat(lease))
            await with_retries(
                lambda: self.process(payment_id, lease=lease),
                attempts=self.settings.worker_max_attempts,
                base_delay=self.settings.worker_retry_base_ms / 1000,
                max_delay=5.0,
            )
            await asyncio.to_thread(
                self.sqs.delete_message, QueueUrl=queue_url, ReceiptHandle=lease.receipt
            )
            return True
        except ClaimHeldError:
            log.info(
                "payment is being authorised by another worker; message left for redelivery",
                extra={"payment_id": payment_id, "receive_count": receive_count},
            )
            return False
        except asyncio.CancelledError:
            # The stop's drain bound ran out. A held claim stays ours until it goes stale, so
            # the message comes back only then; otherwise it is handed back at once.
            holds = lease is not None and lease.holds_claim
            timeout = self.settings.worker_visibility_timeout if holds else 0
            await self._set_visibility(queue_url, message, timeout)
            raise
        except Exception as exc:
            log.error(
                "message failed; left for redelivery / dead-letter queue",
                extra={"error": type(exc).__name__, "receive_count": receive_count},
            )
            if lease is not None and lease.holds_claim:
                # Visible again one full timeout from now, when the claim (refreshed before
                # now) is stale: the redelivery takes it over instead of finding it held.
                await self._set_visibility(
                    queue_url, message, self.settings.worker_visibility_timeout
                )
            return False
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat
            request_id_var.reset(token)

    async def process(self, payment_id: str, *, lease: _Lease | None = None) -> Payment:
        """Advance one payment as far as it can go; every step is safe to repeat.

        Authorises only under the claim: this call (or an earlier attempt for the same lease)
        moved the payment pending -> processing, or took over a stale claim. A live claim of
        someone else raises ClaimHeldError, so the message waits for redelivery.
        """
        lease = lease or _Lease(None, None, payment_id)
        payment = await self._reload(payment_id)
        if payment.status == "pending":
            moved = await db.transition(self.pool, payment_id, "pending", "processing")
            if moved is not None:
                lease.holds_claim = True
                payment = moved
                await self.cache.refresh(payment_id, payment.public_view())
                await self._extend(lease)
            else:
                payment = await self._reload(payment_id)
        if payment.status == "processing":
            if not lease.holds_claim:
                stale = self.settings.worker_visibility_timeout
                if not await store.take_over_stale_claim(self.pool, payment_id, stale):
                    raise ClaimHeldError(payment_id)
                lease.holds_claim = True
                log.warning("took over a stale claim", extra={"payment_id": payment_id})
                payment = await self._reload(payment_id)
                await self._extend(lease)
            result = await self.processor.authorize(payment)
            moved = await db.transition(
                self.pool,
                payment_id,
                "processing",
                result.status,
                failure_reason=result.failure_reason,
                processor_reference=result.reference,
            )
            lease.holds_claim = False
            payment = moved or await self._reload(payment_id)
            await self.cache.refresh(payment_id, payment.public_view())
            log.info(
                "payment processed", extra={"payment_id": payment_id, "status": payment.status}
            )
        if payment.status in TERMINAL_STATUSES and not payment.event_published:
            await self._record_and_publish(payment)
        return payment

    async def handle_dead_letter(self, message: dict[str, Any]) -> bool:
        """Fail the payment of a dead-lettered message; delete the message once that is done.

        A message that names no existing payment stays in the DLQ (its depth alarm covers it);
        its body is never logged. Returns whether the message was deleted.
        """
        # NOTE: SQS moves a message to the dead-letter queue once it was received more than
        # maxReceiveCount times without being deleted (SQS Developer Guide, "Using dead-letter
        # queues in Amazon SQS":
        # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html).
        # So it arrives here at least one visibility timeout after the last attempt ended.
        queue_url = self.settings.payment_dlq_url
        token = request_id_var.set(message.get("MessageId", "unknown"))
        try:
            payment_id = _dead_letter_payment_id(message.get("Body", ""))
            if payment_id is None:
                log.error(
                    "dead-lettered message names no payment; left in the dead-letter queue",
                    extra={"dead_letter_unusable": 1},
                )
                await self._set_visibility(queue_url, message, UNUSABLE_DEAD_LETTER_RETRY_SECONDS)
                return False
            try:
                done = await with_retries(
                    lambda: self._dead_letter(payment_id),
                    attempts=self.settings.worker_max_attempts,
                    base_delay=self.settings.worker_retry_base_ms / 1000,
                    max_delay=5.0,
                )
            except PaymentNotFoundError:
                log.error(
                    "dead-lettered message names an unknown payment; left in the dead-letter queue",
                    extra={"payment_id": payment_id, "dead_letter_unusable": 1},
                )
                await self._set_visibility(queue_url, message, UNUSABLE_DEAD_LETTER_RETRY_SECONDS)
                return False
            except Exception as exc:
                log.error(
                    "dead-lettered message failed; left for the next receive",
                    extra={"payment_id": payment_id, "error": type(exc).__name__},
                )
                return False
            if not done:
                # Received with the visibility timeout: back when the live claim would be stale.
                log.info(
                    "dead-lettered payment is being authorised by a live worker; checked later",
                    extra={"payment_id": payment_id},
                )
                return False
            await asyncio.to_thread(
                self.sqs.delete_message, QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
            return True
        finally:
            request_id_var.reset(token)

    async def _dead_letter(self, payment_id: str) -> bool:
        """Fail a non-terminal payment (`dead_lettered`) and publish its terminal event.

        False while another worker's live claim holds the payment: its outcome must win.
        """
        payment = await self._reload(payment_id)
        if payment.status not in TERMINAL_STATUSES:
            stale = self.settings.worker_visibility_timeout
            changed = await store.fail_dead_lettered(self.pool, payment_id, stale)
            payment = await self._reload(payment_id)
            if changed:
                # Once per payment: a retry after this finds it terminal. An alarm counts these.
                log.warning(
                    "payment failed: its message was dead-lettered",
                    extra={"payment_id": payment_id, "dead_lettered": 1, "status": payment.status},
                )
                await self.cache.refresh(payment_id, payment.public_view())
            elif payment.status not in TERMINAL_STATUSES:
                return False
        if not payment.event_published:
            await self._record_and_publish(payment)
        return True

    async def sweep(self) -> store.ProcessingCount | None:
        """Count payments stuck in `processing` and log it; None when skipped.

        Skipped while the service is idle (nothing handled since the last sweep, which found
        nothing processing): a query would open a connection and keep Aurora Serverless v2 from
        auto-pausing, as the pool keeps a connection for 60 s and the pause delay is >= 5 min.
        """
        if not (self._handled_since_sweep or self._sweep_saw_processing):
            return None
        self._handled_since_sweep = False
        try:
            count = await store.count_processing(self.pool, self.settings.processing_stuck_seconds)
        except Exception:
            self._handled_since_sweep = True  # try again next time
            raise
        self._sweep_saw_processing = count.processing > 0
        log.log(
            logging.WARNING if count.stuck else logging.INFO,
            "stuck payment sweep",
            extra={"stuck_payments": count.stuck, "processing_payments": count.processing},
        )
        return count

    async def _sweep_loop(self) -> None:
        """Sweep every SWEEP_INTERVAL_SECONDS until stopped (the sweep itself may skip)."""
        while not self.stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=SWEEP_INTERVAL_SECONDS)
            if self.stopping:
                return
            try:
                await self.sweep()
            except Exception as exc:
                log.error("stuck sweep failed", extra={"error": type(exc).__name__})

    async def _reload(self, payment_id: str) -> Payment:
        payment = await db.get_payment(self.pool, payment_id)
        if payment is None:
            raise PaymentNotFoundError(payment_id)
        return payment

    async def _record_and_publish(self, payment: Payment) -> None:
        """The transaction record and the terminal event, once: under the payment's row lock, so
        a duplicate message handled at the same time skips instead of publishing again.
        """
        async with db.event_publication(self.pool, payment.id) as mark:
            if mark is None:
                return
            await self._put_record_and_event(payment)
            await mark()

    async def _put_record_and_event(self, payment: Payment) -> None:
        record = records.transaction_record(payment, self.settings.environment)
        await asyncio.to_thread(
            self.s3.put_object,
            Bucket=self.settings.transaction_log_bucket,
            Key=records.transaction_log_key(payment),
            Body=json.dumps(record).encode(),
            ContentType="application/json",
        )
        event = records.payment_event(payment)
        publish: dict[str, Any] = {
            "TopicArn": self.settings.events_topic_arn,
            "Message": json.dumps(event),
            "MessageAttributes": {
                "event_type": {"DataType": "String", "StringValue": event["type"]}
            },
        }
        if self.settings.events_topic_arn.endswith(".fifo"):
            publish["MessageGroupId"] = payment.merchant_id
            publish["MessageDeduplicationId"] = event["event_id"]
        await asyncio.to_thread(self.sns.publish, **publish)

    async def _heartbeat(self, lease: _Lease) -> None:
        """Keep the message invisible while we work, and a held claim fresh.

        The claim is refreshed before the visibility is extended, so when a worker dies the
        message reappears only after its claim went stale, and the redelivery takes it over.
        """
        interval = max(self.settings.worker_visibility_timeout / 3, 0.5)
        while True:
            await asyncio.sleep(interval)
            if lease.holds_claim:
                try:
                    await store.refresh_claim(self.pool, lease.payment_id)
                except Exception as exc:
                    log.warning("claim refresh failed", extra={"error": type(exc).__name__})
            await self._extend(lease)

    async def _extend(self, lease: _Lease) -> None:
        """Restart the message's visibility timeout now (no-op without a message)."""
        if lease.queue_url is None or lease.receipt is None:
            return
        try:
            await asyncio.to_thread(
                self.sqs.change_message_visibility,
                QueueUrl=lease.queue_url,
                ReceiptHandle=lease.receipt,
                VisibilityTimeout=self.settings.worker_visibility_timeout,
            )
        except Exception as exc:
            log.warning("visibility extension failed", extra={"error": type(exc).__name__})

    async def _set_visibility(self, queue_url: str, message: dict[str, Any], seconds: int) -> None:
        """Best effort: 0 hands a message back at once, more keeps it away that long."""
        # NOTE: ChangeMessageVisibility counts the new timeout from the call, 0..43200 s; 0
        # makes the message receivable again at once (SQS API reference, ChangeMessageVisibility:
        # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html).
        with contextlib.suppress(Exception):
            await asyncio.to_thread(
                self.sqs.change_message_visibility,
                QueueUrl=queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=seconds,
            )

    async def _receive(self, queue_url: str, max_messages: int) -> list[dict[str, Any]]:
        """One long poll that a stop does not wait for; [] when the stop came first.

        A long poll cannot be interrupted, so it runs on a daemon thread of its own (not the
        default executor, which asyncio.run waits for at exit): after SIGTERM the worker stops
        at once, and whatever the abandoned receive returns later, its thread hands back.
        """
        if self.stopping:
            return []
        # NOTE: a long poll returns as soon as a message is available, else after
        # WaitTimeSeconds (at most 20 s); the client's read timeout must be longer (SQS
        # Developer Guide, "Setting-up long polling":
        # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/best-practices-setting-up-long-polling.html).
        request = {
            "QueueUrl": queue_url,
            "MaxNumberOfMessages": max_messages,
            "WaitTimeSeconds": self.settings.worker_wait_seconds,
            "VisibilityTimeout": self.settings.worker_visibility_timeout,
            "MessageSystemAttributeNames": ["ApproximateReceiveCount"],
        }
        result: concurrent.futures.Future[list[dict[str, Any]]] = concurrent.futures.Future()
        threading.Thread(
            target=self._receive_blocking, args=(request, result), name="sqs-receive", daemon=True
        ).start()
        received = asyncio.wrap_future(result)
        received.add_done_callback(_consume)
        stopped: asyncio.Future[Any] = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({received, stopped}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            self._abandon(queue_url, result)
            raise
        finally:
            stopped.cancel()
        if received.done():
            return received.result()
        self._abandon(queue_url, result)
        return []

    def _abandon(self, queue_url: str, result: concurrent.futures.Future[Any]) -> None:
        """Give up on a receive: its thread hands back what it returns, or we do it here."""
        if result.cancel() or result.exception() is not None:
            return
        messages: list[dict[str, Any]] = result.result()
        if messages:
            threading.Thread(
                target=self._release_blocking, args=(queue_url, messages), daemon=True
            ).start()

    def _receive_blocking(
        self, request: dict[str, Any], result: concurrent.futures.Future[list[dict[str, Any]]]
    ) -> None:
        """Runs on the receive thread; must not log (it may outlive the event loop)."""
        try:
            messages: list[dict[str, Any]] = self.sqs.receive_message(**request).get("Messages", [])
        except Exception as exc:
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                result.set_exception(exc)
            return
        try:
            result.set_result(messages)
        except concurrent.futures.InvalidStateError:  # abandoned by a stop: hand them back
            self._release_blocking(request["QueueUrl"], messages)

    def _release_blocking(self, queue_url: str, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            with contextlib.suppress(Exception):
                self.sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )


def _consume(future: asyncio.Future[Any]) -> None:
    """Mark an abandoned receive's outcome as retrieved (no 'never retrieved' warning)."""
    if not future.cancelled():
        future.exception()


def _beat() -> None:
    """Touch the heartbeat file the container HEALTHCHECK reads; best effort."""
    with contextlib.suppress(OSError):
        WORKER_HEARTBEAT.touch()


def _payment_id(body: str) -> str:
    """Extract the payment id; a malformed body fails the message (and ends in the DLQ)."""
    data = json.loads(body)
    payment_id = data.get("payment_id") if isinstance(data, dict) else None
    if not isinstance(payment_id, str):
        raise TypeError("message has no payment_id")
    return payment_id


def _dead_letter_payment_id(body: str) -> str | None:
    """The payment id of a dead-lettered message, or None when it names none (a UUID only:
    anything else cannot be a payment, and is not logged since it came from the body).
    """
    try:
        payment_id = _payment_id(body)
        return str(uuid.UUID(payment_id))
    except (ValueError, TypeError):
        return None
