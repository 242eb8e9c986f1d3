"""What the alarms and the dashboard both read: the region, the period, the metric dimensions
of every monitored resource, and the namespace of the metrics the platform derives from its own
logs. Creates no resources.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from config import Profile
from payment_platform.cache import CacheOutputs
from payment_platform.component import after
from payment_platform.compute import ComputeOutputs
from payment_platform.database import DatabaseOutputs
from payment_platform.edge import EdgeOutputs
from payment_platform.logs import group_names

REGION = "us-east-1"  # `aws:region` of every stack file; WAF metrics name it as a dimension
PERIOD = 60  # seconds: ALB, ECS, RDS, ElastiCache and SQS all publish at one-minute resolution
WAF_PERIOD = 300  # the rate-based rule counts over 5 minutes; blocked requests are read alike
# The platform's own metrics (from log metric filters) live under this namespace plus the
# environment suffix: a filter's dimensions can only be fields of the log line
# (MetricTransformation.dimensions), and environments may share an account, so the namespace is
# what keeps dev's and pr-142's counts apart.
METRIC_NAMESPACE = "PaymentPlatform"
WORKER_REPORT_PERIOD = 300  # the worker's stuck and dead-letter reports are judged over 5 minutes

Dimensions = dict[str, pulumi.Input[str]]


@dataclass(frozen=True)
class Sources:
    """The metric dimensions of each monitored resource, shared by alarms and dashboard."""

    alb: Dimensions
    target_group: Dimensions
    api: Dimensions
    worker: Dimensions
    database: Dimensions
    # The CacheClusterId of every node: ElastiCache publishes per node (see `cache_alarms`).
    cache_nodes: list[pulumi.Output[str]]
    waf: Dimensions
    # The worker's log group, which the log metric filters read, and their metrics' namespace.
    worker_log_group: pulumi.Output[str]
    namespace: str


def cache_node_ids(
    replication_group_id: pulumi.Output[str], nodes: int
) -> list[pulumi.Output[str]]:
    """Member cluster ids of a single-shard (cluster mode disabled) replication group."""
    return [pulumi.Output.concat(replication_group_id, f"-{n:03d}") for n in range(1, nodes + 1)]


def metric_namespace(profile: Profile) -> str:
    """The namespace of this environment's log-derived metrics: `PaymentPlatform/<suffix>`."""
    return f"{METRIC_NAMESPACE}/{profile.suffix}"


def sources(
    profile: Profile,
    *,
    edge: EdgeOutputs,
    compute: ComputeOutputs,
    database: DatabaseOutputs,
    cache: CacheOutputs,
) -> Sources:
    """Each resource's dimensions, named once so an alarm and its widget cannot drift apart."""
    return Sources(
        alb={"LoadBalancer": edge.alb_arn_suffix},
        target_group={
            "LoadBalancer": edge.alb_arn_suffix,
            "TargetGroup": edge.target_group_arn_suffix,
        },
        api={"ClusterName": compute.cluster_name, "ServiceName": compute.api_service_name},
        worker={"ClusterName": compute.cluster_name, "ServiceName": compute.worker_service_name},
        database={"DBClusterIdentifier": database.cluster_identifier},
        cache_nodes=cache_node_ids(cache.replication_group_id, 1 + profile.cache.replica_count),
        waf={"WebACL": edge.web_acl_name, "Region": REGION, "Rule": "ALL"},
        # The name is the logs builder's (one table of group names); the group exists once the
        # worker service does, since the worker's task definition names it. A filter on a group
        # that does not exist yet fails (ResourceNotFoundException), hence the dependency.
        worker_log_group=after(group_names(profile)["worker"], [compute.worker_service_name]),
        namespace=metric_namespace(profile),
    )
