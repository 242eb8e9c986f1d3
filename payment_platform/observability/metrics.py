"""What the alarms and the dashboard both read: the region, the period, and the metric
dimensions of every monitored resource. Creates no resources.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from config import Profile
from payment_platform.cache import CacheOutputs
from payment_platform.compute import ComputeOutputs
from payment_platform.database import DatabaseOutputs
from payment_platform.edge import EdgeOutputs

REGION = "us-east-1"  # `aws:region` of every stack file; WAF metrics name it as a dimension
PERIOD = 60  # seconds: ALB, ECS, RDS, ElastiCache and SQS all publish at one-minute resolution
WAF_PERIOD = 300  # the rate-based rule counts over 5 minutes; blocked requests are read alike

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


def cache_node_ids(
    replication_group_id: pulumi.Output[str], nodes: int
) -> list[pulumi.Output[str]]:
    """Member cluster ids of a single-shard (cluster mode disabled) replication group."""
    return [pulumi.Output.concat(replication_group_id, f"-{n:03d}") for n in range(1, nodes + 1)]


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
    )
