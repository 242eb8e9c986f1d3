"""SQS payment queue with DLQ, SNS events topic fanning out to a notifications queue, and the
alerts topic for alarms (issue 5)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from config import Profile
from payment_platform.keys import KeysOutputs


@dataclass(frozen=True)
class MessagingOutputs:
    payment_queue_url: pulumi.Output[str]
    payment_queue_arn: pulumi.Output[str]
    payment_queue_name: pulumi.Output[str]
    payment_dlq_url: pulumi.Output[str]
    payment_dlq_arn: pulumi.Output[str]
    payment_dlq_name: pulumi.Output[str]
    notifications_queue_url: pulumi.Output[str]
    notifications_queue_arn: pulumi.Output[str]
    notifications_queue_name: pulumi.Output[str]
    notifications_dlq_arn: pulumi.Output[str]
    notifications_dlq_name: pulumi.Output[str]
    events_topic_arn: pulumi.Output[str]
    alerts_topic_arn: pulumi.Output[str]


def build(profile: Profile, keys: KeysOutputs) -> MessagingOutputs:
    raise NotImplementedError
