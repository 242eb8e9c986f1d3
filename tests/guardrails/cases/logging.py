"""Logging cases: log group retention and key, alarm actions and their topic's key."""

from __future__ import annotations

from guardrails.facts import LOG_GROUP, TOPIC
from resource_graph import Graph, Resource
from tests.guardrails.cases.base import Case, registrar
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
