"""ECR image, ECS cluster, Fargate services for the API and worker, roles, autoscaling (issue 6).

Creates, under one `payment:compute:Compute` component:
- the ECR repository (scan on push, immutable tags, the data key, lifecycle keeping
  `compute.image_keep_count` images) and the service image: `deployment.image_uri` as is when a
  CI pipeline pushed its own, otherwise built from `app/` and pushed by pulumi-docker-build,
  so the services can start right after `pulumi up` without a NAT path;
- the ECS cluster with Container Insights (it also feeds the worker's backlog-per-task metric);
- one execution role (image pull, log shipping, the two injected secrets) and separate task
  roles for the API (send to the payment queue) and the worker (consume the queue, publish
  events, write the transaction log), each scoped to exact ARNs;
- Fargate task definitions for the API and the worker from the one image: non-root, read-only
  root file system with an ephemeral /tmp, credentials only through `secrets`, logs to their
  CloudWatch log groups;
- the two services in the private subnets (no public IP, circuit breaker with rollback, API
  behind the target group) and application autoscaling: the API on CPU and memory, the worker
  on queue backlog per running task.

Builders read no files; the one exception is `image_tag`, which hashes the build context
(`app/`) so that the image tag changes exactly when what Docker would build changes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from config import Profile
from payment_platform.cache import CacheOutputs
from payment_platform.database import DatabaseOutputs
from payment_platform.edge import EdgeOutputs
from payment_platform.endpoints import EndpointsOutputs
from payment_platform.iam import policy_document, service_role
from payment_platform.keys import KeysOutputs
from payment_platform.logs import LogsOutputs
from payment_platform.messaging import MessagingOutputs
from payment_platform.network import NetworkOutputs
from payment_platform.security import SecurityOutputs
from payment_platform.storage import StorageOutputs

# The build context as `docker build` sees it: relative to the project root, where Pulumi runs
# the program. APP_DIR is the same directory located from this file, for hashing.
CONTEXT = "app"
DOCKERFILE = "app/Dockerfile"
APP_DIR = Path(__file__).resolve().parent.parent / CONTEXT
# Local caches that must never reach an image (app/.dockerignore should list them too).
IGNORED_PARTS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
IGNORED_SUFFIXES = frozenset({".pyc", ".pyo"})

ECS_TASKS = "ecs-tasks.amazonaws.com"
APP_USER = "10001"
TMP_VOLUME = "tmp"
API_CONTAINER = "api"
WORKER_CONTAINER = "worker"
WORKER_STOP_TIMEOUT_SECONDS = 120  # Fargate's maximum: lets the worker finish in-flight messages
DEPLOY_MIN_HEALTHY_PERCENT = 100
DEPLOY_MAX_PERCENT = 200


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


def image_tag(context_dir: Path = APP_DIR) -> str:
    """A content tag for the build context: the same files give the same tag.

    Hashes every file's relative path and bytes, skipping local caches (`__pycache__`, `.pyc`).
    """
    digest = hashlib.sha256()
    files = sorted(
        path
        for path in context_dir.rglob("*")
        if path.is_file()
        and not IGNORED_PARTS.intersection(path.relative_to(context_dir).parts)
        and path.suffix not in IGNORED_SUFFIXES
    )
    for path in files:
        digest.update(path.relative_to(context_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    # Plain hex: offline/snapshot.py normalises hex ECR tags so snapshots ignore app/ edits.
    return digest.hexdigest()[:16]


def repository_arn_from_uri(image_uri: str) -> str:
    """The ECR repository ARN of `<account>.dkr.ecr.<region>.amazonaws.com/<repo>[:tag|@digest]`."""
    host, _, rest = image_uri.partition("/")
    account, _, _, region = host.split(".")[:4]
    repository = re.split(r"[:@]", rest, maxsplit=1)[0]
    return f"arn:aws:ecr:{region}:{account}:repository/{repository}"


def _after(value: pulumi.Output[str], deps: Sequence[pulumi.Output[Any]]) -> pulumi.Output[str]:
    """`value`, carrying dependencies on the resources behind `deps` (depends_on takes none)."""
    return pulumi.Output.all(value, *deps).apply(lambda resolved: str(resolved[0]))


def _image(
    profile: Profile, repo: aws.ecr.Repository, opts: pulumi.ResourceOptions
) -> pulumi.Output[str]:
    """The image reference the task definitions run, pinned by digest when built here."""
    if profile.deployment.image_uri:
        return pulumi.Output.from_input(profile.deployment.image_uri)
    auth = aws.ecr.get_authorization_token_output(registry_id=repo.registry_id)
    tag = image_tag()
    image = docker_build.Image(
        "api",
        context=docker_build.BuildContextArgs(location=CONTEXT),
        dockerfile=docker_build.DockerfileArgs(location=DOCKERFILE),
        platforms=[docker_build.Platform.LINUX_AMD64],  # matches the tasks' runtime_platform
        push=True,
        # NOTE: the repository's tags are immutable and this tag is a hash of app/: an unchanged
        # app/ reuses the tag and nothing is rebuilt or pushed; any change gets a new tag.
        tags=[pulumi.Output.concat(repo.repository_url, ":", tag)],
        registries=[
            docker_build.RegistryArgs(
                address=repo.repository_url.apply(lambda url: url.split("/")[0]),
                username=auth.user_name,
                password=pulumi.Output.secret(auth.password),
            )
        ],
        opts=opts,
    )
    return pulumi.Output.concat(repo.repository_url, "@", image.digest)


def _container(
    *,
    name: str,
    image: pulumi.Output[str],
    command: list[str],
    log_group: pulumi.Output[str],
    region: pulumi.Output[str],
    environment: dict[str, Any],
    secrets: dict[str, pulumi.Output[str]],
    health_command: list[str],
    start_period: int,
    port: int | None = None,
    stop_timeout: int | None = None,
) -> dict[str, Any]:
    """One hardened container definition (ECS.1/3/4/5/8/9/20)."""
    container: dict[str, Any] = {
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
        "secrets": [{"name": key, "valueFrom": secrets[key]} for key in sorted(secrets)],
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
        container["portMappings"] = [{"containerPort": port, "protocol": "tcp"}]
    if stop_timeout is not None:
        container["stopTimeout"] = stop_timeout
    return container


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
    """Create the image, cluster, roles, task definitions, services and their autoscaling."""
    component = pulumi.ComponentResource("payment:compute:Compute", "compute")
    opts = pulumi.ResourceOptions(parent=component)
    named = pulumi.ResourceOptions(parent=component, delete_before_replace=True)
    c = profile.compute
    account_id = aws.get_caller_identity_output().account_id
    region = aws.get_region_output().region

    # --- image ---------------------------------------------------------------------------
    repo = aws.ecr.Repository(
        "api",
        name=profile.name("api"),
        image_tag_mutability="IMMUTABLE",
        image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
            scan_on_push=True
        ),
        encryption_configurations=[
            aws.ecr.RepositoryEncryptionConfigurationArgs(
                encryption_type="KMS", kms_key=keys.data_key_arn
            )
        ],
        force_delete=True,
        opts=named,
    )
    aws.ecr.LifecyclePolicy(
        "api",
        repository=repo.name,
        policy=json.dumps(
            {
                "rules": [
                    {
                        "rulePriority": 1,
                        "description": f"keep the newest {c.image_keep_count} images",
                        "selection": {
                            "tagStatus": "any",
                            "countType": "imageCountMoreThan",
                            "countNumber": c.image_keep_count,
                        },
                        "action": {"type": "expire"},
                    }
                ]
            }
        ),
        opts=opts,
    )
    image = _image(profile, repo, opts)
    pull_repository_arn: pulumi.Output[str] = (
        pulumi.Output.from_input(repository_arn_from_uri(profile.deployment.image_uri))
        if profile.deployment.image_uri
        else repo.arn
    )

    # --- cluster -------------------------------------------------------------------------
    cluster = aws.ecs.Cluster(
        "main",
        name=profile.name("cluster"),
        settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
        opts=named,
    )

    # --- IAM -----------------------------------------------------------------------------
    execution_role = service_role(
        "execution",
        name=profile.name("execution"),
        service=ECS_TASKS,
        account_id=account_id,
        description="ECS agent: pull the image, ship logs, resolve the injected secrets",
        opts=opts,
    )
    execution_policy = aws.iam.RolePolicy(
        "execution",
        role=execution_role.id,
        policy=policy_document(
            [
                # NOTE: ecr:GetAuthorizationToken supports no resource-level scoping: "*" is the
                # only Resource AWS accepts for it. Every other statement names exact ARNs.
                {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
                {
                    "Effect": "Allow",
                    "Action": [
                        "ecr:BatchCheckLayerAvailability",
                        "ecr:BatchGetImage",
                        "ecr:GetDownloadUrlForLayer",
                    ],
                    "Resource": pull_repository_arn,
                },
                {
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": [
                        pulumi.Output.concat(logs.api_log_group_arn, ":*"),
                        pulumi.Output.concat(logs.worker_log_group_arn, ":*"),
                    ],
                },
                {
                    "Effect": "Allow",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": [database.master_secret_arn, cache.auth_secret_arn],
                },
                {
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": keys.data_key_arn,
                    "Condition": {
                        "StringEquals": {
                            "kms:ViaService": pulumi.Output.concat(
                                "secretsmanager.", region, ".amazonaws.com"
                            )
                        }
                    },
                },
            ]
        ),
        opts=opts,
    )

    api_role = service_role(
        "api-task",
        name=profile.name("api-task"),
        service=ECS_TASKS,
        account_id=account_id,
        description="Payment API tasks: enqueue payments",
        opts=opts,
    )
    api_policy = aws.iam.RolePolicy(
        "api-task",
        role=api_role.id,
        policy=policy_document(
            [
                {
                    "Effect": "Allow",
                    "Action": "sqs:SendMessage",
                    "Resource": messaging.payment_queue_arn,
                },
                # NOTE: sending to a KMS-encrypted queue needs GenerateDataKey and Decrypt on
                # its key; without them SendMessage fails with KMS.AccessDeniedException.
                {
                    "Effect": "Allow",
                    "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                    "Resource": keys.messaging_key_arn,
                },
            ]
        ),
        opts=opts,
    )

    worker_role = service_role(
        "worker-task",
        name=profile.name("worker-task"),
        service=ECS_TASKS,
        account_id=account_id,
        description=(
            "Payment worker tasks: consume payments, publish events, write the transaction log"
        ),
        opts=opts,
    )
    worker_policy = aws.iam.RolePolicy(
        "worker-task",
        role=worker_role.id,
        policy=policy_document(
            [
                {
                    "Effect": "Allow",
                    "Action": [
                        "sqs:ReceiveMessage",
                        "sqs:DeleteMessage",
                        "sqs:ChangeMessageVisibility",
                        "sqs:GetQueueAttributes",
                    ],
                    "Resource": messaging.payment_queue_arn,
                },
                {
                    "Effect": "Allow",
                    "Action": "sns:Publish",
                    "Resource": messaging.events_topic_arn,
                },
                {
                    "Effect": "Allow",
                    "Action": "s3:PutObject",
                    "Resource": pulumi.Output.concat(storage.transaction_log_bucket_arn, "/*"),
                },
                {
                    "Effect": "Allow",
                    "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                    "Resource": [keys.messaging_key_arn, keys.data_key_arn],
                },
            ]
        ),
        opts=opts,
    )

    # --- task definitions ----------------------------------------------------------------
    environment: dict[str, Any] = {
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
        "REDIS_HOST": cache.primary_endpoint,
        "REDIS_PORT": str(cache.port),
        "REDIS_TLS": "true",
        "CACHE_TTL_SECONDS": str(c.cache_ttl_seconds),
    }
    # Credentials never go into `environment`: ECS resolves these at start with the execution
    # role (DB_CREDENTIALS is the whole RDS-managed JSON secret: username and password).
    secrets = {
        "DB_CREDENTIALS": database.master_secret_arn,
        "REDIS_AUTH_TOKEN": cache.auth_secret_arn,
    }
    start_period = min(c.health_check_grace_seconds, 300)  # ECS allows 0..300

    def task_definition(
        kind: str, cpu: int, memory: int, role: aws.iam.Role, container: dict[str, Any]
    ) -> aws.ecs.TaskDefinition:
        return aws.ecs.TaskDefinition(
            kind,
            family=profile.name(kind),
            cpu=str(cpu),
            memory=str(memory),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX", cpu_architecture="X86_64"
            ),
            execution_role_arn=execution_role.arn,
            task_role_arn=role.arn,
            # The read-only root file system needs a writable /tmp: task-local ephemeral storage.
            volumes=[aws.ecs.TaskDefinitionVolumeArgs(name=TMP_VOLUME)],
            container_definitions=pulumi.Output.json_dumps([container]),
            opts=opts,
        )

    api_task = task_definition(
        "api",
        c.cpu,
        c.memory,
        api_role,
        _container(
            name=API_CONTAINER,
            image=image,
            command=["python", "-m", "payment_app.api"],
            log_group=logs.api_log_group_name,
            region=region,
            environment=environment,
            secrets=secrets,
            # The image has no curl; the standard library does the HTTP check.
            health_command=[
                "python",
                "-c",
                "import urllib.request; urllib.request.urlopen("
                f"'http://127.0.0.1:{c.container_port}{c.health_check_path}', timeout=3)",
            ],
            start_period=start_period,
            port=c.container_port,
        ),
    )
    worker_task = task_definition(
        "worker",
        c.worker_cpu,
        c.worker_memory,
        worker_role,
        _container(
            name=WORKER_CONTAINER,
            image=image,
            command=["python", "-m", "payment_app.worker"],
            log_group=logs.worker_log_group_name,
            region=region,
            environment=environment,
            secrets=secrets,
            # The worker serves no port: the image's own check reads its heartbeat file in /tmp.
            health_command=["python", "-m", "payment_app.healthcheck"],
            start_period=start_period,
            stop_timeout=WORKER_STOP_TIMEOUT_SECONDS,
        ),
    )

    # --- services ------------------------------------------------------------------------
    # NOTE: without NAT, tasks pull the image and resolve secrets only through the interface
    # endpoints, and the target group must be attached to a listener before a service can use
    # it. depends_on takes no Outputs, so the inputs below carry those dependencies instead.
    endpoint_ids = list(endpoints.interface_endpoint_ids.values())
    private_subnets = [_after(subnet, endpoint_ids) for subnet in network.private_subnet_ids]

    def service(
        kind: str,
        task: aws.ecs.TaskDefinition,
        desired: int,
        security_group: pulumi.Output[str],
        task_policy: aws.iam.RolePolicy,
        load_balancers: list[aws.ecs.ServiceLoadBalancerArgs] | None = None,
        grace: int | None = None,
    ) -> aws.ecs.Service:
        return aws.ecs.Service(
            kind,
            name=profile.name(kind),
            cluster=cluster.arn,
            task_definition=task.arn,
            launch_type="FARGATE",
            platform_version="LATEST",
            desired_count=desired,
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=private_subnets,
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
            wait_for_steady_state=False,
            force_delete=True,
            # NOTE: application autoscaling owns the desired count after creation; without
            # ignore_changes every `pulumi up` would reset it to the baseline mid-spike.
            opts=pulumi.ResourceOptions.merge(
                named,
                pulumi.ResourceOptions(
                    ignore_changes=["desiredCount"],
                    # Tasks must not start before their permissions exist.
                    depends_on=[execution_policy, task_policy],
                ),
            ),
        )

    api_service = service(
        "api",
        api_task,
        c.desired_count,
        security.api_security_group_id,
        api_policy,
        load_balancers=[
            aws.ecs.ServiceLoadBalancerArgs(
                target_group_arn=_after(edge.target_group_arn, [edge.https_listener_arn]),
                container_name=API_CONTAINER,
                container_port=c.container_port,
            )
        ],
        grace=c.health_check_grace_seconds,
    )
    worker_service = service(
        "worker", worker_task, c.worker_min_count, security.worker_security_group_id, worker_policy
    )

    # --- autoscaling ---------------------------------------------------------------------
    # NOTE: the profile validates max_count >= 10x desired_count, so a 10x spike can scale out.
    def scaling_target(
        kind: str, svc: aws.ecs.Service, low: int, high: int
    ) -> aws.appautoscaling.Target:
        return aws.appautoscaling.Target(
            kind,
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", cluster.name, "/", svc.name),
            min_capacity=low,
            max_capacity=high,
            opts=opts,
        )

    api_target = scaling_target("api", api_service, c.min_count, c.max_count)
    for metric, target_value in (
        ("ECSServiceAverageCPUUtilization", c.cpu_target_percent),
        ("ECSServiceAverageMemoryUtilization", c.memory_target_percent),
    ):
        aws.appautoscaling.Policy(
            f"api-{'cpu' if 'CPU' in metric else 'memory'}",
            policy_type="TargetTrackingScaling",
            service_namespace=api_target.service_namespace,
            scalable_dimension=api_target.scalable_dimension,
            resource_id=api_target.resource_id,
            target_tracking_scaling_policy_configuration={
                "target_value": target_value,
                "predefined_metric_specification": {"predefined_metric_type": metric},
                "scale_in_cooldown": c.scale_in_cooldown_seconds,
                "scale_out_cooldown": c.scale_out_cooldown_seconds,
            },
            opts=opts,
        )

    # The worker tracks backlog per task (visible messages / running tasks, AWS's recommended
    # SQS metric) so capacity follows the queue, not CPU; worker_min_count >= 1 keeps the
    # divisor defined (at 0 tasks the metric would have no data and never scale out).
    worker_target = scaling_target("worker", worker_service, c.worker_min_count, c.worker_max_count)
    aws.appautoscaling.Policy(
        "worker-backlog",
        policy_type="TargetTrackingScaling",
        service_namespace=worker_target.service_namespace,
        scalable_dimension=worker_target.scalable_dimension,
        resource_id=worker_target.resource_id,
        target_tracking_scaling_policy_configuration={
            "target_value": c.worker_messages_per_task,
            "scale_in_cooldown": c.scale_in_cooldown_seconds,
            "scale_out_cooldown": c.scale_out_cooldown_seconds,
            "customized_metric_specification": {
                "metrics": [
                    {
                        "id": "visible",
                        "return_data": False,
                        "metric_stat": {
                            "stat": "Sum",
                            "metric": {
                                "namespace": "AWS/SQS",
                                "metric_name": "ApproximateNumberOfMessagesVisible",
                                "dimensions": [
                                    {"name": "QueueName", "value": messaging.payment_queue_name}
                                ],
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
                                    {"name": "ServiceName", "value": worker_service.name},
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
            },
        },
        opts=opts,
    )

    outputs = ComputeOutputs(
        cluster_name=cluster.name,
        cluster_arn=cluster.arn,
        api_service_name=api_service.name,
        worker_service_name=worker_service.name,
        repository_url=repo.repository_url,
        image_ref=image,
        api_task_role_arn=api_role.arn,
        worker_task_role_arn=worker_role.arn,
        execution_role_arn=execution_role.arn,
    )
    component.register_outputs(
        {
            "cluster_name": outputs.cluster_name,
            "api_service_name": outputs.api_service_name,
            "worker_service_name": outputs.worker_service_name,
            "repository_url": outputs.repository_url,
            "image_ref": outputs.image_ref,
        }
    )
    return outputs
