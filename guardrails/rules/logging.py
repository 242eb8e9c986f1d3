"""Logging rules: CloudWatch log groups and alarms.

- `logging-log-groups`: every log group on the customer key with a retention; the trail's log
  group kept a year or more.
- `logging-alarms`: every alarm has an enabled action, and CloudWatch can publish to its topic.
- `logging-required-alarms`: every signal operators act on has an alarm, found by what it
  measures (namespace, metric, the dimension naming the resource), that notifies the alerts
  topic.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from guardrails import facts
from guardrails.facts import (
    LOG_GROUP,
    AlarmMetric,
    alarm_metrics,
    arn_suffix,
    as_list,
    kms_key,
    log_group_for,
    ref,
    statements,
)
from guardrails.model import Violation
from guardrails.rules.base import Findings, on_cmk, rule
from resource_graph import Graph, Resource


@rule(
    "logging-log-groups",
    "Every log group on the customer key with a retention; audit logs >= 365 days",
    "CloudWatch.16",
    "PCI DSS 10.5.1",
)
def logging_log_groups(graph: Graph) -> list[Violation]:
    """Logs may hold card data, so they are encrypted and expire; audit logs outlive an audit."""
    f = Findings("logging-log-groups")
    audit = {
        g.urn
        for t in graph.of_type("aws:cloudtrail/trail:Trail")
        if (g := log_group_for(graph, t.get("cloudWatchLogsGroupArn"))) is not None
    }
    for group in graph.of_type(LOG_GROUP):
        f.require(
            on_cmk(graph, group.get("kmsKeyId")),
            group,
            "not encrypted with the customer key",
            "CloudWatch.16",
        )
        days = int(group.get("retentionInDays") or 0)
        f.require(days > 0, group, "keeps logs forever (no retention)", "CloudWatch.16")
        if group.urn in audit:
            f.require(days >= 365, group, f"audit log kept {days} days (< 365)", "PCI DSS 10.5.1")
    return f.items


def _key_lets_cloudwatch_publish(key: Resource) -> bool:
    return any(
        facts.allows(s, "cloudwatch.amazonaws.com", "kms:Decrypt", "kms:GenerateDataKey")
        for s in statements(key.get("policy"))
    )


@rule(
    "logging-alarms",
    "Every alarm has an enabled action that can reach its topic",
    "CloudWatch.15",
    "CloudWatch.17",
)
def logging_alarms(graph: Graph) -> list[Violation]:
    """An alarm must reach someone; a topic CloudWatch cannot publish to fails silently."""
    f = Findings("logging-alarms")
    for alarm in graph.of_type(
        "aws:cloudwatch/metricAlarm:MetricAlarm", "aws:cloudwatch/compositeAlarm:CompositeAlarm"
    ):
        actions = as_list(alarm.get("alarmActions"))
        f.require(bool(actions), alarm, "no alarm action", "CloudWatch.15")
        f.require(
            alarm.get("actionsEnabled") is not False, alarm, "actions disabled", "CloudWatch.17"
        )
        for action in actions:
            topic = ref(graph, action)
            if topic is None or topic.type != facts.TOPIC:
                continue
            key = kms_key(graph, topic.get("kmsMasterKeyId"))
            # NOTE: CloudWatch cannot publish to a topic on a customer key unless the key policy
            # lets cloudwatch.amazonaws.com decrypt and generate data keys; the failure is silent.
            if key is not None and not _key_lets_cloudwatch_publish(key):
                f.add(
                    alarm,
                    f"topic {topic.name} is on key {key.name}, whose policy does not let "
                    "CloudWatch publish (kms:Decrypt, kms:GenerateDataKey*)",
                    "CloudWatch.15",
                )
    return f.items


@dataclass(frozen=True)
class Measure:
    """What a required alarm measures: a metric, and the dimension that names the resource."""

    namespace: str
    metric: str
    dimension: str
    value: str
    statistic: str | None = None  # p99 latency is a percentile, not the average
    prefix: bool = False  # Redis metrics name member clusters: <replication group>-001, -002

    def __str__(self) -> str:
        value = f"{self.value}*" if self.prefix else self.value
        stat = f" {self.statistic}" if self.statistic else ""
        return f"{self.namespace} {self.metric}{stat} for {self.dimension}={value}"

    def matches(self, m: AlarmMetric) -> bool:
        """The alarm metric is this measure on this resource."""
        value = str(m.dimensions.get(self.dimension, ""))
        return (
            (m.namespace, m.name) == (self.namespace, self.metric)
            and (value.startswith(self.value) if self.prefix else value == self.value)
            and (self.statistic is None or str(m.statistic).lower() == self.statistic.lower())
        )


ELB = "AWS/ApplicationELB"
Required = Iterator[tuple[Resource, Measure]]


def _edge_alarms(graph: Graph) -> Required:
    """The ALB's own 5xx; the API target group's 5xx, p99 latency, unhealthy hosts; WAF blocks."""
    for lb in facts.load_balancers(graph):
        yield lb, Measure(ELB, "HTTPCode_ELB_5XX_Count", "LoadBalancer", arn_suffix(lb))
    for service in facts.api_services(graph):
        for entry in as_list(service.get("loadBalancers")):
            tg = ref(graph, (entry or {}).get("targetGroupArn"))
            if tg is None:
                continue
            suffix = arn_suffix(tg)
            yield tg, Measure(ELB, "HTTPCode_Target_5XX_Count", "TargetGroup", suffix)
            yield tg, Measure(ELB, "TargetResponseTime", "TargetGroup", suffix, statistic="p99")
            yield tg, Measure(ELB, "UnHealthyHostCount", "TargetGroup", suffix)
    for acl in graph.of_type("aws:wafv2/webAcl:WebAcl"):
        yield acl, Measure("AWS/WAFV2", "BlockedRequests", "WebACL", str(acl.get("name")))


def _compute_alarms(graph: Graph) -> Required:
    """The API service's CPU, memory and running tasks; every DLQ's depth; the payment backlog."""
    for service in facts.api_services(graph):
        name = str(service.get("name"))
        yield service, Measure("AWS/ECS", "CPUUtilization", "ServiceName", name)
        yield service, Measure("AWS/ECS", "MemoryUtilization", "ServiceName", name)
        yield service, Measure("ECS/ContainerInsights", "RunningTaskCount", "ServiceName", name)
    for dlq in facts.dead_letter_queues(graph):
        depth = "ApproximateNumberOfMessagesVisible"
        yield dlq, Measure("AWS/SQS", depth, "QueueName", str(dlq.get("name")))
    for queue in facts.named(graph, facts.QUEUE, "queue"):
        age = "ApproximateAgeOfOldestMessage"
        yield queue, Measure("AWS/SQS", age, "QueueName", str(queue.get("name")))


def _data_alarms(graph: Graph) -> Required:
    """Aurora CPU, ACU (Serverless v2) and connections; Redis CPU, engine CPU, memory, evictions."""
    for cluster in graph.of_type(facts.CLUSTER):
        ident = str(cluster.get("clusterIdentifier") or cluster.id)
        metrics = ["CPUUtilization", "DatabaseConnections"]
        if cluster.get("serverlessv2ScalingConfiguration"):
            metrics.append("ACUUtilization")
        for metric in metrics:
            yield cluster, Measure("AWS/RDS", metric, "DBClusterIdentifier", ident)
    for group in graph.of_type(facts.REPLICATION_GROUP):
        members = f"{group.get('replicationGroupId') or group.id}-"
        for metric in (
            "CPUUtilization",
            "EngineCPUUtilization",
            "DatabaseMemoryUsagePercentage",
            "Evictions",
        ):
            yield group, Measure("AWS/ElastiCache", metric, "CacheClusterId", members, prefix=True)


ALARMS = "DESIGN alarms"


@rule(
    "logging-required-alarms",
    "Every required alarm exists, found by what it measures, and notifies the alerts topic",
    ALARMS,
    "CloudWatch.15",
)
def required_alarms(graph: Graph) -> list[Violation]:
    """A failure operators must act on pages them, whatever the alarm happens to be called.

    The list follows the resources in the graph (each DLQ, each cluster, ...), and an alarm
    counts for a measure by what it evaluates, so renaming an alarm changes nothing and an
    alarm that watches the wrong queue or cluster does not count.
    """
    f = Findings("logging-required-alarms")
    alarms = graph.of_type(facts.ALARM)
    topics = facts.named(graph, facts.TOPIC, "alerts")
    alerts = ({t.state.get("arn") for t in topics} | {t.id for t in topics}) - {None}
    for source in (_edge_alarms, _compute_alarms, _data_alarms):
        for resource, measure in source(graph):
            watching = [a for a in alarms if any(measure.matches(m) for m in alarm_metrics(a))]
            f.require(bool(watching), resource, f"no alarm on {measure}", ALARMS)
            if watching:
                f.require_any(
                    watching,
                    lambda a: bool(alerts & set(as_list(a.get("alarmActions")))),
                    resource,
                    f"no alarm on {measure} notifies the alerts topic",
                    ALARMS,
                    "CloudWatch.15",
                )
    return f.items
