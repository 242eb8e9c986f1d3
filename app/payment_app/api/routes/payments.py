"""POST /payments (idempotent accept and enqueue) and GET /payments/{id} (cache-aside status)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from redis.exceptions import RedisError

from payment_app import db
from payment_app.api.body import decode_json, read_limited, reject_card_data
from payment_app.api.deps import CacheDep, PoolDep, QueueDep, SettingsDep
from payment_app.api.errors import ApiError
from payment_app.aws import QueueClient
from payment_app.config import Settings
from payment_app.models import IDEMPOTENCY_KEY_PATTERN, Payment, PaymentRequest

# The logger name these lines have always carried, so log queries on it keep matching.
log = logging.getLogger("payment_app.api.app")
router = APIRouter()
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
DEPENDENCY_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, RedisError)


def _idempotency_key(request: Request) -> str:
    """The required key; scanned before its format check, so a PAN in it counts as card data."""
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
    """Strict model validation; errors keep field and message only, never the input."""
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


async def _read_payment_request(request: Request, max_body_bytes: int) -> PaymentRequest:
    """Content type, bounded read, card-data scan, then validation: nothing parses card data."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise ApiError(415, "unsupported_media_type", "Content-Type must be application/json")
    data = decode_json(await read_limited(request, max_body_bytes))
    reject_card_data(data, "body")
    return _validate(data)


def _send_message_args(settings: Settings, payment_id: str, merchant_id: str) -> dict[str, str]:
    """A FIFO queue also needs a group (one per merchant keeps its order) and a dedup id."""
    args = {
        "QueueUrl": settings.payment_queue_url,
        "MessageBody": json.dumps({"payment_id": payment_id}),
    }
    if settings.payment_queue_url.endswith(".fifo"):
        args["MessageGroupId"] = merchant_id
        args["MessageDeduplicationId"] = payment_id
    return args


async def _enqueue(
    pool: asyncpg.Pool, sqs: QueueClient, settings: Settings, payment_id: str, merchant_id: str
) -> None:
    """Send the payment to the queue; a failed send is reported to the client as a 503."""
    try:
        await asyncio.to_thread(
            sqs.send_message, **_send_message_args(settings, payment_id, merchant_id)
        )
    except Exception:
        # Undo the claim so the client's retry with the same key sends it again.
        await db.release_enqueue(pool, payment_id)
        log.error("enqueue failed", extra={"payment_id": payment_id})
        raise ApiError(503, "unavailable", "payment could not be queued; retry") from None


async def _accept(
    pool: asyncpg.Pool, sqs: QueueClient, settings: Settings, key: str, body: PaymentRequest
) -> tuple[Payment, bool]:
    """Store once per key and enqueue once per payment; whether the payment is new."""
    try:
        payment, created = await db.create_or_get(pool, key, body)
        if not created and payment.request_hash != body.fingerprint():
            raise ApiError(
                409,
                "idempotency_conflict",
                "Idempotency-Key was already used with a different request body",
            )
        if not payment.enqueued and await db.claim_enqueue(pool, payment.id):
            await _enqueue(pool, sqs, settings, payment.id, payment.merchant_id)
    except DEPENDENCY_ERRORS as exc:
        log.error("payment not accepted", extra={"error": type(exc).__name__})
        raise ApiError(503, "unavailable", "payment could not be accepted; retry") from None
    return payment, created


# No docstrings on the two handlers: FastAPI would publish them as OpenAPI descriptions.
@router.post("/payments", status_code=202)
async def create_payment(
    request: Request, settings: SettingsDep, pool: PoolDep, sqs: QueueDep
) -> JSONResponse:
    key = _idempotency_key(request)
    body = await _read_payment_request(request, settings.max_body_bytes)
    payment, created = await _accept(pool, sqs, settings, key, body)
    log.info(
        "payment accepted" if created else "idempotent replay",
        extra={"payment_id": payment.id, "merchant_id": payment.merchant_id},
    )
    return JSONResponse(
        {"id": payment.id, "status": payment.status, "status_url": f"/payments/{payment.id}"},
        status_code=202,
        headers={"Idempotent-Replayed": "false" if created else "true"},
    )


@router.get("/payments/{payment_id}")
async def get_payment(payment_id: str, pool: PoolDep, cache: CacheDep) -> Response:
    try:
        canonical = str(uuid.UUID(payment_id))
    except ValueError:
        raise ApiError(404, "not_found", "payment not found") from None
    cached = await cache.get_raw(canonical)
    if cached is not None:
        return Response(cached, media_type="application/json", headers={"X-Cache": "hit"})
    try:
        payment = await db.get_payment(pool, canonical)
    except DEPENDENCY_ERRORS as exc:
        log.error("status read failed", extra={"error": type(exc).__name__})
        raise ApiError(503, "unavailable", "status unavailable; retry") from None
    if payment is None:
        raise ApiError(404, "not_found", "payment not found")
    view = payment.public_view()
    await cache.populate(canonical, view)
    return JSONResponse(view, headers={"X-Cache": "miss"})
