"""Database rules: the Aurora PostgreSQL cluster and its instances.

- `database-protection`: storage on the customer key, not public, IAM auth, PostgreSQL and query
  logs exported, minor upgrades on.
- `database-resilience`: backups kept (a week where the stack serves real payments), tags
  copied to snapshots, a non-default admin name, a reader where it is highly available.
- `database-credentials`: the master password managed by RDS on the customer key; Performance
  Insights on it.
"""

from __future__ import annotations

from guardrails.facts import (
    CLUSTER,
    HIGH_AVAILABILITY,
    PRODUCTION,
    as_list,
    cluster_instances,
    cluster_parameters,
    deployment_flag,
)
from guardrails.model import Violation
from guardrails.rules.base import Findings, is_true, on_cmk, rule
from resource_graph import Graph


@rule(
    "database-protection",
    "Storage on the customer key; not public; IAM auth; PostgreSQL and query logs; minor upgrades",
    "RDS.2",
    "RDS.12",
    "RDS.13",
    "RDS.27",
    "RDS.35",
    "RDS.37",
    "PCI DSS 3.5.1",
)
def database_protection(graph: Graph) -> list[Violation]:
    """Cardholder data at rest is encrypted, unreachable from outside, and its access is logged."""
    f = Findings("database-protection")
    for cluster in graph.of_type(CLUSTER):
        f.require(
            is_true(cluster.get("storageEncrypted")) and on_cmk(graph, cluster.get("kmsKeyId")),
            cluster,
            "storage not encrypted with the customer key",
            "RDS.27",
            "PCI DSS 3.5.1",
        )
        f.require(
            is_true(cluster.get("iamDatabaseAuthenticationEnabled")),
            cluster,
            "IAM auth off",
            "RDS.12",
        )
        f.require(
            "postgresql" in as_list(cluster.get("enabledCloudwatchLogsExports")),
            cluster,
            "PostgreSQL log not exported to CloudWatch Logs",
            "RDS.37",
        )
        params = cluster_parameters(graph, cluster) or {}
        query_logging = params.get("log_min_duration_statement", "-1") != "-1" or params.get(
            "log_statement", "none"
        ) not in ("none",)
        f.require(
            query_logging,
            cluster,
            "no query logging (log_min_duration_statement / log_statement)",
            "RDS.37",
        )
        for instance in cluster_instances(graph, cluster):
            f.require(
                not is_true(instance.get("publiclyAccessible")),
                instance,
                "publicly accessible",
                "RDS.2",
            )
            f.require(
                instance.get("autoMinorVersionUpgrade") is not False,
                instance,
                "auto minor version upgrade off",
                "RDS.13",
                "RDS.35",
            )
    return f.items


DEFAULT_ADMINS = {"postgres", "admin", "root", "rdsadmin", "administrator", "master"}


@rule(
    "database-resilience",
    "Backups with retention, tags copied to snapshots, multi-AZ where HA, non-default admin",
    "RDS.11",
    "RDS.15",
    "RDS.16",
    "RDS.24",
)
def database_resilience(graph: Graph) -> list[Violation]:
    """The data survives a bad change or a lost AZ, and the admin account is not a guessable one.

    A week of backups is asked of a stack that serves real payments (`production`), a reader of
    a highly available one (`high_availability`): exported flags, not the environment's name.
    """
    f = Findings("database-resilience")
    min_retention = 7 if deployment_flag(graph, PRODUCTION) else 1
    highly_available = deployment_flag(graph, HIGH_AVAILABILITY)
    for cluster in graph.of_type(CLUSTER):
        retention = int(cluster.get("backupRetentionPeriod") or 1)
        f.require(
            retention >= min_retention,
            cluster,
            f"backup retention {retention} day(s); needs {min_retention}",
            "RDS.11",
        )
        f.require(
            is_true(cluster.get("copyTagsToSnapshot")),
            cluster,
            "tags not copied to snapshots",
            "RDS.16",
        )
        f.require(
            str(cluster.get("masterUsername") or "postgres") not in DEFAULT_ADMINS,
            cluster,
            "default admin user name",
            "RDS.24",
        )
        if highly_available:
            count = len(cluster_instances(graph, cluster))
            f.require(
                count >= 2,
                cluster,
                f"{count} instance(s); high availability needs a reader in another AZ",
                "RDS.15",
            )
    return f.items


@rule(
    "database-credentials",
    "Master password managed by RDS on the customer key; Performance Insights on it",
    "RDS.6",
)
def database_credentials(graph: Graph) -> list[Violation]:
    """No database credential passes through the program, and none rests on an AWS key."""
    f = Findings("database-credentials")
    for cluster in graph.of_type(CLUSTER):
        f.require(
            is_true(cluster.get("manageMasterUserPassword"))
            and on_cmk(graph, cluster.get("masterUserSecretKmsKeyId"))
            and not cluster.get("masterPassword"),
            cluster,
            "master password not managed by RDS in Secrets Manager on the customer key",
            "RDS.6",
        )
        for r in [cluster, *cluster_instances(graph, cluster)]:
            if is_true(r.get("performanceInsightsEnabled")):
                f.require(
                    on_cmk(graph, r.get("performanceInsightsKmsKeyId")),
                    r,
                    "Performance Insights not on the customer key",
                    "RDS.6",
                )
    return f.items
