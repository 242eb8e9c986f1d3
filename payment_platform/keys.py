"""KMS customer-managed keys: one per family of data, rotation on, 7-day deletion window.

- data: Aurora storage and its managed secret, Performance Insights, ElastiCache, Secrets Manager,
  S3 (transaction logs, access logs), ECR.
- messaging: SQS and SNS; its policy lets CloudWatch alarms publish to the encrypted alerts topic.
- logs: CloudWatch Logs log groups (the CloudTrail trail and its key belong to the account
  project, `account/`).

Each key has an alias (`alias/payment-<family>-key-<suffix>`) and a key policy in which the
account root holds the administrative actions only; using a key for cryptography is allowed to
account principals only through the AWS services named for it (`kms:ViaService`), and to the
service principals that write on their own (CloudWatch Logs, SNS, CloudWatch alarms)
only with source or encryption-context conditions. No statement has a wildcard principal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import pulumi
import pulumi_aws as aws

from config import Profile
from payment_platform.component import component_scope

Statement = dict[str, Any]

# NOTE: the root statement must keep the key manageable (PutKeyPolicy, ScheduleKeyDeletion, ...),
# or KMS refuses the policy (lockout safety check) and nobody could ever delete the key. It holds
# no cryptographic action: every use of the key goes through a service named below.
ADMIN_ACTIONS = [
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
]
USE_ACTIONS = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:CreateGrant",
    "kms:DescribeKey",
]


@dataclass(frozen=True)
class KeysOutputs:
    """The three customer-managed keys, by family of data.

    Attributes:
        data_key_arn: ARN of the data key (database, cache, secrets, buckets, images).
        data_key_id: Key id of the data key (arguments that take an id, not an ARN).
        messaging_key_arn: ARN of the messaging key (SQS queues and SNS topics).
        logs_key_arn: ARN of the logs key (CloudWatch Logs log groups).
    """

    data_key_arn: pulumi.Output[str]
    data_key_id: pulumi.Output[str]
    messaging_key_arn: pulumi.Output[str]
    logs_key_arn: pulumi.Output[str]


@dataclass(frozen=True)
class Context:
    """What the key policies name: the account, region, partition and this environment."""

    account: str
    region: str
    partition: str
    profile: Profile

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"

    @property
    def root(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:root"


class KeyOwner(Protocol):
    """What a key policy statement needs of the key's account (environment or account stack)."""

    @property
    def account(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def root(self) -> str: ...


def admin_statement(ctx: KeyOwner) -> Statement:
    """The account root administers the key (see ADMIN_ACTIONS); no cryptographic action."""
    return {
        "Sid": "AccountAdministersKey",
        "Effect": "Allow",
        "Principal": {"AWS": ctx.root},
        "Action": ADMIN_ACTIONS,
        "Resource": "*",  # in a key policy, "*" is this key
    }


def via_services_statement(
    ctx: KeyOwner, services: list[str], actions: list[str] | None = None
) -> Statement:
    """Account principals use the key only through the named AWS services."""
    return {
        "Sid": "AccountUsesKeyViaServices",
        "Effect": "Allow",
        "Principal": {"AWS": ctx.root},
        "Action": actions or USE_ACTIONS,
        "Resource": "*",
        "Condition": {
            "StringEquals": {
                "kms:CallerAccount": ctx.account,
                "kms:ViaService": [f"{s}.{ctx.region}.amazonaws.com" for s in services],
            }
        },
    }


def _policy(statements: list[Statement]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}


def data_key_policy(ctx: Context) -> dict[str, Any]:
    """Aurora (storage, Performance Insights), its RDS-managed secret, ElastiCache, Secrets
    Manager, S3 and ECR: all used through the service on the caller's behalf.
    """
    services = ["rds", "elasticache", "secretsmanager", "s3", "ecr"]
    return _policy([admin_statement(ctx), via_services_statement(ctx, services)])


def messaging_key_policy(ctx: Context) -> dict[str, Any]:
    """SQS and SNS for account principals; SNS delivering to encrypted queues; CloudWatch alarms."""
    topics = [ctx.arn("sns", ctx.profile.name(t)) for t in ("events", "alerts")]
    return _policy(
        [
            admin_statement(ctx),
            via_services_statement(ctx, ["sqs", "sns"]),
            {
                # SNS itself encrypts what it delivers to the encrypted subscriber queues.
                "Sid": "SnsDeliversToEncryptedQueues",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": ctx.account},
                    "ArnLike": {"aws:SourceArn": topics},
                },
            },
            {
                # NOTE: CloudWatch alarms publish to the KMS-encrypted alerts topic as
                # cloudwatch.amazonaws.com; without this grant every notification is dropped
                # silently (the alarm shows the action as failed only in its history).
                "Sid": "CloudWatchAlarmsPublishToEncryptedTopic",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": ctx.account},
                    "ArnLike": {"aws:SourceArn": ctx.arn("cloudwatch", "alarm:*")},
                },
            },
        ]
    )


def cloudwatch_logs_statement(ctx: KeyOwner, sid: str, condition: Statement) -> Statement:
    """CloudWatch Logs encrypts the log groups that `condition` names with this key.

    The condition must name groups by `kms:EncryptionContext:aws:logs:arn`, which keeps the key
    to those groups.
    """
    # NOTE: CloudWatch Logs uses the key as the regional service principal, and the log group's
    # ARN is the encryption context. Without this statement, creating an encrypted group fails.
    return {
        "Sid": sid,
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
        "Condition": condition,
    }


def logs_key_policy(ctx: Context) -> dict[str, Any]:
    """CloudWatch Logs, for this environment's log groups only."""
    p = ctx.profile
    groups = [
        ctx.arn("logs", f"log-group:/payment/{p.suffix}/*"),
        ctx.arn("logs", f"log-group:/aws/rds/cluster/{p.name('db')}/*"),
        ctx.arn("logs", f"log-group:aws-waf-logs-{p.name('waf')}"),
        ctx.arn("logs", f"log-group:/aws/ecs/containerinsights/{p.name('cluster')}/*"),
    ]
    return _policy(
        [
            admin_statement(ctx),
            cloudwatch_logs_statement(
                ctx,
                "CloudWatchLogsEncryptsThisEnvironmentsGroups",
                {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": groups}},
            ),
        ]
    )


def build(profile: Profile) -> KeysOutputs:
    """One key per family of data, each with its alias and a least-privilege key policy."""
    scope = component_scope("keys")
    context = pulumi.Output.all(
        aws.get_caller_identity_output().account_id,
        aws.get_region_output().region,
        aws.get_partition_output().partition,
    ).apply(lambda a: Context(account=a[0], region=a[1], partition=a[2], profile=profile))

    families = {
        "data": ("data, secrets, buckets, images", data_key_policy),
        "messaging": ("SQS queues and SNS topics", messaging_key_policy),
        "logs": ("CloudWatch Logs", logs_key_policy),
    }
    keys: dict[str, aws.kms.Key] = {}
    for family, (purpose, policy) in families.items():
        key = aws.kms.Key(
            f"{family}-key",
            description=f"payment {profile.suffix}: {purpose}",
            enable_key_rotation=True,
            deletion_window_in_days=7,
            policy=pulumi.Output.json_dumps(context.apply(policy)),
            opts=scope.child,
        )
        aws.kms.Alias(
            f"{family}-key-alias",
            name=f"alias/{profile.name(f'{family}-key')}",
            target_key_id=key.key_id,
            opts=scope.named,
        )
        keys[family] = key

    return scope.finish(
        KeysOutputs(
            data_key_arn=keys["data"].arn,
            data_key_id=keys["data"].key_id,
            messaging_key_arn=keys["messaging"].arn,
            logs_key_arn=keys["logs"].arn,
        )
    )
