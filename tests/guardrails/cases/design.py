"""Design cases: deletion safeguards, tags, names, destroyability, HA, TLS in transit."""

from __future__ import annotations

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
    suffix = "pr-1" if ok else "feature-branch-123"  # payment-api-tg-<suffix> must fit 32
    return graph(
        res("aws:lb/targetGroup:TargetGroup", "tg", name=f"payment-api-tg-{suffix}"), suffix=suffix
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
