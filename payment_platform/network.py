"""VPC without NAT (issue 3): public subnets for the ALB only, private subnets for compute and
data, route tables, internet gateway on the public side, S3 gateway endpoint, VPC flow logs."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from config import Profile
from payment_platform.logs import LogsOutputs


@dataclass(frozen=True)
class NetworkOutputs:
    vpc_id: pulumi.Output[str]
    vpc_cidr: str
    availability_zones: list[str]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    private_route_table_ids: list[pulumi.Output[str]]
    s3_endpoint_prefix_list_id: pulumi.Output[str]


def build(profile: Profile, logs: LogsOutputs) -> NetworkOutputs:
    raise NotImplementedError
