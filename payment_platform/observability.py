"""Metric alarms to the alerts topic, and a dashboard per environment (issue 7)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from config import Profile
from payment_platform.cache import CacheOutputs
from payment_platform.compute import ComputeOutputs
from payment_platform.database import DatabaseOutputs
from payment_platform.edge import EdgeOutputs
from payment_platform.messaging import MessagingOutputs


@dataclass(frozen=True)
class ObservabilityOutputs:
    dashboard_name: pulumi.Output[str]
    dashboard_url: pulumi.Output[str]
    alarm_names: list[pulumi.Output[str]]


def build(
    profile: Profile,
    *,
    messaging: MessagingOutputs,
    database: DatabaseOutputs,
    cache: CacheOutputs,
    edge: EdgeOutputs,
    compute: ComputeOutputs,
) -> ObservabilityOutputs:
    raise NotImplementedError
