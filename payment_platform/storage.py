"""S3 buckets for data (issue 4): the transaction-log bucket and the access-log bucket that
records who read or wrote it (and the audit trail bucket)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from config import Profile
from payment_platform.keys import KeysOutputs


@dataclass(frozen=True)
class StorageOutputs:
    transaction_log_bucket_name: pulumi.Output[str]
    transaction_log_bucket_arn: pulumi.Output[str]
    access_log_bucket_name: pulumi.Output[str]
    access_log_bucket_arn: pulumi.Output[str]


def build(profile: Profile, keys: KeysOutputs) -> StorageOutputs:
    raise NotImplementedError
