"""Backoff is exponential, jittered, bounded; only transient errors are retried."""

from __future__ import annotations

import pytest
from payment_app.processor import TransientProcessorError
from payment_app.retry import backoff_delay, is_transient, with_retries


def test_backoff_is_capped() -> None:
    for attempt in range(20):
        assert 0 <= backoff_delay(attempt, 0.1, 2.0) <= min(2.0, 0.1 * 2**attempt)


@pytest.mark.asyncio
async def test_retries_transient_then_succeeds() -> None:
    calls, sleeps = 0, []

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise TransientProcessorError("try again")
        return "ok"

    async def fake_sleep(delay: float) -> None:
        sleeps.append(delay)

    result = await with_retries(flaky, attempts=4, base_delay=0.1, max_delay=1, sleep=fake_sleep)
    assert result == "ok"
    assert calls == 3 and len(sleeps) == 2


@pytest.mark.asyncio
async def test_non_transient_is_not_retried() -> None:
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await with_retries(broken, attempts=5, base_delay=0, max_delay=0)
    assert calls == 1
    assert is_transient(TimeoutError()) and not is_transient(ValueError())
