"""SQS consumer: idempotent per message, heartbeats visibility, leaves failures for the DLQ."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
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

log = logging.getLogger(__name__)


class PaymentNotFoundError(Exception):
    """The message names a payment that is not in the database."""


class PaymentWorker:
    """Polls the payment queue until request_stop(); in-flight messages are always finished."""

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

    def request_stop(self) -> None:
        """Called from the SIGTERM handler: stop polling, let current messages finish."""
        if not self._stop.is_set():
            log.info("shutdown requested; finishing in-flight messages")
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether a stop was requested, for callers that must not start new work."""
        return self._stop.is_set()

    async def run(self) -> None:
        """Poll until stopped; a failing poll backs off instead of crashing the task."""
        log.info("worker polling", extra={"queue": self.settings.payment_queue_url})
        failures = 0
        while not self._stop.is_set():
            _beat()
            try:
                await self.run_once()
                failures = 0
            except Exception as exc:
                failures += 1
                log.error("poll failed", extra={"error": type(exc).__name__})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=min(2.0**failures, 30.0))
        with contextlib.suppress(OSError):
            WORKER_HEARTBEAT.unlink()
        log.info("worker stopped")

    async def run_once(self) -> int:
        """One long poll plus processing of what it returned; returns the message count."""
        response = await asyncio.to_thread(
            self.sqs.receive_message,
            QueueUrl=self.settings.payment_queue_url,
            MaxNumberOfMessages=self.settings.worker_batch_size,
            WaitTimeSeconds=self.settings.worker_wait_seconds,
            VisibilityTimeout=self.settings.worker_visibility_timeout,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        if messages and self._stop.is_set():
            # Received after SIGTERM: hand them straight back instead of starting new work.
            await asyncio.gather(*(self._release(m) for m in messages))
            return 0
        await asyncio.gather(*(self.handle(m) for m in messages))
        return len(messages)

    async def handle(self, message: dict[str, Any]) -> bool:
        """Process one message; delete it only on success. Returns whether it was deleted."""
        receipt = message["ReceiptHandle"]
        receive_count = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
        token = request_id_var.set(message.get("MessageId", "unknown"))
        heartbeat = asyncio.create_task(self._heartbeat(receipt))
        try:
            payment_id = _payment_id(message.get("Body", ""))
            await with_retries(
                lambda: self.process(payment_id),
                attempts=self.settings.worker_max_attempts,
                base_delay=self.settings.worker_retry_base_ms / 1000,
                max_delay=5.0,
            )
            await asyncio.to_thread(
                self.sqs.delete_message,
                QueueUrl=self.settings.payment_queue_url,
                ReceiptHandle=receipt,
            )
            return True
        except Exception as exc:
            log.error(
                "message failed; left for redelivery / dead-letter queue",
                extra={"error": type(exc).__name__, "receive_count": receive_count},
            )
            return False
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            request_id_var.reset(token)

    async def process(self, payment_id: str) -> Payment:
        """Advance one payment as far as it can go; every step is safe to repeat."""
        payment = await db.get_payment(self.pool, payment_id)
        if payment is None:
            raise PaymentNotFoundError(payment_id)
        if payment.status == "pending":
            moved = await db.transition(self.pool, payment_id, "pending", "processing")
            payment = moved or await self._reload(payment_id)
            await self.cache.refresh(payment_id, payment.public_view())
        if payment.status == "processing":
            result = await self.processor.authorize(payment)
            moved = await db.transition(
                self.pool,
                payment_id,
                "processing",
                result.status,
                failure_reason=result.failure_reason,
                processor_reference=result.reference,
            )
            payment = moved or await self._reload(payment_id)
            await self.cache.refresh(payment_id, payment.public_view())
            log.info(
                "payment processed", extra={"payment_id": payment_id, "status": payment.status}
            )
        if payment.status in TERMINAL_STATUSES and not payment.event_published:
            await self._record_and_publish(payment)
        return payment

    async def _reload(self, payment_id: str) -> Payment:
        payment = await db.get_payment(self.pool, payment_id)
        if payment is None:
            raise PaymentNotFoundError(payment_id)
        return payment

    async def _record_and_publish(self, payment: Payment) -> None:
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
        await db.mark_event_published(self.pool, payment.id)

    async def _heartbeat(self, receipt: str) -> None:
        """Keep the message invisible while we work so another worker does not pick it up."""
        timeout = self.settings.worker_visibility_timeout
        interval = max(timeout / 3, 0.5)
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(
                    self.sqs.change_message_visibility,
                    QueueUrl=self.settings.payment_queue_url,
                    ReceiptHandle=receipt,
                    VisibilityTimeout=timeout,
                )
            except Exception as exc:
                log.warning("visibility extension failed", extra={"error": type(exc).__name__})

    async def _release(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(
                self.sqs.change_message_visibility,
                QueueUrl=self.settings.payment_queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=0,
            )


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
