"""CloudWatch log groups (issue 7), created before the resources that write to them.

Pre-creating each group (including the names AWS services would create on their own, such as
RDS's `/aws/rds/cluster/<id>/postgresql`) is what puts every group on the logs key with a
retention from the profile.

Creates, under `payment:logs:Logs`: the API and worker container groups, the VPC flow logs group,
the Aurora PostgreSQL export group, the Redis slow-log and engine-log groups, the WAF logging
group and the CloudTrail group (kept `audit_log_retention_days`; the others
`log_retention_days`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from config import Profile
from payment_platform.keys import KeysOutputs


@dataclass(frozen=True)
class LogsOutputs:
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
    trail_log_group_name: pulumi.Output[str]
    trail_log_group_arn: pulumi.Output[str]


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
        "cloudtrail": f"{base}/cloudtrail",
    }


def build(profile: Profile, keys: KeysOutputs) -> LogsOutputs:
    component = pulumi.ComponentResource("payment:logs:Logs", "logs")
    groups: dict[str, aws.cloudwatch.LogGroup] = {}
    for logical, name in group_names(profile).items():
        audit = logical == "cloudtrail"
        groups[logical] = aws.cloudwatch.LogGroup(
            f"{logical}-logs",
            name=name,
            kms_key_id=keys.logs_key_arn,
            retention_in_days=(
                profile.observability.audit_log_retention_days
                if audit
                else profile.observability.log_retention_days
            ),
            opts=pulumi.ResourceOptions(parent=component, delete_before_replace=True),
        )

    outputs = LogsOutputs(
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
        trail_log_group_name=groups["cloudtrail"].name,
        trail_log_group_arn=groups["cloudtrail"].arn,
    )
    component.register_outputs({logical: group.arn for logical, group in groups.items()})
    return outputs
