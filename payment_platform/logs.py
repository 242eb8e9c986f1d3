"""CloudWatch log groups (issue 7), created before the resources that write to them.

Pre-creating each group (including the names AWS services would create on their own, such as
RDS's `/aws/rds/cluster/<id>/postgresql`) is what puts every group on the logs key with a
retention from the profile.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

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


def build(profile: Profile, keys: KeysOutputs) -> LogsOutputs:
    raise NotImplementedError
