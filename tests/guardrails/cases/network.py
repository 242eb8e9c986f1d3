"""Network cases: public IPs, flow logs, default group, ingress, egress, endpoints, routes."""

from __future__ import annotations

from typing import Any

from guardrails.facts import EGRESS_RULE, INGRESS_RULE, LOG_GROUP, SECURITY_GROUP
from resource_graph import Graph, Resource
from tests.guardrails.cases.base import Case, registrar
from tests.guardrails.synth import ACCOUNT, KEY_ARN, doc, graph, key, res

CASES: list[Case] = []
case = registrar(CASES)


@case("network-subnets", "public IP on launch", "EC2.15", "public-a")
def _(ok: bool) -> Graph:
    return graph(res("aws:ec2/subnet:Subnet", "public-a", mapPublicIpOnLaunch=not ok))


VPC = res("aws:ec2/vpc:Vpc", "vpc", id="vpc-1", cidrBlock="10.0.0.0/16")
LOG_GROUP_ARN = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/payment/dev/flow"


def _flow_group(encrypted: bool = True) -> Resource:
    return res(
        LOG_GROUP,
        "flow-group",
        id="/payment/dev/flow",
        arn=LOG_GROUP_ARN,
        kmsKeyId=KEY_ARN if encrypted else None,
        retentionInDays=30,
    )


@case("network-flow-logs", "flow log rejects only", "EC2.6", "flow-log")
def _(ok: bool) -> Graph:
    flow = res(
        "aws:ec2/flowLog:FlowLog",
        "flow-log",
        vpcId="vpc-1",
        trafficType="ALL" if ok else "REJECT",
        logDestination=LOG_GROUP_ARN,
    )
    return graph(VPC, key(), _flow_group(), flow)


@case("network-flow-logs", "flow log group not on the key", "EC2.6", "flow-log")
def _(ok: bool) -> Graph:
    flow = res(
        "aws:ec2/flowLog:FlowLog",
        "flow-log",
        vpcId="vpc-1",
        trafficType="ALL",
        logDestination=LOG_GROUP_ARN,
    )
    return graph(VPC, key(), _flow_group(encrypted=ok), flow)


@case("network-default-sg", "default group keeps a rule", "EC2.2", "default-sg")
def _(ok: bool) -> Graph:
    ingress = [] if ok else [{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}]
    return graph(
        VPC,
        res(
            "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
            "default-sg",
            vpcId="vpc-1",
            ingress=ingress,
        ),
    )


def security_group(name: str) -> Resource:
    return res(SECURITY_GROUP, name, id=f"sg-{name}", vpcId="vpc-1", description=f"{name} group")


@case("network-ingress", "SSH open to the internet", "EC2.53", "api-ssh")
def _(ok: bool) -> Graph:
    source: dict[str, Any] = (
        {"referencedSecurityGroupId": "sg-alb"} if ok else {"cidrIpv4": "0.0.0.0/0"}
    )
    rule = res(
        INGRESS_RULE,
        "api-ssh",
        securityGroupId="sg-api",
        ipProtocol="tcp",
        fromPort=22 if not ok else 8080,
        toPort=22 if not ok else 8080,
        description="x",
        **source,
    )
    return graph(security_group("api"), security_group("alb"), rule)


@case("network-ingress", "inline all-ports rule from the internet", "EC2.19", "db")
def _(ok: bool) -> Graph:
    entry = {
        "protocol": "tcp",
        "fromPort": 5432,
        "toPort": 5432,
        "securityGroups": ["sg-api"],
        "description": "x",
    }
    if not ok:
        entry = {
            "protocol": "-1",
            "fromPort": 0,
            "toPort": 0,
            "cidrBlocks": ["0.0.0.0/0"],
            "description": "x",
        }
    return graph(res(SECURITY_GROUP, "db", id="sg-db", description="db", ingress=[entry]))


def _ingress(logical: str, protocol: str, low: int, high: int) -> Resource:
    """An ingress rule from inside the VPC: only the admin-port check can object to it."""
    return res(
        INGRESS_RULE,
        logical,
        securityGroupId="sg-api",
        ipProtocol=protocol,
        fromPort=low,
        toPort=high,
        cidrIpv4="10.0.0.0/16",
        description="x",
    )


@case("network-ingress", "port range 0-443 contains SSH", "EC2.13", "api-range")
def _(ok: bool) -> Graph:
    return graph(security_group("api"), _ingress("api-range", "tcp", 443 if ok else 0, 443))


@case("network-ingress", "port range 3000-4000 contains RDP", "EC2.14", "api-range")
def _(ok: bool) -> Graph:
    low, high = (8080, 8080) if ok else (3000, 4000)
    return graph(security_group("api"), _ingress("api-range", "tcp", low, high))


@case("network-ingress", "all protocols reach the admin ports", "EC2.53", "api-all")
def _(ok: bool) -> Graph:
    protocol, low, high = ("tcp", 8080, 8080) if ok else ("-1", 0, 0)
    return graph(security_group("api"), _ingress("api-all", protocol, low, high))


@case(
    "network-egress", "egress anywhere, all protocols, undescribed", "AwsSolutions-EC27", "api-out"
)
def _(ok: bool) -> Graph:
    if ok:
        rule = res(
            EGRESS_RULE,
            "api-out",
            securityGroupId="sg-api",
            ipProtocol="tcp",
            fromPort=443,
            toPort=443,
            prefixListId="pl-1",
            description="S3 through the gateway endpoint",
        )
    else:
        rule = res(
            EGRESS_RULE, "api-out", securityGroupId="sg-api", ipProtocol="-1", cidrIpv4="0.0.0.0/0"
        )
    return graph(security_group("api"), rule)


@case("network-egress", "group without description", "AwsSolutions-EC27", "api")
def _(ok: bool) -> Graph:
    return graph(res(SECURITY_GROUP, "api", id="sg-api", description="API tasks" if ok else None))


def _endpoint(service: str, kind: str = "Interface") -> Resource:
    return res(
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        f"vpce-{service}",
        serviceName=f"com.amazonaws.us-east-1.{service}",
        vpcEndpointType=kind,
        privateDnsEnabled=kind == "Interface",
    )


@case("network-endpoints", "no ECR dkr endpoint", "EC2.56", "vpc")
def _(ok: bool) -> Graph:
    services = ["ecr.api", "logs", "secretsmanager"] + (["ecr.dkr"] if ok else [])
    return graph(VPC, _endpoint("s3", "Gateway"), *(_endpoint(s) for s in services))


THIS_ACCOUNT = {
    "Sid": "ThisAccountOnly",
    "Effect": "Allow",
    "Principal": "*",
    "Action": "sqs:*",
    "Resource": "*",
    "Condition": {
        "StringEquals": {"aws:PrincipalAccount": ACCOUNT, "aws:ResourceAccount": ACCOUNT}
    },
}


@case(
    "network-endpoint-policies", "endpoint without a policy", "DESIGN endpoint policies", "vpce-sqs"
)
def _(ok: bool) -> Graph:
    endpoint = _endpoint("sqs")
    if ok:
        endpoint = res(endpoint.type, endpoint.name, **endpoint.inputs, policy=doc(THIS_ACCOUNT))
    return graph(VPC, endpoint)


@case("network-endpoint-policies", "AWS's default full-access policy", "PCI DSS 1.3.2", "vpce-s3")
def _(ok: bool) -> Graph:
    # The policy AWS attaches when none is given: any principal, any action, any resource.
    full_access: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": ["*"],
        "Resource": "*",
    }
    if ok:
        full_access["Condition"] = {"StringEquals": {"aws:ResourceAccount": ACCOUNT}}
    endpoint = _endpoint("s3", "Gateway")
    policy = doc(THIS_ACCOUNT, full_access)
    return graph(VPC, res(endpoint.type, endpoint.name, **endpoint.inputs, policy=policy))


@case("no-nat-gateway", "NAT gateway", "DESIGN no-NAT", "nat")
def _(ok: bool) -> Graph:
    return graph(
        *([] if ok else [res("aws:ec2/natGateway:NatGateway", "nat", subnetId="subnet-1")])
    )


@case("no-internet-route", "private table routes to the IGW", "PCI DSS 1.4.1", "private-default")
def _(ok: bool) -> Graph:
    route = res(
        "aws:ec2/route:Route",
        "private-default",
        routeTableId="rtb-private",
        destinationCidrBlock="10.1.0.0/16" if ok else "0.0.0.0/0",
        gatewayId="igw-1",
    )
    return graph(res("aws:ec2/internetGateway:InternetGateway", "igw", id="igw-1"), route)
