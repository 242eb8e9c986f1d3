"""`cost`: charges computed from the graph's facts at the table's prices, never a silent $0.

Expectations are computed here from the price table and the hand-built graph, never copied from
an environment file, so a price or a profile change cannot make these tests stale.
"""

from __future__ import annotations

import dataclasses
import datetime
import json

import pytest

from config import known_environments
from offline import cost, cost_prices, cost_rules
from offline.cost_prices import UnpricedError
from offline.recorder import ROOT
from resource_graph import Graph, Resource
from tests.conftest import Graphs
from tests.guardrails.synth import graph, res

TABLE = cost_prices.load()
HOURS = TABLE.hours
TD = "aws:ecs/taskDefinition:TaskDefinition"
TD_ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/payment-api-dev:1"


def fargate(
    *, cpu: int = 512, memory: int = 1024, desired: int = 2, scaling: tuple[int, int] | None
) -> list[Resource]:
    resources = [
        res(
            TD,
            "api-td",
            arn=TD_ARN,
            family="payment-api-dev",
            cpu=str(cpu),
            memory=str(memory),
            runtimePlatform={"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"},
        ),
        res(
            "aws:ecs/service:Service",
            "api",
            name="payment-api-dev",
            taskDefinition=TD_ARN,
            launchType="FARGATE",
            desiredCount=desired,
        ),
    ]
    if scaling:
        resources.append(
            res(
                "aws:appautoscaling/target:Target",
                "api-scaling",
                serviceNamespace="ecs",
                resourceId="service/payment-cluster-dev/payment-api-dev",
                minCapacity=scaling[0],
                maxCapacity=scaling[1],
            )
        )
    return resources


def arm(resources: list[Resource]) -> list[Resource]:
    """The same resources with the task definition on Graviton."""
    platform = {"operatingSystemFamily": "LINUX", "cpuArchitecture": "ARM64"}
    return [
        dataclasses.replace(r, inputs={**r.inputs, "runtimePlatform": platform})
        if r.type == TD
        else r
        for r in resources
    ]


def task_month(family: str, vcpu: float, gb: float, kind: str = "fargate") -> float:
    """One task's month at the table's `kind` (fargate or fargate_spot) rates for `family`."""
    return (
        vcpu * TABLE.usd(f"{kind}.{family}.vcpu_hour") + gb * TABLE.usd(f"{kind}.{family}.gb_hour")
    ) * HOURS


def line(est: cost.Estimate, name: str) -> cost.Line:
    (found,) = [ln for ln in est.lines if ln.name == name]
    return found


def test_fargate_service_costs_task_size_times_count_times_hours() -> None:
    est = cost.estimate(graph(*fargate(cpu=512, memory=1024, scaling=(2, 6))), TABLE)
    per_task = task_month("x86", 0.5, 1.0)
    assert line(est, "api").idle == pytest.approx(2 * per_task)
    assert line(est, "api").max == pytest.approx(6 * per_task)
    assert [ln.name for ln in est.lines] == ["api"]  # task definition and target are free


def test_without_an_autoscaling_target_the_desired_count_is_both_idle_and_max() -> None:
    est = cost.estimate(graph(*fargate(cpu=256, memory=512, desired=3, scaling=None)), TABLE)
    expected = 3 * task_month("x86", 0.25, 0.5)
    assert (line(est, "api").idle, line(est, "api").max) == pytest.approx((expected, expected))
    assert any("no autoscaling target" in note for note in est.assumptions)


def test_arm_tasks_are_priced_at_the_arm_rates() -> None:
    x86 = cost.estimate(graph(*fargate(scaling=(1, 4))), TABLE)
    graviton = cost.estimate(graph(*arm(fargate(scaling=(1, 4)))), TABLE)
    assert line(graviton, "api").max == pytest.approx(4 * task_month("arm64", 0.5, 1.0))
    assert line(graviton, "api").idle < line(x86, "api").idle


def on_spot(resources: list[Resource]) -> list[Resource]:
    """The same resources with the service on the Fargate Spot capacity provider."""
    return [
        dataclasses.replace(
            r,
            inputs={
                **r.inputs,
                "launchType": None,
                "capacityProviderStrategies": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
            },
        )
        if r.type == "aws:ecs/service:Service"
        else r
        for r in resources
    ]


def test_spot_capacity_is_priced_at_the_spot_rates_and_says_so() -> None:
    est = cost.estimate(graph(*on_spot(fargate(scaling=(1, 2)))), TABLE)
    on_demand = cost.estimate(graph(*fargate(scaling=(1, 2))), TABLE)
    spot_month = task_month("x86", 0.5, 1.0, "fargate_spot")
    assert line(est, "api").idle == pytest.approx(spot_month)
    assert line(est, "api").max == pytest.approx(2 * spot_month)
    assert line(est, "api").idle < line(on_demand, "api").idle
    assert cost_rules.FARGATE_SPOT in est.assumptions


def test_arm_tasks_on_spot_are_priced_at_the_arm_spot_rates() -> None:
    est = cost.estimate(graph(*on_spot(arm(fargate(scaling=(1, 2))))), TABLE)
    x86_spot = cost.estimate(graph(*on_spot(fargate(scaling=(1, 2)))), TABLE)
    arm_on_demand = cost.estimate(graph(*arm(fargate(scaling=(1, 2)))), TABLE)
    assert line(est, "api").idle == pytest.approx(task_month("arm64", 0.5, 1.0, "fargate_spot"))
    assert line(est, "api").idle < line(x86_spot, "api").idle
    assert line(est, "api").idle < line(arm_on_demand, "api").idle


def aurora(min_acu: float, max_acu: float, *, secret: bool = False) -> list[Resource]:
    return [
        res(
            "aws:rds/cluster:Cluster",
            "database",
            clusterIdentifier="payment-db-dev",
            engine="aurora-postgresql",
            manageMasterUserPassword=secret,
            serverlessv2ScalingConfiguration={"minCapacity": min_acu, "maxCapacity": max_acu},
        ),
        res(
            "aws:rds/clusterInstance:ClusterInstance",
            "database-instance-0",
            clusterIdentifier="payment-db-dev",
            instanceClass="db.serverless",
        ),
    ]


def test_zero_acu_aurora_idles_at_storage_cost_and_maxes_at_max_acu() -> None:
    est = cost.estimate(graph(*aurora(0, 4)), TABLE)
    storage, io = TABLE.guess("aurora_storage_gb"), TABLE.guess("aurora_io_million")
    cluster_idle = storage.idle * TABLE.usd("aurora.storage_gb_month") + io.idle * TABLE.usd(
        "aurora.io_million"
    )
    assert line(est, "database-instance-0").idle == 0
    assert line(est, "database-instance-0").max == pytest.approx(
        4 * TABLE.usd("aurora.acu_hour") * HOURS
    )
    assert est.idle == pytest.approx(cluster_idle)
    assert cost_rules.ZERO_ACU in est.assumptions


def test_each_aurora_instance_bills_its_own_acus_and_a_managed_secret_is_charged() -> None:
    two = [*aurora(0.5, 8, secret=True), dataclasses.replace(aurora(0.5, 8)[1], name="reader")]
    est = cost.estimate(graph(*two), TABLE)
    acu_month = TABLE.usd("aurora.acu_hour") * HOURS
    assert line(est, "reader").idle == pytest.approx(0.5 * acu_month)
    assert line(est, "reader").max == pytest.approx(8 * acu_month)
    items = {c.item: c for c in line(est, "database").items}
    assert items["master user secret"].idle == TABLE.usd("secretsmanager.secret_month")
    assert cost_rules.ZERO_ACU not in est.assumptions


def endpoint(name: str, kind: str, subnets: int) -> Resource:
    ids = [f"subnet-{i}" for i in range(subnets)]
    return res("aws:ec2/vpcEndpoint:VpcEndpoint", name, vpcEndpointType=kind, subnetIds=ids)


def test_interface_endpoint_costs_one_az_hour_per_subnet_and_a_gateway_nothing() -> None:
    est = cost.estimate(graph(endpoint("sqs", "Interface", 2), endpoint("s3", "Gateway", 0)), TABLE)
    hours, data = line(est, "sqs").items
    assert (
        hours.idle
        == hours.max
        == pytest.approx(2 * TABLE.usd("privatelink.interface_az_hour") * HOURS)
    )
    assert data.idle == pytest.approx(
        TABLE.guess("endpoint_data_gb").idle * TABLE.usd("privatelink.data_gb")
    )
    assert (line(est, "s3").idle, line(est, "s3").max) == (0, 0)


def test_waf_counts_the_acl_and_each_rule() -> None:
    rules = [
        {"name": f"r{i}", "statement": {"rateBasedStatement": {"limit": 100}}} for i in range(3)
    ]
    est = cost.estimate(graph(res("aws:wafv2/webAcl:WebAcl", "api", rules=rules)), TABLE)
    requests = TABLE.guess("api_requests_million").idle * TABLE.usd("waf.request_million")
    fixed = TABLE.usd("waf.web_acl_month") + 3 * TABLE.usd("waf.rule_month")
    assert est.idle == pytest.approx(fixed + requests)


def test_cache_costs_node_price_times_nodes_times_hours() -> None:
    group = res(
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "cache",
        nodeType="cache.t4g.small",
        numCacheClusters=2,
    )
    est = cost.estimate(graph(group), TABLE)
    expected = 2 * TABLE.usd("elasticache.redis.node_hour.cache.t4g.small") * HOURS
    assert (est.idle, est.max) == pytest.approx((expected, expected))


def test_a_valkey_cache_is_priced_at_the_valkey_node_rate() -> None:
    def group(engine: str | None) -> Resource:
        kind = "aws:elasticache/replicationGroup:ReplicationGroup"
        if engine is None:
            return res(kind, "cache", nodeType="cache.t4g.small", numCacheClusters=2)
        return res(kind, "cache", nodeType="cache.t4g.small", numCacheClusters=2, engine=engine)

    valkey = cost.estimate(graph(group("valkey")), TABLE)
    assert valkey.idle == pytest.approx(
        2 * TABLE.usd("elasticache.valkey.node_hour.cache.t4g.small") * HOURS
    )
    # No engine input is Redis OSS, the provider's default.
    redis = cost.estimate(graph(group(None)), TABLE)
    assert redis.idle == cost.estimate(graph(group("redis")), TABLE).idle > valkey.idle


def test_an_unknown_billable_kind_stops_the_estimate_naming_it() -> None:
    nat = res("aws:ec2/natGateway:NatGateway", "nat-0")
    with pytest.raises(UnpricedError) as caught:
        cost.estimate(graph(nat, endpoint("sqs", "Interface", 1)), TABLE)
    assert caught.value.problems == [
        "dev: cannot price aws:ec2/natGateway:NatGateway 'nat-0': "
        "billable kind with no pricing rule (not listed as free either)"
    ]


def test_a_price_missing_from_the_table_stops_the_estimate_naming_the_key() -> None:
    group = res(
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "cache",
        nodeType="cache.m5.24xlarge",
        numCacheClusters=1,
    )
    with pytest.raises(
        UnpricedError, match=r"no price `elasticache\.redis\.node_hour\.cache\.m5\.24xlarge`"
    ):
        cost.estimate(graph(group), TABLE)


def test_the_command_exits_2_naming_an_unpriced_resource(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        cost, "record", lambda env: graph(res("aws:ec2/natGateway:NatGateway", "nat-0"))
    )
    assert cost.run_cli(["--env", "dev"]) == cost.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "aws:ec2/natGateway:NatGateway 'nat-0'" in err
    assert "Traceback" not in err


def test_the_command_exits_2_on_an_unknown_environment(capsys: pytest.CaptureFixture[str]) -> None:
    assert cost.run_cli(["--env", "nosuch"]) == cost.EXIT_BAD_INPUT
    assert "unknown environment nosuch" in capsys.readouterr().err


def component(concern: str) -> Resource:
    return res(f"payment:{concern}:{concern.title()}", concern)


def child(parent: Resource, resource: Resource) -> Resource:
    return dataclasses.replace(resource, parent=parent.urn)


def mixed_graph() -> Graph:
    compute, endpoints, logs = component("compute"), component("endpoints"), component("logs")
    return graph(
        compute,
        endpoints,
        logs,
        *(child(compute, r) for r in fargate(scaling=(1, 3))),
        child(endpoints, endpoint("kms", "Interface", 3)),
        child(logs, res("aws:cloudwatch/logGroup:LogGroup", "api-logs", retentionInDays=30)),
        res("aws:kms/key:Key", "loose-key", enableKeyRotation=True),
    )


def test_concerns_follow_components_and_sum_to_the_resources() -> None:
    est = cost.estimate(mixed_graph(), TABLE)
    assert {ln.name: ln.concern for ln in est.lines} == {
        "api": "compute",
        "kms": "network",
        "api-logs": "observability",
        "loose-key": "stack",
    }
    concerns = est.concerns()
    assert sum(idle for idle, _ in concerns.values()) == pytest.approx(est.idle)
    assert sum(high for _, high in concerns.values()) == pytest.approx(est.max)
    assert est.idle == pytest.approx(sum(c.idle for ln in est.lines for c in ln.items))


def test_json_report_carries_the_same_totals_and_every_assumption() -> None:
    est = cost.estimate(mixed_graph(), TABLE)
    doc = json.loads(json.dumps(cost.json_report(est)))
    assert doc["total"]["idle"] == pytest.approx(est.idle, abs=1e-3)
    assert sum(c["max"] for c in doc["concerns"].values()) == pytest.approx(est.max, abs=1e-2)
    assert doc["assumptions"] == list(est.assumptions)
    assert TABLE.guess("log_ingest_gb").note() in doc["assumptions"]


def test_text_report_prints_the_table_date_totals_and_assumptions() -> None:
    est = cost.estimate(mixed_graph(), TABLE)
    text = "\n".join(cost.text_report(est, TABLE))
    assert f"list prices as of {TABLE.as_of}" in text
    assert f"{est.idle:,.2f}" in text
    assert all(note in text for note in est.assumptions)


def test_free_and_priced_kinds_do_not_overlap() -> None:
    assert not cost_rules.FREE & set(cost_rules.RULES)


def test_every_price_has_a_source_page_and_the_table_a_date() -> None:
    datetime.date.fromisoformat(TABLE.as_of)
    assert TABLE.prices and all(
        p.source.startswith("https://aws.amazon.com/") for p in TABLE.prices.values()
    )
    assert all(u.idle <= u.max for u in TABLE.usage.values())


def test_every_environment_is_fully_priced(graphs: Graphs, env: str) -> None:
    """Runs once per environment (the `env` fixture of tests/conftest.py)."""
    g = graphs.environment(env)
    est = cost.estimate(g, TABLE)  # raises on any billable resource left unpriced
    billable = {r.urn for r in g if not cost_rules.is_free(r)}
    assert len(est.lines) == len(billable)
    assert est.max >= est.idle > 0
    assert all(ln.max >= ln.idle >= 0 for ln in est.lines)


def test_prod_costs_at_least_dev(graphs: Graphs) -> None:
    dev = cost.estimate(graphs.environment("dev"), TABLE)
    prod = cost.estimate(graphs.environment("prod"), TABLE)
    assert prod.idle >= dev.idle
    assert prod.max >= dev.max


def test_the_docs_estimate_is_the_committed_environments_estimate(graphs: Graphs) -> None:
    """docs/cost.md's figures are regenerated, never typed: stale ones fail here."""
    estimates = [cost.estimate(graphs.environment(env), TABLE) for env in known_environments(ROOT)]
    document = cost.DOC.read_text()
    assert cost.with_section(document, cost.markdown_section(estimates, TABLE)) == document, (
        "docs/cost.md's estimate is stale: run `python -m offline cost --docs` (or make snapshots)"
    )


def test_the_markdown_section_shows_each_total_and_every_concern() -> None:
    est = cost.estimate(mixed_graph(), TABLE)
    section = cost.markdown_section([est], TABLE)
    assert f"| {est.env} | {est.idle:,.2f} | {est.max:,.2f} |" in section
    summary = next(line for line in section if line.startswith(f"- **{est.env}**"))
    for name, (idle, high) in est.concerns().items():
        assert f"{name} {idle:,.2f} ({high:,.2f})" in summary
    assert TABLE.as_of in section[0]


def test_the_section_replaces_only_the_text_between_its_markers() -> None:
    document = f"# Cost\nintro\n{cost.DOC_BEGIN}\nold figures\n{cost.DOC_END}\nafter\n"
    assert cost.with_section(document, ["new", "lines"]) == (
        f"# Cost\nintro\n{cost.DOC_BEGIN}\nnew\nlines\n{cost.DOC_END}\nafter\n"
    )
    with pytest.raises(ValueError, match="lacks the lines"):
        cost.with_section("# Cost\nno markers\n", ["x"])


@pytest.mark.parametrize(
    "argv", [["--docs", "--env", "dev"], ["--check"], ["--docs", "--format", "json"]]
)
def test_docs_flags_that_do_not_fit_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cost.run_cli(argv) == cost.EXIT_BAD_INPUT
    assert "--docs covers every environment" in capsys.readouterr().err
