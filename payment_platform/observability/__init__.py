"""Metric alarms to the alerts topic, and a dashboard per environment.

Creates, under one `payment:observability:Observability` component:
- `alarms`, one function per concern: metric alarms on what matters for payments, thresholds
  from `profile.observability`, each with the alerts topic as alarm and OK action
  (CloudWatch.15/17) and a deliberate `treat_missing_data`: ALB and target 5xx, p99 latency,
  unhealthy targets, API CPU and memory, API running tasks below the minimum, DLQ depth
  (payment and notifications), age of the oldest payment message, Aurora CPU, ACU utilisation
  and connections, Redis CPU, engine CPU, memory and evictions, WAF blocked requests, payments
  stuck in `processing` and payments failed from the dead-letter queue;
- `log_metrics`: the metric filters on the worker's log group that turn its JSON reports
  (`stuck_payments`, `dead_lettered`) into metrics of the environment's namespace;
- `dashboard`: request rate, latency percentiles, 4xx/5xx, task counts, queue depth and age,
  database, cache, WAF, the worker's reports, alarm status.

`metrics` names the dimensions both read, once. Alarm names are `payment-<what>-<suffix>`
through `profile.name`, one `NAMES` entry per alarm, so the suffix check at load covers them.
Log groups are the logs builder's; they are not made here.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from config import Profile
from payment_platform.cache import CacheOutputs
from payment_platform.component import component_scope
from payment_platform.compute import ComputeOutputs
from payment_platform.database import DatabaseOutputs
from payment_platform.edge import EdgeOutputs
from payment_platform.messaging import MessagingOutputs
from payment_platform.observability.alarms import (
    GE,
    GT,
    KEEP_STATE,
    LT,
    QUIET_WHEN_ZERO,
    SILENCE_IS_OUTAGE,
    AlarmSet,
    cache_alarms,
    compute_alarms,
    database_alarms,
    load_balancer_alarms,
    messaging_alarms,
    waf_alarms,
    worker_alarms,
)
from payment_platform.observability.dashboard import console_url, dashboard
from payment_platform.observability.log_metrics import (
    DEAD_LETTERED_PAYMENTS,
    LOG_METRICS,
    STUCK_PAYMENTS,
    LogMetric,
    worker_metric_filters,
)
from payment_platform.observability.metrics import (
    METRIC_NAMESPACE,
    PERIOD,
    REGION,
    WAF_PERIOD,
    WORKER_REPORT_PERIOD,
    Dimensions,
    cache_node_ids,
    metric_namespace,
    sources,
)

__all__ = [
    "DEAD_LETTERED_PAYMENTS",
    "GE",
    "GT",
    "KEEP_STATE",
    "LOG_METRICS",
    "LT",
    "METRIC_NAMESPACE",
    "PERIOD",
    "QUIET_WHEN_ZERO",
    "REGION",
    "SILENCE_IS_OUTAGE",
    "STUCK_PAYMENTS",
    "WAF_PERIOD",
    "WORKER_REPORT_PERIOD",
    "Dimensions",
    "LogMetric",
    "ObservabilityOutputs",
    "build",
    "cache_node_ids",
    "metric_namespace",
]


@dataclass(frozen=True)
class ObservabilityOutputs:
    """What operators open first, and what the alerts topic can be told about.

    Attributes:
        dashboard_name: Name of the CloudWatch dashboard.
        dashboard_url: Console URL of the dashboard (a stack output).
        alarm_names: Names of every metric alarm, in creation order.
    """

    dashboard_name: pulumi.Output[str]
    dashboard_url: pulumi.Output[str]
    alarm_names: list[pulumi.Output[str]]


def build(
    profile: Profile,
    *,
    messaging: MessagingOutputs,
    database: DatabaseOutputs,
    cache: CacheOutputs,
    edge: EdgeOutputs,
    compute: ComputeOutputs,
) -> ObservabilityOutputs:
    """Alarms per concern, so an incident pages someone, and the dashboard to investigate it."""
    scope = component_scope("observability")
    on = sources(profile, edge=edge, compute=compute, database=database, cache=cache)
    # NOTE: the alerts topic is on the messaging key; CloudWatch can publish to it only because
    # that key's policy grants cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey*.
    alarms = AlarmSet(profile=profile, actions=[messaging.alerts_topic_arn], scope=scope)
    load_balancer_alarms(alarms, on)
    compute_alarms(alarms, on)
    messaging_alarms(alarms, messaging)
    database_alarms(alarms, on)
    cache_alarms(alarms, on)
    waf_alarms(alarms, on)
    worker_metric_filters(profile, on, scope)
    worker_alarms(alarms, on)
    board = dashboard(profile, on, messaging, alarms.created, scope)
    return scope.finish(
        ObservabilityOutputs(
            dashboard_name=board.dashboard_name,
            dashboard_url=console_url(board.dashboard_name),
            alarm_names=[a.name for a in alarms.created],
        )
    )
