"""The account trail: requirements checked on the recorded graph of every account stack."""

from __future__ import annotations

import fnmatch
import tomllib
from typing import Any

from account import names
from conventions.naming import NAMES, PROJECT, TRANSACTION_LOG_BUCKET_PREFIX, physical_name
from conventions.tags import STANDARD_TAG_KEYS, is_taggable
from offline.mocks import ACCOUNT_ID, REGION
from offline.recorder import ROOT
from resource_graph import Graph, Resource
from tests.account.conftest import record_account
from tests.conftest import ENVIRONMENTS

TRAIL = "aws:cloudtrail/trail:Trail"
BUCKET = "aws:s3/bucket:Bucket"
KEY = "aws:kms/key:Key"
ROLE = "aws:iam/role:Role"
GROUP = "aws:cloudwatch/logGroup:LogGroup"
TRAIL_ARN = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT_ID}:trail/{names.TRAIL}"
GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{names.TRAIL_LOG_GROUP}"


def _on_bucket(graph: Graph, type_: str, logical: str) -> Resource:
    """The one `type_` resource attached to bucket `logical` (by the bucket's physical name)."""
    bucket = graph.one(BUCKET, logical)
    [found] = [r for r in graph.of_type(type_) if r.get("bucket") == bucket.state["bucket"]]
    return found


def _statement(policy: dict[str, Any], sid: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [s for s in policy["Statement"] if s.get("Sid") == sid]
    [statement] = found
    return statement


def _fields(selector: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {fs["field"]: fs for fs in selector["fieldSelectors"]}


def _selected(selector: dict[str, Any], object_arn: str) -> bool:
    """Whether an advanced selector logs reads and writes of the S3 object `object_arn`."""
    fields = _fields(selector)
    if fields.get("eventCategory", {}).get("equals") != ["Data"]:
        return False
    if fields.get("resources.type", {}).get("equals") != ["AWS::S3::Object"]:
        return False
    arns = fields.get("resources.ARN", {})
    return "readOnly" not in fields and any(
        object_arn.startswith(p) for p in arns.get("startsWiths") or []
    )


# ------------------------------------------------------------------------------------ the trail


def test_component_parents_every_resource(graph: Graph) -> None:
    component = graph.one("payment:account:Account", "account")
    assert all(r.parent == component.urn for r in graph if r is not component)


def test_trail_is_multi_region_validated_on_the_account_key(graph: Graph) -> None:
    trail = graph.one(TRAIL)
    assert trail.get("name") == names.TRAIL
    assert trail.get("isMultiRegionTrail") is True
    assert trail.get("includeGlobalServiceEvents") is True
    assert trail.get("enableLogFileValidation") is True
    assert trail.get("enableLogging") is True
    assert trail.get("kmsKeyId") == graph.one(KEY).state["arn"]
    assert trail.delete_before_replace


def test_trail_delivers_to_its_bucket_and_its_log_group(graph: Graph) -> None:
    trail, bucket, group = graph.one(TRAIL), graph.one(BUCKET, "trail-logs"), graph.one(GROUP)
    assert trail.get("s3BucketName") == bucket.state["bucket"]
    assert bucket.get("bucket") == f"{names.TRAIL_BUCKET}-{ACCOUNT_ID}"
    assert trail.get("cloudWatchLogsGroupArn") == group.state["arn"] + ":*"
    assert trail.get("cloudWatchLogsRoleArn") == graph.one(ROLE).state["arn"]


def test_trail_uses_advanced_selectors_only(graph: Graph) -> None:
    trail = graph.one(TRAIL)
    assert not trail.get("eventSelectors")  # a trail takes one kind or the other, never both
    assert trail.get("advancedEventSelectors")


def test_trail_records_every_management_event(graph: Graph) -> None:
    selectors = graph.one(TRAIL).get("advancedEventSelectors")
    management = [s for s in selectors if _fields(s)["eventCategory"]["equals"] == ["Management"]]
    assert management
    # All of them: no readOnly, eventSource or eventName filter narrows the selector.
    assert any(set(_fields(s)) == {"eventCategory"} for s in management)


def test_data_events_cover_every_transaction_log_bucket_read_and_write(graph: Graph) -> None:
    selectors = graph.one(TRAIL).get("advancedEventSelectors")
    [data] = [s for s in selectors if _fields(s)["eventCategory"]["equals"] == ["Data"]]
    assert _fields(data)["resources.ARN"]["startsWiths"] == [
        f"arn:aws:s3:::{TRANSACTION_LOG_BUCKET_PREFIX}"
    ]
    assert TRANSACTION_LOG_BUCKET_PREFIX == "payment-transaction-logs-"
    # No readOnly field selector: reads and writes both.
    assert "readOnly" not in _fields(data)
    made_up = f"arn:aws:s3:::payment-transaction-logs-pr-7-{ACCOUNT_ID}/2024/01/01/event.json"
    assert _selected(data, made_up)
    assert not _selected(data, f"arn:aws:s3:::payment-access-logs-pr-7-{ACCOUNT_ID}/x")


def test_data_events_cover_the_bucket_every_environment_names(graph: Graph) -> None:
    selectors = graph.one(TRAIL).get("advancedEventSelectors")
    for suffix in (*ENVIRONMENTS, "pr-7", "qa"):
        bucket = f"{physical_name('transaction-logs', suffix)}-{ACCOUNT_ID}"
        assert any(_selected(s, f"arn:aws:s3:::{bucket}/object") for s in selectors), suffix


def test_trail_waits_for_its_bucket_policy_and_role_policy(graph: Graph) -> None:
    deps = graph.one(TRAIL).dependencies
    assert _on_bucket(graph, "aws:s3/bucketPolicy:BucketPolicy", "trail-logs").urn in deps
    assert graph.one("aws:iam/rolePolicy:RolePolicy").urn in deps


# ------------------------------------------------------------------------- the delivery role


def test_delivery_role_trust_names_only_cloudtrail_and_has_no_condition(graph: Graph) -> None:
    trust = graph.one(ROLE).policy("assumeRolePolicy")
    assert graph.one(ROLE).get("name") == names.TRAIL_LOGS_ROLE
    [statement] = trust["Statement"]
    assert "Condition" not in statement  # CloudTrail sends no aws:SourceArn / aws:SourceAccount
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"


def test_delivery_role_writes_only_to_the_trail_log_group_streams(graph: Graph) -> None:
    policy = graph.one("aws:iam/rolePolicy:RolePolicy")
    assert policy.get("role") == graph.one(ROLE).id
    [statement] = policy.policy()["Statement"]
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == f"{GROUP_ARN}:log-stream:*"


def test_log_group_is_on_the_key_with_the_settings_retention(graph: Graph) -> None:
    group = graph.one(GROUP)
    assert group.get("name") == names.TRAIL_LOG_GROUP
    assert group.get("kmsKeyId") == graph.one(KEY).state["arn"]
    assert group.get("retentionInDays") == 365  # the stack file's value
    assert group.delete_before_replace


# ------------------------------------------------------------------------------- the buckets


def test_trail_bucket_is_hardened(graph: Graph) -> None:
    [rule] = _on_bucket(
        graph,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "trail-logs",
    ).get("rules")
    default = rule["applyServerSideEncryptionByDefault"]
    assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": graph.one(KEY).state["arn"]}
    versioning = _on_bucket(graph, "aws:s3/bucketVersioning:BucketVersioning", "trail-logs")
    assert versioning.get("versioningConfiguration") == {"status": "Enabled"}
    block = _on_bucket(
        graph, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "trail-logs"
    )
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    assert all(block.get(flag) is True for flag in flags)
    ownership = _on_bucket(
        graph, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "trail-logs"
    )
    assert ownership.get("rule") == {"objectOwnership": "BucketOwnerEnforced"}


def test_trail_bucket_denies_requests_without_tls(graph: Graph) -> None:
    policy = _on_bucket(graph, "aws:s3/bucketPolicy:BucketPolicy", "trail-logs").policy()
    deny = _statement(policy, "DenyInsecureTransport")
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    bucket_arn = f"arn:aws:s3:::{names.TRAIL_BUCKET}-{ACCOUNT_ID}"
    assert set(deny["Resource"]) == {bucket_arn, f"{bucket_arn}/*"}


def test_only_this_trail_may_write_to_the_trail_bucket(graph: Graph) -> None:
    policy = _on_bucket(graph, "aws:s3/bucketPolicy:BucketPolicy", "trail-logs").policy()
    bucket_arn = f"arn:aws:s3:::{names.TRAIL_BUCKET}-{ACCOUNT_ID}"
    acl = _statement(policy, "CloudTrailAclCheck")
    assert acl["Action"] == "s3:GetBucketAcl" and acl["Resource"] == bucket_arn
    assert acl["Condition"] == {"StringEquals": {"aws:SourceArn": TRAIL_ARN}}
    write = _statement(policy, "CloudTrailWrite")
    assert write["Action"] == "s3:PutObject"
    assert write["Resource"] == f"{bucket_arn}/AWSLogs/{ACCOUNT_ID}/*"
    assert write["Condition"] == {
        "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": TRAIL_ARN}
    }
    # The ARN the policy names before the trail exists is the trail's real ARN.
    assert graph.one(TRAIL).state["arn"] == TRAIL_ARN
    for statement in (acl, write):
        assert statement["Principal"] == {"Service": "cloudtrail.amazonaws.com"}


def test_trail_bucket_logs_its_access_into_the_access_log_bucket(graph: Graph) -> None:
    logging = _on_bucket(graph, "aws:s3/bucketLogging:BucketLogging", "trail-logs")
    access = graph.one(BUCKET, "access-logs")
    assert logging.get("targetBucket") == access.id
    assert logging.get("targetPrefix") == names.TRAIL_ACCESS_LOG_PREFIX
    assert _on_bucket(graph, "aws:s3/bucketPolicy:BucketPolicy", "access-logs").urn in (
        logging.dependencies
    )
    policy = _on_bucket(graph, "aws:s3/bucketPolicy:BucketPolicy", "access-logs").policy()
    grant = _statement(policy, "AllowS3ServerAccessLogs")
    assert grant["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert grant["Condition"]["ArnLike"] == {
        "aws:SourceArn": f"arn:aws:s3:::{names.TRAIL_BUCKET}-{ACCOUNT_ID}"
    }
    assert grant["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT_ID}


def test_audit_logs_are_kept_for_the_retention_with_a_glacier_transition(graph: Graph) -> None:
    [rule] = _on_bucket(
        graph, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "trail-logs"
    ).get("rules")
    assert rule["status"] == "Enabled"
    assert rule["expiration"]["days"] == 365
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 365
    assert rule["transitions"] == [{"days": 90, "storageClass": "GLACIER"}]


def test_settings_reach_the_resources(stack: str) -> None:
    overrides = {
        "account:auditLogRetentionDays": 400,
        "account:transitionToGlacierDays": 30,
        "account:logRetentionDays": 731,
    }
    graph = record_account(stack, overrides)
    [rule] = _on_bucket(
        graph, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "trail-logs"
    ).get("rules")
    assert rule["expiration"]["days"] == 400
    assert rule["transitions"] == [{"days": 30, "storageClass": "GLACIER"}]
    [access_rule] = _on_bucket(
        graph, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "access-logs"
    ).get("rules")
    assert access_rule["expiration"]["days"] == 400
    assert graph.one(GROUP).get("retentionInDays") == 731


# ----------------------------------------------------------------------------------- the key


def test_key_rotates_and_has_the_shortest_deletion_window(graph: Graph) -> None:
    key = graph.one(KEY)
    assert key.get("enableKeyRotation") is True
    assert key.get("deletionWindowInDays") == 7
    alias = graph.one("aws:kms/alias:Alias")
    assert alias.get("name") == names.KEY_ALIAS and alias.get("targetKeyId") == key.state["keyId"]


def test_key_policy_lets_cloudtrail_encrypt_only_this_accounts_trails(graph: Graph) -> None:
    policy = graph.one(KEY).policy()
    encrypt = _statement(policy, "CloudTrailEncryptsLogFiles")
    assert encrypt["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert encrypt["Action"] == "kms:GenerateDataKey*"
    assert encrypt["Condition"]["StringLike"] == {
        "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{ACCOUNT_ID}:trail/*"
    }
    assert encrypt["Condition"]["StringEquals"] == {"aws:SourceArn": TRAIL_ARN}
    describe = _statement(policy, "CloudTrailDescribesKey")
    assert describe["Action"] == "kms:DescribeKey"
    assert describe["Condition"] == {"StringEquals": {"aws:SourceArn": TRAIL_ARN}}


def test_key_policy_lets_cloudwatch_logs_encrypt_only_the_trail_group(graph: Graph) -> None:
    logs = _statement(graph.one(KEY).policy(), "CloudWatchLogsEncryptsTrailLogGroup")
    assert logs["Principal"] == {"Service": f"logs.{REGION}.amazonaws.com"}
    assert logs["Condition"] == {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": GROUP_ARN}}
    assert graph.one(GROUP).state["arn"] == GROUP_ARN  # the ARN named before the group exists


def test_key_policy_gives_no_one_unconditioned_use(graph: Graph) -> None:
    root = f"arn:aws:iam::{ACCOUNT_ID}:root"
    for statement in graph.one(KEY).policy()["Statement"]:
        assert statement["Principal"] != "*" and statement["Principal"] != {"AWS": "*"}
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        crypto = [a for a in actions if fnmatch.fnmatch(a, "kms:*crypt*") or "GenerateDataKey" in a]
        if crypto:
            assert statement.get("Condition"), statement["Sid"]
        if statement["Principal"] == {"AWS": root} and "Condition" not in statement:
            assert not crypto, "the root's administrative statement holds no cryptographic action"


# ---------------------------------------------------------------- destroy, tags, names, outputs


def test_everything_is_destroyable(graph: Graph) -> None:
    for resource in graph:
        assert not resource.protect and not resource.retain_on_delete, resource.name
    assert all(b.get("forceDestroy") is True for b in graph.of_type(BUCKET))
    assert len(graph.of_type(BUCKET)) == 2


def test_every_taggable_resource_carries_the_account_tags(graph: Graph) -> None:
    taggable = [r for r in graph if r.custom and is_taggable(r.type)]
    assert taggable
    for resource in taggable:
        assert resource.get("tags") == names.TAGS, resource.name
    assert set(names.TAGS) == set(STANDARD_TAG_KEYS)


def test_account_tags_agree_with_the_environments_defaults() -> None:
    defaults = tomllib.loads((ROOT / "environments/default.toml").read_text())["tags"]
    assert names.TAGS["CostCenter"] == defaults["cost_center"]
    assert names.TAGS["Owner"] == defaults["owner"]
    assert names.TAGS["DataClassification"] == defaults["data_classification"]
    assert names.TAGS["Compliance"] == defaults["compliance"]


def test_account_names_cannot_collide_with_any_environments(graph: Graph) -> None:
    account_names = {
        names.TRAIL, names.TRAIL_LOGS_ROLE, names.TRAIL_BUCKET, names.ACCESS_LOG_BUCKET,
        names.KEY_ALIAS.removeprefix("alias/"),
    }  # fmt: skip
    # An environment's name is payment-<service>-<suffix>: no service makes it one of ours.
    for name in account_names:
        assert name.startswith(f"{PROJECT}-account-")
        clashing = [s for s in NAMES if name.startswith(f"{PROJECT}-{s}-")]
        assert not clashing, f"{name} could be an environment's {clashing}"
    # Environments' log groups live under /payment/<suffix>/; the trail's is elsewhere.
    assert not names.TRAIL_LOG_GROUP.startswith("/payment/")
    named = {r.get("name") for r in graph if r.get("name")} | {
        r.get("bucket") for r in graph.of_type(BUCKET)
    }
    assert named >= {names.TRAIL, names.TRAIL_LOGS_ROLE, names.TRAIL_LOG_GROUP, names.KEY_ALIAS}


def test_stack_exports_the_trail_and_where_it_delivers(graph: Graph) -> None:
    assert graph.outputs == {
        "trail_arn": TRAIL_ARN,
        "trail_bucket_name": f"{names.TRAIL_BUCKET}-{ACCOUNT_ID}",
        "trail_log_group_name": names.TRAIL_LOG_GROUP,
    }
