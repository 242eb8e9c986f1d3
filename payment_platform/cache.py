"""ElastiCache (Valkey) replication group whose clients authenticate with IAM, not a password.

Creates, under one `payment:cache:Cache` component:
- an ElastiCache subnet group on the private subnets (ElastiCache.7: not the default group);
- the service's ElastiCache user (authentication mode IAM, user id = user name, the access string
  `APP_ACCESS_STRING`), a replacement `default` user that is switched off, and the user group
  holding both: no password exists, so none can leak, expire or need rotating;
- the replication group: Valkey, encrypted at rest on the data key and in transit (TLS required,
  which IAM authentication needs), on that user group, `1 + replica_count` nodes spread over
  the AZs with automatic failover and multi-AZ exactly when replicas exist, daily snapshots,
  minor version upgrades, slow and engine logs delivered as JSON to the pre-created CloudWatch
  log groups; modifications are applied at once or in the maintenance window as
  `profile.cache.apply_immediately` says.

No parameter group: the replication group uses ElastiCache's default group for its engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from config import Profile
from payment_platform.component import Scope, component_scope
from payment_platform.keys import KeysOutputs
from payment_platform.logs import LogsOutputs
from payment_platform.network import NetworkOutputs
from payment_platform.security import SecurityOutputs

# NOTE: Valkey, not Redis OSS: node-based Valkey costs "up to 20% lower cost per node", and a
# Redis OSS cache upgrades to Valkey in place "without downtime" (ElastiCache FAQ,
# https://aws.amazon.com/elasticache/faqs/). Valkey 8 speaks the Redis protocol the service uses
# (GET/SET/DEL/PING, ACL users, AUTH with an IAM token: Valkey or Redis OSS 7 and above, per
# "Authenticating with IAM"); the tests' Debian redis-server stands in for it.
ENGINE = "valkey"
ENGINE_VERSION = "8.0"
# NOTE: users and the user group stay on the "redis" engine. "A user group configured for the
# VALKEY engine can only contain users with an authentication mechanism (password or IAM)", so it
# could not hold our switched-off `default` user (no password), and "when using RBAC with Valkey
# clusters, user groups with both engine VALKEY and engine REDIS can be used" (ElastiCache User
# Guide, "Role-Based Access Control (RBAC)", below).
USER_ENGINE = "redis"
PORT = 6379
# The ElastiCache user the API and worker connect as (IAM authentication): only the `payment:`
# keys the status cache uses, only GET/SET/DEL and PING (the client's health check). No
# connection or admin commands (CLIENT KILL, CONFIG, FLUSHALL, KEYS ...) and no pub/sub
# commands (so channel permissions are moot).
# tests/app runs the service against a real Redis ACL user with exactly this string.
APP_ACCESS_STRING = "on ~payment:* -@all +get +set +del +ping"
# NOTE: every user group must contain a user named "default" (CreateUserGroup: "A user named
# default must be included"), and that user is what a client gets without AUTH. Ours is a new
# user under that name, switched off and allowed no command, so only the IAM user can connect.
# ElastiCache access strings take `on`/`off` and ACL rules but no passwords and no `reset`
# (ElastiCache User Guide, "Role-Based Access Control (RBAC)":
# https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.RBAC.html); both strings here
# keep to that.
DEFAULT_USER_NAME = "default"
DEFAULT_ACCESS_STRING = "off -@all"


@dataclass(frozen=True)
class CacheOutputs:
    """Where the tasks reach Redis, and who they connect as.

    Attributes:
        replication_group_id: Id of the replication group (alarm dimension; the host name an
            IAM token is signed for).
        replication_group_arn: ARN of the replication group (`elasticache:Connect`).
        primary_endpoint: Address of the primary node (writes).
        reader_endpoint: Address that spreads reads over the replicas.
        port: The Redis port (TLS).
        app_user_id: The service's ElastiCache user (its id, which is also its user name).
        app_user_arn: ARN of that user (`elasticache:Connect`).
    """

    replication_group_id: pulumi.Output[str]
    replication_group_arn: pulumi.Output[str]
    primary_endpoint: pulumi.Output[str]
    reader_endpoint: pulumi.Output[str]
    port: int
    app_user_id: pulumi.Output[str]
    app_user_arn: pulumi.Output[str]


def build(
    profile: Profile,
    keys: KeysOutputs,
    logs: LogsOutputs,
    network: NetworkOutputs,
    security: SecurityOutputs,
) -> CacheOutputs:
    """Subnet group, users and user group, then the encrypted replication group."""
    scope = component_scope("cache")
    subnet_group = aws.elasticache.SubnetGroup(
        "cache-subnets",
        name=profile.name("cache-subnets"),
        description="ElastiCache Redis: private subnets only",
        subnet_ids=network.private_subnet_ids,
        opts=scope.named,
    )
    app_user = _app_user(profile, scope)
    users = _user_group(profile, app_user, scope)
    group = _replication_group(
        profile, keys, logs, network, security, subnet_group.name, users.user_group_id, scope
    )
    return scope.finish(
        CacheOutputs(
            replication_group_id=group.id,
            replication_group_arn=group.arn,
            primary_endpoint=group.primary_endpoint_address,
            reader_endpoint=group.reader_endpoint_address,
            port=PORT,
            app_user_id=app_user.user_id,
            app_user_arn=app_user.arn,
        )
    )


def _app_user(profile: Profile, scope: Scope) -> aws.elasticache.User:
    """The user the API and worker connect as, with an IAM token signed by their task role."""
    user_id = profile.name("cache-app")
    # NOTE: IAM authentication (Redis OSS 7+, in-transit encryption on) needs a user whose
    # authentication mode is "iam" and whose user id and user name are identical; a client sends
    # AUTH <user> <SigV4 token valid 15 minutes>, and the caller needs elasticache:Connect on
    # both the replication group and the user. An IAM-authenticated connection is closed after
    # 12 hours; the app reconnects with a fresh token. (ElastiCache User Guide, "Authenticating
    # with IAM": https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth-iam.html)
    return aws.elasticache.User(
        "cache-app-user",
        user_id=user_id,
        user_name=user_id,
        engine=USER_ENGINE,
        access_string=APP_ACCESS_STRING,
        authentication_mode=aws.elasticache.UserAuthenticationModeArgs(type="iam"),
        opts=scope.named,
    )


def _user_group(
    profile: Profile, app_user: aws.elasticache.User, scope: Scope
) -> aws.elasticache.UserGroup:
    """The switched-off `default` user and the service's user, the only ones the cache knows."""
    default_user = aws.elasticache.User(
        "cache-default-user",
        user_id=profile.name("cache-default"),
        user_name=DEFAULT_USER_NAME,
        engine=USER_ENGINE,
        access_string=DEFAULT_ACCESS_STRING,
        # "off" refuses every login; CreateUser still wants an authentication mode.
        authentication_mode=aws.elasticache.UserAuthenticationModeArgs(type="no-password-required"),
        opts=scope.named,
    )
    return aws.elasticache.UserGroup(
        "cache-users",
        user_group_id=profile.name("cache-users"),
        engine=USER_ENGINE,
        user_ids=[default_user.user_id, app_user.user_id],
        opts=scope.named,
    )


def _replication_group(
    profile: Profile,
    keys: KeysOutputs,
    logs: LogsOutputs,
    network: NetworkOutputs,
    security: SecurityOutputs,
    subnet_group_name: pulumi.Output[str],
    user_group_id: pulumi.Output[str],
    scope: Scope,
) -> aws.elasticache.ReplicationGroup:
    """Redis across the AZs: encrypted at rest and in transit, failover when replicated."""
    cache = profile.cache
    nodes = 1 + cache.replica_count
    replicated = cache.replica_count > 0
    azs = network.availability_zones
    # NOTE: ElastiCache replication group ids: at most 40 characters, lowercase (AWS lowercases
    # them itself, so a mixed-case id would show a diff forever); the profile checks the length.
    # NOTE: turning transit encryption on for an existing group can replace the group.
    # transit_encryption_mode "required" is set from the start (the "preferred" step exists only
    # for in-place migration). Clients authenticate through the user group (no AUTH token).
    return aws.elasticache.ReplicationGroup(
        "cache",
        replication_group_id=profile.name("cache"),
        description=f"Payment cache ({profile.env}, {profile.suffix})",
        engine=ENGINE,
        engine_version=ENGINE_VERSION,
        node_type=cache.node_type,
        num_cache_clusters=nodes,
        preferred_cache_cluster_azs=[azs[n % len(azs)] for n in range(nodes)],
        port=PORT,
        subnet_group_name=subnet_group_name,
        security_group_ids=[security.cache_security_group_id],
        at_rest_encryption_enabled=True,
        kms_key_id=keys.data_key_arn,
        transit_encryption_enabled=True,
        transit_encryption_mode="required",
        user_group_ids=[user_group_id],
        # Failover needs a replica to promote; multi-AZ needs failover.
        automatic_failover_enabled=replicated,
        multi_az_enabled=replicated,
        snapshot_retention_limit=cache.snapshot_retention_days,
        snapshot_window=cache.snapshot_window,
        maintenance_window=cache.maintenance_window,
        auto_minor_version_upgrade=True,
        # NOTE: with apply_immediately false (prod), ElastiCache holds node type and other
        # modifications as pending until the maintenance window, and the provider reads the
        # current value back, so every `up` until then shows the same pending change in its diff
        # again (terraform-provider-aws documents this for the replication group): expected, not
        # drift. True applies them at once, which can briefly interrupt the nodes.
        apply_immediately=cache.apply_immediately,
        log_delivery_configurations=_log_delivery(logs),
        opts=scope.named,
    )


def _log_delivery(
    logs: LogsOutputs,
) -> list[aws.elasticache.ReplicationGroupLogDeliveryConfigurationArgs]:
    """Slow and engine logs, as JSON, to their pre-created log groups."""
    return [
        aws.elasticache.ReplicationGroupLogDeliveryConfigurationArgs(
            destination=logs.cache_slow_log_group_name,
            destination_type="cloudwatch-logs",
            log_format="json",
            log_type="slow-log",
        ),
        aws.elasticache.ReplicationGroupLogDeliveryConfigurationArgs(
            destination=logs.cache_engine_log_group_name,
            destination_type="cloudwatch-logs",
            log_format="json",
            log_type="engine-log",
        ),
    ]
