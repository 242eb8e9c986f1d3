"""The key policy of the account's trail key: who may administer it and who may use it.

The account root holds the administrative actions only (`payment_platform.keys.ADMIN_ACTIONS`);
account principals decrypt only through S3 (reading the trail's log files); CloudTrail encrypts
log files for this account's trails, and CloudWatch Logs encrypts the trail's log group, each
only under the encryption-context condition that names what it encrypts. These are the
statements of the environment's logs key (`payment_platform.keys`) that apply to a trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from payment_platform.keys import (
    admin_statement,
    cloudwatch_logs_statement,
    via_services_statement,
)

Statement = dict[str, Any]


@dataclass(frozen=True)
class KeyContext:
    """What the key policy names: the account, the Region, the partition, the trail's ARN."""

    account: str
    region: str
    partition: str
    trail_arn: str
    log_group_arn: str

    @property
    def root(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:root"


def key_policy(ctx: KeyContext) -> dict[str, Any]:
    """The whole policy document."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            admin_statement(ctx),
            # Reading the trail's log files decrypts them through S3.
            via_services_statement(ctx, ["s3"], ["kms:Decrypt", "kms:DescribeKey"]),
            cloudwatch_logs_statement(
                ctx,
                "CloudWatchLogsEncryptsTrailLogGroup",
                {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": ctx.log_group_arn}},
            ),
            *_cloudtrail(ctx),
        ],
    }


def _cloudtrail(ctx: KeyContext) -> list[Statement]:
    """CloudTrail encrypts the trail's log files, reads the Bucket Key, describes the key."""
    source = {"StringEquals": {"aws:SourceArn": ctx.trail_arn}}
    return [
        {
            "Sid": "CloudTrailEncryptsLogFiles",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {
                **source,
                "StringLike": {
                    "kms:EncryptionContext:aws:cloudtrail:arn": (
                        f"arn:{ctx.partition}:cloudtrail:*:{ctx.account}:trail/*"
                    )
                },
            },
        },
        {
            # NOTE: the trail bucket's default encryption uses an S3 Bucket Key on this key
            # (buckets.kms_encryption); with a Bucket Key CloudTrail also needs kms:Decrypt, or
            # CreateTrail fails with InsufficientEncryptionPolicyException.
            "Sid": "CloudTrailUsesBucketKey",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": source,
        },
        {
            "Sid": "CloudTrailDescribesKey",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:DescribeKey",
            "Resource": "*",
            "Condition": source,
        },
    ]
