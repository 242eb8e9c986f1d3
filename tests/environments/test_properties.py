"""Every valid sizing is the same platform: it synthesises, meets the guardrails, keeps dev's shape.

Hypothesis draws the sizing keys of the dev environment within the bounds the profile validates
(read from the profile's own fields, never copied) and the cross-field rules of
`config.profile` (endpoint AZs within the subnet AZs, min <= desired <= max with 10x spike
headroom, worker min <= max, min ACU <= max ACU in half steps), passes them as stack-config
overrides, and records the real program with them.

A few examples by default (each recording takes a second or two); set
PAYMENT_HYPOTHESIS_EXAMPLES=200 for a thorough run. Runs are derandomised, so CI and the
default run are reproducible, unless PAYMENT_HYPOTHESIS_EXAMPLES is set outside CI, where a
larger run explores new cases each time.
"""

from __future__ import annotations

import os
from typing import Any

import annotated_types
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import config
import guardrails
from config.profile import CacheConfig, ComputeConfig, DatabaseConfig, NetworkConfig
from conventions.scaling import SPIKE_FACTOR
from offline.recorder import ROOT, record, stack_config
from offline.shape import differences
from tests.conftest import Graphs

EXAMPLES_VAR = "PAYMENT_HYPOTHESIS_EXAMPLES"
EXAMPLES = int(os.environ.get(EXAMPLES_VAR, "3"))
DERANDOMIZE = bool(os.environ.get("CI")) or EXAMPLES_VAR not in os.environ


def bounds(model: type[BaseModel], name: str) -> tuple[int, int]:
    """The inclusive bounds the profile validates a field against (its `ge` and `le`)."""
    metadata = model.model_fields[name].metadata
    low = next(m.ge for m in metadata if isinstance(m, annotated_types.Ge))
    high = next(m.le for m in metadata if isinstance(m, annotated_types.Le))
    assert isinstance(low, int) and isinstance(high, int), (name, low, high)
    return low, high


def _between(model: type[BaseModel], name: str, low: int | None = None) -> st.SearchStrategy[int]:
    """Integers within a field's bounds, and at least `low` (a cross-field rule) when given."""
    lo, hi = bounds(model, name)
    return st.integers(max(lo, low if low is not None else lo), hi)


@st.composite
def compute_sizing(draw: st.DrawFn) -> dict[str, int]:
    """API and worker counts: min <= desired <= max, max >= SPIKE_FACTOR x desired."""
    _, max_high = bounds(ComputeConfig, "max_count")
    desired_low, desired_high = bounds(ComputeConfig, "desired_count")
    desired = draw(st.integers(desired_low, min(desired_high, max_high // SPIKE_FACTOR)))
    min_low, _ = bounds(ComputeConfig, "min_count")
    worker_min = draw(_between(ComputeConfig, "worker_min_count"))
    return {
        "desired_count": desired,
        "min_count": draw(st.integers(min_low, desired)),
        "max_count": draw(_between(ComputeConfig, "max_count", SPIKE_FACTOR * desired)),
        "worker_min_count": worker_min,
        "worker_max_count": draw(_between(ComputeConfig, "worker_max_count", worker_min)),
    }


@st.composite
def database_sizing(draw: st.DrawFn) -> dict[str, Any]:
    """Readers, and an ACU range in the half steps Aurora accepts with min <= max."""
    max_low, max_high = bounds(DatabaseConfig, "max_acu")
    max_halves = draw(st.integers(2 * max_low, 2 * max_high))
    min_low, _ = bounds(DatabaseConfig, "min_acu")
    min_halves = draw(st.integers(2 * min_low, max_halves))
    return {
        "reader_count": draw(_between(DatabaseConfig, "reader_count")),
        "min_acu": min_halves / 2,
        "max_acu": max_halves / 2,
    }


@st.composite
def sizing(draw: st.DrawFn) -> dict[str, Any]:
    """Stack-config overrides (`payment:<section>`) for every sizing key drawn together."""
    az_count = draw(_between(NetworkConfig, "az_count"))
    endpoint_low, _ = bounds(NetworkConfig, "endpoint_az_count")
    return {
        "payment:network": {
            "az_count": az_count,
            "endpoint_az_count": draw(st.integers(endpoint_low, az_count)),
        },
        "payment:compute": draw(compute_sizing()),
        "payment:database": draw(database_sizing()),
        "payment:cache": {"replica_count": draw(_between(CacheConfig, "replica_count"))},
    }


def _largest() -> dict[str, Any]:
    """Every count at the top of its bound: the most resources a valid profile makes."""
    azs = bounds(NetworkConfig, "az_count")[1]
    return {
        "payment:network": {"az_count": azs, "endpoint_az_count": azs},
        "payment:database": {"reader_count": bounds(DatabaseConfig, "reader_count")[1]},
        "payment:cache": {"replica_count": bounds(CacheConfig, "replica_count")[1]},
    }


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=DERANDOMIZE,
    database=None,  # nothing written into the work tree; derandomised runs need no replay store
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(overrides=sizing())
@example(overrides=_largest())
def test_every_valid_sizing_synthesises_meets_the_guardrails_and_keeps_the_shape(
    graphs: Graphs, overrides: dict[str, Any]
) -> None:
    stack = stack_config("dev", overrides=overrides)
    profile = config.load(stack, root=ROOT)
    for section, values in overrides.items():
        model = getattr(profile, section.removeprefix("payment:"))
        assert {key: getattr(model, key) for key in values} == values  # the overrides took
    graph = record("dev", overrides=overrides)
    violations = guardrails.evaluate(graph)
    assert violations == [], "\n".join(str(v) for v in violations)
    diff = differences(graphs.environment("dev"), graph, config_b=stack)
    assert diff == [], "\n".join(diff)
