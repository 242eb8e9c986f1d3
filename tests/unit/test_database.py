"""Database: Aurora PostgreSQL Serverless v2, encrypted, TLS-only, managed password."""

from __future__ import annotations

import pulumi
import pytest

from config import Profile
from offline.mocks import AVAILABILITY_ZONES
from offline.recorder import run_program
from payment_platform import database
from resource_graph import Graph, Resource
from tests import fakes
from tests.conftest import ENVIRONMENTS, Graphs, load_profile

CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
PARAMS = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
SUBNETS = "aws:rds/subnetGroup:SubnetGroup"


def _build(profile: Profile) -> None:
    out = database.build(
        profile, fakes.keys(), fakes.logs(profile), fakes.network(profile), fakes.security()
    )
    pulumi.export("master_secret_arn", out.master_secret_arn)
    pulumi.export("instance_identifiers", out.instance_identifiers)
    pulumi.export("port", out.port)


def _graph(graphs: Graphs, env: str) -> Graph:
    return graphs.builder("database", env, _build)


@pytest.fixture(params=ENVIRONMENTS)
def graph(request: pytest.FixtureRequest, graphs: Graphs) -> Graph:
    return _graph(graphs, request.param)


def _instances(graph: Graph) -> list[Resource]:
    return sorted(graph.of_type(INSTANCE), key=lambda r: r.name)


def test_component_parents_every_resource(graph: Graph) -> None:
    component = graph.one("payment:database:Database", "database")
    assert all(r.parent == component.urn for r in graph if r is not component)


def test_serverless_v2_scaling_follows_the_profile(graphs: Graphs, env: str) -> None:
    db = load_profile(env).database
    cluster = _graph(graphs, env).one(CLUSTER)
    assert cluster.get("engine") == "aurora-postgresql"
    assert cluster.get("engineMode") == "provisioned"
    scaling = cluster.get("serverlessv2ScalingConfiguration")
    assert (scaling["minCapacity"], scaling["maxCapacity"]) == (db.min_acu, db.max_acu)
    # auto-pause only where the writer may scale to 0 (AWS refuses it otherwise)
    pauses = scaling.get("secondsUntilAutoPause")
    assert pauses == (db.seconds_until_auto_pause if db.min_acu == 0 else None)


def test_engine_version_supports_zero_acu() -> None:
    major, minor = (int(p) for p in database.ENGINE_VERSION.split("."))
    assert (major == 16 and minor >= 3) or (major == 15 and minor >= 7)
    assert f"aurora-postgresql{major}" == database.PARAMETER_FAMILY


def test_writer_plus_readers_spread_over_azs(graphs: Graphs, env: str) -> None:
    graph = _graph(graphs, env)
    profile = load_profile(env)
    instances = _instances(graph)
    assert len(instances) == 1 + profile.database.reader_count
    azs = AVAILABILITY_ZONES[: profile.network.az_count]
    assert [i.get("availabilityZone") for i in instances] == [
        azs[n % len(azs)] for n in range(len(instances))
    ]
    if len(instances) > 1:
        assert len({i.get("availabilityZone") for i in instances}) == min(len(instances), len(azs))
    assert [i.get("identifier") for i in instances] == [
        f"{profile.name('db-instance')}-{n}" for n in range(len(instances))
    ]
    assert graph.outputs["instance_identifiers"] == [i.get("identifier") for i in instances]
    writer, *reader_list = instances
    assert writer.get("promotionTier") == 0
    for reader in reader_list:
        assert reader.get("promotionTier") == 1  # tier 0-1 readers scale with the writer
        assert writer.urn in reader.dependencies  # the writer is created first


def test_instances_are_serverless_private_and_upgrade(graph: Graph) -> None:
    cluster = graph.one(CLUSTER)
    for instance in graph.of_type(INSTANCE):
        assert instance.get("instanceClass") == "db.serverless"
        assert instance.get("publiclyAccessible") is False
        assert instance.get("autoMinorVersionUpgrade") is True
        assert instance.get("clusterIdentifier") == cluster.id
        assert instance.get("engineVersion") == cluster.get("engineVersion")


def test_performance_insights_on_the_data_key(graph: Graph) -> None:
    # Every committed environment enables it (the 7-day tier is free) so wiring is identical.
    for instance in graph.of_type(INSTANCE):
        assert instance.get("performanceInsightsEnabled") is True
        assert instance.get("performanceInsightsKmsKeyId") == fakes.DATA_KEY_ARN
        assert instance.get("performanceInsightsRetentionPeriod") == 7


def test_performance_insights_follows_the_profile() -> None:
    base = load_profile("dev")
    profile = base.model_copy(
        update={"database": base.database.model_copy(update={"performance_insights": False})}
    )

    def program() -> None:
        database.build(
            profile, fakes.keys(), fakes.logs(profile), fakes.network(profile), fakes.security()
        )

    for instance in run_program(program, env="dev").of_type(INSTANCE):
        assert instance.get("performanceInsightsEnabled") is False
        assert "performanceInsightsKmsKeyId" not in instance.inputs


def test_storage_encrypted_with_the_data_key(graph: Graph) -> None:
    cluster = graph.one(CLUSTER)
    assert cluster.get("storageEncrypted") is True
    assert cluster.get("kmsKeyId") == fakes.DATA_KEY_ARN


def test_master_password_managed_by_rds_on_the_data_key(graph: Graph) -> None:
    cluster = graph.one(CLUSTER)
    assert cluster.get("manageMasterUserPassword") is True
    assert cluster.get("masterUserSecretKmsKeyId") == fakes.DATA_KEY_ARN
    assert "masterPassword" not in cluster.inputs
    assert "masterPasswordWo" not in cluster.inputs
    username = cluster.get("masterUsername")
    assert username == load_profile(graph.env).database.master_username
    assert username not in {"postgres", "admin", "root"}
    assert graph.outputs["master_secret_arn"] == cluster.state["masterUserSecrets"][0]["secretArn"]


def test_parameter_group_forces_tls_and_logs_queries(graph: Graph) -> None:
    cluster = graph.one(CLUSTER)
    group = graph.one(PARAMS)
    assert cluster.get("dbClusterParameterGroupName") == group.get("name")
    assert group.get("family") == "aurora-postgresql" + cluster.get("engineVersion").split(".")[0]
    params = {p["name"]: p["value"] for p in group.get("parameters")}
    assert params["rds.force_ssl"] == "1"
    assert params["log_connections"] == "1"
    assert params["log_disconnections"] == "1"
    assert int(params["log_min_duration_statement"]) > 0


def test_backups_follow_the_profile(graphs: Graphs, env: str) -> None:
    profile = load_profile(env)
    cluster = _graph(graphs, env).one(CLUSTER)
    assert cluster.get("backupRetentionPeriod") == profile.database.backup_retention_days
    assert cluster.get("preferredBackupWindow") == profile.database.preferred_backup_window
    assert (
        cluster.get("preferredMaintenanceWindow") == profile.database.preferred_maintenance_window
    )
    assert cluster.get("copyTagsToSnapshot") is True


def test_iam_auth_and_log_export(graph: Graph) -> None:
    cluster = graph.one(CLUSTER)
    assert cluster.get("iamDatabaseAuthenticationEnabled") is True
    assert cluster.get("enabledCloudwatchLogsExports") == ["postgresql"]
    assert cluster.get("autoMinorVersionUpgrade") is True


def test_private_network_and_security_group(graph: Graph) -> None:
    profile = load_profile(graph.env)
    cluster = graph.one(CLUSTER)
    subnets = graph.one(SUBNETS)
    assert cluster.get("dbSubnetGroupName") == subnets.get("name") == profile.name("db-subnets")
    assert subnets.get("subnetIds") == [
        f"subnet-private{i}" for i in range(profile.network.az_count)
    ]
    assert cluster.get("vpcSecurityGroupIds") == ["sg-database"]
    assert cluster.get("port") == 5432 == graph.outputs["port"]


def test_destroyable_and_named(graph: Graph) -> None:
    profile = load_profile(graph.env)
    cluster = graph.one(CLUSTER)
    assert cluster.get("clusterIdentifier") == profile.name("db")
    assert cluster.get("deletionProtection") is False
    assert cluster.get("skipFinalSnapshot") is True
    assert cluster.get("deleteAutomatedBackups") is True
    for resource in graph.of_type(CLUSTER, INSTANCE, PARAMS, SUBNETS):
        assert resource.delete_before_replace, resource.name
    # auto minor upgrades move the engine past the pinned version: never "downgrade" it
    for resource in graph.of_type(CLUSTER, INSTANCE):
        assert "engineVersion" in resource.ignore_changes
