"""Messaging rules: the SQS queues and SNS topics.

- `messaging-encryption`: every queue (dead-letter queues too) and topic on the customer key;
  every queue has a dead-letter queue.
- `messaging-policies`: no queue or topic policy is open to any principal (deny non-TLS:
  `tls-in-transit` in `guardrails.rules.design`).
"""

from __future__ import annotations

from guardrails import facts
from guardrails.facts import ref, statements
from guardrails.model import Violation
from guardrails.rules.base import Findings, on_cmk, rule
from resource_graph import Graph


def dead_letter_arns(graph: Graph) -> dict[str, str]:
    """Queue ARN -> its dead-letter target ARN, from inline or separate redrive policies."""
    found: dict[str, str] = {}
    for queue in graph.of_type(facts.QUEUE):
        policy = facts.parse_json(queue.get("redrivePolicy"))
        if isinstance(policy, dict) and policy.get("deadLetterTargetArn"):
            found[str(queue.state.get("arn"))] = str(policy["deadLetterTargetArn"])
    for r in graph.of_type("aws:sqs/redrivePolicy:RedrivePolicy"):
        source = ref(graph, r.get("queueUrl"))
        policy = facts.parse_json(r.get("redrivePolicy"))
        if source is not None and isinstance(policy, dict) and policy.get("deadLetterTargetArn"):
            found[str(source.state.get("arn"))] = str(policy["deadLetterTargetArn"])
    return found


@rule(
    "messaging-encryption",
    "Every queue (DLQs too) and topic on the customer key; every queue has a DLQ",
    "SQS.1",
    "cdk-nag SNSEncryptedKMS",
)
def messaging_encryption(graph: Graph) -> list[Violation]:
    """Payment messages are encrypted under our key, and none is lost after repeated failures."""
    f = Findings("messaging-encryption")
    redrives = dead_letter_arns(graph)
    dlqs = set(redrives.values())
    for queue in graph.of_type(facts.QUEUE):
        f.require(
            on_cmk(graph, queue.get("kmsMasterKeyId")),
            queue,
            "not encrypted with the customer key",
            "SQS.1",
        )
        arn = str(queue.state.get("arn"))
        if arn in dlqs:
            continue
        target = ref(graph, redrives.get(arn))
        f.require(
            target is not None and target.type == facts.QUEUE,
            queue,
            "has no dead-letter queue",
            "SQS.1",
        )
    for topic in graph.of_type(facts.TOPIC):
        f.require(
            on_cmk(graph, topic.get("kmsMasterKeyId")),
            topic,
            "not encrypted with the customer key",
            "cdk-nag SNSEncryptedKMS",
        )
    return f.items


@rule(
    "messaging-policies",
    "Queue and topic policies are not public (deny non-TLS: tls-in-transit)",
    "SQS.3",
    "SNS.4",
)
def messaging_policies(graph: Graph) -> list[Violation]:
    """Nobody outside the account (or a named source) can send to or read from our messaging."""
    f = Findings("messaging-policies")
    for queue in graph.of_type(facts.QUEUE):
        for doc in facts.queue_policies(graph, queue):
            if any(facts.is_public_allow(s) for s in statements(doc)):
                f.add(queue, "queue policy allows any principal", "SQS.3")
    for topic in graph.of_type(facts.TOPIC):
        for doc in facts.topic_policies(graph, topic):
            if any(facts.is_public_allow(s) for s in statements(doc)):
                f.add(topic, "topic policy allows any principal", "SNS.4")
    return f.items
