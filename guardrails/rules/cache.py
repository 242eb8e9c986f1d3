"""Cache rules: the Redis replication group.

- `cache-encryption`: at rest on the customer key; an AUTH token or user group (in transit:
  `tls-in-transit` in `guardrails.rules.design`).
- `cache-resilience`: failover and multi-AZ with replicas, backups, minor upgrades, its own
  subnet group.
"""

from __future__ import annotations

from guardrails.facts import REPLICATION_GROUP, has_replicas
from guardrails.model import Violation
from guardrails.rules.base import Findings, is_true, on_cmk, rule
from resource_graph import Graph, Resource


@rule(
    "cache-encryption",
    "Redis at rest on the customer key; AUTH token (in transit: tls-in-transit)",
    "ElastiCache.4",
    "ElastiCache.6",
)
def cache_encryption(graph: Graph) -> list[Violation]:
    """Cached payment state is encrypted on disk and served only to clients that authenticate."""
    f = Findings("cache-encryption")
    for group in graph.of_type(REPLICATION_GROUP):
        f.require(
            is_true(group.get("atRestEncryptionEnabled")) and on_cmk(graph, group.get("kmsKeyId")),
            group,
            "not encrypted at rest with the customer key",
            "ElastiCache.4",
        )
        f.require(
            bool(group.get("authToken") or group.get("authTokenWo") or group.get("userGroupIds")),
            group,
            "no AUTH token or user group",
            "ElastiCache.6",
        )
    return f.items


def _group_resilience(f: Findings, group: Resource, subnet_groups: list[Resource]) -> None:
    """One replication group fails over, keeps backups, takes patches and has its own subnets."""
    if has_replicas(group):
        f.require(
            is_true(group.get("automaticFailoverEnabled")) and is_true(group.get("multiAzEnabled")),
            group,
            "replicas without automatic failover and multi-AZ",
            "ElastiCache.3",
        )
    f.require(
        int(group.get("snapshotRetentionLimit") or 0) >= 1,
        group,
        "no automatic backups",
        "ElastiCache.1",
    )
    f.require(
        group.get("autoMinorVersionUpgrade") is not False
        and group.get("autoMinorVersionUpgrade") != "false",
        group,
        "auto minor version upgrade off",
        "ElastiCache.2",
    )
    name = group.get("subnetGroupName")
    f.require_any(
        subnet_groups,
        lambda g: bool(name) and name in (g.id, g.get("name")),
        group,
        "not in its own subnet group",
        "ElastiCache.7",
    )


@rule(
    "cache-resilience",
    "Failover and multi-AZ with replicas; backups; minor upgrades; own subnet group",
    "ElastiCache.1",
    "ElastiCache.2",
    "ElastiCache.3",
    "ElastiCache.7",
)
def cache_resilience(graph: Graph) -> list[Violation]:
    """The cache survives a node or AZ failure and stays patched, inside the private subnets."""
    f = Findings("cache-resilience")
    subnet_groups = graph.of_type("aws:elasticache/subnetGroup:SubnetGroup")
    for group in graph.of_type(REPLICATION_GROUP):
        _group_resilience(f, group, subnet_groups)
    return f.items
