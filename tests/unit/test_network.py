"""Network: subnets per AZ from the profile, no NAT, S3 on every private route, flow logs."""

from __future__ import annotations

import ipaddress
import json

import pulumi
import pytest

from config import Profile
from offline.mocks import ACCOUNT_ID
from payment_platform import network
from resource_graph import Graph, Resource
from tests import fakes
from tests.conftest import Graphs, load_profile

SUBNET = "aws:ec2/subnet:Subnet"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE = "aws:ec2/route:Route"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
LAYER_BUCKET_OBJECTS = "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/*"


def build_and_export(profile: Profile) -> None:
    """Build the network and export the outputs that only resolve at run time."""
    outputs = network.build(profile, fakes.logs(profile))
    pulumi.export("availability_zones", outputs.availability_zones)
    pulumi.export("internet_route_id", outputs.internet_route_id)


@pytest.fixture
def graph(run_builder, env):
    profile = load_profile(env)
    return run_builder(lambda: build_and_export(profile), env=env)


def flow_group_arn(profile) -> str:
    """The flow-logs group ARN that tests.fakes.logs hands the builder."""
    return f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:/payment/{profile.suffix}/vpc-flow-logs"


def tier(graph: Graph, name: str) -> list[Resource]:
    """The tier's subnets by AZ index (`<tier>-<i>`); registration order is not deterministic."""
    subnets = [s for s in graph.of_type(SUBNET) if s.inputs["tags"]["Tier"] == name]
    return sorted(subnets, key=lambda s: int(s.name.rsplit("-", 1)[1]))


def test_vpc_uses_the_profile_range_with_dns(graph, profile):
    vpc = graph.one("aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == profile.network.vpc_cidr
    assert vpc.inputs["enableDnsSupport"] is True
    assert vpc.inputs["enableDnsHostnames"] is True


def test_one_public_and_one_private_subnet_in_each_profile_zone_id_in_order(graph, profile):
    zone_ids = list(profile.network.zone_ids[: profile.network.az_count])
    for name in ("public", "private"):
        assert [s.inputs["availabilityZoneId"] for s in tier(graph, name)] == zone_ids


def test_no_subnet_is_placed_by_zone_name(graph):
    # Names differ between accounts in us-east-1; only the ID pins the physical zone.
    for subnet in graph.of_type(SUBNET):
        assert "availabilityZone" not in subnet.inputs, subnet.name
        assert subnet.inputs["tags"]["Name"].endswith(subnet.inputs["availabilityZoneId"])


def test_subnets_follow_a_changed_zone_list(run_builder):
    # A changed value, not a committed one: the builder places subnets where the profile says.
    base = load_profile("dev")
    chosen = ("use1-az6", "use1-az5", "use1-az2")
    update = {"zone_ids": chosen, "az_count": 2}
    profile = base.model_copy(update={"network": base.network.model_copy(update=update)})
    graph = run_builder(lambda: build_and_export(profile))
    for name in ("public", "private"):
        assert [s.inputs["availabilityZoneId"] for s in tier(graph, name)] == list(chosen[:2])


def test_zone_names_for_database_and_cache_are_the_private_subnets_zones(graph, profile):
    # What AWS reports for each subnet placed by ID, in the same order as the zone IDs.
    private = tier(graph, "private")
    assert graph.outputs["availability_zones"] == [s.state["availabilityZone"] for s in private]
    assert [s.state["availabilityZoneId"] for s in private] == list(
        profile.network.zone_ids[: profile.network.az_count]
    )
    assert len(set(graph.outputs["availability_zones"])) == profile.network.az_count


def test_database_and_cache_sit_in_the_profiles_zone_ids(graphs: Graphs, env, profile):
    graph = graphs.environment(env)
    zone_of = {
        s.state["availabilityZone"]: s.inputs["availabilityZoneId"] for s in tier(graph, "private")
    }
    instances = graph.of_type("aws:rds/clusterInstance:ClusterInstance")
    (cache,) = graph.of_type("aws:elasticache/replicationGroup:ReplicationGroup")
    names = [i.inputs["availabilityZone"] for i in instances]
    names += cache.inputs["preferredCacheClusterAzs"]
    assert {zone_of.get(name) for name in names} <= set(
        profile.network.zone_ids[: profile.network.az_count]
    )


@pytest.mark.parametrize("az_count", [2, 3])
def test_one_subnet_per_tier_and_az_count(run_builder, az_count):
    # A changed value, not a committed one: the builder follows whatever the profile says.
    base = load_profile("dev")
    profile = base.model_copy(
        update={"network": base.network.model_copy(update={"az_count": az_count})}
    )
    graph = run_builder(lambda: network.build(profile, fakes.logs(profile)))
    assert len(tier(graph, "private")) == len(tier(graph, "public")) == az_count


def test_subnets_never_map_public_ips(graph):
    for subnet in graph.of_type(SUBNET):
        assert subnet.inputs["mapPublicIpOnLaunch"] is False, subnet.name  # EC2.15


def test_subnet_cidrs_are_inside_the_vpc_and_disjoint(graph, profile):
    vpc = ipaddress.IPv4Network(profile.network.vpc_cidr)
    cidrs = [ipaddress.IPv4Network(s.inputs["cidrBlock"]) for s in graph.of_type(SUBNET)]
    assert all(c.subnet_of(vpc) for c in cidrs)
    assert all(not a.overlaps(b) for i, a in enumerate(cidrs) for b in cidrs[i + 1 :])
    assert all(c.num_addresses >= 64 for c in cidrs)


def test_existing_subnets_keep_their_cidrs_when_az_count_grows():
    two = network.subnet_cidrs("10.20.0.0/16", 2)
    three = network.subnet_cidrs("10.20.0.0/16", 3)
    assert three[0][:2] == two[0] and three[1][:2] == two[1]
    assert network.subnet_cidrs("10.20.0.0/22", 3)[1][2] == "10.20.1.0/25"


def test_no_nat_and_only_the_public_table_routes_to_the_internet(graph):
    assert not graph.of_type("aws:ec2/natGateway:NatGateway", "aws:ec2/eip:Eip")
    igw = graph.one("aws:ec2/internetGateway:InternetGateway")
    public_rt = graph.one(ROUTE_TABLE, "public-rt")
    (route,) = graph.of_type(ROUTE)
    assert route.inputs == {
        "routeTableId": public_rt.id,
        "destinationCidrBlock": "0.0.0.0/0",
        "gatewayId": igw.id,
    }
    for table in graph.of_type(ROUTE_TABLE):
        assert not table.inputs.get("routes"), table.name


def test_internet_route_id_is_the_public_default_route_to_the_internet_gateway(graph):
    route = graph.by_id(graph.outputs["internet_route_id"])
    assert route is not None and route.type == ROUTE
    assert route.inputs["destinationCidrBlock"] == "0.0.0.0/0"
    assert route.inputs["gatewayId"] == graph.one("aws:ec2/internetGateway:InternetGateway").id
    assert route.inputs["routeTableId"] == graph.one(ROUTE_TABLE, "public-rt").id


def test_public_subnets_use_the_public_table_and_each_private_subnet_its_own(graph, profile):
    table_of = {a.inputs["subnetId"]: a.inputs["routeTableId"] for a in graph.of_type(ASSOCIATION)}
    public_rt = graph.one(ROUTE_TABLE, "public-rt").id
    assert {table_of[s.id] for s in tier(graph, "public")} == {public_rt}
    private_tables = [table_of[s.id] for s in tier(graph, "private")]
    assert len(set(private_tables)) == profile.network.az_count
    assert public_rt not in private_tables


def test_every_private_route_table_has_the_s3_gateway_endpoint(graph):
    endpoint = graph.one(ENDPOINT, "s3-endpoint")
    assert endpoint.inputs["vpcEndpointType"] == "Gateway"
    assert endpoint.inputs["serviceName"] == "com.amazonaws.us-east-1.s3"
    private_tables = {t.id for t in graph.of_type(ROUTE_TABLE) if t.name.startswith("private-rt")}
    assert set(endpoint.inputs["routeTableIds"]) == private_tables
    assert graph.one(ROUTE_TABLE, "public-rt").id not in endpoint.inputs["routeTableIds"]


def test_s3_endpoint_reaches_only_this_accounts_buckets_and_the_ecr_layer_bucket(graph):
    statements = graph.one(ENDPOINT, "s3-endpoint").policy()["Statement"]
    own, layers = (
        [s for s in statements if "Condition" in s],
        [s for s in statements if "Condition" not in s],
    )
    # Everything else is conditioned on the bucket's owner being this account.
    assert [s["Condition"] for s in own] == [{"StringEquals": {"aws:ResourceAccount": ACCOUNT_ID}}]
    # The one exception: reading image layers from ECR's regional, AWS-owned bucket.
    assert layers == [
        {
            "Sid": "EcrImageLayers",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": LAYER_BUCKET_OBJECTS,
        }
    ]
    assert all(s["Effect"] == "Allow" for s in statements)


def test_default_security_group_is_adopted_without_rules(graph):
    default = graph.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert default.inputs["vpcId"] == graph.one("aws:ec2/vpc:Vpc").id
    assert not default.inputs.get("ingress") and not default.inputs.get("egress")  # EC2.2


def test_flow_logs_capture_all_traffic_into_the_encrypted_group(graph, profile):
    flow = graph.one("aws:ec2/flowLog:FlowLog")
    role = graph.one("aws:iam/role:Role", "flow-logs-role")
    assert flow.inputs["trafficType"] == "ALL"
    assert flow.inputs["vpcId"] == graph.one("aws:ec2/vpc:Vpc").id
    assert flow.inputs["logDestinationType"] == "cloud-watch-logs"
    assert flow.inputs["logDestination"] == flow_group_arn(profile)
    assert flow.inputs["iamRoleArn"] == role.state["arn"]
    policy = graph.one("aws:iam/rolePolicy:RolePolicy", "flow-logs-policy")
    assert policy.urn in flow.dependencies  # the role may write before the first delivery


def test_flow_logs_role_is_least_privilege(graph, profile):
    role = graph.one("aws:iam/role:Role", "flow-logs-role")
    assert role.inputs["name"] == profile.name("flow-logs")
    assert role.delete_before_replace
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT_ID
    (statement,) = graph.one("aws:iam/rolePolicy:RolePolicy").policy()["Statement"]
    assert set(statement["Action"]) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:DescribeLogStreams",
    }
    group_arn = flow_group_arn(profile)
    assert statement["Resource"] == [group_arn, f"{group_arn}:*"]


def test_everything_sits_under_the_network_component(graph):
    for resource in graph:
        if resource.custom:
            assert graph.concern(resource) == "network", resource.name
