"""Worker: SIGTERM stops it within seconds, in-flight messages are finished or handed back."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from payment_app import db
from payment_app.cache import PaymentCache
from payment_app.config import Settings
from payment_app.models import Payment
from payment_app.processor import ProcessorResult, SimulatedAcquirer
from payment_app.worker import service

pytestmark = pytest.mark.asyncio
APP_DIR = Path(__file__).resolve().parents[2] / "app"
STOP_BUDGET_SECONDS = 3.0  # with WORKER_WAIT_SECONDS=20: the poll must not be waited for


class Child:
    """`python -m payment_app.worker` with its output read line by line on a thread."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "payment_app.worker"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(raw.decode(errors="replace").rstrip("\n"))

    def wait_for_message(self, message: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.output.append(line)
            if line.startswith("{") and json.loads(line).get("message") == message:
                return
        pytest.fail(f"no {message!r} line; output so far: {self.output}")

    def messages(self) -> list[str]:
        while not self.lines.empty():
            self.output.append(self.lines.get_nowait())
        return [json.loads(x)["message"] for x in self.output if x.startswith("{")]

    def stop(self, timeout: float) -> tuple[int | None, float]:
        """SIGTERM, then the exit code and how long the exit took (None: still running)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def child_env(env: dict[str, str], settings: Settings) -> dict[str, str]:
    """The ECS environment for this test's queues, with the production long poll."""
    return {
        **os.environ,
        **env,
        "PAYMENT_QUEUE_URL": settings.payment_queue_url,
        "PAYMENT_DLQ_URL": settings.payment_dlq_url,
        "WORKER_WAIT_SECONDS": "20",
        "PYTHONPATH": str(APP_DIR),
    }


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        child.kill()


def visible(kit: Any, queue_url: str) -> int:
    attrs = kit.aws("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


async def test_sigterm_while_long_polling_exits_within_seconds(
    child_env: dict[str, str], children: list[Child]
) -> None:
    child = Child(child_env)
    children.append(child)
    child.wait_for_message("worker polling")
    await asyncio.sleep(0.5)  # the two 20 s long polls start right after that line
    code, took = child.stop(timeout=15)
    assert code == 0, child.messages()
    assert took < STOP_BUDGET_SECONDS, f"stop took {took:.1f} s"
    messages = child.messages()
    assert "shutdown requested; finishing in-flight messages" in messages
    assert messages[-1] == "worker stopped"


async def test_sigterm_with_a_message_in_flight_loses_nothing(
    client: httpx.AsyncClient,
    kit: Any,
    settings: Settings,
    child_env: dict[str, str],
    children: list[Child],
    pool: Any,
    payment_body: dict[str, Any],
) -> None:
    """The in-flight payment is finished (or its message handed back); a payment enqueued
    after the signal is not picked up and stays on the queue, visible."""
    first = await kit.create_payment(client, payment_body)
    child = Child({**child_env, "SIMULATED_ACQUIRER_DELAY_MS": "1500"})
    children.append(child)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        stored = await db.get_payment(pool, first)
        if stored is not None and stored.status == "processing":
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail(f"worker never picked up the payment: {child.messages()}")
    code, took = await asyncio.to_thread(child.stop, 15)
    assert code == 0, child.messages()
    assert took < STOP_BUDGET_SECONDS + 1.5  # the 1.5 s authorisation, then out
    stored = await db.get_payment(pool, first)
    assert stored is not None
    if stored.status == "succeeded":
        assert stored.event_published
        assert kit.queue_depth(settings.payment_queue_url) == 0
    else:  # handed back: visible again for another worker
        assert visible(kit, settings.payment_queue_url) == 1

    second = await kit.create_payment(
        client, {**payment_body, "payment_method_token": "tok_after_stop"}
    )
    deadline = time.monotonic() + 5
    while visible(kit, settings.payment_queue_url) == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    later = await db.get_payment(pool, second)
    assert later is not None and later.status == "pending"
    assert visible(kit, settings.payment_queue_url) >= 1  # the second payment's message


class SlowProcessor:
    """The simulated acquirer with a delay, counting calls."""

    def __init__(self, delay: float) -> None:
        self.inner = SimulatedAcquirer(delay)
        self.calls = 0

    async def authorize(self, payment: Payment) -> ProcessorResult:
        self.calls += 1
        return await self.inner.authorize(payment)


async def test_work_cut_off_by_the_drain_bound_is_handed_back_and_completed(
    client: httpx.AsyncClient,
    kit: Any,
    settings: Settings,
    pool: Any,
    payment_cache: PaymentCache,
    payment_body: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An authorisation longer than the drain bound is cancelled; its message comes back once
    the claim is stale, and the next worker takes it over and completes the payment."""
    monkeypatch.setattr(service, "STOP_DRAIN_SECONDS", 0.3)
    short, queues = kit.on_fresh_queues(settings, 1, 5, worker_wait_seconds=1)
    payment_id = await kit.create_payment(client, payment_body)
    kit.enqueue(queues.url, payment_id)
    slow = SlowProcessor(delay=30.0)
    stopped = kit.worker(short, pool, payment_cache, slow)
    task = asyncio.create_task(stopped.run())
    deadline = time.monotonic() + 10
    while slow.calls == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert slow.calls == 1
    stopped.request_stop()
    await asyncio.wait_for(task, timeout=3)
    stored = await db.get_payment(pool, payment_id)
    assert stored is not None and stored.status == "processing"
    assert kit.queue_depth(queues.url) == 1  # handed back, not deleted

    fast = SlowProcessor(delay=0.0)
    successor = kit.worker(short, pool, payment_cache, fast)
    deadline = time.monotonic() + 15
    while kit.queue_depth(queues.url) and time.monotonic() < deadline:
        await successor.run_once()
    assert kit.queue_depth(queues.url) == 0
    assert fast.calls == 1
    stored = await db.get_payment(pool, payment_id)
    assert stored is not None and stored.status == "succeeded" and stored.event_published
