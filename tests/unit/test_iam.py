"""The shared service-role helper: one service, this account only, replaceable by name."""

from __future__ import annotations

import json

import pulumi

from offline.mocks import ACCOUNT_ID
from payment_platform.iam import policy_document, service_role
from resource_graph import Graph


def test_service_role_trusts_one_service_for_this_account(run_builder) -> None:
    def program() -> None:
        service_role(
            "flow",
            name="payment-flow-logs-dev",
            service="vpc-flow-logs.amazonaws.com",
            account_id=ACCOUNT_ID,
            description="flow logs",
            opts=pulumi.ResourceOptions(),
            conditions={"ArnLike": {"aws:SourceArn": "arn:aws:ec2:us-east-1:1:vpc-flow-log/*"}},
        )

    graph: Graph = run_builder(program)
    role = graph.one("aws:iam/role:Role")
    assert role.delete_before_replace  # explicitly named: delete before re-creating
    (statement,) = role.policy("assumeRolePolicy")["Statement"]
    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT_ID},
        "ArnLike": {"aws:SourceArn": "arn:aws:ec2:us-east-1:1:vpc-flow-log/*"},
    }


def test_policy_document_resolves_outputs(run_builder) -> None:
    seen: list[str] = []

    def program() -> None:
        arn = pulumi.Output.from_input("arn:aws:sqs:us-east-1:1:q")
        statement = {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": arn}
        policy_document([statement]).apply(seen.append)

    run_builder(program)
    document = json.loads(seen[0])
    assert document["Version"] == "2012-10-17"
    assert document["Statement"][0]["Resource"] == "arn:aws:sqs:us-east-1:1:q"
