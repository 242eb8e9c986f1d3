"""Log groups: every one on the logs key, with its environment's retention and the right name."""

from __future__ import annotations

from collections.abc import Callable

from config import Profile
from payment_platform import logs
from resource_graph import Graph
from tests import fakes
from tests.conftest import load_profile

GROUP = "aws:cloudwatch/logGroup:LogGroup"


def run(run_builder: Callable[..., Graph], env: str) -> tuple[Profile, Graph]:
    profile = load_profile(env)
    return profile, run_builder(lambda: logs.build(profile, fakes.keys()), env=env)


def test_every_group_is_encrypted_with_the_logs_key_and_keeps_the_profile_retention(
    run_builder, env
):
    profile, graph = run(run_builder, env)
    groups = graph.of_type(GROUP)
    assert len(groups) == 8
    for group in groups:
        assert group.inputs["kmsKeyId"] == fakes.LOGS_KEY_ARN, group.name
        assert group.inputs["retentionInDays"] == profile.observability.log_retention_days
        assert group.delete_before_replace, group.name
        assert graph.concern(group) == "logs"
    assert graph.one("payment:logs:Logs").name == "logs"


def test_names_are_the_ones_writers_expect(run_builder, env):
    profile, graph = run(run_builder, env)
    names = {g.inputs["name"] for g in graph.of_type(GROUP)}
    s = profile.suffix
    assert names == {
        f"/payment/{s}/api",
        f"/payment/{s}/worker",
        f"/payment/{s}/vpc-flow-logs",
        f"/payment/{s}/redis-slow",
        f"/payment/{s}/redis-engine",
        # RDS exports to exactly this name, Container Insights writes to exactly this one; WAF
        # insists on the aws-waf-logs- prefix.
        f"/aws/rds/cluster/payment-db-{s}/postgresql",
        f"/aws/ecs/containerinsights/payment-cluster-{s}/performance",
        f"aws-waf-logs-payment-waf-{s}",
    }
    # The names downstream fakes assume match what the builder creates.
    assert graph.one(GROUP, "database-logs").inputs["name"] == (
        f"/aws/rds/cluster/{profile.name('db')}/postgresql"
    )


def test_suffixed_environment_gets_its_own_groups(run_builder):
    profile = load_profile("dev", suffix="pr-142")
    graph = run_builder(lambda: logs.build(profile, fakes.keys()), env="dev")
    names = {g.inputs["name"] for g in graph.of_type(GROUP)}
    assert "/payment/pr-142/api" in names
    assert "aws-waf-logs-payment-waf-pr-142" in names
    assert not [n for n in names if "/dev/" in n]
