"""S3 buckets for data: the transaction-log bucket and the access-log bucket.

Creates, under one `payment:storage:Storage` component:
- transaction-log bucket (`payment-transaction-logs-<suffix>-<account>`): the worker writes one
  object per payment transaction event. It holds transaction events WITHOUT card numbers or CVV
  (the API refuses card data, app/payment_app/cardscan.py; records carry only derived fields,
  app/payment_app/records.py). SSE-KMS
  on the data key with an S3 bucket key, versioning, all four public-access blocks, ACLs off
  (BucketOwnerEnforced), a TLS-only bucket policy, lifecycle from `profile.storage`
  (STANDARD_IA -> GLACIER -> expiry, noncurrent expiry, abort incomplete uploads), and server
  access logging into the access-log bucket (PCI DSS 10.2: who read or wrote the data). Its
  name starts with `conventions.naming.TRANSACTION_LOG_BUCKET_PREFIX`: the account's trail
  (`account/`) records every object read and write of every environment's bucket by that prefix.
- access-log bucket (`payment-access-logs-<suffix>-<account>`): receives S3 server access logs
  of the transaction-log bucket. Same guarantees, except
  SSE-S3 instead of SSE-KMS (see the NOTE below); kept for the audit retention.
Both are `payment_platform.buckets.secure_bucket`s, which holds the shared guarantees. Both are
destroyable (force_destroy) unless `deployment.protect_data` is on: then both carry Pulumi's
`protect` and keep their objects, since they are the audit trail of the transactions.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from config import Profile
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
from payment_platform.keys import KeysOutputs

# Key prefix of the transaction-log bucket's access logs inside the access-log bucket.
TRANSACTION_LOGS_PREFIX = "transaction-logs/"


@dataclass(frozen=True)
class StorageOutputs:
    """The data buckets, for the worker's grants.

    Attributes:
        transaction_log_bucket_name: Bucket the worker writes transaction events to.
        transaction_log_bucket_arn: ARN of the transaction-log bucket (the task roles' grants).
        access_log_bucket_name: Bucket that receives S3 server access logs.
        access_log_bucket_arn: ARN of the access-log bucket.
    """

    transaction_log_bucket_name: pulumi.Output[str]
    transaction_log_bucket_arn: pulumi.Output[str]
    access_log_bucket_name: pulumi.Output[str]
    access_log_bucket_arn: pulumi.Output[str]


def build(profile: Profile, keys: KeysOutputs) -> StorageOutputs:
    """The access-log bucket first, then the transaction-log bucket that logs into it."""
    scope = component_scope("storage")
    account_id = aws.get_caller_identity_output(
        opts=pulumi.InvokeOutputOptions(parent=scope.component)
    ).account_id
    access = _access_log_bucket(profile, account_id, scope)
    transaction = _transaction_log_bucket(profile, keys, account_id, access, scope)
    return scope.finish(
        StorageOutputs(
            transaction_log_bucket_name=transaction.bucket.bucket,
            transaction_log_bucket_arn=transaction.bucket.arn,
            access_log_bucket_name=access.bucket.bucket,
            access_log_bucket_arn=access.bucket.arn,
        )
    )


def _access_log_bucket(
    profile: Profile, account_id: pulumi.Output[str], scope: Scope
) -> SecureBucket:
    access_name = global_name(profile.name("access-logs"), account_id)
    # The logging source: this module's transaction-log bucket (named by the same helper), so
    # only it can write into the access-log bucket.
    source_arns = [arn_of(global_name(profile.name("transaction-logs"), account_id))]
    access_arn = arn_of(access_name)
    return secure_bucket(
        "access-logs",
        access_name,
        # NOTE: S3 server access logging cannot deliver to a bucket whose default encryption is
        # SSE-KMS (only SSE-S3 is supported for the target), so this bucket uses AES256.
        encryption=s3_managed_encryption(),
        lifecycle_rules=[
            # Access logs are audit records: kept as long as the audit logs (>= 365 days).
            lifecycle_rule(
                "expire-access-logs",
                expire_days=profile.observability.audit_log_retention_days,
                noncurrent_days=profile.storage.noncurrent_expiration_days,
            )
        ],
        statements=[access_log_delivery_statement(access_arn, account_id, source_arns)],
        parent=scope.component,
        protect=profile.deployment.protect_data,
    )


def _transaction_log_bucket(
    profile: Profile,
    keys: KeysOutputs,
    account_id: pulumi.Output[str],
    access: SecureBucket,
    scope: Scope,
) -> SecureBucket:
    lifecycle = profile.storage
    return secure_bucket(
        "transaction-logs",
        global_name(profile.name("transaction-logs"), account_id),
        encryption=kms_encryption(keys.data_key_arn),
        lifecycle_rules=[
            lifecycle_rule(
                "tier-and-expire",
                expire_days=lifecycle.expiration_days,
                noncurrent_days=lifecycle.noncurrent_expiration_days,
                transitions=[
                    (lifecycle.transition_to_ia_days, "STANDARD_IA"),
                    (lifecycle.transition_to_glacier_days, "GLACIER"),
                ],
            )
        ],
        statements=[],
        parent=scope.component,
        access_log_bucket=access.bucket.id,
        access_log_prefix=TRANSACTION_LOGS_PREFIX,
        access_log_partitioned=True,
        # Delivery is only permitted once the target's policy grants the logging service.
        access_log_depends_on=[access.policy],
        protect=profile.deployment.protect_data,
    )
