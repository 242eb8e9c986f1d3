"""The API-key dependency on a minimal app: the merchant for a valid key, one 401 for the rest.

Keys are issued with payment_app.merchants as the owner role; the app verifies them through a
pool of the application role, exactly as the API does.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from payment_app import db, merchants
from payment_app.api import errors
from payment_app.api.auth import MerchantDep
from payment_app.config import Settings
from payment_app.logs import JsonFormatter
from payment_app.merchants import IssuedKey

pytestmark = pytest.mark.asyncio

UNAUTHORIZED = {"error": {"code": "unauthorized", "message": "a valid API key is required"}}


def _merchant() -> str:
    return f"m_{uuid.uuid4().hex[:12]}"


@pytest_asyncio.fixture
async def issued(owner_conn: Any) -> IssuedKey:
    return await merchants.create_key(owner_conn, _merchant(), label="test")


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_not_logged(caplog: pytest.LogCaptureFixture, key: IssuedKey) -> None:
    """Neither the key nor its secret in any record, structured fields included."""
    secret = key.api_key[20:]  # after "pk_", the 16-character key id and "_"
    formatter = JsonFormatter("test", "test")
    assert caplog.records, "nothing was logged: the check below would prove nothing"
    for record in caplog.records:
        rendered = formatter.format(record) + repr(record.__dict__)
        assert key.api_key not in rendered
        assert secret not in rendered


def _app(settings: Settings, pool: Any) -> FastAPI:
    app = FastAPI()
    errors.install(app)

    @app.get("/whoami")
    async def whoami(merchant_id: MerchantDep) -> dict[str, str]:
        return {"merchant_id": merchant_id}

    app.state.pool = pool
    app.state.settings = settings
    return app


@asynccontextmanager
async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        yield http


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == UNAUTHORIZED


async def test_a_valid_key_authenticates_its_merchant(
    settings: Settings, pool: Any, issued: IssuedKey, logs: pytest.LogCaptureFixture
) -> None:
    async with _client(_app(settings, pool)) as http:
        response = await http.get("/whoami", headers=_bearer(issued.api_key))
        lowercase = await http.get("/whoami", headers={"Authorization": f"bearer {issued.api_key}"})
    assert response.status_code == 200
    assert response.json() == {"merchant_id": issued.merchant_id}
    assert lowercase.json() == {"merchant_id": issued.merchant_id}
    assert_not_logged(logs, issued)


def _swap_secret(key: str) -> str:
    secret = key[20:]
    return key[:20] + ("A" if secret[0] != "A" else "B") + secret[1:]


INVALID: dict[str, Callable[[IssuedKey], dict[str, str]]] = {
    "no-header": lambda k: {},
    "empty-bearer": lambda k: {"Authorization": "Bearer "},
    "basic-scheme": lambda k: {"Authorization": f"Basic {k.api_key}"},
    "no-scheme": lambda k: {"Authorization": k.api_key},
    "without-prefix": lambda k: _bearer(k.api_key[3:]),
    "trailing-garbage": lambda k: _bearer(k.api_key + "x"),
    "truncated-secret": lambda k: _bearer(k.api_key[:-1]),
    "uppercase-key-id": lambda k: _bearer(k.api_key[:3] + k.key_id.upper() + k.api_key[19:]),
    "unknown-key-id": lambda k: _bearer(f"pk_{uuid.uuid4().hex[:16]}{k.api_key[19:]}"),
    "wrong-secret": lambda k: _bearer(_swap_secret(k.api_key)),
    "bare-secret": lambda k: _bearer(k.api_key[20:]),
}


@pytest.mark.parametrize("headers", list(INVALID.values()), ids=list(INVALID))
async def test_every_invalid_key_is_the_same_401(
    settings: Settings,
    pool: Any,
    issued: IssuedKey,
    logs: pytest.LogCaptureFixture,
    headers: Callable[[IssuedKey], dict[str, str]],
) -> None:
    async with _client(_app(settings, pool)) as http:
        response = await http.get("/whoami", headers=headers(issued))
        # The key itself still works: the 401 was about the presented value only.
        valid = await http.get("/whoami", headers=_bearer(issued.api_key))
    _assert_unauthorized(response)
    assert valid.status_code == 200
    assert_not_logged(logs, issued)


async def test_a_revoked_key_is_refused_at_once_without_cache(
    settings: Settings,
    pool: Any,
    owner_conn: Any,
    issued: IssuedKey,
    logs: pytest.LogCaptureFixture,
) -> None:
    app = _app(replace(settings, api_key_cache_seconds=0), pool)
    async with _client(app) as http:
        assert (await http.get("/whoami", headers=_bearer(issued.api_key))).status_code == 200
        assert await merchants.revoke_key(owner_conn, issued.key_id)
        _assert_unauthorized(await http.get("/whoami", headers=_bearer(issued.api_key)))
    assert_not_logged(logs, issued)


async def test_a_revoked_key_is_refused_once_the_cache_expires(
    settings: Settings,
    pool: Any,
    owner_conn: Any,
    issued: IssuedKey,
    logs: pytest.LogCaptureFixture,
) -> None:
    ttl = 1
    app = _app(replace(settings, api_key_cache_seconds=ttl), pool)
    async with _client(app) as http:
        verified_at = time.monotonic()
        assert (await http.get("/whoami", headers=_bearer(issued.api_key))).status_code == 200
        assert await merchants.revoke_key(owner_conn, issued.key_id)
        deadline = time.monotonic() + ttl + 10
        while True:
            response = await http.get("/whoami", headers=_bearer(issued.api_key))
            if response.status_code != 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        refused_at = time.monotonic()
    _assert_unauthorized(response)
    # Served from the cache until it expired, refused after: the documented window.
    assert refused_at - verified_at >= ttl
    assert_not_logged(logs, issued)


async def test_cached_keys_skip_the_database_and_are_keyed_by_digest(
    settings: Settings, pool: Any, issued: IssuedKey, kit: Any, logs: pytest.LogCaptureFixture
) -> None:
    app = _app(replace(settings, api_key_cache_seconds=60), pool)
    unreachable = await db.create_pool(replace(settings, db_port=kit.free_port()))
    try:
        async with _client(app) as http:
            assert (await http.get("/whoami", headers=_bearer(issued.api_key))).status_code == 200
            app.state.pool = unreachable  # a lookup now would answer 503
            cached = await http.get("/whoami", headers=_bearer(issued.api_key))
            # Only verified keys are cached: an unknown one still needs (the dead) database.
            other = f"pk_{uuid.uuid4().hex[:16]}{issued.api_key[19:]}"
            uncached = await http.get("/whoami", headers=_bearer(other))
    finally:
        await unreachable.close()
    assert cached.status_code == 200 and cached.json() == {"merchant_id": issued.merchant_id}
    assert uncached.status_code == 503
    cache = app.state.api_key_cache
    assert list(cache._entries) == [hashlib.sha256(issued.api_key.encode()).digest()]
    assert issued.api_key not in repr(cache._entries)
    assert_not_logged(logs, issued)


async def test_an_unreachable_database_is_503(
    settings: Settings, issued: IssuedKey, kit: Any, logs: pytest.LogCaptureFixture
) -> None:
    unreachable = await db.create_pool(replace(settings, db_port=kit.free_port()))
    try:
        async with _client(_app(settings, unreachable)) as http:
            response = await http.get("/whoami", headers=_bearer(issued.api_key))
            missing = await http.get("/whoami")
    finally:
        await unreachable.close()
    assert response.status_code == 503
    assert response.json() == {
        "error": {"code": "unavailable", "message": "authentication unavailable; retry"}
    }
    _assert_unauthorized(missing)  # no key: refused without asking the database
    assert_not_logged(logs, issued)


async def test_unknown_key_ids_cost_the_same_comparison_as_wrong_secrets(
    settings: Settings,
    pool: Any,
    issued: IssuedKey,
    monkeypatch: pytest.MonkeyPatch,
    logs: pytest.LogCaptureFixture,
) -> None:
    """Timing must not reveal which key ids exist: one constant-time comparison either way."""
    calls: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def counting(a: Any, b: Any) -> bool:
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    app = _app(replace(settings, api_key_cache_seconds=0), pool)
    async with _client(app) as http:
        _assert_unauthorized(await http.get("/whoami", headers=INVALID["unknown-key-id"](issued)))
        unknown = list(calls)
        calls.clear()
        _assert_unauthorized(await http.get("/whoami", headers=INVALID["wrong-secret"](issued)))
        wrong = list(calls)
    assert unknown == wrong == [(32, 32)]
    assert_not_logged(logs, issued)
