"""Idempotency keys as a keyed hash: the raw client string is never stored.

A client may put anything in `Idempotency-Key` (a timestamp, an order number, by mistake a card
number). Storing only HMAC-SHA256(secret, merchant id, key) means the database never holds the
raw string, keys need no card scan (no false refusals), and a stolen table cannot be
brute-forced back to low-entropy keys without the secret, which lives in Secrets Manager.

The secret is read once at start. Both its AWSCURRENT and, when present, AWSPREVIOUS versions
are kept: new payments use the current one, lookups match either, so a manual rotation does not
make retries of payments accepted just before it create duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from payment_app.config import Settings

MIN_SECRET_BYTES = 32


class IdempotencySecretError(RuntimeError):
    """The HMAC secret could not be read or is too short; the API must not start without it."""


@dataclass(frozen=True)
class IdempotencyKeys:
    """The HMAC secrets, current first; repr hides them."""

    secrets: tuple[bytes, ...] = field(repr=False)

    def __post_init__(self) -> None:
        if not self.secrets:
            raise IdempotencySecretError("no idempotency secret")
        for secret in self.secrets:
            if len(secret) < MIN_SECRET_BYTES:
                raise IdempotencySecretError(
                    f"the idempotency secret must be at least {MIN_SECRET_BYTES} bytes"
                )

    def digest(self, merchant_id: str, key: str) -> bytes:
        """The stored form of a new payment's key (under the current secret)."""
        return _mac(self.secrets[0], merchant_id, key)

    def candidates(self, merchant_id: str, key: str) -> list[bytes]:
        """Every digest an existing payment with this key may have been stored under."""
        return [_mac(secret, merchant_id, key) for secret in self.secrets]


def _mac(secret: bytes, merchant_id: str, key: str) -> bytes:
    # The NUL separator cannot occur in a merchant id, so ("a", "bc") and ("ab", "c") differ.
    message = merchant_id.encode() + b"\x00" + key.encode("utf-8", "surrogatepass")
    return hmac.new(secret, message, hashlib.sha256).digest()


def load_keys(settings: Settings, secretsmanager: Any) -> IdempotencyKeys:
    """Read AWSCURRENT (required) and AWSPREVIOUS (if any) of IDEMPOTENCY_SECRET_ARN."""
    arn = settings.idempotency_secret_arn
    if not arn:
        raise IdempotencySecretError("IDEMPOTENCY_SECRET_ARN is not set")
    try:
        current = secretsmanager.get_secret_value(SecretId=arn)["SecretString"]
    except Exception as exc:
        raise IdempotencySecretError(
            f"the idempotency secret could not be read ({type(exc).__name__})"
        ) from None
    secrets = [current.encode()]
    try:
        previous = secretsmanager.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")
        secrets.append(previous["SecretString"].encode())
    except ClientError as exc:
        # ResourceNotFoundException: no previous version, the secret was never rotated.
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise IdempotencySecretError(
                "the idempotency secret's previous version could not be read "
                f"({exc.response.get('Error', {}).get('Code')})"
            ) from None
    return IdempotencyKeys(tuple(secrets))
