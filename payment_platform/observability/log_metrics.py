"""Metrics the worker reports in its log, turned into CloudWatch metrics by metric filters.

The worker writes one JSON line per sweep with `stuck_payments` (payments in `processing` longer
than PROCESSING_STUCK_SECONDS) and one line with `"dead_lettered": 1` for every payment its
dead-letter consumer marks failed. Creates one metric filter per signal on the worker's log
group, publishing to the environment's namespace (`metrics.metric_namespace`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi_aws as aws

from config import Profile
from payment_platform.component import Scope
from payment_platform.observability.metrics import Sources


@dataclass(frozen=True)
class LogMetric:
    """One metric read from the worker's JSON log lines."""

    what: str  # names the filter and the alarm: `payment-<what>-<suffix>`
    metric_name: str
    pattern: str
    value: str


# NOTE: CloudWatch Logs JSON filter patterns select a field with `$.` and compare numbers with
# =, !=, <, <=, >, >=; a metric value may be a literal number or `$.<field>` of a field the
# pattern matched, and a numeric field yields its own value (CloudWatch Logs User Guide, "Filter
# pattern syntax for metric filters": "Publishing numerical values found in log entries").
# `>= 0` matches every sweep line, so a sweep with no stuck payment publishes a 0, and a stopped
# worker publishes nothing (the alarm treats that as not breaching: the worker's own alarms and
# the queue age cover it). No default value: a line without the field publishes nothing.
STUCK_PAYMENTS = LogMetric(
    "stuck-payments", "StuckPayments", "{ $.stuck_payments >= 0 }", "$.stuck_payments"
)
# The dead-letter consumer logs `dead_lettered: 1` for each payment it fails, and
# `dead_letter_unusable: 1` for a message it cannot resolve (no payment id, unknown payment):
# such a message stays in the DLQ but, hidden between the consumer's looks, barely counts as
# visible, so the DLQ depth alarm alone would miss it. Both count here.
# NOTE: JSON filter patterns combine conditions with && and || (CloudWatch Logs User Guide,
# "Using filter patterns to match terms in JSON log events", compound expressions).
DEAD_LETTERED_PAYMENTS = LogMetric(
    "dead-lettered-payments",
    "DeadLetteredPayments",
    "{ ($.dead_lettered = 1) || ($.dead_letter_unusable = 1) }",
    "1",
)
LOG_METRICS = (STUCK_PAYMENTS, DEAD_LETTERED_PAYMENTS)


def worker_metric_filters(
    profile: Profile, on: Sources, scope: Scope
) -> list[aws.cloudwatch.LogMetricFilter]:
    """A metric filter per signal, on the worker's log group, in the environment's namespace."""
    # NOTE: PutMetricFilter creates or replaces the filter of that name in the group, so a
    # create-before-delete replacement would overwrite the filter and then delete it: named
    # filters are replaced delete-first (scope.named).
    return [
        aws.cloudwatch.LogMetricFilter(
            metric.what,
            name=profile.name(metric.what),
            log_group_name=on.worker_log_group,
            pattern=metric.pattern,
            metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                name=metric.metric_name,
                namespace=on.namespace,
                value=metric.value,
                unit="Count",
            ),
            opts=scope.named,
        )
        for metric in LOG_METRICS
    ]
