"""Fargate task definitions for the API and the worker, both from the one image.

Each task runs one hardened container: non-root, read-only root file system with an ephemeral
/tmp, all capabilities dropped, no credential injected (the app signs IAM tokens for the database
and the cache with its task role), logs to its CloudWatch log group, and a container health
check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from config import Profile
from payment_platform.cache import CacheOutputs
from payment_platform.component import Scope
from payment_platform.compute.roles import Roles
from payment_platform.compute.secrets import IdempotencySecret
from payment_platform.database import DatabaseOutputs
from payment_platform.edge import WAF_BODY_LIMIT_BYTES
from payment_platform.logs import LogsOutputs
from payment_platform.messaging import MessagingOutputs
from payment_platform.storage import StorageOutputs

APP_USER = "10001"
TMP_VOLUME = "tmp"
API_CONTAINER = "api"
WORKER_CONTAINER = "worker"
WORKER_STOP_TIMEOUT_SECONDS = 120  # Fargate's maximum: lets the worker finish in-flight messages


@dataclass(frozen=True)
class TaskDefinitions:
    """The task definition of each service."""

    api: aws.ecs.TaskDefinition
    worker: aws.ecs.TaskDefinition


@dataclass(frozen=True)
class _Runtime:
    """What both containers share: image, region, configuration, health start period."""

    image: pulumi.Output[str]
    region: pulumi.Output[str]
    environment: dict[str, Any]
    start_period: int


def task_definitions(
    profile: Profile,
    image: pulumi.Output[str],
    roles: Roles,
    logs: LogsOutputs,
    messaging: MessagingOutputs,
    storage: StorageOutputs,
    database: DatabaseOutputs,
    cache: CacheOutputs,
    idempotency: IdempotencySecret,
    scope: Scope,
) -> TaskDefinitions:
    """One task definition per service, so each runs with its own size and task role."""
    c = profile.compute
    region = aws.get_region_output().region
    runtime = _Runtime(
        image=image,
        region=region,
        # No credential in either: the app signs an IAM token for each new database and cache
        # connection with its task role, and only the API's migrations fetch the master secret,
        # when they run. Nothing is injected at start that a rotation could make stale.
        environment=_environment(profile, region, messaging, storage, database, cache),
        start_period=min(c.health_check_grace_seconds, 300),  # ECS allows 0..300
    )
    execution_role = roles.execution.role
    api = _task_definition(
        profile,
        "api",
        cpu=c.cpu,
        memory=c.memory,
        execution_role=execution_role,
        task_role=roles.api.role,
        container=_api_container(profile, runtime, logs, database, idempotency),
        scope=scope,
    )
    worker = _task_definition(
        profile,
        "worker",
        cpu=c.worker_cpu,
        memory=c.worker_memory,
        execution_role=execution_role,
        task_role=roles.worker.role,
        container=_worker_container(runtime, logs, messaging),
        scope=scope,
    )
    return TaskDefinitions(api=api, worker=worker)


def _environment(
    profile: Profile,
    region: pulumi.Output[str],
    messaging: MessagingOutputs,
    storage: StorageOutputs,
    database: DatabaseOutputs,
    cache: CacheOutputs,
) -> dict[str, Any]:
    """The application's plain configuration: endpoints, names and settings, no credentials."""
    c = profile.compute
    return {
        "AWS_REGION": region,
        "ENVIRONMENT": profile.env,
        "LOG_LEVEL": c.log_level,
        "PAYMENT_QUEUE_URL": messaging.payment_queue_url,
        "EVENTS_TOPIC_ARN": messaging.events_topic_arn,
        "TRANSACTION_LOG_BUCKET": storage.transaction_log_bucket_name,
        "DB_HOST": database.writer_endpoint,
        "DB_PORT": str(database.port),
        "DB_NAME": database.database_name,
        "DB_SSLMODE": "verify-full",
        "DB_USER": database.app_username,
        "DB_AUTH": "iam",
        "REDIS_HOST": cache.primary_endpoint,
        "REDIS_PORT": str(cache.port),
        "REDIS_TLS": "true",
        "REDIS_AUTH": "iam",
        "REDIS_USER": cache.app_user_id,
        # The host name an ElastiCache IAM token is signed for: the replication group id.
        "REDIS_CACHE_NAME": cache.replication_group_id,
        "RUN_MIGRATIONS": "false",
        "CACHE_TTL_SECONDS": str(c.cache_ttl_seconds),
        # What the app serves and how long it keeps idle connections are the profile's, so the
        # target group's health check and the ALB's idle timeout always match the app.
        "PORT": str(c.container_port),
        "HEALTH_CHECK_PATH": c.health_check_path,
        "ALB_IDLE_TIMEOUT_SECONDS": str(profile.edge.idle_timeout_seconds),
        "MAX_BODY_BYTES": str(WAF_BODY_LIMIT_BYTES),
    }


def _api_container(
    profile: Profile,
    runtime: _Runtime,
    logs: LogsOutputs,
    database: DatabaseOutputs,
    idempotency: IdempotencySecret,
) -> dict[str, Any]:
    """The API container: serves the container port, checked over HTTP, migrates at start."""
    c = profile.compute
    return _container(
        name=API_CONTAINER,
        image=runtime.image,
        command=["python", "-m", "payment_app.api"],
        log_group=logs.api_log_group_name,
        region=runtime.region,
        # The API applies the migrations at start under an advisory lock (app/README.md): the
        # secret's ARN, not its value, so the value is read when the migrations run.
        environment={
            **runtime.environment,
            "RUN_MIGRATIONS": "true",
            "DB_MIGRATION_SECRET_ARN": database.master_secret_arn,
            # The HMAC key of idempotency keys, read by ARN at start (AWSCURRENT and
            # AWSPREVIOUS), never injected: only the API's task role may read it.
            "IDEMPOTENCY_SECRET_ARN": idempotency.arn,
        },
        # The image has no curl; the standard library does the HTTP check.
        health_command=[
            "python",
            "-c",
            "import urllib.request; urllib.request.urlopen("
            f"'http://127.0.0.1:{c.container_port}{c.health_check_path}', timeout=3)",
        ],
        start_period=runtime.start_period,
        port=c.container_port,
    )


def _worker_container(
    runtime: _Runtime, logs: LogsOutputs, messaging: MessagingOutputs
) -> dict[str, Any]:
    """The worker container: no port, a long stop timeout to finish in-flight messages.

    It also consumes the payment dead-letter queue and marks those payments failed.
    """
    return _container(
        name=WORKER_CONTAINER,
        image=runtime.image,
        command=["python", "-m", "payment_app.worker"],
        log_group=logs.worker_log_group_name,
        region=runtime.region,
        environment={**runtime.environment, "PAYMENT_DLQ_URL": messaging.payment_dlq_url},
        # The worker serves no port: the image's own check reads its heartbeat file in /tmp.
        health_command=["python", "-m", "payment_app.healthcheck"],
        start_period=runtime.start_period,
        stop_timeout=WORKER_STOP_TIMEOUT_SECONDS,
    )


def _container(
    *,
    name: str,
    image: pulumi.Output[str],
    command: list[str],
    log_group: pulumi.Output[str],
    region: pulumi.Output[str],
    environment: dict[str, Any],
    health_command: list[str],
    start_period: int,
    port: int | None = None,
    stop_timeout: int | None = None,
) -> dict[str, Any]:
    """One hardened container definition (ECS.1/3/4/5/8/9/20)."""
    definition: dict[str, Any] = {
        "name": name,
        "image": image,
        "essential": True,
        "command": command,
        "user": APP_USER,
        "privileged": False,
        "readonlyRootFilesystem": True,
        "linuxParameters": {"initProcessEnabled": True, "capabilities": {"drop": ["ALL"]}},
        "mountPoints": [{"sourceVolume": TMP_VOLUME, "containerPath": "/tmp", "readOnly": False}],
        "environment": [{"name": key, "value": environment[key]} for key in sorted(environment)],
        "healthCheck": {
            "command": ["CMD", *health_command],
            "interval": 15,
            "timeout": 5,
            "retries": 3,
            "startPeriod": start_period,
        },
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": region,
                "awslogs-stream-prefix": name,
            },
        },
    }
    if port is not None:
        definition["portMappings"] = [{"containerPort": port, "protocol": "tcp"}]
    if stop_timeout is not None:
        definition["stopTimeout"] = stop_timeout
    return definition


def _task_definition(
    profile: Profile,
    kind: str,
    *,
    cpu: int,
    memory: int,
    execution_role: aws.iam.Role,
    task_role: aws.iam.Role,
    container: dict[str, Any],
    scope: Scope,
) -> aws.ecs.TaskDefinition:
    """A Fargate Linux task definition on the profile's architecture: one container, a /tmp."""
    return aws.ecs.TaskDefinition(
        kind,
        family=profile.name(kind),
        cpu=str(cpu),
        memory=str(memory),
        network_mode="awsvpc",
        requires_compatibilities=["FARGATE"],
        runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
            operating_system_family="LINUX", cpu_architecture=profile.compute.cpu_architecture
        ),
        execution_role_arn=execution_role.arn,
        task_role_arn=task_role.arn,
        # The read-only root file system needs a writable /tmp: task-local ephemeral storage.
        volumes=[aws.ecs.TaskDefinitionVolumeArgs(name=TMP_VOLUME)],
        container_definitions=pulumi.Output.json_dumps([container]),
        opts=scope.child,
    )
