"""Audit rules: the account's CloudTrail trail, and what environments leave to it.

- `audit-trail`: a trail logs in every Region, on the customer key, with log file validation, to
  CloudWatch Logs; records S3 read and write data events for every environment's transaction
  logs (by the bucket-name prefix they share); delivers to a bucket of its stack with access
  logging, created after that bucket's policy. The trail lives in the account project
  (`account/`); these properties are checked wherever a trail is recorded.
- `audit-account-trail`: an environment creates no trail of its own (CloudTrail allows five per
  Region, not raisable, and a multi-Region trail counts in every Region); its transaction-log
  bucket's name starts with the prefix the account trail selects (`tests/unit/test_storage.py`).
"""

from __future__ import annotations

from conventions.naming import TRANSACTION_LOG_BUCKET_PREFIX
from guardrails import facts
from guardrails.facts import as_list, log_group_for
from guardrails.model import Violation
from guardrails.rules.base import Findings, is_true, on_cmk, rule
from resource_graph import Graph, Resource

# Every environment's transaction-log objects: what the account trail's data events must cover.
TRANSACTION_OBJECTS = f"arn:aws:s3:::{TRANSACTION_LOG_BUCKET_PREFIX}"
TRAIL = "aws:cloudtrail/trail:Trail"


def _covers(values: list[object], arn: str) -> bool:
    """Whether ARN prefixes `values` select every object whose ARN starts with `arn`."""
    return any(arn.startswith(str(v)) for v in values)


def _logs_data_events(trail: Resource, arn: str) -> bool:
    """Whether the trail records every read and write of the objects under `arn`."""
    for selector in as_list(trail.get("eventSelectors")):
        if selector.get("readWriteType", "All") != "All":
            continue
        for data in as_list(selector.get("dataResources")):
            if data.get("type") == "AWS::S3::Object" and _covers(as_list(data.get("values")), arn):
                return True
    for selector in as_list(trail.get("advancedEventSelectors")):
        fields = {str(fs.get("field")): fs for fs in as_list(selector.get("fieldSelectors"))}
        if "AWS::S3::Object" in as_list((fields.get("resources.type") or {}).get("equals")) and (
            "readOnly" not in fields
        ):
            arns = fields.get("resources.ARN") or {}
            values = as_list(arns.get("startsWiths")) + as_list(arns.get("equals"))
            if not arns or _covers(values, arn):
                return True
    return False


def _trail_settings(f: Findings, graph: Graph, trail: Resource) -> None:
    """The trail records every Region, tamper-evident, encrypted, and searchable in CloudWatch."""
    f.require(trail.get("enableLogging") is not False, trail, "logging off", "CloudTrail.1")
    f.require(
        is_true(trail.get("isMultiRegionTrail")),
        trail,
        "not a multi-Region trail",
        "CloudTrail.1",
    )
    f.require(
        on_cmk(graph, trail.get("kmsKeyId")),
        trail,
        "not encrypted with the customer key",
        "CloudTrail.2",
    )
    f.require(
        is_true(trail.get("enableLogFileValidation")),
        trail,
        "log file validation off",
        "CloudTrail.4",
    )
    f.require(
        log_group_for(graph, trail.get("cloudWatchLogsGroupArn")) is not None
        and bool(trail.get("cloudWatchLogsRoleArn")),
        trail,
        "not delivered to a CloudWatch log group",
        "CloudTrail.5",
    )
    f.require(
        _logs_data_events(trail, TRANSACTION_OBJECTS),
        trail,
        f"no S3 read and write data events for every {TRANSACTION_OBJECTS}* object",
        "S3.22",
        "S3.23",
    )


def _trail_bucket(f: Findings, graph: Graph, trail: Resource) -> None:
    """The trail's bucket is ours, logs its own access, and its policy exists before the trail."""
    target = next(
        (
            b
            for b in graph.of_type(*facts.BUCKETS)
            if facts.bucket_name(b) == trail.get("s3BucketName")
        ),
        None,
    )
    if target is None:
        f.add(trail, "delivers to a bucket outside this stack", "CloudTrail.7")
        return
    f.require(
        bool(facts.bucket_config(graph, target, "bucketLogging")),
        trail,
        f"trail bucket {target.name} has no server access logging",
        "CloudTrail.7",
    )
    # NOTE: CloudTrail creation races its bucket policy: the trail must depend on it.
    f.require_any(
        facts.attached(graph, ["aws:s3/bucketPolicy:BucketPolicy"], "bucket", target),
        lambda p: p.urn in trail.dependencies,
        trail,
        "does not depend on its bucket's policy (creation races it)",
        "CloudTrail.1",
    )


@rule(
    "audit-trail",
    "Trail on the customer key, validated, to CloudWatch Logs, S3 data events, bucket access logs",
    "CloudTrail.1",
    "CloudTrail.2",
    "CloudTrail.4",
    "CloudTrail.5",
    "CloudTrail.7",
    "S3.22",
    "S3.23",
)
def audit_trail(graph: Graph) -> list[Violation]:
    """Every API call, and every read or write of transaction data, leaves a trustworthy record."""
    f = Findings("audit-trail")
    for trail in graph.of_type(TRAIL):
        _trail_settings(f, graph, trail)
        _trail_bucket(f, graph, trail)
    return f.items


@rule(
    "audit-account-trail",
    "Environments create no trail of their own: the account trail covers them",
    "CloudTrail.1",
)
def audit_account_trail(graph: Graph) -> list[Violation]:
    """Any number of environments fit in one account, and each is audited from its first write."""
    f = Findings("audit-account-trail")
    if not graph.of_type("aws:ec2/vpc:Vpc"):
        return f.items  # not an environment: the account project is the one place for a trail
    for trail in graph.of_type(TRAIL):
        f.add(trail, "an environment's own trail (the account's covers it)", "CloudTrail.1")
    return f.items
