"""The tasks' IAM roles, each scoped to exact ARNs.

Creates one execution role (image pull, log shipping; it resolves no secret, since no task
definition injects one) and separate task roles for the API (send to the payment queue; read the
master secret for the migrations it runs at start and the idempotency secret) and the worker
(consume the payment queue and its dead-letter queue, publish events, write the transaction log),
each with its one inline policy. Both task roles may connect
to the database as the application role and to the cache as the service's user, each named by
its exact ARN: the tokens they sign are their only database and cache credentials.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from config import Profile
from payment_platform.cache import CacheOutputs
from payment_platform.component import Scope
from payment_platform.compute.secrets import IdempotencySecret
from payment_platform.database import DatabaseOutputs
from payment_platform.iam import RoleWithPolicy, role_with_policy
from payment_platform.keys import KeysOutputs
from payment_platform.logs import LogsOutputs
from payment_platform.messaging import MessagingOutputs
from payment_platform.storage import StorageOutputs

ECS_TASKS = "ecs-tasks.amazonaws.com"
# What consuming a queue takes: receive, delete when done, extend the visibility timeout while
# processing, read the attributes. The worker holds these on the payment queue and its DLQ.
CONSUME_ACTIONS = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
)


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
    idempotency: IdempotencySecret,
    scope: Scope,
) -> Roles:
    """Separate roles, so neither the agent nor one service holds another's permissions."""
    account_id = aws.get_caller_identity_output().account_id
    return Roles(
        execution=_execution_role(profile, account_id, pull_repository_arn, logs, scope),
        api=_api_task_role(
            profile, account_id, keys, database, cache, messaging, idempotency, scope
        ),
        worker=_worker_task_role(
            profile, account_id, keys, database, cache, messaging, storage, scope
        ),
    )


def data_connect_statements(
    database: DatabaseOutputs, cache: CacheOutputs
) -> list[dict[str, object]]:
    """IAM authentication to the database and the cache, each on its exact resources.

    `rds-db:connect` on one role of one cluster, `elasticache:Connect` on the replication group
    and the service's user (ElastiCache requires both). The app signs its tokens with these.
    """
    return [
        {"Effect": "Allow", "Action": "rds-db:connect", "Resource": database.app_user_arn},
        {
            "Effect": "Allow",
            "Action": "elasticache:Connect",
            "Resource": [cache.replication_group_arn, cache.app_user_arn],
        },
    ]


def _execution_role(
    profile: Profile,
    account_id: pulumi.Output[str],
    pull_repository_arn: pulumi.Output[str],
    logs: LogsOutputs,
    scope: Scope,
) -> RoleWithPolicy:
    """The ECS agent's role: pull the image and ship logs; no secrets to resolve."""
    return role_with_policy(
        "execution",
        name=profile.name("execution"),
        service=ECS_TASKS,
        account_id=account_id,
        description="ECS agent: pull the image, ship logs",
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
        ],
        opts=scope.child,
    )


def _api_task_role(
    profile: Profile,
    account_id: pulumi.Output[str],
    keys: KeysOutputs,
    database: DatabaseOutputs,
    cache: CacheOutputs,
    messaging: MessagingOutputs,
    idempotency: IdempotencySecret,
    scope: Scope,
) -> RoleWithPolicy:
    """The API's role: enqueue payments, connect as the app, read its two secrets.

    The master secret for the migrations it runs at start, the idempotency secret for the HMAC
    of idempotency keys; nothing on the dead-letter queue, which only the worker consumes.
    """
    region = aws.get_region_output().region
    return role_with_policy(
        "api-task",
        name=profile.name("api-task"),
        service=ECS_TASKS,
        account_id=account_id,
        description=(
            "Payment API tasks: enqueue payments, connect, run the migrations, "
            "read the idempotency secret"
        ),
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
            *data_connect_statements(database, cache),
            # NOTE: the API runs the migrations at start (app/README.md, "Migrations"), as the
            # master user, fetching the RDS-managed secret then, so RDS's rotation of it never
            # reaches a running connection. The secret is on the data key: decrypting it is
            # allowed only through Secrets Manager.
            {
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": database.master_secret_arn,
            },
            # The HMAC key of idempotency keys, read at start (app/README.md); the same data key
            # and the same Secrets Manager-only decrypt as the master secret.
            {
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": idempotency.arn,
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


def _worker_task_role(
    profile: Profile,
    account_id: pulumi.Output[str],
    keys: KeysOutputs,
    database: DatabaseOutputs,
    cache: CacheOutputs,
    messaging: MessagingOutputs,
    storage: StorageOutputs,
    scope: Scope,
) -> RoleWithPolicy:
    """The worker's role: consume payments and dead letters, publish events, write records.

    The dead-letter queue is consumed to mark those payments failed; a message the worker cannot
    resolve stays there for the DLQ alarms and the redrive procedure.
    """
    return role_with_policy(
        "worker-task",
        name=profile.name("worker-task"),
        service=ECS_TASKS,
        account_id=account_id,
        description=(
            "Payment worker tasks: consume payments and dead letters, publish events, "
            "write the transaction log"
        ),
        statements=[
            {
                "Effect": "Allow",
                "Action": list(CONSUME_ACTIONS),
                "Resource": messaging.payment_queue_arn,
            },
            {
                "Effect": "Allow",
                "Action": list(CONSUME_ACTIONS),
                "Resource": messaging.payment_dlq_arn,
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
            # Both queues (the DLQ too) and the topic are on the messaging key, the bucket on
            # the data key.
            {
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": [keys.messaging_key_arn, keys.data_key_arn],
            },
            *data_connect_statements(database, cache),
        ],
        opts=scope.child,
    )
