"""ASGI middleware: request id, card data in the URL refused, one access line per request.

No bodies are logged; the path is logged redacted, the query string never.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterable
from urllib.parse import unquote, unquote_plus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from payment_app.api.errors import CARD_DATA_CODE, CARD_DATA_MESSAGE, error_response
from payment_app.cardscan import contains_pan, redact
from payment_app.logs import request_id_var

log = logging.getLogger("payment_app.access")
# A UUID, or 8-64 characters a log query or a header can carry without escaping.
_VALID_REQUEST_ID = re.compile(
    r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[A-Za-z0-9._\-]{8,64})$"
)
# Probes hit these every few seconds per task; only their failures are worth a log line.
DEFAULT_QUIET_PATHS = ("/health", "/ready")


def safe_request_id(incoming: str) -> str | None:
    """The client's X-Request-ID if it is safe to log and echo, else None.

    Safe: the strict format above and no card number in it (redact leaves it unchanged).
    """
    if _VALID_REQUEST_ID.match(incoming) and redact(incoming) == incoming:
        return incoming
    return None


def _decodings(text: str, plus: bool) -> tuple[str, ...]:
    """Text as sent, decoded once and twice: a PAN must not pass by being percent-encoded."""
    if "%" not in text and not (plus and "+" in text):
        return (text,)
    decode = unquote_plus if plus else unquote
    once = decode(text, errors="replace")
    return (text, once, decode(once, errors="replace"))


def card_data_location(scope: Scope) -> str | None:
    """Where the URL carries a card number (any spelling): "path", "query" or None."""
    if any(contains_pan(form) for form in _decodings(scope.get("path", ""), plus=False)):
        return "path"
    query = scope.get("query_string", b"").decode("latin-1")
    if query and any(contains_pan(form) for form in _decodings(query, plus=True)):
        return "query"
    return None


class RequestContextMiddleware:
    """Pure ASGI (not BaseHTTPMiddleware) to keep per-request overhead low.

    quiet_paths: successful requests to these are not logged (the probes, including the load
    balancer's configured health-check path).
    """

    def __init__(self, app: ASGIApp, quiet_paths: Iterable[str] = DEFAULT_QUIET_PATHS) -> None:
        self.app = app
        self.quiet_paths = frozenset(quiet_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = safe_request_id(incoming) or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"].append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            location = card_data_location(scope)
            if location is None:
                await self.app(scope, receive, send_wrapper)
            else:
                # Refused before the app runs (the body is never read, no route sees the URL),
                # so no exception handler would: the response is the handlers' own shape.
                log.warning("card data rejected", extra={"location": location})
                details = [{"field": location, "error": "card_number"}]
                refusal = error_response(422, CARD_DATA_CODE, CARD_DATA_MESSAGE, details)
                await refusal(scope, receive, send_wrapper)
        finally:
            path = scope.get("path", "")
            if path not in self.quiet_paths or status >= 400:
                log.info(
                    "request",
                    extra={
                        "method": scope.get("method"),
                        "path": redact(path),
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            request_id_var.reset(token)
