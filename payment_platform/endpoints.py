"""Interface VPC endpoints for exactly the AWS APIs the private tasks call (issue 3)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from config import Profile
from payment_platform.network import NetworkOutputs
from payment_platform.security import SecurityOutputs


@dataclass(frozen=True)
class EndpointsOutputs:
    interface_endpoint_ids: dict[str, pulumi.Output[str]]  # AWS service name -> endpoint id


def build(profile: Profile, network: NetworkOutputs, security: SecurityOutputs) -> EndpointsOutputs:
    raise NotImplementedError
