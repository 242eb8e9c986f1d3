"""Cache: Valkey encrypted at rest and in transit, clients authenticated by IAM (no password)."""

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
USER = "aws:elasticache/user:User"
USER_GROUP = "aws:elasticache/userGroup:UserGroup"


def _build(profile: Profile) -> None:
    out = cache_builder.build(
        profile, fakes.keys(), fakes.logs(profile), fakes.network(profile), fakes.security()
    )
    pulumi.export("replication_group_arn", out.replication_group_arn)
    pulumi.export("app_user_id", out.app_user_id)
    pulumi.export("app_user_arn", out.app_user_arn)
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
    # Valkey (nodes priced below Redis OSS's); IAM authentication needs Valkey 7.2 or later.
    assert group.get("engine") == "valkey"
    major, minor = (int(part) for part in group.get("engineVersion", "").split("."))
    assert (major, minor) >= (7, 2)
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


def test_no_password_exists_for_the_cache(graph: Graph) -> None:
    group = graph.one(GROUP)
    assert "authToken" not in group.inputs and "authTokenUpdateStrategy" not in group.inputs
    secrets = "aws:secretsmanager/secret:Secret", "random:index/randomPassword:RandomPassword"
    assert graph.of_type(*secrets) == []
    assert all("passwords" not in u.inputs for u in graph.of_type(USER))


def test_the_group_admits_only_the_iam_user_and_a_switched_off_default(graph: Graph) -> None:
    group = graph.one(GROUP)
    users = graph.one(USER_GROUP)
    assert group.get("userGroupIds") == [users.id]
    members = {str(u.id): u for u in graph.of_type(USER)}
    # What CreateUserGroup and a Valkey cluster accept (ElastiCache RBAC): a Redis OSS cluster
    # takes only "redis" user groups; a "valkey" group holds only users that authenticate
    # (password or IAM), so not the switched-off default user.
    allowed = {"redis", "valkey"} if group.get("engine") == "valkey" else {"redis"}
    assert users.get("engine") in allowed
    for user in members.values():
        if users.get("engine") == "valkey":
            assert user.get("authenticationMode", {}).get("type") in {"iam", "password"}
        else:
            assert user.get("engine") == "redis"
    assert sorted(users.get("userIds")) == sorted(members)
    default = [u for u in members.values() if u.get("userName") == "default"]
    assert len(default) == 1 and default[0].get("accessString").split()[0] == "off"
    app = graph.one(USER, "cache-app-user")
    # IAM authentication requires the user id and the user name to be the same.
    assert app.get("userId") == app.get("userName") == graph.outputs["app_user_id"]
    assert app.get("authenticationMode") == {"type": "iam"}
    assert app.get("accessString") == cache_builder.APP_ACCESS_STRING
    assert graph.outputs["app_user_arn"] == app.state["arn"]
    assert graph.outputs["replication_group_arn"] == group.state["arn"]


def test_the_app_user_reaches_only_the_payment_keys_with_no_admin_command() -> None:
    rules = cache_builder.APP_ACCESS_STRING.split()
    assert rules[0] == "on" and "-@all" in rules
    assert [r for r in rules if r.startswith("~")] == ["~payment:*"]
    granted = {r[1:].lower() for r in rules if r.startswith("+")}
    assert granted <= {"get", "set", "del", "ping"}
    assert not any(r.startswith(("+@", "&", "allkeys", "allcommands")) for r in rules)


def test_user_ids_are_per_environment_and_fit_elasticache_rules(graph: Graph) -> None:
    profile = load_profile(graph.env)
    ids = [str(u.get("userId")) for u in graph.of_type(USER)] + [
        str(graph.one(USER_GROUP).get("userGroupId"))
    ]
    assert sorted(ids) == sorted(
        profile.name(s) for s in ("cache-app", "cache-default", "cache-users")
    )
    for ident in ids:
        assert ident == ident.lower() and len(ident) <= 40 and "--" not in ident


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
    for resource in graph.of_type(GROUP, SUBNETS, USER, USER_GROUP):
        assert resource.delete_before_replace, resource.name
