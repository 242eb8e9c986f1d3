"""Logging rules: CloudWatch log groups and alarms.

- `logging-log-groups`: every log group on the customer key with a retention; the trail's log
  group kept a year or more.
- `logging-alarms`: every alarm has an enabled action, and CloudWatch can publish to its topic.
"""

from __future__ import annotations

from guardrails import facts
from guardrails.facts import LOG_GROUP, as_list, kms_key, log_group_for, ref, statements
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
