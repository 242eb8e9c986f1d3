"""Security groups as a least-privilege graph.

internet -> ALB 443/80; ALB -> API tasks on the app port; API and worker tasks -> database 5432,
cache 6379, interface endpoints 443 and the S3 prefix list 443; nothing else in or out.

Creates, under `payment:security:Security`: six security groups (ALB, API, worker, database,
cache, endpoints) and one `aws.vpc.SecurityGroupIngressRule` / `SecurityGroupEgressRule` per edge
of the graph. Peers are security groups (or the S3 prefix list), never CIDRs, except the
internet in front of the ALB. Every group and rule has a description (AwsSolutions-EC27); no
admin port is open anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from config import Profile
from payment_platform.component import Scope, component_scope
from payment_platform.network import NetworkOutputs

HTTPS = 443
HTTP = 80
POSTGRES = 5432
REDIS = 6379


@dataclass(frozen=True)
class SecurityOutputs:
    """One security group per tier, for the resources placed in that tier.

    Attributes:
        alb_security_group_id: The load balancer's group (the only one open to the internet).
        api_security_group_id: The API tasks' group (app port from the ALB only).
        worker_security_group_id: The worker tasks' group (no inbound traffic).
        database_security_group_id: Aurora's group (5432 from the tasks only, no egress).
        cache_security_group_id: Redis's group (6379 from the tasks only, no egress).
        endpoints_security_group_id: The interface endpoints' group (443 from the tasks only).
    """

    alb_security_group_id: pulumi.Output[str]
    api_security_group_id: pulumi.Output[str]
    worker_security_group_id: pulumi.Output[str]
    database_security_group_id: pulumi.Output[str]
    cache_security_group_id: pulumi.Output[str]
    endpoints_security_group_id: pulumi.Output[str]


def build(profile: Profile, network: NetworkOutputs) -> SecurityOutputs:
    """The six groups, then one rule resource per edge of the traffic graph."""
    scope = component_scope("security")
    groups = _groups(profile, network, scope)
    _edge_rules(profile, groups, scope)
    for task, task_sg in (
        ("api", groups.api_security_group_id),
        ("worker", groups.worker_security_group_id),
    ):
        _task_rules(task, task_sg, groups, network, scope)
    return scope.finish(groups)


def _groups(profile: Profile, network: NetworkOutputs, scope: Scope) -> SecurityOutputs:
    def group(logical: str, service: str, description: str, sinks_only: bool) -> pulumi.Output[str]:
        # NOTE: groups are auto-named (no `name`) so a replacement can be created before the
        # old group, still attached to ENIs, is deleted. The provider removes AWS's default
        # allow-all egress rule at creation; the groups that must never initiate traffic also
        # say `egress=[]` explicitly, so Pulumi keeps them without egress. The groups with
        # egress rule resources must not set inline rules: inline and separate rules fight.
        sg = aws.ec2.SecurityGroup(
            logical,
            vpc_id=network.vpc_id,
            description=description,
            egress=[] if sinks_only else None,
            revoke_rules_on_delete=True,
            tags={"Name": profile.name(service)},
            opts=scope.child,
        )
        return sg.id

    return SecurityOutputs(
        alb_security_group_id=group(
            "alb-sg", "alb-sg", "Internet-facing ALB: HTTPS and HTTP redirect in", False
        ),
        api_security_group_id=group(
            "api-sg", "api-sg", "API tasks: app port from the ALB only", False
        ),
        worker_security_group_id=group(
            "worker-sg", "worker-sg", "Worker tasks: no inbound traffic", False
        ),
        database_security_group_id=group(
            "database-sg", "db-sg", "Aurora PostgreSQL: 5432 from API and worker", True
        ),
        cache_security_group_id=group(
            "cache-sg", "cache-sg", "ElastiCache Redis: 6379 from API and worker", True
        ),
        endpoints_security_group_id=group(
            "endpoints-sg", "endpoints-sg", "Interface VPC endpoints: 443 from API and worker", True
        ),
    )


def _ingress(
    logical: str,
    to: pulumi.Output[str],
    port: int,
    description: str,
    scope: Scope,
    peer: pulumi.Output[str] | None = None,
    cidr: str | None = None,
) -> None:
    aws.vpc.SecurityGroupIngressRule(
        logical,
        security_group_id=to,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        referenced_security_group_id=peer,
        cidr_ipv4=cidr,
        description=description,
        opts=scope.child,
    )


def _egress(
    logical: str,
    source: pulumi.Output[str],
    port: int,
    description: str,
    scope: Scope,
    peer: pulumi.Output[str] | None = None,
    prefix_list: pulumi.Output[str] | None = None,
) -> None:
    aws.vpc.SecurityGroupEgressRule(
        logical,
        security_group_id=source,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        referenced_security_group_id=peer,
        prefix_list_id=prefix_list,
        description=description,
        opts=scope.child,
    )


def _edge_rules(profile: Profile, groups: SecurityOutputs, scope: Scope) -> None:
    """Internet -> ALB on 443 and 80, ALB -> API tasks on the app port."""
    alb, api = groups.alb_security_group_id, groups.api_security_group_id
    # The only internet-facing rules: the ALB is the platform's public entry point.
    _ingress("alb-in-https", alb, HTTPS, "HTTPS from the internet", scope, cidr="0.0.0.0/0")
    _ingress("alb-in-http", alb, HTTP, "HTTP from the internet (redirect)", scope, cidr="0.0.0.0/0")
    port = profile.compute.container_port
    _egress("alb-out-api", alb, port, "ALB to API tasks on the app port", scope, peer=api)
    _ingress("api-in-alb", api, port, "App port from the ALB", scope, peer=alb)


def _task_rules(
    task: str,
    task_sg: pulumi.Output[str],
    groups: SecurityOutputs,
    network: NetworkOutputs,
    scope: Scope,
) -> None:
    """One task tier -> database, cache, interface endpoints and S3; each sink lets it in."""
    database = groups.database_security_group_id
    cache = groups.cache_security_group_id
    endpoints = groups.endpoints_security_group_id
    _egress(f"{task}-out-db", task_sg, POSTGRES, f"{task} to Aurora PostgreSQL", scope, database)
    _egress(f"{task}-out-cache", task_sg, REDIS, f"{task} to Redis (TLS)", scope, cache)
    _egress(
        f"{task}-out-endpoints", task_sg, HTTPS, f"{task} to AWS API endpoints", scope, endpoints
    )
    # ECR image layers and the transaction-log bucket: S3 through the gateway endpoint.
    _egress(
        f"{task}-out-s3",
        task_sg,
        HTTPS,
        f"{task} to S3 via the gateway endpoint",
        scope,
        prefix_list=network.s3_endpoint_prefix_list_id,
    )
    _ingress(f"db-in-{task}", database, POSTGRES, f"PostgreSQL from {task} tasks", scope, task_sg)
    _ingress(f"cache-in-{task}", cache, REDIS, f"Redis from {task} tasks", scope, task_sg)
    _ingress(f"endpoints-in-{task}", endpoints, HTTPS, f"HTTPS from {task} tasks", scope, task_sg)
