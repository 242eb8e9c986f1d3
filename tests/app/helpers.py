"""Shared request builders for the app tests."""

from __future__ import annotations

import uuid
from typing import Any


def new_key() -> str:
    return f"idem-{uuid.uuid4().hex}"


def payment_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": 1250,
        "currency": "EUR",
        "merchant_id": "merchant_42",
        "payment_method_token": f"tok_{uuid.uuid4().hex[:16]}",
        "description": "order 1001",
    }
    body.update(overrides)
    return body
