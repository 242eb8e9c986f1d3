"""The environment's CloudWatch dashboard.

Creates one dashboard: request rate, latency percentiles, 4xx/5xx, task counts, API CPU and
memory, queue depth and age, database, cache, WAF, the worker's stuck and dead-lettered
payments, and the status of every alarm, two widgets per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from config import Profile
from payment_platform.component import Scope
from payment_platform.messaging import MessagingOutputs
from payment_platform.observability.log_metrics import DEAD_LETTERED_PAYMENTS, STUCK_PAYMENTS
from payment_platform.observability.metrics import (
    PERIOD,
    REGION,
    WORKER_REPORT_PERIOD,
    Dimensions,
    Sources,
)

Widget = dict[str, Any]


def dashboard(
    profile: Profile,
    on: Sources,
    messaging: MessagingOutputs,
    alarms: Sequence[aws.cloudwatch.MetricAlarm],
    scope: Scope,
) -> aws.cloudwatch.Dashboard:
    """One page with what operators need first: traffic, capacity, backlog, data, alarms."""
    widgets = [
        *_traffic_widgets(on),
        *_task_widgets(on),
        *_queue_widgets(messaging),
        *_data_widgets(on),
        _widget("WAF", _metrics("AWS/WAFV2", ["AllowedRequests", "BlockedRequests"], on.waf)),
        _worker_reports_widget(on),
        {
            "type": "alarm",
            "properties": {"title": "Alarms", "alarms": [a.arn for a in alarms]},
        },
    ]
    # Two widgets per row, 12 columns each, on the dashboard's 24-column grid.
    for i, w in enumerate(widgets):
        w.update({"x": (i % 2) * 12, "y": (i // 2) * 6, "width": 12, "height": 6})
    return aws.cloudwatch.Dashboard(
        "dashboard",
        dashboard_name=profile.name("dashboard"),
        dashboard_body=pulumi.Output.json_dumps({"widgets": widgets}),
        opts=scope.named,
    )


def console_url(dashboard_name: pulumi.Output[str]) -> pulumi.Output[str]:
    """The dashboard's address in the CloudWatch console, for the stack outputs."""
    return pulumi.Output.concat(
        f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}#dashboards:name=",
        dashboard_name,
    )


def _metrics(namespace: str, names: list[str], dims: Dimensions, **opts: Any) -> list[Any]:
    """Widget rows: one per metric name, each with the same dimensions (and options)."""
    flat = [part for pair in dims.items() for part in pair]
    return [[namespace, name, *flat, opts] if opts else [namespace, name, *flat] for name in names]


def _widget(title: str, rows: list[Any], stat: str = "Sum", **extra: Any) -> Widget:
    """A time-series widget over `PERIOD`; its position is set once all widgets are listed."""
    return {
        "type": "metric",
        "properties": {
            "title": title,
            "region": REGION,
            "view": "timeSeries",
            "stat": stat,
            "period": PERIOD,
            "metrics": rows,
            **extra,
        },
    }


def _traffic_widgets(on: Sources) -> list[Widget]:
    """Requests, latency percentiles, and errors from the targets and the load balancer."""
    elb = "AWS/ApplicationELB"
    return [
        _widget("Requests", _metrics(elb, ["RequestCount"], on.alb)),
        _widget(
            "Latency (target response time, seconds)",
            [
                [elb, "TargetResponseTime", "LoadBalancer", on.alb["LoadBalancer"], {"stat": p}]
                for p in ("p50", "p90", "p99")
            ],
            stat="p99",
        ),
        _widget(
            "Errors",
            _metrics(
                elb, ["HTTPCode_Target_4XX_Count", "HTTPCode_Target_5XX_Count"], on.target_group
            )
            + _metrics(elb, ["HTTPCode_ELB_4XX_Count", "HTTPCode_ELB_5XX_Count"], on.alb),
        ),
    ]


def _task_widgets(on: Sources) -> list[Widget]:
    """Task counts of both services, and the API's CPU and memory."""
    insights = "ECS/ContainerInsights"
    return [
        _widget(
            "Tasks (API, worker)",
            _metrics(insights, ["RunningTaskCount", "DesiredTaskCount", "PendingTaskCount"], on.api)
            + _metrics(insights, ["RunningTaskCount", "DesiredTaskCount"], on.worker),
            stat="Average",
        ),
        _widget(
            "API CPU and memory (%)",
            _metrics("AWS/ECS", ["CPUUtilization", "MemoryUtilization"], on.api),
            stat="Average",
        ),
    ]


def _queue_widgets(messaging: MessagingOutputs) -> list[Widget]:
    """Depth of every queue and dead-letter queue, and the oldest payment's age."""
    queue_rows = [
        row
        for name in (
            messaging.payment_queue_name,
            messaging.payment_dlq_name,
            messaging.notifications_queue_name,
            messaging.notifications_dlq_name,
        )
        for row in _metrics("AWS/SQS", ["ApproximateNumberOfMessagesVisible"], {"QueueName": name})
    ]
    return [
        _widget("Queue depth", queue_rows, stat="Maximum"),
        _widget(
            "Oldest payment message (seconds)",
            _metrics(
                "AWS/SQS",
                ["ApproximateAgeOfOldestMessage"],
                {"QueueName": messaging.payment_queue_name},
            ),
            stat="Maximum",
        ),
    ]


def _data_widgets(on: Sources) -> list[Widget]:
    """Aurora capacity, CPU and connections; every Redis node's CPU, memory and evictions."""
    database = [
        "ACUUtilization",
        "ServerlessDatabaseCapacity",
        "CPUUtilization",
        "DatabaseConnections",
    ]
    cache = ["CPUUtilization", "EngineCPUUtilization", "DatabaseMemoryUsagePercentage", "Evictions"]
    return [
        _widget(
            "Database",
            _metrics("AWS/RDS", database, on.database),
            stat="Maximum",
        ),
        _widget(
            "Cache",
            [
                row
                for node in on.cache_nodes
                for row in _metrics("AWS/ElastiCache", cache, {"CacheClusterId": node})
            ],
            stat="Maximum",
        ),
    ]


def _worker_reports_widget(on: Sources) -> Widget:
    """Payments stuck in `processing` (the sweep's maximum) and failed from the DLQ (the sum)."""
    return _widget(
        "Worker: stuck and dead-lettered payments",
        [
            [on.namespace, STUCK_PAYMENTS.metric_name, {"stat": "Maximum"}],
            [on.namespace, DEAD_LETTERED_PAYMENTS.metric_name, {"stat": "Sum"}],
        ],
        period=WORKER_REPORT_PERIOD,
    )
