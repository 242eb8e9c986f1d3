"""Storage: transaction-log and access-log buckets with the S3 guarantees."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pytest
from pydantic import ValidationError

from config import Profile
from config.profile import StorageConfig
from offline.mocks import ACCOUNT_ID
from payment_platform import storage
from resource_graph import Graph, Resource
from tests import fakes
from tests.conftest import ENVIRONMENTS, Graphs, load_profile

BUCKET = "aws:s3/bucket:Bucket"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
PUBLIC_ACCESS = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
BUCKETS = ("transaction-logs", "access-logs")


def _build(profile: Profile) -> None:
    out = storage.build(profile, fakes.keys())
    pulumi.export("transaction_log_bucket_name", out.transaction_log_bucket_name)
    pulumi.export("access_log_bucket_arn", out.access_log_bucket_arn)


@pytest.fixture(params=ENVIRONMENTS)
def graph(request: pytest.FixtureRequest, graphs: Graphs) -> Graph:
    return graphs.builder("storage", request.param, _build)


# Not facts.bucket_config: that matches the bucket's id/ARN and returns a list; this matches its
# physical name and insists on exactly one.
def _for_bucket(graph: Graph, type_: str, logical: str) -> Resource:
    """The resource of `type_` that configures the bucket with logical name `logical`."""
    name = graph.one(BUCKET, logical).get("bucket")
    found = [r for r in graph.of_type(type_) if r.get("bucket") == name]
    assert len(found) == 1, (type_, logical)
    return found[0]


def test_component_parents_every_resource(graph: Graph) -> None:
    component = graph.one("payment:storage:Storage", "storage")
    assert all(r.parent == component.urn for r in graph if r is not component)


def _assert_protection(graph: Graph, protect: bool) -> None:
    """Both data buckets protected and kept with protect_data; destroyable (emptied) without."""
    for logical in BUCKETS:
        bucket = graph.one(BUCKET, logical)
        assert bucket.protect is protect, logical
        assert bucket.get("forceDestroy") is not protect, logical
    # the configuration resources follow their bucket; only the buckets carry the option
    assert not any(r.protect for r in graph if r.type != BUCKET)


def test_bucket_names_carry_account_id(graph: Graph) -> None:
    profile = load_profile(graph.env)
    _assert_protection(graph, profile.deployment.protect_data)
    for logical in BUCKETS:
        bucket = graph.one(BUCKET, logical)
        assert bucket.get("bucket") == f"{profile.name(logical)}-{ACCOUNT_ID}"
        assert len(bucket.get("bucket")) <= 63
        assert bucket.delete_before_replace
    assert graph.outputs["transaction_log_bucket_name"] == graph.one(
        BUCKET, "transaction-logs"
    ).get("bucket")


def test_transaction_bucket_on_the_data_key(graph: Graph) -> None:
    (rule,) = _for_bucket(graph, SSE, "transaction-logs").get("rules")
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": fakes.DATA_KEY_ARN,
    }
    assert rule["bucketKeyEnabled"] is True


def test_access_log_bucket_on_sse_s3(graph: Graph) -> None:
    # S3 server access logging cannot deliver into an SSE-KMS bucket
    (rule,) = _for_bucket(graph, SSE, "access-logs").get("rules")
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"


@pytest.mark.parametrize("logical", BUCKETS)
def test_versioning_public_access_and_acls_off(graph: Graph, logical: str) -> None:
    versioning = _for_bucket(graph, VERSIONING, logical)
    assert versioning.get("versioningConfiguration")["status"] == "Enabled"
    block = _for_bucket(graph, PUBLIC_ACCESS, logical)
    for flag in (
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    ):
        assert block.get(flag) is True, flag
    lifecycle = _for_bucket(graph, LIFECYCLE, logical)
    assert versioning.urn in lifecycle.dependencies  # noncurrent rules need versioning on
    ownership = _for_bucket(graph, OWNERSHIP, logical)
    assert ownership.get("rule")["objectOwnership"] == "BucketOwnerEnforced"


@pytest.mark.parametrize("logical", BUCKETS)
def test_tls_only_bucket_policy(graph: Graph, logical: str) -> None:
    arn = f"arn:aws:s3:::{graph.one(BUCKET, logical).get('bucket')}"
    policy = _for_bucket(graph, POLICY, logical)
    denies = [
        s
        for s in policy.policy()["Statement"]
        if s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(denies) == 1
    assert denies[0]["Principal"] == "*"
    assert denies[0]["Action"] == "s3:*"
    assert sorted(denies[0]["Resource"]) == [arn, f"{arn}/*"]
    # the policy waits for the public access block (concurrent puts conflict)
    assert _for_bucket(graph, PUBLIC_ACCESS, logical).urn in policy.dependencies


def test_access_log_bucket_admits_only_s3_logging_from_this_account(graph: Graph) -> None:
    profile = load_profile(graph.env)
    access = graph.one(BUCKET, "access-logs").get("bucket")
    (allow,) = [
        s
        for s in _for_bucket(graph, POLICY, "access-logs").policy()["Statement"]
        if s["Effect"] == "Allow"
    ]
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert allow["Action"] == "s3:PutObject"
    assert allow["Resource"] == f"arn:aws:s3:::{access}/*"
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT_ID}
    assert (
        f"arn:aws:s3:::{profile.name('transaction-logs')}-{ACCOUNT_ID}"
        in (allow["Condition"]["ArnLike"]["aws:SourceArn"])
    )


def test_transaction_bucket_logs_into_access_log_bucket(graph: Graph) -> None:
    logging = _for_bucket(graph, LOGGING, "transaction-logs")
    access = graph.one(BUCKET, "access-logs")
    assert logging.get("targetBucket") == access.get("bucket")
    assert logging.get("targetPrefix") == storage.TRANSACTION_LOGS_PREFIX
    assert _for_bucket(graph, POLICY, "access-logs").urn in logging.dependencies
    assert graph.outputs["access_log_bucket_arn"] == f"arn:aws:s3:::{access.get('bucket')}"


def _lifecycle_rule(graph: Graph, logical: str) -> dict[str, Any]:
    (rule,) = _for_bucket(graph, LIFECYCLE, logical).get("rules")
    assert rule["status"] == "Enabled"
    assert rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"] > 0
    return dict(rule)


def test_lifecycle_days_from_profile(run_builder: Callable[..., Graph]) -> None:
    # values no environment uses, so only a builder that reads the profile can produce them
    days = StorageConfig(
        transition_to_ia_days=45,
        transition_to_glacier_days=120,
        expiration_days=800,
        noncurrent_expiration_days=21,
    )
    profile = load_profile("staging").model_copy(update={"storage": days})
    graph = run_builder(lambda: _build(profile), env="staging")
    rule = _lifecycle_rule(graph, "transaction-logs")
    assert rule["transitions"] == [
        {"days": 45, "storageClass": "STANDARD_IA"},
        {"days": 120, "storageClass": "GLACIER"},
    ]
    assert rule["expiration"]["days"] == 800
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 21
    access = _lifecycle_rule(graph, "access-logs")
    assert access["noncurrentVersionExpiration"]["noncurrentDays"] == 21


def test_access_logs_kept_as_long_as_audit_logs(graph: Graph) -> None:
    profile = load_profile(graph.env)
    rule = _lifecycle_rule(graph, "access-logs")
    assert rule["expiration"]["days"] == profile.observability.audit_log_retention_days >= 365


def test_glacier_transition_needs_30_days_in_standard_ia() -> None:
    with pytest.raises(ValidationError, match="at least 30 days after"):
        StorageConfig(
            transition_to_ia_days=30,
            transition_to_glacier_days=45,
            expiration_days=400,
            noncurrent_expiration_days=30,
        )


@pytest.mark.parametrize("protect", [True, False])
def test_protect_data_switches_both_buckets(
    run_builder: Callable[..., Graph], env: str, protect: bool
) -> None:
    base = load_profile(env)
    deployment = base.deployment.model_copy(update={"protect_data": protect})
    profile = base.model_copy(update={"deployment": deployment})
    _assert_protection(run_builder(lambda: _build(profile), env=env), protect)
