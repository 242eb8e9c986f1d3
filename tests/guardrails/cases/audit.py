"""Audit cases: the account trail's validation, data events and bucket access logs, and the
environment that must not bring a trail of its own.

The retention of the trail's log group is a `logging-log-groups` case, kept here because it is
built on the same trail.
"""

from __future__ import annotations

from conventions.naming import TRANSACTION_LOG_BUCKET_PREFIX
from guardrails.facts import LOG_GROUP
from resource_graph import Graph, Resource
from tests.guardrails.cases.base import Case, registrar
from tests.guardrails.synth import ACCOUNT, KEY_ARN, bucket, graph, key, res

CASES: list[Case] = []
case = registrar(CASES)


TRAIL = "aws:cloudtrail/trail:Trail"


def _audit(
    validation: bool = True, data_events: bool = True, access_logs: bool = True
) -> list[Resource]:
    access = bucket("access-logs", "access-logs", sse="AES256")
    trail_bucket = bucket(
        "trail-bucket", "trail-logs-bucket", logging_target=access[0].id if access_logs else None
    )
    policy = next(r for r in trail_bucket if r.type == "aws:s3/bucketPolicy:BucketPolicy")
    group_arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/payment/dev/cloudtrail"
    # Every environment's transaction logs, by prefix; the bad graph selects one bucket only,
    # which leaves an environment added later unaudited.
    prefix = f"arn:aws:s3:::{TRANSACTION_LOG_BUCKET_PREFIX}"
    one_bucket = f"arn:aws:s3:::{TRANSACTION_LOG_BUCKET_PREFIX}dev-{ACCOUNT}/"
    selectors = [
        {"fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]}]},
        {
            "fieldSelectors": [
                {"field": "eventCategory", "equals": ["Data"]},
                {"field": "resources.type", "equals": ["AWS::S3::Object"]},
                {"field": "resources.ARN", "startsWiths": [prefix if data_events else one_bucket]},
            ]
        },
    ]
    trail = res(
        TRAIL,
        "trail",
        deps=(policy.urn,),
        name="payment-trail-dev",
        s3BucketName=trail_bucket[0].id,
        kmsKeyId=KEY_ARN,
        enableLogFileValidation=validation,
        isMultiRegionTrail=True,
        cloudWatchLogsGroupArn=f"{group_arn}:*",
        cloudWatchLogsRoleArn="arn:aws:iam::1:role/r",
        advancedEventSelectors=selectors,
    )
    group = res(
        LOG_GROUP,
        "trail-logs",
        id="/payment/dev/cloudtrail",
        arn=group_arn,
        kmsKeyId=KEY_ARN,
        retentionInDays=365,
    )
    return [key(), *access, *trail_bucket, group, trail]


@case("audit-trail", "log file validation off", "CloudTrail.4", "trail")
def _(ok: bool) -> Graph:
    return graph(*_audit(validation=ok))


@case("audit-trail", "data events for one environment's transaction logs only", "S3.22", "trail")
def _(ok: bool) -> Graph:
    return graph(*_audit(data_events=ok))


@case("audit-trail", "trail bucket without access logs", "CloudTrail.7", "trail")
def _(ok: bool) -> Graph:
    return graph(*_audit(access_logs=ok))


@case("logging-log-groups", "audit log kept 90 days", "PCI DSS 10.5.1", "trail-logs")
def _(ok: bool) -> Graph:
    resources = _audit()
    if not ok:
        resources = [
            res(
                LOG_GROUP,
                "trail-logs",
                id=r.id,
                arn=r.state["arn"],
                kmsKeyId=KEY_ARN,
                retentionInDays=90,
            )
            if r.name == "trail-logs"
            else r
            for r in resources
        ]
    return graph(*resources)


@case("audit-account-trail", "an environment with a trail of its own", "CloudTrail.1", "trail")
def _(ok: bool) -> Graph:
    vpc = res("aws:ec2/vpc:Vpc", "vpc", id="vpc-1", cidrBlock="10.0.0.0/16")
    return graph(vpc, *([] if ok else _audit()))
