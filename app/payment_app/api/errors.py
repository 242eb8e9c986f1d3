"""Uniform JSON errors that never echo request input (it might hold card data)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import asyncpg  # type: ignore[import-untyped]
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from payment_app import cardscan

log = logging.getLogger(__name__)

# Seconds a client should wait before retrying a 503: long enough for a pool or a failover blip
# to clear, short enough that a payment is not held up noticeably.
RETRY_AFTER_SECONDS = 2
# The one refusal of card data, from the body scan and from the URL check in the middleware.
CARD_DATA_CODE = "card_data_rejected"
CARD_DATA_MESSAGE = "card numbers and security codes must not be sent; use a payment_method_token"
# Failures of a dependency rather than of the request: the client may retry the same request.
DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    RedisError,
    TimeoutError,
)
# Codes for the framework's own HTTP errors (no route for the path, a method the path lacks).
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


class ApiError(Exception):
    """An expected client or dependency error with a stable machine-readable code.

    headers: sent with the response, e.g. WWW-Authenticate on a 401.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, str]] | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def printable(text: str) -> str:
    """Text safe to put in a response: card numbers redacted, NUL and lone surrogates replaced.

    Field paths name JSON keys the client chose; a lone surrogate would also make the JSON
    encoder fail, turning a 4xx into a 500.
    """
    redacted = cardscan.redact(text)
    if "\x00" not in redacted and redacted.isascii():
        return redacted
    return "".join(
        "\ufffd" if char == "\x00" or "\ud800" <= char <= "\udfff" else char for char in redacted
    )


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The one error shape, so clients handle every failure the same way.

    Every 503 carries Retry-After; detail values pass through `printable`.
    """
    body: dict[str, object] = {"code": code, "message": message}
    if details:
        body["details"] = [{key: printable(value) for key, value in d.items()} for d in details]
    sent = dict(headers or {})
    if status == 503 and not any(name.lower() == "retry-after" for name in sent):
        sent["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return JSONResponse({"error": body}, status_code=status, headers=sent)


def unavailable_response() -> JSONResponse:
    """A dependency is down or too slow: 503 with Retry-After, the message says nothing more."""
    return error_response(503, "unavailable", "a dependency is unavailable; retry later")


def install(app: FastAPI) -> None:
    """Register handlers; FastAPI's default 422 would echo the offending input back.

    Dependency errors get their own handlers (not the catch-all): those run inside the
    middleware, so the 503 carries X-Request-ID and is logged, and nothing is re-raised.
    """

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"field": ".".join(str(p) for p in err.get("loc", ())), "error": str(err.get("msg"))}
            for err in exc.errors()
        ]
        return error_response(422, "invalid_request", "request validation failed", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # exc.headers carries Allow on a 405; the detail is Starlette's own phrase, not input.
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    async def _dependency(_: Request, exc: Exception) -> JSONResponse:
        log.error("dependency unavailable", extra={"error": type(exc).__name__})
        return unavailable_response()

    for error_type in DEPENDENCY_ERRORS:
        app.add_exception_handler(error_type, _dependency)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", extra={"error": type(exc).__name__})
        return error_response(500, "internal_error", "internal error")
