"""What every rule module shares: the `rule` decorator, `Findings`, and two small predicates."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from guardrails.facts import kms_key
from guardrails.model import Rule, Violation, subject
from resource_graph import Graph, Resource

Check = Callable[[Graph], list[Violation]]
T = TypeVar("T")


def rule(rule_id: str, title: str, *controls: str) -> Callable[[Check], Rule]:
    """Make a check a Rule, so its id, title and controls sit next to the code that checks them."""

    def make(check: Check) -> Rule:
        return Rule(rule_id, title, tuple(controls), check)

    return make


class Findings:
    """Collects the violations of one rule."""

    def __init__(self, rule_id: str) -> None:
        self.rule_id = rule_id
        self.items: list[Violation] = []

    def add(self, resource: Resource | str, reason: str, *controls: str, entry: str = "") -> None:
        """Record a violation on a resource (or an inline entry of it, or a bare name)."""
        name = resource if isinstance(resource, str) else subject(resource, entry)
        self.items.append(Violation(self.rule_id, tuple(controls), name, reason))

    def require(self, ok: bool, resource: Resource, reason: str, *controls: str) -> None:
        """Record a violation unless the property holds."""
        if not ok:
            self.add(resource, reason, *controls)

    def require_any(
        self,
        alternatives: Iterable[T],
        holds: Callable[[T], bool],
        resource: Resource,
        reason: str,
        *controls: str,
    ) -> None:
        """Record a violation unless one of the alternatives satisfies the property.

        The alternatives are whatever may carry the setting: a bucket's configuration resources,
        the policies attached to a queue, the associations of a load balancer.
        """
        self.require(any(holds(a) for a in alternatives), resource, reason, *controls)


def on_cmk(graph: Graph, value: Any) -> bool:
    """The input names a customer-managed key of this stack (not an AWS-managed one)."""
    return kms_key(graph, value) is not None


def is_true(value: Any) -> bool:
    """A flag that is on, whether the input carries a bool or the string "true"."""
    return value is True or str(value).lower() == "true"
