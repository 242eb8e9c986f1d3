"""One deadline per HTTP request: a hung dependency answers 503 + Retry-After, never a long wait.

Without it, a hung PostgreSQL held a request until the driver gave up (20 s, with the pool
queueing behind it) and a hung SQS about 41 s; the load balancer and the client would give up
first, and retry into the same queue. The pool-acquire and statement timeouts sit below this
deadline (config.py), so a slow query usually fails on its own, and this is the backstop.
"""

from __future__ import annotations

import logging
import math

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from payment_app.api.errors import RETRY_AFTER_SECONDS, unavailable_response

log = logging.getLogger(__name__)
_RETRY_AFTER = b"retry-after"


class DeadlineMiddleware:
    """Pure ASGI (like RequestContextMiddleware): cancels the handler once `seconds` have passed.

    The deadline covers the time before the response starts; once the first response message
    is sent it is lifted, since a half-sent response cannot be replaced by a 503. Any 503 that
    passes through without Retry-After (the readiness probe's own) gets one here.
    """

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        with anyio.CancelScope(deadline=anyio.current_time() + self.seconds) as deadline:

            async def send_wrapper(message: Message) -> None:
                nonlocal started
                if message["type"] == "http.response.start":
                    started = True
                    deadline.deadline = math.inf
                    if message["status"] == 503:
                        _add_retry_after(message)
                await send(message)

            await self.app(scope, receive, send_wrapper)
        if deadline.cancelled_caught and not started:
            log.error(
                "request deadline exceeded",
                extra={"path": scope.get("path", ""), "deadline_seconds": self.seconds},
            )
            await unavailable_response()(scope, receive, send)


def _add_retry_after(message: Message) -> None:
    """Append Retry-After to a 503's headers unless the application already set one."""
    headers = list(message.get("headers", []))
    if not any(name.lower() == _RETRY_AFTER for name, _ in headers):
        headers.append((_RETRY_AFTER, str(RETRY_AFTER_SECONDS).encode()))
    message["headers"] = headers
