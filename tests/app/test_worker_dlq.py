"""Worker: payments whose messages were dead-lettered end `failed`, and the stuck sweep."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import replace
from typing import Any

import httpx
import pytest
from payment_app import db
from payment_app.cache import PaymentCache
from payment_app.config import Settings
from payment_app.logs import JsonFormatter
from payment_app.worker import service

pytestmark = pytest.mark.asyncio
SERVICE_LOGGER = "payment_app.worker.service"


def dead_letter(kit: Any, settings: Settings, body: str) -> None:
    kit.aws("sqs").send_message(QueueUrl=settings.payment_dlq_url, MessageBody=body)


def json_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The worker's records as the JSON lines it writes (what the log alarms read)."""
    formatter = JsonFormatter("payment-worker", "test")
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == SERVICE_LOGGER]


def events_for(kit: Any, queue_url: str, payment_id: str, wait: float = 2.0) -> list[str]:
    """Event types published for one payment, polled for all of `wait` seconds."""
    return [e["type"] for e in kit.events(queue_url, None, wait, payment_id)]


async def test_dead_lettered_pending_payment_fails_like_a_terminal_transition(
    client: httpx.AsyncClient,
    kit: Any,
    settings: Settings,
    pool: Any,
    payment_cache: PaymentCache,
    events_queue: str,
    payment_body: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    payment_id = await kit.create_payment(client, payment_body)
    assert (await client.get(f"/payments/{payment_id}")).json()["status"] == "pending"  # cached
    dead_letter(kit, settings, json.dumps({"payment_id": payment_id}))
    worker = kit.worker(settings, pool, payment_cache)
    with caplog.at_level(logging.INFO, logger=SERVICE_LOGGER):
        assert await worker.run_dead_letters_once() == 1

    stored = await db.get_payment(pool, payment_id)
    assert stored is not None and stored.status == "failed"
    assert stored.failure_reason == "dead_lettered" and stored.event_published
    assert (await client.get(f"/payments/{payment_id}")).json()["status"] == "failed"
    assert kit.queue_depth(settings.payment_dlq_url) == 0
    assert events_for(kit, events_queue, payment_id) == ["payment.failed"]
    s3 = kit.aws("s3")
    key = next(
        o["Key"]
        for o in s3.list_objects_v2(Bucket=settings.transaction_log_bucket)["Contents"]
        if payment_id in o["Key"]
    )
    record = json.loads(
        s3.get_object(Bucket=settings.transaction_log_bucket, Key=key)["Body"].read()
    )
    assert (record["status"], record["failure_reason"]) == ("failed", "dead_lettered")
    alarm_lines = [line for line in json_lines(caplog) if line.get("dead_lettered") == 1]
    assert [(line["level"], line["payment_id"]) for line in alarm_lines] == [
        ("WARNING", payment_id)
    ]


async def test_redrive_after_retries_then_the_dead_letter_consumer_fails_it(
    client: httpx.AsyncClient,
    kit: Any,
    settings: Settings,
    pool: Any,
    payment_cache: PaymentCache,
    payment_body: dict[str, Any],
) -> None:
    """End to end: an acquirer that stays unavailable, the redrive policy, then `failed`."""
    short, queues = kit.on_fresh_queues(settings, 1, 2, worker_wait_seconds=1)
    unavailable = {**payment_body, "payment_method_token": "tok_unavailable_acq"}
    payment_id = await kit.create_payment(client, unavailable)
    kit.enqueue(queues.url, payment_id)
    worker = kit.worker(short, pool, payment_cache)
    deadline = time.monotonic() + 20
    while kit.queue_depth(queues.dlq_url) == 0 and time.monotonic() < deadline:
        await worker.run_once()
    stored = await db.get_payment(pool, payment_id)
    assert stored is not None and stored.status == "processing"
    while kit.queue_depth(queues.dlq_url) and time.monotonic() < deadline:
        await worker.run_dead_letters_once()
    assert kit.queue_depth(queues.dlq_url) == 0
    stored = await db.get_payment(pool, payment_id)
    assert stored is not None and stored.status == "failed"
    assert stored.failure_reason == "dead_lettered" and stored.event_published


async def test_live_claim_is_not_failed_until_it_goes_stale(
    client: httpx.AsyncClient,
    kit: Any,
    settings: Settings,
    pool: Any,
    pg_admin: Any,
    payment_cache: PaymentCache,
    payment_body: dict[str, Any],
) -> None:
    """A duplicate's dead letter must not fail a payment another worker is authorising."""
    short = replace(settings, worker_visibility_timeout=2, worker_wait_seconds=1)
    payment_id = await kit.create_payment(client, payment_body)
    await pg_admin.execute(  # a live claim: its heartbeat keeps it fresh (here, for a minute,
        # so a slow machine does not let it go stale before the consumer looks)
        "UPDATE payments SET status = 'processing', updated_at = now() + interval '1 minute' "
        "WHERE id = $1",
        payment_id,
    )
    dead_letter(kit, short, json.dumps({"payment_id": payment_id}))
    worker = kit.worker(short, pool, payment_cache)
    assert await worker.run_dead_letters_once() == 1
    stored = await db.get_payment(pool, payment_id)
    assert stored is not None and stored.status == "processing"
    assert kit.queue_depth(short.payment_dlq_url) == 1  # kept, to be looked at again

    await pg_admin.execute(  # its holder died: the claim goes stale
        "UPDATE payments SET updated_at = now() - make_interval(secs => $2) WHERE id = $1",
        payment_id,
        float(short.worker_visibility_timeout + 5),
    )
    deadline = time.monotonic() + 10
    while kit.queue_depth(short.payment_dlq_url) and time.monotonic() < deadline:
        await worker.run_dead_letters_once()
    assert kit.queue_depth(short.payment_dlq_url) == 0
    stored = await db.get_payment(pool, payment_id)
    assert stored is not None and stored.status == "failed"
    assert stored.failure_reason == "dead_lettered"


async def test_late_success_is_kept_and_the_message_deleted(
    client: httpx.AsyncClient,
    kit: Any,
    settings: Settings,
    pool: Any,
    payment_cache: PaymentCache,
    events_queue: str,
    payment_body: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    payment_id = await kit.create_payment(client, payment_body)
    worker = kit.worker(settings, pool, payment_cache)
    await worker.process(payment_id)
    assert events_for(kit, events_queue, payment_id) == ["payment.succeeded"]
    dead_letter(kit, settings, json.dumps({"payment_id": payment_id}))
    with caplog.at_level(logging.INFO, logger=SERVICE_LOGGER):
        assert await worker.run_dead_letters_once() == 1
    stored = await db.get_payment(pool, payment_id)
    assert stored is not None and stored.status == "succeeded" and stored.failure_reason is None
    assert kit.queue_depth(settings.payment_dlq_url) == 0
    assert events_for(kit, events_queue, payment_id, wait=1.0) == []  # nothing published again
    assert not [line for line in json_lines(caplog) if "dead_lettered" in line]


async def test_unusable_dead_letters_stay_and_their_bodies_are_not_logged(
    kit: Any,
    settings: Settings,
    pool: Any,
    payment_cache: PaymentCache,
    caplog: pytest.LogCaptureFixture,
) -> None:
    unknown = str(uuid.uuid4())
    bodies = [
        "not json 4111 1111 1111 1111",
        json.dumps({"payment_id": "4111111111111111"}),
        json.dumps({"payment_id": unknown}),
    ]
    for body in bodies:
        dead_letter(kit, settings, body)
    worker = kit.worker(settings, pool, payment_cache)
    handled = 0
    with caplog.at_level(logging.INFO, logger=SERVICE_LOGGER):
        deadline = time.monotonic() + 10
        while handled < len(bodies) and time.monotonic() < deadline:
            handled += await worker.run_dead_letters_once()
    assert handled == len(bodies)
    assert kit.queue_depth(settings.payment_dlq_url) == len(bodies)  # left for the alarm
    lines = json_lines(caplog)
    unusable = [line for line in lines if line.get("dead_letter_unusable") == 1]
    assert len(unusable) == len(bodies)
    assert [line.get("payment_id") for line in unusable if "payment_id" in line] == [unknown]
    assert not any("dead_lettered" in line for line in lines)
    text = "\n".join(json.dumps(line) for line in lines)
    assert "4111" not in text and "not json" not in text


async def test_sweep_reports_stuck_payments_and_keeps_sweeping_while_any_process(
    client: httpx.AsyncClient,
    kit: Any,
    settings: Settings,
    pool: Any,
    pg_admin: Any,
    payment_cache: PaymentCache,
    payment_body: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    stuck_after = 600
    payment_id = await kit.create_payment(client, payment_body)
    await pg_admin.execute(
        "UPDATE payments SET status = 'processing', "
        "updated_at = now() - make_interval(secs => $2) WHERE id = $1",
        payment_id,
        float(stuck_after + 60),
    )
    expected = await pg_admin.fetchval(
        "SELECT count(*) FROM payments WHERE status = 'processing' "
        "AND updated_at < now() - make_interval(secs => $1)",
        float(stuck_after),
    )
    worker = kit.worker(
        replace(settings, processing_stuck_seconds=stuck_after), pool, payment_cache
    )
    assert await worker.sweep() is None  # nothing handled yet: no query
    dead_letter(kit, settings, json.dumps({"payment_id": str(uuid.uuid4())}))
    assert await worker.run_dead_letters_once() == 1  # handled a message: the sweep may run
    with caplog.at_level(logging.INFO, logger=SERVICE_LOGGER):
        first = await worker.sweep()
        second = await worker.sweep()  # the last sweep saw payments processing: runs again
    assert first is not None and first.stuck == expected >= 1
    assert second is not None and second.stuck == expected
    sweeps = [line for line in json_lines(caplog) if "stuck_payments" in line]
    assert [(line["level"], line["stuck_payments"]) for line in sweeps] == [
        ("WARNING", expected),
        ("WARNING", expected),
    ]


async def test_sweep_logs_info_when_nothing_is_stuck(
    client: httpx.AsyncClient,
    kit: Any,
    settings: Settings,
    pool: Any,
    payment_cache: PaymentCache,
    payment_body: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    payment_id = await kit.create_payment(client, payment_body)
    worker = kit.worker(replace(settings, processing_stuck_seconds=86_400), pool, payment_cache)
    dead_letter(kit, settings, json.dumps({"payment_id": payment_id}))
    assert await worker.run_dead_letters_once() == 1
    with caplog.at_level(logging.INFO, logger=SERVICE_LOGGER):
        count = await worker.sweep()
    assert count is not None and count.stuck == 0
    sweeps = [line for line in json_lines(caplog) if "stuck_payments" in line]
    assert [(line["level"], line["stuck_payments"]) for line in sweeps] == [("INFO", 0)]


async def test_idle_worker_issues_no_query(
    client: httpx.AsyncClient,
    kit: Any,
    settings: Settings,
    pool: Any,
    payment_cache: PaymentCache,
    payment_body: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An idle worker opens no database connection (Aurora Serverless v2 can pause); once it
    handles a message, the sweep runs on its own schedule."""
    monkeypatch.setattr(service, "SWEEP_INTERVAL_SECONDS", 0.2)
    queues = kit.make_queues()
    quiet = replace(
        settings,
        payment_queue_url=queues.url,
        payment_dlq_url=queues.dlq_url,
        worker_wait_seconds=1,
    )
    payment_id = await kit.create_payment(
        client, payment_body
    )  # the API's own pool, not the worker's
    assert pool.get_size() == 0
    worker = kit.worker(quiet, pool, payment_cache)
    with caplog.at_level(logging.INFO, logger=SERVICE_LOGGER):
        task = asyncio.create_task(worker.run())
        try:
            await asyncio.sleep(1.5)  # several sweep intervals and long polls, all idle
            assert pool.get_size() == 0
            assert not [line for line in json_lines(caplog) if "stuck_payments" in line]

            kit.enqueue(queues.url, payment_id)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not [
                line for line in json_lines(caplog) if "stuck_payments" in line
            ]:
                await asyncio.sleep(0.05)
        finally:
            worker.request_stop()
            await asyncio.wait_for(task, timeout=10)
    assert [line for line in json_lines(caplog) if "stuck_payments" in line]
    stored = await db.get_payment(pool, payment_id)
    assert stored is not None and stored.status == "succeeded"
