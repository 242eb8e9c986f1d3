"""Worker: state machine, side effects, retries, dead-lettering and graceful shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from payment_app import db
from payment_app.cache import PaymentCache
from payment_app.config import Settings
from payment_app.worker.service import ClaimHeldError

pytestmark = pytest.mark.asyncio
APP_DIR = Path(__file__).resolve().parents[2] / "app"


async def test_pending_to_succeeded_with_event_and_log(
    client: httpx.AsyncClient,
    kit: Any,
    settings: Settings,
    pool: Any,
    payment_cache: PaymentCache,
    events_queue: str,
    payment_body: dict[str, Any],
) -> None:
    token = payment_body["payment_method_token"]
    payment_id = await kit.create_payment(client, payment_body)
    assert (await client.get(f"/payments/{payment_id}")).json()["status"] == "pending"  # cached

    worker = kit.worker(settings, pool, payment_cache, kit.counting_processor())
    assert await worker.run_once() == 1

    stored = await db.get_payment(pool, payment_id)
    assert stored is not None and stored.status == "succeeded" and stored.event_published
    status = await client.get(f"/payments/{payment_id}")
    assert status.json()["status"] == "succeeded"  # cache was refreshed, not stale
    assert kit.queue_depth(settings.payment_queue_url) == 0

    s3 = kit.aws("s3")
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=settings.transaction_log_bucket).get("Contents", [])
        if payment_id in o["Key"]
    ]
    assert len(keys) == 1
    raw = s3.get_object(Bucket=settings.transaction_log_bucket, Key=keys[0])["Body"].read()
    record = json.loads(raw)
    assert record["payment_id"] == payment_id and record["status"] == "succeeded"
    assert token not in raw.decode()

    events = kit.events(events_queue)
    assert [(e["type"], e["payment_id"]) for e in events] == [("payment.succeeded", payment_id)]


async def test_decline_ends_failed(
    client: httpx.AsyncClient,
    kit: Any,
    settings: Settings,
    pool: Any,
    payment_cache: PaymentCache,
    events_queue: str,
    payment_body: dict[str, Any],
) -> None:
    payment_id = await kit.create_payment(
        client, {**payment_body, "amount": 2051}
    )  # ends in 51: declined
    await kit.worker(settings, pool, payment_cache, kit.counting_processor()).run_once()
    stored = await db.get_payment(pool, payment_id)
    assert stored is not None and stored.status == "failed"
    assert stored.failure_reason == "insufficient_funds"
    assert [e["type"] for e in kit.events(events_queue)] == ["payment.failed"]


async def test_redelivery_is_idempotent(
    client: httpx.AsyncClient,
    kit: Any,
    settings: Settings,
    pool: Any,
    payment_cache: PaymentCache,
    events_queue: str,
    payment_body: dict[str, Any],
) -> None:
    payment_id = await kit.create_payment(client, payment_body)
    processor = kit.counting_processor()
    worker = kit.worker(settings, pool, payment_cache, processor)
    first = await worker.process(payment_id)
    second = await worker.process(payment_id)  # e.g. the same message delivered twice
    assert first.status == second.status == "succeeded"
    assert processor.calls == 1
    assert len(kit.events(events_queue, expected=2, wait=1.0)) == 1


async def test_transient_errors_retry_then_dead_letter(
    client: httpx.AsyncClient,
    kit: Any,
    settings: Settings,
    pool: Any,
    payment_cache: PaymentCache,
    payment_body: dict[str, Any],
) -> None:
    short, queues = kit.on_fresh_queues(settings, 1, 2, worker_wait_seconds=1)
    unavailable = {**payment_body, "payment_method_token": "tok_unavailable_acq"}
    payment_id = await kit.create_payment(client, unavailable)
    kit.enqueue(queues.url, payment_id)
    processor = kit.counting_processor()
    worker = kit.worker(short, pool, payment_cache, processor)

    deadline = time.monotonic() + 15
    while kit.queue_depth(queues.dlq_url) == 0 and time.monotonic() < deadline:
        await worker.run_once()
    assert kit.queue_depth(queues.dlq_url) == 1
    assert kit.queue_depth(queues.url) == 0
    # Each delivery retried in-process worker_max_attempts times before giving up.
    assert processor.calls == 2 * short.worker_max_attempts
    stored = await db.get_payment(pool, payment_id)
    assert stored is not None and stored.status == "processing"


async def test_long_work_extends_visibility(
    client: httpx.AsyncClient,
    kit: Any,
    settings: Settings,
    pool: Any,
    payment_cache: PaymentCache,
    payment_body: dict[str, Any],
) -> None:
    short, queues = kit.on_fresh_queues(settings, 1, 5)
    payment_id = await kit.create_payment(client, payment_body)
    sqs = kit.aws("sqs")
    kit.enqueue(queues.url, payment_id)
    worker = kit.worker(short, pool, payment_cache, kit.counting_processor(delay=2.5))
    task = asyncio.create_task(worker.run_once())
    await asyncio.sleep(1.8)  # well past the 1 s visibility timeout
    peek = await asyncio.to_thread(
        sqs.receive_message, QueueUrl=queues.url, WaitTimeSeconds=0, VisibilityTimeout=0
    )
    assert peek.get("Messages", []) == []
    assert await task == 1
    assert kit.queue_depth(queues.url) == 0
    stored = await db.get_payment(pool, payment_id)
    assert stored is not None and stored.status == "succeeded"


async def test_poison_message_is_not_deleted(
    kit: Any, settings: Settings, pool: Any, payment_cache: PaymentCache
) -> None:
    queues = kit.make_queues()
    short = replace(settings, payment_queue_url=queues.url)
    sqs = kit.aws("sqs")
    sqs.send_message(QueueUrl=queues.url, MessageBody="not json")
    sqs.send_message(QueueUrl=queues.url, MessageBody=json.dumps({"payment_id": str(uuid.uuid4())}))
    worker = kit.worker(short, pool, payment_cache, kit.counting_processor())
    assert await worker.run_once() == 2
    assert kit.queue_depth(queues.url) == 2  # in flight, back after the visibility timeout


async def test_sigterm_finishes_in_flight_work(
    client: httpx.AsyncClient,
    kit: Any,
    settings: Settings,
    env: dict[str, str],
    pool: Any,
    payment_body: dict[str, Any],
) -> None:
    payment_id = await kit.create_payment(client, payment_body)
    child_env = {
        **os.environ,
        **env,
        "PAYMENT_QUEUE_URL": settings.payment_queue_url,
        "SIMULATED_ACQUIRER_DELAY_MS": "1500",
        "PYTHONPATH": str(APP_DIR),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "payment_app.worker"],
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            stored = await db.get_payment(pool, payment_id)
            if stored is not None and stored.status == "processing":
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("worker never picked up the payment")
        proc.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(proc.communicate, timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output.decode()
    lines = [json.loads(line) for line in output.decode().splitlines() if line.startswith("{")]
    messages = [line["message"] for line in lines]
    assert "shutdown requested; finishing in-flight messages" in messages
    assert messages[-1] == "worker stopped"
    stored = await db.get_payment(pool, payment_id)
    assert stored is not None and stored.status == "succeeded"
    assert kit.queue_depth(settings.payment_queue_url) == 0


async def test_concurrent_process_calls_authorise_once(
    client: httpx.AsyncClient,
    kit: Any,
    settings: Settings,
    pool: Any,
    payment_cache: PaymentCache,
    events_queue: str,
    payment_body: dict[str, Any],
) -> None:
    payment_id = await kit.create_payment(client, payment_body)
    processor = kit.counting_processor(delay=0.3)
    worker = kit.worker(settings, pool, payment_cache, processor)
    outcomes = await asyncio.gather(
        worker.process(payment_id), worker.process(payment_id), return_exceptions=True
    )
    assert processor.calls == 1
    assert sorted(type(o).__name__ for o in outcomes) == ["ClaimHeldError", "Payment"]
    stored = await db.get_payment(pool, payment_id)
    assert stored is not None and stored.status == "succeeded"
    assert len(kit.events(events_queue, expected=2, wait=1.0)) == 1


async def test_concurrent_deliveries_of_a_decided_payment_publish_one_event(
    client: httpx.AsyncClient,
    kit: Any,
    settings: Settings,
    pool: Any,
    payment_cache: PaymentCache,
    events_queue: str,
    payment_body: dict[str, Any],
) -> None:
    """A duplicate message handled while the first is still publishing finds the payment
    decided and unpublished too: it must skip, not publish the event a second time."""
    payment_id = await kit.create_payment(client, payment_body)
    assert await db.transition(pool, payment_id, "pending", "processing") is not None
    assert await db.transition(pool, payment_id, "processing", "succeeded") is not None
    worker = kit.worker(settings, pool, payment_cache, kit.counting_processor())
    real_sns = worker.sns

    class SlowSns:
        def publish(self, **kwargs: Any) -> Any:
            time.sleep(0.5)  # the publish is in flight while the other delivery looks
            return real_sns.publish(**kwargs)

    worker.sns = SlowSns()
    outcomes = await asyncio.gather(worker.process(payment_id), worker.process(payment_id))
    assert all(o.status == "succeeded" for o in outcomes)
    stored = await db.get_payment(pool, payment_id)
    assert stored is not None and stored.event_published
    assert len(kit.events(events_queue, expected=2, wait=1.0)) == 1


async def test_two_workers_two_messages_authorise_once(
    client: httpx.AsyncClient,
    kit: Any,
    settings: Settings,
    pool: Any,
    payment_cache: PaymentCache,
    events_queue: str,
    payment_body: dict[str, Any],
) -> None:
    """The outbox relay can send one payment twice: two workers, one authorisation."""
    # 2 s: a claim must not go stale while the winner authorises, even on a loaded machine.
    short, queues = kit.on_fresh_queues(settings, 2, 5, worker_batch_size=1, worker_wait_seconds=1)
    payment_id = await kit.create_payment(client, payment_body)
    for _ in range(2):
        kit.enqueue(queues.url, payment_id)
    processor = kit.counting_processor(delay=0.5)
    first = kit.worker(short, pool, payment_cache, processor)
    second = kit.worker(short, pool, payment_cache, processor)
    assert list(await asyncio.gather(first.run_once(), second.run_once())) == [1, 1]
    assert processor.calls == 1
    # The loser's message was left for redelivery; the redelivery finds the payment terminal.
    assert kit.queue_depth(queues.url) == 1
    deadline = time.monotonic() + 10
    while kit.queue_depth(queues.url) and time.monotonic() < deadline:
        await first.run_once()
    assert kit.queue_depth(queues.url) == 0
    assert processor.calls == 1
    stored = await db.get_payment(pool, payment_id)
    assert stored is not None and stored.status == "succeeded"
    assert len(kit.events(events_queue, expected=2, wait=1.0)) == 1


async def test_stale_claim_is_taken_over_and_a_live_one_is_not(
    client: httpx.AsyncClient,
    kit: Any,
    settings: Settings,
    pool: Any,
    pg_admin: Any,
    payment_cache: PaymentCache,
    payment_body: dict[str, Any],
) -> None:
    """A payment left `processing` by a worker that died is authorised once, by a takeover."""
    payment_id = await kit.create_payment(client, payment_body)
    await pg_admin.execute(
        "UPDATE payments SET status = 'processing', updated_at = now() WHERE id = $1", payment_id
    )
    processor = kit.counting_processor()
    worker = kit.worker(settings, pool, payment_cache, processor)
    with pytest.raises(ClaimHeldError):  # refreshed just now: its holder is alive
        await worker.process(payment_id)
    assert processor.calls == 0
    stored = await db.get_payment(pool, payment_id)
    assert stored is not None and stored.status == "processing"

    stale = settings.worker_visibility_timeout + 5
    await pg_admin.execute(
        "UPDATE payments SET updated_at = now() - make_interval(secs => $2) WHERE id = $1",
        payment_id,
        float(stale),
    )
    await worker.process(payment_id)
    assert processor.calls == 1
    stored = await db.get_payment(pool, payment_id)
    assert stored is not None and stored.status == "succeeded" and stored.event_published


async def test_slow_live_authorisation_is_not_taken_over(
    client: httpx.AsyncClient,
    kit: Any,
    settings: Settings,
    pool: Any,
    payment_cache: PaymentCache,
    payment_body: dict[str, Any],
) -> None:
    """The heartbeat refreshes the claim, so an authorisation longer than the visibility
    timeout is still recognised as live by a second worker."""
    # 2 s, not 1: the heartbeat (every third) must keep refreshing on a loaded machine too.
    short, queues = kit.on_fresh_queues(settings, 2, 5)
    payment_id = await kit.create_payment(client, payment_body)
    kit.enqueue(queues.url, payment_id)
    processor = kit.counting_processor(delay=5.0)
    holder = kit.worker(short, pool, payment_cache, processor)
    task = asyncio.create_task(holder.run_once())
    deadline = time.monotonic() + 10
    while processor.calls == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert processor.calls == 1
    claimed_at = time.monotonic()
    # Past the stale threshold (the visibility timeout) since the claim was taken.
    await asyncio.sleep(short.worker_visibility_timeout * 1.6)
    assert not task.done() and time.monotonic() - claimed_at > short.worker_visibility_timeout
    with pytest.raises(ClaimHeldError):
        await kit.worker(short, pool, payment_cache, processor).process(payment_id)
    assert await task == 1
    assert processor.calls == 1
    stored = await db.get_payment(pool, payment_id)
    assert stored is not None and stored.status == "succeeded"
