"""Typed route dependencies: what the lifespan opened, handed to handlers by type.

Each one reads ``app.state`` on every request (not once at import), so the lifespan stays the only
place that opens and closes connections, and a test can swap a client on a running app.
"""

from __future__ import annotations

from typing import Annotated

import asyncpg  # type: ignore[import-untyped]
from fastapi import Depends, Request

from payment_app.cache import PaymentCache
from payment_app.config import Settings
from payment_app.idempotency import IdempotencyKeys
from payment_app.outbox import OutboxRelay


async def get_pool(request: Request) -> asyncpg.Pool:
    """The PostgreSQL pool; async so FastAPI does not hop to a thread just to read an attribute."""
    pool: asyncpg.Pool = request.app.state.pool
    return pool


async def get_cache(request: Request) -> PaymentCache:
    """The status cache, shared by every request so its outage bypass applies app-wide."""
    cache: PaymentCache = request.app.state.cache
    return cache


async def get_relay(request: Request) -> OutboxRelay:
    """The outbox relay, told when a payment was committed so it sends without delay."""
    relay: OutboxRelay = request.app.state.relay
    return relay


async def get_idempotency(request: Request) -> IdempotencyKeys:
    """The HMAC secrets idempotency keys are stored under."""
    keys: IdempotencyKeys = request.app.state.idempotency
    return keys


async def get_settings(request: Request) -> Settings:
    """The settings the app was built with, so handlers need no module-level configuration."""
    settings: Settings = request.app.state.settings
    return settings


PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
CacheDep = Annotated[PaymentCache, Depends(get_cache)]
RelayDep = Annotated[OutboxRelay, Depends(get_relay)]
IdempotencyDep = Annotated[IdempotencyKeys, Depends(get_idempotency)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
