"""Uniform JSON errors that never echo request input (it might hold card data)."""

from __future__ import annotations

import logging

import asyncpg  # type: ignore[import-untyped]
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An expected client or dependency error with a stable machine-readable code."""

    def __init__(
        self, status: int, code: str, message: str, details: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def error_response(
    status: int, code: str, message: str, details: list[dict[str, str]] | None = None
) -> JSONResponse:
    """The one error shape, so clients handle every failure the same way."""
    body: dict[str, object] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status)


def install(app: FastAPI) -> None:
    """Register handlers; FastAPI's default 422 would echo the offending input back."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"field": ".".join(str(p) for p in err.get("loc", ())), "error": str(err.get("msg"))}
            for err in exc.errors()
        ]
        return error_response(422, "invalid_request", "request validation failed", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        if isinstance(
            exc,
            asyncpg.PostgresError | asyncpg.InterfaceError | OSError | RedisError | TimeoutError,
        ):
            log.error("dependency unavailable", extra={"error": type(exc).__name__})
            return error_response(503, "unavailable", "a dependency is unavailable; retry later")
        log.error("unhandled error", extra={"error": type(exc).__name__})
        return error_response(500, "internal_error", "internal error")
