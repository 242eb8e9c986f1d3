"""Compute: image, hardened Fargate tasks, least-privilege roles, services and autoscaling."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi_aws as aws
import pytest

import config
from config import Profile
from conventions import naming
from offline.mocks import ACCOUNT_ID, REGION
from offline.recorder import ROOT, run_program, stack_config
from payment_platform import compute
from payment_platform.database import APP_DB_USER
from payment_platform.edge import EdgeOutputs
from payment_platform.endpoints import EndpointsOutputs
from resource_graph import Graph, Resource
from tests import fakes
from tests.conftest import Graphs

SERVICE = "aws:ecs/service:Service"
TASK = "aws:ecs/taskDefinition:TaskDefinition"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
TARGET = "aws:appautoscaling/target:Target"
POLICY = "aws:appautoscaling/policy:Policy"
IMAGE = "docker-build:index:Image"
SM_TYPE = "aws:secretsmanager/secret:Secret"
SM_VERSION_TYPE = "aws:secretsmanager/secretVersion:SecretVersion"
RANDOM_VALUE_TYPE = "random:index/randomPassword:RandomPassword"
DB_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:rds!cluster-abc-AbCdEf"
IMAGE_URI = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/payment-ci:release-42"
CREDENTIAL_LIKE = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|PRIVATE|_KEY$", re.IGNORECASE)
APP_ENV = {
    "PAYMENT_QUEUE_URL",
    "EVENTS_TOPIC_ARN",
    "TRANSACTION_LOG_BUCKET",
    "DB_HOST",
    "DB_PORT",
    "DB_NAME",
    "DB_SSLMODE",
    "REDIS_HOST",
    "REDIS_PORT",
    "REDIS_TLS",
    "DB_USER",
    "DB_AUTH",
    "REDIS_AUTH",
    "REDIS_USER",
    "REDIS_CACHE_NAME",
    "RUN_MIGRATIONS",
    "CACHE_TTL_SECONDS",
    "PORT",
    "HEALTH_CHECK_PATH",
    "ALB_IDLE_TIMEOUT_SECONDS",
    "MAX_BODY_BYTES",
    "AWS_REGION",
    "ENVIRONMENT",
    "LOG_LEVEL",
}


def profile_with(env: str, **stack: str) -> Profile:
    cfg = stack_config(env, overrides={f"payment:{k}": v for k, v in stack.items()})
    return config.load(cfg, stack_file=f"Pulumi.{env}.yaml", root=ROOT)


def _build(profile: Profile, endpoints: EndpointsOutputs, edge: EdgeOutputs) -> None:
    compute.build(
        profile,
        keys=fakes.keys(),
        logs=fakes.logs(profile),
        network=fakes.network(profile),
        security=fakes.security(),
        endpoints=endpoints,
        storage=fakes.storage(profile),
        database=fakes.database(profile),
        cache=fakes.cache(profile),
        messaging=fakes.messaging(profile),
        edge=edge,
    )


@pytest.fixture
def build_compute(run_builder: Callable[..., Graph]) -> Callable[[Profile], Graph]:
    def run(profile: Profile) -> Graph:
        return run_builder(
            lambda: _build(profile, fakes.endpoints(), fakes.edge(profile)), env=profile.env
        )

    return run


@pytest.fixture
def graph_of(graphs: Graphs, profile: Profile) -> Graph:
    """Compute for each committed environment (`profile` runs dev, staging and prod)."""
    return graphs.builder(
        "compute", profile.env, lambda p: _build(p, fakes.endpoints(), fakes.edge(p))
    )


# Not facts.container_definitions: a task definition must hold exactly one container here.
def containers(graph: Graph, kind: str) -> dict[str, Any]:
    (container,) = json.loads(graph.one(TASK, kind).inputs["containerDefinitions"])
    return dict(container)


# Not facts.statements: a role policy without a Statement list must fail here, not read as [].
def statements(graph: Graph, name: str) -> list[dict[str, Any]]:
    return list(graph.one(ROLE_POLICY, name).policy()["Statement"])


# Not facts.as_list: a null Action or Resource must stay [None] and fail, not vanish as [].
def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grant(stmts: list[dict[str, Any]], action: str) -> list[str]:
    """The resources an Allow statement grants `action` on."""
    return [
        resource
        for s in stmts
        if s["Effect"] == "Allow" and action in as_list(s["Action"])
        for resource in as_list(s["Resource"])
    ]


# --- image and repository -------------------------------------------------------------------------


def test_repository_hardening_and_lifecycle(graph_of, profile):
    repo = graph_of.one("aws:ecr/repository:Repository")
    assert repo.inputs["name"] == profile.name("api")
    # Immutable but for the program's own build labels: the tasks run a digest, so a rebuild
    # under an unchanged build tag (after a refresh dropped the image) may move the label.
    assert repo.inputs["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    (exclusion,) = repo.inputs["imageTagMutabilityExclusionFilters"]
    assert exclusion == {"filter": f"{naming.IMAGE_BUILD_TAG_PREFIX}*", "filterType": "WILDCARD"}
    assert repo.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo.inputs["encryptionConfigurations"] == [
        {"encryptionType": "KMS", "kmsKey": fakes.DATA_KEY_ARN}
    ]
    assert repo.inputs["forceDelete"] is True
    lifecycle = graph_of.one("aws:ecr/lifecyclePolicy:LifecyclePolicy")
    (rule,) = json.loads(lifecycle.inputs["policy"])["rules"]
    assert rule["selection"]["countType"] == "imageCountMoreThan"
    assert rule["selection"]["countNumber"] == profile.compute.image_keep_count
    assert rule["action"] == {"type": "expire"}
    assert lifecycle.inputs["repository"] == profile.name("api")


def test_image_built_from_app_and_pinned_by_digest(graph_of, profile):
    image = graph_of.one(IMAGE)
    repo_url = graph_of.one("aws:ecr/repository:Repository").state["repositoryUrl"]
    assert image.inputs["context"] == {"location": "app"}
    assert image.inputs["dockerfile"] == {"location": "app/Dockerfile"}
    platform = {"X86_64": "linux/amd64", "ARM64": "linux/arm64"}[profile.compute.cpu_architecture]
    assert image.inputs["platforms"] == [platform]
    assert image.inputs["push"] is True
    assert image.inputs["tags"] == [f"{repo_url}:{compute.image_tag()}"]
    # The tag the program pushes is one the repository lets move.
    assert compute.image_tag().startswith(naming.IMAGE_BUILD_TAG_PREFIX)
    (registry,) = image.inputs["registries"]
    assert registry["address"] == repo_url.split("/")[0]
    assert registry["username"] == "AWS"
    for kind in ("api", "worker"):
        assert containers(graph_of, kind)["image"] == f"{repo_url}@{image.state['digest']}"


def test_image_uri_is_used_as_is_and_nothing_is_built(build_compute):
    graph = build_compute(profile_with("dev", imageUri=IMAGE_URI))
    assert not graph.of_type(IMAGE)
    for kind in ("api", "worker"):
        assert containers(graph, kind)["image"] == IMAGE_URI
    pull = grant(statements(graph, "execution"), "ecr:BatchGetImage")
    assert pull == [f"arn:aws:ecr:{REGION}:{ACCOUNT_ID}:repository/payment-ci"]


def test_image_tag_follows_content(tmp_path: Path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "pkg" / "a.py").write_text("print(1)\n")
    first = compute.image_tag(tmp_path)
    # a valid Docker tag, normalised in snapshots, among the repository's mutable build tags
    assert re.fullmatch(re.escape(naming.IMAGE_BUILD_TAG_PREFIX) + r"[0-9a-f]{16}", first)
    assert compute.image_tag(tmp_path) == first
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    assert compute.image_tag(tmp_path) == first  # local caches do not change the image
    (tmp_path / "pkg" / "a.py").write_text("print(2)\n")
    assert compute.image_tag(tmp_path) != first
    (tmp_path / "pkg" / "a.py").write_text("print(1)\n")
    (tmp_path / "pkg" / "a.py").rename(tmp_path / "pkg" / "b.py")
    assert compute.image_tag(tmp_path) != first  # paths count, not only bytes


def test_repository_arn_from_uri():
    uri = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/team/api@sha256:{'0' * 64}"
    assert compute.repository_arn_from_uri(uri) == (
        f"arn:aws:ecr:{REGION}:{ACCOUNT_ID}:repository/team/api"
    )
    assert compute.repository_arn_from_uri(IMAGE_URI).endswith(":repository/payment-ci")


# --- cluster and task definitions -----------------------------------------------------------------


def test_cluster_container_insights(graph_of, profile):
    cluster = graph_of.one("aws:ecs/cluster:Cluster").inputs
    assert cluster["name"] == profile.name("cluster")
    (setting,) = cluster["settings"]
    assert setting["name"] == "containerInsights"
    assert setting["value"] in {"enabled", "enhanced"}


@pytest.mark.parametrize("kind", ["api", "worker"])
def test_task_definition_sizes_and_roles(graph_of, profile, kind):
    task = graph_of.one(TASK, kind).inputs
    c = profile.compute
    cpu, memory = (c.cpu, c.memory) if kind == "api" else (c.worker_cpu, c.worker_memory)
    assert task["cpu"] == str(cpu) and task["memory"] == str(memory)
    assert task["networkMode"] == "awsvpc"
    assert task["requiresCompatibilities"] == ["FARGATE"]
    assert task["runtimePlatform"] == {
        "operatingSystemFamily": "LINUX",
        "cpuArchitecture": c.cpu_architecture,
    }
    execution = graph_of.one(ROLE, "execution").state["arn"]
    own = graph_of.one(ROLE, f"{kind}-task").state["arn"]
    assert task["executionRoleArn"] == execution
    assert task["taskRoleArn"] == own != execution
    assert {"name": "tmp"} in task["volumes"]


@pytest.mark.parametrize("kind", ["api", "worker"])
def test_container_hardening(graph_of, profile, kind):
    container = containers(graph_of, kind)
    assert container["user"] == "10001"
    assert container["readonlyRootFilesystem"] is True
    assert container["privileged"] is False
    assert {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False} in container[
        "mountPoints"
    ]
    assert container["command"] == ["python", "-m", f"payment_app.{kind}"]
    log = container["logConfiguration"]
    assert log["logDriver"] == "awslogs"
    assert log["options"]["awslogs-group"] == f"/payment/{profile.suffix}/{kind}"
    assert log["options"]["awslogs-region"] == "us-east-1"
    assert log["options"]["awslogs-stream-prefix"]
    assert container["healthCheck"]["command"][0] == "CMD"
    if kind == "api":
        assert container["portMappings"] == [
            {"containerPort": profile.compute.container_port, "protocol": "tcp"}
        ]
        check = " ".join(container["healthCheck"]["command"])
        assert f":{profile.compute.container_port}{profile.compute.health_check_path}" in check
    else:
        assert "portMappings" not in container


def dockerfile_volumes(dockerfile: Path) -> set[str]:
    """The paths the final stage of `dockerfile` declares with VOLUME (JSON or plain form)."""
    final_stage = re.split(r"(?im)^FROM\s", dockerfile.read_text())[-1]
    volumes: set[str] = set()
    for match in re.finditer(r"(?im)^VOLUME\s+(.+)$", final_stage):
        spec = match.group(1).strip()
        volumes.update(json.loads(spec) if spec.startswith("[") else spec.split())
    return volumes


@pytest.mark.parametrize("kind", ["api", "worker"])
def test_bind_mounts_writable_by_the_app_user(graph_of, kind):
    # Fargate creates a task bind mount root-owned with mode 0755, which the non-root app user
    # cannot write, unless the image declares the same path as a VOLUME: then the image's
    # directory (and its permissions, /tmp is 1777) is copied into the mount.
    container = containers(graph_of, kind)
    assert container["user"] != "0"
    mounted = {m["containerPath"] for m in container["mountPoints"] if not m["readOnly"]}
    assert mounted
    assert mounted <= dockerfile_volumes(ROOT / compute.DOCKERFILE)


@pytest.mark.parametrize("kind", ["api", "worker"])
def test_no_credential_is_injected_and_both_stores_use_iam(graph_of, profile, kind):
    container = containers(graph_of, kind)
    # Nothing resolved at start that a rotation could make stale: no `secrets` at all.
    assert "secrets" not in container
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["DB_AUTH"] == env["REDIS_AUTH"] == "iam"
    assert env["DB_USER"] == APP_DB_USER != profile.database.master_username
    assert env["REDIS_USER"] == profile.name("cache-app")
    assert env["REDIS_CACHE_NAME"] == profile.name("cache")
    # Only the API migrates, and it is handed the master secret's ARN, not its value.
    migrates = kind == "api"
    assert env["RUN_MIGRATIONS"] == ("true" if migrates else "false")
    assert env.get("DB_MIGRATION_SECRET_ARN") == (DB_SECRET if migrates else None)
    # Only the API is pointed at its idempotency secret, only the worker at the DLQ.
    idempotency = graph_of.one(SM_TYPE, "idempotency").state["arn"]
    assert env.get("IDEMPOTENCY_SECRET_ARN") == (idempotency if kind == "api" else None)
    dlq = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{profile.name('queue-dlq')}"
    assert env.get("PAYMENT_DLQ_URL") == (dlq if kind == "worker" else None)
    for pointer in ("DB_MIGRATION_SECRET_ARN", "IDEMPOTENCY_SECRET_ARN", "PAYMENT_DLQ_URL"):
        env.pop(pointer, None)
    assert set(env) == APP_ENV
    assert not [name for name in env if CREDENTIAL_LIKE.search(name)]
    assert env["DB_SSLMODE"] == "verify-full"
    assert env["REDIS_TLS"] == "true"
    assert env["DB_HOST"] == f"{profile.name('db')}.cluster-abc.{REGION}.rds.amazonaws.com"
    assert env["DB_PORT"] == "5432" and env["REDIS_PORT"] == "6379"
    assert env["DB_NAME"] == profile.database.database_name
    assert env["REDIS_HOST"] == f"master.{profile.name('cache')}.abc.use1.cache.amazonaws.com"
    assert env["PAYMENT_QUEUE_URL"].endswith(f"/{ACCOUNT_ID}/{profile.name('queue')}")
    assert env["EVENTS_TOPIC_ARN"] == f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{profile.name('events')}"
    assert env["TRANSACTION_LOG_BUCKET"] == f"{profile.name('transaction-logs')}-{ACCOUNT_ID}"
    assert env["CACHE_TTL_SECONDS"] == str(profile.compute.cache_ttl_seconds)
    assert env["ENVIRONMENT"] == profile.env and env["AWS_REGION"] == REGION
    assert env["LOG_LEVEL"] == profile.compute.log_level


# --- IAM ------------------------------------------------------------------------------------------


def test_roles_trust_only_ecs_tasks_of_this_account(graph_of, profile):
    for name in ("execution", "api-task", "worker-task"):
        role = graph_of.one(ROLE, name)
        assert role.inputs["name"] == profile.name(name)
        assert role.delete_before_replace
        (trust,) = role.policy("assumeRolePolicy")["Statement"]
        assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
        assert trust["Action"] == "sts:AssumeRole"
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}


def test_execution_role_grants_exact_arns(graph_of, profile):
    stmts = statements(graph_of, "execution")
    repo_arn = graph_of.one("aws:ecr/repository:Repository").state["arn"]
    for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"):
        assert grant(stmts, action) == [repo_arn]
    assert grant(stmts, "ecr:GetAuthorizationToken") == ["*"]
    groups = [
        f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/payment/{profile.suffix}/{kind}:*"
        for kind in ("api", "worker")
    ]
    assert sorted(grant(stmts, "logs:CreateLogStream")) == groups
    assert sorted(grant(stmts, "logs:PutLogEvents")) == groups
    # The agent resolves no secret: no task definition injects one.
    actions = {a for s in stmts for a in as_list(s["Action"])}
    assert not [a for a in actions if a.startswith(("secretsmanager:", "kms:"))]


def test_api_task_role(graph_of, profile):
    stmts = statements(graph_of, "api-task")
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{profile.name('queue')}"
    assert grant(stmts, "sqs:SendMessage") == [queue]
    assert grant(stmts, "kms:GenerateDataKey") == [fakes.MESSAGING_KEY_ARN]
    # The start-up migrations read the master secret, the service its idempotency secret: those
    # two secrets and no other, decrypted only through Secrets Manager.
    idempotency = graph_of.one(SM_TYPE, "idempotency").state["arn"]
    assert sorted(grant(stmts, "secretsmanager:GetSecretValue")) == sorted([DB_SECRET, idempotency])
    (decrypt_data,) = [s for s in stmts if fakes.DATA_KEY_ARN in as_list(s["Resource"])]
    assert as_list(decrypt_data["Action"]) == ["kms:Decrypt"]
    assert decrypt_data["Condition"] == {
        "StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
    }
    actions = {a for s in stmts for a in as_list(s["Action"])}
    assert not [a for a in actions if a.startswith(("sqs:Receive", "s3:", "sns:"))]
    # Nothing at all on the dead-letter queue: the worker alone resolves what lands there.
    dlq = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{profile.name('queue-dlq')}"
    assert not [s for s in stmts if dlq in as_list(s["Resource"])]


@pytest.mark.parametrize("kind", ["api", "worker"])
def test_task_roles_connect_as_the_app_to_exactly_this_database_and_cache(graph_of, profile, kind):
    stmts = statements(graph_of, f"{kind}-task")
    dbuser = (
        f"arn:aws:rds-db:{REGION}:{ACCOUNT_ID}:dbuser:{fakes.DB_CLUSTER_RESOURCE_ID}/{APP_DB_USER}"
    )
    assert grant(stmts, "rds-db:connect") == [dbuser]
    cache_arns = [
        f"arn:aws:elasticache:{REGION}:{ACCOUNT_ID}:replicationgroup:{profile.name('cache')}",
        f"arn:aws:elasticache:{REGION}:{ACCOUNT_ID}:user:{profile.name('cache-app')}",
    ]
    assert sorted(grant(stmts, "elasticache:Connect")) == sorted(cache_arns)


CONSUME = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
)


def test_worker_task_role(graph_of, profile):
    stmts = statements(graph_of, "worker-task")
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{profile.name('queue')}"
    dlq = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{profile.name('queue-dlq')}"
    # The payment queue and its dead-letter queue, each consumed, and no other queue.
    for action in CONSUME:
        assert sorted(grant(stmts, action)) == sorted([queue, dlq])
    assert not [a for s in stmts for a in as_list(s["Action"]) if a == "sqs:SendMessage"]
    assert grant(stmts, "sns:Publish") == [
        f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{profile.name('events')}"
    ]
    bucket = f"{profile.name('transaction-logs')}-{ACCOUNT_ID}"
    assert grant(stmts, "s3:PutObject") == [f"arn:aws:s3:::{bucket}/*"]
    keys = {fakes.MESSAGING_KEY_ARN, fakes.DATA_KEY_ARN}
    assert set(grant(stmts, "kms:GenerateDataKey")) == keys
    assert set(grant(stmts, "kms:Decrypt")) == keys


def test_the_worker_consumes_exactly_the_dlq_and_nothing_else_on_it(graph_of, profile):
    dlq = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{profile.name('queue-dlq')}"
    (on_dlq,) = [s for s in statements(graph_of, "worker-task") if dlq in as_list(s["Resource"])]
    assert as_list(on_dlq["Resource"]) == [dlq]
    assert sorted(as_list(on_dlq["Action"])) == sorted(CONSUME)
    assert "Condition" not in on_dlq
    # The DLQ is on the messaging key, which the worker already uses for the payment queue.
    assert fakes.MESSAGING_KEY_ARN in grant(statements(graph_of, "worker-task"), "kms:Decrypt")


def test_idempotency_secret_is_random_on_the_data_key_and_destroyable(graph_of, profile):
    secret = graph_of.one(SM_TYPE, "idempotency")
    assert secret.inputs["name"] == profile.name("idempotency")
    assert secret.inputs["kmsKeyId"] == fakes.DATA_KEY_ARN
    assert secret.inputs["recoveryWindowInDays"] == 0
    assert secret.delete_before_replace
    password = graph_of.one(RANDOM_VALUE_TYPE, "idempotency-hmac-key")
    assert password.inputs["length"] == compute.IDEMPOTENCY_SECRET_LENGTH == 64
    # Letters and digits: no special characters, and none of the letter or digit classes off.
    assert password.inputs["special"] is False
    assert not [k for k in ("upper", "lower", "numeric") if password.inputs.get(k) is False]
    version = graph_of.one(SM_VERSION_TYPE)
    assert version.inputs["secretId"] == secret.state["arn"]
    assert version.inputs["secretString"] == password.state["result"]
    # Deliberately not rotated (the waiver says why), and the value reaches no task definition.
    assert not graph_of.of_type("aws:secretsmanager/secretRotation:SecretRotation")
    for task in graph_of.of_type(TASK):
        assert password.state["result"] not in task.inputs["containerDefinitions"]


def test_the_api_starts_only_once_the_secret_holds_its_value(graph_of):
    version = graph_of.one(SM_VERSION_TYPE)
    assert graph_of.waits_for(graph_of.one(TASK, "api"), version)


def test_exactly_one_role_may_read_the_idempotency_secret(graph_of):
    arn = graph_of.one(SM_TYPE, "idempotency").state["arn"]
    readers = {
        policy.name
        for policy in graph_of.of_type(ROLE_POLICY)
        for s in policy.policy()["Statement"]
        if s["Effect"] == "Allow"
        and "secretsmanager:GetSecretValue" in as_list(s["Action"])
        and arn in as_list(s["Resource"])
    }
    assert readers == {"api-task"}
    api = graph_of.one(TASK, "api").inputs
    assert api["taskRoleArn"] == graph_of.one(ROLE, "api-task").state["arn"]
    assert api["executionRoleArn"] != api["taskRoleArn"]


def test_no_wildcard_actions_and_star_resource_only_for_ecr_token(graph_of):
    for policy in graph_of.of_type(ROLE_POLICY):
        for stmt in policy.policy()["Statement"]:
            actions = as_list(stmt["Action"])
            assert not [a for a in actions if a == "*" or a.endswith(":*")], policy.name
            if "*" in as_list(stmt["Resource"]):
                assert actions == ["ecr:GetAuthorizationToken"], policy.name


# --- services -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["api", "worker"])
def test_services_private_with_circuit_breaker(graph_of, profile, kind):
    service = graph_of.one(SERVICE, kind)
    i = service.inputs
    assert i["name"] == profile.name(kind)
    assert i["cluster"] == graph_of.one("aws:ecs/cluster:Cluster").state["arn"]
    assert i["taskDefinition"] == graph_of.one(TASK, kind).state["arn"]
    assert i["platformVersion"] == "LATEST"
    if kind == "api":
        assert i["launchType"] == "FARGATE" and "capacityProviderStrategies" not in i
    else:
        provider = "FARGATE_SPOT" if profile.compute.worker_spot else "FARGATE"
        assert "launchType" not in i
        assert i["capacityProviderStrategies"] == [{"capacityProvider": provider, "weight": 1}]
    assert i["networkConfiguration"] == {
        "subnets": [f"subnet-private{n}" for n in range(profile.network.az_count)],
        "securityGroups": [f"sg-{kind}"],
        "assignPublicIp": False,
    }
    assert i["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert i["deploymentMinimumHealthyPercent"] == 100
    assert i["deploymentMaximumPercent"] == 200
    assert i["enableExecuteCommand"] is False
    assert i["propagateTags"] == "SERVICE"
    # `up` fails when a rollout does not stabilise (the circuit breaker rolled it back).
    assert i["waitForSteadyState"] is True
    assert service.ignore_changes == ("desiredCount",)
    c = profile.compute
    assert i["desiredCount"] == (c.desired_count if kind == "api" else c.worker_min_count)


def test_api_service_behind_the_target_group(graph_of, profile):
    i = graph_of.one(SERVICE, "api").inputs
    assert i["loadBalancers"] == [
        {
            "targetGroupArn": (
                f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT_ID}:"
                f"targetgroup/{profile.name('tg')}-0a1b/0123456789abcdef"
            ),
            "containerName": "api",
            "containerPort": profile.compute.container_port,
        }
    ]
    assert i["healthCheckGracePeriodSeconds"] == profile.compute.health_check_grace_seconds
    assert "loadBalancers" not in graph_of.one(SERVICE, "worker").inputs


def test_services_wait_for_endpoints_listener_and_role_policies(run_builder):
    """Real upstream resources stand in for the fakes so the recorded dependencies show."""
    profile = profile_with("dev")

    def program() -> None:
        endpoints = {
            service: aws.ec2.VpcEndpoint(
                service.replace(".", "-"),
                vpc_id="vpc-0fake",
                service_name=f"com.amazonaws.{REGION}.{service}",
            )
            for service in ("ecr.api", "ecr.dkr", "logs", "secretsmanager")
        }
        listener = aws.lb.Listener(
            "https",
            load_balancer_arn="arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/x",
            default_actions=[{"type": "forward", "target_group_arn": "arn:tg"}],
        )
        real_edge = fakes.edge(profile)
        edge = EdgeOutputs(
            **{**real_edge.__dict__, "https_listener_arn": listener.arn},
        )
        _build(profile, EndpointsOutputs({k: v.id for k, v in endpoints.items()}), edge)

    graph = run_builder(program, env="dev")
    endpoint_urns = {r.urn for r in graph.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    listener_urn = graph.one("aws:lb/listener:Listener").urn
    execution_policy = graph.one(ROLE_POLICY, "execution").urn
    for kind in ("api", "worker"):
        deps = set(graph.one(SERVICE, kind).dependencies)
        assert endpoint_urns and endpoint_urns <= deps, kind
        assert {execution_policy, graph.one(ROLE_POLICY, f"{kind}-task").urn} <= deps, kind
    assert listener_urn in graph.one(SERVICE, "api").dependencies


# --- autoscaling ----------------------------------------------------------------------------------


def scaling_target(graph: Graph, kind: str) -> Resource:
    return graph.one(TARGET, kind)


def test_api_autoscaling_on_cpu_and_memory(graph_of, profile):
    c = profile.compute
    target = scaling_target(graph_of, "api").inputs
    assert target["serviceNamespace"] == "ecs"
    assert target["scalableDimension"] == "ecs:service:DesiredCount"
    assert target["resourceId"] == f"service/{profile.name('cluster')}/{profile.name('api')}"
    assert (target["minCapacity"], target["maxCapacity"]) == (c.min_count, c.max_count)
    assert target["maxCapacity"] >= 10 * c.desired_count
    expected = {
        "ECSServiceAverageCPUUtilization": c.cpu_target_percent,
        "ECSServiceAverageMemoryUtilization": c.memory_target_percent,
    }
    found = {}
    for policy in graph_of.of_type(POLICY):
        if policy.inputs["resourceId"] != target["resourceId"]:
            continue
        assert policy.inputs["policyType"] == "TargetTrackingScaling"
        cfg = policy.inputs["targetTrackingScalingPolicyConfiguration"]
        metric = cfg["predefinedMetricSpecification"]["predefinedMetricType"]
        found[metric] = cfg["targetValue"]
        assert cfg["scaleInCooldown"] == c.scale_in_cooldown_seconds
        assert cfg["scaleOutCooldown"] == c.scale_out_cooldown_seconds
    assert found == expected


def test_worker_autoscaling_on_backlog_per_task(graph_of, profile):
    c = profile.compute
    target = scaling_target(graph_of, "worker").inputs
    assert target["resourceId"] == f"service/{profile.name('cluster')}/{profile.name('worker')}"
    assert (target["minCapacity"], target["maxCapacity"]) == (
        c.worker_min_count,
        c.worker_max_count,
    )
    policy = graph_of.one(POLICY, "worker-backlog").inputs
    assert policy["resourceId"] == target["resourceId"]
    cfg = policy["targetTrackingScalingPolicyConfiguration"]
    assert cfg["targetValue"] == c.worker_messages_per_task
    metrics = {m["id"]: m for m in cfg["customizedMetricSpecification"]["metrics"]}
    visible = metrics["visible"]["metricStat"]["metric"]
    assert visible["namespace"] == "AWS/SQS"
    assert visible["metricName"] == "ApproximateNumberOfMessagesVisible"
    assert visible["dimensions"] == [{"name": "QueueName", "value": profile.name("queue")}]
    tasks = metrics["tasks"]["metricStat"]["metric"]
    assert tasks["metricName"] == "RunningTaskCount"
    assert {"name": "ServiceName", "value": profile.name("worker")} in tasks["dimensions"]
    (returned,) = [m for m in metrics.values() if m.get("returnData")]
    assert returned["expression"] == "visible / tasks"


def test_scaling_follows_a_changed_profile(build_compute):
    # Values no environment file holds: the targets follow whatever the profile says.
    base = profile_with("dev")
    sizes = {"min_count": 4, "desired_count": 4, "max_count": 40, "worker_min_count": 3}
    profile = base.model_copy(update={"compute": base.compute.model_copy(update=sizes)})
    graph = build_compute(profile)
    api = scaling_target(graph, "api").inputs
    worker = scaling_target(graph, "worker").inputs
    assert (api["minCapacity"], api["maxCapacity"], worker["minCapacity"]) == (4, 40, 3)


# --- structure ------------------------------------------------------------------------------------


def test_everything_under_the_compute_component(graph_of):
    component = graph_of.one("payment:compute:Compute", "compute")
    custom = [r for r in graph_of if r.custom]
    assert custom and all(r.parent == component.urn for r in custom)


def _compute_with(env: str, **update: Any) -> Graph:
    base = config.load(stack_config(env), stack_file=f"Pulumi.{env}.yaml", root=ROOT)
    profile = base.model_copy(update={"compute": base.compute.model_copy(update=update)})
    return run_program(lambda: _build(profile, fakes.endpoints(), fakes.edge(profile)), env=env)


@pytest.mark.parametrize(
    ("arch", "platform"), [("ARM64", "linux/arm64"), ("X86_64", "linux/amd64")]
)
def test_the_image_is_built_for_the_tasks_architecture(env, arch, platform):
    graph = _compute_with(env, cpu_architecture=arch)
    assert graph.one(IMAGE).inputs["platforms"] == [platform]
    for kind in ("api", "worker"):
        assert graph.one(TASK, kind).inputs["runtimePlatform"]["cpuArchitecture"] == arch


@pytest.mark.parametrize("spot", [True, False])
def test_the_worker_follows_the_spot_choice_and_the_api_stays_on_demand(env, spot):
    graph = _compute_with(env, worker_spot=spot)
    (strategy,) = graph.one(SERVICE, "worker").inputs["capacityProviderStrategies"]
    assert strategy["capacityProvider"] == ("FARGATE_SPOT" if spot else "FARGATE")
    # Switching the strategy then rolls the service instead of replacing it.
    assert graph.one(SERVICE, "worker").inputs["forceNewDeployment"] is True
    assert graph.one(SERVICE, "api").inputs["launchType"] == "FARGATE"
    # The cluster has both providers before any service names one.
    providers = graph.one("aws:ecs/clusterCapacityProviders:ClusterCapacityProviders")
    assert set(providers.inputs["capacityProviders"]) == {"FARGATE", "FARGATE_SPOT"}
    assert providers.inputs["clusterName"] == graph.one("aws:ecs/cluster:Cluster").inputs["name"]
    for kind in ("api", "worker"):
        assert graph.waits_for(graph.one(SERVICE, kind), providers)


def test_a_graviton_worker_on_spot_runs_where_spot_places_arm64_tasks(env):
    # Fargate Spot places ARM64 Linux tasks on platform version 1.4.0 or later only (LATEST is
    # 1.4.0); the profile allows the pair, so the service must not pin an older version.
    graph = _compute_with(env, cpu_architecture="ARM64", worker_spot=True)
    worker = graph.one(SERVICE, "worker").inputs
    (strategy,) = worker["capacityProviderStrategies"]
    assert strategy["capacityProvider"] == "FARGATE_SPOT"
    assert graph.one(TASK, "worker").inputs["runtimePlatform"]["cpuArchitecture"] == "ARM64"
    version = worker["platformVersion"]
    assert version == "LATEST" or tuple(map(int, version.split("."))) >= (1, 4, 0)
