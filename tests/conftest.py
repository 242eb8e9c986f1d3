"""Shared fixtures: profiles per environment and offline runs of builders or the whole program."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import config
from config import Profile
from offline.recorder import ROOT, record, run_program, stack_config
from resource_graph import Graph

ENVIRONMENTS = ("dev", "staging", "prod")


def load_profile(env: str, suffix: str | None = None) -> Profile:
    """The profile of a committed stack, as `pulumi up` would load it."""
    return config.load(stack_config(env, suffix), stack_file=f"Pulumi.{env}.yaml", root=ROOT)


@pytest.fixture(autouse=True)
def _no_env_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose the environment explicitly; a developer's shell must not leak into them."""
    monkeypatch.delenv(config.ENV_VAR, raising=False)


@pytest.fixture(params=ENVIRONMENTS)
def env(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def profile(env: str) -> Profile:
    return load_profile(env)


@pytest.fixture
def run_builder() -> Callable[..., Graph]:
    """Run a function that calls one builder under the recording mocks; return the graph."""

    def run(program: Callable[[], object], env: str = "dev") -> Graph:
        def call() -> None:
            program()

        return run_program(call, env=env)

    return run


_GRAPHS: dict[tuple[str, str | None], Graph] = {}


def environment_graph(env: str, suffix: str | None = None) -> Graph:
    """The whole program's graph for an environment, synthesised once per test session."""
    key = (env, suffix)
    if key not in _GRAPHS:
        _GRAPHS[key] = record(env, suffix)
    return _GRAPHS[key]


@pytest.fixture
def graph(env: str) -> Graph:
    return environment_graph(env)
