"""Internet-facing HTTPS load balancer, certificate and WAF (issue 6)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from config import Profile
from payment_platform.logs import LogsOutputs
from payment_platform.network import NetworkOutputs
from payment_platform.security import SecurityOutputs


@dataclass(frozen=True)
class EdgeOutputs:
    alb_arn: pulumi.Output[str]
    alb_arn_suffix: pulumi.Output[str]
    alb_dns_name: pulumi.Output[str]
    https_url: pulumi.Output[str]
    https_listener_arn: pulumi.Output[str]
    target_group_arn: pulumi.Output[str]
    target_group_arn_suffix: pulumi.Output[str]
    web_acl_arn: pulumi.Output[str]
    web_acl_name: pulumi.Output[str]


def build(
    profile: Profile, logs: LogsOutputs, network: NetworkOutputs, security: SecurityOutputs
) -> EdgeOutputs:
    raise NotImplementedError
