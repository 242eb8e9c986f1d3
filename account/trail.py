"""The account's one CloudTrail trail, its key, its buckets, its log group and delivery role.

Creates, under one `payment:account:Account` component:
- `trail-key` and its alias: a customer-managed key (rotation on, 7-day deletion window) for the
  trail's log files and its log group (`account.key_policy`);
- `access-logs` (`payment-account-access-logs-<account>`): receives the trail bucket's server
  access logs; SSE-S3, since S3 server access logging cannot deliver to an SSE-KMS bucket;
- `trail-logs` (`payment-account-trail-logs-<account>`): the trail bucket, SSE-KMS on the key,
  writable only by this trail, kept `auditLogRetentionDays` with a Glacier transition;
  both buckets are `payment_platform.buckets.secure_bucket`s (versioned, public access blocked,
  ACLs off, TLS only, force_destroy);
- `trail-logs` log group (`/payment-account/cloudtrail`) on the key, and the role CloudTrail
  assumes to write to it;
- `trail` (`payment-account-trail`): multi-Region, global service events, log file validation,
  all management events, and the S3 object reads and writes of every environment's
  transaction-log bucket, selected by name prefix (CloudTrail.1/2/4/5/7, S3.22, S3.23).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from account import names
from account.key_policy import KeyContext, key_policy
from account.settings import AccountSettings
from conventions.naming import TRANSACTION_LOG_BUCKET_PREFIX
from payment_platform.buckets import (
    SecureBucket,
    access_log_delivery_statement,
    arn_of,
    global_name,
    kms_encryption,
    lifecycle_rule,
    s3_managed_encryption,
    secure_bucket,
)
from payment_platform.component import Scope, component_scope
from payment_platform.iam import RoleWithPolicy, policy_document

CLOUDTRAIL = "cloudtrail.amazonaws.com"


@dataclass(frozen=True)
class AccountAuditOutputs:
    """The trail and where it delivers.

    Attributes:
        trail_arn: ARN of the account's trail.
        trail_bucket_name: Bucket that receives the trail's log files.
        trail_log_group_name: CloudWatch log group the trail delivers events to.
    """

    trail_arn: pulumi.Output[str]
    trail_bucket_name: pulumi.Output[str]
    trail_log_group_name: pulumi.Output[str]


@dataclass(frozen=True)
class _Account:
    """The account, and the ARNs policies must name before their resources exist."""

    id: pulumi.Output[str]
    region: pulumi.Output[str]
    partition: pulumi.Output[str]
    # NOTE: the bucket policy and the key policy must exist before the trail (and the key before
    # the log group), so they cannot take these ARNs from the resources; a trail's ARN is fixed
    # by its home Region, account and name, a log group's by its Region, account and name.
    trail_arn: pulumi.Output[str]
    log_group_arn: pulumi.Output[str]


def build(settings: AccountSettings) -> AccountAuditOutputs:
    """Key, buckets, log group and role first; then the trail, which waits for their policies."""
    scope = component_scope(names.SCOPE)
    account = _account()
    key = _trail_key(account, scope)
    access = _access_log_bucket(settings, account, scope)
    bucket = _trail_bucket(settings, account, key, access, scope)
    group = aws.cloudwatch.LogGroup(
        "trail-logs",
        name=names.TRAIL_LOG_GROUP,
        kms_key_id=key.arn,
        retention_in_days=settings.log_retention_days,
        opts=scope.named,
    )
    delivery = _delivery_role(group, scope)
    trail = _trail(key, bucket, group, delivery, scope)
    return scope.finish(
        AccountAuditOutputs(
            trail_arn=trail.arn,
            trail_bucket_name=bucket.bucket.bucket,
            trail_log_group_name=group.name,
        )
    )


def _account() -> _Account:
    account = aws.get_caller_identity_output().account_id
    region = aws.get_region_output().region
    partition = aws.get_partition_output().partition

    def arn(service: str, resource: str) -> pulumi.Output[str]:
        return pulumi.Output.concat(
            "arn:", partition, f":{service}:", region, ":", account, f":{resource}"
        )

    return _Account(
        id=account,
        region=region,
        partition=partition,
        trail_arn=arn("cloudtrail", f"trail/{names.TRAIL}"),
        log_group_arn=arn("logs", f"log-group:{names.TRAIL_LOG_GROUP}"),
    )


def _trail_key(account: _Account, scope: Scope) -> aws.kms.Key:
    """The customer key of the trail's log files and log group."""
    context = pulumi.Output.all(
        account.id, account.region, account.partition, account.trail_arn, account.log_group_arn
    ).apply(lambda a: KeyContext(*a))
    key = aws.kms.Key(
        "trail-key",
        description="payment account: CloudTrail log files and the trail's log group",
        enable_key_rotation=True,
        deletion_window_in_days=7,  # the shortest: a test account destroys in a week
        policy=pulumi.Output.json_dumps(context.apply(key_policy)),
        opts=scope.child,
    )
    aws.kms.Alias(
        "trail-key-alias", name=names.KEY_ALIAS, target_key_id=key.key_id, opts=scope.named
    )
    return key


def _access_log_bucket(settings: AccountSettings, account: _Account, scope: Scope) -> SecureBucket:
    """Where the trail bucket's server access logs go; only that bucket may write here."""
    access_arn = arn_of(global_name(names.ACCESS_LOG_BUCKET, account.id))
    retention = settings.audit_log_retention_days
    return secure_bucket(
        "access-logs",
        global_name(names.ACCESS_LOG_BUCKET, account.id),
        # NOTE: S3 server access logging cannot deliver to a bucket whose default encryption is
        # SSE-KMS (only SSE-S3 is supported for the target), so this bucket uses AES256.
        encryption=s3_managed_encryption(),
        # Access logs of the audit logs are audit records too: kept as long.
        lifecycle_rules=[
            lifecycle_rule("expire-access-logs", expire_days=retention, noncurrent_days=retention)
        ],
        statements=[
            access_log_delivery_statement(
                access_arn, account.id, arn_of(global_name(names.TRAIL_BUCKET, account.id))
            )
        ],
        parent=scope.component,
    )


def _trail_bucket(
    settings: AccountSettings,
    account: _Account,
    key: aws.kms.Key,
    access: SecureBucket,
    scope: Scope,
) -> SecureBucket:
    """A hardened bucket only this trail writes to, kept for the audit retention."""
    bucket_name = global_name(names.TRAIL_BUCKET, account.id)
    bucket_arn = arn_of(bucket_name)
    retention = settings.audit_log_retention_days
    # A noncurrent version of an audit log means it was overwritten or deleted: keep it as long
    # as the log itself, as evidence. Settings guarantee the transition comes before expiry.
    lifecycle = lifecycle_rule(
        "audit-retention",
        expire_days=retention,
        noncurrent_days=retention,
        transitions=[(settings.transition_to_glacier_days, "GLACIER")],
    )
    from_this_trail = {"aws:SourceArn": account.trail_arn}
    return secure_bucket(
        "trail-logs",
        bucket_name,
        encryption=kms_encryption(key.arn),
        lifecycle_rules=[lifecycle],
        statements=[
            {
                "Sid": "CloudTrailAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": CLOUDTRAIL},
                "Action": "s3:GetBucketAcl",
                "Resource": bucket_arn,
                "Condition": {"StringEquals": from_this_trail},
            },
            {
                "Sid": "CloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": CLOUDTRAIL},
                "Action": "s3:PutObject",
                "Resource": pulumi.Output.concat(bucket_arn, "/AWSLogs/", account.id, "/*"),
                "Condition": {
                    "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", **from_this_trail}
                },
            },
        ],
        parent=scope.component,
        access_log_bucket=access.bucket.id,
        access_log_prefix=names.TRAIL_ACCESS_LOG_PREFIX,
        # Delivery is only permitted once the target's policy grants the logging service.
        access_log_depends_on=[access.policy],
    )


def _delivery_role(group: aws.cloudwatch.LogGroup, scope: Scope) -> RoleWithPolicy:
    """The role CloudTrail assumes to write to the trail log group's streams, and nothing else."""
    role = aws.iam.Role(
        "trail-logs",
        name=names.TRAIL_LOGS_ROLE,
        description="CloudTrail delivers the account trail's events to its log group",
        # NOTE: no Condition, unlike every other service role (payment_platform.iam.service_role
        # adds aws:SourceAccount). CloudTrail User Guide, "Role policy document for CloudTrail to
        # use CloudWatch Logs for monitoring": "Confused deputy prevention is not applicable to
        # the role policy for CloudWatch Logs monitoring. The role policy doesn't support the use
        # of aws:SourceArn and aws:SourceAccount." With either condition, CreateTrail fails with
        # InvalidCloudWatchLogsRoleArnException.
        assume_role_policy=policy_document(
            [{"Effect": "Allow", "Principal": {"Service": CLOUDTRAIL}, "Action": "sts:AssumeRole"}]
        ),
        opts=scope.named,
    )
    policy = aws.iam.RolePolicy(
        "trail-logs",
        role=role.id,
        policy=policy_document(
            [
                {
                    "Sid": "DeliverToTrailLogGroup",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": pulumi.Output.concat(group.arn, ":log-stream:*"),
                }
            ]
        ),
        opts=scope.child,
    )
    return RoleWithPolicy(role=role, policy=policy)


def _event_selectors() -> list[aws.cloudtrail.TrailAdvancedEventSelectorArgs]:
    """Every management event; every S3 object read and write of every environment's
    transaction-log bucket (`payment-transaction-logs-<suffix>-<account>`), by name prefix.

    NOTE: a trail's advanced event selectors are OR'ed (an event is logged when it matches any
    selector) and may log management and data events together (CloudTrail API Reference,
    PutEventSelectors: "You can use AdvancedEventSelectors to log management events, data events
    for all resource types, and network activity events"). resources.ARN takes any operator;
    only Equals/NotEquals need a full ARN (API Reference, AdvancedFieldSelector), so StartsWith a
    partial bucket name selects every bucket whose name begins with it. No readOnly field
    selector: without one CloudTrail logs both reads and writes.
    """
    field = aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs
    return [
        aws.cloudtrail.TrailAdvancedEventSelectorArgs(
            name="All management events",
            field_selectors=[field(field="eventCategory", equals=["Management"])],
        ),
        aws.cloudtrail.TrailAdvancedEventSelectorArgs(
            name="Transaction-log object reads and writes, every environment",
            field_selectors=[
                field(field="eventCategory", equals=["Data"]),
                field(field="resources.type", equals=["AWS::S3::Object"]),
                field(field="resources.ARN", starts_withs=[arn_of(TRANSACTION_LOG_BUCKET_PREFIX)]),
            ],
        ),
    ]


def _trail(
    key: aws.kms.Key,
    bucket: SecureBucket,
    group: aws.cloudwatch.LogGroup,
    delivery: RoleWithPolicy,
    scope: Scope,
) -> aws.cloudtrail.Trail:
    """Multi-Region, validated, encrypted, to S3 and CloudWatch Logs, with data events."""
    return aws.cloudtrail.Trail(
        "trail",
        name=names.TRAIL,
        s3_bucket_name=bucket.bucket.id,
        kms_key_id=key.arn,
        enable_log_file_validation=True,
        enable_logging=True,
        is_multi_region_trail=True,
        include_global_service_events=True,
        # NOTE: CloudTrail wants the log group ARN with the ":*" wildcard suffix; the ARN a log
        # group resource exports has none, and the plain ARN fails validation.
        cloud_watch_logs_group_arn=pulumi.Output.concat(group.arn, ":*"),
        cloud_watch_logs_role_arn=delivery.role.arn,
        advanced_event_selectors=_event_selectors(),
        # NOTE: creating a trail checks that it may write to the bucket and assume the role; it
        # races the bucket policy and the role's policy (InsufficientS3BucketPolicyException,
        # InvalidCloudWatchLogsRoleArnException) unless it waits for both.
        opts=scope.opts(delete_before_replace=True, depends_on=[bucket.policy, delivery.policy]),
    )
