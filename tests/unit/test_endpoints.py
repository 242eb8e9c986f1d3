"""Interface endpoints: exactly the services the tasks call, private DNS, profile's AZ count."""

from __future__ import annotations

import pytest

from payment_platform import endpoints
from tests import fakes
from tests.conftest import load_profile

ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
SERVICES = {"ecr.api", "ecr.dkr", "logs", "secretsmanager", "sqs", "sns", "kms"}


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
    assert "sts" not in outputs.interface_endpoint_ids


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
