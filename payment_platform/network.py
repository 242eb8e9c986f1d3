"""VPC without NAT (issue 3): public subnets for the ALB only, private subnets for compute and
data, route tables, internet gateway on the public side, S3 gateway endpoint, VPC flow logs.

Creates, under `payment:network:Network`:
- the VPC (DNS support and hostnames on: interface endpoints' private DNS needs both) and its
  default security group, managed with no rules (EC2.2);
- per AZ (the first `network.az_count` available ones): a public subnet and a private subnet,
  neither mapping public IPs (EC2.15: the ALB needs none);
- one public route table with the only default route, to the internet gateway; one private
  route table per AZ with no default route at all (no NAT gateway anywhere);
- the S3 gateway endpoint on every private route table (ECR image layers live in S3);
- VPC flow logs of ALL traffic to the encrypted flow-logs group, through a role that may only
  write to that group (EC2.6).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from config import Profile
from payment_platform.iam import policy_document, service_role
from payment_platform.logs import LogsOutputs

# The VPC range is cut into 8 equal blocks: private subnets take blocks 0-2, public 4-6, by AZ
# index. Fixed positions keep every existing subnet's CIDR when az_count grows (2 -> 3).
SUBNET_BLOCKS = 8
PRIVATE_OFFSET = 0
PUBLIC_OFFSET = 4


@dataclass(frozen=True)
class NetworkOutputs:
    vpc_id: pulumi.Output[str]
    vpc_cidr: str
    availability_zones: list[str]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    private_route_table_ids: list[pulumi.Output[str]]
    s3_endpoint_prefix_list_id: pulumi.Output[str]


def subnet_cidrs(vpc_cidr: str, az_count: int) -> tuple[list[str], list[str]]:
    """(public, private) CIDRs, one of each per AZ, carved from the VPC range."""
    vpc = ipaddress.IPv4Network(vpc_cidr)
    blocks = list(vpc.subnets(prefixlen_diff=3))
    assert len(blocks) == SUBNET_BLOCKS
    public = [str(blocks[PUBLIC_OFFSET + i]) for i in range(az_count)]
    private = [str(blocks[PRIVATE_OFFSET + i]) for i in range(az_count)]
    return public, private


def build(profile: Profile, logs: LogsOutputs) -> NetworkOutputs:
    component = pulumi.ComponentResource("payment:network:Network", "network")
    opts = pulumi.ResourceOptions(parent=component)
    n = profile.network.az_count
    zones = aws.get_availability_zones(state="available").names[:n]
    public_cidrs, private_cidrs = subnet_cidrs(profile.network.vpc_cidr, n)

    vpc = aws.ec2.Vpc(
        "vpc",
        cidr_block=profile.network.vpc_cidr,
        enable_dns_support=True,
        enable_dns_hostnames=True,
        tags={"Name": profile.name("vpc")},
        opts=opts,
    )
    # NOTE: the default security group cannot be deleted; adopting it with no ingress or egress
    # makes Pulumi strip AWS's default rules (EC2.2), so nothing can use it by accident.
    aws.ec2.DefaultSecurityGroup(
        "default-sg",
        vpc_id=vpc.id,
        tags={"Name": f"{profile.name('vpc')}-default-unused"},
        opts=opts,
    )

    igw = aws.ec2.InternetGateway(
        "igw", vpc_id=vpc.id, tags={"Name": profile.name("igw")}, opts=opts
    )
    public_rt = aws.ec2.RouteTable(
        "public-rt", vpc_id=vpc.id, tags={"Name": profile.name("public")}, opts=opts
    )
    aws.ec2.Route(
        "public-default-route",
        route_table_id=public_rt.id,
        destination_cidr_block="0.0.0.0/0",
        gateway_id=igw.id,
        opts=opts,
    )

    public_subnets: list[aws.ec2.Subnet] = []
    private_subnets: list[aws.ec2.Subnet] = []
    private_rts: list[aws.ec2.RouteTable] = []
    for i, zone in enumerate(zones):
        public = aws.ec2.Subnet(
            f"public-{i}",
            vpc_id=vpc.id,
            availability_zone=zone,
            cidr_block=public_cidrs[i],
            # NOTE: AWS's console default for public subnets is to map public IPs; the ALB gets
            # its addresses without it, and nothing else may live here (EC2.15).
            map_public_ip_on_launch=False,
            tags={"Name": f"{profile.name('public')}-{zone}", "Tier": "public"},
            opts=opts,
        )
        aws.ec2.RouteTableAssociation(
            f"public-{i}-rta", subnet_id=public.id, route_table_id=public_rt.id, opts=opts
        )
        private = aws.ec2.Subnet(
            f"private-{i}",
            vpc_id=vpc.id,
            availability_zone=zone,
            cidr_block=private_cidrs[i],
            map_public_ip_on_launch=False,
            tags={"Name": f"{profile.name('private')}-{zone}", "Tier": "private"},
            opts=opts,
        )
        # One route table per AZ, without any default route: private traffic reaches AWS only
        # through the VPC endpoints.
        private_rt = aws.ec2.RouteTable(
            f"private-rt-{i}",
            vpc_id=vpc.id,
            tags={"Name": f"{profile.name('private')}-{zone}"},
            opts=opts,
        )
        aws.ec2.RouteTableAssociation(
            f"private-{i}-rta", subnet_id=private.id, route_table_id=private_rt.id, opts=opts
        )
        public_subnets.append(public)
        private_subnets.append(private)
        private_rts.append(private_rt)

    region = aws.get_region_output().region
    # NOTE: without NAT, Fargate pulls image layers from S3 (ECR stores them there): the gateway
    # endpoint (free) must be on every private route table, next to the ECR interface endpoints.
    s3_endpoint = aws.ec2.VpcEndpoint(
        "s3-endpoint",
        vpc_id=vpc.id,
        service_name=region.apply(lambda r: f"com.amazonaws.{r}.s3"),
        vpc_endpoint_type="Gateway",
        route_table_ids=[rt.id for rt in private_rts],
        tags={"Name": f"{profile.name('endpoint')}-s3"},
        opts=opts,
    )

    account = aws.get_caller_identity_output().account_id
    flow_role = service_role(
        "flow-logs-role",
        name=profile.name("flow-logs"),
        service="vpc-flow-logs.amazonaws.com",
        account_id=account,
        description="VPC flow logs delivery to the flow-logs log group",
        opts=opts,
        conditions={
            "ArnLike": {
                "aws:SourceArn": pulumi.Output.format(
                    "arn:aws:ec2:{0}:{1}:vpc-flow-log/*", region, account
                )
            }
        },
    )
    flow_policy = aws.iam.RolePolicy(
        "flow-logs-policy",
        role=flow_role.id,
        policy=policy_document(
            [
                {
                    "Sid": "WriteFlowLogsGroupOnly",
                    "Effect": "Allow",
                    "Action": [
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogStreams",
                    ],
                    "Resource": [
                        logs.flow_logs_log_group_arn,
                        pulumi.Output.concat(logs.flow_logs_log_group_arn, ":*"),
                    ],
                }
            ]
        ),
        opts=opts,
    )
    aws.ec2.FlowLog(
        "flow-log",
        vpc_id=vpc.id,
        traffic_type="ALL",
        log_destination_type="cloud-watch-logs",
        log_destination=logs.flow_logs_log_group_arn,
        iam_role_arn=flow_role.arn,
        max_aggregation_interval=60,
        tags={"Name": profile.name("flow-log")},
        # The role's policy must exist before the first delivery attempt.
        opts=pulumi.ResourceOptions(parent=component, depends_on=[flow_policy]),
    )

    outputs = NetworkOutputs(
        vpc_id=vpc.id,
        vpc_cidr=profile.network.vpc_cidr,
        availability_zones=list(zones),
        public_subnet_ids=[s.id for s in public_subnets],
        private_subnet_ids=[s.id for s in private_subnets],
        private_route_table_ids=[rt.id for rt in private_rts],
        s3_endpoint_prefix_list_id=s3_endpoint.prefix_list_id,
    )
    component.register_outputs(
        {
            "vpc_id": outputs.vpc_id,
            "public_subnet_ids": outputs.public_subnet_ids,
            "private_subnet_ids": outputs.private_subnet_ids,
            "s3_endpoint_prefix_list_id": outputs.s3_endpoint_prefix_list_id,
        }
    )
    return outputs
