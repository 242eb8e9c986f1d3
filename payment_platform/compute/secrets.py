"""The API's own secret: the key of the HMAC its idempotency keys are stored under.

Creates a random 64-character value (letters and digits) and a Secrets Manager secret holding
it, on the data key like every secret of the platform. Only the API's task role may read it
(`roles`); the API reads it at start by ARN (`IDEMPOTENCY_SECRET_ARN`), so the value is never in
a task definition.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from config import Profile
from payment_platform.component import Scope
from payment_platform.keys import KeysOutputs

IDEMPOTENCY_SECRET_LENGTH = 64


@dataclass(frozen=True)
class IdempotencySecret:
    """The secret's ARN, handed on only once its value is stored."""

    arn: pulumi.Output[str]


def idempotency_secret(profile: Profile, keys: KeysOutputs, scope: Scope) -> IdempotencySecret:
    """A random HMAC key in a Secrets Manager secret on the data key; not rotated on a schedule."""
    value = random.RandomPassword(
        "idempotency-hmac-key",
        length=IDEMPOTENCY_SECRET_LENGTH,
        special=False,  # letters and digits: no quoting problem anywhere it is read
        opts=scope.child,
    )
    # NOTE: no automatic rotation (a waiver in guardrails/waivers.py): a stored idempotency key
    # is an HMAC under this value, so a scheduled rotation would make every retry in flight look
    # new and create a second payment. The service reads AWSCURRENT and AWSPREVIOUS, so an
    # operator can rotate by hand once retries under the old value have expired
    # (docs/operations.md, "The idempotency secret").
    secret = aws.secretsmanager.Secret(
        "idempotency",
        name=profile.name("idempotency"),
        description="HMAC key the payment API stores idempotency keys under",
        kms_key_id=keys.data_key_arn,
        # NOTE: a recovery window would keep the name reserved after destroy and block the next
        # deployment of the same environment.
        recovery_window_in_days=0,
        opts=scope.named,
    )
    version = aws.secretsmanager.SecretVersion(
        "idempotency-value",
        secret_id=secret.id,
        secret_string=value.result,
        opts=scope.child,
    )
    # The API starts only once the value is stored: it refuses to start without the secret.
    return IdempotencySecret(
        arn=pulumi.Output.all(secret.arn, version.id).apply(lambda a: str(a[0]))
    )
