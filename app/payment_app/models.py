"""Request and response shapes; validation is strict so nothing is silently coerced."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

# ISO 4217 codes this platform settles; anything else is refused rather than guessed at.
ALLOWED_CURRENCIES = frozenset(
    {"AUD", "CAD", "CHF", "DKK", "EUR", "GBP", "JPY", "NOK", "NZD", "SEK", "SGD", "USD"}
)
MAX_AMOUNT_MINOR = 100_000_000  # 1,000,000.00 in a two-decimal currency
PaymentStatus = Literal["pending", "processing", "succeeded", "failed"]
TERMINAL_STATUSES = frozenset({"succeeded", "failed"})
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_.:\-]{8,128}$"
MERCHANT_ID_PATTERN = r"^[A-Za-z0-9_\-]{1,64}$"  # as the api_keys table checks it


class PaymentRequest(BaseModel):
    """Body of POST /payments; unknown fields are rejected so typos are not dropped silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT_MINOR)]
    currency: StrictStr
    payment_method_token: Annotated[StrictStr, Field(pattern=r"^tok_[A-Za-z0-9_\-]{4,128}$")]
    description: Annotated[StrictStr | None, Field(max_length=500)] = None

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in ALLOWED_CURRENCIES:
            raise ValueError("currency must be an upper-case ISO 4217 code from the allow-list")
        return value

    def fingerprint(self) -> str:
        """Stable hash of the body, used to tell a retry from a conflicting reuse of a key."""
        canonical = json.dumps(self.model_dump(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class Payment(BaseModel):
    """A payment row as the application sees it."""

    id: str
    request_hash: str
    merchant_id: str
    amount: int
    currency: str
    payment_method_token: str
    description: str | None
    status: PaymentStatus
    failure_reason: str | None
    processor_reference: str | None
    enqueued: bool
    event_published: bool
    created_at: datetime
    updated_at: datetime

    def public_view(self) -> dict[str, object]:
        """Fields safe to return to the merchant and to cache (no token)."""
        return {
            "id": self.id,
            "status": self.status,
            "amount": self.amount,
            "currency": self.currency,
            "merchant_id": self.merchant_id,
            "failure_reason": self.failure_reason,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }
