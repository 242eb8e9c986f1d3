"""What every case module shares: the Case record and the decorator that registers one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from resource_graph import Graph

Factory = Callable[[bool], Graph]


@dataclass(frozen=True)
class Case:
    rule: str
    label: str
    good: Callable[[], Graph]
    bad: Callable[[], Graph]
    control: str
    resource: str  # logical name the violation must name


def registrar(cases: list[Case]) -> Callable[[str, str, str, str], Callable[[Factory], Factory]]:
    """A `case(rule, label, control, resource)` decorator that appends to `cases`.

    The decorated factory builds the good graph when called with True, the bad one with False.
    """

    def case(rule: str, label: str, control: str, resource: str) -> Callable[[Factory], Factory]:
        def register(factory: Factory) -> Factory:
            cases.append(
                Case(rule, label, lambda: factory(True), lambda: factory(False), control, resource)
            )
            return factory

        return register

    return case
