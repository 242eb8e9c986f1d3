"""Bounded body reading and decoding, before any validation touches the data."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import Request

from payment_app import cardscan
from payment_app.api.errors import ApiError

log = logging.getLogger(__name__)


async def read_limited(request: Request, limit: int) -> bytes:
    """Read at most limit bytes, refusing early on Content-Length and again while streaming."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "invalid_request", "invalid Content-Length header")
        if int(declared) > limit:
            raise ApiError(413, "body_too_large", f"request body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _reject_constant(value: str) -> None:
    raise ValueError(f"invalid JSON constant {value}")


def decode_json(raw: bytes) -> Any:
    """Parse strict JSON (no NaN/Infinity); malformed input is a 400, not a 500."""
    if not raw:
        raise ApiError(400, "invalid_json", "request body is empty")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "request body is not valid UTF-8 JSON") from None


def reject_card_data(value: Any, path: str) -> None:
    """Refuse anything resembling a PAN or CVV; only the field path is logged."""
    try:
        cardscan.scan(value, path)
    except cardscan.CardDataError as exc:
        log.warning("card data rejected", extra={"field": exc.path, "kind": exc.kind})
        raise ApiError(
            422,
            "card_data_rejected",
            "card numbers and security codes must not be sent; use a payment_method_token",
            [{"field": exc.path, "error": exc.kind}],
        ) from None
