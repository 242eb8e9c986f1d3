"""The guardrail vocabulary: a rule reads a recorded Graph and returns Violations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from resource_graph import Graph, Resource


@dataclass(frozen=True)
class Violation:
    """One failed property: which rule, which controls ask for it, on what, and why."""

    rule: str
    controls: tuple[str, ...]
    resource: str  # "<type token> <logical name>", see `subject`
    reason: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.resource}: {self.reason} ({', '.join(self.controls)})"


@dataclass(frozen=True)
class Rule:
    """A named check over a whole graph, with every control it covers."""

    id: str
    title: str
    controls: tuple[str, ...]
    check: Callable[[Graph], list[Violation]]


def subject(resource: Resource, detail: str = "") -> str:
    """How a violation names a resource: type token and logical name (plus an inline entry)."""
    base = f"{resource.type} {resource.name}"
    return f"{base}#{detail}" if detail else base
