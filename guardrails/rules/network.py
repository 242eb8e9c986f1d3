"""Network rules: subnets, flow logs, security groups, VPC endpoints and routes.

- `network-subnets`: no subnet auto-assigns public IPs.
- `network-flow-logs`: every VPC logs all traffic to a log group on the customer key.
- `network-default-sg`: the VPC's default security group is adopted and empty.
- `network-ingress`: no ingress from the internet, no admin ports.
- `network-egress`: no egress to the internet or on all protocols; every group and rule described.
- `network-endpoints`: the interface endpoints the tasks need, and the S3 gateway endpoint.
- `network-endpoint-policies`: every VPC endpoint has a policy, and none allows everything.
- `no-nat-gateway`: no NAT gateway, no route through one.
- `no-internet-route`: no default route to the internet gateway.
"""

from __future__ import annotations

import re
from typing import Any

from guardrails import facts
from guardrails.facts import as_list, ref
from guardrails.model import Violation
from guardrails.rules.base import Findings, is_true, on_cmk, rule
from resource_graph import Graph, Resource


@rule("network-subnets", "Subnets never auto-assign public IPs", "EC2.15")
def subnets_no_public_ip(graph: Graph) -> list[Violation]:
    """A task or instance in any subnet must never get a public address by default."""
    f = Findings("network-subnets")
    for subnet in graph.of_type("aws:ec2/subnet:Subnet"):
        f.require(
            not is_true(subnet.get("mapPublicIpOnLaunch")),
            subnet,
            "auto-assigns public IPs (mapPublicIpOnLaunch); the ALB needs none",
            "EC2.15",
        )
    return f.items


@rule(
    "network-flow-logs",
    "VPC flow logs, all traffic, to an encrypted log group",
    "EC2.6",
    "cdk-nag VPCFlowLogsEnabled",
)
def vpc_flow_logs(graph: Graph) -> list[Violation]:
    """Every VPC keeps a record of all its traffic, encrypted, for investigation."""
    f = Findings("network-flow-logs")
    controls = ("EC2.6", "cdk-nag VPCFlowLogsEnabled")
    for vpc in graph.of_type("aws:ec2/vpc:Vpc"):
        logs = facts.attached(graph, ["aws:ec2/flowLog:FlowLog"], "vpcId", vpc)
        if not logs:
            f.add(vpc, "has no flow log", *controls)
        for log in logs:
            f.require(
                log.get("trafficType") == "ALL", log, "does not capture ALL traffic", *controls
            )
            destination = ref(graph, log.get("logDestination"))
            if destination is None or destination.type != facts.LOG_GROUP:
                f.add(log, "does not deliver to a CloudWatch log group of this stack", *controls)
            elif not on_cmk(graph, destination.get("kmsKeyId")):
                f.add(log, f"log group {destination.name} is not on a customer key", *controls)
    return f.items


@rule("network-default-sg", "The VPC's default security group has no rules", "EC2.2")
def default_security_group(graph: Graph) -> list[Violation]:
    """A resource placed in the default group by mistake must get no access at all."""
    f = Findings("network-default-sg")
    for vpc in graph.of_type("aws:ec2/vpc:Vpc"):
        defaults = facts.attached(
            graph, ["aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"], "vpcId", vpc
        )
        if not defaults:
            f.add(
                vpc,
                "default security group not adopted and emptied (DefaultSecurityGroup)",
                "EC2.2",
            )
        for sg in defaults:
            f.require(
                not sg.get("ingress") and not sg.get("egress"),
                sg,
                "default security group has rules",
                "EC2.2",
            )
    return f.items


ADMIN_PORTS = (20, 21, 22, 23, 3389, 5985, 5986)
NETWORK_INGRESS = ("EC2.13", "EC2.14", "EC2.18", "EC2.19", "EC2.53", "EC2.54")


@rule(
    "network-ingress",
    "No ingress from the internet except the ALB on 443/80; no admin ports",
    *NETWORK_INGRESS,
)
def network_ingress(graph: Graph) -> list[Violation]:
    """Only the ALB faces the internet (a waiver), and nothing opens an administration port."""
    f = Findings("network-ingress")
    for r in facts.sg_rules(graph):
        if r.direction != "ingress":
            continue
        world = [c for c in r.cidrs if c in facts.WORLD]
        if world:
            f.add(
                r.carrier,
                f"ingress {r.ports} open to {', '.join(world)}",
                *NETWORK_INGRESS,
                entry=r.entry,
            )
        admin = [p for p in ADMIN_PORTS if r.covers(p)] if r.protocol in ("tcp", "-1") else []
        if admin:
            f.add(
                r.carrier,
                f"ingress {r.ports} reaches admin port(s) {admin}",
                "EC2.13",
                "EC2.14",
                "EC2.53",
                "EC2.54",
                entry=r.entry,
            )
    return f.items


@rule(
    "network-egress",
    "Egress only to needed destinations; every group and rule described",
    "AwsSolutions-EC27",
)
def network_egress(graph: Graph) -> list[Violation]:
    """Traffic leaves only where it must, and every opening says what it is for."""
    f = Findings("network-egress")
    for sg in graph.of_type(facts.SECURITY_GROUP):
        description = sg.get("description")
        f.require(
            bool(description) and description != "Managed by Pulumi",
            sg,
            "security group has no description",
            "AwsSolutions-EC27",
        )
    for r in facts.sg_rules(graph):
        if not r.description:
            f.add(
                r.carrier,
                f"{r.direction} rule {r.ports} has no description",
                "AwsSolutions-EC27",
                entry=r.entry,
            )
        if r.protocol == "-1":
            f.add(
                r.carrier,
                f"{r.direction} rule allows all protocols and ports",
                "AwsSolutions-EC27",
                entry=r.entry,
            )
        if r.direction == "egress" and any(c in facts.WORLD for c in r.cidrs):
            f.add(
                r.carrier,
                f"egress {r.ports} to the whole internet",
                "AwsSolutions-EC27",
                entry=r.entry,
            )
    return f.items


REQUIRED_ENDPOINTS = ("ecr.api", "ecr.dkr", "logs", "secretsmanager")


def endpoint_services(graph: Graph) -> dict[str, Resource]:
    """VPC endpoints by short service name (`com.amazonaws.us-east-1.ecr.api` -> `ecr.api`)."""
    found: dict[str, Resource] = {}
    for ep in graph.of_type("aws:ec2/vpcEndpoint:VpcEndpoint"):
        name = str(ep.get("serviceName") or "")
        short = re.sub(r"^com\.amazonaws\.[a-z0-9-]+\.", "", name)
        found[short] = ep
    return found


@rule(
    "network-endpoints",
    "ECR api/dkr and the other interface endpoints the tasks need",
    "EC2.55",
    "EC2.56",
)
def network_endpoints(graph: Graph) -> list[Violation]:
    """Without a NAT gateway the tasks reach ECR, logs and secrets only through endpoints."""
    f = Findings("network-endpoints")
    if not graph.of_type("aws:ec2/vpc:Vpc"):
        return []
    found = endpoint_services(graph)
    vpc = graph.of_type("aws:ec2/vpc:Vpc")[0]
    for service in REQUIRED_ENDPOINTS:
        ep = found.get(service)
        if ep is None:
            f.add(vpc, f"no interface endpoint for {service}", "EC2.55", "EC2.56")
            continue
        f.require(
            ep.get("vpcEndpointType") == "Interface",
            ep,
            f"{service} endpoint is not Interface",
            "EC2.55",
        )
        f.require(
            is_true(ep.get("privateDnsEnabled")),
            ep,
            f"{service} endpoint has no private DNS",
            "EC2.55",
        )
    s3 = found.get("s3")
    if s3 is None or s3.get("vpcEndpointType") != "Gateway":
        f.add(vpc, "no S3 gateway endpoint (image layers come from S3)", "EC2.55")
    return f.items


ENDPOINT_POLICY = ("DESIGN endpoint policies", "PCI DSS 1.3.2")


@rule(
    "network-endpoint-policies",
    "Every VPC endpoint has a policy; none allows any action on any resource to anyone",
    *ENDPOINT_POLICY,
)
def network_endpoint_policies(graph: Graph) -> list[Violation]:
    """Without a policy an endpoint reaches every account's resources: a way out for data."""
    f = Findings("network-endpoint-policies")
    for ep in graph.of_type("aws:ec2/vpcEndpoint:VpcEndpoint"):
        try:
            statements = as_list(ep.policy().get("Statement"))
        except ValueError:
            f.add(ep, "endpoint policy is not valid JSON", *ENDPOINT_POLICY)
            continue
        if not statements:
            f.add(
                ep, "has no endpoint policy: it reaches every account's resources", *ENDPOINT_POLICY
            )
        for i, statement in enumerate(statements):
            if _allows_everything(statement):
                f.add(
                    ep,
                    "allows * actions on * resources to * principals without a condition",
                    *ENDPOINT_POLICY,
                    entry=f"Statement[{i}]",
                )
    return f.items


def _allows_everything(statement: Any) -> bool:
    """An Allow of every action on every resource to every principal, with no condition."""
    if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
        return False
    principal = statement.get("Principal")
    anyone = principal == "*" or (
        isinstance(principal, dict) and "*" in as_list(principal.get("AWS"))
    )
    return (
        anyone
        and "*" in as_list(statement.get("Action"))
        and "*" in as_list(statement.get("Resource"))
        and not statement.get("Condition")
    )


@rule(
    "no-nat-gateway",
    "No NAT gateway: the private subnets reach AWS through endpoints only",
    "DESIGN no-NAT",
)
def no_nat_gateway(graph: Graph) -> list[Violation]:
    """The private subnets have no path to the internet, not even outbound."""
    f = Findings("no-nat-gateway")
    for nat in graph.of_type("aws:ec2/natGateway:NatGateway"):
        f.add(nat, "NAT gateway present", "DESIGN no-NAT")
    for route, entry, target in _routes(graph):
        if target.get("natGatewayId"):
            f.add(route, "routes through a NAT gateway", "DESIGN no-NAT", entry=entry)
    return f.items


def _routes(graph: Graph) -> list[tuple[Resource, str, Any]]:
    """(carrier, inline entry, route dict) for route resources and inline routes."""
    found: list[tuple[Resource, str, Any]] = [
        (r, "", r.inputs) for r in graph.of_type("aws:ec2/route:Route")
    ]
    for table in graph.of_type("aws:ec2/routeTable:RouteTable"):
        for i, route in enumerate(as_list(table.get("routes"))):
            found.append((table, f"routes[{i}]", route))
    return found


@rule(
    "no-internet-route",
    "No default route to the internet gateway from the cardholder network",
    "PCI DSS 1.3.1",
    "PCI DSS 1.4.1",
)
def no_internet_route(graph: Graph) -> list[Violation]:
    """The cardholder network has no default route out (the ALB's public subnets are waived)."""
    f = Findings("no-internet-route")
    for carrier, entry, route in _routes(graph):
        destination = (
            route.get("destinationCidrBlock")
            or route.get("cidrBlock")
            or route.get("destinationIpv6CidrBlock")
            or route.get("ipv6CidrBlock")
        )
        gateway = str(route.get("gatewayId") or "")
        target = ref(graph, gateway)
        to_igw = gateway.startswith("igw-") or (
            target is not None and target.type == "aws:ec2/internetGateway:InternetGateway"
        )
        if destination in facts.WORLD and to_igw:
            f.add(
                carrier,
                f"default route {destination} to the internet gateway",
                "PCI DSS 1.3.1",
                "PCI DSS 1.4.1",
                entry=entry,
            )
    return f.items
