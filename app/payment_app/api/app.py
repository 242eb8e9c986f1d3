"""Application wiring for the payment API: lifespan, middleware, error handlers and routers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.credentials import CredentialProvider

from payment_app import aws, cache, db, idempotency, migrate, outbox
from payment_app.api import errors
from payment_app.api.deadline import DeadlineMiddleware
from payment_app.api.middleware import DEFAULT_QUIET_PATHS, RequestContextMiddleware
from payment_app.api.routes import health, payments
from payment_app.config import Settings
from payment_app.credentials import DbPassword

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    db_password: DbPassword | None = None,
    redis_credentials: CredentialProvider | None = None,
) -> FastAPI:
    """Build the app; dependencies are opened in the lifespan so import stays side-effect free.

    `db_password` and `redis_credentials` are asked for a credential on every new connection;
    they default to the providers DB_AUTH and REDIS_AUTH select (IAM tokens on ECS).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.run_migrations:  # at start only: the one use of the master login
            await migrate.upgrade_async(settings)
        app.state.pool = await db.create_pool(settings, db_password)
        redis_client = cache.create_client(settings, redis_credentials)
        app.state.cache = cache.PaymentCache(redis_client, settings.cache_ttl_seconds)
        # Read once: without the HMAC secret no payment can be accepted, so failing is right.
        app.state.idempotency = await asyncio.to_thread(
            idempotency.load_keys, settings, aws.client(settings, "secretsmanager")
        )
        app.state.sqs = aws.client(settings, "sqs")
        app.state.relay = outbox.OutboxRelay(
            app.state.pool, app.state.sqs, settings.payment_queue_url
        )
        relay_task = asyncio.create_task(app.state.relay.run())
        log.info("api started", extra={"settings": repr(settings)})
        try:
            yield
        finally:
            app.state.relay.stop()
            with contextlib.suppress(Exception):
                # A batch in hand gets a moment; one stuck on a hung dependency is cancelled
                # (at worst its records are sent again by the next relay: at least once).
                await asyncio.wait_for(relay_task, timeout=2)
            await app.state.pool.close()
            await redis_client.aclose()
            log.info("api stopped")

    # Imported here, not at the top: `python -m payment_app.api.openapi` imports this package
    # first, and runpy warns when the module it runs is already in sys.modules.
    from payment_app.api import openapi

    # /openapi.json is served (openapi.install completes FastAPI's schema); no docs UIs.
    app = FastAPI(
        title="payment-api",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=openapi.OPENAPI_PATH,
    )
    app.state.settings = settings
    # Added first, so it runs inside RequestContextMiddleware: its 503 carries X-Request-ID and
    # is logged like any other response.
    app.add_middleware(DeadlineMiddleware, seconds=settings.request_deadline_seconds)
    app.add_middleware(
        RequestContextMiddleware, quiet_paths=(*DEFAULT_QUIET_PATHS, settings.health_check_path)
    )
    errors.install(app)
    app.include_router(health.router)
    if settings.health_check_path != "/health":  # /health stays for the image's HEALTHCHECK
        app.add_api_route(settings.health_check_path, health.health, methods=["GET"])
    app.include_router(payments.router)
    openapi.install(app, settings)
    return app
