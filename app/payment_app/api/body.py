"""Bounded body reading and decoding, before any validation touches the data."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import Request

from payment_app import cardscan
from payment_app.api.errors import CARD_DATA_CODE, CARD_DATA_MESSAGE, ApiError

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


# A payment body is flat; the cap keeps every later walk (this one, the card scan) far from the
# interpreter's recursion limit, which deep but small input could otherwise reach (a 500).
MAX_DEPTH = 32
UNSTORABLE = "contains a character that cannot be stored"


class _Pairs(list[tuple[str, Any]]):
    """An object's members as decoded, in order, duplicates kept: checked with their path."""


def _reject_constant(value: str) -> None:
    raise ValueError(f"invalid JSON constant {value}")


def storable(text: str) -> bool:
    """False for NUL (PostgreSQL text refuses it) or a lone surrogate (not encodable as UTF-8)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _child(path: str, key: str) -> str:
    """The same path spelling as the card scan, so a client reads one convention."""
    return f"{path}.{key}" if len(key) <= 64 else f"{path}.<key>"


def _unstorable(path: str) -> ApiError:
    return ApiError(
        422, "invalid_request", "request validation failed", [{"field": path, "error": UNSTORABLE}]
    )


def _build(value: Any, path: str, depth: int) -> Any:
    """Turn decoded members into dicts, refusing duplicate keys and strings nothing can store."""
    if depth > MAX_DEPTH:
        raise ApiError(400, "invalid_json", f"request body nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        if not storable(value):
            raise _unstorable(path)
        return value
    if isinstance(value, list):
        if isinstance(value, _Pairs):
            result: dict[str, Any] = {}
            for key, item in value:
                child = _child(path, key)
                if not storable(key):
                    raise _unstorable(child)
                if key in result:
                    raise ApiError(
                        400,
                        "invalid_json",
                        "request body has a duplicate key",
                        [{"field": child, "error": "duplicate key"}],
                    )
                result[key] = _build(item, child, depth + 1)
            return result
        return [_build(item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value)]
    return value


def decode_json(raw: bytes, path: str = "body") -> Any:
    """Parse strict JSON into plain values, or raise the client error that explains why not.

    400 invalid_json: empty, not UTF-8 JSON, NaN/Infinity, a duplicate key (json.loads would
    keep the last one silently), nesting deeper than MAX_DEPTH. 422 invalid_request: a string,
    value or key, that PostgreSQL cannot store (json.loads accepts NUL and lone surrogates).
    """
    if not raw:
        raise ApiError(400, "invalid_json", "request body is empty")
    try:
        decoded = json.loads(
            raw.decode("utf-8"), parse_constant=_reject_constant, object_pairs_hook=_Pairs
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "request body is not valid UTF-8 JSON") from None
    return _build(decoded, path, 0)


def reject_card_data(value: Any, path: str) -> None:
    """Refuse anything resembling a PAN or CVV; only the field path is logged."""
    try:
        cardscan.scan(value, path)
    except cardscan.CardDataError as exc:
        log.warning("card data rejected", extra={"field": exc.path, "kind": exc.kind})
        raise ApiError(
            422, CARD_DATA_CODE, CARD_DATA_MESSAGE, [{"field": exc.path, "error": exc.kind}]
        ) from None
