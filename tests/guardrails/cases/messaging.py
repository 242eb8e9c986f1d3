"""Messaging cases: queue and topic encryption, dead-letter queues, public policies."""

from __future__ import annotations

import json
from typing import Any

from guardrails.facts import QUEUE, TOPIC
from resource_graph import Graph, Resource
from tests.guardrails.cases.base import Case, registrar
from tests.guardrails.synth import ACCOUNT, KEY_ARN, doc, graph, key, res

CASES: list[Case] = []
case = registrar(CASES)


def queue(name: str, encrypted: bool = True, dlq: str | None = None) -> Resource:
    physical = f"payment-{name}-dev"
    arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{physical}"
    inputs: dict[str, Any] = {"name": physical}
    if encrypted:
        inputs["kmsMasterKeyId"] = KEY_ARN
    if dlq:
        inputs["redrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq, "maxReceiveCount": 5})
    return res(
        QUEUE,
        name,
        id=f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/{physical}",
        arn=arn,
        **inputs,
    )


def _queues(encrypted: bool = True, redrive: bool = True) -> list[Resource]:
    dlq = queue("queue-dlq")
    main = queue("queue", encrypted=encrypted, dlq=dlq.state["arn"] if redrive else None)
    return [key(), dlq, main]


@case("messaging-encryption", "unencrypted queue", "SQS.1", "queue")
def _(ok: bool) -> Graph:
    return graph(*_queues(encrypted=ok))


@case("messaging-encryption", "queue without DLQ", "SQS.1", "queue")
def _(ok: bool) -> Graph:
    return graph(*(_queues() if ok else [key(), queue("queue")]))


@case("messaging-encryption", "topic on the AWS key", "cdk-nag SNSEncryptedKMS", "events")
def _(ok: bool) -> Graph:
    return graph(key(), res(TOPIC, "events", kmsMasterKeyId=KEY_ARN if ok else "alias/aws/sns"))


@case("messaging-policies", "queue open to anyone", "SQS.3", "queue")
def _(ok: bool) -> Graph:
    q = queue("queue")
    allow: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "sqs:SendMessage",
        "Resource": q.state["arn"],
    }
    if ok:
        allow["Condition"] = {
            "ArnEquals": {"aws:SourceArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:payment-events-dev"}
        }
    policy = res(
        "aws:sqs/queuePolicy:QueuePolicy", "queue-policy", queueUrl=q.id, policy=doc(allow)
    )
    return graph(q, policy)


@case("messaging-policies", "topic open to anyone", "SNS.4", "events")
def _(ok: bool) -> Graph:
    principal: Any = {"AWS": f"arn:aws:iam::{ACCOUNT}:root"} if ok else {"AWS": "*"}
    allow = {"Effect": "Allow", "Principal": principal, "Action": "sns:Publish", "Resource": "t"}
    return graph(res(TOPIC, "events", policy=doc(allow)))
