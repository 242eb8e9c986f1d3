"""Aurora PostgreSQL Serverless v2 (issue 4)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from config import Profile
from payment_platform.keys import KeysOutputs
from payment_platform.logs import LogsOutputs
from payment_platform.network import NetworkOutputs
from payment_platform.security import SecurityOutputs


@dataclass(frozen=True)
class DatabaseOutputs:
    cluster_arn: pulumi.Output[str]
    cluster_identifier: pulumi.Output[str]
    cluster_resource_id: pulumi.Output[str]
    writer_endpoint: pulumi.Output[str]
    reader_endpoint: pulumi.Output[str]
    port: int
    database_name: str
    master_username: str
    master_secret_arn: pulumi.Output[str]  # RDS-managed secret, on the data key
    instance_identifiers: list[pulumi.Output[str]]


def build(
    profile: Profile,
    keys: KeysOutputs,
    logs: LogsOutputs,
    network: NetworkOutputs,
    security: SecurityOutputs,
) -> DatabaseOutputs:
    raise NotImplementedError
