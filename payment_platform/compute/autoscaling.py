"""Application autoscaling of the two services.

Creates a scalable target per service; target tracking for the API on CPU and on memory, and
for the worker on the payment queue's backlog per running task.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
from pulumi_aws.appautoscaling import (
    PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationArgsDict as Metric,
)

from config import Profile
from payment_platform.component import Scope
from payment_platform.compute.services import Services
from payment_platform.messaging import MessagingOutputs


def autoscaling(
    profile: Profile,
    ecs_cluster: aws.ecs.Cluster,
    services: Services,
    messaging: MessagingOutputs,
    scope: Scope,
) -> None:
    """Capacity that follows the load: the API's utilisation, the worker's queue backlog."""
    _api_scaling(profile, ecs_cluster, services.api, scope)
    _worker_scaling(profile, ecs_cluster, services.worker, messaging, scope)


def _scaling_target(
    kind: str, cluster: aws.ecs.Cluster, svc: aws.ecs.Service, low: int, high: int, scope: Scope
) -> aws.appautoscaling.Target:
    """The service's desired count as a scalable dimension, between `low` and `high`."""
    return aws.appautoscaling.Target(
        kind,
        service_namespace="ecs",
        scalable_dimension="ecs:service:DesiredCount",
        resource_id=pulumi.Output.concat("service/", cluster.name, "/", svc.name),
        min_capacity=low,
        max_capacity=high,
        opts=scope.child,
    )


def _api_scaling(
    profile: Profile, cluster: aws.ecs.Cluster, api: aws.ecs.Service, scope: Scope
) -> None:
    """Track the API's average CPU and memory, each against its own target."""
    c = profile.compute
    # NOTE: the profile validates max_count >= 10x desired_count, so a 10x spike can scale out.
    target = _scaling_target("api", cluster, api, c.min_count, c.max_count, scope)
    for metric, target_value in (
        ("ECSServiceAverageCPUUtilization", c.cpu_target_percent),
        ("ECSServiceAverageMemoryUtilization", c.memory_target_percent),
    ):
        aws.appautoscaling.Policy(
            f"api-{'cpu' if 'CPU' in metric else 'memory'}",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration={
                "target_value": target_value,
                "predefined_metric_specification": {"predefined_metric_type": metric},
                "scale_in_cooldown": c.scale_in_cooldown_seconds,
                "scale_out_cooldown": c.scale_out_cooldown_seconds,
            },
            opts=scope.child,
        )


def _worker_scaling(
    profile: Profile,
    cluster: aws.ecs.Cluster,
    worker: aws.ecs.Service,
    messaging: MessagingOutputs,
    scope: Scope,
) -> None:
    """Track the payment queue's backlog per worker task.

    Backlog per task (visible messages / running tasks) is AWS's recommended SQS metric, so
    capacity follows the queue, not CPU; worker_min_count >= 1 keeps the divisor defined (at 0
    tasks the metric would have no data and never scale out).
    """
    c = profile.compute
    target = _scaling_target(
        "worker", cluster, worker, c.worker_min_count, c.worker_max_count, scope
    )
    aws.appautoscaling.Policy(
        "worker-backlog",
        policy_type="TargetTrackingScaling",
        service_namespace=target.service_namespace,
        scalable_dimension=target.scalable_dimension,
        resource_id=target.resource_id,
        target_tracking_scaling_policy_configuration={
            "target_value": c.worker_messages_per_task,
            "scale_in_cooldown": c.scale_in_cooldown_seconds,
            "scale_out_cooldown": c.scale_out_cooldown_seconds,
            "customized_metric_specification": _backlog_per_task(
                messaging.payment_queue_name, cluster, worker
            ),
        },
        opts=scope.child,
    )


def _backlog_per_task(
    queue_name: pulumi.Output[str], cluster: aws.ecs.Cluster, worker: aws.ecs.Service
) -> Metric:
    """Metric math: the queue's visible messages divided by the worker's running tasks."""
    return {
        "metrics": [
            {
                "id": "visible",
                "return_data": False,
                "metric_stat": {
                    "stat": "Sum",
                    "metric": {
                        "namespace": "AWS/SQS",
                        "metric_name": "ApproximateNumberOfMessagesVisible",
                        "dimensions": [{"name": "QueueName", "value": queue_name}],
                    },
                },
            },
            {
                "id": "tasks",
                "return_data": False,
                "metric_stat": {
                    "stat": "Average",
                    "metric": {
                        "namespace": "ECS/ContainerInsights",
                        "metric_name": "RunningTaskCount",
                        "dimensions": [
                            {"name": "ClusterName", "value": cluster.name},
                            {"name": "ServiceName", "value": worker.name},
                        ],
                    },
                },
            },
            {
                "id": "backlog_per_task",
                "label": "payment queue backlog per worker task",
                "expression": "visible / tasks",
                "return_data": True,
            },
        ]
    }
