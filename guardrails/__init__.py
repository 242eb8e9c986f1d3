"""Guardrails over a recorded resource graph: the security baseline and the design's invariants.

`evaluate(graph)` runs every rule in `RULES` and returns the violations left after the
deliberate exceptions in `guardrails.waivers`. The same function backs the offline test suite
and the CrossGuard policy pack in `policy/`, so there is one implementation of each rule.
"""

from __future__ import annotations

from guardrails.model import Rule, Violation
from guardrails.rules import RULES
from guardrails.waivers import WAIVERS, split
from resource_graph import Graph

__all__ = ["RULES", "WAIVERS", "Rule", "Violation", "check", "evaluate"]


def check(graph: Graph) -> list[Violation]:
    """Every violation of every rule, before waivers."""
    return [v for r in RULES for v in r.check(graph)]


def evaluate(graph: Graph) -> list[Violation]:
    """The violations that remain after the waivers, in rule order."""
    kept, _ = split(graph, check(graph))
    return kept
