"""Bounded exponential backoff with full jitter (AWS-recommended) for transient failures."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg  # type: ignore[import-untyped]
from botocore import exceptions as boto_errors  # type: ignore[import-untyped]
from redis.exceptions import ConnectionError as RedisConnectionError

from payment_app.processor import TransientProcessorError

T = TypeVar("T")
log = logging.getLogger(__name__)
_TRANSIENT_AWS_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "RequestTimeout",
    }
)


def is_transient(exc: BaseException) -> bool:
    """Errors worth retrying in-process; anything else goes straight back to the queue."""
    if isinstance(exc, boto_errors.ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error.get("Code") in _TRANSIENT_AWS_CODES or status >= 500
    return isinstance(
        exc,
        TransientProcessorError
        | asyncpg.PostgresConnectionError
        | asyncpg.InterfaceError
        | asyncpg.TooManyConnectionsError
        | asyncpg.SerializationError
        | asyncpg.DeadlockDetectedError
        | boto_errors.ConnectionError
        | boto_errors.ReadTimeoutError
        | RedisConnectionError
        | ConnectionError
        | TimeoutError
        | OSError,
    )


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(cap, base * (2**attempt)))  # jitter, not crypto


async def with_retries(
    operation: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    base_delay: float,
    max_delay: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run operation, retrying transient errors up to attempts times in total."""
    for attempt in range(attempts):
        try:
            return await operation()
        except Exception as exc:
            if not is_transient(exc) or attempt == attempts - 1:
                raise
            delay = backoff_delay(attempt, base_delay, max_delay)
            log.warning(
                "transient error, retrying",
                extra={"error": type(exc).__name__, "attempt": attempt + 1, "delay_s": delay},
            )
            await sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
