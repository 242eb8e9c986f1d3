"""Pluggable payment processors; the default simulated acquirer is deterministic for tests."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
from dataclasses import dataclass
from typing import Literal, Protocol

from payment_app.config import Settings
from payment_app.models import Payment


class TransientProcessorError(Exception):
    """The acquirer could not answer (timeout, 5xx); retrying may succeed."""


@dataclass(frozen=True)
class ProcessorResult:
    """One authorisation outcome; the reference is stored so payments can be reconciled."""

    status: Literal["succeeded", "failed"]
    reference: str
    failure_reason: str | None = None


class PaymentProcessor(Protocol):
    """Authorise a payment; must be idempotent on payment.id (it can be called again)."""

    async def authorize(self, payment: Payment) -> ProcessorResult:
        """Return the outcome, or raise TransientProcessorError when a retry may succeed."""


class SimulatedAcquirer:
    """Outcome derived only from token and amount, so every run is reproducible.

    - token containing ``decline`` or amount ending in 51 (minor units): declined
    - token containing ``unavailable``: transient error (exercises retries and the DLQ)
    - anything else: approved
    """

    def __init__(self, delay_seconds: float = 0.0) -> None:
        self.delay = delay_seconds

    async def authorize(self, payment: Payment) -> ProcessorResult:
        """Decide from token and amount alone (see the class), after the configured delay."""
        if self.delay:
            await asyncio.sleep(self.delay)
        token = payment.payment_method_token
        if "unavailable" in token:
            raise TransientProcessorError("simulated acquirer unavailable")
        digest = hashlib.sha256(f"{payment.id}:{token}:{payment.amount}".encode()).hexdigest()
        reference = f"sim_{digest[:24]}"
        if "decline" in token or payment.amount % 100 == 51:
            return ProcessorResult("failed", reference, "insufficient_funds")
        return ProcessorResult("succeeded", reference)


def load_processor(settings: Settings) -> PaymentProcessor:
    """`simulated`, or `package.module:factory` where factory(settings) returns a processor."""
    name = settings.payment_processor
    if name == "simulated":
        return SimulatedAcquirer(settings.simulated_acquirer_delay_ms / 1000)
    module_name, _, attr = name.partition(":")
    if not attr:
        raise ValueError("PAYMENT_PROCESSOR must be 'simulated' or 'module:factory'")
    factory = getattr(importlib.import_module(module_name), attr)
    processor: PaymentProcessor = factory(settings)
    return processor
