"""Security groups as a least-privilege graph (issue 3).

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
from payment_platform.network import NetworkOutputs

HTTPS = 443
HTTP = 80
POSTGRES = 5432
REDIS = 6379


@dataclass(frozen=True)
class SecurityOutputs:
    alb_security_group_id: pulumi.Output[str]
    api_security_group_id: pulumi.Output[str]
    worker_security_group_id: pulumi.Output[str]
    database_security_group_id: pulumi.Output[str]
    cache_security_group_id: pulumi.Output[str]
    endpoints_security_group_id: pulumi.Output[str]


def build(profile: Profile, network: NetworkOutputs) -> SecurityOutputs:
    component = pulumi.ComponentResource("payment:security:Security", "security")
    opts = pulumi.ResourceOptions(parent=component)

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
            opts=opts,
        )
        return sg.id

    alb = group("alb-sg", "alb-sg", "Internet-facing ALB: HTTPS and HTTP redirect in", False)
    api = group("api-sg", "api-sg", "API tasks: app port from the ALB only", False)
    worker = group("worker-sg", "worker-sg", "Worker tasks: no inbound traffic", False)
    database = group("database-sg", "db-sg", "Aurora PostgreSQL: 5432 from API and worker", True)
    cache = group("cache-sg", "cache-sg", "ElastiCache Redis: 6379 from API and worker", True)
    endpoints = group(
        "endpoints-sg", "endpoints-sg", "Interface VPC endpoints: 443 from API and worker", True
    )

    def ingress(
        logical: str,
        to: pulumi.Output[str],
        port: int,
        description: str,
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
            opts=opts,
        )

    def egress(
        logical: str,
        source: pulumi.Output[str],
        port: int,
        description: str,
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
            opts=opts,
        )

    # The only internet-facing rules: the ALB is the platform's public entry point.
    ingress("alb-in-https", alb, HTTPS, "HTTPS from the internet", cidr="0.0.0.0/0")
    ingress("alb-in-http", alb, HTTP, "HTTP from the internet (redirect)", cidr="0.0.0.0/0")

    port = profile.compute.container_port
    egress("alb-out-api", alb, port, "ALB to API tasks on the app port", peer=api)
    ingress("api-in-alb", api, port, "App port from the ALB", peer=alb)

    for task, task_sg in (("api", api), ("worker", worker)):
        egress(f"{task}-out-db", task_sg, POSTGRES, f"{task} to Aurora PostgreSQL", peer=database)
        egress(f"{task}-out-cache", task_sg, REDIS, f"{task} to Redis (TLS)", peer=cache)
        egress(
            f"{task}-out-endpoints", task_sg, HTTPS, f"{task} to AWS API endpoints", peer=endpoints
        )
        # ECR image layers and the transaction-log bucket: S3 through the gateway endpoint.
        egress(
            f"{task}-out-s3",
            task_sg,
            HTTPS,
            f"{task} to S3 via the gateway endpoint",
            prefix_list=network.s3_endpoint_prefix_list_id,
        )
        ingress(f"db-in-{task}", database, POSTGRES, f"PostgreSQL from {task} tasks", peer=task_sg)
        ingress(f"cache-in-{task}", cache, REDIS, f"Redis from {task} tasks", peer=task_sg)
        ingress(f"endpoints-in-{task}", endpoints, HTTPS, f"HTTPS from {task} tasks", peer=task_sg)

    outputs = SecurityOutputs(
        alb_security_group_id=alb,
        api_security_group_id=api,
        worker_security_group_id=worker,
        database_security_group_id=database,
        cache_security_group_id=cache,
        endpoints_security_group_id=endpoints,
    )
    component.register_outputs(
        {
            "alb": alb,
            "api": api,
            "worker": worker,
            "database": database,
            "cache": cache,
            "endpoints": endpoints,
        }
    )
    return outputs
