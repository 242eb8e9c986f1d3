"""Cache cases: Redis at-rest encryption, AUTH token, failover, subnet group."""

from __future__ import annotations

from typing import Any

from guardrails.facts import REPLICATION_GROUP
from resource_graph import Graph, Resource
from tests.guardrails.cases.base import Case, registrar
from tests.guardrails.synth import KEY_ARN, graph, key, res

CASES: list[Case] = []
case = registrar(CASES)


def redis(**overrides: Any) -> list[Resource]:
    inputs: dict[str, Any] = {
        "replicationGroupId": "payment-cache-dev",
        "atRestEncryptionEnabled": True,
        "kmsKeyId": KEY_ARN,
        "transitEncryptionEnabled": True,
        "authToken": "token",
        "numCacheClusters": 2,
        "automaticFailoverEnabled": True,
        "multiAzEnabled": True,
        "snapshotRetentionLimit": 1,
        "subnetGroupName": "payment-cache-subnets-dev",
    }
    inputs.update(overrides)
    return [
        key(),
        res(REPLICATION_GROUP, "cache", **inputs),
        res(
            "aws:elasticache/subnetGroup:SubnetGroup",
            "cache-subnets",
            id="payment-cache-subnets-dev",
            name="payment-cache-subnets-dev",
        ),
    ]


@case("cache-encryption", "at rest on the AWS key", "ElastiCache.4", "cache")
def _(ok: bool) -> Graph:
    return graph(*redis(kmsKeyId=KEY_ARN if ok else None))


@case("cache-encryption", "no AUTH token", "ElastiCache.6", "cache")
def _(ok: bool) -> Graph:
    return graph(*redis(authToken="token" if ok else None))


@case("cache-resilience", "replicas without failover", "ElastiCache.3", "cache")
def _(ok: bool) -> Graph:
    return graph(*redis(automaticFailoverEnabled=ok))


@case("cache-resilience", "default subnet group", "ElastiCache.7", "cache")
def _(ok: bool) -> Graph:
    return graph(*redis(subnetGroupName="payment-cache-subnets-dev" if ok else None))
