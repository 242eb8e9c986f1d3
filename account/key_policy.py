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

from payment_platform.keys import ADMIN_ACTIONS

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
            _admin(ctx),
            _read_via_s3(ctx),
            _cloudwatch_logs(ctx),
            *_cloudtrail(ctx),
        ],
    }


def _admin(ctx: KeyContext) -> Statement:
    # NOTE: without the root statement KMS refuses the policy (lockout safety check) and the key
    # could never be deleted; it holds no cryptographic action.
    return {
        "Sid": "AccountAdministersKey",
        "Effect": "Allow",
        "Principal": {"AWS": ctx.root},
        "Action": ADMIN_ACTIONS,
        "Resource": "*",  # in a key policy, "*" is this key
    }


def _read_via_s3(ctx: KeyContext) -> Statement:
    """Reading the trail's log files decrypts them through S3, for this account's principals."""
    return {
        "Sid": "AccountReadsTrailLogsViaS3",
        "Effect": "Allow",
        "Principal": {"AWS": ctx.root},
        "Action": ["kms:Decrypt", "kms:DescribeKey"],
        "Resource": "*",
        "Condition": {
            "StringEquals": {
                "kms:CallerAccount": ctx.account,
                "kms:ViaService": f"s3.{ctx.region}.amazonaws.com",
            }
        },
    }


def _cloudwatch_logs(ctx: KeyContext) -> Statement:
    # NOTE: CloudWatch Logs uses the key as the regional service principal, with the log group's
    # ARN as encryption context; without this statement creating the encrypted group fails.
    return {
        "Sid": "CloudWatchLogsEncryptsTrailLogGroup",
        "Effect": "Allow",
        "Principal": {"Service": f"logs.{ctx.region}.amazonaws.com"},
        "Action": [
            "kms:Encrypt*",
            "kms:Decrypt*",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
            "kms:Describe*",
        ],
        "Resource": "*",
        "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": ctx.log_group_arn}},
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
