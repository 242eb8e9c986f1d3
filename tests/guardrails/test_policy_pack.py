"""The CrossGuard pack: engine resources convert to the same Graph, and violations are reported."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

import guardrails
from guardrails.facts import HIGH_AVAILABILITY, PRODUCTION
from offline.recorder import ROOT
from policy import pack
from resource_graph import Graph
from tests.conftest import environment_graph
from tests.guardrails.synth import graph, res

STACK_URN = "urn:pulumi:prod::payment-platform::pulumi:pulumi:Stack::payment-platform-prod"


def _opts(
    protect: bool = False, dbr: bool | None = None, ignore: tuple[str, ...] = ()
) -> PolicyResourceOptions:
    timeouts = PolicyCustomTimeouts(0, 0, 0)
    return PolicyResourceOptions(protect, list(ignore), dbr, [], timeouts, [], None)


def engine_resources(
    g: Graph,
    unknown: dict[str, dict[str, Any]] | None = None,
    outputs: dict[str, Any] | None = None,
) -> list[PolicyResource]:
    """What the engine would hand the pack for `g`: outputs (inputs + computed + id), options.

    `unknown` overrides resources' values and `outputs` the stack's, e.g. with values a preview
    does not know yet (UNKNOWN_STRING_VALUE).
    """
    stack = PolicyResource(
        "pulumi:pulumi:Stack",
        unknown_checking_proxy(dict(g.outputs) | (outputs or {})),
        STACK_URN,
        "payment-platform-prod",
        _opts(),
        None,
        None,
        [],
        {},
    )
    provider = PolicyResource(
        "pulumi:providers:aws", {}, "urn:provider", "default", _opts(), None, None, [], {}
    )
    converted: dict[str, PolicyResource] = {}
    for r in g.resources:
        props: dict[str, Any] = {**r.state, **r.inputs, "id": r.id} if r.custom else dict(r.inputs)
        props.update((unknown or {}).get(r.name, {}))
        converted[r.urn] = PolicyResource(
            r.type,
            unknown_checking_proxy(props),
            r.urn,
            r.name,
            _opts(r.protect, r.delete_before_replace, r.ignore_changes),
            None,
            None,
            [],
            {},
        )
    for r in g.resources:
        converted[r.urn].parent = converted[r.parent] if r.parent else stack
        converted[r.urn].dependencies = [converted[d] for d in r.dependencies if d in converted]
    return [stack, provider, *converted.values()]


def test_converter_rebuilds_the_recorded_graph() -> None:
    original = environment_graph("prod")
    rebuilt, unknown = pack.to_graph(engine_resources(original))
    assert unknown == set()
    assert (rebuilt.env, rebuilt.suffix) == ("prod", "prod")
    assert rebuilt.outputs == original.outputs
    assert all(a.ignore_changes == b.ignore_changes for a, b in zip(rebuilt, original, strict=True))
    assert [(r.type, r.name, r.parent, r.custom) for r in rebuilt] == [
        (r.type, r.name, r.parent, r.custom) for r in original
    ]
    assert all(a.dependencies == b.dependencies for a, b in zip(rebuilt, original, strict=True))
    # References resolve the same way: every raw finding (including the waived ones) matches.
    assert guardrails.check(rebuilt) == guardrails.check(original)
    assert guardrails.evaluate(rebuilt) == guardrails.evaluate(original)


def _report(
    g: Graph,
    unknown: dict[str, dict[str, Any]] | None = None,
    outputs: dict[str, Any] | None = None,
) -> list[tuple[str, str | None]]:
    reported: list[tuple[str, str | None]] = []
    pack.validate(
        StackValidationArgs(engine_resources(g, unknown, outputs)),
        lambda m, u: reported.append((m, u)),
    )
    return reported


def _bad_queue_graph() -> Graph:
    return graph(
        res("aws:sqs/queue:Queue", "orders", name="orders-dev", tags={"Environment": "dev"})
    )


def test_pack_reports_each_violation_on_its_resource() -> None:
    g = _bad_queue_graph()
    reported = _report(g)
    assert reported, "an unencrypted, misnamed queue must be reported"
    assert {urn for _, urn in reported} == {g.resources[0].urn}
    assert any("physical-names" in m and "DESIGN naming" in m for m, _ in reported)
    assert any("SQS.1" in m for m, _ in reported)
    assert len(reported) == len(guardrails.evaluate(g))


def test_pack_waits_for_values_unknown_during_preview() -> None:
    g = _bad_queue_graph()
    assert _report(g, unknown={"orders": {"kmsMasterKeyId": UNKNOWN_STRING_VALUE}}) == []


def test_pack_holds_an_unknown_deployment_class_to_the_production_rules() -> None:
    """At preview an unknown `production`/`high_availability` output counts as true."""
    dev = environment_graph("dev")
    assert _report(dev) == []
    unknown = {PRODUCTION: UNKNOWN_STRING_VALUE, HIGH_AVAILABILITY: UNKNOWN_STRING_VALUE}
    rebuilt, _ = pack.to_graph(engine_resources(dev, outputs=unknown))
    assert (rebuilt.outputs[PRODUCTION], rebuilt.outputs[HIGH_AVAILABILITY]) == (None, None)
    reported = [m for m, _ in _report(dev, outputs=unknown)]
    assert any(m.startswith("[high-availability]") for m in reported), reported
    assert any(m.startswith("[database-resilience]") and "RDS.11" in m for m in reported)


def test_pack_environment_falls_back_to_tags() -> None:
    rebuilt, _ = pack.to_graph(engine_resources(_bad_queue_graph()))
    assert rebuilt.env == "dev"


def test_policy_is_mandatory_stack_validation() -> None:
    policy = pack.stack_policy()
    assert policy.enforcement_level == EnforcementLevel.MANDATORY
    assert pack.ENFORCEMENT == EnforcementLevel.MANDATORY


def test_pack_entry_point_imports_the_project_and_serves() -> None:
    """`policy/__main__.py` runs from policy/ (as the engine starts it) and starts serving."""
    proc = subprocess.Popen(
        [sys.executable, "__main__.py"],
        cwd=ROOT / "policy",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = proc.stdout.readline().strip() if proc.stdout else ""
        assert port.isdigit(), (
            proc.stderr.read() if proc.stderr and proc.poll() is not None else port
        )
    finally:
        proc.kill()
        proc.wait(timeout=10)
