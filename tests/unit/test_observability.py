"""Observability: alarms on the right metrics and resources, thresholds per environment,
actions to the alerts topic; the dashboard covers what operators need."""

from __future__ import annotations

import json
import re
from typing import Any

import pulumi
import pytest

from config import Profile
from offline.mocks import ACCOUNT_ID
from payment_platform import observability
from resource_graph import Graph, Resource
from tests import fakes
from tests.conftest import ENVIRONMENTS, Graphs, load_profile

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
GE, GT, LT = "GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold"
FILTER = "aws:cloudwatch/logMetricFilter:LogMetricFilter"
# The worker's JSON reports: name -> (filter pattern, metric value, alarm statistic).
WORKER_REPORTS = {
    "stuck-payments": ("{ $.stuck_payments >= 0 }", "$.stuck_payments", "Maximum"),
    "dead-lettered-payments": (
        "{ ($.dead_lettered = 1) || ($.dead_letter_unusable = 1) }",
        "1",
        "Sum",
    ),
}


def _build(p: Profile) -> None:
    out = observability.build(
        p,
        messaging=fakes.messaging(p),
        database=fakes.database(p),
        cache=fakes.cache(p),
        edge=fakes.edge(p),
        compute=fakes.compute(p),
    )
    pulumi.export("dashboard_name", out.dashboard_name)
    pulumi.export("dashboard_url", out.dashboard_url)
    pulumi.export("alarm_names", out.alarm_names)


@pytest.fixture(params=ENVIRONMENTS)
def graph(request: pytest.FixtureRequest, graphs: Graphs) -> Graph:
    return graphs.builder("observability", request.param, _build)


def _expected(env: str) -> dict[str, tuple[str, str, dict[str, str], str, float, str, str]]:
    """name -> (namespace, metric, dimensions, statistic, threshold, comparison, missing data)."""
    p = load_profile(env)
    o = p.observability
    lb = f"app/{p.name('alb')}/0123456789abcdef"
    tg = {"LoadBalancer": lb, "TargetGroup": f"targetgroup/{p.name('tg')}-0a1b/0123456789abcdef"}
    api = {"ClusterName": p.name("cluster"), "ServiceName": p.name("api")}
    db = {"DBClusterIdentifier": p.name("db")}
    elb = "AWS/ApplicationELB"
    return {
        "alb-5xx": (
            elb,
            "HTTPCode_ELB_5XX_Count",
            {"LoadBalancer": lb},
            "Sum",
            o.alb_5xx_threshold,
            GE,
            "notBreaching",
        ),
        "target-5xx": (
            elb,
            "HTTPCode_Target_5XX_Count",
            tg,
            "Sum",
            o.alb_5xx_threshold,
            GE,
            "notBreaching",
        ),
        "latency-p99": (
            elb,
            "TargetResponseTime",
            tg,
            "p99",
            o.latency_p99_seconds,
            GT,
            "notBreaching",
        ),
        "unhealthy-hosts": (elb, "UnHealthyHostCount", tg, "Maximum", 0, GT, "missing"),
        "api-cpu": ("AWS/ECS", "CPUUtilization", api, "Average", o.cpu_high_percent, GT, "missing"),
        "api-memory": (
            "AWS/ECS",
            "MemoryUtilization",
            api,
            "Average",
            o.memory_high_percent,
            GT,
            "missing",
        ),
        "api-running-tasks": (
            "ECS/ContainerInsights",
            "RunningTaskCount",
            api,
            "Minimum",
            p.compute.min_count,
            LT,
            "breaching",
        ),
        "queue-dlq-messages": (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": p.name("queue-dlq")},
            "Maximum",
            o.dlq_visible_messages,
            GE,
            "notBreaching",
        ),
        "notifications-dlq-messages": (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": p.name("notifications-dlq")},
            "Maximum",
            o.dlq_visible_messages,
            GE,
            "notBreaching",
        ),
        "queue-oldest-message": (
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            {"QueueName": p.name("queue")},
            "Maximum",
            o.queue_oldest_message_seconds,
            GE,
            "notBreaching",
        ),
        "db-cpu": (
            "AWS/RDS",
            "CPUUtilization",
            db,
            "Maximum",
            o.db_cpu_high_percent,
            GT,
            "notBreaching",
        ),
        "db-acu": (
            "AWS/RDS",
            "ACUUtilization",
            db,
            "Maximum",
            o.db_acu_high_percent,
            GT,
            "notBreaching",
        ),
        "db-connections": (
            "AWS/RDS",
            "DatabaseConnections",
            db,
            "Maximum",
            o.db_connections_high,
            GT,
            "notBreaching",
        ),
        "waf-blocked": (
            "AWS/WAFV2",
            "BlockedRequests",
            {"WebACL": p.name("waf"), "Region": "us-east-1", "Rule": "ALL"},
            "Sum",
            o.waf_blocked_requests_high,
            GE,
            "notBreaching",
        ),
    }


def _cache_expected(env: str) -> dict[str, tuple[str, str, str, float]]:
    """logical name -> (metric, per-node statistic, expression function, threshold)."""
    o = load_profile(env).observability
    return {
        "cache-cpu": ("CPUUtilization", "Average", "MAX", o.cache_cpu_high_percent),
        "cache-engine-cpu": ("EngineCPUUtilization", "Average", "MAX", o.cache_cpu_high_percent),
        "cache-memory": (
            "DatabaseMemoryUsagePercentage",
            "Maximum",
            "MAX",
            o.cache_memory_high_percent,
        ),
        "cache-evictions": ("Evictions", "Sum", "SUM", o.cache_evictions_high),
    }


def _alarms(graph: Graph) -> dict[str, Resource]:
    return {a.name: a for a in graph.of_type(ALARM)}


def test_every_required_alarm_exists_and_nothing_else(graph: Graph) -> None:
    assert set(_alarms(graph)) == (
        set(_expected(graph.env)) | set(_cache_expected(graph.env)) | set(WORKER_REPORTS)
    )


def test_every_alarm_notifies_the_alerts_topic_both_ways(graph: Graph) -> None:
    profile = load_profile(graph.env)
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT_ID}:{profile.name('alerts')}"
    for name, alarm in _alarms(graph).items():
        assert alarm.get("alarmActions") == [topic], name
        assert alarm.get("okActions") == [topic], name
        assert alarm.get("actionsEnabled") is True
        assert alarm.get("name") == profile.name(name)
        assert alarm.delete_before_replace


def test_single_metric_alarms(graph: Graph) -> None:
    alarms = _alarms(graph)
    evaluation = load_profile(graph.env).observability.alarm_evaluation_periods
    for name, (ns, metric, dims, stat, threshold, op, missing) in _expected(graph.env).items():
        alarm = alarms[name]
        assert (alarm.get("namespace"), alarm.get("metricName")) == (ns, metric), name
        assert alarm.get("dimensions") == dims, name
        got_stat = alarm.get("extendedStatistic") or alarm.get("statistic")
        assert got_stat == stat, name
        assert alarm.get("threshold") == pytest.approx(threshold), name
        assert alarm.get("comparisonOperator") == op, name
        assert alarm.get("treatMissingData") == missing, name
        dlq = name.endswith("dlq-messages")
        assert alarm.get("evaluationPeriods") == (1 if dlq else evaluation), name


def test_latency_alarm_is_the_p99_from_the_profile(graph: Graph) -> None:
    alarm = _alarms(graph)["latency-p99"]
    assert alarm.get("extendedStatistic") == "p99" and alarm.get("statistic") is None
    assert alarm.get("threshold") == pytest.approx(
        load_profile(graph.env).observability.latency_p99_seconds
    )
    assert alarm.get("evaluateLowSampleCountPercentiles") == "ignore"


def test_cache_alarms_cover_every_node(graph: Graph) -> None:
    profile = load_profile(graph.env)
    rg = profile.name("cache")
    nodes = [f"{rg}-{n:03d}" for n in range(1, 2 + profile.cache.replica_count)]
    for name, (metric, stat, fn, threshold) in _cache_expected(graph.env).items():
        alarm = _alarms(graph)[name]
        assert alarm.get("threshold") == threshold
        assert alarm.get("comparisonOperator") == GT
        queries = alarm.get("metricQueries")
        *per_node, result = queries
        assert [q["metric"]["dimensions"] for q in per_node] == [
            {"CacheClusterId": n} for n in nodes
        ]
        for q in per_node:
            assert q["returnData"] is False
            assert q["metric"]["namespace"] == "AWS/ElastiCache"
            assert (q["metric"]["metricName"], q["metric"]["stat"]) == (metric, stat)
        assert result["returnData"] is True
        assert result["expression"] == f"{fn}([{', '.join(q['id'] for q in per_node)}])"


def _body(graph: Graph) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(graph.one(DASHBOARD).get("dashboardBody"))
    return body


def _dashboard_metrics(graph: Graph) -> set[tuple[str, str]]:
    found = set()
    for w in _body(graph)["widgets"]:
        for row in w["properties"].get("metrics", []):
            found.add((row[0], row[1]))
    return found


def test_dashboard_covers_every_required_metric(graph: Graph) -> None:
    required = {
        ("AWS/ApplicationELB", "RequestCount"),
        ("AWS/ApplicationELB", "TargetResponseTime"),
        ("AWS/ApplicationELB", "HTTPCode_Target_4XX_Count"),
        ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"),
        ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"),
        ("ECS/ContainerInsights", "RunningTaskCount"),
        ("ECS/ContainerInsights", "DesiredTaskCount"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("AWS/RDS", "ACUUtilization"),
        ("AWS/RDS", "CPUUtilization"),
        ("AWS/RDS", "DatabaseConnections"),
        ("AWS/ElastiCache", "CPUUtilization"),
        ("AWS/ElastiCache", "DatabaseMemoryUsagePercentage"),
        ("AWS/ElastiCache", "Evictions"),
    }
    assert required <= _dashboard_metrics(graph)


def test_dashboard_latency_percentiles_and_queues(graph: Graph) -> None:
    profile = load_profile(graph.env)
    rows = [row for w in _body(graph)["widgets"] for row in w["properties"].get("metrics", [])]
    latency = {row[-1]["stat"] for row in rows if row[1] == "TargetResponseTime"}
    assert latency == {"p50", "p90", "p99"}
    depth = {row[3] for row in rows if row[1] == "ApproximateNumberOfMessagesVisible"}
    assert depth == {
        profile.name(s) for s in ("queue", "queue-dlq", "notifications", "notifications-dlq")
    }


def test_dashboard_lists_every_alarm_and_is_named(graph: Graph) -> None:
    profile = load_profile(graph.env)
    [status] = [w for w in _body(graph)["widgets"] if w["type"] == "alarm"]
    assert sorted(status["properties"]["alarms"]) == sorted(
        a.state["arn"] for a in graph.of_type(ALARM)
    )
    name = profile.name("dashboard")
    assert graph.one(DASHBOARD).get("dashboardName") == name
    assert graph.outputs["dashboard_name"] == name
    assert graph.outputs["dashboard_url"] == (
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
        f"#dashboards:name={name}"
    )
    assert sorted(graph.outputs["alarm_names"]) == sorted(
        a.get("name") for a in graph.of_type(ALARM)
    )


def _filters(graph: Graph) -> dict[str, Resource]:
    return {f.name: f for f in graph.of_type(FILTER)}


def test_worker_reports_become_metrics_of_the_environment(graph: Graph) -> None:
    profile = load_profile(graph.env)
    filters = _filters(graph)
    assert set(filters) == set(WORKER_REPORTS)
    for name, (pattern, value, _) in WORKER_REPORTS.items():
        f = filters[name]
        assert f.get("logGroupName") == f"/payment/{profile.suffix}/worker", name
        assert f.get("pattern") == pattern, name
        transformation = f.get("metricTransformation")
        assert transformation["value"] == value, name
        # Per environment: environments sharing an account never mix their counts.
        assert transformation["namespace"] == f"PaymentPlatform/{profile.suffix}", name
        # No default value: a line without the field publishes nothing, not a zero.
        assert "defaultValue" not in transformation and "dimensions" not in transformation
        assert f.get("name") == profile.name(name) and f.delete_before_replace, name


def test_worker_report_alarms_page_on_one_payment_in_five_minutes(graph: Graph) -> None:
    profile = load_profile(graph.env)
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT_ID}:{profile.name('alerts')}"
    alarms, filters = _alarms(graph), _filters(graph)
    for name, (_, _, statistic) in WORKER_REPORTS.items():
        alarm, metric = alarms[name], filters[name].get("metricTransformation")
        # The alarm watches exactly the metric its filter publishes.
        assert (alarm.get("namespace"), alarm.get("metricName")) == (
            metric["namespace"],
            metric["name"],
        ), name
        assert not alarm.get("dimensions"), name
        assert alarm.get("statistic") == statistic, name
        assert (alarm.get("period"), alarm.get("evaluationPeriods")) == (300, 1), name
        assert alarm.get("threshold") == 1, name
        assert alarm.get("comparisonOperator") == GE, name
        assert alarm.get("treatMissingData") == "notBreaching", name
        assert alarm.get("alarmActions") == alarm.get("okActions") == [topic], name


def test_the_dlq_depth_alarm_stays_beside_the_dead_letter_report(graph: Graph) -> None:
    # Messages the worker cannot resolve stay in the DLQ: its depth alarm still pages.
    assert {"queue-dlq-messages", "dead-lettered-payments"} <= set(_alarms(graph))


def test_dashboard_shows_the_worker_reports(graph: Graph) -> None:
    profile = load_profile(graph.env)
    rows = [row for w in _body(graph)["widgets"] for row in w["properties"].get("metrics", [])]
    namespace = f"PaymentPlatform/{profile.suffix}"
    shown = {(row[0], row[1]) for row in rows if row[0] == namespace}
    assert shown == {(namespace, "StuckPayments"), (namespace, "DeadLetteredPayments")}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_metric_filters_wait_for_the_worker_log_group(graphs: Graphs, env: str) -> None:
    """A filter on a group that does not exist yet fails: the program orders them."""
    graph = graphs.environment(env)
    (group,) = [
        g
        for g in graph.of_type("aws:cloudwatch/logGroup:LogGroup")
        if g.get("name") == f"/payment/{load_profile(env).suffix}/worker"
    ]
    filters = graph.of_type(FILTER)
    assert len(filters) == len(WORKER_REPORTS)
    for f in filters:
        assert graph.waits_for(f, group), f.name


def test_metric_filters_read_fields_the_worker_logs() -> None:
    """A renamed log field would silence an alarm without failing anything else: every field a
    filter reads must be one the worker passes as a structured `extra` field."""
    from pathlib import Path

    from payment_platform.observability.log_metrics import LOG_METRICS

    worker = Path(__file__).resolve().parents[2] / "app" / "payment_app" / "worker"
    source = "\n".join(path.read_text() for path in worker.glob("*.py"))
    for metric in LOG_METRICS:
        fields = set(re.findall(r"\$\.(\w+)", metric.pattern + metric.value))
        assert fields, metric
        for field in fields:
            assert re.search(rf'"{field}":', source), (
                f"{metric.what}: the worker never logs {field}"
            )
