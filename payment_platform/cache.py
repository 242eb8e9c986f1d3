"""ElastiCache Redis replication group with an AUTH token in Secrets Manager (issue 4)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from config import Profile
from payment_platform.keys import KeysOutputs
from payment_platform.logs import LogsOutputs
from payment_platform.network import NetworkOutputs
from payment_platform.security import SecurityOutputs


@dataclass(frozen=True)
class CacheOutputs:
    replication_group_id: pulumi.Output[str]
    primary_endpoint: pulumi.Output[str]
    reader_endpoint: pulumi.Output[str]
    port: int
    auth_secret_arn: pulumi.Output[str]


def build(
    profile: Profile,
    keys: KeysOutputs,
    logs: LogsOutputs,
    network: NetworkOutputs,
    security: SecurityOutputs,
) -> CacheOutputs:
    raise NotImplementedError
