"""No accepted payment is lost: the transactional outbox, its relay, and crashes at every step.

Against the real PostgreSQL and moto's SQS. The crash tests run the API as a process (uvicorn,
tests/app/outbox_crash_app.py), kill it at one step of the relay, start it again, and check
that every payment a client was told 202 about is processed, and authorised, exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from payment_app import aws, cache, db, migrate, outbox
from payment_app.config import Settings
from payment_app.models import Payment
from payment_app.processor import ProcessorResult, SimulatedAcquirer
from payment_app.worker.service import PaymentWorker

pytestmark = pytest.mark.asyncio
HERE = Path(__file__).resolve().parent
MERCHANT_ID = "merchant_outbox"


class CountingAcquirer(SimulatedAcquirer):
    """The simulated acquirer, counting authorisations per payment."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    async def authorize(self, payment: Payment) -> ProcessorResult:
        self.calls[payment.id] += 1
        return await super().authorize(payment)


class CountingSns:
    """SNS publishes per payment id, passed on to the real client."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.published: Counter[str] = Counter()

    def publish(self, **kwargs: Any) -> Any:
        self.published[json.loads(kwargs["Message"])["payment_id"]] += 1
        return self.real.publish(**kwargs)


async def drain_with_worker(settings: Settings, payment_ids: list[str]) -> tuple[Any, Any]:
    """Run a worker over the queue until every payment is terminal and the queue is empty."""
    pool = await db.create_pool(settings)
    redis_client = cache.create_client(settings)
    acquirer = CountingAcquirer()
    kit_sqs = aws.client(settings, "sqs")
    sns = CountingSns(aws.client(settings, "sns"))
    worker = PaymentWorker(
        replace(settings, worker_wait_seconds=1),
        pool,
        cache.PaymentCache(redis_client, settings.cache_ttl_seconds),
        acquirer,
        sqs=kit_sqs,
        s3=aws.client(settings, "s3"),
        sns=sns,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            handled = await worker.run_once()
            done = [await db.get_payment(pool, pid) for pid in payment_ids]
            if handled == 0 and all(p is not None and p.event_published for p in done):
                return acquirer, sns
            assert time.monotonic() < deadline, "payments not processed in time"
    finally:
        await pool.close()
        await redis_client.aclose()


# --- The relay in process ---------------------------------------------------------------------


async def test_a_hanging_queue_never_delays_or_loses_an_accepted_payment(
    kit: Any, client: httpx.AsyncClient, settings: Settings, payment_body: dict[str, Any]
) -> None:
    """50 concurrent duplicates while SQS hangs: all get 202 at once, for one payment, and it
    is sent exactly once when SQS answers again (the lost-payment report's scenario)."""
    relay = client.app.state.relay  # type: ignore[attr-defined]
    real_sqs, release = relay.sqs, threading.Event()

    class HangingSqs:
        def send_message_batch(self, **kwargs: Any) -> Any:
            release.wait(30)
            return real_sqs.send_message_batch(**kwargs)

    relay.sqs = HangingSqs()
    key = kit.new_key()
    try:
        started = time.monotonic()
        responses = await asyncio.gather(
            *(
                client.post("/payments", json=payment_body, headers={"Idempotency-Key": key})
                for _ in range(50)
            )
        )
        elapsed = time.monotonic() - started
    finally:
        relay.sqs = real_sqs
        release.set()
    assert [r.status_code for r in responses] == [202] * 50
    assert len({r.json()["id"] for r in responses}) == 1
    assert elapsed < settings.request_deadline_seconds  # nobody waited for the queue
    assert sorted(r.headers["idempotent-replayed"] for r in responses).count("false") == 1

    async def sent_once() -> bool:
        return bool(kit.queue_depth(settings.payment_queue_url) == 1)

    await kit.until(sent_once)
    await asyncio.sleep(0.5)
    assert kit.queue_depth(settings.payment_queue_url) == 1


async def test_concurrent_relays_send_each_record_once(
    kit: Any, pool: Any, settings: Settings, payment_body: dict[str, Any]
) -> None:
    """Two tasks' relays draining the same backlog: SKIP LOCKED hands each record to one."""
    from payment_app.models import PaymentRequest

    request = PaymentRequest.model_validate({**payment_body, "description": None})
    ids = []
    for _ in range(25):
        payment, created = await db.create_or_get(
            pool,
            MERCHANT_ID,
            [os.urandom(32)],
            request,
            lambda pid: db.Dispatch(json.dumps({"payment_id": pid}), MERCHANT_ID),
        )
        assert created
        ids.append(payment.id)
    sqs = kit.aws("sqs")
    relays = [outbox.OutboxRelay(pool, sqs, settings.payment_queue_url) for _ in range(2)]
    sent = await asyncio.gather(*(r.drain() for r in relays))
    assert sum(sent) >= 25  # other tests' records of this session may be sent too
    bodies: list[str] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=settings.payment_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        if not got:
            break
        bodies += [m["Body"] for m in got]
    counts = Counter(json.loads(b)["payment_id"] for b in bodies)
    assert all(counts[pid] == 1 for pid in ids), counts


class CountingPool:
    """The real pool, counting connection checkouts (asyncpg's Pool is slotted)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.acquired = 0

    def acquire(self, *args: Any, **kwargs: Any) -> Any:
        self.acquired += 1
        return self.pool.acquire(*args, **kwargs)


async def test_an_idle_relay_issues_no_query(pool: Any, settings: Settings, kit: Any) -> None:
    """Aurora Serverless v2 pauses only without connections: no polling of an empty outbox."""
    counting = CountingPool(pool)
    relay = outbox.OutboxRelay(counting, kit.aws("sqs"), settings.payment_queue_url)
    task = asyncio.create_task(relay.run())
    try:
        await kit.until(lambda: counting.acquired >= 1)  # the drain at start
        first = counting.acquired
        await asyncio.sleep(1.5)
        assert counting.acquired == first  # nothing since: no timer, no poll
        relay.notify()
        await kit.until(lambda: counting.acquired > first)
    finally:
        relay.stop()
        await asyncio.wait_for(task, 5)


# --- Crashes ---------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def crash_db(
    base_settings: Settings, postgres_server: Any, kit: Any
) -> AsyncIterator[tuple[Settings, str]]:
    """A database of its own (so no other test's outbox records are in it), migrated, with a
    merchant key; the settings point at it and at a fresh queue."""
    name = f"crash_{uuid.uuid4().hex[:8]}"
    postgres_server.create_database(name)
    queues = kit.make_queues()
    settings = replace(
        base_settings, db_name=name, payment_queue_url=queues.url, payment_dlq_url=queues.dlq_url
    )
    await asyncio.to_thread(migrate.upgrade, settings)
    yield settings, await asyncio.to_thread(kit.issue_api_key, postgres_server, MERCHANT_ID, name)


def _start_api(env: dict[str, str], port: int, step: str, marker: Path) -> subprocess.Popen[bytes]:
    log = (marker.parent / f"api-{step}-{port}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, str(HERE / "outbox_crash_app.py"), str(port), step],
        env={**env, "CRASH_MARKER": str(marker), "PYTHONPATH": str(HERE.parents[1] / "app")},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def _serving(kit: Any, port: int, proc: subprocess.Popen[bytes], marker: Path) -> None:
    """Wait for the API to listen; on failure, show what it printed."""
    try:
        await asyncio.to_thread(kit.wait_for_port, port, proc)
    except RuntimeError:
        logs = "\n".join(p.read_text() for p in marker.parent.glob("api-*.log"))
        raise AssertionError(f"the API did not start:\n{logs[-3000:]}") from None


async def _post_all(
    port: int, api_key: str, bodies: dict[str, dict[str, Any]]
) -> dict[str, httpx.Response | None]:
    """POST every body under its key; None where the connection died with the process."""

    async def one(http: httpx.AsyncClient, key: str, body: dict[str, Any]) -> Any:
        try:
            return await http.post("/payments", json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError:
            return None

    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=10,
    ) as http:
        results = await asyncio.gather(*(one(http, k, b) for k, b in bodies.items()))
    return dict(zip(bodies, results, strict=True))


async def _crash(
    step: str,
    child_env: dict[str, str],
    kit: Any,
    api_key: str,
    bodies: dict[str, dict[str, Any]],
    marker: Path,
) -> dict[str, str]:
    """Start the API set to die at `step`, post, let it die; the ids of what got a 202."""
    port = kit.free_port()
    crashing = _start_api(child_env, port, step, marker)
    try:
        await _serving(kit, port, crashing, marker)
        posting = asyncio.ensure_future(_post_all(port, api_key, bodies))
        if step == "during_send":
            # The wedged process answers nothing more: kill it while clients still wait, as a
            # crash would, instead of letting their requests time out first.
            await kit.until(marker.exists)
            crashing.send_signal(signal.SIGKILL)
        first = await posting
        await asyncio.to_thread(crashing.wait, 20)
    finally:
        kit.stop(crashing, signal.SIGKILL)
    assert crashing.returncode == -signal.SIGKILL
    assert all(r is None or r.status_code == 202 for r in first.values())
    return {k: r.json()["id"] for k, r in first.items() if r is not None}


async def _assert_durably_due(
    settings: Settings, kit: Any, accepted: dict[str, str], *, sent: bool
) -> None:
    """Every 202 given before the crash is a committed payment with its dispatch record."""
    pool = await db.create_pool(settings)
    try:
        async with pool.acquire() as conn:
            due = await conn.fetch("SELECT payment_id::text AS id FROM payment_outbox")
    finally:
        await pool.close()
    assert set(accepted.values()) <= {r["id"] for r in due}
    if not sent:
        assert kit.queue_depth(settings.payment_queue_url) == 0  # nothing reached SQS


@pytest.mark.parametrize("step", ["after_commit", "during_send", "before_mark"])
async def test_a_crash_at_any_step_loses_nothing_and_processes_once(
    step: str,
    crash_db: tuple[Settings, str],
    env: dict[str, str],
    kit: Any,
    payment_body: dict[str, Any],
    tmp_path: Path,
) -> None:
    settings, api_key = crash_db
    child_env = {
        **env,
        "DB_NAME": settings.db_name,
        "PAYMENT_QUEUE_URL": settings.payment_queue_url,
        "PAYMENT_DLQ_URL": settings.payment_dlq_url,
        "LOG_LEVEL": "WARNING",
    }
    bodies = {
        kit.new_key(): {**payment_body, "payment_method_token": f"tok_{uuid.uuid4().hex}"}
        for _ in range(3)
    }

    accepted = await _crash(step, child_env, kit, api_key, bodies, tmp_path / "in-send")
    await _assert_durably_due(settings, kit, accepted, sent=step == "before_mark")
    marker = tmp_path / "unused"

    # The task comes back (ECS replaces it); clients retry whatever got no answer.
    port = kit.free_port()
    restarted = _start_api(child_env, port, "none", marker)
    try:
        await _serving(kit, port, restarted, marker)
        retried = await _post_all(port, api_key, bodies)
        ids = []
        for key, response in retried.items():
            assert response is not None and response.status_code == 202, response
            if key in accepted:  # told 202 before the crash: the same payment, replayed
                assert response.headers["idempotent-replayed"] == "true"
                assert response.json()["id"] == accepted[key]
            ids.append(response.json()["id"])
        acquirer, sns = await drain_with_worker(settings, ids)
    finally:
        kit.stop(restarted)

    assert all(acquirer.calls[pid] == 1 for pid in ids), acquirer.calls
    assert all(sns.published[pid] == 1 for pid in ids), sns.published
    pool = await db.create_pool(settings)
    try:
        for pid in ids:
            payment = await db.get_payment(pool, pid)
            assert payment is not None and payment.status == "succeeded"
    finally:
        await pool.close()
