"""CloudWatch log groups, created before the resources that write to them.

Pre-creating each group (including the names AWS services would create on their own, such as
RDS's `/aws/rds/cluster/<id>/postgresql`) is what puts every group on the logs key with a
retention from the profile.

Creates, under `payment:logs:Logs`: the API and worker container groups, the VPC flow logs group,
the Aurora PostgreSQL export group, the Redis slow-log and engine-log groups, the WAF logging
group and the Container Insights performance group, all kept `log_retention_days`. The
CloudTrail trail and its group belong to the account (`account/`).

The groups AWS services create on their own (RDS, Container Insights) must also be dependencies of
the resource that writes to them: otherwise destroy deletes the group first, the still-running
service recreates it unencrypted and without retention, and the next `up` fails on the name.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from config import Profile
from payment_platform.component import component_scope
from payment_platform.keys import KeysOutputs


@dataclass(frozen=True)
class LogsOutputs:
    """The log groups other builders write to or point their services at.

    Attributes:
        api_log_group_name: Log group of the API containers (awslogs driver).
        api_log_group_arn: ARN of the API log group (execution role's write grant).
        worker_log_group_name: Log group of the worker containers.
        worker_log_group_arn: ARN of the worker log group.
        flow_logs_log_group_name: Log group the VPC flow logs deliver to.
        flow_logs_log_group_arn: ARN of the flow-logs group (the delivery role's only grant).
        database_log_group_name: The group RDS exports PostgreSQL logs to (owned here first).
        cache_slow_log_group_name: Log group of the Redis slow log.
        cache_engine_log_group_name: Log group of the Redis engine log.
        waf_log_group_arn: ARN of the WAF logging group (`aws-waf-logs-` prefix).
        container_insights_log_group_name: The group Container Insights writes the cluster's
            performance events to (owned here first; the ECS cluster depends on it).
    """

    api_log_group_name: pulumi.Output[str]
    api_log_group_arn: pulumi.Output[str]
    worker_log_group_name: pulumi.Output[str]
    worker_log_group_arn: pulumi.Output[str]
    flow_logs_log_group_name: pulumi.Output[str]
    flow_logs_log_group_arn: pulumi.Output[str]
    database_log_group_name: pulumi.Output[str]
    cache_slow_log_group_name: pulumi.Output[str]
    cache_engine_log_group_name: pulumi.Output[str]
    waf_log_group_arn: pulumi.Output[str]
    container_insights_log_group_name: pulumi.Output[str]


def group_names(profile: Profile) -> dict[str, str]:
    """Logical name -> log group name, for every group this builder creates."""
    base = f"/payment/{profile.suffix}"
    return {
        "api": f"{base}/api",
        "worker": f"{base}/worker",
        "vpc-flow-logs": f"{base}/vpc-flow-logs",
        # NOTE: RDS writes exported logs to exactly this name and creates it itself (unencrypted,
        # never expiring) when it does not exist; owning it puts it on our key and retention.
        "database": f"/aws/rds/cluster/{profile.name('db')}/postgresql",
        "redis-slow": f"{base}/redis-slow",
        "redis-engine": f"{base}/redis-engine",
        # NOTE: WAF only logs to CloudWatch groups whose name starts with "aws-waf-logs-".
        "waf": f"aws-waf-logs-{profile.name('waf')}",
        # NOTE: Container Insights creates this group itself when it does not exist (CloudWatch
        # User Guide, "Container Insights performance log reference": "it automatically creates
        # a log group for the performance log events"), unencrypted and never expiring.
        "container-insights": f"/aws/ecs/containerinsights/{profile.name('cluster')}/performance",
    }


def build(profile: Profile, keys: KeysOutputs) -> LogsOutputs:
    """Every log group, on the logs key, with the profile's retention."""
    scope = component_scope("logs")
    groups: dict[str, aws.cloudwatch.LogGroup] = {}
    for logical, name in group_names(profile).items():
        groups[logical] = aws.cloudwatch.LogGroup(
            f"{logical}-logs",
            name=name,
            kms_key_id=keys.logs_key_arn,
            retention_in_days=profile.observability.log_retention_days,
            opts=scope.named,
        )

    return scope.finish(
        LogsOutputs(
            api_log_group_name=groups["api"].name,
            api_log_group_arn=groups["api"].arn,
            worker_log_group_name=groups["worker"].name,
            worker_log_group_arn=groups["worker"].arn,
            flow_logs_log_group_name=groups["vpc-flow-logs"].name,
            flow_logs_log_group_arn=groups["vpc-flow-logs"].arn,
            database_log_group_name=groups["database"].name,
            cache_slow_log_group_name=groups["redis-slow"].name,
            cache_engine_log_group_name=groups["redis-engine"].name,
            waf_log_group_arn=groups["waf"].arn,
            container_insights_log_group_name=groups["container-insights"].name,
        )
    )
