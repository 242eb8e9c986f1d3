"""The CrossGuard side of the guardrails: engine resources -> offline Graph -> `evaluate`.

`StackValidationArgs.resources` carry each resource's outputs (camelCase, like the recorder's
inputs), its options, parent and dependencies. `to_graph` turns them into the same
`resource_graph.Graph` the tests check, so the pack and the tests run one implementation of
every rule. Kept apart from `__main__.py` so tests can import it without starting a pack.

The stack resource's props are the stack outputs; they become `Graph.outputs` unchanged, as the
recorder's do: `environment` and `environment_suffix` name the environment, and `production` and
`high_availability` are the deployment class the production-only rules key on
(`guardrails.facts.deployment_flag`). An output the engine does not know yet (preview) arrives
as None, and a missing one is absent; either way the flag counts as true, so a stack whose class
cannot be read is held to the stricter rules rather than waved through.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from pulumi_policy import EnforcementLevel, StackValidationArgs, StackValidationPolicy
from pulumi_policy.proxy import UnknownValueError

from guardrails import evaluate
from resource_graph import Graph, Resource

PACK_NAME = "payment-platform-guardrails"
POLICY_NAME = "payment-guardrails"
ENFORCEMENT = EnforcementLevel.MANDATORY
STACK_TYPE = "pulumi:pulumi:Stack"


class _Options(Protocol):
    @property
    def protect(self) -> bool: ...
    @property
    def ignore_changes(self) -> Sequence[str]: ...
    @property
    def delete_before_replace(self) -> bool | None: ...


class EngineResource(Protocol):
    """What the converter reads from `pulumi_policy.PolicyResource`."""

    @property
    def resource_type(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def urn(self) -> str: ...
    @property
    def props(self) -> Mapping[str, Any]: ...
    @property
    def opts(self) -> _Options: ...
    @property
    def parent(self) -> Any: ...
    @property
    def dependencies(self) -> Sequence[Any]: ...


class _Unknown:
    """Stands for a value the engine does not know yet (preview)."""


UNKNOWN = _Unknown()


def _read(container: Any, key: Any) -> Any:
    try:
        return container[key]
    except UnknownValueError:
        return UNKNOWN


def _plain(value: Any, unknown: list[bool]) -> Any:
    """Proxied outputs -> plain values; unknowns become None and are flagged in `unknown`."""
    if value is UNKNOWN:
        unknown.append(True)
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain(_read(value, k), unknown) for k in value}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain(_read(value, i), unknown) for i in range(len(value))]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire format carries every number as a double
    return value


def _stack_of(urn: str) -> str:
    # urn:pulumi:<stack>::<project>::<type>::<name>
    parts = urn.split(":")
    return parts[2] if len(parts) > 2 else ""


def to_graph(resources: Iterable[EngineResource]) -> tuple[Graph, set[str]]:
    """The offline Graph of a stack's resources, and the URNs of resources with unknown values."""
    converted: list[Resource] = []
    unknown_urns: set[str] = set()
    outputs: dict[str, Any] = {}
    for r in resources:
        flags: list[bool] = []
        props = _plain(r.props, flags)
        if r.resource_type == STACK_TYPE:
            # NOTE: unknown outputs stay None here, not dropped: the rules read them as "held".
            outputs = dict(props)
            continue
        if r.resource_type.startswith("pulumi:providers:"):
            continue
        if flags:
            unknown_urns.add(r.urn)
        parent = (
            r.parent.urn if r.parent is not None and r.parent.resource_type != STACK_TYPE else None
        )
        converted.append(
            Resource(
                urn=r.urn,
                type=r.resource_type,
                name=r.name,
                parent=parent,
                custom=not r.resource_type.startswith("payment:"),
                inputs=props,
                dependencies=tuple(d.urn for d in r.dependencies if d.resource_type != STACK_TYPE),
                delete_before_replace=bool(r.opts.delete_before_replace),
                ignore_changes=tuple(r.opts.ignore_changes or ()),
                protect=bool(r.opts.protect),
                # NOTE: PolicyResourceOptions carries no retain_on_delete; offline tests check it.
                retain_on_delete=False,
                # NOTE: bridged (Terraform-based) providers include `id` in their outputs.
                id=props.get("id"),
                state=props,
            )
        )
    env, suffix = _environment(converted, outputs)
    return Graph(env=env, suffix=suffix, resources=tuple(converted), outputs=outputs), unknown_urns


def _environment(resources: list[Resource], outputs: Mapping[str, Any]) -> tuple[str, str]:
    """Environment and suffix: the stack outputs, else the standard tags, else the stack name."""
    tags = [r.get("tags") or {} for r in resources]
    stack = _stack_of(resources[0].urn) if resources else ""

    def most_common(key: str) -> str | None:
        values = Counter(t.get(key) for t in tags if isinstance(t, Mapping) and t.get(key))
        return str(values.most_common(1)[0][0]) if values else None

    env = outputs.get("environment") or most_common("Environment") or stack
    suffix = outputs.get("environment_suffix") or most_common("EnvironmentSuffix") or env
    return str(env), str(suffix)


def validate(
    args: StackValidationArgs, report_violation: Callable[[str, str | None], None]
) -> None:
    """Report every guardrail violation; resources still unknown in a preview wait for `up`."""
    graph, unknown = to_graph(args.resources)
    by_subject = {f"{r.type} {r.name}": r.urn for r in graph.resources}
    for violation in evaluate(graph):
        urn = by_subject.get(violation.resource.partition("#")[0])
        if urn in unknown:
            # NOTE: judged once the engine knows the values (the policy runs again on `up`).
            continue
        report_violation(str(violation), urn)


def stack_policy() -> StackValidationPolicy:
    return StackValidationPolicy(
        name=POLICY_NAME,
        description="Security baseline (FSBP, PCI DSS, cdk-nag) and design invariants",
        validate=validate,
        enforcement_level=ENFORCEMENT,
    )
