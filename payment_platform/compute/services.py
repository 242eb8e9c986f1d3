"""The ECS cluster and the two Fargate services.

Creates the cluster with Container Insights (it also feeds the worker's backlog-per-task
metric) and its Fargate capacity providers (FARGATE, FARGATE_SPOT), and the API and worker
services in the private subnets: no public IP, circuit breaker with rollback, the API behind the
load balancer's target group on on-demand Fargate, the worker on the capacity provider the
profile names (`compute.worker_spot`; never Spot in production).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from config import Profile
from payment_platform.component import Scope, after
from payment_platform.compute.roles import Roles
from payment_platform.compute.tasks import API_CONTAINER, TaskDefinitions
from payment_platform.edge import EdgeOutputs
from payment_platform.endpoints import EndpointsOutputs
from payment_platform.logs import LogsOutputs
from payment_platform.network import NetworkOutputs
from payment_platform.security import SecurityOutputs

DEPLOY_MIN_HEALTHY_PERCENT = 100
DEPLOY_MAX_PERCENT = 200
ON_DEMAND, SPOT = "FARGATE", "FARGATE_SPOT"


@dataclass(frozen=True)
class Services:
    """The API and the worker service."""

    api: aws.ecs.Service
    worker: aws.ecs.Service


def cluster(profile: Profile, logs: LogsOutputs, scope: Scope) -> aws.ecs.Cluster:
    """The cluster, with Container Insights: task-level metrics for alarms and autoscaling."""
    return aws.ecs.Cluster(
        "main",
        # NOTE: Container Insights writes to a group it would create itself; the cluster waits
        # for ours (logs builder) and so is destroyed before it, leaving nothing to recreate it.
        name=after(profile.name("cluster"), [logs.container_insights_log_group_name]),
        settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
        opts=scope.named,
    )


def services(
    profile: Profile,
    ecs_cluster: aws.ecs.Cluster,
    tasks: TaskDefinitions,
    roles: Roles,
    network: NetworkOutputs,
    security: SecurityOutputs,
    endpoints: EndpointsOutputs,
    edge: EdgeOutputs,
    scope: Scope,
) -> Services:
    """Both services in the private subnets, started only once their network path exists."""
    c = profile.compute
    # NOTE: without NAT, tasks pull the image and resolve secrets only through the interface
    # endpoints, and the target group must be attached to a listener before a service can use
    # it. depends_on takes no Outputs, so the inputs below carry those dependencies instead.
    endpoint_ids = list(endpoints.interface_endpoint_ids.values())
    # NOTE: a service may name a capacity provider only once the cluster has it associated
    # (otherwise CreateService fails with "capacity provider ... is not associated"); the
    # services take the cluster ARN through this association, so they are created after it.
    providers = aws.ecs.ClusterCapacityProviders(
        "main",
        cluster_name=ecs_cluster.name,
        capacity_providers=[ON_DEMAND, SPOT],
        default_capacity_provider_strategies=[
            aws.ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArgs(
                capacity_provider=ON_DEMAND, weight=1
            )
        ],
        opts=scope.child,
    )
    placement = _Placement(
        cluster_arn=after(ecs_cluster.arn, [providers.id]),
        private_subnets=[after(subnet, endpoint_ids) for subnet in network.private_subnet_ids],
        execution_policy=roles.execution.policy,
    )
    api = _service(
        profile,
        "api",
        placement,
        task=tasks.api,
        desired=c.desired_count,
        security_group=security.api_security_group_id,
        task_policy=roles.api.policy,
        load_balancers=[
            aws.ecs.ServiceLoadBalancerArgs(
                target_group_arn=after(edge.target_group_arn, [edge.https_listener_arn]),
                container_name=API_CONTAINER,
                container_port=c.container_port,
            )
        ],
        grace=c.health_check_grace_seconds,
        scope=scope,
    )
    worker = _service(
        profile,
        "worker",
        placement,
        task=tasks.worker,
        desired=c.worker_min_count,
        security_group=security.worker_security_group_id,
        task_policy=roles.worker.policy,
        # The worker is idempotent per message and SQS redelivers what an interrupted task
        # left, so outside production it may run on Spot (the profile refuses Spot in prod).
        capacity_provider=SPOT if c.worker_spot else ON_DEMAND,
        scope=scope,
    )
    return Services(api=api, worker=worker)


@dataclass(frozen=True)
class _Placement:
    """What both services share: the cluster, the subnets, the execution role's policy."""

    cluster_arn: pulumi.Output[str]
    private_subnets: list[pulumi.Output[str]]
    execution_policy: aws.iam.RolePolicy


def _service(
    profile: Profile,
    kind: str,
    placement: _Placement,
    *,
    task: aws.ecs.TaskDefinition,
    desired: int,
    security_group: pulumi.Output[str],
    task_policy: aws.iam.RolePolicy,
    scope: Scope,
    load_balancers: list[aws.ecs.ServiceLoadBalancerArgs] | None = None,
    grace: int | None = None,
    capacity_provider: str | None = None,
) -> aws.ecs.Service:
    """A private Fargate service that rolls back a failed deployment on its own.

    With `capacity_provider` it runs on that Fargate capacity provider, otherwise with the
    FARGATE launch type (the two are exclusive in CreateService).
    """
    strategies = (
        [aws.ecs.ServiceCapacityProviderStrategyArgs(capacity_provider=capacity_provider, weight=1)]
        if capacity_provider
        else None
    )
    return aws.ecs.Service(
        kind,
        name=profile.name(kind),
        cluster=placement.cluster_arn,
        task_definition=task.arn,
        launch_type=None if capacity_provider else ON_DEMAND,
        capacity_provider_strategies=strategies,
        # NOTE: the provider replaces a service whose capacity provider strategy changes unless
        # force_new_deployment is set and neither the old nor the new strategy is empty
        # (terraform-provider-aws, ecs/service.go, capacityProviderStrategyCustomizeDiff); with
        # it, switching the worker between FARGATE and FARGATE_SPOT is a rolling deployment,
        # not a delete-then-create of the named service.
        force_new_deployment=True if capacity_provider else None,
        platform_version="LATEST",
        desired_count=desired,
        network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
            subnets=placement.private_subnets,
            security_groups=[security_group],
            assign_public_ip=False,
        ),
        load_balancers=load_balancers,
        health_check_grace_period_seconds=grace,
        deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(
            enable=True, rollback=True
        ),
        deployment_minimum_healthy_percent=DEPLOY_MIN_HEALTHY_PERCENT,
        deployment_maximum_percent=DEPLOY_MAX_PERCENT,
        propagate_tags="SERVICE",
        enable_ecs_managed_tags=True,
        enable_execute_command=False,
        # NOTE: `up` waits until the service is stable, so a rollout the circuit breaker rolls
        # back fails the deploy instead of reporting success over a broken service.
        wait_for_steady_state=True,
        force_delete=True,
        # NOTE: application autoscaling owns the desired count after creation; without
        # ignore_changes every `pulumi up` would reset it to the baseline mid-spike.
        opts=pulumi.ResourceOptions.merge(
            scope.named,
            pulumi.ResourceOptions(
                ignore_changes=["desiredCount"],
                # Tasks must not start before their permissions exist.
                depends_on=[placement.execution_policy, task_policy],
            ),
        ),
    )
