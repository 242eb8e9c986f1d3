"""Transaction-log records and payment events: derived from stored fields, never card data."""

from __future__ import annotations

from typing import Any

from payment_app.models import Payment


def transaction_log_key(payment: Payment) -> str:
    """Deterministic key so a redelivered message overwrites rather than duplicates."""
    return f"transactions/{payment.created_at:%Y/%m/%d}/{payment.id}.json"


def transaction_record(payment: Payment, environment: str) -> dict[str, Any]:
    """The S3 transaction-log entry: stored fields only, so no token reaches the log."""
    return {
        "schema_version": 1,
        "payment_id": payment.id,
        "merchant_id": payment.merchant_id,
        "amount": payment.amount,
        "currency": payment.currency,
        "status": payment.status,
        "failure_reason": payment.failure_reason,
        "processor_reference": payment.processor_reference,
        "created_at": payment.created_at.isoformat(),
        "completed_at": payment.updated_at.isoformat(),
        "environment": environment,
    }


def payment_event(payment: Payment) -> dict[str, Any]:
    """Event for the SNS topic; event_id is stable so consumers can de-duplicate."""
    return {
        "event_id": f"{payment.id}:{payment.status}",
        "type": f"payment.{payment.status}",
        "payment_id": payment.id,
        "merchant_id": payment.merchant_id,
        "amount": payment.amount,
        "currency": payment.currency,
        "status": payment.status,
        "failure_reason": payment.failure_reason,
        "occurred_at": payment.updated_at.isoformat(),
    }
