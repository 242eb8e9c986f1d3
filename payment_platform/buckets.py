"""The hardened S3 bucket every concern uses: one helper, so the guarantees cannot drift apart.

`secure_bucket` creates, parented to the caller's component, for logical name `<logical>`:
- the bucket `<logical>` (force_destroy so environments destroy cleanly, delete_before_replace
  because it is explicitly named; with `protect`, Pulumi's `protect` and no force_destroy);
- `<logical>-public-access`: all four public-access blocks (S3.1/S3.8);
- `<logical>-ownership`: BucketOwnerEnforced, so ACLs are off (S3.12);
- `<logical>-versioning`: versioning enabled (S3.14);
- `<logical>-encryption`: the default encryption the caller picks (`kms_encryption` for data on
  a customer key, `s3_managed_encryption` for log targets that cannot use SSE-KMS);
- `<logical>-lifecycle`: the caller's lifecycle rules (S3.13);
- `<logical>-logging`: server access logging, only when an access-log bucket is given (S3.9);
- `<logical>-policy`: the caller's statements plus the TLS-only deny (S3.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from payment_platform.iam import deny_insecure_transport, policy_document


@dataclass(frozen=True)
class SecureBucket:
    bucket: aws.s3.Bucket
    # Resources that need the bucket's grants in place (e.g. an ALB writing logs) wait for this.
    policy: aws.s3.BucketPolicy


# NOTE: S3 bucket names are global across accounts: the account id keeps two accounts'
# environments apart (the NAMES limits in conventions/naming.py leave room for it).
def global_name(name: str, account_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """`<name>-<account id>`: the physical name of a bucket."""
    return pulumi.Output.concat(name, "-", account_id)


def arn_of(bucket_name: pulumi.Input[str]) -> pulumi.Output[str]:
    """A bucket's ARN from its name, for policies written before the bucket exists."""
    return pulumi.Output.concat("arn:aws:s3:::", bucket_name)


def tls_only_statement(bucket_arn: pulumi.Input[str]) -> dict[str, Any]:
    """The statement that refuses every request to the bucket or its objects without TLS."""
    return deny_insecure_transport("s3:*", [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")])


def access_log_delivery_statement(
    access_bucket_arn: pulumi.Input[str],
    account_id: pulumi.Input[str],
    source_bucket_arns: pulumi.Input[str] | Sequence[pulumi.Input[str]],
) -> dict[str, Any]:
    """S3 server access logging of `source_bucket_arns` may write into the access-log bucket."""
    return {
        # NOTE: with ACLs disabled (BucketOwnerEnforced) log delivery is granted by this policy,
        # not by the log-delivery group ACL the older documentation shows.
        "Sid": "AllowS3ServerAccessLogs",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": pulumi.Output.concat(access_bucket_arn, "/*"),
        "Condition": {
            "StringEquals": {"aws:SourceAccount": account_id},
            "ArnLike": {"aws:SourceArn": source_bucket_arns},
        },
    }


def lifecycle_rule(
    rule_id: str,
    *,
    expire_days: int,
    noncurrent_days: int,
    transitions: Sequence[tuple[int, str]] = (),
    abort_upload_days: int = 7,
) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    """One whole-bucket rule: optional (days, storage class) transitions, then expiry; old
    versions and incomplete multipart uploads are cleaned up too.
    """
    return aws.s3.BucketLifecycleConfigurationRuleArgs(
        id=rule_id,
        status="Enabled",
        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
        transitions=[
            aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(days=days, storage_class=cls)
            for days, cls in transitions
        ]
        or None,
        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=expire_days),
        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
            noncurrent_days=noncurrent_days
        ),
        abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
            days_after_initiation=abort_upload_days
        ),
    )


def kms_encryption(
    key_arn: pulumi.Input[str],
) -> aws.s3.BucketServerSideEncryptionConfigurationRuleArgs:
    """SSE-KMS on a customer key, with an S3 bucket key."""
    return aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
        apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm="aws:kms", kms_master_key_id=key_arn
        ),
        # One data key per bucket, not per object: cuts KMS requests (and cost) by orders of
        # magnitude.
        bucket_key_enabled=True,
    )


def s3_managed_encryption() -> aws.s3.BucketServerSideEncryptionConfigurationRuleArgs:
    """SSE-S3 (AES256), for buckets AWS services deliver logs into.

    NOTE: ALB access-log delivery only supports SSE-S3 (AES256); a bucket default of SSE-KMS
    makes delivery fail silently. S3 server access logging likewise cannot deliver to a bucket
    whose default encryption is SSE-KMS (only SSE-S3 is supported for the target). These log
    buckets are the only ones not on a customer key (a deliberate exception of the baseline).
    """
    return aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
        apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm="AES256"
        ),
    )


def secure_bucket(
    logical: str,
    bucket_name: pulumi.Input[str],
    *,
    encryption: aws.s3.BucketServerSideEncryptionConfigurationRuleArgs,
    lifecycle_rules: Sequence[aws.s3.BucketLifecycleConfigurationRuleArgs],
    statements: Sequence[dict[str, Any]],
    parent: pulumi.Resource,
    access_log_bucket: pulumi.Input[str] | None = None,
    access_log_prefix: str | None = None,
    access_log_partitioned: bool = False,
    access_log_depends_on: Sequence[pulumi.Resource] = (),
    protect: bool = False,
) -> SecureBucket:
    """A bucket with every baseline guarantee and a policy of `statements` plus the TLS-only deny.

    `access_log_partitioned` writes the access logs under date-partitioned keys (by event time);
    `access_log_depends_on` lets the logging wait for, e.g., the target bucket's policy.
    `protect` keeps the bucket and its objects: `pulumi destroy` refuses it, and S3 refuses to
    delete it while it holds objects.
    """
    opts = pulumi.ResourceOptions(parent=parent)
    bucket = aws.s3.Bucket(
        logical,
        bucket=bucket_name,
        # Destroyable environments: objects and versions go with the bucket.
        force_destroy=not protect,
        opts=pulumi.ResourceOptions(parent=parent, delete_before_replace=True, protect=protect),
    )
    public_access, versioning = _lock_down(logical, bucket, opts)
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{logical}-encryption", bucket=bucket.id, rules=[encryption], opts=opts
    )
    aws.s3.BucketLifecycleConfiguration(
        f"{logical}-lifecycle",
        bucket=bucket.id,
        rules=list(lifecycle_rules),
        # NOTE: noncurrent-version rules only act on a versioned bucket: enable versioning first.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[versioning]),
    )
    if access_log_bucket is not None:
        _access_logging(
            logical,
            bucket,
            parent,
            target=access_log_bucket,
            prefix=access_log_prefix or f"{logical}/",
            partitioned=access_log_partitioned,
            depends_on=access_log_depends_on,
        )
    policy = aws.s3.BucketPolicy(
        f"{logical}-policy",
        bucket=bucket.id,
        policy=policy_document([*statements, tls_only_statement(bucket.arn)]),
        # NOTE: PutBucketPolicy racing PutPublicAccessBlock on the same bucket fails with
        # OperationAborted ("conflicting conditional operation"); order them.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[public_access]),
    )
    return SecureBucket(bucket=bucket, policy=policy)


def _access_logging(
    logical: str,
    bucket: aws.s3.Bucket,
    parent: pulumi.Resource,
    *,
    target: pulumi.Input[str],
    prefix: str,
    partitioned: bool,
    depends_on: Sequence[pulumi.Resource],
) -> None:
    """Server access logs of `bucket` into `target` under `prefix` (date-partitioned or not)."""
    aws.s3.BucketLogging(
        f"{logical}-logging",
        bucket=bucket.id,
        target_bucket=target,
        target_prefix=prefix,
        target_object_key_format=aws.s3.BucketLoggingTargetObjectKeyFormatArgs(
            partitioned_prefix=aws.s3.BucketLoggingTargetObjectKeyFormatPartitionedPrefixArgs(
                partition_date_source="EventTime"
            )
        )
        if partitioned
        else None,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )


def _lock_down(
    logical: str, bucket: aws.s3.Bucket, opts: pulumi.ResourceOptions
) -> tuple[aws.s3.BucketPublicAccessBlock, aws.s3.BucketVersioning]:
    """All four public-access blocks, ACLs off, versioning on; later settings wait for them."""
    public_access = aws.s3.BucketPublicAccessBlock(
        f"{logical}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    aws.s3.BucketOwnershipControls(
        f"{logical}-ownership",
        bucket=bucket.id,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
        opts=opts,
    )
    versioning = aws.s3.BucketVersioning(
        f"{logical}-versioning",
        bucket=bucket.id,
        versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
            status="Enabled"
        ),
        opts=opts,
    )
    return public_access, versioning
