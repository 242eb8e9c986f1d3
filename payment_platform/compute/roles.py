"""The tasks' IAM roles, each scoped to exact ARNs.

Creates one execution role (image pull, log shipping, the two injected secrets) and separate
task roles for the API (send to the payment queue) and the worker (consume the queue, publish
events, write the transaction log), each with its one inline policy.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from config import Profile
from payment_platform.cache import CacheOutputs
from payment_platform.component import Scope
from payment_platform.database import DatabaseOutputs
from payment_platform.iam import RoleWithPolicy, role_with_policy
from payment_platform.keys import KeysOutputs
from payment_platform.logs import LogsOutputs
from payment_platform.messaging import MessagingOutputs
from payment_platform.storage import StorageOutputs

ECS_TASKS = "ecs-tasks.amazonaws.com"


@dataclass(frozen=True)
class Roles:
    """The execution role the ECS agent uses, and each service's own task role."""

    execution: RoleWithPolicy
    api: RoleWithPolicy
    worker: RoleWithPolicy


def roles(
    profile: Profile,
    pull_repository_arn: pulumi.Output[str],
    keys: KeysOutputs,
    logs: LogsOutputs,
    database: DatabaseOutputs,
    cache: CacheOutputs,
    messaging: MessagingOutputs,
    storage: StorageOutputs,
    scope: Scope,
) -> Roles:
    """Separate roles, so neither the agent nor one service holds another's permissions."""
    account_id = aws.get_caller_identity_output().account_id
    return Roles(
        execution=_execution_role(
            profile, account_id, pull_repository_arn, keys, logs, database, cache, scope
        ),
        api=_api_task_role(profile, account_id, keys, messaging, scope),
        worker=_worker_task_role(profile, account_id, keys, messaging, storage, scope),
    )


def _execution_role(
    profile: Profile,
    account_id: pulumi.Output[str],
    pull_repository_arn: pulumi.Output[str],
    keys: KeysOutputs,
    logs: LogsOutputs,
    database: DatabaseOutputs,
    cache: CacheOutputs,
    scope: Scope,
) -> RoleWithPolicy:
    """The ECS agent's role: pull the image, ship logs, resolve the injected secrets."""
    region = aws.get_region_output().region
    return role_with_policy(
        "execution",
        name=profile.name("execution"),
        service=ECS_TASKS,
        account_id=account_id,
        description="ECS agent: pull the image, ship logs, resolve the injected secrets",
        statements=[
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
        ],
        opts=scope.child,
    )


def _api_task_role(
    profile: Profile,
    account_id: pulumi.Output[str],
    keys: KeysOutputs,
    messaging: MessagingOutputs,
    scope: Scope,
) -> RoleWithPolicy:
    """The API's role: enqueue payments, nothing else."""
    return role_with_policy(
        "api-task",
        name=profile.name("api-task"),
        service=ECS_TASKS,
        account_id=account_id,
        description="Payment API tasks: enqueue payments",
        statements=[
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
        ],
        opts=scope.child,
    )


def _worker_task_role(
    profile: Profile,
    account_id: pulumi.Output[str],
    keys: KeysOutputs,
    messaging: MessagingOutputs,
    storage: StorageOutputs,
    scope: Scope,
) -> RoleWithPolicy:
    """The worker's role: consume payments, publish events, write the transaction log."""
    return role_with_policy(
        "worker-task",
        name=profile.name("worker-task"),
        service=ECS_TASKS,
        account_id=account_id,
        description=(
            "Payment worker tasks: consume payments, publish events, write the transaction log"
        ),
        statements=[
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
        ],
        opts=scope.child,
    )
