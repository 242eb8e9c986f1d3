"""API behaviour against real PostgreSQL, Redis and moto SQS."""

from __future__ import annotations

import io
import json
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from payment_app import db
from payment_app.api import create_app
from payment_app.cache import PaymentCache
from payment_app.config import Settings

pytestmark = pytest.mark.asyncio
MERCHANT_ID = "merchant_42"  # the merchant conftest's `client` authenticates as
TEST_PAN = "4111111111111111"
Variant = Callable[[dict[str, Any]], Any]  # the valid body -> the body a test sends


def _letters(n: int) -> str:
    """Random token body without digits: a random digit run could pass Luhn and be rejected."""
    return uuid.uuid4().hex[:n].translate(str.maketrans("0123456789", "ghijklmnop"))


def new_key() -> str:
    return "idem-" + _letters(32)


def _with(**fields: Any) -> Variant:
    """A variant of the valid body with these fields replaced or added."""
    return lambda body: {**body, **fields}


CARD_DATA_BODIES: dict[str, Variant] = {
    "plain": _with(description=f"card {TEST_PAN}"),
    "spaces": _with(description="card 4111 1111 1111 1111"),
    "hyphens": _with(description="card 4111-1111-1111-1111"),
    "token": _with(payment_method_token=f"tok_{TEST_PAN}"),
    "nested": _with(metadata={"nested": [{"pan": TEST_PAN}]}),
    "number": _with(card=int(TEST_PAN)),
    "merchant": _with(merchant_id="5500000000000004"),
}
INVALID_BODIES: dict[str, Variant] = {
    "amount-zero": _with(amount=0),
    "amount-negative": _with(amount=-5),
    "amount-too-large": _with(amount=10**12),
    "amount-string": _with(amount="100"),
    "amount-float": _with(amount=10.5),
    "amount-bool": _with(amount=True),
    "currency-unknown": _with(currency="XYZ"),
    "currency-lower-case": _with(currency="eur"),
    "merchant-null": _with(merchant_id=None),
    "token-malformed": _with(payment_method_token="not-a-token"),
    "unknown-field": _with(unexpected=1),
    "amount-missing": lambda body: {k: v for k, v in body.items() if k != "amount"},
    "array": lambda body: [body],
    "string": lambda body: "just a string",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def post(client: httpx.AsyncClient, body: Any, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key or new_key()}
    return await client.post("/payments", json=body, headers=headers)


def _logged_values(captured: io.StringIO) -> str:
    """Captured log lines minus generated fields (ids, times): those can hold any digits."""
    generated = ("ts", "request_id", "duration_ms")
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    return "\n".join(json.dumps({k: v for k, v in x.items() if k not in generated}) for x in lines)


@pytest.fixture
def captured_logs(kit: Any) -> Iterator[io.StringIO]:
    """What the service itself logs, formatted as production writes it (no card filter: these
    tests prove the service never logs card data, not that the filter hides it)."""
    with kit.captured_logs(card_filter=False) as stream:
        yield stream


async def test_health_needs_no_dependencies(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


async def test_ready_when_dependencies_up(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok", "cache": "ok"}


async def test_ready_fails_when_database_down(
    settings: Settings, payment_body: dict[str, Any], api_headers: dict[str, str]
) -> None:
    down = replace(settings, db_port=free_port(), run_migrations=False)
    app = create_app(down)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers=api_headers
        ) as http:
            ready = await http.get("/ready")
            health = await http.get("/health")
            created = await post(http, payment_body)
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("error")
    assert ready.json()["checks"]["cache"] == "ok"
    assert health.status_code == 200
    assert created.status_code == 503
    assert created.json()["error"]["code"] == "unavailable"


async def test_ready_fails_when_cache_down(settings: Settings) -> None:
    app = create_app(replace(settings, redis_port=free_port()))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            ready = await http.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "ok"


async def test_create_payment_is_pending_then_relayed_to_the_queue(
    kit: Any,
    client: httpx.AsyncClient,
    settings: Settings,
    pool: Any,
    payment_body: dict[str, Any],
) -> None:
    response = await post(client, payment_body)
    assert response.status_code == 202, response.text
    data = response.json()
    assert data["status"] == "pending"
    assert data["status_url"] == f"/payments/{data['id']}"
    stored = await db.get_payment(pool, data["id"])
    assert stored is not None and stored.status == "pending"
    assert stored.merchant_id == MERCHANT_ID  # the API key's merchant, not the body's

    async def relayed() -> bool:
        payment = await db.get_payment(pool, data["id"])
        return payment is not None and payment.enqueued

    await kit.until(relayed, timeout=10)
    messages = kit.aws("sqs").receive_message(
        QueueUrl=settings.payment_queue_url, WaitTimeSeconds=1
    )["Messages"]
    assert [json.loads(m["Body"]) for m in messages] == [{"payment_id": data["id"]}]


async def test_same_key_same_body_is_idempotent(
    kit: Any, client: httpx.AsyncClient, settings: Settings, payment_body: dict[str, Any]
) -> None:
    key = new_key()
    first = await post(client, payment_body, key)
    second = await post(client, payment_body, key)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["idempotent-replayed"] == "true"
    await kit.until(lambda: kit.queue_depth(settings.payment_queue_url) >= 1, timeout=10)
    assert kit.queue_depth(settings.payment_queue_url) == 1


async def test_idempotency_keys_are_per_merchant(
    client: httpx.AsyncClient, other_api_key: str, payment_body: dict[str, Any]
) -> None:
    """The same key from two merchants is two payments, each visible to its merchant only."""
    key = new_key()
    mine = await post(client, payment_body, key)
    other_headers = {"Authorization": f"Bearer {other_api_key}", "Idempotency-Key": key}
    theirs = await client.post("/payments", json=payment_body, headers=other_headers)
    assert mine.status_code == theirs.status_code == 202
    assert mine.json()["id"] != theirs.json()["id"]
    assert theirs.headers["idempotent-replayed"] == "false"
    assert (await client.get(f"/payments/{mine.json()['id']}")).status_code == 200
    assert (await client.get(f"/payments/{theirs.json()['id']}")).status_code == 404


async def test_another_merchants_payment_is_not_found_cached_or_not(
    client: httpx.AsyncClient,
    other_api_key: str,
    payment_cache: PaymentCache,
    payment_body: dict[str, Any],
) -> None:
    payment_id = (await post(client, payment_body)).json()["id"]
    other = {"Authorization": f"Bearer {other_api_key}"}
    await payment_cache.invalidate(payment_id)
    cold = await client.get(f"/payments/{payment_id}", headers=other)  # from the database
    assert cold.status_code == 404 and cold.json()["error"]["code"] == "not_found"
    assert (await client.get(f"/payments/{payment_id}")).headers["x-cache"] == "miss"
    warm = await client.get(f"/payments/{payment_id}", headers=other)  # from the cache
    assert warm.status_code == 404
    assert warm.text == cold.text  # indistinguishable from an id that does not exist
    unknown = await client.get(f"/payments/{uuid.uuid4()}", headers=other)
    assert unknown.text == cold.text


async def test_unauthenticated_requests_are_refused(
    client: httpx.AsyncClient, payment_body: dict[str, Any]
) -> None:
    payment_id = (await post(client, payment_body)).json()["id"]
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer pk_0000000000000000_x"}):
        read = await client.get(f"/payments/{payment_id}", headers=headers)
        create = await client.post(
            "/payments", json=payment_body, headers={**headers, "Idempotency-Key": new_key()}
        )
        for response in (read, create):
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"


async def test_same_key_different_body_conflicts(
    kit: Any, client: httpx.AsyncClient, settings: Settings, payment_body: dict[str, Any]
) -> None:
    key = new_key()
    assert (await post(client, payment_body, key)).status_code == 202
    conflict = await post(client, {**payment_body, "amount": payment_body["amount"] + 1}, key)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_conflict"
    await kit.until(lambda: kit.queue_depth(settings.payment_queue_url) >= 1, timeout=10)
    assert kit.queue_depth(settings.payment_queue_url) == 1  # the first payment's, only


async def test_sqs_down_accepts_and_relays_once_it_is_back(
    kit: Any,
    client: httpx.AsyncClient,
    settings: Settings,
    pg_admin: Any,
    payment_body: dict[str, Any],
) -> None:
    """The request path does not wait on SQS: the payment is accepted into the outbox and sent
    when the queue answers again."""
    relay = client.app.state.relay  # type: ignore[attr-defined]
    real_sqs = relay.sqs

    class BrokenSqs:
        def send_message_batch(self, **_: Any) -> None:
            raise ConnectionError("queue unreachable")

    relay.sqs = BrokenSqs()
    try:
        accepted = await post(client, payment_body)
        assert accepted.status_code == 202
        payment_id = accepted.json()["id"]

        async def attempted() -> bool:
            attempts = await pg_admin.fetchval(
                "SELECT attempts FROM payment_outbox WHERE payment_id = $1", uuid.UUID(payment_id)
            )
            return bool(attempts)

        await kit.until(attempted, timeout=10)
        assert kit.queue_depth(settings.payment_queue_url) == 0
    finally:
        relay.sqs = real_sqs

    async def marked_sent() -> bool:  # marked in the transaction that sent it, after the send
        sent = await pg_admin.fetchval(
            "SELECT sent_at IS NOT NULL FROM payment_outbox WHERE payment_id = $1",
            uuid.UUID(payment_id),
        )
        return bool(sent)

    await kit.until(marked_sent, timeout=10)
    assert kit.queue_depth(settings.payment_queue_url) == 1


async def test_missing_idempotency_key(
    client: httpx.AsyncClient, payment_body: dict[str, Any]
) -> None:
    response = await client.post("/payments", json=payment_body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "missing_idempotency_key"


@pytest.mark.parametrize("variant", list(CARD_DATA_BODIES.values()), ids=list(CARD_DATA_BODIES))
async def test_card_numbers_rejected_and_never_logged(
    kit: Any,
    client: httpx.AsyncClient,
    captured_logs: io.StringIO,
    variant: Variant,
    settings: Settings,
    payment_body: dict[str, Any],
) -> None:
    response = await post(client, variant(payment_body))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "card_data_rejected"
    logs = captured_logs.getvalue()
    assert "card data rejected" in logs
    for secret in (TEST_PAN, "4111 1111", "4111-1111", "5500000000000004"):
        assert secret not in logs
        assert secret not in response.text
    assert kit.queue_depth(settings.payment_queue_url) == 0


@pytest.mark.parametrize("field", ["cvv", "CVC", "cvv2", "security_code", "securityCode"])
async def test_cvv_fields_rejected(
    client: httpx.AsyncClient,
    captured_logs: io.StringIO,
    field: str,
    payment_body: dict[str, Any],
) -> None:
    response = await post(client, {**payment_body, field: "737"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "card_data_rejected"
    assert "737" not in _logged_values(captured_logs)
    nested = await post(client, {**payment_body, "card": {field: "737"}})
    assert nested.status_code == 422


async def test_idempotency_key_is_stored_only_as_a_keyed_hash(
    client: httpx.AsyncClient,
    captured_logs: io.StringIO,
    pg_admin: Any,
    payment_body: dict[str, Any],
) -> None:
    """Whatever a client puts in the key (here a card number) is never stored or logged, and
    the key is not refused for it: only HMAC(secret, merchant, key) reaches the database."""
    key = f"key-{TEST_PAN}"
    response = await post(client, payment_body, key=key)
    assert response.status_code == 202, response.text
    row = await pg_admin.fetchrow(
        "SELECT row_to_json(p)::text AS json, idempotency_digest FROM payments p WHERE id = $1",
        uuid.UUID(response.json()["id"]),
    )
    assert TEST_PAN not in row["json"] and key not in row["json"]
    assert len(row["idempotency_digest"]) == 32  # an HMAC-SHA256, not the key
    assert TEST_PAN not in captured_logs.getvalue()
    replay = await post(client, payment_body, key=key)
    assert replay.headers["idempotent-replayed"] == "true"


async def test_non_luhn_digits_are_allowed(
    client: httpx.AsyncClient, payment_body: dict[str, Any]
) -> None:
    response = await post(client, {**payment_body, "description": "invoice 1234567890123456"})
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("variant", list(INVALID_BODIES.values()), ids=list(INVALID_BODIES))
async def test_invalid_bodies_are_4xx(
    client: httpx.AsyncClient,
    variant: Variant,
    captured_logs: io.StringIO,
    payment_body: dict[str, Any],
) -> None:
    response = await post(client, variant(payment_body))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert '"input"' not in response.text


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    for raw in (b"{not json", b"", b"\xff\xfe", b'{"amount": NaN}'):
        response = await client.post(
            "/payments",
            content=raw,
            headers={"Idempotency-Key": new_key(), "Content-Type": "application/json"},
        )
        assert response.status_code == 400, raw
        assert response.json()["error"]["code"] == "invalid_json"


async def test_deeply_nested_json_is_4xx(client: httpx.AsyncClient) -> None:
    raw = b"[" * 5000 + b"]" * 5000
    response = await client.post(
        "/payments",
        content=raw,
        headers={"Idempotency-Key": new_key(), "Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500


async def test_oversized_body_is_413(
    client: httpx.AsyncClient, settings: Settings, payment_body: dict[str, Any]
) -> None:
    body = {**payment_body, "description": "x" * (settings.max_body_bytes + 1)}
    response = await post(client, body)
    assert response.status_code == 413

    async def chunks() -> Any:  # no Content-Length: enforced while streaming
        for _ in range(20):
            yield b" " * 1024

    streamed = await client.post(
        "/payments",
        content=chunks(),
        headers={"Idempotency-Key": new_key(), "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413


def _padded_body(body: dict[str, Any], size: int) -> bytes:
    """Valid JSON of exactly size bytes: whitespace padding changes nothing the API validates."""
    raw = json.dumps(body).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "streamed"])
async def test_body_limit_is_the_waf_limit(
    client: httpx.AsyncClient, settings: Settings, payment_body: dict[str, Any], streamed: bool
) -> None:
    """8,192 bytes (what the WAF lets through) passes the size check; one byte more is a 413."""
    assert settings.max_body_bytes == 8192  # the default, as the test session loads it

    async def send(raw: bytes) -> httpx.Response:
        async def chunks() -> Any:  # no Content-Length: the limit is enforced while streaming
            for start in range(0, len(raw), 1000):
                yield raw[start : start + 1000]

        return await client.post(
            "/payments",
            content=chunks() if streamed else raw,
            headers={"Idempotency-Key": new_key(), "Content-Type": "application/json"},
        )

    accepted = await send(_padded_body(payment_body, 8192))
    assert accepted.status_code == 202, accepted.text
    refused = await send(_padded_body(payment_body, 8193))
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "body_too_large"


async def test_wrong_content_type_is_415(
    client: httpx.AsyncClient, payment_body: dict[str, Any]
) -> None:
    response = await client.post(
        "/payments",
        content=json.dumps(payment_body),
        headers={"Idempotency-Key": new_key(), "Content-Type": "text/plain"},
    )
    assert response.status_code == 415


async def test_get_unknown_and_invalid_ids(client: httpx.AsyncClient) -> None:
    assert (await client.get("/payments/00000000-0000-0000-0000-000000000000")).status_code == 404
    assert (await client.get("/payments/not-a-uuid")).status_code == 404


async def test_status_cache_miss_hit_and_invalidation(
    client: httpx.AsyncClient,
    pool: Any,
    payment_cache: PaymentCache,
    redis_admin: Any,
    payment_body: dict[str, Any],
) -> None:
    payment_id = (await post(client, payment_body)).json()["id"]
    await payment_cache.invalidate(payment_id)

    miss = await client.get(f"/payments/{payment_id}")
    assert miss.status_code == 200
    assert miss.headers["x-cache"] == "miss"
    assert miss.json()["status"] == "pending"
    assert "payment_method_token" not in miss.json()
    # TTL as the admin: the service's ACL user may run only GET, SET, DEL and PING.
    assert await redis_admin.ttl(payment_cache.key(payment_id)) > 0

    # Change the row behind the cache's back: a hit must still serve the cached copy.
    async with pool.acquire() as conn:
        await conn.execute("UPDATE payments SET status = 'processing' WHERE id = $1", payment_id)
    hit = await client.get(f"/payments/{payment_id}")
    assert hit.headers["x-cache"] == "hit"
    assert hit.json()["status"] == "pending"

    # A status change made through the application invalidates/refreshes the entry.
    moved = await db.transition(pool, payment_id, "processing", "succeeded")
    assert moved is not None
    await payment_cache.refresh(payment_id, moved.public_view())
    after = await client.get(f"/payments/{payment_id}")
    assert after.json()["status"] == "succeeded"

    await payment_cache.invalidate(payment_id)
    refetched = await client.get(f"/payments/{payment_id}")
    assert refetched.headers["x-cache"] == "miss"
    assert refetched.json()["status"] == "succeeded"


async def test_status_served_from_database_when_cache_down(
    settings: Settings,
    client: httpx.AsyncClient,
    payment_body: dict[str, Any],
    api_headers: dict[str, str],
) -> None:
    payment_id = (await post(client, payment_body)).json()["id"]
    app = create_app(replace(settings, redis_port=free_port()))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers=api_headers
        ) as http:
            response = await http.get(f"/payments/{payment_id}")
    assert response.status_code == 200
    assert response.json()["status"] == "pending"


async def test_request_id_is_propagated(
    client: httpx.AsyncClient, captured_logs: io.StringIO
) -> None:
    response = await client.get("/health/../payments/x", headers={"X-Request-ID": "req-abc12345"})
    assert response.headers["x-request-id"] == "req-abc12345"
    lines = [json.loads(line) for line in captured_logs.getvalue().splitlines()]
    assert any(line.get("request_id") == "req-abc12345" for line in lines)


async def test_custom_health_check_path_is_liveness_and_quiet(
    settings: Settings, captured_logs: io.StringIO
) -> None:
    """The load balancer's path answers like /health, /health stays, and neither is logged."""
    app = create_app(replace(settings, health_check_path="/livez"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            livez = await http.get("/livez")
            health = await http.get("/health")
            ready = await http.get("/ready")
            missing = await http.get("/livez-not-here")
    assert livez.status_code == 200 and livez.json() == {"status": "ok"}
    assert health.status_code == 200
    assert ready.status_code == 200 and "checks" in ready.json()
    assert missing.status_code == 404
    paths = [
        line.get("path")
        for line in map(json.loads, captured_logs.getvalue().splitlines())
        if line.get("logger") == "payment_app.access"
    ]
    assert paths == ["/livez-not-here"]


async def test_default_path_alone_when_not_configured(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/livez")).status_code == 404
