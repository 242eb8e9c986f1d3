"""Aurora PostgreSQL Serverless v2.

Creates, under one `payment:database:Database` component:
- a DB subnet group on the private subnets (the database is never reachable from outside);
- a cluster parameter group that forces TLS (`rds.force_ssl`) and turns on query logging
  (connections, disconnections, slow and DDL statements) for the exported PostgreSQL log;
- the cluster: storage encrypted with the data key, master password generated and kept by RDS
  in Secrets Manager on the data key (no password in code or state), IAM authentication,
  backups with the profile's retention, log export to CloudWatch, Serverless v2 scaling from
  the profile (down to 0 ACU with auto-pause where the profile allows it);
- a writer plus `profile.database.reader_count` readers of class `db.serverless`, spread over
  the AZs, with Performance Insights on the data key where the profile enables it, and Enhanced
  Monitoring at the profile's interval through a monitoring role (no role when it is 0).

The engine version comes from the profile (`database.engine_version`). By default everything is
destroyable: no deletion protection, no final snapshot, automated backups deleted. With
`deployment.protect_data` the cluster keeps deletion protection, a final snapshot and its automated
backups, and the cluster and its instances carry Pulumi's `protect`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from config import Profile
from payment_platform.component import Scope, after, component_scope
from payment_platform.iam import service_role
from payment_platform.keys import KeysOutputs
from payment_platform.logs import LogsOutputs
from payment_platform.network import NetworkOutputs
from payment_platform.replaceable import replaceable_name
from payment_platform.security import SecurityOutputs

ENGINE = aws.rds.EngineType.AURORA_POSTGRESQL  # "aurora-postgresql"
# NOTE: the engine version is the profile's (`database.engine_version`, one of
# config.profile.SUPPORTED_ENGINE_VERSIONS: minors that support Serverless v2 with 0 ACU, so dev
# can pause while prod keeps a floor). The parameter group family follows its major.
PORT = 5432
# The PostgreSQL role the API and worker log in as, with an IAM token (the migrations create it
# and GRANT rds_iam); it owns nothing and can only read and write the service's tables.
APP_DB_USER = "payment_app"
INSTANCE_CLASS = "db.serverless"
# Performance Insights' free tier: 7 days of history.
PERFORMANCE_INSIGHTS_RETENTION_DAYS = 7
# Statements slower than this (milliseconds) are logged with their duration.
SLOW_STATEMENT_MS = 1000
MONITORING_SERVICE = "monitoring.rds.amazonaws.com"
# The AWS managed policy RDS documents for the Enhanced Monitoring role (logs on RDS* groups).
MONITORING_POLICY = "iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"


@dataclass(frozen=True)
class DatabaseOutputs:
    """Where the tasks connect, and what alarms and migrations need to know.

    Attributes:
        cluster_arn: ARN of the Aurora cluster.
        cluster_identifier: Cluster identifier (alarm and dashboard dimension).
        cluster_resource_id: The cluster's resource id (`rds-db:connect` ARNs for IAM auth).
        writer_endpoint: Cluster endpoint that always points at the writer.
        reader_endpoint: Endpoint that spreads connections over the readers.
        port: The PostgreSQL port.
        database_name: Name of the application database.
        master_username: The master user's name (not the default `postgres`).
        master_secret_arn: ARN of the RDS-managed master secret, on the data key. Only the
            migrations use it, fetching it when they run; no task definition injects it.
        app_username: The PostgreSQL role the API and worker log in as (IAM authentication).
        app_user_arn: The `rds-db:connect` resource of that role on this cluster:
            `arn:aws:rds-db:<region>:<account>:dbuser:<cluster resource id>/<role>`.
        instance_identifiers: Identifiers of the writer and readers, writer first.
    """

    cluster_arn: pulumi.Output[str]
    cluster_identifier: pulumi.Output[str]
    cluster_resource_id: pulumi.Output[str]
    writer_endpoint: pulumi.Output[str]
    reader_endpoint: pulumi.Output[str]
    port: int
    database_name: str
    master_username: str
    master_secret_arn: pulumi.Output[str]
    app_username: str
    app_user_arn: pulumi.Output[str]
    instance_identifiers: list[pulumi.Output[str]]


@dataclass(frozen=True)
class _Monitoring:
    """The Enhanced Monitoring role, and the attachment its instances must wait for."""

    role_arn: pulumi.Output[str]
    attachment: aws.iam.RolePolicyAttachment


def parameter_family(engine_version: str) -> str:
    """The cluster parameter group family of a version: `aurora-postgresql<major>`.

    A family holds one major version, so a major upgrade is a new family (and a new group).
    """
    return f"{ENGINE.value}{engine_version.split('.', 1)[0]}"


def dbuser_arn(cluster_resource_id: pulumi.Input[str], username: str) -> pulumi.Output[str]:
    """The exact resource `rds-db:connect` grants: one database role on one cluster.

    The cluster is named by its resource id (`cluster-...`), not its identifier, so a cluster
    recreated under the same name is a different resource. (Aurora User Guide, "Creating and
    using an IAM policy for IAM database access".)
    """
    caller = aws.get_caller_identity_output()
    region = aws.get_region_output()
    return pulumi.Output.concat(
        "arn:aws:rds-db:",
        region.region,
        ":",
        caller.account_id,
        ":dbuser:",
        cluster_resource_id,
        "/",
        username,
    )


def _scaling(profile: Profile) -> aws.rds.ClusterServerlessv2ScalingConfigurationArgs:
    db = profile.database
    # NOTE: seconds_until_auto_pause is only valid (and only meaningful) with min_capacity 0;
    # AWS rejects it otherwise.
    pause = db.seconds_until_auto_pause if db.min_acu == 0 else None
    return aws.rds.ClusterServerlessv2ScalingConfigurationArgs(
        min_capacity=db.min_acu, max_capacity=db.max_acu, seconds_until_auto_pause=pause
    )


def build(
    profile: Profile,
    keys: KeysOutputs,
    logs: LogsOutputs,
    network: NetworkOutputs,
    security: SecurityOutputs,
) -> DatabaseOutputs:
    """Subnet group, TLS-forcing parameter group, the cluster, then its instances."""
    scope = component_scope("database")
    db = profile.database
    subnet_group = aws.rds.SubnetGroup(
        "database-subnets",
        name=profile.name("db-subnets"),
        description="Aurora PostgreSQL: private subnets only",
        subnet_ids=network.private_subnet_ids,
        opts=scope.named,
    )
    parameters = _parameter_group(profile, scope)
    cluster = _cluster(profile, keys, logs, security, subnet_group.name, parameters.name, scope)
    monitoring = _monitoring(profile, scope)
    instances = _instances(profile, keys, network, cluster, monitoring, scope)
    return scope.finish(
        DatabaseOutputs(
            cluster_arn=cluster.arn,
            cluster_identifier=cluster.cluster_identifier,
            cluster_resource_id=cluster.cluster_resource_id,
            # NOTE: the cluster endpoint exists minutes before the writer instance that serves
            # it; whatever takes the endpoint (the task definitions, so the services) waits for
            # the writer, or the API's start-up migrations give up and the rollout fails.
            writer_endpoint=after(cluster.endpoint, [instances[0].id]),
            reader_endpoint=cluster.reader_endpoint,
            port=PORT,
            database_name=db.database_name,
            master_username=db.master_username,
            master_secret_arn=cluster.master_user_secrets.apply(lambda s: s[0].secret_arn or ""),
            app_username=APP_DB_USER,
            app_user_arn=dbuser_arn(cluster.cluster_resource_id, APP_DB_USER),
            instance_identifiers=[instance.identifier for instance in instances],
        )
    )


def _parameter_group(profile: Profile, scope: Scope) -> aws.rds.ClusterParameterGroup:
    """TLS required, connection and query logging for the exported PostgreSQL log."""
    family = parameter_family(profile.database.engine_version)
    description = "Aurora PostgreSQL: TLS required, connection and query logging"
    # NOTE: the cluster names this group and is only updated when it changes, and RDS refuses to
    # delete a group in use (InvalidDBParameterGroupState): a new family (a major upgrade) must
    # create the new group first. ForceNew on aws_rds_cluster_parameter_group: name,
    # name_prefix, family, description (terraform-provider-aws, cluster_parameter_group.go).
    return aws.rds.ClusterParameterGroup(
        "database-params",
        name=replaceable_name(
            "database-params",
            profile.name("db-params"),
            replaced_by={"family": family, "description": description},
            opts=scope.child,
        ),
        family=family,
        description=description,
        parameters=[
            # NOTE: "pending-reboot" is accepted for static and dynamic parameters alike, and a
            # new cluster boots with the group's values, so TLS is forced from the first start.
            aws.rds.ClusterParameterGroupParameterArgs(
                name="rds.force_ssl", value="1", apply_method="pending-reboot"
            ),
            aws.rds.ClusterParameterGroupParameterArgs(name="log_connections", value="1"),
            aws.rds.ClusterParameterGroupParameterArgs(name="log_disconnections", value="1"),
            aws.rds.ClusterParameterGroupParameterArgs(
                name="log_min_duration_statement", value=str(SLOW_STATEMENT_MS)
            ),
            aws.rds.ClusterParameterGroupParameterArgs(name="log_statement", value="ddl"),
        ],
        opts=scope.child,
    )


def _cluster(
    profile: Profile,
    keys: KeysOutputs,
    logs: LogsOutputs,
    security: SecurityOutputs,
    subnet_group_name: pulumi.Output[str],
    parameter_group_name: pulumi.Output[str],
    scope: Scope,
) -> aws.rds.Cluster:
    """The encrypted, IAM-authenticated Serverless v2 cluster; protected with `protect_data`."""
    db = profile.database
    protect = profile.deployment.protect_data
    # NOTE: Aurora Serverless v2 is a cluster with engine_mode "provisioned" plus separate
    # cluster instances of class db.serverless; the cluster alone has no instance to connect to.
    # NOTE: the export below writes to /aws/rds/cluster/<cluster id>/postgresql, which RDS
    # creates itself (unencrypted, never expiring) when it is missing. The logs builder owns it,
    # and the cluster depends on it, so destroy deletes the cluster first: otherwise the group
    # goes first, RDS recreates it while the cluster shuts down, and the next `up` fails with
    # ResourceAlreadyExistsException (terraform-provider-aws #42858).
    return aws.rds.Cluster(
        "database",
        cluster_identifier=after(profile.name("db"), [logs.database_log_group_name]),
        engine=ENGINE,
        engine_mode="provisioned",
        engine_version=db.engine_version,
        database_name=db.database_name,
        master_username=db.master_username,
        # RDS generates the password and keeps it in a Secrets Manager secret it rotates itself
        # (rotation of that secret is RDS's, every 7 days by default), on the data key.
        manage_master_user_password=True,
        master_user_secret_kms_key_id=keys.data_key_arn,
        storage_encrypted=True,
        kms_key_id=keys.data_key_arn,
        iam_database_authentication_enabled=True,
        port=PORT,
        db_subnet_group_name=subnet_group_name,
        vpc_security_group_ids=[security.database_security_group_id],
        db_cluster_parameter_group_name=parameter_group_name,
        serverlessv2_scaling_configuration=_scaling(profile),
        backup_retention_period=db.backup_retention_days,
        preferred_backup_window=db.preferred_backup_window,
        preferred_maintenance_window=db.preferred_maintenance_window,
        enabled_cloudwatch_logs_exports=["postgresql"],
        copy_tags_to_snapshot=True,
        auto_minor_version_upgrade=True,
        deletion_protection=protect,
        skip_final_snapshot=not protect,
        # NOTE: DeleteDBCluster's FinalDBSnapshotIdentifier: 1-255 letters, digits or hyphens,
        # a letter first, no trailing or double hyphen; payment-db-final-<suffix> is (the suffix
        # pattern forbids both hyphen forms).
        final_snapshot_identifier=profile.name("db-final") if protect else None,
        delete_automated_backups=not protect,
        opts=scope.opts(
            delete_before_replace=True,
            protect=protect,
            # NOTE: with auto minor version upgrades AWS moves the cluster past the profile's
            # engine_version; without this the next `up` would try to "downgrade" it and fail.
            ignore_changes=["engine_version"],
        ),
    )


def _monitoring(profile: Profile, scope: Scope) -> _Monitoring | None:
    """The role Enhanced Monitoring publishes OS metrics through (none when the interval is 0)."""
    if profile.database.monitoring_interval_seconds == 0:
        return None
    invoke = pulumi.InvokeOutputOptions(parent=scope.component)
    # NOTE: the RDS User Guide ("Setting up and enabling Enhanced Monitoring", "Protecting against
    # the confused deputy problem") recommends aws:SourceAccount (and aws:SourceArn) in the trust
    # policy of the monitoring role, so service_role's aws:SourceAccount condition applies. Its
    # aws:SourceArn form names a DB instance (arn:aws:rds:<region>:<account>:db:<name>); it is
    # left out since a mismatch fails instance creation and the form is not confirmed for Aurora.
    role = service_role(
        "database-monitoring-role",
        name=profile.name("db-monitoring"),
        service=MONITORING_SERVICE,
        account_id=aws.get_caller_identity_output(opts=invoke).account_id,
        description="RDS Enhanced Monitoring: OS metrics of the Aurora instances to CloudWatch",
        opts=scope.child,
    )
    partition = aws.get_partition_output(opts=invoke).partition
    # NOTE: the metrics go to the RDSOSMetrics log group, which RDS creates itself (the managed
    # policy allows logs:CreateLogGroup on RDS*) and shares between every RDS instance of the
    # account in the region: it belongs to the account, not to one environment.
    attachment = aws.iam.RolePolicyAttachment(
        "database-monitoring-policy",
        role=role.name,
        policy_arn=pulumi.Output.concat("arn:", partition, ":", MONITORING_POLICY),
        opts=scope.child,
    )
    return _Monitoring(role_arn=role.arn, attachment=attachment)


def _instances(
    profile: Profile,
    keys: KeysOutputs,
    network: NetworkOutputs,
    cluster: aws.rds.Cluster,
    monitoring: _Monitoring | None,
    scope: Scope,
) -> list[aws.rds.ClusterInstance]:
    """The writer (instance 0) and `reader_count` readers of class db.serverless."""
    db = profile.database
    azs = network.availability_zones
    # NOTE: RDS checks the monitoring role's permissions when it creates the instance: created
    # before the policy is attached, it fails with "IAM role ARN value is invalid or does not
    # include the required permissions for: ENHANCED_MONITORING" (a race reported against the
    # claranet/terraform-aws-aurora module), so every instance waits for the attachment.
    role_ready: list[pulumi.Resource] = [monitoring.attachment] if monitoring else []
    instances: list[aws.rds.ClusterInstance] = []
    for n in range(1 + db.reader_count):
        instances.append(
            aws.rds.ClusterInstance(
                f"database-instance-{n}",
                identifier=f"{profile.name('db-instance')}-{n}",
                cluster_identifier=cluster.id,
                engine=ENGINE,
                engine_version=db.engine_version,
                instance_class=INSTANCE_CLASS,
                availability_zone=azs[n % len(azs)],
                # Readers in tier 0-1 scale with the writer, so a failover target is warm.
                promotion_tier=0 if n == 0 else 1,
                publicly_accessible=False,
                auto_minor_version_upgrade=True,
                copy_tags_to_snapshot=True,
                performance_insights_enabled=db.performance_insights,
                performance_insights_kms_key_id=(
                    keys.data_key_arn if db.performance_insights else None
                ),
                performance_insights_retention_period=(
                    PERFORMANCE_INSIGHTS_RETENTION_DAYS if db.performance_insights else None
                ),
                monitoring_interval=db.monitoring_interval_seconds,
                monitoring_role_arn=monitoring.role_arn if monitoring else None,
                opts=scope.opts(
                    delete_before_replace=True,
                    # Destroy deletes instances before their cluster: they are protected with it.
                    protect=profile.deployment.protect_data,
                    ignore_changes=["engine_version"],
                    # NOTE: the first instance to become available is the writer; readers wait
                    # for instance 0 so the writer is the one this program calls the writer.
                    depends_on=[*instances[:1], *role_ready],
                ),
            )
        )
    return instances
