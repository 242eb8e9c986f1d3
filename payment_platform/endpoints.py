"""Interface VPC endpoints for exactly the AWS APIs the private tasks call.

Creates, under `payment:endpoints:Endpoints`, one interface endpoint per service below, with
private DNS (the SDKs and the Fargate agent keep their public endpoint names), in the first
`network.endpoint_az_count` private subnets (the subnets of the first zone IDs of
`network.zone_ids`, in order), behind the endpoints security group (443 from the API and worker
tasks only), with a policy that lets only this account's principals reach this account's
resources. The S3 gateway endpoint belongs to the network builder.

Each interface endpoint costs about $7/month per AZ: `SERVICES` gives each one's reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from config import Profile
from payment_platform.component import component_scope
from payment_platform.iam import policy_document
from payment_platform.network import NetworkOutputs
from payment_platform.security import SecurityOutputs

# NOTE: without NAT, Fargate needs ECR api + ECR dkr + the S3 gateway endpoint to pull images
# and Logs to ship container logs, or tasks never start; the API's start-up migrations need
# Secrets Manager to read the master secret. An
# ECR pull-through cache does not help: its first pull needs a path to the upstream registry.
SERVICES: dict[str, str] = {
    "ecr.api": "image pull: authentication token and image manifests (Fargate agent)",
    "ecr.dkr": "image pull: the Docker registry API (layers then come from S3)",
    "logs": "the awslogs log driver ships API and worker container logs",
    "secretsmanager": "the API's start-up migrations read the database master secret",
    "sqs": "the API enqueues payments; the worker receives and deletes them",
    "sns": "the worker publishes payment events to the events topic",
}
# NOTE: without a policy an endpoint allows any principal to reach any account's resources (a
# task's stolen credentials, or an attacker's own, could move data to another account through
# it). Each policy allows the service's actions only when the caller and the resource are both in
# this account: aws:PrincipalAccount and aws:ResourceAccount. Both are global keys, evaluated in
# endpoint policies ("Control access to VPC endpoints using endpoint policies", AWS PrivateLink
# guide). The IAM guide ("AWS global condition context keys") has aws:PrincipalAccount "always
# included in the request context" and aws:ResourceAccount "for most service actions", listing
# the exceptions: EBS, some EC2 copy/create actions, EventBridge, two WorkSpaces actions; none of
# ECR, Logs, Secrets Manager, SQS or SNS. AWS's data-perimeter endpoint policy for ECR
# (aws-samples/data-perimeter-policy-examples, ecr.api_endpoint_policy.json) conditions "*" the
# same way on the organisation keys (aws:PrincipalOrgID, aws:ResourceOrgID). A service whose
# requests lack aws:ResourceAccount would list only PrincipalAccount below: none of these does.
# The S3 gateway endpoint differs (see network.s3_endpoint_policy).
ACCOUNT_KEYS: dict[str, tuple[str, ...]] = {
    service: ("aws:PrincipalAccount", "aws:ResourceAccount") for service in SERVICES
}
# NOTE: ecr:GetAuthorizationToken names no resource (the token is for the caller's own
# registry), so no AWS page says what aws:ResourceAccount holds for it, and if the key were
# absent the image pull would be denied and no task would start. A second statement allows
# just these resource-less actions to this account's callers: it grants nothing a token does not
# already need (every pull is still checked by the first statement and the execution role).
CALLER_ONLY_ACTIONS: dict[str, tuple[str, ...]] = {"ecr.api": ("ecr:GetAuthorizationToken",)}
# The IAM service prefix of each endpoint's actions (ECR's two endpoints share `ecr`).
ACTION_PREFIX: dict[str, str] = {service: service.split(".")[0] for service in SERVICES}

# Deliberately absent: kms (the tasks never call KMS themselves: their kms:GenerateDataKey and
# kms:Decrypt grants are used by SQS, SNS, S3 and Secrets Manager, which call KMS server-side on
# the caller's behalf for their own encryption, so no KMS request leaves the VPC; an endpoint
# would cost ~$7.30 a month per AZ for nothing), sts (task credentials come from the ECS
# credentials endpoint and the RDS and ElastiCache tokens are signed locally; nothing calls
# STS), ssm (no parameters; ECS Exec is off), ecs
# (the Fargate platform reaches the ECS control plane on its own), monitoring (no custom metrics).


@dataclass(frozen=True)
class EndpointsOutputs:
    """The interface endpoints, for services that must start only once they exist.

    Attributes:
        interface_endpoint_ids: AWS service name (`ecr.api`, `logs`, ...) -> endpoint id.
    """

    interface_endpoint_ids: dict[str, pulumi.Output[str]]


def build(profile: Profile, network: NetworkOutputs, security: SecurityOutputs) -> EndpointsOutputs:
    """One interface endpoint per entry of `SERVICES`, with private DNS, in the private subnets."""
    scope = component_scope("endpoints")
    region = aws.get_region_output().region
    account = aws.get_caller_identity_output().account_id
    subnets = network.private_subnet_ids[: profile.network.endpoint_az_count]

    ids: dict[str, pulumi.Output[str]] = {}
    for service in SERVICES:
        logical = service.replace(".", "-")
        endpoint = aws.ec2.VpcEndpoint(
            f"{logical}-endpoint",
            vpc_id=network.vpc_id,
            service_name=pulumi.Output.format("com.amazonaws.{0}.{1}", region, service),
            vpc_endpoint_type="Interface",
            private_dns_enabled=True,
            subnet_ids=subnets,
            security_group_ids=[security.endpoints_security_group_id],
            policy=endpoint_policy(service, account),
            tags={"Name": f"{profile.name('endpoint')}-{logical}"},
            opts=scope.child,
        )
        ids[service] = endpoint.id

    return scope.finish(EndpointsOutputs(interface_endpoint_ids=ids))


def endpoint_policy(service: str, account: pulumi.Input[str]) -> pulumi.Output[str]:
    """The service's actions, only by this account's principals on this account's resources
    (and its resource-less actions, `CALLER_ONLY_ACTIONS`, by this account's principals).
    """
    statements: list[dict[str, object]] = [
        {
            "Sid": "ThisAccountOnly",
            "Effect": "Allow",
            "Principal": "*",
            "Action": f"{ACTION_PREFIX[service]}:*",
            "Resource": "*",
            "Condition": {"StringEquals": dict.fromkeys(ACCOUNT_KEYS[service], account)},
        }
    ]
    if service in CALLER_ONLY_ACTIONS:
        statements.append(
            {
                "Sid": "ThisAccountCallersResourcelessActions",
                "Effect": "Allow",
                "Principal": "*",
                "Action": list(CALLER_ONLY_ACTIONS[service]),
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalAccount": account}},
            }
        )
    return policy_document(statements)
