"""Audit cases: the trail's validation, data events and bucket access logs.

The retention of the trail's log group is a `logging-log-groups` case, kept here because it is
built on the same trail.
"""

from __future__ import annotations

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
    tx = bucket("transaction-logs", "transaction-logs", logging_target=access[0].id)
    policy = next(r for r in trail_bucket if r.type == "aws:s3/bucketPolicy:BucketPolicy")
    group_arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/payment/dev/cloudtrail"
    selectors = [
        {
            "readWriteType": "All",
            "dataResources": [{"type": "AWS::S3::Object", "values": [f"{tx[0].state['arn']}/"]}],
        }
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
        eventSelectors=selectors if data_events else [],
    )
    group = res(
        LOG_GROUP,
        "trail-logs",
        id="/payment/dev/cloudtrail",
        arn=group_arn,
        kmsKeyId=KEY_ARN,
        retentionInDays=365,
    )
    return [key(), *access, *trail_bucket, *tx, group, trail]


@case("audit-trail", "log file validation off", "CloudTrail.4", "trail")
def _(ok: bool) -> Graph:
    return graph(*_audit(validation=ok))


@case("audit-trail", "no data events for transaction logs", "S3.22", "trail")
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
