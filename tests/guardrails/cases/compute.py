"""Compute cases: the ECS cluster, containers, secrets and logging, roles and network, ECR,
deployments and scaling."""

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
        "linuxParameters": {"initProcessEnabled": True, "capabilities": {"drop": ["ALL"]}},
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


@case("compute-containers", "capabilities not all dropped", "ECS.4", "api-task")
def _(ok: bool) -> Graph:
    drop = ["ALL"] if ok else ["NET_RAW", "SYS_ADMIN"]
    return graph(_task(linuxParameters={"capabilities": {"drop": drop}}))


@case("compute-containers", "second container keeps its capabilities", "ECS.4", "api-task")
def _(ok: bool) -> Graph:
    sidecar = _container(name="sidecar", **({} if ok else {"linuxParameters": {}}))
    task = _task()
    inputs = dict(task.inputs)
    inputs["containerDefinitions"] = json.dumps(
        [*json.loads(inputs["containerDefinitions"]), sidecar]
    )
    return graph(res(TASK_DEF, "api-task", **inputs))


@case("compute-secrets-logging", "password in plain environment", "ECS.8", "api-task")
def _(ok: bool) -> Graph:
    env = [{"name": "DB_HOST", "value": "db"}] + (
        [] if ok else [{"name": "DB_PASSWORD", "value": "hunter2"}]
    )
    return graph(_task(environment=env))


@case("compute-secrets-logging", "logs not to CloudWatch", "ECS.9", "api-task")
def _(ok: bool) -> Graph:
    return graph(_task(logConfiguration={"logDriver": "awslogs" if ok else "json-file"}))


MASTER_SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:rds!cluster-abc-AbCdEf"
IAM_ENV = [
    {"name": "DB_HOST", "value": "db"},
    {"name": "DB_AUTH", "value": "iam"},
    {"name": "REDIS_HOST", "value": "cache"},
    {"name": "REDIS_AUTH", "value": "iam"},
]


@case("compute-data-credentials", "database password injected at start", "ECS.8", "api-task")
def _(ok: bool) -> Graph:
    injected = [{"name": "DB_PASSWORD", "valueFrom": MASTER_SECRET.replace("rds!", "app-")}]
    return graph(_task(environment=IAM_ENV, secrets=[] if ok else injected))


@case("compute-data-credentials", "master secret injected", "PCI DSS 8.6.2", "api-task")
def _(ok: bool) -> Graph:
    injected = [{"name": "APP_CONFIG", "valueFrom": MASTER_SECRET}]
    return graph(_task(environment=IAM_ENV, secrets=[] if ok else injected))


@case("compute-data-credentials", "Redis AUTH token injected", "ECS.8", "api-task")
def _(ok: bool) -> Graph:
    token = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:payment-cache-auth-dev-AbCdEf"
    injected = [{"name": "REDIS_AUTH_TOKEN", "valueFrom": token}]
    return graph(_task(environment=IAM_ENV, secrets=[] if ok else injected))


@case("compute-data-credentials", "database reached by password", "ECS.8", "api-task")
def _(ok: bool) -> Graph:
    env = [
        e if e["name"] != "DB_AUTH" else {**e, "value": "iam" if ok else "password"}
        for e in IAM_ENV
    ]
    return graph(_task(environment=env, secrets=[]))


@case("compute-data-credentials", "cache reached without IAM", "ECS.8", "api-task")
def _(ok: bool) -> Graph:
    env = [e for e in IAM_ENV if ok or e["name"] != "REDIS_AUTH"]
    return graph(_task(environment=env, secrets=[]))


@case("compute-data-credentials", "master secret ARN outside migrations", "ECS.8", "api-task")
def _(ok: bool) -> Graph:
    key = "DB_MIGRATION_SECRET_ARN" if ok else "DB_SECRET_ARN"
    return graph(_task(environment=[*IAM_ENV, {"name": key, "value": MASTER_SECRET}], secrets=[]))


def service(ignore_changes: tuple[str, ...] = ("desiredCount",), **overrides: Any) -> Resource:
    inputs: dict[str, Any] = {
        "name": "payment-api-dev",
        "cluster": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/payment-cluster-dev",
        "launchType": "FARGATE",
        "desiredCount": 2,
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "networkConfiguration": {
            "subnets": ["subnet-a", "subnet-b"],
            "securityGroups": ["sg-api"],
            "assignPublicIp": False,
        },
        "loadBalancers": [{"containerPort": 8080, "containerName": "api", "targetGroupArn": "tg"}],
    }
    inputs.update(overrides)
    return res(SERVICE, "api-service", ignore_changes=ignore_changes, **inputs)


@case("compute-capacity", "worker on Spot in production", "DESIGN production capacity", "worker")
def _(ok: bool) -> Graph:
    provider = "FARGATE" if ok else "FARGATE_SPOT"
    worker = res(
        SERVICE,
        "worker",
        name="payment-worker-prod",
        capacityProviderStrategies=[{"capacityProvider": provider, "weight": 1}],
    )
    return graph(worker, env="prod", suffix="prod", production=True, high_availability=True)


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


@case("compute-ecr", "every tag excluded from immutability", "ECR.2", "repo")
def _(ok: bool) -> Graph:
    pattern = "build-*" if ok else "*"
    return graph(
        *_repo(
            imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
            imageTagMutabilityExclusionFilters=[{"filter": pattern, "filterType": "WILDCARD"}],
        )
    )


@case("compute-ecr", "no scan on push", "ECR.1", "repo")
def _(ok: bool) -> Graph:
    return graph(*_repo(imageScanningConfiguration={"scanOnPush": ok}))


@case(
    "compute-deployments",
    "circuit breaker without rollback",
    "DESIGN safe deployments",
    "api-service",
)
def _(ok: bool) -> Graph:
    return graph(service(deploymentCircuitBreaker={"enable": True, "rollback": ok}))


@case("compute-deployments", "no circuit breaker", "DESIGN safe deployments", "api-service")
def _(ok: bool) -> Graph:
    overrides: dict[str, Any] = {} if ok else {"deploymentCircuitBreaker": None}
    return graph(service(**overrides))


@case(
    "compute-deployments",
    "desiredCount not in ignore_changes",
    "DESIGN safe deployments",
    "api-service",
)
def _(ok: bool) -> Graph:
    return graph(service(ignore_changes=("desiredCount",) if ok else ()))


def scalable_target(
    name: str = "api-target", service_name: str = "payment-api-dev", **overrides: Any
) -> Resource:
    inputs: dict[str, Any] = {
        "serviceNamespace": "ecs",
        "scalableDimension": "ecs:service:DesiredCount",
        "resourceId": f"service/payment-cluster-dev/{service_name}",
        "minCapacity": 2,
        "maxCapacity": 20,
    }
    inputs.update(overrides)
    return res("aws:appautoscaling/target:Target", name, **inputs)


@case("compute-scaling", "API maximum below 10x desired", "DESIGN 10x spike", "api-target")
def _(ok: bool) -> Graph:
    return graph(service(desiredCount=2), scalable_target(maxCapacity=20 if ok else 19))


@case("compute-scaling", "API without a scalable target", "DESIGN 10x spike", "api-service")
def _(ok: bool) -> Graph:
    other = "payment-api-dev" if ok else "payment-worker-dev"
    return graph(service(desiredCount=2), scalable_target(service_name=other))


# --- the API's idempotency secret: the one secret pointer beside the migrations' --------------

IDEMPOTENCY_ARN = (
    f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:payment-idempotency-dev-AbCdEf"
)
API_TASK_ARN = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/payment-api-dev:1"
WORKER_TASK_ARN = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/payment-worker-dev:1"


def _pointed(api_env: list[dict[str, str]], worker_env: list[dict[str, str]]) -> Graph:
    """An API behind the load balancer and a worker, each task with its own environment."""

    def task(logical: str, arn: str, name: str, env: list[dict[str, str]]) -> Resource:
        container = _container(name=name, environment=[*IAM_ENV, *env], secrets=[])
        return res(
            TASK_DEF,
            logical,
            id=arn,
            arn=arn,
            taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/payment-{name}-task-dev",
            executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/payment-execution-dev",
            containerDefinitions=json.dumps([container]),
        )

    secret = res(
        "aws:secretsmanager/secret:Secret",
        "idempotency",
        arn=IDEMPOTENCY_ARN,
        name="payment-idempotency-dev",
        kmsKeyId=KEY_ARN,
    )
    worker = res(
        SERVICE, "worker-service", name="payment-worker-dev", taskDefinition=WORKER_TASK_ARN
    )
    return graph(
        key(),
        secret,
        task("api-task", API_TASK_ARN, "api", api_env),
        task("worker-task", WORKER_TASK_ARN, "worker", worker_env),
        service(taskDefinition=API_TASK_ARN),
        worker,
    )


POINTER = {"name": "IDEMPOTENCY_SECRET_ARN", "value": IDEMPOTENCY_ARN}


@case("compute-data-credentials", "idempotency secret in the worker", "ECS.8", "worker-task")
def _(ok: bool) -> Graph:
    return _pointed([POINTER], [] if ok else [POINTER])


@case("compute-data-credentials", "IDEMPOTENCY_SECRET_ARN on another secret", "ECS.8", "api-task")
def _(ok: bool) -> Graph:
    other = {**POINTER, "value": IDEMPOTENCY_ARN.replace("idempotency", "cache-auth")}
    return _pointed([POINTER if ok else other], [])


@case("compute-data-credentials", "a new secret pointer", "PCI DSS 8.6.2", "api-task")
def _(ok: bool) -> Graph:
    extra = {"name": "SIGNING_KEY_ARN", "value": IDEMPOTENCY_ARN.replace("idempotency", "sign")}
    return _pointed([POINTER, *([] if ok else [extra])], [])
