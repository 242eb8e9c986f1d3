"""Design cases: deletion safeguards, tags, names, destroyability, HA, TLS in transit."""

from __future__ import annotations

import dataclasses
from typing import Any

from guardrails.facts import CLUSTER, INSTANCE, KMS_KEY, QUEUE, SECRET, TOPIC
from resource_graph import Graph, Resource
from tests.guardrails.cases.base import Case, registrar
from tests.guardrails.cases.cache import redis
from tests.guardrails.cases.compute import service
from tests.guardrails.cases.database import aurora
from tests.guardrails.cases.messaging import queue
from tests.guardrails.synth import ACCOUNT, TAGS, bucket, deny_insecure, doc, graph, res

CASES: list[Case] = []
case = registrar(CASES)


@case("deletion-safeguards", "no deletion protection", "RDS.7", "db")
def _(ok: bool) -> Graph:
    return graph(res(CLUSTER, "db", deletionProtection=ok))


@case("standard-tags", "a tag missing", "DESIGN tags", "queue")
def _(ok: bool) -> Graph:
    tags = dict(TAGS) if ok else {k: v for k, v in TAGS.items() if k != "Owner"}
    return graph(res(QUEUE, "queue", tags=tags))


@case("standard-tags", "wrong environment tag", "DESIGN tags", "queue")
def _(ok: bool) -> Graph:
    return graph(res(QUEUE, "queue", tags=TAGS | ({} if ok else {"Environment": "prod"})))


@case("physical-names", "name outside the scheme", "DESIGN naming", "queue")
def _(ok: bool) -> Graph:
    return graph(res(QUEUE, "queue", name="payment-queue-dev" if ok else "orders-dev"))


@case("physical-names", "service not in NAMES", "DESIGN naming", "queue")
def _(ok: bool) -> Graph:
    return graph(res(QUEUE, "queue", name="payment-queue-dev" if ok else "payment-orders-dev"))


@case("physical-names", "bucket without account id", "DESIGN naming", "b")
def _(ok: bool) -> Graph:
    name = f"payment-alb-logs-dev-{ACCOUNT}" if ok else "payment-alb-logs-dev"
    return graph(res("aws:s3/bucket:Bucket", "b", bucket=name))


@case("physical-names", "name over its limit", "DESIGN naming", "tg")
def _(ok: bool) -> Graph:
    suffix = "pr-1" if ok else "feature-branch-1234"  # payment-tg-<suffix>-<token> fits 32
    return graph(
        res("aws:lb/targetGroup:TargetGroup", "tg", name=f"payment-tg-{suffix}-0a1b", dbr=False),
        suffix=suffix,
    )


@case("physical-names", "in-use resource named without a token", "DESIGN naming", "tg")
def _(ok: bool) -> Graph:
    # A listener still forwards to the old target group: only a new name lets it be replaced.
    name = "payment-tg-dev-0a1b" if ok else "payment-tg-dev"
    return graph(res("aws:lb/targetGroup:TargetGroup", "tg", name=name, dbr=not ok))


@case("physical-names", "in-use resource deleted before its replacement", "DESIGN naming", "tg")
def _(ok: bool) -> Graph:
    return graph(
        res("aws:lb/targetGroup:TargetGroup", "tg", name="payment-tg-dev-0a1b", dbr=not ok)
    )


@case("physical-names", "named without delete_before_replace", "DESIGN naming", "queue")
def _(ok: bool) -> Graph:
    return graph(res(QUEUE, "queue", name="payment-queue-dev", dbr=ok))


@case("destroyable", "secret with a recovery window", "DESIGN destroyable", "s")
def _(ok: bool) -> Graph:
    return graph(res(SECRET, "s", recoveryWindowInDays=0 if ok else 30))


@case("destroyable", "bucket not force-destroyed", "DESIGN destroyable", "b")
def _(ok: bool) -> Graph:
    return graph(res("aws:s3/bucket:Bucket", "b", forceDestroy=ok))


@case("destroyable", "protected resource", "DESIGN destroyable", "q")
def _(ok: bool) -> Graph:
    return graph(res(QUEUE, "q", protect=not ok))


@case("destroyable", "KMS key on a 30-day window", "DESIGN destroyable", "k")
def _(ok: bool) -> Graph:
    return graph(res(KMS_KEY, "k", deletionWindowInDays=7 if ok else 30))


@case("destroyable", "final snapshot on the database", "DESIGN destroyable", "db")
def _(ok: bool) -> Graph:
    return graph(res(CLUSTER, "db", skipFinalSnapshot=ok))


def _subnets() -> list[Resource]:
    return [
        res("aws:ec2/subnet:Subnet", "private-a", id="subnet-a", availabilityZone="us-east-1a"),
        res("aws:ec2/subnet:Subnet", "private-b", id="subnet-b", availabilityZone="us-east-1b"),
    ]


@case("high-availability", "HA tasks in one subnet", "DESIGN high availability", "api-service")
def _(ok: bool) -> Graph:
    subnets = ["subnet-a", "subnet-b"] if ok else ["subnet-a"]
    network = {"subnets": subnets, "securityGroups": ["sg-api"], "assignPublicIp": False}
    return graph(*_subnets(), service(networkConfiguration=network), high_availability=True)


@case("high-availability", "HA reader in the writer's AZ", "RDS.15", "db-1")
def _(ok: bool) -> Graph:
    resources = aurora(env_instances=2)
    if not ok:
        resources = [
            res(
                INSTANCE,
                "db-1",
                clusterIdentifier="payment-db-dev",
                availabilityZone="us-east-1a",
            )
            if r.name == "db-1"
            else r
            for r in resources
        ]
    return graph(*resources, high_availability=True)


@case("high-availability", "HA Redis without multi-AZ", "ElastiCache.3", "cache")
def _(ok: bool) -> Graph:
    return graph(*redis(multiAzEnabled=ok), high_availability=True)


@case("tls-in-transit", "Aurora without force_ssl", "PCI DSS 4.2.1", "db")
def _(ok: bool) -> Graph:
    params = {"log_min_duration_statement": "1000"} | ({"rds.force_ssl": "1"} if ok else {})
    return graph(*aurora(params=params))


@case("tls-in-transit", "Redis in-transit preferred", "ElastiCache.5", "cache")
def _(ok: bool) -> Graph:
    return graph(*redis(transitEncryptionMode="required" if ok else "preferred"))


@case("tls-in-transit", "queue policy without deny non-TLS", "SQS.3", "queue")
def _(ok: bool) -> Graph:
    q = queue("queue")
    statement = (
        deny_insecure(q.state["arn"], "sqs")
        if ok
        else {"Effect": "Deny", "Principal": "*", "Action": "sqs:*"}
    )
    return graph(
        q, res("aws:sqs/queuePolicy:QueuePolicy", "qp", queueUrl=q.id, policy=doc(statement))
    )


@case("tls-in-transit", "bucket policy without deny non-TLS", "S3.5", "transaction-logs")
def _(ok: bool) -> Graph:
    resources = bucket("transaction-logs", "transaction-logs")
    if not ok:
        resources = [r for r in resources if r.type != "aws:s3/bucketPolicy:BucketPolicy"]
    return graph(*resources)


@case("tls-in-transit", "topic without a policy", "SNS.4", "events")
def _(ok: bool) -> Graph:
    arn = f"arn:aws:sns:us-east-1:{ACCOUNT}:payment-events-dev"
    return graph(res(TOPIC, "events", policy=doc(deny_insecure(arn, "sns")) if ok else None))


# ------------------------------------------------ destroyable follows the protect_data output


def _protect_data(g: Graph, value: Any) -> Graph:
    """The graph as a stack exporting `protect_data` (None: the output is absent)."""
    outputs = {k: v for k, v in g.outputs.items() if k != "protect_data"}
    return dataclasses.replace(
        g, outputs=outputs | ({} if value is None else {"protect_data": value})
    )


def _kept_database(**overrides: Any) -> list[Resource]:
    """Aurora as protect_data builds it: protected, deletion protection, final snapshot."""
    inputs: dict[str, Any] = {
        "deletionProtection": True,
        "skipFinalSnapshot": False,
        "finalSnapshotIdentifier": "payment-db-final-dev",
        "deleteAutomatedBackups": False,
    }
    return aurora(env_instances=2, protect=True, **(inputs | overrides))


def _kept_buckets(*, protect: bool = True) -> list[Resource]:
    """The access-log and transaction-log buckets, kept (protected, not force-destroyed)."""
    access = bucket("access-logs", "access-logs", sse="AES256")
    data = bucket("transaction-logs", "transaction-logs", logging_target=access[0].id)
    return [
        dataclasses.replace(
            r, protect=protect, inputs=dict(r.inputs) | {"forceDestroy": not protect}
        )
        if r.type == "aws:s3/bucket:Bucket"
        else r
        for r in [*access, *data]
    ]


@case("destroyable", "protected data without deletion protection", "DESIGN destroyable", "db")
def _(ok: bool) -> Graph:
    return _protect_data(graph(*_kept_database(deletionProtection=ok), *_kept_buckets()), True)


@case("destroyable", "protected data without a final snapshot", "DESIGN destroyable", "db")
def _(ok: bool) -> Graph:
    resources = _kept_database(skipFinalSnapshot=not ok)
    return _protect_data(graph(*resources, *_kept_buckets()), True)


@case("destroyable", "protected data, instance not protected", "DESIGN destroyable", "db-1")
def _(ok: bool) -> Graph:
    resources = [
        dataclasses.replace(r, protect=False) if not ok and r.name == "db-1" else r
        for r in _kept_database()
    ]
    return _protect_data(graph(*resources, *_kept_buckets()), True)


def _released(name: str, ok: bool) -> list[Resource]:
    """The kept buckets, with bucket `name` back to destroyable (unprotected, force-destroyed)."""
    return [
        dataclasses.replace(b, protect=False, inputs=dict(b.inputs) | {"forceDestroy": True})
        if not ok and b.name == name
        else b
        for b in _kept_buckets()
    ]


@case(
    "destroyable",
    "protected data, transaction bucket destroyable",
    "DESIGN destroyable",
    "transaction-logs",
)
def _(ok: bool) -> Graph:
    return _protect_data(graph(*_kept_database(), *_released("transaction-logs", ok)), True)


@case(
    "destroyable", "protected data, audit bucket destroyable", "DESIGN destroyable", "access-logs"
)
def _(ok: bool) -> Graph:
    return _protect_data(graph(*_kept_database(), *_released("access-logs", ok)), True)


@case("destroyable", "protected data, the rest still destroys", "DESIGN destroyable", "q")
def _(ok: bool) -> Graph:
    resources = [*_kept_database(), *_kept_buckets(), res(QUEUE, "q", protect=not ok)]
    return _protect_data(graph(*resources), True)


@case("destroyable", "unprotected stack with a kept database", "DESIGN destroyable", "db")
def _(ok: bool) -> Graph:
    database = aurora(env_instances=2) if ok else _kept_database()
    return _protect_data(graph(*database), False)


@case(
    "destroyable", "no protect_data output: destroyable", "DESIGN destroyable", "transaction-logs"
)
def _(ok: bool) -> Graph:
    buckets = _kept_buckets(protect=not ok)
    return _protect_data(graph(*aurora(), *buckets), None)
