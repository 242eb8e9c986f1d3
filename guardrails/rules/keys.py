"""Key rules: the customer-managed KMS keys.

- `keys`: every key rotates, is enabled, and has an explicit policy without wildcard principals.
"""

from __future__ import annotations

from guardrails import facts
from guardrails.facts import statements
from guardrails.model import Violation
from guardrails.rules.base import Findings, is_true, rule
from resource_graph import Graph


@rule(
    "keys",
    "Customer keys rotate, have no wildcard principals, are enabled",
    "KMS.3",
    "KMS.4",
    "KMS.5",
)
def customer_keys(graph: Graph) -> list[Violation]:
    """The keys every other encryption rule relies on rotate and are usable only by us."""
    f = Findings("keys")
    for key in graph.of_type(facts.KMS_KEY):
        f.require(is_true(key.get("enableKeyRotation")), key, "rotation off", "KMS.4")
        f.require(key.get("isEnabled") is not False, key, "disabled", "KMS.3")
        policy = key.get("policy")
        f.require(bool(policy), key, "no explicit key policy", "KMS.5")
        for s in statements(policy):
            f.require(
                not facts.is_public_allow(s),
                key,
                f"statement {s.get('Sid', '')} allows any principal",
                "KMS.5",
            )
    return f.items
