"""ElastiCache Redis replication group with an AUTH token in Secrets Manager.

Creates, under one `payment:cache:Cache` component:
- an ElastiCache subnet group on the private subnets (ElastiCache.7: not the default group);
- the AUTH token: a random password, stored as a plain string in a Secrets Manager secret on
  the data key (the tasks receive it through ECS `secrets`, never in clear);
- the replication group: Redis, encrypted at rest on the data key and in transit (TLS required),
  AUTH token, `1 + replica_count` nodes spread over the AZs with automatic failover and
  multi-AZ exactly when replicas exist, daily snapshots, minor version upgrades, slow and engine
  logs delivered as JSON to the pre-created CloudWatch log groups; modifications are applied at
  once or in the maintenance window as `profile.cache.apply_immediately` says.

No parameter group: the replication group uses ElastiCache's default group for its engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from config import Profile
from payment_platform.component import Scope, component_scope
from payment_platform.keys import KeysOutputs
from payment_platform.logs import LogsOutputs
from payment_platform.network import NetworkOutputs
from payment_platform.security import SecurityOutputs

ENGINE = "redis"
ENGINE_VERSION = "7.1"
PORT = 6379
# The ElastiCache user the API and worker connect as (IAM authentication): only the `payment:`
# keys the status cache uses, only GET/SET/DEL and PING (the client's health check). No
# connection or admin commands (CLIENT KILL, CONFIG, FLUSHALL, KEYS ...) and no pub/sub
# commands (so channel permissions are moot).
# tests/app runs the service against a real Redis ACL user with exactly this string.
APP_ACCESS_STRING = "on ~payment:* -@all +get +set +del +ping"
# Redis AUTH tokens: 16 to 128 printable characters; letters and digits only avoids the
# characters AUTH forbids (space, ", /, @) and any quoting problem in clients.
AUTH_TOKEN_LENGTH = 64


@dataclass(frozen=True)
class CacheOutputs:
    """Where the tasks reach Redis and the secret that authenticates them.

    Attributes:
        replication_group_id: Id of the replication group (alarm dimension).
        primary_endpoint: Address of the primary node (writes).
        reader_endpoint: Address that spreads reads over the replicas.
        port: The Redis port (TLS).
        auth_secret_arn: ARN of the AUTH token secret, handed on once the token is stored.
    """

    replication_group_id: pulumi.Output[str]
    primary_endpoint: pulumi.Output[str]
    reader_endpoint: pulumi.Output[str]
    port: int
    auth_secret_arn: pulumi.Output[str]


@dataclass(frozen=True)
class _AuthToken:
    token: pulumi.Output[str]
    secret_arn: pulumi.Output[str]


def build(
    profile: Profile,
    keys: KeysOutputs,
    logs: LogsOutputs,
    network: NetworkOutputs,
    security: SecurityOutputs,
) -> CacheOutputs:
    """Subnet group, AUTH token secret, then the encrypted replication group."""
    scope = component_scope("cache")
    subnet_group = aws.elasticache.SubnetGroup(
        "cache-subnets",
        name=profile.name("cache-subnets"),
        description="ElastiCache Redis: private subnets only",
        subnet_ids=network.private_subnet_ids,
        opts=scope.named,
    )
    auth = _auth_token(profile, keys, scope)
    group = _replication_group(
        profile, keys, logs, network, security, subnet_group.name, auth.token, scope
    )
    return scope.finish(
        CacheOutputs(
            replication_group_id=group.id,
            primary_endpoint=group.primary_endpoint_address,
            reader_endpoint=group.reader_endpoint_address,
            port=PORT,
            auth_secret_arn=auth.secret_arn,
        )
    )


def _auth_token(profile: Profile, keys: KeysOutputs, scope: Scope) -> _AuthToken:
    """A random AUTH token, stored in a Secrets Manager secret on the data key."""
    token = random.RandomPassword(
        "cache-auth-token", length=AUTH_TOKEN_LENGTH, special=False, opts=scope.child
    )
    # NOTE: automatic rotation is deliberately not configured for this secret (SecretsManager.4
    # waiver): a new AUTH token only works after a coordinated ModifyReplicationGroup with
    # --auth-token-update-strategy ROTATE (old and new tokens both valid), a task restart, then
    # SET; a Lambda rotating the secret alone would lock the service out. docs/operations.md
    # describes the procedure. The database secret is RDS-managed and RDS rotates it.
    secret = aws.secretsmanager.Secret(
        "cache-auth",
        name=profile.name("cache-auth"),
        description="Redis AUTH token for the payment cache",
        kms_key_id=keys.data_key_arn,
        # NOTE: a recovery window would keep the name reserved after destroy and block the next
        # deployment of the same environment.
        recovery_window_in_days=0,
        opts=scope.named,
    )
    version = aws.secretsmanager.SecretVersion(
        "cache-auth-value", secret_id=secret.id, secret_string=token.result, opts=scope.child
    )
    # The ARN is handed on only once the token is stored, so tasks never start on an empty
    # secret.
    secret_arn = pulumi.Output.all(secret.arn, version.id).apply(lambda a: str(a[0]))
    return _AuthToken(token=token.result, secret_arn=secret_arn)


def _replication_group(
    profile: Profile,
    keys: KeysOutputs,
    logs: LogsOutputs,
    network: NetworkOutputs,
    security: SecurityOutputs,
    subnet_group_name: pulumi.Output[str],
    auth_token: pulumi.Output[str],
    scope: Scope,
) -> aws.elasticache.ReplicationGroup:
    """Redis across the AZs: encrypted at rest and in transit, failover when replicated."""
    cache = profile.cache
    nodes = 1 + cache.replica_count
    replicated = cache.replica_count > 0
    azs = network.availability_zones
    # NOTE: ElastiCache replication group ids: at most 40 characters, lowercase (AWS lowercases
    # them itself, so a mixed-case id would show a diff forever); the profile checks the length.
    # NOTE: turning transit encryption on for an existing group, or changing the AUTH token,
    # can replace the group. transit_encryption_mode "required" is set from the start (the
    # "preferred" step exists only for in-place migration), and a token change is applied with
    # auth_token_update_strategy ROTATE so the old token keeps working until tasks restart.
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
        auth_token=auth_token,
        auth_token_update_strategy="ROTATE",
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
