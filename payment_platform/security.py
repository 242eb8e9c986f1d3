"""Security groups as a least-privilege graph (issue 3).

internet -> ALB 443/80; ALB -> API tasks on the app port; API and worker tasks -> database 5432,
cache 6379, interface endpoints 443 and the S3 prefix list 443; nothing else in or out.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from config import Profile
from payment_platform.network import NetworkOutputs


@dataclass(frozen=True)
class SecurityOutputs:
    alb_security_group_id: pulumi.Output[str]
    api_security_group_id: pulumi.Output[str]
    worker_security_group_id: pulumi.Output[str]
    database_security_group_id: pulumi.Output[str]
    cache_security_group_id: pulumi.Output[str]
    endpoints_security_group_id: pulumi.Output[str]


def build(profile: Profile, network: NetworkOutputs) -> SecurityOutputs:
    raise NotImplementedError
