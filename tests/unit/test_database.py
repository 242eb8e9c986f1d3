"""Database: Aurora PostgreSQL Serverless v2, encrypted, TLS-only, managed password."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pulumi
import pytest

from config import Profile
from config.profile import SUPPORTED_ENGINE_VERSIONS, DatabaseConfig
from guardrails.facts import container_definitions
from guardrails.rules.design import destroyable
from offline.mocks import ACCOUNT_ID, AVAILABILITY_ZONES, REGION
from offline.recorder import run_program
from payment_platform import database, storage
from resource_graph import Graph, Resource
from tests import fakes
from tests.conftest import ENVIRONMENTS, Graphs, config_error, load_profile, resolve_at

CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
PARAMS = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
SUBNETS = "aws:rds/subnetGroup:SubnetGroup"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
PARAMS_NAME = "random:index/randomId:RandomId"
MONITORING_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
# DeleteDBCluster's FinalDBSnapshotIdentifier: 1-255 letters, digits or hyphens, a letter first,
# no trailing or double hyphen.
SNAPSHOT_ID = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,254}(?<!-)$")


def _build(profile: Profile) -> None:
    out = database.build(
        profile, fakes.keys(), fakes.logs(profile), fakes.network(profile), fakes.security()
    )
    pulumi.export("master_secret_arn", out.master_secret_arn)
    pulumi.export("app_username", out.app_username)
    pulumi.export("app_user_arn", out.app_user_arn)
    pulumi.export("instance_identifiers", out.instance_identifiers)
    pulumi.export("port", out.port)


def _graph(graphs: Graphs, env: str) -> Graph:
    return graphs.builder("database", env, _build)


def _with_database(profile: Profile, **update: Any) -> Profile:
    return profile.model_copy(update={"database": profile.database.model_copy(update=update)})


def _protected(profile: Profile, protect: bool = True) -> Profile:
    deployment = profile.deployment.model_copy(update={"protect_data": protect})
    return profile.model_copy(update={"deployment": deployment})


def _record(profile: Profile) -> Graph:
    return run_program(lambda: _build(profile), env=profile.env)


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


def test_engine_version_and_family_follow_the_profile(graph: Graph) -> None:
    version = load_profile(graph.env).database.engine_version
    for resource in graph.of_type(CLUSTER, INSTANCE):
        assert resource.get("engineVersion") == version, resource.name
    assert graph.one(PARAMS).get("family") == f"aurora-postgresql{version.split('.')[0]}"


def test_another_supported_version_moves_cluster_instances_and_family(root: Path, env: str) -> None:
    current = load_profile(env).database.engine_version
    for version in (v for v in SUPPORTED_ENGINE_VERSIONS if v != current):
        graph = _record(resolve_at(root, env, database={"engine_version": version}).profile)
        assert {r.get("engineVersion") for r in graph.of_type(CLUSTER, INSTANCE)} == {version}
        assert graph.one(PARAMS).get("family") == database.parameter_family(version)


def test_family_is_derived_from_the_major() -> None:
    assert database.parameter_family("16.9") == "aurora-postgresql16"
    assert database.parameter_family("17.4") == "aurora-postgresql17"


def test_a_new_major_gets_a_new_parameter_group_first() -> None:
    # model_copy skips validation: a major the profile does not accept yet, to show the wiring.
    base = load_profile("dev")
    before, after = _record(base), _record(_with_database(base, engine_version="17.4"))
    assert after.one(PARAMS).get("family") == "aurora-postgresql17"
    # the name token is keyed on the family: a new group (new name) is created before the old
    # one, still in use by the cluster, is deleted
    keepers = [g.one(PARAMS_NAME, "database-params-name").get("keepers") for g in (before, after)]
    assert keepers[0]["family"] != keepers[1]["family"] == "aurora-postgresql17"
    assert not after.one(PARAMS).delete_before_replace


def test_unsupported_engine_version_is_a_config_error(root: Path) -> None:
    unsupported = "16.0"
    assert unsupported not in SUPPORTED_ENGINE_VERSIONS
    message = config_error(root, database={"engine_version": unsupported})
    assert "database.engine_version" in message
    assert all(version in message for version in SUPPORTED_ENGINE_VERSIONS)


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


def test_the_app_connects_by_iam_as_its_own_role_on_this_cluster(graph: Graph) -> None:
    cluster = graph.one(CLUSTER)
    assert cluster.get("iamDatabaseAuthenticationEnabled") is True
    app = graph.outputs["app_username"]
    assert app == database.APP_DB_USER != load_profile(graph.env).database.master_username
    # rds-db:connect names the cluster by its resource id, and exactly one database role.
    assert graph.outputs["app_user_arn"] == (
        f"arn:aws:rds-db:{REGION}:{ACCOUNT_ID}:dbuser:{cluster.state['clusterResourceId']}/{app}"
    )


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


def test_named_and_replaced_delete_first(graph: Graph) -> None:
    profile = load_profile(graph.env)
    cluster = graph.one(CLUSTER)
    assert cluster.get("clusterIdentifier") == profile.name("db")
    for resource in graph.of_type(CLUSTER, INSTANCE, SUBNETS, ROLE):
        assert resource.delete_before_replace, resource.name
    # the cluster still names the old parameter group while it is replaced: new one first
    group = graph.one(PARAMS)
    assert not group.delete_before_replace
    assert re.fullmatch(re.escape(profile.name("db-params")) + r"-[0-9a-f]{4}", group.get("name"))
    # auto minor upgrades move the engine past the profile's version: never "downgrade" it
    for resource in graph.of_type(CLUSTER, INSTANCE):
        assert "engineVersion" in resource.ignore_changes


def _trust(role: Resource) -> dict[str, Any]:
    (statement,) = role.policy("assumeRolePolicy")["Statement"]
    return dict(statement)


def test_every_instance_monitored_through_the_monitoring_role(graph: Graph) -> None:
    profile = load_profile(graph.env)
    interval = profile.database.monitoring_interval_seconds
    if interval == 0:
        assert graph.of_type(ROLE, ATTACHMENT) == []
        return
    role, attachment = graph.one(ROLE), graph.one(ATTACHMENT)
    assert role.get("name") == profile.name("db-monitoring")
    trust = _trust(role)
    assert trust["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT_ID}
    assert attachment.get("role") == role.get("name")
    assert attachment.get("policyArn") == MONITORING_POLICY
    for instance in graph.of_type(INSTANCE):
        assert instance.get("monitoringInterval") == interval
        assert instance.get("monitoringRoleArn") == role.state["arn"]
        # RDS checks the role's permissions when it creates the instance
        assert attachment.urn in instance.dependencies, instance.name


@pytest.mark.parametrize("interval", [1, 15])
def test_monitoring_interval_follows_the_profile(interval: int) -> None:
    graph = _record(_with_database(load_profile("staging"), monitoring_interval_seconds=interval))
    assert {i.get("monitoringInterval") for i in graph.of_type(INSTANCE)} == {interval}


def test_interval_zero_creates_no_monitoring_role() -> None:
    graph = _record(_with_database(load_profile("dev"), monitoring_interval_seconds=0))
    assert graph.of_type(ROLE, ATTACHMENT) == []
    for instance in graph.of_type(INSTANCE):
        assert instance.get("monitoringInterval") == 0
        assert "monitoringRoleArn" not in instance.inputs


def test_production_refuses_monitoring_off(root: Path) -> None:
    production = [e for e in ENVIRONMENTS if load_profile(e).deployment.production]
    assert production
    for env in production:
        message = config_error(root, env, database={"monitoring_interval_seconds": 0})
        assert "deployment.production" in message
        assert "database.monitoring_interval_seconds" in message


def _assert_destroyable(graph: Graph) -> None:
    cluster = graph.one(CLUSTER)
    assert cluster.get("deletionProtection") is False
    assert cluster.get("skipFinalSnapshot") is True
    assert "finalSnapshotIdentifier" not in cluster.inputs
    assert cluster.get("deleteAutomatedBackups") is True
    assert not any(r.protect for r in graph)


def _assert_protected(graph: Graph, profile: Profile) -> None:
    cluster = graph.one(CLUSTER)
    assert cluster.get("deletionProtection") is True
    assert cluster.get("skipFinalSnapshot") is False
    snapshot = cluster.get("finalSnapshotIdentifier")
    assert snapshot == profile.name("db-final") and SNAPSHOT_ID.match(snapshot)
    assert cluster.get("deleteAutomatedBackups") is False
    # destroy deletes the instances before their cluster: both are protected
    assert all(r.protect for r in graph.of_type(CLUSTER, INSTANCE))


def test_protection_follows_the_profile(graph: Graph) -> None:
    profile = load_profile(graph.env)
    if profile.deployment.protect_data:
        _assert_protected(graph, profile)
    else:
        _assert_destroyable(graph)


@pytest.mark.parametrize("protect", [True, False])
def test_protect_data_switches_the_database(env: str, protect: bool) -> None:
    profile = _protected(load_profile(env), protect)
    graph = _record(profile)
    if protect:
        _assert_protected(graph, profile)
    else:
        _assert_destroyable(graph)
    # the protection changes nothing else: names and replacement order stay the same
    assert graph.one(CLUSTER).get("clusterIdentifier") == profile.name("db")


def test_protected_data_meets_the_destroyable_guardrail(env: str) -> None:
    """The builders and the guardrail agree on what a protected stack keeps."""
    profile = _protected(load_profile(env))

    def program() -> None:
        _build(profile)
        storage.build(profile, fakes.keys())
        pulumi.export("protect_data", profile.deployment.protect_data)

    graph = run_program(program, env=env)
    assert destroyable.check(graph) == []
    unprotected = dataclasses.replace(graph, outputs={"protect_data": False})
    assert {v.resource.split(" ", 1)[1] for v in destroyable.check(unprotected)} >= {
        "database",
        "transaction-logs",
        "access-logs",
    }


def test_the_service_pools_let_an_idle_database_pause(graphs: Graphs, env: str) -> None:
    """Auto-pause needs zero connections: the app's pools close idle ones well before it pauses.

    The pools keep no minimum and close a connection idle for `db_pool_idle_seconds`; that must
    be below the shortest auto-pause delay any profile may set, or a 0-ACU writer never pauses.
    """
    from payment_app.config import Settings

    idle = {f.name: f.default for f in dataclasses.fields(Settings)}["db_pool_idle_seconds"]
    field = DatabaseConfig.model_fields["seconds_until_auto_pause"]
    shortest_pause = next(m.ge for m in field.metadata if hasattr(m, "ge"))
    assert isinstance(idle, int) and idle < shortest_pause
    # The task definitions do not override the app's idle lifetime.
    task_definitions = graphs.environment(env).of_type("aws:ecs/taskDefinition:TaskDefinition")
    names = {
        e["name"]
        for td in task_definitions
        for c in container_definitions(td)
        for e in c.get("environment", [])
    }
    assert task_definitions and not names & {"DB_POOL_IDLE_SECONDS", "DB_POOL_MIN"}
