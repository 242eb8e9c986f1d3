"""S3 buckets for data (issue 4): the transaction-log bucket and the access-log bucket.

Creates, under one `payment:storage:Storage` component:
- transaction-log bucket (`payment-transaction-logs-<suffix>-<account>`): the worker writes one
  object per payment transaction event. It holds transaction events WITHOUT card numbers or CVV
  (the API refuses card data, app/payment_app/cardscan.py; records carry only derived fields,
  app/payment_app/records.py). SSE-KMS
  on the data key with an S3 bucket key, versioning, all four public-access blocks, ACLs off
  (BucketOwnerEnforced), a TLS-only bucket policy, lifecycle from `profile.storage`
  (STANDARD_IA -> GLACIER -> expiry, noncurrent expiry, abort incomplete uploads), and server
  access logging into the access-log bucket (PCI DSS 10.2: who read or wrote the data).
- access-log bucket (`payment-access-logs-<suffix>-<account>`): receives S3 server access logs
  (of the transaction-log bucket and of the audit trail bucket). Same guarantees, except
  SSE-S3 instead of SSE-KMS (see the NOTE below); kept for the audit retention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from config import Profile
from payment_platform.keys import KeysOutputs

# Days an incomplete multipart upload may linger before S3 removes its parts.
ABORT_INCOMPLETE_UPLOAD_DAYS = 7
# Key prefix of the transaction-log bucket's access logs inside the access-log bucket.
TRANSACTION_LOGS_PREFIX = "transaction-logs/"


@dataclass(frozen=True)
class StorageOutputs:
    transaction_log_bucket_name: pulumi.Output[str]
    transaction_log_bucket_arn: pulumi.Output[str]
    access_log_bucket_name: pulumi.Output[str]
    access_log_bucket_arn: pulumi.Output[str]


def _tls_only(bucket_arn: pulumi.Output[str]) -> dict[str, Any]:
    """The statement that refuses every request not made over TLS (S3.5)."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _secure_bucket(
    logical: str,
    bucket_name: pulumi.Output[str],
    sse: aws.s3.BucketServerSideEncryptionConfigurationRuleArgs,
    rules: list[aws.s3.BucketLifecycleConfigurationRuleArgs],
    statements: list[dict[str, Any]],
    parent: pulumi.Resource,
) -> tuple[aws.s3.Bucket, aws.s3.BucketPolicy]:
    """A bucket with versioning, encryption, all public-access blocks, ACLs off, a lifecycle
    and a policy made of `statements` plus the TLS-only deny.
    """
    opts = pulumi.ResourceOptions(parent=parent)
    bucket = aws.s3.Bucket(
        logical,
        bucket=bucket_name,
        force_destroy=True,  # destroyable environments: objects and versions go with the bucket
        opts=pulumi.ResourceOptions(parent=parent, delete_before_replace=True),
    )
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
        rule={"object_ownership": "BucketOwnerEnforced"},
        opts=opts,
    )
    versioning = aws.s3.BucketVersioning(
        f"{logical}-versioning",
        bucket=bucket.id,
        versioning_configuration={"status": "Enabled"},
        opts=opts,
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{logical}-encryption", bucket=bucket.id, rules=[sse], opts=opts
    )
    aws.s3.BucketLifecycleConfiguration(
        f"{logical}-lifecycle",
        bucket=bucket.id,
        rules=rules,
        # NOTE: noncurrent-version rules only act on a versioned bucket: enable versioning first.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[versioning]),
    )
    policy = aws.s3.BucketPolicy(
        f"{logical}-policy",
        bucket=bucket.id,
        policy=pulumi.Output.json_dumps(
            {"Version": "2012-10-17", "Statement": [*statements, _tls_only(bucket.arn)]}
        ),
        # NOTE: PutBucketPolicy racing PutPublicAccessBlock on the same bucket fails with
        # OperationAborted ("conflicting conditional operation"); order them.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[public_access]),
    )
    return bucket, policy


def build(profile: Profile, keys: KeysOutputs) -> StorageOutputs:
    component = pulumi.ComponentResource("payment:storage:Storage", "storage")
    account_id = aws.get_caller_identity_output(
        opts=pulumi.InvokeOutputOptions(parent=component)
    ).account_id
    lifecycle = profile.storage
    abort_uploads: aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs = (
        aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
            days_after_initiation=ABORT_INCOMPLETE_UPLOAD_DAYS
        )
    )

    # S3 names are global: the account id keeps two accounts' environments apart.
    transaction_name = pulumi.Output.concat(profile.name("transaction-logs"), "-", account_id)
    access_name = pulumi.Output.concat(profile.name("access-logs"), "-", account_id)
    # Logging source buckets: this module's transaction-log bucket and the audit builder's trail
    # bucket (named by the same helper), so only they can write into the access-log bucket.
    source_arns = [
        pulumi.Output.concat("arn:aws:s3:::", profile.name(service), "-", account_id)
        for service in ("transaction-logs", "trail-logs-bucket")
    ]
    access_arn = pulumi.Output.concat("arn:aws:s3:::", access_name)

    access_bucket, access_policy = _secure_bucket(
        "access-logs",
        access_name,
        # NOTE: S3 server access logging cannot deliver to a bucket whose default encryption is
        # SSE-KMS (only SSE-S3 is supported for the target), so this bucket uses AES256.
        aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
            apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="AES256"
            ),
        ),
        [
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-access-logs",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                # Access logs are audit records: kept as long as the audit logs (>= 365 days).
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                    days=profile.observability.audit_log_retention_days
                ),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=lifecycle.noncurrent_expiration_days
                ),
                abort_incomplete_multipart_upload=abort_uploads,
            )
        ],
        [
            {
                # NOTE: with ACLs disabled (BucketOwnerEnforced) log delivery is granted by this
                # policy, not by the log-delivery group ACL the older documentation shows.
                "Sid": "AllowS3ServerAccessLogs",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": pulumi.Output.concat(access_arn, "/*"),
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": source_arns},
                },
            }
        ],
        component,
    )

    transaction_bucket, _ = _secure_bucket(
        "transaction-logs",
        transaction_name,
        aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
            apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="aws:kms", kms_master_key_id=keys.data_key_arn
            ),
            # An S3 bucket key cuts KMS requests (and cost) by orders of magnitude.
            bucket_key_enabled=True,
        ),
        [
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="tier-and-expire",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                transitions=[
                    aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                        days=lifecycle.transition_to_ia_days, storage_class="STANDARD_IA"
                    ),
                    aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                        days=lifecycle.transition_to_glacier_days, storage_class="GLACIER"
                    ),
                ],
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                    days=lifecycle.expiration_days
                ),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=lifecycle.noncurrent_expiration_days
                ),
                abort_incomplete_multipart_upload=abort_uploads,
            )
        ],
        [],
        component,
    )
    aws.s3.BucketLogging(
        "transaction-logs-access-logging",
        bucket=transaction_bucket.id,
        target_bucket=access_bucket.id,
        target_prefix=TRANSACTION_LOGS_PREFIX,
        target_object_key_format=aws.s3.BucketLoggingTargetObjectKeyFormatArgs(
            partitioned_prefix=aws.s3.BucketLoggingTargetObjectKeyFormatPartitionedPrefixArgs(
                partition_date_source="EventTime"
            )
        ),
        # Delivery is only permitted once the target's policy grants the logging service.
        opts=pulumi.ResourceOptions(parent=component, depends_on=[access_policy]),
    )

    outputs = StorageOutputs(
        transaction_log_bucket_name=transaction_bucket.bucket,
        transaction_log_bucket_arn=transaction_bucket.arn,
        access_log_bucket_name=access_bucket.bucket,
        access_log_bucket_arn=access_bucket.arn,
    )
    component.register_outputs(
        {
            "transaction_log_bucket_name": outputs.transaction_log_bucket_name,
            "access_log_bucket_name": outputs.access_log_bucket_name,
        }
    )
    return outputs
