"""First deploy, second `up`, update and destroy: orders and names real AWS insists on.

The mocks accept any order and any name; AWS does not. Each test reads the recorded graph of
every committed environment for one property whose absence fails a real deploy, a later `up`,
a replacement or a destroy (the NOTE where the code handles it says what AWS does).
"""

from __future__ import annotations

import pytest

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
