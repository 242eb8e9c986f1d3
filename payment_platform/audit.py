"""CloudTrail with log file validation to an encrypted, versioned, TLS-only bucket.

Creates, under one `payment:audit:Audit` component:
- the trail bucket (`payment-trail-logs-bucket-<suffix>-<account>`): SSE-KMS on the logs key,
  versioned, all four public-access blocks, ACLs off (BucketOwnerEnforced), a policy that denies
  non-TLS access and lets only this trail write, server access logging to the access-log bucket,
  a lifecycle that keeps audit logs for `observability.audit_log_retention_days` (PCI DSS 10.5.1),
  force_destroy so the environment destroys cleanly (a `buckets.secure_bucket`);
- the role CloudTrail assumes to deliver to the trail log group (CreateLogStream and
  PutLogEvents on that group's streams only);
- the trail: multi-region, global service events, log file validation, KMS on the logs key,
  delivered to the bucket and to CloudWatch Logs, with S3 data events for the transaction-log
  bucket's objects (CloudTrail.1/2/4/5/7, S3.22, S3.23).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from config import Profile
from payment_platform.buckets import (
    SecureBucket,
    global_name,
    kms_encryption,
    lifecycle_rule,
    secure_bucket,
)
from payment_platform.component import Scope, component_scope
from payment_platform.iam import RoleWithPolicy, role_with_policy
from payment_platform.keys import KeysOutputs
from payment_platform.logs import LogsOutputs
from payment_platform.storage import StorageOutputs


@dataclass(frozen=True)
class AuditOutputs:
    """The trail and where it delivers.

    Attributes:
        trail_arn: ARN of the CloudTrail trail.
        trail_bucket_name: Bucket that receives the trail's log files.
    """

    trail_arn: pulumi.Output[str]
    trail_bucket_name: pulumi.Output[str]


@dataclass(frozen=True)
class _TrailIdentity:
    """The trail's name and ARN, known before the trail exists (its bucket policy needs it)."""

    name: str
    arn: pulumi.Output[str]
    account: pulumi.Output[str]
    partition: pulumi.Output[str]


def build(
    profile: Profile, keys: KeysOutputs, logs: LogsOutputs, storage: StorageOutputs
) -> AuditOutputs:
    """The trail bucket, the log-delivery role, then the trail, which waits for both."""
    scope = component_scope("audit")
    trail_id = _identity(profile)
    bucket = _trail_bucket(profile, keys, storage, trail_id, scope)
    delivery = _delivery_role(profile, logs, trail_id, scope)
    trail = _trail(keys, logs, storage, trail_id, bucket, delivery, scope)
    return scope.finish(AuditOutputs(trail_arn=trail.arn, trail_bucket_name=bucket.bucket.bucket))


def _identity(profile: Profile) -> _TrailIdentity:
    account = aws.get_caller_identity_output().account_id
    partition = aws.get_partition_output().partition
    region = aws.get_region_output().region
    trail_name = profile.name("trail")
    # NOTE: the bucket policy must exist before the trail (below), so it cannot take the trail's
    # ARN from the trail resource; a trail's ARN is fixed by its home region, account and name.
    trail_arn = pulumi.Output.concat(
        "arn:", partition, ":cloudtrail:", region, ":", account, ":trail/", trail_name
    )
    return _TrailIdentity(name=trail_name, arn=trail_arn, account=account, partition=partition)


def _trail_bucket(
    profile: Profile,
    keys: KeysOutputs,
    storage: StorageOutputs,
    trail_id: _TrailIdentity,
    scope: Scope,
) -> SecureBucket:
    """A hardened bucket that only this trail may write to, kept for the audit retention."""
    account, partition, trail_arn = trail_id.account, trail_id.partition, trail_id.arn
    bucket_name = global_name(profile.name("trail-logs-bucket"), account)
    bucket_arn = pulumi.Output.concat("arn:", partition, ":s3:::", bucket_name)
    retention = profile.observability.audit_log_retention_days
    glacier_after = profile.storage.transition_to_glacier_days
    return secure_bucket(
        "trail-logs",
        bucket_name,
        encryption=kms_encryption(keys.logs_key_arn),
        lifecycle_rules=[
            # Old audit logs are read rarely: archive them, but only if they live long enough.
            # A noncurrent version of an audit log means it was overwritten or deleted: keep it
            # as long as the log itself, as evidence.
            lifecycle_rule(
                "audit-retention",
                expire_days=retention,
                noncurrent_days=retention,
                transitions=[(glacier_after, "GLACIER")] if glacier_after < retention else [],
            )
        ],
        statements=[
            {
                "Sid": "CloudTrailAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": bucket_arn,
                "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
            },
            {
                "Sid": "CloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": pulumi.Output.concat(bucket_arn, "/AWSLogs/", account, "/*"),
                "Condition": {
                    "StringEquals": {
                        "s3:x-amz-acl": "bucket-owner-full-control",
                        "aws:SourceArn": trail_arn,
                    }
                },
            },
        ],
        parent=scope.component,
        access_log_bucket=storage.access_log_bucket_name,
        access_log_prefix="trail-logs/",
    )


def _delivery_role(
    profile: Profile, logs: LogsOutputs, trail_id: _TrailIdentity, scope: Scope
) -> RoleWithPolicy:
    """The role CloudTrail assumes to write to the trail log group's streams, and nothing else."""
    return role_with_policy(
        "trail-logs",
        name=profile.name("trail-logs"),
        service="cloudtrail.amazonaws.com",
        account_id=trail_id.account,
        description="CloudTrail delivers events to the trail log group",
        statements=[
            {
                "Sid": "DeliverToTrailLogGroup",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": pulumi.Output.concat(logs.trail_log_group_arn, ":log-stream:*"),
            }
        ],
        opts=scope.child,
    )


def _trail(
    keys: KeysOutputs,
    logs: LogsOutputs,
    storage: StorageOutputs,
    trail_id: _TrailIdentity,
    bucket: SecureBucket,
    delivery: RoleWithPolicy,
    scope: Scope,
) -> aws.cloudtrail.Trail:
    """Multi-region, validated, encrypted, to S3 and CloudWatch Logs, with data events."""
    trail_name = trail_id.name
    return aws.cloudtrail.Trail(
        "trail",
        name=trail_name,
        s3_bucket_name=bucket.bucket.id,
        kms_key_id=keys.logs_key_arn,
        enable_log_file_validation=True,
        enable_logging=True,
        is_multi_region_trail=True,
        include_global_service_events=True,
        # NOTE: CloudTrail wants the log group ARN with the ":*" wildcard suffix; the ARN a log
        # group resource exports has none, and the plain ARN fails validation.
        cloud_watch_logs_group_arn=pulumi.Output.concat(logs.trail_log_group_arn, ":*"),
        cloud_watch_logs_role_arn=delivery.role.arn,
        event_selectors=[
            aws.cloudtrail.TrailEventSelectorArgs(
                read_write_type="All",
                include_management_events=True,
                # Every read and write of a transaction-log object (S3.22, S3.23).
                data_resources=[
                    aws.cloudtrail.TrailEventSelectorDataResourceArgs(
                        type="AWS::S3::Object",
                        values=[pulumi.Output.concat(storage.transaction_log_bucket_arn, "/")],
                    )
                ],
            )
        ],
        # NOTE: creating a trail checks that it may write to the bucket and assume the role; it
        # races the bucket policy and the role's policy (InsufficientS3BucketPolicyException,
        # InvalidCloudWatchLogsRoleArnException) unless it waits for both.
        opts=scope.opts(delete_before_replace=True, depends_on=[bucket.policy, delivery.policy]),
    )
