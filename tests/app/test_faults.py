"""Dependencies failing under the API, as a client sees it: status, how fast, nothing lost.

Each dependency is either stopped (a port nothing listens on: connections are refused) or hung
(a listener that accepts and never answers). The client must get a clear answer well within the
request deadline, and every payment it was told 202 about must exist and be processed later;
a payment refused with 503 is stored by the client's retry, exactly once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from payment_app import aws, db
from payment_app.api import create_app
from payment_app.config import Settings

pytestmark = pytest.mark.asyncio
DEADLINE = 2.0  # the request deadline these apps run with
MARGIN = 1.0  # an answer must arrive within DEADLINE + MARGIN


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "unavailable"
    assert int(response.headers["retry-after"]) > 0


async def _timed(http: httpx.AsyncClient, request: httpx.Request) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await http.send(request)
    return response, time.monotonic() - started


async def _post(http: httpx.AsyncClient, body: dict[str, Any], key: str) -> Any:
    request = http.build_request("POST", "/payments", json=body, headers={"Idempotency-Key": key})
    return await _timed(http, request)


@dataclass(frozen=True)
class Fault:
    """A broken dependency: `stopped` refuses connections, `hung` accepts and never answers."""

    kind: str
    port: int


@pytest.fixture(params=["stopped", "hung"])
def fault(request: pytest.FixtureRequest, kit: Any, hung_port: int) -> Fault:
    return Fault(request.param, kit.free_port() if request.param == "stopped" else hung_port)


async def test_database_fault_is_a_prompt_503_and_the_retry_stores_once(
    fault: Fault,
    settings: Settings,
    client: httpx.AsyncClient,
    kit: Any,
    api_headers: dict[str, str],
    payment_body: dict[str, Any],
) -> None:
    broken = replace(settings, db_port=fault.port, request_deadline_seconds=DEADLINE)
    key = kit.new_key()
    async with kit.serve(create_app(broken), api_headers) as http:
        created, post_took = await _post(http, payment_body, key)
        read, read_took = await _timed(http, http.build_request("GET", f"/payments/{uuid.uuid4()}"))
    for response, took in ((created, post_took), (read, read_took)):
        _assert_unavailable(response)
        assert took <= DEADLINE + MARGIN, f"{fault.kind} database: {took:.2f}s"
    # Not accepted, so not stored: the client's retry, once the database is back, creates it.
    retried = await client.post("/payments", json=payment_body, headers={"Idempotency-Key": key})
    assert retried.status_code == 202
    assert retried.headers["idempotent-replayed"] == "false"
    again = await client.post("/payments", json=payment_body, headers={"Idempotency-Key": key})
    assert again.json()["id"] == retried.json()["id"]


async def test_cache_fault_serves_from_the_database(
    fault: Fault,
    settings: Settings,
    client: httpx.AsyncClient,
    kit: Any,
    api_headers: dict[str, str],
    payment_body: dict[str, Any],
) -> None:
    existing = (
        await client.post(
            "/payments", json=payment_body, headers={"Idempotency-Key": kit.new_key()}
        )
    ).json()["id"]
    broken = replace(settings, redis_port=fault.port, request_deadline_seconds=DEADLINE)
    async with kit.serve(create_app(broken), api_headers) as http:
        reads = [
            await _timed(http, http.build_request("GET", f"/payments/{existing}")) for _ in range(3)
        ]
        created, post_took = await _post(http, payment_body | {"amount": 990}, kit.new_key())
    for response, took in reads:
        assert response.status_code == 200, response.text
        assert response.headers["x-cache"] == "miss"
        assert response.json()["id"] == existing
        assert took <= DEADLINE + MARGIN, f"{fault.kind} cache: {took:.2f}s"
    # After the first error the cache is bypassed: later reads do not wait on it at all.
    assert reads[-1][1] < 0.5
    assert created.status_code == 202 and post_took <= DEADLINE + MARGIN


async def test_queue_fault_accepts_at_once_and_loses_nothing(
    fault: Fault,
    settings: Settings,
    client: httpx.AsyncClient,
    kit: Any,
    pool: Any,
    payment_body: dict[str, Any],
) -> None:
    """The request path does not touch SQS: with SQS refused or hanging, POST is a prompt 202,
    the payment waits in the outbox, and reaches the queue once SQS answers."""
    relay = client.app.state.relay  # type: ignore[attr-defined]
    real_sqs = relay.sqs
    unreachable = replace(settings, aws_endpoint_url=f"http://127.0.0.1:{fault.port}")
    relay.sqs = aws.client(unreachable, "sqs", read_timeout=1.0)  # a hung send gives up soon
    try:
        results = [
            await _post(client, payment_body | {"amount": 1000 + i}, kit.new_key())
            for i in range(3)
        ]
        for response, took in results:
            assert response.status_code == 202, response.text
            assert took < 1.0, f"{fault.kind} queue: POST took {took:.2f}s"
        ids = [response.json()["id"] for response, _ in results]
        for payment_id in ids:
            stored = await db.get_payment(pool, payment_id)
            assert stored is not None and not stored.enqueued
    finally:
        relay.sqs = real_sqs
        relay.notify()
    deadline = time.monotonic() + 20  # the send in hand gives up, the relay backs off, resends

    async def all_marked_sent() -> bool:  # marked in the transaction that sent them
        stored = [await db.get_payment(pool, payment_id) for payment_id in ids]
        return all(p is not None and p.enqueued for p in stored)

    while not await all_marked_sent():
        assert time.monotonic() < deadline, "outbox not relayed after the queue came back"
        await asyncio.sleep(0.2)
    assert kit.queue_depth(settings.payment_queue_url) == len(ids)  # each sent once
