"""Audit rules: the CloudTrail trail.

- `audit-trail`: a trail exists, logs in every Region, on the customer key, with log file
  validation, to CloudWatch Logs; records S3 data events for the transaction logs; delivers to a
  bucket of this stack with access logging, created after that bucket's policy.
"""

from __future__ import annotations

from guardrails import facts
from guardrails.facts import as_list, log_group_for, transaction_buckets
from guardrails.model import Violation
from guardrails.rules.base import Findings, is_true, on_cmk, rule
from resource_graph import Graph, Resource


def _logs_data_events(trail: Resource, bucket_arn: str) -> bool:
    for selector in as_list(trail.get("eventSelectors")):
        if selector.get("readWriteType", "All") != "All":
            continue
        for data in as_list(selector.get("dataResources")):
            if data.get("type") == "AWS::S3::Object" and any(
                str(v).startswith(bucket_arn) for v in as_list(data.get("values"))
            ):
                return True
    for selector in as_list(trail.get("advancedEventSelectors")):
        fields = {str(fs.get("field")): fs for fs in as_list(selector.get("fieldSelectors"))}
        if "AWS::S3::Object" in as_list((fields.get("resources.type") or {}).get("equals")) and (
            "readOnly" not in fields
        ):
            arns = fields.get("resources.ARN") or {}
            values = as_list(arns.get("startsWith")) + as_list(arns.get("equals"))
            if not arns or any(str(v).startswith(bucket_arn) for v in values):
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
    for bucket in transaction_buckets(graph):
        f.require(
            _logs_data_events(trail, str(bucket.state.get("arn"))),
            trail,
            f"no S3 read and write data events for {bucket.name}",
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
    trails = graph.of_type("aws:cloudtrail/trail:Trail")
    if not trails and graph.of_type("aws:ec2/vpc:Vpc"):
        f.add("stack", "no CloudTrail trail", "CloudTrail.1")
    for trail in trails:
        _trail_settings(f, graph, trail)
        _trail_bucket(f, graph, trail)
    return f.items
