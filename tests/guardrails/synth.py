"""Hand-built graphs for guardrail tests: a few resources, wired by ids and ARNs as AWS would."""

from __future__ import annotations

import json
from typing import Any

from guardrails.facts import KMS_KEY
from resource_graph import Graph, Resource

ACCOUNT = "123456789012"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
TAGS = {
    "Project": "payment-platform",
    "Environment": "dev",
    "EnvironmentSuffix": "dev",
    "CostCenter": "cc",
    "Owner": "me",
    "DataClassification": "confidential",
    "Compliance": "pci-dss",
    "ManagedBy": "pulumi",
}


def res(
    type_: str,
    logical: str,
    /,
    *,
    id: str | None = None,
    arn: str | None = None,
    deps: tuple[str, ...] = (),
    dbr: bool = True,
    protect: bool = False,
    ignore_changes: tuple[str, ...] = (),
    state: dict[str, Any] | None = None,
    **inputs: Any,
) -> Resource:
    full_state = dict(inputs) | (state or {})
    if arn:
        full_state["arn"] = arn
    return Resource(
        urn=f"urn:pulumi:dev::payment-platform::{type_}::{logical}",
        type=type_,
        name=logical,
        parent=None,
        custom=not type_.startswith("payment:"),
        inputs=inputs,
        dependencies=deps,
        delete_before_replace=dbr,
        ignore_changes=ignore_changes,
        protect=protect,
        id=id if id is not None else f"{logical}-id",
        state=full_state,
    )


def graph(
    *resources: Resource,
    env: str = "dev",
    suffix: str = "dev",
    production: bool = False,
    high_availability: bool = False,
) -> Graph:
    """A graph whose stack exports the deployment class, as every recorded stack does."""
    outputs = {"production": production, "high_availability": high_availability}
    return Graph(env=env, suffix=suffix, resources=tuple(resources), outputs=outputs)


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def deny_insecure(resource_arn: str, service: str) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": f"{service}:*",
        "Resource": resource_arn,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def key(name: str = "data-key", *, rotation: bool = True, cloudwatch: bool = True) -> Resource:
    statements = [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if cloudwatch:
        statements.append(
            {
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
            }
        )
    return res(
        KMS_KEY,
        name,
        id=KEY_ARN.rsplit("/", 1)[1],
        arn=KEY_ARN,
        enableKeyRotation=rotation,
        deletionWindowInDays=7,
        policy=doc(*statements),
    )


def bucket(
    name: str,
    service: str,
    *,
    sse: str = "aws:kms",
    versioning: bool = True,
    logging_target: str | None = None,
) -> list[Resource]:
    """A bucket and its separate configuration resources, all guardrails satisfied by default."""
    physical = f"payment-{service}-dev-{ACCOUNT}"
    arn = f"arn:aws:s3:::{physical}"
    b = res("aws:s3/bucket:Bucket", name, id=physical, arn=arn, bucket=physical, forceDestroy=True)
    sse_default: dict[str, Any] = {"sseAlgorithm": sse}
    if sse == "aws:kms":
        sse_default["kmsMasterKeyId"] = KEY_ARN
    out = [
        b,
        res(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            f"{name}-pab",
            bucket=physical,
            blockPublicAcls=True,
            blockPublicPolicy=True,
            ignorePublicAcls=True,
            restrictPublicBuckets=True,
        ),
        res(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            f"{name}-sse",
            bucket=physical,
            rules=[{"applyServerSideEncryptionByDefault": sse_default}],
        ),
        res(
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
            f"{name}-own",
            bucket=physical,
            rule={"objectOwnership": "BucketOwnerEnforced"},
        ),
        res(
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            f"{name}-lc",
            bucket=physical,
            rules=[{"id": "expire", "status": "Enabled"}],
        ),
        res(
            "aws:s3/bucketPolicy:BucketPolicy",
            f"{name}-policy",
            bucket=physical,
            policy=doc(deny_insecure(arn, "s3")),
        ),
    ]
    if versioning:
        out.append(
            res(
                "aws:s3/bucketVersioning:BucketVersioning",
                f"{name}-ver",
                bucket=physical,
                versioningConfiguration={"status": "Enabled"},
            )
        )
    if logging_target:
        out.append(
            res(
                "aws:s3/bucketLogging:BucketLogging",
                f"{name}-logging",
                bucket=physical,
                targetBucket=logging_target,
                targetPrefix=f"{service}/",
            )
        )
    return out
