"""IAM cases: wildcard actions and resources, trust policies, AWS managed policies."""

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
