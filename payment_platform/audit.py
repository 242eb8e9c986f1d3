"""CloudTrail with log file validation to an encrypted, versioned, TLS-only bucket (issue 7)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from config import Profile
from payment_platform.keys import KeysOutputs
from payment_platform.logs import LogsOutputs
from payment_platform.storage import StorageOutputs


@dataclass(frozen=True)
class AuditOutputs:
    trail_arn: pulumi.Output[str]
    trail_bucket_name: pulumi.Output[str]


def build(
    profile: Profile, keys: KeysOutputs, logs: LogsOutputs, storage: StorageOutputs
) -> AuditOutputs:
    raise NotImplementedError
