"""Compute rules: the ECS cluster, task definitions, services and the ECR repositories.

- `compute-cluster`: Container Insights on; ECS Exec only with KMS-encrypted logging.
- `compute-containers`: no privileged container, no host PID, read-only root, non-root user,
  every Linux capability dropped.
- `compute-secrets-logging`: credentials only through `secrets`; logs to CloudWatch.
- `compute-data-credentials`: no task definition injects a database or cache password; a
  container that reaches the database or the cache authenticates with IAM; a container is
  pointed (by ARN) at no secret but the master secret for the migrations and, in the API only,
  the stack's idempotency secret in `IDEMPOTENCY_SECRET_ARN`.
- `compute-roles-network`: separate task and execution roles; no public IP; Fargate LATEST.
- `compute-capacity`: a production stack runs no service on Fargate Spot.
- `compute-ecr`: scan on push, immutable tags, lifecycle policy, customer key, no open policy.
- `compute-deployments`: a failed deployment rolls back; autoscaling, not `up`, owns the count.
- `compute-scaling`: the API's scalable target reaches 10x its desired count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from conventions.naming import IMAGE_BUILD_TAG_PREFIX
from conventions.scaling import SPIKE_FACTOR
from guardrails import facts
from guardrails.facts import as_list, statements
from guardrails.model import Violation
from guardrails.rules.base import Findings, is_true, on_cmk, rule
from resource_graph import Graph


@rule("compute-cluster", "Container Insights on; ECS Exec off (or logged with KMS)", "ECS.12")
def compute_cluster(graph: Graph) -> list[Violation]:
    """The cluster is observable, and a shell into a task is never an unrecorded one."""
    f = Findings("compute-cluster")
    exec_logged = False
    for cluster in graph.of_type("aws:ecs/cluster:Cluster"):
        settings = {s.get("name"): s.get("value") for s in as_list(cluster.get("settings"))}
        f.require(
            settings.get("containerInsights") in ("enabled", "enhanced"),
            cluster,
            "Container Insights off",
            "ECS.12",
        )
        exec_config = (
            (cluster.get("configuration") or {}).get("executeCommandConfiguration")
        ) or {}
        exec_logged = exec_logged or (
            on_cmk(graph, exec_config.get("kmsKeyId")) and exec_config.get("logging") == "OVERRIDE"
        )
    for service in graph.of_type("aws:ecs/service:Service"):
        f.require(
            not is_true(service.get("enableExecuteCommand")) or exec_logged,
            service,
            "ECS Exec enabled without KMS-encrypted logging",
            "ECS.12",
        )
    return f.items


def _drops_all_capabilities(container: dict[str, Any]) -> bool:
    capabilities = (container.get("linuxParameters") or {}).get("capabilities") or {}
    return "ALL" in [str(c).upper() for c in as_list(capabilities.get("drop"))]


def _root_user(user: Any) -> bool:
    if not user:
        return True
    name = str(user).split(":")[0]
    return name in ("root", "0")


@rule(
    "compute-containers",
    "Containers not privileged, no host PID, read-only root, non-root user, capabilities dropped",
    "ECS.1",
    "ECS.3",
    "ECS.4",
    "ECS.5",
    "ECS.20",
)
def compute_containers(graph: Graph) -> list[Violation]:
    """A compromised container gains as little as possible over its task and host."""
    f = Findings("compute-containers")
    for td in graph.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        f.require(td.get("pidMode") != "host", td, "shares the host PID namespace", "ECS.3")
        f.require(
            td.get("networkMode") in (None, "awsvpc"), td, "network mode is not awsvpc", "ECS.1"
        )
        for c in facts.container_definitions(td):
            name = c.get("name")
            f.require(
                not is_true(c.get("privileged")), td, f"container {name} is privileged", "ECS.4"
            )
            f.require(
                is_true(c.get("readonlyRootFilesystem")),
                td,
                f"container {name} root file system is writable",
                "ECS.5",
            )
            f.require(
                not _root_user(c.get("user")),
                td,
                f"container {name} runs as root (no user)",
                "ECS.20",
            )
            # NOTE: a process that escapes the app keeps whatever capabilities Docker grants by
            # default (NET_RAW, CHOWN, SETUID, ...) unless the container drops them all.
            f.require(
                _drops_all_capabilities(c),
                td,
                f"container {name} does not drop all Linux capabilities "
                "(linuxParameters.capabilities.drop ALL)",
                "ECS.4",
            )
    return f.items


CREDENTIAL = re.compile(
    r"(PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY|API_KEY|ACCESS_KEY)", re.I
)
POINTER = re.compile(r"(_ARN|_ID|_NAME|_URL|_URI|_ENDPOINT|_HOST|_PORT|_REGION)$", re.I)


@rule(
    "compute-secrets-logging",
    "Credentials only through `secrets`; container logs to CloudWatch",
    "ECS.8",
    "ECS.9",
)
def compute_secrets_logging(graph: Graph) -> list[Violation]:
    """Credentials never sit in a task definition in plain text, and every container's logs land."""
    f = Findings("compute-secrets-logging")
    for td in graph.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        for c in facts.container_definitions(td):
            name = c.get("name")
            for env in as_list(c.get("environment")):
                key = str(env.get("name", ""))
                if CREDENTIAL.search(key) and not POINTER.search(key):
                    f.add(
                        td,
                        f"container {name} passes {key} as a plain environment variable",
                        "ECS.8",
                    )
            for secret in as_list(c.get("secrets")):
                f.require(
                    str(secret.get("valueFrom", "")).startswith("arn:aws:"),
                    td,
                    f"container {name} secret {secret.get('name')} is not a Secrets Manager ARN",
                    "ECS.8",
                )
            driver = (c.get("logConfiguration") or {}).get("logDriver")
            f.require(
                driver == "awslogs",
                td,
                f"container {name} logs with {driver}, not awslogs",
                "ECS.9",
            )
    return f.items


# What names a database or cache credential when a task definition injects it through `secrets`.
DATA_CREDENTIAL = re.compile(r"^(DB|PG|POSTGRES|DATABASE|REDIS|CACHE)_|^(PGPASSWORD)$", re.I)
# RDS-managed master secrets are named "rds!cluster-..." or "rds!db-...".
RDS_MANAGED_SECRET = re.compile(r":secret:rds!")
# The authentication mode each data store's client is told to use, and the host that says it
# connects at all.
IAM_AUTH_SETTINGS = {"DB_HOST": "DB_AUTH", "REDIS_HOST": "REDIS_AUTH"}
SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:")
MIGRATION_SECRET_KEY = "DB_MIGRATION_SECRET_ARN"
IDEMPOTENCY_SECRET_KEY = "IDEMPOTENCY_SECRET_ARN"


@dataclass(frozen=True)
class _SecretPointers:
    """Which secret ARNs a container may be handed, and whether it is the API's."""

    idempotency_arns: frozenset[str]
    api: bool


def _secret_pointer_problems(env: dict[str, str], allowed: _SecretPointers) -> list[str]:
    """Secret ARNs in plain `environment` beyond the two the service reads by ARN.

    The migrations read the master secret (`DB_MIGRATION_SECRET_ARN`); the API reads its
    idempotency HMAC key (`IDEMPOTENCY_SECRET_ARN`, exactly the stack's secret). Any other secret
    pointer would widen what a task can read without anyone deciding it.
    """
    problems: list[str] = []
    for key, value in env.items():
        if key == IDEMPOTENCY_SECRET_KEY:
            if not allowed.api:
                problems.append(f"is handed {key}, which only the API reads")
            if value not in allowed.idempotency_arns:
                problems.append(f"{key} is {value}, not the stack's idempotency secret")
        elif key == MIGRATION_SECRET_KEY:
            if SECRET_ARN.match(value) and not RDS_MANAGED_SECRET.search(value):
                problems.append(f"{key} is {value}, not the RDS-managed master secret")
        elif SECRET_ARN.match(value) or key.endswith("SECRET_ARN"):
            problems.append(
                f"is handed {key} ({value}): only {MIGRATION_SECRET_KEY} and, in the API, "
                f"{IDEMPOTENCY_SECRET_KEY} may point at a secret"
            )
    return problems


def _data_credential_problems(container: dict[str, Any]) -> list[str]:
    """What in one container hands it a database or cache password instead of an IAM token."""
    problems: list[str] = []
    for secret in as_list(container.get("secrets")):
        key, source = str(secret.get("name", "")), str(secret.get("valueFrom", ""))
        if DATA_CREDENTIAL.search(key) or RDS_MANAGED_SECRET.search(source):
            problems.append(f"injects {key} from {source or 'a secret'} at start")
    env = {
        str(e.get("name", "")): str(e.get("value", ""))
        for e in as_list(container.get("environment"))
    }
    # A password in plain `environment` is compute-secrets-logging's finding (ECS.8) already.
    for key, value in env.items():
        if key.endswith("_ARN") and RDS_MANAGED_SECRET.search(value) and "MIGRATION" not in key:
            problems.append(f"hands {key} (the master secret) to code other than the migrations")
    for host, mode in IAM_AUTH_SETTINGS.items():
        if host in env and env.get(mode) != "iam":
            problems.append(f"reaches {host} without {mode}=iam ({env.get(mode, 'unset')})")
    return problems


@rule(
    "compute-data-credentials",
    "No database or cache password in any task definition; IAM authentication to both; "
    "secret ARNs only for the migrations and the API's idempotency key",
    "ECS.8",
    "PCI DSS 8.6.2",
)
def compute_data_credentials(graph: Graph) -> list[Violation]:
    """A credential injected at start goes stale when it rotates, and can leak from the task.

    The service signs a short-lived IAM token for every new connection instead; only the
    migrations may be pointed at the master secret, by ARN, and they read it when they run.
    """
    f = Findings("compute-data-credentials")
    idempotency = frozenset(
        str(s.state.get("arn")) for s in facts.idempotency_secrets(graph) if s.state.get("arn")
    )
    api = {td.urn for td in facts.api_task_definitions(graph)}
    for td in graph.of_type(facts.TASK_DEFINITION):
        allowed = _SecretPointers(idempotency_arns=idempotency, api=td.urn in api)
        for c in facts.container_definitions(td):
            env = {
                str(e.get("name", "")): str(e.get("value", ""))
                for e in as_list(c.get("environment"))
            }
            for problem in _data_credential_problems(c) + _secret_pointer_problems(env, allowed):
                f.add(td, f"container {c.get('name')} {problem}", "ECS.8", "PCI DSS 8.6.2")
    return f.items


@rule(
    "compute-roles-network",
    "Separate task and execution roles; no public IP; Fargate LATEST",
    "ECS.2",
    "ECS.10",
    "ECS.16",
)
def compute_roles_network(graph: Graph) -> list[Violation]:
    """The application never holds the agent's permissions, is unreachable, and runs patched."""
    f = Findings("compute-roles-network")
    for td in graph.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        task, execution = td.get("taskRoleArn"), td.get("executionRoleArn")
        f.require(
            bool(task) and bool(execution) and task != execution,
            td,
            "needs separate task and execution roles",
            "ECS.16",
        )
    for service in graph.of_type("aws:ecs/service:Service"):
        network = service.get("networkConfiguration") or {}
        f.require(
            not is_true(network.get("assignPublicIp")),
            service,
            "assigns public IPs",
            "ECS.2",
            "ECS.16",
        )
        fargate = service.get("launchType") == "FARGATE" or any(
            str(s.get("capacityProvider", "")).startswith("FARGATE")
            for s in as_list(service.get("capacityProviderStrategies"))
        )
        f.require(fargate, service, "does not run on Fargate", "ECS.10")
        f.require(
            service.get("platformVersion") in (None, "LATEST"),
            service,
            f"platform version pinned to {service.get('platformVersion')}",
            "ECS.10",
        )
    return f.items


@rule(
    "compute-capacity",
    "No service of a production stack on Fargate Spot",
    "DESIGN production capacity",
)
def compute_capacity(graph: Graph) -> list[Violation]:
    """Spot capacity can be reclaimed at any moment and be unavailable for hours.

    Outside production the worker may use it (SQS redelivers what an interrupted task left);
    real payments must not wait for capacity to come back. An unknown `production` output
    counts as production.
    """
    f = Findings("compute-capacity")
    if not facts.deployment_flag(graph, facts.PRODUCTION):
        return f.items
    for service in graph.of_type("aws:ecs/service:Service"):
        spot = [
            s
            for s in as_list(service.get("capacityProviderStrategies"))
            if str(s.get("capacityProvider", "")).upper() == "FARGATE_SPOT"
            and int(s.get("weight") or 0) > 0
        ]
        if spot:
            f.add(service, "runs on Fargate Spot in production", "DESIGN production capacity")
    return f.items


@rule(
    "compute-ecr",
    "ECR scan on push, immutable tags, lifecycle policy, KMS, no open policy",
    "ECR.1",
    "ECR.2",
    "ECR.3",
)
def compute_ecr(graph: Graph) -> list[Violation]:
    """The images the tasks run are scanned, cannot be swapped under a tag, and stay private."""
    f = Findings("compute-ecr")
    for repo in graph.of_type("aws:ecr/repository:Repository"):
        scan = repo.get("imageScanningConfiguration") or {}
        f.require(is_true(scan.get("scanOnPush")), repo, "no scan on push", "ECR.1")
        f.require(
            str(repo.get("imageTagMutability")).startswith("IMMUTABLE"),
            repo,
            "image tags are mutable",
            "ECR.2",
        )
        # Exclusions may free the program's own build labels (images run by digest), never a
        # catch-all that would make every tag mutable again.
        for exclusion in as_list(repo.get("imageTagMutabilityExclusionFilters")):
            f.require(
                str(exclusion.get("filter")) == f"{IMAGE_BUILD_TAG_PREFIX}*",
                repo,
                f"tag mutability exclusion {exclusion.get('filter')!r} beyond the build tags",
                "ECR.2",
            )
        f.require_any(
            as_list(repo.get("encryptionConfigurations")),
            lambda e: e.get("encryptionType") == "KMS" and on_cmk(graph, e.get("kmsKey")),
            repo,
            "not encrypted with the customer key",
            "ECR.1",
        )
        lifecycle = facts.attached(
            graph, ["aws:ecr/lifecyclePolicy:LifecyclePolicy"], "repository", repo
        )
        f.require(bool(lifecycle), repo, "no lifecycle policy", "ECR.3")
        for policy in facts.attached(
            graph, ["aws:ecr/repositoryPolicy:RepositoryPolicy"], "repository", repo
        ):
            f.require(
                not any(facts.is_public_allow(s) for s in statements(policy.get("policy"))),
                policy,
                "repository policy open to any principal",
                "ECR.1",
            )
    return f.items


DEPLOYMENTS = "DESIGN safe deployments"


@rule(
    "compute-deployments",
    "Deployment circuit breaker with rollback; desiredCount left to autoscaling (ignore_changes)",
    DEPLOYMENTS,
)
def compute_deployments(graph: Graph) -> list[Violation]:
    """A bad image never replaces healthy tasks for good, and `up` never undoes a scale-out.

    Without the circuit breaker a failing deployment keeps cycling tasks; without rollback it
    stops there, half deployed. Without `desiredCount` in ignore_changes every `pulumi up`
    resets the count autoscaling chose, shedding capacity in the middle of a spike.
    """
    f = Findings("compute-deployments")
    for service in graph.of_type(facts.SERVICE):
        breaker = service.get("deploymentCircuitBreaker") or {}
        f.require(
            is_true(breaker.get("enable")) and is_true(breaker.get("rollback")),
            service,
            "deployment circuit breaker with rollback not enabled",
            DEPLOYMENTS,
        )
        f.require(
            bool({"desiredCount", "desired_count"} & set(service.ignore_changes)),
            service,
            "desiredCount not in ignore_changes: each `up` resets the count autoscaling set",
            DEPLOYMENTS,
        )
    return f.items


SPIKE = "DESIGN 10x spike"


@rule(
    "compute-scaling",
    "The API's scalable target reaches 10x the service's desired count",
    SPIKE,
)
def compute_scaling(graph: Graph) -> list[Violation]:
    """A 10x spike of payments finds room to scale out, whatever the profile claims.

    Reads the recorded graph: the desired count of each service behind the load balancer and
    the maximum of the scalable target that owns it. (The desired count is the one the program
    declares; autoscaling changes the live one, which `ignore_changes` keeps out of `up`.)
    """
    f = Findings("compute-scaling")
    for service in facts.api_services(graph):
        targets = facts.scalable_targets(graph, service)
        if not targets:
            f.add(service, "no scalable target: the service cannot scale out", SPIKE)
        for target in targets:
            # NOTE: a service that declares no count starts at the target's minimum.
            desired = int(service.get("desiredCount") or target.get("minCapacity") or 1)
            high = int(target.get("maxCapacity") or 0)
            f.require(
                high >= SPIKE_FACTOR * desired,
                target,
                f"maxCapacity {high} < {SPIKE_FACTOR} x desiredCount {desired} of "
                f"{service.get('name')}",
                SPIKE,
            )
    return f.items
