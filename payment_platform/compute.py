"""ECR image, ECS cluster, Fargate services for the API and worker, roles, autoscaling (issue 6)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from config import Profile
from payment_platform.cache import CacheOutputs
from payment_platform.database import DatabaseOutputs
from payment_platform.edge import EdgeOutputs
from payment_platform.endpoints import EndpointsOutputs
from payment_platform.keys import KeysOutputs
from payment_platform.logs import LogsOutputs
from payment_platform.messaging import MessagingOutputs
from payment_platform.network import NetworkOutputs
from payment_platform.security import SecurityOutputs
from payment_platform.storage import StorageOutputs


@dataclass(frozen=True)
class ComputeOutputs:
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
    raise NotImplementedError
