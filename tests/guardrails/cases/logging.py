"""Logging cases: log group retention and key, alarm actions and their topic's key, the
required alarms (found by what they measure)."""

from __future__ import annotations

from typing import Any

from guardrails.facts import CLUSTER, LOG_GROUP, TOPIC
from resource_graph import Graph, Resource
from tests.guardrails.cases.base import Case, registrar
from tests.guardrails.cases.cache import redis
from tests.guardrails.cases.compute import service
from tests.guardrails.cases.edge import alb
from tests.guardrails.cases.messaging import queue
from tests.guardrails.synth import ACCOUNT, KEY_ARN, graph, key, res

CASES: list[Case] = []
case = registrar(CASES)


@case("logging-log-groups", "no retention", "CloudWatch.16", "api-logs")
def _(ok: bool) -> Graph:
    group = res(
        LOG_GROUP,
        "api-logs",
        kmsKeyId=KEY_ARN,
        retentionInDays=30 if ok else 0,
    )
    return graph(key(), group)


@case("logging-log-groups", "log group on the AWS key", "CloudWatch.16", "api-logs")
def _(ok: bool) -> Graph:
    group = res(
        LOG_GROUP,
        "api-logs",
        kmsKeyId=KEY_ARN if ok else None,
        retentionInDays=30,
    )
    return graph(key(), group)


TOPIC_ARN = f"arn:aws:sns:us-east-1:{ACCOUNT}:payment-alerts-dev"


def _alarm(actions: list[str]) -> Resource:
    return res("aws:cloudwatch/metricAlarm:MetricAlarm", "alb-5xx", alarmActions=actions)


@case("logging-alarms", "alarm without action", "CloudWatch.15", "alb-5xx")
def _(ok: bool) -> Graph:
    return graph(_alarm([TOPIC_ARN] if ok else []))


@case("logging-alarms", "topic key does not admit CloudWatch", "CloudWatch.15", "alb-5xx")
def _(ok: bool) -> Graph:
    topic = res(TOPIC, "alerts", id=TOPIC_ARN, arn=TOPIC_ARN, kmsMasterKeyId=KEY_ARN)
    return graph(key(cloudwatch=ok), topic, _alarm([TOPIC_ARN]))


# ----------------------------------------------------------------- required alarms (by measure)

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
EVENTS_ARN = f"arn:aws:sns:us-east-1:{ACCOUNT}:payment-events-dev"
TG_ARN = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/payment-tg-dev-0a1b/abc"


def _alerts() -> Resource:
    return res(TOPIC, "alerts", id=TOPIC_ARN, arn=TOPIC_ARN, name="payment-alerts-dev")


def _watch(
    logical: str,
    namespace: str,
    metric: str,
    dimensions: dict[str, str],
    *,
    actions: tuple[str, ...] = (TOPIC_ARN,),
    **extra: Any,
) -> Resource:
    """A metric alarm named after what it watches; the rule never looks at the name."""
    return res(
        ALARM,
        logical,
        namespace=namespace,
        metricName=metric,
        dimensions=dimensions,
        alarmActions=list(actions),
        **extra,
    )


@case("logging-required-alarms", "DLQ alarm watches the source queue", "DESIGN alarms", "queue-dlq")
def _(ok: bool) -> Graph:
    dlq = queue("queue-dlq")
    depth = "ApproximateNumberOfMessagesVisible"
    watched = "payment-queue-dlq-dev" if ok else "payment-queue-dev"
    return graph(
        _alerts(),
        dlq,
        queue("queue", dlq=dlq.state["arn"]),
        _watch("renamed-1", "AWS/SQS", depth, {"QueueName": watched}),
        _watch(
            "renamed-2",
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            {"QueueName": "payment-queue-dev"},
        ),
    )


@case("logging-required-alarms", "ALB 5xx alarm on another ALB", "DESIGN alarms", "alb")
def _(ok: bool) -> Graph:
    suffix = "app/payment-alb-dev/abc" if ok else "app/payment-alb-staging/def"
    return graph(
        _alerts(),
        alb(),
        _watch("alb-5xx", "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", {"LoadBalancer": suffix}),
    )


def _api_alarms(p99: dict[str, Any]) -> list[Resource]:
    """The API's target group and service, and the six alarms they need."""
    tg = {"TargetGroup": "targetgroup/payment-tg-dev-0a1b/abc"}
    svc = {"ClusterName": "payment-cluster-dev", "ServiceName": "payment-api-dev"}
    elb = "AWS/ApplicationELB"
    return [
        _alerts(),
        res("aws:lb/targetGroup:TargetGroup", "api-tg", id=TG_ARN, arn=TG_ARN),
        service(loadBalancers=[{"targetGroupArn": TG_ARN, "containerName": "api"}]),
        _watch("a1", elb, "HTTPCode_Target_5XX_Count", tg, statistic="Sum"),
        _watch("a2", elb, "TargetResponseTime", tg, **p99),
        _watch("a3", elb, "UnHealthyHostCount", tg, statistic="Maximum"),
        _watch("a4", "AWS/ECS", "CPUUtilization", svc, statistic="Average"),
        _watch("a5", "AWS/ECS", "MemoryUtilization", svc, statistic="Average"),
        _watch("a6", "ECS/ContainerInsights", "RunningTaskCount", svc, statistic="Minimum"),
    ]


@case("logging-required-alarms", "latency alarm on the average, not p99", "DESIGN alarms", "api-tg")
def _(ok: bool) -> Graph:
    return graph(*_api_alarms({"extendedStatistic": "p99"} if ok else {"statistic": "Average"}))


@case("logging-required-alarms", "database alarm not to the alerts topic", "CloudWatch.15", "db")
def _(ok: bool) -> Graph:
    db = {"DBClusterIdentifier": "payment-db-dev"}
    return graph(
        _alerts(),
        res(CLUSTER, "db", id="payment-db-dev", clusterIdentifier="payment-db-dev"),
        _watch("db-1", "AWS/RDS", "CPUUtilization", db, actions=(TOPIC_ARN if ok else EVENTS_ARN,)),
        _watch("db-2", "AWS/RDS", "DatabaseConnections", db),
    )


@case("logging-required-alarms", "Serverless v2 without an ACU alarm", "DESIGN alarms", "db")
def _(ok: bool) -> Graph:
    db = {"DBClusterIdentifier": "payment-db-dev"}
    scaling = {"minCapacity": 0.5, "maxCapacity": 4}
    alarms = [
        _watch("db-1", "AWS/RDS", "CPUUtilization", db),
        _watch("db-2", "AWS/RDS", "DatabaseConnections", db),
    ]
    if ok:
        alarms.append(_watch("db-3", "AWS/RDS", "ACUUtilization", db))
    cluster = res(
        CLUSTER,
        "db",
        id="payment-db-dev",
        clusterIdentifier="payment-db-dev",
        serverlessv2ScalingConfiguration=scaling,
    )
    return graph(_alerts(), cluster, *alarms)


@case("logging-required-alarms", "evictions watched on another group", "DESIGN alarms", "cache")
def _(ok: bool) -> Graph:
    def nodes(metric: str, group: str = "payment-cache-dev") -> Resource:
        queries: list[dict[str, Any]] = [
            {
                "id": f"n{i}",
                "metric": {
                    "namespace": "AWS/ElastiCache",
                    "metricName": metric,
                    "dimensions": {"CacheClusterId": f"{group}-00{i}"},
                    "stat": "Sum",
                },
            }
            for i in (1, 2)
        ]
        queries.append({"id": "result", "expression": "MAX([n1, n2])", "returnData": True})
        return res(ALARM, f"cache-{metric}", metricQueries=queries, alarmActions=[TOPIC_ARN])

    metrics = ["CPUUtilization", "EngineCPUUtilization", "DatabaseMemoryUsagePercentage"]
    evictions = nodes("Evictions", "payment-cache-dev" if ok else "payment-sessions-dev")
    return graph(_alerts(), *redis(), *(nodes(m) for m in metrics), evictions)


@case("logging-required-alarms", "no WAF blocked-requests alarm", "DESIGN alarms", "acl")
def _(ok: bool) -> Graph:
    acl = res("aws:wafv2/webAcl:WebAcl", "acl", name="payment-waf-dev")
    dims = {"WebACL": "payment-waf-dev", "Region": "us-east-1", "Rule": "ALL"}
    alarm = _watch("w", "AWS/WAFV2", "BlockedRequests", dims)
    return graph(_alerts(), acl, *([alarm] if ok else []))
