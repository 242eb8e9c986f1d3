"""Secret rules: the Secrets Manager secrets and their rotation.

- `secrets`: every secret on the customer key, rotated automatically at least every 90 days.
"""

from __future__ import annotations

from guardrails.facts import SECRET
from guardrails.model import Violation
from guardrails.rules.base import Findings, on_cmk, rule
from resource_graph import Graph


@rule(
    "secrets",
    "Every secret on the customer key; rotation where the secret supports it",
    "SecretsManager.1",
    "SecretsManager.2",
    "SecretsManager.4",
)
def managed_secrets(graph: Graph) -> list[Violation]:
    """A leaked credential stops working soon, and none rests on a key we do not control."""
    f = Findings("secrets")
    rotations = graph.of_type("aws:secretsmanager/secretRotation:SecretRotation")
    for secret in graph.of_type(SECRET):
        f.require(
            on_cmk(graph, secret.get("kmsKeyId")),
            secret,
            "not encrypted with the customer key",
            "SecretsManager.1",
        )
        own = [r for r in rotations if r.get("secretId") in (secret.id, secret.state.get("arn"))]
        if not own:
            f.add(secret, "no automatic rotation", "SecretsManager.1", "SecretsManager.4")
        for r in own:
            days = (r.get("rotationRules") or {}).get("automaticallyAfterDays")
            f.require(
                days is None or int(days) <= 90,
                r,
                f"rotates every {days} days (> 90)",
                "SecretsManager.4",
            )
    return f.items
