"""Audit: CloudTrail, its bucket, its CloudWatch Logs delivery role."""

from __future__ import annotations

import pytest

from config import Profile
from offline.mocks import ACCOUNT_ID
from payment_platform import audit
from resource_graph import Graph, Resource
from tests import fakes
from tests.conftest import ENVIRONMENTS, Graphs, load_profile

TRAIL = "aws:cloudtrail/trail:Trail"
BUCKET = "aws:s3/bucket:Bucket"


def _build(p: Profile) -> None:
    audit.build(p, fakes.keys(), fakes.logs(p), fakes.storage(p))


@pytest.fixture(params=ENVIRONMENTS)
def graph(request: pytest.FixtureRequest, graphs: Graphs) -> Graph:
    return graphs.builder("audit", request.param, _build)


# Not facts.bucket_config: that matches the bucket's id/ARN and returns a list; this matches its
# physical name and insists on exactly one.
def _on_bucket(graph: Graph, type_: str) -> Resource:
    [resource] = [
        r for r in graph.of_type(type_) if r.get("bucket") == graph.one(BUCKET).state["bucket"]
    ]
    return resource


def _trail_arn(graph: Graph) -> str:
    return (
        f"arn:aws:cloudtrail:us-east-1:{ACCOUNT_ID}:trail/{load_profile(graph.env).name('trail')}"
    )


def test_component_parents_every_resource(graph: Graph) -> None:
    component = graph.one("payment:audit:Audit", "audit")
    assert all(r.parent == component.urn for r in graph if r is not component)


def test_trail_is_validated_encrypted_multi_region_and_logging(graph: Graph) -> None:
    trail = graph.one(TRAIL)
    assert trail.get("name") == load_profile(graph.env).name("trail")
    assert trail.get("enableLogFileValidation") is True
    assert trail.get("kmsKeyId") == fakes.LOGS_KEY_ARN
    assert trail.get("isMultiRegionTrail") is True
    assert trail.get("includeGlobalServiceEvents") is True
    assert trail.get("enableLogging") is True
    assert trail.delete_before_replace


def test_trail_delivers_to_its_bucket_and_log_group(graph: Graph) -> None:
    trail, bucket = graph.one(TRAIL), graph.one(BUCKET)
    assert (
        bucket.get("bucket") == f"{load_profile(graph.env).name('trail-logs-bucket')}-{ACCOUNT_ID}"
    )
    assert trail.get("s3BucketName") == bucket.get("bucket")
    group_arn = f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:/payment/{graph.suffix}/cloudtrail"
    assert trail.get("cloudWatchLogsGroupArn") == group_arn + ":*"
    role = graph.one("aws:iam/role:Role")
    assert trail.get("cloudWatchLogsRoleArn") == role.state["arn"]


def test_trail_records_data_events_of_the_transaction_log_bucket(graph: Graph) -> None:
    tx_arn = f"arn:aws:s3:::{load_profile(graph.env).name('transaction-logs')}-{ACCOUNT_ID}"
    [selector] = graph.one(TRAIL).get("eventSelectors")
    assert selector["includeManagementEvents"] is True
    assert selector["readWriteType"] == "All"
    assert selector["dataResources"] == [{"type": "AWS::S3::Object", "values": [f"{tx_arn}/"]}]


def test_trail_waits_for_the_bucket_policy_and_role_policy(graph: Graph) -> None:
    deps = graph.one(TRAIL).dependencies
    assert graph.one("aws:s3/bucketPolicy:BucketPolicy").urn in deps
    assert graph.one("aws:iam/rolePolicy:RolePolicy").urn in deps


def test_delivery_role_is_least_privilege(graph: Graph) -> None:
    role = graph.one("aws:iam/role:Role")
    assert role.get("name") == load_profile(graph.env).name("trail-logs")
    [trust] = role.policy("assumeRolePolicy")["Statement"]
    assert trust["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}
    [grant] = graph.one("aws:iam/rolePolicy:RolePolicy").policy()["Statement"]
    assert sorted(grant["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    group_arn = f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:/payment/{graph.suffix}/cloudtrail"
    assert grant["Resource"] == f"{group_arn}:log-stream:*"


def test_bucket_is_encrypted_versioned_private_and_destroyable(graph: Graph) -> None:
    assert graph.one(BUCKET).get("forceDestroy") is True
    sse = _on_bucket(
        graph,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    )
    [rule] = sse.get("rules")
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": fakes.LOGS_KEY_ARN,
    }
    versioning = _on_bucket(graph, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.get("versioningConfiguration") == {"status": "Enabled"}
    block = _on_bucket(graph, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    for flag in (
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    ):
        assert block.get(flag) is True
    ownership = _on_bucket(graph, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert ownership.get("rule") == {"objectOwnership": "BucketOwnerEnforced"}


def test_bucket_access_logging_and_lifecycle(graph: Graph) -> None:
    profile = load_profile(graph.env)
    logging = _on_bucket(graph, "aws:s3/bucketLogging:BucketLogging")
    assert logging.get("targetBucket") == f"{profile.name('access-logs')}-{ACCOUNT_ID}"
    [rule] = _on_bucket(
        graph, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    ).get("rules")
    assert rule["status"] == "Enabled"
    assert rule["expiration"] == {"days": profile.observability.audit_log_retention_days}
    assert rule["expiration"]["days"] >= 365  # PCI DSS 10.5.1


def test_bucket_policy_is_tls_only_and_lets_only_this_trail_write(graph: Graph) -> None:
    bucket_arn = graph.one(BUCKET).state["arn"]
    statements = {
        s["Sid"]: s for s in graph.one("aws:s3/bucketPolicy:BucketPolicy").policy()["Statement"]
    }
    deny = statements["DenyInsecureTransport"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "s3:*")
    assert deny["Resource"] == [bucket_arn, f"{bucket_arn}/*"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    trail_arn = _trail_arn(graph)
    acl = statements["CloudTrailAclCheck"]
    assert acl["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert (acl["Action"], acl["Resource"]) == ("s3:GetBucketAcl", bucket_arn)
    assert acl["Condition"] == {"StringEquals": {"aws:SourceArn": trail_arn}}
    write = statements["CloudTrailWrite"]
    assert write["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert write["Action"] == "s3:PutObject"
    assert write["Resource"] == f"{bucket_arn}/AWSLogs/{ACCOUNT_ID}/*"
    assert write["Condition"] == {
        "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": trail_arn}
    }
    # the ARN the policy names is the trail's own
    assert graph.one(TRAIL).state["arn"] == trail_arn
