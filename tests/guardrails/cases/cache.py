"""Cache cases: Redis at-rest encryption, IAM authentication, failover, subnet group."""

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
        "userGroupIds": ["payment-cache-users-dev"],
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


USER = "aws:elasticache/user:User"


def users(
    default: dict[str, Any] | None = None, app: dict[str, Any] | None = None
) -> list[Resource]:
    """The user group and its two users as the platform creates them, with overrides."""
    default_inputs = {
        "userId": "payment-cache-default-dev",
        "userName": "default",
        "accessString": "off -@all",
        "authenticationMode": {"type": "no-password-required"},
    } | (default or {})
    app_inputs = {
        "userId": "payment-cache-app-dev",
        "userName": "payment-cache-app-dev",
        "accessString": "on ~payment:* -@all +get",
        "authenticationMode": {"type": "iam"},
    } | (app or {})
    return [
        res(USER, "cache-default-user", id="payment-cache-default-dev", **default_inputs),
        res(USER, "cache-app-user", id="payment-cache-app-dev", **app_inputs),
        res(
            "aws:elasticache/userGroup:UserGroup",
            "cache-users",
            id="payment-cache-users-dev",
            userIds=["payment-cache-default-dev", "payment-cache-app-dev"],
        ),
    ]


@case("cache-iam-auth", "static AUTH token", "ElastiCache.6", "cache")
def _(ok: bool) -> Graph:
    return graph(*redis(**({} if ok else {"authToken": "token"})), *users())


@case("cache-iam-auth", "no user group", "ElastiCache.6", "cache")
def _(ok: bool) -> Graph:
    return graph(*redis(userGroupIds=["payment-cache-users-dev"] if ok else []), *users())


@case("cache-iam-auth", "default user left on", "ElastiCache.6", "cache")
def _(ok: bool) -> Graph:
    access = "off -@all" if ok else "on ~* +@all"
    return graph(*redis(), *users(default={"accessString": access}))


@case("cache-iam-auth", "user with a password", "PCI DSS 8.6.2", "cache")
def _(ok: bool) -> Graph:
    mode = {"type": "iam"} if ok else {"type": "password", "passwordCount": 1}
    return graph(*redis(), *users(app={"authenticationMode": mode}))


@case("cache-resilience", "replicas without failover", "ElastiCache.3", "cache")
def _(ok: bool) -> Graph:
    return graph(*redis(automaticFailoverEnabled=ok))


@case("cache-resilience", "default subnet group", "ElastiCache.7", "cache")
def _(ok: bool) -> Graph:
    return graph(*redis(subnetGroupName="payment-cache-subnets-dev" if ok else None))
