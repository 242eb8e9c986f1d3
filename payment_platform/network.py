"""VPC without NAT: public subnets for the ALB only, private subnets for compute and
data, route tables, internet gateway on the public side, S3 gateway endpoint, VPC flow logs.

Creates, under `payment:network:Network`:
- the VPC (DNS support and hostnames on: interface endpoints' private DNS needs both) and its
  default security group, managed with no rules (EC2.2);
- per AZ (the first `network.az_count` of `network.zone_ids`, placed by AZ ID): a public subnet
  and a private subnet, neither mapping public IPs (EC2.15: the ALB needs none);
- one public route table with the only default route, to the internet gateway; one private
  route table per AZ with no default route at all (no NAT gateway anywhere);
- the S3 gateway endpoint on every private route table (ECR image layers live in S3), with a
  policy that reaches only this account's buckets and ECR's layer bucket;
- VPC flow logs of ALL traffic to the encrypted flow-logs group, through a role that may only
  write to that group (EC2.6).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from config import Profile
from payment_platform.component import Scope, component_scope
from payment_platform.iam import policy_document, role_with_policy
from payment_platform.logs import LogsOutputs

# NOTE: ECR keeps image layers in an AWS-owned bucket per region; the ECR User Guide ("Amazon ECR
# interface VPC endpoints", minimum Amazon S3 bucket permissions) names
# arn:aws:s3:::prod-<region>-starport-layer-bucket/* and s3:GetObject. The layer request carries
# a URL presigned by an ECR account, not by the task's role, so that statement cannot be scoped
# by principal account.
LAYER_BUCKET = "prod-{region}-starport-layer-bucket"

# The VPC range is cut into 8 equal blocks: private subnets take blocks 0-2, public 4-6, by AZ
# index. Fixed positions keep every existing subnet's CIDR when az_count grows (2 -> 3).
SUBNET_BLOCKS = 8
PRIVATE_OFFSET = 0
PUBLIC_OFFSET = 4


@dataclass(frozen=True)
class NetworkOutputs:
    """The VPC and its subnet tiers, for every builder that places something in them.

    Attributes:
        vpc_id: Id of the VPC.
        vpc_cidr: The VPC's IPv4 range (security-group rules within the VPC).
        availability_zones: AZ names (as this account maps them) of the subnets' zones, in
            subnet order, for what takes names (database instances, cache nodes).
        public_subnet_ids: One public subnet per AZ (the load balancer only).
        private_subnet_ids: One private subnet per AZ (tasks, database, cache, endpoints).
        private_route_table_ids: The private subnets' route tables (no default route).
        s3_endpoint_prefix_list_id: Prefix list of the S3 gateway endpoint (task egress to S3).
        internet_route_id: The public route table's 0.0.0.0/0 route to the internet gateway;
            an internet-facing load balancer must wait for it.
    """

    vpc_id: pulumi.Output[str]
    vpc_cidr: str
    availability_zones: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    private_route_table_ids: list[pulumi.Output[str]]
    s3_endpoint_prefix_list_id: pulumi.Output[str]
    internet_route_id: pulumi.Output[str]


def subnet_cidrs(vpc_cidr: str, az_count: int) -> tuple[list[str], list[str]]:
    """(public, private) CIDRs, one of each per AZ, carved from the VPC range."""
    vpc = ipaddress.IPv4Network(vpc_cidr)
    blocks = list(vpc.subnets(prefixlen_diff=3))
    assert len(blocks) == SUBNET_BLOCKS
    public = [str(blocks[PUBLIC_OFFSET + i]) for i in range(az_count)]
    private = [str(blocks[PRIVATE_OFFSET + i]) for i in range(az_count)]
    return public, private


@dataclass(frozen=True)
class _Tier:
    """One AZ's subnets and route tables."""

    public: aws.ec2.Subnet
    private: aws.ec2.Subnet
    private_route_table: aws.ec2.RouteTable


@dataclass(frozen=True)
class _PublicRouting:
    """The public route table and its one default route, to the internet gateway."""

    table: aws.ec2.RouteTable
    internet_route: aws.ec2.Route


def build(profile: Profile, logs: LogsOutputs) -> NetworkOutputs:
    """The VPC, its subnet tiers across the profile's AZs, the S3 endpoint and flow logs."""
    scope = component_scope("network")
    # NOTE: us-east-1 maps AZ names to zones per account ("the us-east-1a for your AWS account
    # might not be the same physical location as the us-east-1a for another AWS account"; an AZ
    # ID such as use1-az1 "has the same physical location in every AWS account", AWS Regions and
    # Availability Zones guide, "AZ IDs"). Subnets are placed by the profile's IDs.
    zone_ids = list(profile.network.zone_ids[: profile.network.az_count])
    vpc = _vpc(profile, scope)
    public = _public_route_table(profile, vpc, scope)
    tiers = _tiers(profile, vpc, public.table, zone_ids, scope)
    s3_endpoint = _s3_endpoint(profile, vpc, tiers, scope)
    _flow_logs(profile, vpc, logs, scope)
    return scope.finish(
        NetworkOutputs(
            vpc_id=vpc.id,
            vpc_cidr=profile.network.vpc_cidr,
            # NOTE: names for the database and cache come from the subnets AWS placed by ID
            # (the subnet's computed availability_zone), not from a second lookup: they are
            # then the zones of the subnet groups by construction, and no extra
            # DescribeAvailabilityZones call runs on every preview. The cost: they are unknown
            # in the first preview, before the subnets exist.
            availability_zones=[t.private.availability_zone for t in tiers],
            public_subnet_ids=[t.public.id for t in tiers],
            private_subnet_ids=[t.private.id for t in tiers],
            private_route_table_ids=[t.private_route_table.id for t in tiers],
            s3_endpoint_prefix_list_id=s3_endpoint.prefix_list_id,
            internet_route_id=public.internet_route.id,
        )
    )


def _vpc(profile: Profile, scope: Scope) -> aws.ec2.Vpc:
    vpc = aws.ec2.Vpc(
        "vpc",
        cidr_block=profile.network.vpc_cidr,
        enable_dns_support=True,
        enable_dns_hostnames=True,
        tags={"Name": profile.name("vpc")},
        opts=scope.child,
    )
    # NOTE: the default security group cannot be deleted; adopting it with no ingress or egress
    # makes Pulumi strip AWS's default rules (EC2.2), so nothing can use it by accident.
    aws.ec2.DefaultSecurityGroup(
        "default-sg",
        vpc_id=vpc.id,
        tags={"Name": f"{profile.name('vpc')}-default-unused"},
        opts=scope.child,
    )
    return vpc


def _public_route_table(profile: Profile, vpc: aws.ec2.Vpc, scope: Scope) -> _PublicRouting:
    """The one route table with a default route: public subnets to the internet gateway."""
    igw = aws.ec2.InternetGateway(
        "igw", vpc_id=vpc.id, tags={"Name": profile.name("igw")}, opts=scope.child
    )
    public_rt = aws.ec2.RouteTable(
        "public-rt", vpc_id=vpc.id, tags={"Name": profile.name("public")}, opts=scope.child
    )
    # NOTE: an internet-facing ALB created before this route exists fails intermittently with
    # "InvalidSubnet: VPC has no internet gateway": the route's id is an output so it can wait.
    route = aws.ec2.Route(
        "public-default-route",
        route_table_id=public_rt.id,
        destination_cidr_block="0.0.0.0/0",
        gateway_id=igw.id,
        opts=scope.child,
    )
    return _PublicRouting(table=public_rt, internet_route=route)


def _tiers(
    profile: Profile,
    vpc: aws.ec2.Vpc,
    public_rt: aws.ec2.RouteTable,
    zone_ids: list[str],
    scope: Scope,
) -> list[_Tier]:
    """Per AZ ID: a public and a private subnet, and the private subnet's own route table."""
    public_cidrs, private_cidrs = subnet_cidrs(profile.network.vpc_cidr, len(zone_ids))
    opts = scope.child
    tiers = []
    for i, zone in enumerate(zone_ids):
        public = aws.ec2.Subnet(
            f"public-{i}",
            vpc_id=vpc.id,
            availability_zone_id=zone,
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
            availability_zone_id=zone,
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
        tiers.append(_Tier(public=public, private=private, private_route_table=private_rt))
    return tiers


def _s3_endpoint(
    profile: Profile, vpc: aws.ec2.Vpc, tiers: list[_Tier], scope: Scope
) -> aws.ec2.VpcEndpoint:
    region = aws.get_region_output().region
    account = aws.get_caller_identity_output().account_id
    # NOTE: without NAT, Fargate pulls image layers from S3 (ECR stores them there): the gateway
    # endpoint (free) must be on every private route table, next to the ECR interface endpoints.
    return aws.ec2.VpcEndpoint(
        "s3-endpoint",
        vpc_id=vpc.id,
        service_name=region.apply(lambda r: f"com.amazonaws.{r}.s3"),
        vpc_endpoint_type="Gateway",
        route_table_ids=[t.private_route_table.id for t in tiers],
        policy=s3_endpoint_policy(account, region),
        tags={"Name": f"{profile.name('endpoint')}-s3"},
        opts=scope.child,
    )


def s3_endpoint_policy(account: pulumi.Input[str], region: pulumi.Input[str]) -> pulumi.Output[str]:
    """The S3 endpoint's policy: this account's buckets, and the ECR layer bucket a pull reads.

    Without a policy the endpoint reaches every bucket of every account, and the tasks may send
    443 to the whole S3 prefix list: a compromised task could write anywhere.
    """
    # NOTE: scoped by the bucket's account (aws:ResourceAccount), not the caller's: the S3
    # gateway endpoint does not match aws:PrincipalAccount for presigned requests (AWS Support,
    # in the awsdocs/amazon-vpc-user-guide thread "S3 Gateway policy doesn't support
    # PrincipalAccount condition variable"), and the ECR layer download is one: it is "signed
    # using a presigned URL, which is created by an Amazon ECR account"
    # (aws-samples/data-perimeter-policy-examples, vpc_endpoint_policies/README.md).
    layers = pulumi.Output.from_input(region).apply(
        lambda r: f"arn:aws:s3:::{LAYER_BUCKET.format(region=r)}/*"
    )
    return policy_document(
        [
            {
                "Sid": "ThisAccountBucketsOnly",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceAccount": account}},
            },
            {
                "Sid": "EcrImageLayers",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": layers,
            },
        ]
    )


def _flow_logs(profile: Profile, vpc: aws.ec2.Vpc, logs: LogsOutputs, scope: Scope) -> None:
    """Flow logs of ALL traffic, through a role that may only write to the flow-logs group."""
    region = aws.get_region_output().region
    account = aws.get_caller_identity_output().account_id
    delivery = role_with_policy(
        "flow-logs-role",
        policy_resource_name="flow-logs-policy",
        name=profile.name("flow-logs"),
        service="vpc-flow-logs.amazonaws.com",
        account_id=account,
        description="VPC flow logs delivery to the flow-logs log group",
        conditions={
            "ArnLike": {
                "aws:SourceArn": pulumi.Output.format(
                    "arn:aws:ec2:{0}:{1}:vpc-flow-log/*", region, account
                )
            }
        },
        statements=[
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
        ],
        opts=scope.child,
    )
    aws.ec2.FlowLog(
        "flow-log",
        vpc_id=vpc.id,
        traffic_type="ALL",
        log_destination_type="cloud-watch-logs",
        log_destination=logs.flow_logs_log_group_arn,
        iam_role_arn=delivery.role.arn,
        max_aggregation_interval=60,
        tags={"Name": profile.name("flow-log")},
        # The role's policy must exist before the first delivery attempt.
        opts=scope.opts(depends_on=[delivery.policy]),
    )
