"""Cache rules: the Redis replication group.

- `cache-encryption`: at rest on the customer key (in transit: `tls-in-transit` in
  `guardrails.rules.design`).
- `cache-iam-auth`: clients authenticate with IAM through a user group: no AUTH token (a static
  password nothing rotates), the group's `default` user switched off, every other user IAM.
- `cache-resilience`: failover and multi-AZ with replicas, backups, minor upgrades, its own
  subnet group.
"""

from __future__ import annotations

from guardrails.facts import REPLICATION_GROUP, as_list, has_replicas
from guardrails.model import Violation
from guardrails.rules.base import Findings, is_true, on_cmk, rule
from resource_graph import Graph, Resource

USER = "aws:elasticache/user:User"
USER_GROUP = "aws:elasticache/userGroup:UserGroup"


@rule(
    "cache-encryption",
    "Redis at rest on the customer key (in transit: tls-in-transit)",
    "ElastiCache.4",
)
def cache_encryption(graph: Graph) -> list[Violation]:
    """Cached payment state is encrypted on disk with a key we control."""
    f = Findings("cache-encryption")
    for group in graph.of_type(REPLICATION_GROUP):
        f.require(
            is_true(group.get("atRestEncryptionEnabled")) and on_cmk(graph, group.get("kmsKeyId")),
            group,
            "not encrypted at rest with the customer key",
            "ElastiCache.4",
        )
    return f.items


def _user_problem(user: Resource) -> str | None:
    """Why a user in the cache's group could log in without an IAM token, or None."""
    mode = str((user.get("authenticationMode") or {}).get("type") or "")
    access = str(user.get("accessString") or "").split()
    if user.get("userName") == "default":
        return None if access[:1] == ["off"] else "its default user is not switched off"
    if mode != "iam" or user.get("passwords") or user.get("noPasswordRequired"):
        return f"user {user.get('userName')} does not authenticate with IAM ({mode or 'password'})"
    return None


@rule(
    "cache-iam-auth",
    "Redis clients authenticate with IAM through a user group; no AUTH token; default user off",
    "ElastiCache.6",
    "PCI DSS 8.6.2",
)
def cache_iam_auth(graph: Graph) -> list[Violation]:
    """No password for the cache exists: nothing to leak, to expire, or to forget to rotate."""
    f = Findings("cache-iam-auth")
    groups = {g.id: g for g in graph.of_type(USER_GROUP)}
    users = {u.id: u for u in graph.of_type(USER)}
    for group in graph.of_type(REPLICATION_GROUP):
        if group.get("authToken") or group.get("authTokenWo"):
            f.add(group, "has a static AUTH token", "ElastiCache.6", "PCI DSS 8.6.2")
        ids = [str(i) for i in as_list(group.get("userGroupIds"))]
        if not ids or any(i not in groups for i in ids):
            f.add(group, "not on a user group of this stack", "ElastiCache.6")
            continue
        members = [str(u) for g in ids for u in as_list(groups[g].get("userIds"))]
        for member in members:
            user = users.get(member)
            problem = "user not defined in this stack" if user is None else _user_problem(user)
            if problem:
                f.add(group, f"{problem} ({member})", "ElastiCache.6", "PCI DSS 8.6.2")
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
