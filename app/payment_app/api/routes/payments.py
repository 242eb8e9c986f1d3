"""POST /payments (idempotent accept into the outbox) and GET /payments/{id} (cache-aside status).

Both act for the authenticated merchant only: a payment belongs to the API key's merchant, and
another merchant's payment answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from payment_app import db
from payment_app.api.auth import MerchantDep
from payment_app.api.body import decode_json, read_limited, reject_card_data
from payment_app.api.deps import CacheDep, IdempotencyDep, PoolDep, RelayDep, SettingsDep
from payment_app.api.errors import DEPENDENCY_ERRORS, ApiError
from payment_app.config import Settings
from payment_app.idempotency import IdempotencyKeys
from payment_app.models import IDEMPOTENCY_KEY_PATTERN, Payment, PaymentRequest

# The logger name these lines have always carried, so log queries on it keep matching.
log = logging.getLogger("payment_app.api.app")
router = APIRouter()
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


def _idempotency_key(request: Request) -> str:
    """The required key. Not card-scanned: only its keyed hash is ever stored (idempotency.py)."""
    key = request.headers.get("idempotency-key")
    if key is None:
        raise ApiError(400, "missing_idempotency_key", "the Idempotency-Key header is required")
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


def _dispatch(merchant_id: str) -> Callable[[str], db.Dispatch]:
    """The queue message of a new payment; on a FIFO queue the merchant is its group."""

    def message(payment_id: str) -> db.Dispatch:
        return db.Dispatch(json.dumps({"payment_id": payment_id}), merchant_id)

    return message


async def _accept(
    pool: asyncpg.Pool,
    settings: Settings,
    keys: IdempotencyKeys,
    merchant_id: str,
    key: str,
    body: PaymentRequest,
) -> tuple[Payment, bool]:
    """Store once per merchant and key, with its outbox record; whether the payment is new.

    Success means committed: the payment and its dispatch record are durable together, so a 202
    (new or replayed) is only ever given for a payment that is due for processing.
    """
    try:
        payment, created = await db.create_or_get(
            pool,
            merchant_id,
            keys.candidates(merchant_id, key),
            body,
            _dispatch(merchant_id),
            timeout=settings.db_acquire_timeout_seconds,
        )
    except DEPENDENCY_ERRORS as exc:
        log.error("payment not accepted", extra={"error": type(exc).__name__})
        raise ApiError(503, "unavailable", "payment could not be accepted; retry") from None
    if not created and payment.request_hash != body.fingerprint():
        raise ApiError(
            409,
            "idempotency_conflict",
            "Idempotency-Key was already used with a different request body",
        )
    return payment, created


# No docstrings on the two handlers: FastAPI would publish them as OpenAPI descriptions.
@router.post("/payments", status_code=202)
async def create_payment(
    request: Request,
    settings: SettingsDep,
    pool: PoolDep,
    relay: RelayDep,
    keys: IdempotencyDep,
    merchant_id: MerchantDep,
) -> JSONResponse:
    key = _idempotency_key(request)
    body = await _read_payment_request(request, settings.max_body_bytes)
    payment, created = await _accept(pool, settings, keys, merchant_id, key, body)
    if created:
        relay.notify()
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
async def get_payment(
    payment_id: str,
    settings: SettingsDep,
    pool: PoolDep,
    cache: CacheDep,
    merchant_id: MerchantDep,
) -> Response:
    try:
        canonical = str(uuid.UUID(payment_id))
    except ValueError:
        raise ApiError(404, "not_found", "payment not found") from None
    cached = await cache.get_raw(canonical)
    if cached is not None:
        if _cached_merchant(cached) != merchant_id:  # another merchant's: as if it did not exist
            raise ApiError(404, "not_found", "payment not found")
        return Response(cached, media_type="application/json", headers={"X-Cache": "hit"})
    try:
        payment = await db.get_payment(pool, canonical, timeout=settings.db_acquire_timeout_seconds)
    except DEPENDENCY_ERRORS as exc:
        log.error("status read failed", extra={"error": type(exc).__name__})
        raise ApiError(503, "unavailable", "status unavailable; retry") from None
    if payment is None or payment.merchant_id != merchant_id:
        raise ApiError(404, "not_found", "payment not found")
    view = payment.public_view()
    await cache.populate(canonical, view)
    return JSONResponse(view, headers={"X-Cache": "miss"})


def _cached_merchant(cached: str) -> str | None:
    """The owner recorded in a cached view; None (a miss for everyone) if it is unreadable."""
    try:
        view = json.loads(cached)
    except ValueError:
        return None
    owner = view.get("merchant_id") if isinstance(view, dict) else None
    return owner if isinstance(owner, str) else None
