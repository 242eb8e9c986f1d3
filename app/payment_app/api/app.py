"""Routes and application wiring for the payment API."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from redis.exceptions import RedisError

from payment_app import aws, cache, db, migrate
from payment_app.api import errors
from payment_app.api.body import decode_json, read_limited, reject_card_data
from payment_app.api.errors import ApiError
from payment_app.api.middleware import RequestContextMiddleware
from payment_app.config import Settings
from payment_app.models import IDEMPOTENCY_KEY_PATTERN, PaymentRequest

log = logging.getLogger(__name__)
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
DEPENDENCY_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, RedisError)


def _idempotency_key(request: Request) -> str:
    key = request.headers.get("idempotency-key")
    if key is None:
        raise ApiError(400, "missing_idempotency_key", "the Idempotency-Key header is required")
    reject_card_data(key, "header.Idempotency-Key")
    if not _IDEMPOTENCY_KEY.match(key):
        raise ApiError(
            400, "invalid_idempotency_key", "Idempotency-Key must be 8-128 chars of [A-Za-z0-9_.:-]"
        )
    return key


def _validate(data: Any) -> PaymentRequest:
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_request", "request body must be a JSON object")
    try:
        return PaymentRequest.model_validate(data)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in err["loc"]) or "body", "error": err["msg"]}
            for err in exc.errors(include_input=False, include_url=False)
        ]
        raise ApiError(422, "invalid_request", "request validation failed", details) from None


def _send_message_args(settings: Settings, payment_id: str, merchant_id: str) -> dict[str, Any]:
    args: dict[str, Any] = {
        "QueueUrl": settings.payment_queue_url,
        "MessageBody": json.dumps({"payment_id": payment_id}),
    }
    if settings.payment_queue_url.endswith(".fifo"):
        args["MessageGroupId"] = merchant_id
        args["MessageDeduplicationId"] = payment_id
    return args


def create_app(settings: Settings) -> FastAPI:
    """Build the app; dependencies are opened in the lifespan so import stays side-effect free."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.run_migrations:
            await migrate.upgrade_async(settings)
        app.state.pool = await db.create_pool(settings)
        redis_client = cache.create_client(settings)
        app.state.cache = cache.PaymentCache(redis_client, settings.cache_ttl_seconds)
        app.state.sqs = aws.client(settings, "sqs")
        log.info("api started", extra={"settings": repr(settings)})
        try:
            yield
        finally:
            await app.state.pool.close()
            await redis_client.aclose()
            log.info("api stopped")

    app = FastAPI(
        title="payment-api", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.add_middleware(RequestContextMiddleware)
    errors.install(app)

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Liveness only: never touches dependencies, so a DB blip does not kill tasks."""
        return {"status": "ok"}

    @app.get("/ready")
    async def ready(request: Request) -> JSONResponse:
        """Readiness: database and cache must both answer within a short timeout."""

        async def check(coro: Any) -> str:
            try:
                await asyncio.wait_for(coro, timeout=2.0)
                return "ok"
            except Exception as exc:
                return f"error: {type(exc).__name__}"

        database, redis_state = await asyncio.gather(
            check(db.ping(request.app.state.pool)), check(request.app.state.cache.ping())
        )
        ok = database == "ok" and redis_state == "ok"
        return JSONResponse(
            {
                "status": "ready" if ok else "not_ready",
                "checks": {"database": database, "cache": redis_state},
            },
            status_code=200 if ok else 503,
        )

    @app.post("/payments", status_code=202)
    async def create_payment(request: Request) -> JSONResponse:
        key = _idempotency_key(request)
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise ApiError(415, "unsupported_media_type", "Content-Type must be application/json")
        data = decode_json(await read_limited(request, settings.max_body_bytes))
        reject_card_data(data, "body")
        body = _validate(data)
        state = request.app.state
        try:
            payment, created = await db.create_or_get(state.pool, key, body)
            if not created and payment.request_hash != body.fingerprint():
                raise ApiError(
                    409,
                    "idempotency_conflict",
                    "Idempotency-Key was already used with a different request body",
                )
            if not payment.enqueued and await db.claim_enqueue(state.pool, payment.id):
                await _enqueue(state, payment.id, payment.merchant_id)
        except DEPENDENCY_ERRORS as exc:
            log.error("payment not accepted", extra={"error": type(exc).__name__})
            raise ApiError(503, "unavailable", "payment could not be accepted; retry") from None
        log.info(
            "payment accepted" if created else "idempotent replay",
            extra={"payment_id": payment.id, "merchant_id": payment.merchant_id},
        )
        return JSONResponse(
            {"id": payment.id, "status": payment.status, "status_url": f"/payments/{payment.id}"},
            status_code=202,
            headers={"Idempotent-Replayed": "false" if created else "true"},
        )

    async def _enqueue(state: Any, payment_id: str, merchant_id: str) -> None:
        try:
            await asyncio.to_thread(
                state.sqs.send_message, **_send_message_args(settings, payment_id, merchant_id)
            )
        except Exception:
            # Undo the claim so the client's retry with the same key sends it again.
            await db.release_enqueue(state.pool, payment_id)
            log.error("enqueue failed", extra={"payment_id": payment_id})
            raise ApiError(503, "unavailable", "payment could not be queued; retry") from None

    @app.get("/payments/{payment_id}")
    async def get_payment(payment_id: str, request: Request) -> Response:
        try:
            canonical = str(uuid.UUID(payment_id))
        except ValueError:
            raise ApiError(404, "not_found", "payment not found") from None
        state = request.app.state
        cached = await state.cache.get_raw(canonical)
        if cached is not None:
            return Response(cached, media_type="application/json", headers={"X-Cache": "hit"})
        try:
            payment = await db.get_payment(state.pool, canonical)
        except DEPENDENCY_ERRORS as exc:
            log.error("status read failed", extra={"error": type(exc).__name__})
            raise ApiError(503, "unavailable", "status unavailable; retry") from None
        if payment is None:
            raise ApiError(404, "not_found", "payment not found")
        view = payment.public_view()
        await state.cache.populate(canonical, view)
        return JSONResponse(view, headers={"X-Cache": "miss"})

    return app
