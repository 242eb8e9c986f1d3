"""Compute cases: the ECS cluster, containers, secrets and logging, roles and network, ECR."""

from __future__ import annotations

import json
from typing import Any

from resource_graph import Graph, Resource
from tests.guardrails.cases.base import Case, registrar
from tests.guardrails.synth import ACCOUNT, KEY_ARN, graph, key, res

CASES: list[Case] = []
case = registrar(CASES)


TASK_DEF = "aws:ecs/taskDefinition:TaskDefinition"
SERVICE = "aws:ecs/service:Service"


@case("compute-cluster", "Container Insights off", "ECS.12", "cluster")
def _(ok: bool) -> Graph:
    value = "enabled" if ok else "disabled"
    return graph(
        res(
            "aws:ecs/cluster:Cluster",
            "cluster",
            settings=[{"name": "containerInsights", "value": value}],
        )
    )


def _container(**overrides: Any) -> dict[str, Any]:
    c: dict[str, Any] = {
        "name": "api",
        "image": "repo@sha256:0",
        "user": "1000:1000",
        "readonlyRootFilesystem": True,
        "privileged": False,
        "secrets": [
            {
                "name": "DB_PASSWORD",
                "valueFrom": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:x",
            }
        ],
        "environment": [{"name": "DB_SECRET_ARN", "value": "arn:..."}],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": "/payment/dev/api"},
        },
    }
    c.update(overrides)
    return c


def _task(**container: Any) -> Resource:
    return res(
        TASK_DEF,
        "api-task",
        family="payment-api-dev",
        networkMode="awsvpc",
        taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/payment-api-task-dev",
        executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/payment-execution-dev",
        containerDefinitions=json.dumps([_container(**container)]),
    )


@case("compute-containers", "privileged container", "ECS.4", "api-task")
def _(ok: bool) -> Graph:
    return graph(_task(privileged=not ok))


@case("compute-containers", "writable root file system", "ECS.5", "api-task")
def _(ok: bool) -> Graph:
    return graph(_task(readonlyRootFilesystem=ok))


@case("compute-containers", "runs as root", "ECS.20", "api-task")
def _(ok: bool) -> Graph:
    return graph(_task(user="1000" if ok else "root"))


@case("compute-secrets-logging", "password in plain environment", "ECS.8", "api-task")
def _(ok: bool) -> Graph:
    env = [{"name": "DB_HOST", "value": "db"}] + (
        [] if ok else [{"name": "DB_PASSWORD", "value": "hunter2"}]
    )
    return graph(_task(environment=env))


@case("compute-secrets-logging", "logs not to CloudWatch", "ECS.9", "api-task")
def _(ok: bool) -> Graph:
    return graph(_task(logConfiguration={"logDriver": "awslogs" if ok else "json-file"}))


def service(**overrides: Any) -> Resource:
    inputs: dict[str, Any] = {
        "name": "payment-api-dev",
        "launchType": "FARGATE",
        "desiredCount": 2,
        "networkConfiguration": {
            "subnets": ["subnet-a", "subnet-b"],
            "securityGroups": ["sg-api"],
            "assignPublicIp": False,
        },
        "loadBalancers": [{"containerPort": 8080, "containerName": "api", "targetGroupArn": "tg"}],
    }
    inputs.update(overrides)
    return res(SERVICE, "api-service", **inputs)


@case("compute-roles-network", "public IP on tasks", "ECS.2", "api-service")
def _(ok: bool) -> Graph:
    network = {"subnets": ["subnet-a"], "securityGroups": ["sg-api"], "assignPublicIp": not ok}
    return graph(_task(), service(networkConfiguration=network))


@case("compute-roles-network", "one role for task and execution", "ECS.16", "api-task")
def _(ok: bool) -> Graph:
    task = _task()
    if not ok:
        task = res(TASK_DEF, "api-task", taskRoleArn="arn:role/x", executionRoleArn="arn:role/x")
    return graph(task)


@case("compute-roles-network", "pinned platform version", "ECS.10", "api-service")
def _(ok: bool) -> Graph:
    return graph(service(platformVersion="LATEST" if ok else "1.3.0"))


def _repo(**overrides: Any) -> list[Resource]:
    inputs: dict[str, Any] = {
        "name": "payment-api-dev",
        "imageTagMutability": "IMMUTABLE",
        "imageScanningConfiguration": {"scanOnPush": True},
        "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": KEY_ARN}],
        "forceDelete": True,
    }
    inputs.update(overrides)
    return [
        key(),
        res("aws:ecr/repository:Repository", "repo", id="payment-api-dev", **inputs),
        res(
            "aws:ecr/lifecyclePolicy:LifecyclePolicy",
            "repo-lifecycle",
            repository="payment-api-dev",
            policy="{}",
        ),
    ]


@case("compute-ecr", "mutable tags", "ECR.2", "repo")
def _(ok: bool) -> Graph:
    return graph(*_repo(imageTagMutability="IMMUTABLE" if ok else "MUTABLE"))


@case("compute-ecr", "no scan on push", "ECR.1", "repo")
def _(ok: bool) -> Graph:
    return graph(*_repo(imageScanningConfiguration={"scanOnPush": ok}))
