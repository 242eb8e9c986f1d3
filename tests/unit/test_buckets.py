"""The shared hardened bucket: every guarantee, logging only when asked, the ordering it needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from payment_platform import buckets
from resource_graph import Graph, Resource
from tests import fakes

BUCKET = "aws:s3/bucket:Bucket"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
PUBLIC_ACCESS = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
COMPONENT = "payment:test:Test"
NAME = "payment-example-dev-123456789012"
TARGET = "payment-access-logs-dev-123456789012"
ALLOW: dict[str, object] = {
    "Sid": "AllowReader",
    "Effect": "Allow",
    "Principal": {"Service": "logging.s3.amazonaws.com"},
    "Action": "s3:PutObject",
    "Resource": f"arn:aws:s3:::{NAME}/*",
}
RULE = aws.s3.BucketLifecycleConfigurationRuleArgs(
    id="expire",
    status="Enabled",
    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=90),
)


@pytest.fixture
def build(run_builder: Callable[..., Graph]) -> Callable[..., Graph]:
    def run(**logging: object) -> Graph:
        def program() -> None:
            component = pulumi.ComponentResource(COMPONENT, "test")
            secure = buckets.secure_bucket(
                "example",
                NAME,
                encryption=buckets.kms_encryption(fakes.DATA_KEY_ARN),
                lifecycle_rules=[RULE],
                statements=[ALLOW],
                parent=component,
                **logging,  # type: ignore[arg-type]
            )
            pulumi.export("bucket_arn", secure.bucket.arn)

        return run_builder(program)

    return run


def _one(graph: Graph, type_: str, name: str) -> Resource:
    resource = graph.one(type_, name)
    assert resource.get("bucket") == NAME  # configures the bucket, not another one
    return resource


def test_every_guarantee_present_and_named_after_the_bucket(
    build: Callable[..., Graph],
) -> None:
    graph = build()
    component = graph.one(COMPONENT)
    assert all(r.parent == component.urn for r in graph if r is not component)
    bucket = graph.one(BUCKET, "example")
    assert bucket.get("bucket") == NAME
    assert bucket.get("forceDestroy") is True
    assert bucket.delete_before_replace
    block = _one(graph, PUBLIC_ACCESS, "example-public-access")
    for flag in (
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    ):
        assert block.get(flag) is True
    ownership = _one(graph, OWNERSHIP, "example-ownership")
    assert ownership.get("rule") == {"objectOwnership": "BucketOwnerEnforced"}
    versioning = _one(graph, VERSIONING, "example-versioning")
    assert versioning.get("versioningConfiguration") == {"status": "Enabled"}
    [sse] = _one(graph, SSE, "example-encryption").get("rules")
    assert sse["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": fakes.DATA_KEY_ARN,
    }
    assert sse["bucketKeyEnabled"] is True
    [rule] = _one(graph, LIFECYCLE, "example-lifecycle").get("rules")
    assert (rule["id"], rule["status"], rule["expiration"]) == ("expire", "Enabled", {"days": 90})


def test_policy_is_the_statements_plus_the_tls_only_deny(build: Callable[..., Graph]) -> None:
    graph = build()
    arn = graph.outputs["bucket_arn"]
    allow, deny = _one(graph, POLICY, "example-policy").policy()["Statement"]
    assert allow == ALLOW
    assert deny == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def test_policy_waits_for_public_access_block_and_lifecycle_for_versioning(
    build: Callable[..., Graph],
) -> None:
    graph = build()
    policy = graph.one(POLICY, "example-policy")
    assert graph.one(PUBLIC_ACCESS, "example-public-access").urn in policy.dependencies
    lifecycle = graph.one(LIFECYCLE, "example-lifecycle")
    assert graph.one(VERSIONING, "example-versioning").urn in lifecycle.dependencies


def test_no_access_logging_unless_asked(build: Callable[..., Graph]) -> None:
    assert build().of_type(LOGGING) == []


def test_access_logging_when_asked(build: Callable[..., Graph]) -> None:
    graph = build(access_log_bucket=TARGET, access_log_prefix="example/")
    logging = _one(graph, LOGGING, "example-logging")
    assert logging.get("targetBucket") == TARGET
    assert logging.get("targetPrefix") == "example/"
    assert logging.get("targetObjectKeyFormat") is None


def test_partitioned_access_logging_waits_for_what_it_is_given(
    run_builder: Callable[..., Graph],
) -> None:
    def program() -> None:
        component = pulumi.ComponentResource(COMPONENT, "test")
        target = buckets.secure_bucket(
            "target",
            TARGET,
            encryption=buckets.s3_managed_encryption(),
            lifecycle_rules=[RULE],
            statements=[],
            parent=component,
        )
        buckets.secure_bucket(
            "example",
            NAME,
            encryption=buckets.kms_encryption(fakes.DATA_KEY_ARN),
            lifecycle_rules=[RULE],
            statements=[],
            parent=component,
            access_log_bucket=target.bucket.id,
            access_log_prefix="example/",
            access_log_partitioned=True,
            access_log_depends_on=[target.policy],
        )

    graph = run_builder(program)
    logging = _one(graph, LOGGING, "example-logging")
    assert logging.get("targetBucket") == TARGET
    assert logging.get("targetObjectKeyFormat") == {
        "partitionedPrefix": {"partitionDateSource": "EventTime"}
    }
    assert graph.one(POLICY, "target-policy").urn in logging.dependencies
    [sse] = graph.one(SSE, "target-encryption").get("rules")
    assert sse["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    assert not sse.get("bucketKeyEnabled")


def test_lifecycle_rule_covers_expiry_old_versions_and_uploads() -> None:
    from payment_platform.buckets import lifecycle_rule

    plain: Any = lifecycle_rule("r", expire_days=400, noncurrent_days=30)
    assert plain.transitions is None  # no transition block unless asked
    assert plain.expiration.days == 400
    assert plain.noncurrent_version_expiration.noncurrent_days == 30
    assert plain.abort_incomplete_multipart_upload.days_after_initiation == 7
    tiered: Any = lifecycle_rule(
        "t", expire_days=400, noncurrent_days=30, transitions=[(30, "GLACIER")]
    )
    assert [(t.days, t.storage_class) for t in tiered.transitions] == [(30, "GLACIER")]
