"""First deploy, second `up`, update and destroy: orders and names real AWS insists on.

The mocks accept any order and any name; AWS does not. Each test reads the recorded graph of
every committed environment for one property whose absence fails a real deploy, a later `up`,
a replacement or a destroy (the NOTE where the code handles it says what AWS does).
"""

from __future__ import annotations

import json

import pytest
from payment_app import config as app_config

from payment_platform.edge import WAF_BODY_LIMIT_BYTES
from resource_graph import Graph, Resource
from tests.conftest import ENVIRONMENTS, environment_graph

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


@pytest.fixture(params=ENVIRONMENTS)
def graph(request: pytest.FixtureRequest) -> Graph:
    return environment_graph(request.param)


def _group(graph: Graph, name: str) -> Resource:
    (group,) = [g for g in graph.of_type(LOG_GROUP) if g.get("name") == name]
    return group


def test_environments_create_no_trail_so_any_number_fit_in_one_account(graph: Graph) -> None:
    # Five trails per Region, not raisable; the account project's one trail covers them all.
    assert not graph.of_type("aws:cloudtrail/trail:Trail")
    assert "trail_arn" not in graph.outputs


def test_services_wait_for_the_database_writer_instance(graph: Graph) -> None:
    writer = next(
        i
        for i in graph.of_type("aws:rds/clusterInstance:ClusterInstance")
        if i.get("promotionTier") == 0
    )
    for service in graph.of_type("aws:ecs/service:Service"):
        assert graph.waits_for(service, writer), service.name


def test_up_fails_when_a_service_does_not_reach_steady_state(graph: Graph) -> None:
    for service in graph.of_type("aws:ecs/service:Service"):
        assert service.get("waitForSteadyState") is True, service.name
        assert service.get("deploymentCircuitBreaker") == {"enable": True, "rollback": True}


def test_the_database_cluster_outlives_its_log_group_on_destroy(graph: Graph) -> None:
    cluster = graph.one("aws:rds/cluster:Cluster")
    assert cluster.get("enabledCloudwatchLogsExports") == ["postgresql"]
    group = _group(graph, f"/aws/rds/cluster/{cluster.get('clusterIdentifier')}/postgresql")
    assert graph.waits_for(cluster, group)


def test_container_insights_writes_to_a_group_the_program_owns(graph: Graph) -> None:
    cluster = graph.one("aws:ecs/cluster:Cluster")
    assert {"name": "containerInsights", "value": "enabled"} in cluster.get("settings")
    group = _group(graph, f"/aws/ecs/containerinsights/{cluster.get('name')}/performance")
    assert group.get("kmsKeyId") and int(group.get("retentionInDays") or 0) > 0
    assert graph.waits_for(cluster, group)


RANDOM_ID = "random:index/randomId:RandomId"


def _name_token(graph: Graph, named: Resource, key: str = "name") -> Resource:
    """The RandomId whose hex is `named`'s name: the name changes exactly when it is replaced."""
    (token,) = [t for t in graph.of_type(RANDOM_ID) if t.state.get("hex") == named.get(key)]
    assert named.urn != token.urn and graph.waits_for(named, token)
    return token


def test_target_group_is_replaced_before_the_old_one_is_deleted(graph: Graph) -> None:
    # A listener keeps forwarding to the old group until it moves: delete-first fails.
    group = graph.one("aws:lb/targetGroup:TargetGroup")
    assert not group.delete_before_replace
    keepers = _name_token(graph, group).get("keepers")
    # Every argument that forces a replacement changes the name.
    assert keepers == {
        "port": str(group.get("port")),
        "protocol": group.get("protocol"),
        "target_type": group.get("targetType"),
        "vpc_id": group.get("vpcId"),
    }
    assert len(str(group.get("name"))) <= 32


def test_parameter_group_is_replaced_before_the_cluster_lets_go_of_the_old_one(
    graph: Graph,
) -> None:
    group = graph.one("aws:rds/clusterParameterGroup:ClusterParameterGroup")
    assert not group.delete_before_replace
    keepers = _name_token(graph, group).get("keepers")
    assert keepers == {"family": group.get("family"), "description": group.get("description")}


def _container_environment(graph: Graph, family_suffix: str) -> dict[str, str]:
    (task,) = [
        t for t in graph.of_type("aws:ecs/taskDefinition:TaskDefinition") if t.name == family_suffix
    ]
    (container,) = json.loads(task.get("containerDefinitions"))
    return {e["name"]: e["value"] for e in container["environment"]}


@pytest.mark.parametrize("kind", ["api", "worker"])
def test_the_app_serves_what_the_target_group_checks_and_outlives_the_idle_timeout(
    graph: Graph, kind: str
) -> None:
    env = _container_environment(graph, kind)
    group = graph.one("aws:lb/targetGroup:TargetGroup")
    alb = graph.one("aws:lb/loadBalancer:LoadBalancer")
    assert env["PORT"] == str(group.get("port"))
    assert env["HEALTH_CHECK_PATH"] == group.get("healthCheck")["path"]
    assert env["ALB_IDLE_TIMEOUT_SECONDS"] == str(alb.get("idleTimeout"))
    # The app keeps idle connections longer than the ALB does (no 502 on a reused connection).
    assert app_config.read_port(env) == group.get("port")
    assert app_config.read_health_check_path(env) == group.get("healthCheck")["path"]
    assert app_config.keep_alive_seconds(int(env["ALB_IDLE_TIMEOUT_SECONDS"])) > alb.get(
        "idleTimeout"
    )


def test_the_api_accepts_exactly_what_the_waf_lets_through(graph: Graph) -> None:
    env = _container_environment(graph, "api")
    acl = graph.one("aws:wafv2/webAcl:WebAcl")
    common = next(r for r in acl.get("rules") if r["name"] == "AWSManagedRulesCommonRuleSet")
    # SizeRestrictions_BODY is left blocking: no override relaxes it.
    statement = common["statement"]["managedRuleGroupStatement"]
    assert not statement.get("ruleActionOverrides") and not statement.get("excludedRules")
    assert int(env["MAX_BODY_BYTES"]) == WAF_BODY_LIMIT_BYTES == app_config.WAF_MAX_BODY_BYTES


def test_the_load_balancer_waits_for_the_internet_gateway_route(graph: Graph) -> None:
    alb = graph.one("aws:lb/loadBalancer:LoadBalancer")
    gateway = graph.one("aws:ec2/internetGateway:InternetGateway")
    routes = [
        r
        for r in graph.of_type("aws:ec2/route:Route")
        if r.get("destinationCidrBlock") == "0.0.0.0/0" and r.get("gatewayId") == gateway.id
    ]
    assert routes and all(graph.waits_for(alb, route) for route in routes)
