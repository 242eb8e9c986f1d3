"""ECR image, ECS cluster, Fargate services for the API and worker, roles, autoscaling.

Creates, under one `payment:compute:Compute` component, one module per step:
- `image`: the ECR repository (scan on push, immutable tags, the data key, lifecycle keeping
  `compute.image_keep_count` images) and the service image: `deployment.image_uri` as is when a
  CI pipeline pushed its own, otherwise built from `app/` and pushed by pulumi-docker-build,
  so the services can start right after `pulumi up` without a NAT path;
- `secrets`: the API's idempotency secret (a random HMAC key in Secrets Manager, on the data
  key, deliberately not rotated on a schedule);
- `roles`: one execution role (image pull, log shipping) and separate task roles for the API
  (send to the payment queue, read the master secret for its start-up migrations and the
  idempotency secret) and the worker (consume the payment queue and its dead-letter queue,
  publish events, write the transaction log), both allowed IAM authentication to the database
  and the cache, each scoped to exact ARNs;
- `tasks`: Fargate task definitions for the API and the worker from the one image: non-root,
  read-only root file system with an ephemeral /tmp, no injected credential, logs to their
  CloudWatch log groups;
- `services`: the ECS cluster with Container Insights (it also feeds the worker's
  backlog-per-task metric), and the two services in the private subnets (no public IP, circuit
  breaker with rollback, API behind the target group);
- `autoscaling`: the API on CPU and memory, the worker on queue backlog per running task.

Builders read no files; the one exception is `image_tag`, which hashes the build context
(`app/`) so that the image tag changes exactly when what Docker would build changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from config import Profile
from payment_platform.cache import CacheOutputs
from payment_platform.component import component_scope
from payment_platform.compute.autoscaling import autoscaling
from payment_platform.compute.image import (
    APP_DIR,
    CONTEXT,
    DOCKERFILE,
    IGNORED_PARTS,
    IGNORED_SUFFIXES,
    image_tag,
    repository_and_image,
    repository_arn_from_uri,
)
from payment_platform.compute.roles import CONSUME_ACTIONS, ECS_TASKS, roles
from payment_platform.compute.secrets import IDEMPOTENCY_SECRET_LENGTH, idempotency_secret
from payment_platform.compute.services import (
    DEPLOY_MAX_PERCENT,
    DEPLOY_MIN_HEALTHY_PERCENT,
    cluster,
    services,
)
from payment_platform.compute.tasks import (
    API_CONTAINER,
    APP_USER,
    TMP_VOLUME,
    WORKER_CONTAINER,
    WORKER_STOP_TIMEOUT_SECONDS,
    task_definitions,
)
from payment_platform.database import DatabaseOutputs
from payment_platform.edge import EdgeOutputs
from payment_platform.endpoints import EndpointsOutputs
from payment_platform.keys import KeysOutputs
from payment_platform.logs import LogsOutputs
from payment_platform.messaging import MessagingOutputs
from payment_platform.network import NetworkOutputs
from payment_platform.security import SecurityOutputs
from payment_platform.storage import StorageOutputs

__all__ = [
    "API_CONTAINER",
    "APP_DIR",
    "APP_USER",
    "CONSUME_ACTIONS",
    "CONTEXT",
    "DEPLOY_MAX_PERCENT",
    "DEPLOY_MIN_HEALTHY_PERCENT",
    "DOCKERFILE",
    "ECS_TASKS",
    "IDEMPOTENCY_SECRET_LENGTH",
    "IGNORED_PARTS",
    "IGNORED_SUFFIXES",
    "TMP_VOLUME",
    "WORKER_CONTAINER",
    "WORKER_STOP_TIMEOUT_SECONDS",
    "ComputeOutputs",
    "build",
    "image_tag",
    "repository_arn_from_uri",
]


@dataclass(frozen=True)
class ComputeOutputs:
    """What the services expose to observability and the stack outputs.

    Attributes:
        cluster_name: Name of the ECS cluster (alarm and dashboard dimension).
        cluster_arn: ARN of the ECS cluster.
        api_service_name: Name of the API service (alarm and dashboard dimension).
        worker_service_name: Name of the worker service (dashboard dimension).
        repository_url: URL of the ECR repository the service image is pushed to (a stack output).
        image_ref: Image the task definitions run: `repository@digest`, or `deployment.image_uri`.
        api_task_role_arn: ARN of the API tasks' role.
        worker_task_role_arn: ARN of the worker tasks' role.
        execution_role_arn: ARN of the role the ECS agent pulls images and ships logs with.
    """

    cluster_name: pulumi.Output[str]
    cluster_arn: pulumi.Output[str]
    api_service_name: pulumi.Output[str]
    worker_service_name: pulumi.Output[str]
    repository_url: pulumi.Output[str]
    image_ref: pulumi.Output[str]
    api_task_role_arn: pulumi.Output[str]
    worker_task_role_arn: pulumi.Output[str]
    execution_role_arn: pulumi.Output[str]


def build(
    profile: Profile,
    *,
    keys: KeysOutputs,
    logs: LogsOutputs,
    network: NetworkOutputs,
    security: SecurityOutputs,
    endpoints: EndpointsOutputs,
    storage: StorageOutputs,
    database: DatabaseOutputs,
    cache: CacheOutputs,
    messaging: MessagingOutputs,
    edge: EdgeOutputs,
) -> ComputeOutputs:
    """Everything that runs the payment API and worker, each step on what the earlier ones made."""
    scope = component_scope("compute")
    image = repository_and_image(profile, keys, scope)
    ecs_cluster = cluster(profile, logs, scope)
    idempotency = idempotency_secret(profile, keys, scope)
    task_roles = roles(
        profile,
        image.pull_repository_arn,
        keys,
        logs,
        database,
        cache,
        messaging,
        storage,
        idempotency,
        scope,
    )
    tasks = task_definitions(
        profile,
        image.ref,
        task_roles,
        logs,
        messaging,
        storage,
        database,
        cache,
        idempotency,
        scope,
    )
    running = services(
        profile, ecs_cluster, tasks, task_roles, network, security, endpoints, edge, scope
    )
    autoscaling(profile, ecs_cluster, running, messaging, scope)
    return scope.finish(
        ComputeOutputs(
            cluster_name=ecs_cluster.name,
            cluster_arn=ecs_cluster.arn,
            api_service_name=running.api.name,
            worker_service_name=running.worker.name,
            repository_url=image.repository.repository_url,
            image_ref=image.ref,
            api_task_role_arn=task_roles.api.role.arn,
            worker_task_role_arn=task_roles.worker.role.arn,
            execution_role_arn=task_roles.execution.role.arn,
        )
    )
