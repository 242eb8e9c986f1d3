"""SQS payment queue with DLQ, SNS events topic fanning out to a notifications queue, and the
alerts topic for alarms.

Creates, under one `payment:messaging:Messaging` component:
- the payment queue (API -> worker) and its dead-letter queue, with a redrive policy
  (`messaging.max_receive_count`) and a redrive-allow policy naming the payment queue;
- the payment-events topic, fanning out to the notifications queue (raw delivery) with its own
  dead-letter queue; the notifications queue's policy lets only that topic send;
- the alerts topic that CloudWatch alarms publish to, with an e-mail subscription only when
  `deployment.alert_email` is set;
- a queue or topic policy on every queue and topic that denies any request without TLS (SQS.3,
  SNS.4). Every queue (DLQs too) and topic is encrypted with the messaging key (SQS.1).

Standard queues, not FIFO, for payments: FIFO caps throughput (per queue and per message group)
and its 5-minute deduplication window gives no end-to-end idempotency anyway (a retry after five
minutes, or a redelivery after a worker crash, still arrives twice). The exactly-once effect comes
from idempotency keys enforced by the database: the API dedupes on the `Idempotency-Key` header
with a unique constraint, and the worker's payment state machine only moves forward, so handling
a message twice is harmless. Order across payments does not matter; within one payment the state
machine enforces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from config import Profile
from payment_platform.component import Scope, component_scope
from payment_platform.iam import deny_insecure_transport, policy_document
from payment_platform.keys import KeysOutputs

# The longest retention SQS allows (14 days): time to investigate and redrive a poison message.
DLQ_RETENTION_SECONDS = 1_209_600
# How long SQS caches a data key from KMS before asking again: fewer KMS calls (cost, throttling).
KMS_DATA_KEY_REUSE_SECONDS = 300

# Every action a topic policy can name: the TLS deny covers all of them.
_SNS_ACTIONS = [
    "sns:AddPermission",
    "sns:DeleteTopic",
    "sns:GetTopicAttributes",
    "sns:ListSubscriptionsByTopic",
    "sns:Publish",
    "sns:RemovePermission",
    "sns:SetTopicAttributes",
    "sns:Subscribe",
]


@dataclass(frozen=True)
class MessagingOutputs:
    """The queues and topics, for the tasks' grants and environment and for the alarms.

    Attributes:
        payment_queue_url: URL of the payment queue (API -> worker).
        payment_queue_arn: ARN of the payment queue (task role grants).
        payment_queue_name: Name of the payment queue (alarm dimension, scaling metric).
        payment_dlq_url: URL of the payment dead-letter queue (redrive).
        payment_dlq_arn: ARN of the payment dead-letter queue.
        payment_dlq_name: Name of the payment dead-letter queue (alarm dimension).
        notifications_queue_url: URL of the queue subscribed to the payment-events topic.
        notifications_queue_arn: ARN of the notifications queue.
        notifications_queue_name: Name of the notifications queue.
        notifications_dlq_arn: ARN of the notifications dead-letter queue.
        notifications_dlq_name: Name of the notifications dead-letter queue (alarm dimension).
        events_topic_arn: ARN of the payment-events topic the worker publishes to.
        alerts_topic_arn: ARN of the topic every alarm notifies.
    """

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


@dataclass(frozen=True)
class _QueuePair:
    """A queue and its dead-letter queue."""

    queue: aws.sqs.Queue
    dlq: aws.sqs.Queue


def build(profile: Profile, keys: KeysOutputs) -> MessagingOutputs:
    """Payment queue and DLQ, the events topic with its notifications queue, the alerts topic."""
    scope = component_scope("messaging")
    payments = _payment_queues(profile, keys, scope)
    events = aws.sns.Topic(
        "events",
        name=profile.name("events"),
        kms_master_key_id=keys.messaging_key_arn,
        opts=scope.named,
    )
    _topic_policy("events-policy", events, scope)
    notifications = _notifications(profile, keys, events, scope)
    alerts = _alerts(profile, keys, scope)
    return scope.finish(
        MessagingOutputs(
            payment_queue_url=payments.queue.url,
            payment_queue_arn=payments.queue.arn,
            payment_queue_name=payments.queue.name,
            payment_dlq_url=payments.dlq.url,
            payment_dlq_arn=payments.dlq.arn,
            payment_dlq_name=payments.dlq.name,
            notifications_queue_url=notifications.queue.url,
            notifications_queue_arn=notifications.queue.arn,
            notifications_queue_name=notifications.queue.name,
            notifications_dlq_arn=notifications.dlq.arn,
            notifications_dlq_name=notifications.dlq.name,
            events_topic_arn=events.arn,
            alerts_topic_arn=alerts.arn,
        )
    )


def _queue(
    profile: Profile,
    keys: KeysOutputs,
    logical: str,
    service: str,
    retention: int,
    scope: Scope,
    dlq: aws.sqs.Queue | None = None,
) -> aws.sqs.Queue:
    m = profile.messaging
    return aws.sqs.Queue(
        logical,
        name=profile.name(service),
        kms_master_key_id=keys.messaging_key_arn,
        kms_data_key_reuse_period_seconds=KMS_DATA_KEY_REUSE_SECONDS,
        # NOTE: the visibility timeout must exceed the worker's longest processing time
        # (payment provider call + database commit, well under 60 s; profile default 180 s),
        # or a message still being processed reappears and a second worker picks it up.
        visibility_timeout_seconds=m.visibility_timeout_seconds,
        receive_wait_time_seconds=m.receive_wait_seconds,  # long polling: fewer empty receives
        message_retention_seconds=retention,
        redrive_policy=(
            None
            if dlq is None
            else pulumi.Output.json_dumps(
                {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": m.max_receive_count}
            )
        ),
        opts=scope.named,
    )


def _queue_pair(
    profile: Profile,
    keys: KeysOutputs,
    logical: str,
    dlq_logical: str,
    service: str,
    scope: Scope,
) -> _QueuePair:
    """A queue and its dead-letter queue (`<service>-dlq`), redriving into it."""
    # NOTE: for standard queues a message keeps its original enqueue time when moved to the DLQ,
    # so the DLQ's retention must be longer than the source's: 14 days, the maximum.
    retention = profile.messaging.message_retention_seconds
    dlq = _queue(profile, keys, dlq_logical, f"{service}-dlq", DLQ_RETENTION_SECONDS, scope)
    queue = _queue(profile, keys, logical, service, retention, scope, dlq)
    # NOTE: the DLQ names its source queue while the source names its DLQ: a cycle if both are
    # set on the queues themselves. A separate redrive-allow resource breaks it.
    aws.sqs.RedriveAllowPolicy(
        f"{dlq_logical}-redrive-allow",
        queue_url=dlq.url,
        redrive_allow_policy=pulumi.Output.json_dumps(
            {"redrivePermission": "byQueue", "sourceQueueArns": [queue.arn]}
        ),
        opts=scope.child,
    )
    return _QueuePair(queue=queue, dlq=dlq)


def _queue_policy(
    logical: str, q: aws.sqs.Queue, scope: Scope, *extra: dict[str, Any]
) -> aws.sqs.QueuePolicy:
    return aws.sqs.QueuePolicy(
        logical,
        queue_url=q.url,
        policy=policy_document([deny_insecure_transport("sqs:*", q.arn), *extra]),
        opts=scope.child,
    )


def _topic_policy(logical: str, t: aws.sns.Topic, scope: Scope, *extra: dict[str, Any]) -> None:
    aws.sns.TopicPolicy(
        logical,
        arn=t.arn,
        policy=policy_document([deny_insecure_transport(_SNS_ACTIONS, t.arn), *extra]),
        opts=scope.child,
    )


def _payment_queues(profile: Profile, keys: KeysOutputs, scope: Scope) -> _QueuePair:
    """The payment queue (API -> worker) and its DLQ, both TLS-only."""
    pair = _queue_pair(profile, keys, "payment-queue", "payment-dlq", "queue", scope)
    _queue_policy("payment-queue-policy", pair.queue, scope)
    _queue_policy("payment-dlq-policy", pair.dlq, scope)
    return pair


def _notifications(
    profile: Profile, keys: KeysOutputs, events: aws.sns.Topic, scope: Scope
) -> _QueuePair:
    """The notifications queue and DLQ, subscribed to the events topic (the only sender)."""
    pair = _queue_pair(profile, keys, "notifications", "notifications-dlq", "notifications", scope)
    notifications = pair.queue
    _queue_policy("notifications-dlq-policy", pair.dlq, scope)
    notifications_policy = _queue_policy(
        "notifications-policy",
        notifications,
        scope,
        {
            "Sid": "AllowEventsTopic",
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": notifications.arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": events.arn}},
        },
    )
    # NOTE: SNS can deliver to a KMS-encrypted queue only when the messaging key's policy lets
    # sns.amazonaws.com use it (kms:GenerateDataKey*, kms:Decrypt); otherwise delivery fails
    # silently. The subscription waits for the queue policy: deliveries before it lands are lost.
    # raw_message_delivery hands subscribers the event itself, not the SNS envelope.
    aws.sns.TopicSubscription(
        "notifications-subscription",
        topic=events.arn,
        protocol="sqs",
        endpoint=notifications.arn,
        raw_message_delivery=True,
        opts=scope.opts(depends_on=[notifications_policy]),
    )
    return pair


def _alerts(profile: Profile, keys: KeysOutputs, scope: Scope) -> aws.sns.Topic:
    """The topic alarms publish to, with an e-mail subscription where one is configured."""
    account_id = aws.get_caller_identity_output().account_id
    # NOTE: CloudWatch alarms can publish to this KMS-encrypted topic only because the messaging
    # key's policy grants cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey*; without
    # that grant alarms fail to notify, silently.
    alerts = aws.sns.Topic(
        "alerts",
        name=profile.name("alerts"),
        kms_master_key_id=keys.messaging_key_arn,
        opts=scope.named,
    )
    _topic_policy(
        "alerts-policy",
        alerts,
        scope,
        {
            "Sid": "AllowCloudWatchAlarms",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": alerts.arn,
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        },
    )
    email = profile.deployment.alert_email
    if email is not None:
        # NOTE: an e-mail subscription stays "pending confirmation" until the recipient clicks
        # the link. A pending subscription cannot be unsubscribed through the API: destroy forgets
        # it, and deleting the topic removes it.
        aws.sns.TopicSubscription(
            "alerts-email",
            topic=alerts.arn,
            protocol="email",
            # A secret (personal data): Pulumi encrypts it in state and masks it in previews.
            endpoint=pulumi.Output.secret(email.get_secret_value()),
            opts=scope.child,
        )
    return alerts
