"""Storage rules: the S3 buckets and their separate configuration resources.

- `storage-buckets`: all four public access blocks, SSE-KMS on the customer key, versioning,
  ACLs disabled, an enabled lifecycle rule; server access logging on buckets that hold audit or
  transaction data.
"""

from __future__ import annotations

from guardrails import facts
from guardrails.facts import as_list, bucket_sse, transaction_buckets
from guardrails.model import Violation
from guardrails.rules.base import Findings, is_true, on_cmk, rule
from resource_graph import Graph, Resource

PUBLIC_BLOCKS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)


def audit_buckets(graph: Graph) -> list[Resource]:
    """Buckets holding audit or transaction data: the trails' buckets and transaction logs."""
    trail_buckets = {t.get("s3BucketName") for t in graph.of_type("aws:cloudtrail/trail:Trail")}
    return [
        b for b in graph.of_type(*facts.BUCKETS) if facts.bucket_name(b) in trail_buckets
    ] + transaction_buckets(graph)


def _bucket(f: Findings, graph: Graph, bucket: Resource) -> None:
    """One bucket: private, on the customer key, versioned, ACLs off, expiring."""
    f.require_any(
        facts.bucket_config(graph, bucket, "bucketPublicAccessBlock"),
        lambda b: all(is_true(b.get(k)) for k in PUBLIC_BLOCKS),
        bucket,
        "not all four public access blocks on",
        "S3.1",
        "S3.2",
        "S3.3",
        "S3.8",
    )
    sse = bucket_sse(graph, bucket)
    f.require_any(
        sse,
        lambda s: (
            s.get("sseAlgorithm") in ("aws:kms", "aws:kms:dsse")
            and on_cmk(graph, s.get("kmsMasterKeyId"))
        ),
        bucket,
        f"encryption {[s.get('sseAlgorithm') for s in sse]} is not SSE-KMS on the customer key",
        "S3.17",
    )
    f.require_any(
        facts.bucket_config(graph, bucket, "bucketVersioning"),
        lambda v: (v.get("versioningConfiguration") or {}).get("status") == "Enabled",
        bucket,
        "versioning off",
        "S3.14",
    )
    f.require_any(
        facts.bucket_config(graph, bucket, "bucketOwnershipControls"),
        lambda o: (o.get("rule") or {}).get("objectOwnership") == "BucketOwnerEnforced",
        bucket,
        "ACLs not disabled (BucketOwnerEnforced)",
        "S3.12",
    )
    f.require_any(
        facts.bucket_config(graph, bucket, "bucketLifecycleConfiguration"),
        lambda lc: any(r.get("status") == "Enabled" for r in as_list(lc.get("rules"))),
        bucket,
        "no enabled lifecycle rule",
        "S3.13",
    )


@rule(
    "storage-buckets",
    "Buckets: public access blocked, SSE-KMS, versioning, ACLs off, lifecycle, access logs",
    "S3.1",
    "S3.2",
    "S3.3",
    "S3.8",
    "S3.9",
    "S3.12",
    "S3.13",
    "S3.14",
    "S3.17",
)
def storage_buckets(graph: Graph) -> list[Violation]:
    """Stored data is private, encrypted under our key and recoverable; audit data logs access."""
    f = Findings("storage-buckets")
    audit = {b.urn for b in audit_buckets(graph)}
    for bucket in graph.of_type(*facts.BUCKETS):
        _bucket(f, graph, bucket)
        if bucket.urn in audit:
            f.require_any(
                facts.bucket_config(graph, bucket, "bucketLogging"),
                lambda lg: bool(lg.get("targetBucket")),
                bucket,
                "holds audit or transaction data without server access logging",
                "S3.9",
            )
    return f.items
