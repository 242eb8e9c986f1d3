"""Messaging: queues with DLQs, encryption, TLS-only policies, fan-out, alerts topic."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from offline.mocks import ACCOUNT_ID
from payment_platform import messaging
from resource_graph import Graph, Resource
from tests import fakes
from tests.conftest import ENVIRONMENTS, Graphs, load_profile

QUEUE = "aws:sqs/queue:Queue"
TOPIC = "aws:sns/topic:Topic"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
REDRIVE_ALLOW = "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy"

# (source queue, its DLQ) by logical name
PAIRS = (("payment-queue", "payment-dlq"), ("notifications", "notifications-dlq"))


@pytest.fixture(params=ENVIRONMENTS)
def graph(request: pytest.FixtureRequest, graphs: Graphs) -> Graph:
    return graphs.builder("messaging", request.param, lambda p: messaging.build(p, fakes.keys()))


def _arn(resource: Resource) -> str:
    return str(resource.state["arn"])


def _by_name(graph: Graph, type_: str) -> dict[str, Resource]:
    return {r.name: r for r in graph.of_type(type_)}


def test_component_parents_every_resource(graph: Graph) -> None:
    component = graph.one("payment:messaging:Messaging", "messaging")
    assert all(r.parent == component.urn for r in graph if r is not component)


def test_queue_names_and_timing_from_profile(graph: Graph) -> None:
    profile = load_profile(graph.env)
    queues = _by_name(graph, QUEUE)
    assert {q.get("name") for q in queues.values()} == {
        profile.name(s) for s in ("queue", "queue-dlq", "notifications", "notifications-dlq")
    }
    for q in queues.values():
        assert q.get("visibilityTimeoutSeconds") == profile.messaging.visibility_timeout_seconds
        assert q.get("receiveWaitTimeSeconds") == profile.messaging.receive_wait_seconds
        assert q.delete_before_replace
        assert not q.get("fifoQueue")  # standard queues: see the module docstring


def test_every_source_queue_redrives_to_its_dlq(graph: Graph) -> None:
    profile = load_profile(graph.env)
    queues = _by_name(graph, QUEUE)
    allows = {
        r.get("queueUrl"): json.loads(r.get("redriveAllowPolicy"))
        for r in graph.of_type(REDRIVE_ALLOW)
    }
    for source, dlq in PAIRS:
        redrive = json.loads(queues[source].get("redrivePolicy"))
        assert redrive == {
            "deadLetterTargetArn": _arn(queues[dlq]),
            "maxReceiveCount": profile.messaging.max_receive_count,
        }
        assert (
            queues[source].get("messageRetentionSeconds")
            == profile.messaging.message_retention_seconds
        )
        # the DLQ itself: no redrive of its own, 14 days' retention, only its source may use it
        assert queues[dlq].get("redrivePolicy") is None
        assert queues[dlq].get("messageRetentionSeconds") == 1_209_600
        assert allows[queues[dlq].state["url"]] == {
            "redrivePermission": "byQueue",
            "sourceQueueArns": [_arn(queues[source])],
        }


def test_every_queue_and_topic_uses_the_messaging_key(graph: Graph) -> None:
    resources = graph.of_type(QUEUE, TOPIC)
    assert len(resources) == 6
    for r in resources:
        assert r.get("kmsMasterKeyId") == fakes.MESSAGING_KEY_ARN, r.name
        assert not r.get("sqsManagedSseEnabled")
    for q in graph.of_type(QUEUE):
        assert q.get("kmsDataKeyReusePeriodSeconds") == 300


# Not facts.denies_insecure_transport: this also pins the Deny's resource and returns it.
def _tls_deny(policy: dict[str, Any], resource_arn: str) -> dict[str, Any]:
    deny: dict[str, Any]
    [deny] = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert deny["Principal"] == "*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == resource_arn
    return deny


# Not facts.is_public_allow: that accepts "*" scoped by a condition; here no Allow names "*".
def _no_public_allow(policy: dict[str, Any]) -> None:
    for s in policy["Statement"]:
        if s["Effect"] == "Allow":
            assert s["Principal"] != "*" and "*" not in json.dumps(s["Principal"])


def test_every_queue_has_a_tls_only_policy(graph: Graph) -> None:
    policies = {p.get("queueUrl"): p.policy() for p in graph.of_type(QUEUE_POLICY)}
    for q in graph.of_type(QUEUE):
        policy = policies[q.state["url"]]
        assert _tls_deny(policy, _arn(q))["Action"] == "sqs:*"
        _no_public_allow(policy)


def test_every_topic_has_a_tls_only_policy(graph: Graph) -> None:
    policies = {p.get("arn"): p.policy() for p in graph.of_type(TOPIC_POLICY)}
    for t in graph.of_type(TOPIC):
        policy = policies[_arn(t)]
        assert "sns:Publish" in _tls_deny(policy, _arn(t))["Action"]
        _no_public_allow(policy)


def test_events_topic_fans_out_to_notifications_queue(graph: Graph) -> None:
    topics, queues = _by_name(graph, TOPIC), _by_name(graph, QUEUE)
    events, notifications = _arn(topics["events"]), _arn(queues["notifications"])
    sub = graph.one(SUBSCRIPTION, "notifications-subscription")
    assert (sub.get("topic"), sub.get("protocol"), sub.get("endpoint")) == (
        events,
        "sqs",
        notifications,
    )
    assert sub.get("rawMessageDelivery") is True
    policy_resource = graph.one(QUEUE_POLICY, "notifications-policy")
    assert policy_resource.urn in sub.dependencies
    [allow] = [s for s in policy_resource.policy()["Statement"] if s["Effect"] == "Allow"]
    assert allow == {
        "Sid": "AllowEventsTopic",
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": notifications,
        "Condition": {"ArnEquals": {"aws:SourceArn": events}},
    }


def test_alerts_topic_lets_cloudwatch_publish_from_this_account(graph: Graph) -> None:
    alerts = graph.one(TOPIC, "alerts")
    assert alerts.get("name") == load_profile(graph.env).name("alerts")
    [allow] = [
        s
        for s in graph.one(TOPIC_POLICY, "alerts-policy").policy()["Statement"]
        if s["Effect"] == "Allow"
    ]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Resource"] == _arn(alerts)
    assert allow["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}


def _email_subscriptions(graph: Graph) -> list[Resource]:
    return [s for s in graph.of_type(SUBSCRIPTION) if s.get("protocol") == "email"]


def test_email_subscription_when_alert_email_set(graph: Graph) -> None:
    email = load_profile(graph.env).deployment.alert_email
    assert email is not None  # every committed stack file sets payment:alertEmail
    [sub] = _email_subscriptions(graph)
    assert sub.get("endpoint") == email.get_secret_value()
    assert sub.get("topic") == _arn(graph.one(TOPIC, "alerts"))


def test_no_email_subscription_without_alert_email(run_builder: Callable[..., Graph]) -> None:
    profile = load_profile("dev")
    profile = profile.model_copy(
        update={"deployment": profile.deployment.model_copy(update={"alert_email": None})}
    )
    graph = run_builder(lambda: messaging.build(profile, fakes.keys()), env="dev")
    assert _email_subscriptions(graph) == []
    assert graph.one(TOPIC, "alerts").get("kmsMasterKeyId") == fakes.MESSAGING_KEY_ARN
