"""Cache: Redis encrypted at rest and in transit, AUTH token from Secrets Manager."""

from __future__ import annotations

import pulumi
import pytest

from config import Profile
from offline.mocks import AVAILABILITY_ZONES
from offline.recorder import run_program
from payment_platform import cache as cache_builder
from resource_graph import Graph
from tests import fakes
from tests.conftest import ENVIRONMENTS, Graphs, load_profile

GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
SUBNETS = "aws:elasticache/subnetGroup:SubnetGroup"
PASSWORD = "random:index/randomPassword:RandomPassword"
SECRET = "aws:secretsmanager/secret:Secret"
VERSION = "aws:secretsmanager/secretVersion:SecretVersion"


def _build(profile: Profile) -> None:
    out = cache_builder.build(
        profile, fakes.keys(), fakes.logs(profile), fakes.network(profile), fakes.security()
    )
    pulumi.export("auth_secret_arn", out.auth_secret_arn)
    pulumi.export("primary_endpoint", out.primary_endpoint)
    pulumi.export("port", out.port)


def _graph(graphs: Graphs, env: str) -> Graph:
    return graphs.builder("cache", env, _build)


@pytest.fixture(params=ENVIRONMENTS)
def graph(request: pytest.FixtureRequest, graphs: Graphs) -> Graph:
    return _graph(graphs, request.param)


def test_component_parents_every_resource(graph: Graph) -> None:
    component = graph.one("payment:cache:Cache", "cache")
    assert all(r.parent == component.urn for r in graph if r is not component)


def test_encrypted_at_rest_with_the_data_key_and_in_transit(graph: Graph) -> None:
    group = graph.one(GROUP)
    assert group.get("atRestEncryptionEnabled") is True
    assert group.get("kmsKeyId") == fakes.DATA_KEY_ARN
    assert group.get("transitEncryptionEnabled") is True
    assert group.get("transitEncryptionMode") == "required"


def test_failover_and_multi_az_only_with_replicas(graphs: Graphs, env: str) -> None:
    profile = load_profile(env)
    nodes = 1 + profile.cache.replica_count
    failover = profile.cache.replica_count > 0
    group = _graph(graphs, env).one(GROUP)
    assert group.get("numCacheClusters") == nodes
    assert group.get("automaticFailoverEnabled") is failover
    assert group.get("multiAzEnabled") is failover
    azs = group.get("preferredCacheClusterAzs")
    assert len(azs) == nodes
    assert len(set(azs)) == min(nodes, profile.network.az_count)
    assert set(azs) <= set(AVAILABILITY_ZONES[: profile.network.az_count])


def test_sizing_and_backups_from_profile(graph: Graph) -> None:
    profile = load_profile(graph.env)
    group = graph.one(GROUP)
    assert group.get("nodeType") == profile.cache.node_type
    assert group.get("snapshotRetentionLimit") == profile.cache.snapshot_retention_days
    assert group.get("snapshotWindow") == profile.cache.snapshot_window
    assert group.get("maintenanceWindow") == profile.cache.maintenance_window
    assert group.get("autoMinorVersionUpgrade") is True
    assert group.get("engine") == "redis"
    assert group.get("engineVersion", "").startswith("7.")
    assert group.get("applyImmediately") is profile.cache.apply_immediately


@pytest.mark.parametrize("apply", [True, False])
def test_apply_immediately_follows_the_profile(env: str, apply: bool) -> None:
    base = load_profile(env)
    profile = base.model_copy(
        update={"cache": base.cache.model_copy(update={"apply_immediately": apply})}
    )
    graph = run_program(lambda: _build(profile), env=env)
    assert graph.one(GROUP).get("applyImmediately") is apply


def test_no_parameter_group_default_engine_group(graph: Graph) -> None:
    # No custom group: nothing to replace while the replication group still uses it.
    assert graph.of_type("aws:elasticache/parameterGroup:ParameterGroup") == []
    assert "parameterGroupName" not in graph.one(GROUP).inputs


def test_auth_token_is_the_random_password_stored_in_the_secret(graph: Graph) -> None:
    group = graph.one(GROUP)
    password = graph.one(PASSWORD)
    secret = graph.one(SECRET)
    version = graph.one(VERSION)
    token = password.state["result"]
    assert group.get("authToken") == token
    assert version.get("secretString") == token
    assert version.get("secretId") == secret.id
    assert password.get("special") is False
    assert 32 <= password.get("length") <= 128
    assert graph.outputs["auth_secret_arn"] == secret.state["arn"]


def test_secret_on_the_data_key_without_recovery_window(graph: Graph) -> None:
    secret = graph.one(SECRET)
    assert secret.get("name") == load_profile(graph.env).name("cache-auth")
    assert secret.get("kmsKeyId") == fakes.DATA_KEY_ARN
    assert secret.get("recoveryWindowInDays") == 0


def test_private_subnets_security_group_and_port(graph: Graph) -> None:
    profile = load_profile(graph.env)
    group = graph.one(GROUP)
    subnets = graph.one(SUBNETS)
    assert group.get("subnetGroupName") == subnets.get("name") == profile.name("cache-subnets")
    assert subnets.get("subnetIds") == [
        f"subnet-private{i}" for i in range(profile.network.az_count)
    ]
    assert group.get("securityGroupIds") == ["sg-cache"]
    assert group.get("port") == 6379 == graph.outputs["port"]


def test_logs_delivered_to_the_cache_log_groups(graph: Graph) -> None:
    suffix = load_profile(graph.env).suffix
    deliveries = {d["logType"]: d for d in graph.one(GROUP).get("logDeliveryConfigurations")}
    assert deliveries["slow-log"]["destination"] == f"/payment/{suffix}/redis-slow"
    assert deliveries["engine-log"]["destination"] == f"/payment/{suffix}/redis-engine"
    for delivery in deliveries.values():
        assert delivery["destinationType"] == "cloudwatch-logs"
        assert delivery["logFormat"] == "json"


def test_replication_group_id_fits_elasticache_rules(graph: Graph) -> None:
    ident = graph.one(GROUP).get("replicationGroupId")
    assert ident == load_profile(graph.env).name("cache")
    assert len(ident) <= 40 and ident == ident.lower()
    for resource in graph.of_type(GROUP, SUBNETS, SECRET):
        assert resource.delete_before_replace, resource.name
