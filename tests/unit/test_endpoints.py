"""Interface endpoints: exactly the services the tasks call, private DNS, profile's AZ count."""

from __future__ import annotations

import pytest

from offline.mocks import ACCOUNT_ID
from payment_platform import endpoints
from tests import fakes
from tests.conftest import Graphs, load_profile

ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
SERVICES = {"ecr.api", "ecr.dkr", "logs", "secretsmanager", "sqs", "sns"}


@pytest.fixture
def built(run_builder, env):
    profile = load_profile(env)
    result: dict[str, endpoints.EndpointsOutputs] = {}

    def program() -> None:
        result["outputs"] = endpoints.build(profile, fakes.network(profile), fakes.security())

    graph = run_builder(program, env=env)
    return profile, graph, result["outputs"]


def test_exactly_the_services_the_private_tasks_call(built):
    _, graph, outputs = built
    found = graph.of_type(ENDPOINT)
    names = {e.inputs["serviceName"] for e in found}
    assert names == {f"com.amazonaws.us-east-1.{s}" for s in SERVICES}
    assert set(outputs.interface_endpoint_ids) == SERVICES
    # Without NAT these are what a Fargate task needs to start at all (EC2.55, EC2.56).
    assert {"ecr.api", "ecr.dkr", "logs", "secretsmanager"} <= set(outputs.interface_endpoint_ids)
    # Nothing calls STS (credentials from the ECS endpoint, tokens signed locally), and KMS is
    # called by SQS, SNS, S3 and Secrets Manager server-side, never from the VPC.
    assert not {"sts", "kms"} & set(outputs.interface_endpoint_ids)


def test_interface_endpoints_use_private_dns_in_the_profiles_endpoint_azs(built):
    profile, graph, _ = built
    n = profile.network.endpoint_az_count
    for endpoint in graph.of_type(ENDPOINT):
        assert endpoint.inputs["vpcEndpointType"] == "Interface"
        assert endpoint.inputs["privateDnsEnabled"] is True
        assert endpoint.inputs["vpcId"] == "vpc-0fake"
        assert endpoint.inputs["subnetIds"] == [f"subnet-private{i}" for i in range(n)]
        assert endpoint.inputs["securityGroupIds"] == ["sg-endpoints"]
        assert graph.concern(endpoint) == "endpoints"


@pytest.mark.parametrize("count", [1, 2, 3])
def test_endpoints_span_exactly_endpoint_az_count_subnets(run_builder, count):
    # A changed value, not a committed one: the builder follows whatever the profile says.
    base = load_profile("dev")
    network = base.network.model_copy(update={"az_count": 3, "endpoint_az_count": count})
    profile = base.model_copy(update={"network": network})
    graph = run_builder(lambda: endpoints.build(profile, fakes.network(profile), fakes.security()))
    for endpoint in graph.of_type(ENDPOINT):
        assert len(endpoint.inputs["subnetIds"]) == count


def test_every_interface_endpoint_admits_only_this_account(built):
    _, graph, _ = built
    for endpoint in graph.of_type(ENDPOINT):
        service = endpoint.inputs["serviceName"].removeprefix("com.amazonaws.us-east-1.")
        statement, *caller_only = endpoint.policy()["Statement"]
        assert statement["Effect"] == "Allow"
        # The service's own actions only, by this account's callers, on this account's
        # resources wherever the service puts the resource's account in the request.
        assert statement["Action"] == f"{service.split('.')[0]}:*", service
        condition = statement["Condition"]["StringEquals"]
        assert condition["aws:PrincipalAccount"] == ACCOUNT_ID, service
        assert condition == dict.fromkeys(endpoints.ACCOUNT_KEYS[service], ACCOUNT_ID), service
        # Resource-less actions (the ECR token) only: named one by one, this account's callers.
        wanted = endpoints.CALLER_ONLY_ACTIONS.get(service)
        assert [s["Action"] for s in caller_only] == ([list(wanted)] if wanted else []), service
        for extra in caller_only:
            assert "*" not in extra["Action"] and all(":" in a for a in extra["Action"])
            assert extra["Condition"] == {"StringEquals": {"aws:PrincipalAccount": ACCOUNT_ID}}


def test_interface_endpoints_sit_in_the_first_endpoint_zone_ids(graphs: Graphs, env):
    profile = load_profile(env)
    graph = graphs.environment(env)
    zone_of = {
        s.id: s.inputs["availabilityZoneId"]
        for s in graph.of_type("aws:ec2/subnet:Subnet")
        if s.inputs["tags"]["Tier"] == "private"
    }
    wanted = list(profile.network.zone_ids[: profile.network.endpoint_az_count])
    for endpoint in graph.of_type(ENDPOINT):
        if endpoint.inputs["vpcEndpointType"] == "Interface":
            assert [zone_of[s] for s in endpoint.inputs["subnetIds"]] == wanted
