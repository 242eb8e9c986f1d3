"""The error contract: unstorable input, duplicate keys, 405 with Allow, Retry-After on every 503,
the request deadline, and error bodies that never echo input."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from payment_app.api import create_app
from payment_app.api.body import MAX_DEPTH, UNSTORABLE
from payment_app.api.errors import RETRY_AFTER_SECONDS, error_response
from payment_app.cardscan import REDACTED
from payment_app.config import Settings

pytestmark = pytest.mark.asyncio
TEST_PAN = "4111111111111111"
MARKER = "zqxmarkerqz"  # a value no response has any reason to contain
DEADLINE = 1.0  # short, so the deadline tests take about a second each
MARGIN = 1.0  # the answer must arrive within DEADLINE + MARGIN


def _raw(fields: str) -> bytes:
    """A body whose JSON text is written by hand: json.dumps cannot emit duplicate keys."""
    return (
        '{"amount": 1250, "currency": "EUR", "payment_method_token": "tok_abcdefgh"' + fields + "}"
    ).encode()


async def _post_raw(client: httpx.AsyncClient, content: bytes, key: str) -> httpx.Response:
    return await client.post(
        "/payments",
        content=content,
        headers={"Idempotency-Key": key, "Content-Type": "application/json"},
    )


def _details(response: httpx.Response) -> list[dict[str, str]]:
    details: list[dict[str, str]] = response.json()["error"].get("details", [])
    return details


UNSTORABLE_BODIES: dict[str, tuple[bytes, str]] = {
    # name: (body, the field path the 422 must name)
    "nul-value": (_raw(', "description": "a\\u0000b"'), "body.description"),
    "surrogate-value": (_raw(', "description": "a\\ud800b"'), "body.description"),
    "low-surrogate-value": (_raw(', "description": "\\udfff"'), "body.description"),
    "nul-nested-value": (
        _raw(', "metadata": {"inner": ["ok", "x\\u0000"]}'),
        "body.metadata.inner[1]",
    ),
    "surrogate-nested-value": (
        _raw(', "metadata": {"inner": {"deep": "\\ud83d"}}'),
        "body.metadata.inner.deep",
    ),
    "nul-key": (_raw(', "a\\u0000b": 1'), "body.a\ufffdb"),
    "surrogate-key": (_raw(', "\\ud800": 1'), "body.\ufffd"),
    "nul-nested-key": (_raw(', "metadata": [{"x\\u0000": 1}]'), "body.metadata[0].x\ufffd"),
    "surrogate-nested-key": (
        _raw(', "metadata": {"o": {"k\\udc00": 1}}'),
        "body.metadata.o.k\ufffd",
    ),
}


@pytest.mark.parametrize("name", sorted(UNSTORABLE_BODIES))
async def test_unstorable_string_is_422_naming_the_field(
    client: httpx.AsyncClient, kit: Any, name: str
) -> None:
    body, field = UNSTORABLE_BODIES[name]
    response = await _post_raw(client, body, kit.new_key())
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert _details(response) == [{"field": field, "error": UNSTORABLE}]


async def test_valid_surrogate_pair_is_stored(client: httpx.AsyncClient, kit: Any) -> None:
    """A pair decodes to one astral character, which PostgreSQL stores: not refused."""
    response = await _post_raw(client, _raw(', "description": "ok \\ud83d\\ude00"'), kit.new_key())
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        (', "amount": 1', "body.amount"),
        (', "description": "a", "description": "b"', "body.description"),
        (', "metadata": {"k": 1, "k": 2}', "body.metadata.k"),
        (', "metadata": [{"x": 1}, {"y": 1, "y": 1}]', "body.metadata[1].y"),
    ],
)
async def test_duplicate_key_is_400_naming_it(
    client: httpx.AsyncClient, kit: Any, fields: str, field: str
) -> None:
    response = await _post_raw(client, _raw(fields), kit.new_key())
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_json"
    assert _details(response) == [{"field": field, "error": "duplicate key"}]


async def test_duplicate_key_holding_a_card_number_is_redacted(
    client: httpx.AsyncClient, kit: Any
) -> None:
    response = await _post_raw(client, _raw(f', "{TEST_PAN}": 1, "{TEST_PAN}": 2'), kit.new_key())
    assert response.status_code == 400, response.text
    assert TEST_PAN not in response.text
    assert _details(response) == [{"field": f"body.{REDACTED}", "error": "duplicate key"}]


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (_raw(', "description": NaN'), 400, "invalid_json"),
        (_raw(', "amount": Infinity'), 400, "invalid_json"),
        (b"", 400, "invalid_json"),
        (b"[" * (MAX_DEPTH + 2) + b"]" * (MAX_DEPTH + 2), 400, "invalid_json"),
        (b"x" * 9000, 413, "body_too_large"),
    ],
)
async def test_existing_body_checks_still_apply(
    client: httpx.AsyncClient, kit: Any, content: bytes, status: int, code: str
) -> None:
    response = await _post_raw(client, content, kit.new_key())
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_content_type_is_still_checked(client: httpx.AsyncClient, kit: Any) -> None:
    response = await client.post(
        "/payments",
        content=_raw(""),
        headers={"Idempotency-Key": kit.new_key(), "Content-Type": "text/plain"},
    )
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/payments", {"POST"}),
        ("PUT", "/payments/abc", {"GET"}),
        ("POST", "/health", {"GET"}),
    ],
)
async def test_405_lists_the_allowed_methods(
    client: httpx.AsyncClient, method: str, path: str, allowed: set[str]
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed
    assert response.json()["error"]["code"] == "method_not_allowed"


ECHO_BODIES: dict[str, bytes] = {
    "nul": _raw(f', "description": "{MARKER}\\u0000"'),
    "duplicate": _raw(f', "description": "{MARKER}", "description": "{MARKER}"'),
    "validation": _raw(f', "amount": "{MARKER}"'),
    "unknown-field": _raw(f', "note": "{MARKER}"'),
    "card": _raw(f', "description": "{MARKER} {TEST_PAN}"'),
    "not-json": f"{{{MARKER}".encode(),
}


@pytest.mark.parametrize("name", sorted(ECHO_BODIES))
async def test_error_bodies_never_echo_values(
    client: httpx.AsyncClient, kit: Any, name: str
) -> None:
    response = await _post_raw(client, ECHO_BODIES[name], kit.new_key())
    assert 400 <= response.status_code < 500, response.text
    assert MARKER not in response.text
    assert TEST_PAN not in response.text


async def test_detail_fields_are_redacted_and_encodable() -> None:
    """The last line of defence for field paths: a PAN is redacted, a lone surrogate (which
    would make the JSON encoder fail: a 500) and a NUL are replaced."""
    response = error_response(
        422, "invalid_request", "x", [{"field": f"body.{TEST_PAN}.\ud800\x00", "error": "e"}]
    )
    body = json.loads(bytes(response.body))
    assert body["error"]["details"] == [{"field": f"body.{REDACTED}.\ufffd\ufffd", "error": "e"}]


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert response.headers.get("x-request-id")


@pytest_asyncio.fixture
async def db_down(
    settings: Settings, kit: Any, api_headers: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with nothing listening on its database port."""
    app = create_app(replace(settings, db_port=kit.free_port()))
    async with kit.serve(app, api_headers) as http:
        yield http


async def test_503s_carry_retry_after_when_the_database_is_down(
    db_down: httpx.AsyncClient, kit: Any, payment_body: dict[str, Any]
) -> None:
    created = await db_down.post(
        "/payments", json=payment_body, headers={"Idempotency-Key": kit.new_key()}
    )
    ready = await db_down.get("/ready")
    status = await db_down.get("/payments/6f1c2a34-9b7e-4d10-8f55-0a1b2c3d4e5f")
    for response in (created, ready, status):
        _assert_unavailable(response)
    assert created.json()["error"]["code"] == "unavailable"
    assert ready.json()["status"] == "not_ready"


@pytest_asyncio.fixture
async def short_deadline(settings: Settings, kit: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with kit.serve(create_app(replace(settings, request_deadline_seconds=DEADLINE))) as http:
        yield http


def _mount(app: FastAPI, path: str, endpoint: Any) -> None:
    app.add_api_route(path, endpoint, methods=["GET"], include_in_schema=False)


async def test_deadline_cancels_a_hung_handler(short_deadline: httpx.AsyncClient) -> None:
    outcome: list[str] = []

    async def hang() -> dict[str, str]:
        try:
            await asyncio.Event().wait()  # never set
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise
        return {}

    _mount(short_deadline.app, "/test/hang", hang)  # type: ignore[attr-defined]
    started = time.monotonic()
    response = await short_deadline.get("/test/hang")
    elapsed = time.monotonic() - started
    _assert_unavailable(response)
    assert response.json()["error"]["code"] == "unavailable"
    assert DEADLINE - 0.05 <= elapsed <= DEADLINE + MARGIN
    assert outcome == ["cancelled"]


async def test_deadline_spares_a_response_that_has_started(
    short_deadline: httpx.AsyncClient,
) -> None:
    """Once the status line is out a 503 cannot replace it: the body is allowed to finish."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b"first,"
        await asyncio.sleep(DEADLINE + 0.3)  # the subject: outliving the deadline mid-body
        yield b"last"

    async def slow() -> StreamingResponse:
        return StreamingResponse(chunks(), media_type="text/plain")

    _mount(short_deadline.app, "/test/slow", slow)  # type: ignore[attr-defined]
    response = await short_deadline.get("/test/slow")
    assert response.status_code == 200
    assert response.text == "first,last"


async def test_hung_database_answers_503_within_the_deadline(
    settings: Settings,
    hung_port: int,
    api_headers: dict[str, str],
    kit: Any,
    payment_body: dict[str, Any],
) -> None:
    hung = replace(
        settings, db_host="127.0.0.1", db_port=hung_port, request_deadline_seconds=DEADLINE
    )
    async with kit.serve(create_app(hung), api_headers) as http:
        for request in (
            http.build_request(
                "POST", "/payments", json=payment_body, headers={"Idempotency-Key": kit.new_key()}
            ),
            http.build_request("GET", "/payments/6f1c2a34-9b7e-4d10-8f55-0a1b2c3d4e5f"),
        ):
            started = time.monotonic()
            response = await http.send(request)
            elapsed = time.monotonic() - started
            _assert_unavailable(response)
            assert elapsed <= DEADLINE + MARGIN, f"{request.method} took {elapsed:.2f}s"
