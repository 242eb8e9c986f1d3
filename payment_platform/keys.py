"""KMS customer-managed keys (issue 3): one per family of data, rotation on, shortest deletion window.

- data: Aurora storage and its managed secret, Performance Insights, ElastiCache, Secrets Manager,
  S3 (transaction logs, trail, access logs), ECR.
- messaging: SQS and SNS; its policy lets CloudWatch alarms publish to the encrypted alerts topic.
- logs: CloudWatch Logs log groups and CloudTrail.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from config import Profile


@dataclass(frozen=True)
class KeysOutputs:
    data_key_arn: pulumi.Output[str]
    data_key_id: pulumi.Output[str]
    messaging_key_arn: pulumi.Output[str]
    logs_key_arn: pulumi.Output[str]


def build(profile: Profile) -> KeysOutputs:
    raise NotImplementedError
