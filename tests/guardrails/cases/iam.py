"""IAM cases: wildcard actions and resources, trust policies, AWS managed policies, the
execution role's kms:ViaService."""

from __future__ import annotations

from typing import Any

from resource_graph import Graph, Resource
from tests.guardrails.cases.base import Case, registrar
from tests.guardrails.synth import ACCOUNT, KEY_ARN, doc, graph, res

CASES: list[Case] = []
case = registrar(CASES)


def _role_policy(*statements: dict[str, Any]) -> Resource:
    return res(
        "aws:iam/rolePolicy:RolePolicy",
        "api-task-policy",
        role="payment-api-task-dev",
        policy=doc(*statements),
    )


QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:payment-queue-dev"


@case("iam", "Allow on action *", "IAM.1", "api-task-policy")
def _(ok: bool) -> Graph:
    action = "sqs:SendMessage" if ok else "*"
    return graph(_role_policy({"Effect": "Allow", "Action": action, "Resource": QUEUE_ARN}))


@case("iam", "Allow on every SQS action", "IAM.21", "api-task-policy")
def _(ok: bool) -> Graph:
    action = ["sqs:SendMessage", "sqs:ReceiveMessage"] if ok else "sqs:*"
    return graph(_role_policy({"Effect": "Allow", "Action": action, "Resource": QUEUE_ARN}))


@case("iam", "kms:Decrypt on any key", "KMS.2", "api-task-policy")
def _(ok: bool) -> Graph:
    statements = [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}]
    statements.append(
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN if ok else "*"}
    )
    return graph(_role_policy(*statements))


@case("iam", "wildcard key ARN", "KMS.2", "api-task-policy")
def _(ok: bool) -> Graph:
    resource = KEY_ARN if ok else f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*"
    objects = f"arn:aws:s3:::payment-transaction-logs-dev-{ACCOUNT}/*"
    return graph(
        _role_policy(
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": resource},
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": objects},
        )
    )


@case("iam", "trust policy open to any account", "IAM.1", "api-task-role")
def _(ok: bool) -> Graph:
    principal = {"Service": "ecs-tasks.amazonaws.com"} if ok else {"AWS": "*"}
    trust = doc({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"})
    return graph(
        res(
            "aws:iam/role:Role",
            "api-task-role",
            name="payment-api-task-dev",
            assumeRolePolicy=trust,
        )
    )


@case("iam", "AWS managed admin policy", "IAM.1", "admin")
def _(ok: bool) -> Graph:
    arn = (
        "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
        if ok
        else "arn:aws:iam::aws:policy/AdministratorAccess"
    )
    return graph(
        res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "admin", role="r", policyArn=arn)
    )


EXECUTION_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/payment-execution-dev"
VIA_SECRETS_MANAGER = {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}


def _execution_role(condition: dict[str, Any] | None) -> list[Resource]:
    """A task definition, its execution role and the role's policy granting kms:Decrypt."""
    statement: dict[str, Any] = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN}
    if condition is not None:
        statement["Condition"] = condition
    trust = {
        "Effect": "Allow",
        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    return [
        res(
            "aws:iam/role:Role",
            "execution",
            id="payment-execution-dev",
            arn=EXECUTION_ROLE_ARN,
            name="payment-execution-dev",
            assumeRolePolicy=doc(trust),
        ),
        res(
            "aws:iam/rolePolicy:RolePolicy",
            "execution-policy",
            role="payment-execution-dev",
            policy=doc(statement),
        ),
        res(
            "aws:ecs/taskDefinition:TaskDefinition",
            "api-task",
            executionRoleArn=EXECUTION_ROLE_ARN,
            taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/payment-api-task-dev",
        ),
    ]


@case("iam", "execution role decrypts without kms:ViaService", "KMS.2", "execution-policy")
def _(ok: bool) -> Graph:
    return graph(*_execution_role({"StringEquals": VIA_SECRETS_MANAGER} if ok else None))


@case("iam", "execution role's kms:ViaService names no service", "KMS.2", "execution-policy")
def _(ok: bool) -> Graph:
    # {"Null": {"kms:ViaService": "false"}} admits a call through any AWS service.
    condition = {"StringLike": VIA_SECRETS_MANAGER} if ok else {"Null": {"kms:ViaService": "false"}}
    return graph(*_execution_role(condition))


# ------------------------------------------------------------- iam-data-connect (IAM tokens)

CLUSTER_ID = "cluster-ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DBUSER = f"arn:aws:rds-db:us-east-1:{ACCOUNT}:dbuser:{CLUSTER_ID}/payment_app"
CACHE_GROUP = f"arn:aws:elasticache:us-east-1:{ACCOUNT}:replicationgroup:payment-cache-dev"
CACHE_USER = f"arn:aws:elasticache:us-east-1:{ACCOUNT}:user:payment-cache-app-dev"


def _data_stores() -> list[Resource]:
    return [
        res("aws:rds/cluster:Cluster", "database", state={"clusterResourceId": CLUSTER_ID}),
        res("aws:elasticache/replicationGroup:ReplicationGroup", "cache", arn=CACHE_GROUP),
        res("aws:elasticache/user:User", "cache-app-user", arn=CACHE_USER),
    ]


def _connect(action: str, resource: Any) -> Graph:
    statement = {"Effect": "Allow", "Action": action, "Resource": resource}
    return graph(*_data_stores(), _role_policy(statement))


@case("iam-data-connect", "rds-db:connect on every role", "IAM.21", "api-task-policy")
def _(ok: bool) -> Graph:
    return _connect("rds-db:connect", DBUSER if ok else DBUSER.replace("/payment_app", "/*"))


@case("iam-data-connect", "rds-db:connect on another cluster", "PCI DSS 7.2.2", "api-task-policy")
def _(ok: bool) -> Graph:
    other = DBUSER.replace(CLUSTER_ID, "cluster-ZZZZZZZZZZZZZZZZZZZZZZZZZZ")
    return _connect("rds-db:connect", DBUSER if ok else other)


@case("iam-data-connect", "rds-db wildcard action on *", "IAM.21", "api-task-policy")
def _(ok: bool) -> Graph:
    return _connect("rds-db:connect" if ok else "rds-db:*", DBUSER if ok else "*")


@case("iam-data-connect", "elasticache:Connect on every user", "IAM.21", "api-task-policy")
def _(ok: bool) -> Graph:
    users = CACHE_USER if ok else CACHE_USER.rsplit(":", 1)[0] + ":*"
    return _connect("elasticache:Connect", [CACHE_GROUP, users])


@case("iam-data-connect", "elasticache:Connect on a foreign cache", "IAM.21", "api-task-policy")
def _(ok: bool) -> Graph:
    group = CACHE_GROUP if ok else CACHE_GROUP.replace("payment-cache-dev", "other-cache")
    return _connect("elasticache:Connect", [group, CACHE_USER])


# --- task grants: the idempotency secret and the dead-letter queue -----------------------------

IDEMPOTENCY_ARN = (
    f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:payment-idempotency-dev-AbCdEf"
)
DLQ_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:payment-queue-dlq-dev"
API_TASK_ARN = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/payment-api-dev:1"
READ = {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": IDEMPOTENCY_ARN}
CONSUME = {
    "Effect": "Allow",
    "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage"],
    "Resource": DLQ_ARN,
}


def _tasks(api: list[dict[str, Any]], worker: list[dict[str, Any]]) -> Graph:
    """The API (behind a load balancer) and the worker, their roles and policies, the secret and
    the payment queue with its DLQ."""

    def role(kind: str) -> Resource:
        name = f"payment-{kind}-task-dev"
        return res(
            "aws:iam/role:Role",
            f"{kind}-task",
            arn=f"arn:aws:iam::{ACCOUNT}:role/{name}",
            name=name,
        )

    def policy(kind: str, statements: list[dict[str, Any]]) -> Resource:
        return res(
            "aws:iam/rolePolicy:RolePolicy",
            f"{kind}-task-policy",
            role=f"payment-{kind}-task-dev",
            policy=doc(*statements),
        )

    api_task = res(
        "aws:ecs/taskDefinition:TaskDefinition",
        "api",
        id=API_TASK_ARN,
        arn=API_TASK_ARN,
        taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/payment-api-task-dev",
    )
    api_service = res(
        "aws:ecs/service:Service",
        "api-service",
        taskDefinition=API_TASK_ARN,
        loadBalancers=[{"targetGroupArn": "tg", "containerName": "api", "containerPort": 8080}],
    )
    queue = res(
        "aws:sqs/queue:Queue",
        "payment-queue",
        arn=QUEUE_ARN,
        redrivePolicy=f'{{"deadLetterTargetArn": "{DLQ_ARN}", "maxReceiveCount": 5}}',
    )
    return graph(
        res(
            "aws:secretsmanager/secret:Secret",
            "idempotency",
            arn=IDEMPOTENCY_ARN,
            name="payment-idempotency-dev",
        ),
        queue,
        res("aws:sqs/queue:Queue", "payment-dlq", arn=DLQ_ARN),
        role("api"),
        role("worker"),
        policy("api", api),
        policy("worker", worker),
        api_task,
        api_service,
    )


@case("iam-task-grants", "worker may read the idempotency secret", "IAM.21", "worker-task-policy")
def _(ok: bool) -> Graph:
    return _tasks([READ], [CONSUME] if ok else [CONSUME, READ])


@case(
    "iam-task-grants", "secret read through a wildcard ARN", "PCI DSS 7.2.2", "worker-task-policy"
)
def _(ok: bool) -> Graph:
    wildcard = {**READ, "Resource": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:payment-*"}
    return _tasks([READ], [CONSUME] if ok else [CONSUME, wildcard])


@case("iam-task-grants", "API may consume the DLQ", "IAM.21", "api-task-policy")
def _(ok: bool) -> Graph:
    return _tasks([READ] if ok else [READ, CONSUME], [CONSUME])
