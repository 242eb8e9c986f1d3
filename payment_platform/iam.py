"""IAM helpers shared by the builders: policy documents and service roles.

Every role in the platform is assumed by one AWS service on behalf of this account only; the
trust policy says so with `aws:SourceAccount` (confused-deputy guard), plus any narrower
condition the service supports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws


def policy_document(statements: Sequence[Mapping[str, Any]]) -> pulumi.Output[str]:
    """A JSON policy document; statements may hold Outputs (ARNs of other resources)."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def deny_insecure_transport(
    action: str | Sequence[str], resource: pulumi.Input[str] | Sequence[pulumi.Input[str]]
) -> dict[str, Any]:
    """The statement that refuses every request made without TLS (S3.5, SQS.3, SNS.4)."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Resource": resource,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def service_role(
    resource_name: str,
    *,
    name: str,
    service: str,
    account_id: pulumi.Input[str],
    description: str,
    opts: pulumi.ResourceOptions,
    conditions: Mapping[str, Any] | None = None,
) -> aws.iam.Role:
    """A named role that only `service` may assume, and only for this account."""
    trust = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": account_id}, **(conditions or {})},
    }
    return aws.iam.Role(
        resource_name,
        name=name,
        description=description,
        assume_role_policy=policy_document([trust]),
        # NOTE: explicitly named: a replacement must delete the old role first.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(delete_before_replace=True)),
    )


@dataclass(frozen=True)
class RoleWithPolicy:
    """A service role and the one inline policy that says what it may do."""

    role: aws.iam.Role
    policy: aws.iam.RolePolicy


def role_with_policy(
    resource_name: str,
    *,
    name: str,
    service: str,
    account_id: pulumi.Input[str],
    description: str,
    statements: Sequence[Mapping[str, Any]],
    opts: pulumi.ResourceOptions,
    conditions: Mapping[str, Any] | None = None,
    policy_resource_name: str | None = None,
) -> RoleWithPolicy:
    """`service_role` plus its inline policy of `statements` (logical name: the role's).

    Resources that act through the role (a flow log, a trail) should depend on `.policy`: the
    permissions must exist before the service's first attempt.
    """
    role = service_role(
        resource_name,
        name=name,
        service=service,
        account_id=account_id,
        description=description,
        opts=opts,
        conditions=conditions,
    )
    policy = aws.iam.RolePolicy(
        policy_resource_name or resource_name,
        role=role.id,
        policy=policy_document(statements),
        opts=opts,
    )
    return RoleWithPolicy(role=role, policy=policy)
