"""Security groups: the exact least-privilege graph, peers by group, only the ALB open."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from config import Profile
from payment_platform import security
from resource_graph import Graph
from tests import fakes
from tests.conftest import load_profile

SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
INTERNET = "0.0.0.0/0"
S3 = "pl-63a5400a"  # the prefix list id tests.fakes.network hands the builder


def run(run_builder: Callable[..., Graph], profile: Profile, env: str = "dev") -> Graph:
    return run_builder(lambda: security.build(profile, fakes.network(profile)), env=env)


@pytest.fixture
def graph(run_builder, env):
    return run(run_builder, load_profile(env), env)


# Not facts.sg_rules: that also reads inline and legacy rules and normalises protocols; here
# every rule must be a rule resource with a literal tcp port, named by the peer group's name.
def edges(graph) -> set[tuple[str, str, int, str]]:
    """(direction, group, port, peer) for every rule; peers named by their group's logical name."""
    found = set()
    for kind, direction in ((INGRESS, "in"), (EGRESS, "out")):
        for rule in graph.of_type(kind):
            i = rule.inputs
            assert i["ipProtocol"] == "tcp" and i["fromPort"] == i["toPort"], rule.name
            group = graph.by_id(i["securityGroupId"]).name
            if i.get("referencedSecurityGroupId"):
                peer = graph.by_id(i["referencedSecurityGroupId"]).name
            else:
                peer = i.get("cidrIpv4") or i.get("prefixListId")
            found.add((direction, group, i["fromPort"], peer))
    return found


def expected(port: int) -> set[tuple[str, str, int, str]]:
    graph = {
        ("in", "alb-sg", 443, INTERNET),
        ("in", "alb-sg", 80, INTERNET),
        ("out", "alb-sg", port, "api-sg"),
        ("in", "api-sg", port, "alb-sg"),
    }
    for task in ("api-sg", "worker-sg"):
        graph |= {
            ("out", task, 5432, "database-sg"),
            ("out", task, 6379, "cache-sg"),
            ("out", task, 443, "endpoints-sg"),
            ("out", task, 443, S3),
            ("in", "database-sg", 5432, task),
            ("in", "cache-sg", 6379, task),
            ("in", "endpoints-sg", 443, task),
        }
    return graph


def test_rules_are_exactly_the_least_privilege_graph(graph, profile):
    assert edges(graph) == expected(profile.compute.container_port)


def test_app_port_comes_from_the_profile(run_builder):
    base = load_profile("dev")
    profile = base.model_copy(
        update={"compute": base.compute.model_copy(update={"container_port": 9090})}
    )
    assert edges(run(run_builder, profile)) == expected(9090)


def test_only_the_alb_is_open_to_the_internet_on_443_and_80(graph):
    open_rules = [
        r
        for r in graph.of_type(INGRESS, EGRESS)
        if r.inputs.get("cidrIpv4") or r.inputs.get("cidrIpv6")
    ]
    assert {graph.by_id(r.inputs["securityGroupId"]).name for r in open_rules} == {"alb-sg"}
    assert {(r.type, r.inputs["fromPort"]) for r in open_rules} == {(INGRESS, 443), (INGRESS, 80)}


def test_no_admin_ports_anywhere(graph):
    for rule in graph.of_type(INGRESS, EGRESS):
        assert rule.inputs["fromPort"] not in (22, 3389), rule.name


def test_data_and_endpoint_groups_never_initiate_traffic(graph):
    sinks = {"database-sg", "cache-sg", "endpoints-sg"}
    for group in graph.of_type(SG):
        if group.name in sinks:
            # Explicitly empty, so Pulumi strips AWS's default allow-all egress rule.
            assert group.inputs["egress"] == [], group.name
        else:
            # Groups with rule resources carry no inline rules (they would fight).
            assert "egress" not in group.inputs and "ingress" not in group.inputs, group.name
        assert not group.inputs.get("ingress"), group.name
    sources = {graph.by_id(r.inputs["securityGroupId"]).name for r in graph.of_type(EGRESS)}
    assert not sources & sinks


def test_worker_accepts_no_inbound_traffic(graph):
    targets = {graph.by_id(r.inputs["securityGroupId"]).name for r in graph.of_type(INGRESS)}
    assert "worker-sg" not in targets


def test_every_group_and_rule_is_described_and_in_the_vpc(graph):
    groups = graph.of_type(SG)
    assert len(groups) == 6
    for resource in graph.of_type(SG, INGRESS, EGRESS):
        assert resource.inputs.get("description"), resource.name  # AwsSolutions-EC27
        assert graph.concern(resource) == "security"
    assert {g.inputs["vpcId"] for g in groups} == {"vpc-0fake"}
