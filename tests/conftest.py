"""Shared fixtures: profiles per environment and offline runs of builders or the whole program."""

from __future__ import annotations

import gc
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

import config
from config import Profile
from offline.recorder import ROOT, record, run_program, stack_config
from resource_graph import Graph

# Every environment the project defines: environments/<name>.toml, deployed by the stack in
# Pulumi.<name>.yaml (tests/unit/test_environments.py holds the two together). Adding one is two
# files and `make snapshots`; no test lists environments by hand.
ENVIRONMENTS = tuple(config.known_environments(ROOT))

# The cyclic collector would keep re-scanning the ~850 pulumi_aws modules, their classes and the
# recorded graphs, none of which ever become garbage (as `python -m offline` knows, which turns
# it off). Here it stays on, for the tests' own cycles, but rarely and over new objects only.
GC_THRESHOLDS = (50_000, 50, 100)


def pytest_collection_finish(session: pytest.Session) -> None:
    """After every test module is imported: freeze what exists, collect seldom from now on."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def load_profile(env: str, suffix: str | None = None) -> Profile:
    """The profile of a committed stack, as `pulumi up` would load it."""
    return config.load(stack_config(env, suffix), stack_file=f"Pulumi.{env}.yaml", root=ROOT)


def resolve_at(root: Path, env: str = "dev", **stack: object) -> config.Resolved:
    """Resolve a stack of a scratch project root, with extra `payment:<key>` stack config."""
    cfg = stack_config(env, root=root)
    cfg.update({f"payment:{k}": v for k, v in stack.items()})
    return config.resolve(cfg, stack_file=f"Pulumi.{env}.yaml", root=root)


def config_error(root: Path, env: str = "dev", **stack: object) -> str:
    """The ConfigError text resolving that stack must raise."""
    with pytest.raises(config.ConfigError) as caught:
        resolve_at(root, env, **stack)
    return str(caught.value)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A scratch copy of the project's data files (environments, stack files), safe to edit."""
    shutil.copytree(ROOT / "environments", tmp_path / "environments")
    for stack in ROOT.glob("Pulumi.*.yaml"):
        shutil.copy(stack, tmp_path / stack.name)
    return tmp_path


def _run(program: Callable[[], object], env: str) -> Graph:
    def call() -> None:
        program()

    return run_program(call, env=env)


class Graphs:
    """Graphs of the committed stacks, each recorded once per test session and then shared.

    Sharing is safe because a Graph is frozen data. Only committed configuration is cached: a
    test that records with overrides (a changed profile, extra stack config) uses `run_builder`
    or `offline.recorder.record` directly, and those never touch this cache.
    """

    def __init__(self) -> None:
        self._environments: dict[tuple[str, str | None], Graph] = {}
        self._builders: dict[tuple[str, str], Graph] = {}

    def environment(self, env: str, suffix: str | None = None) -> Graph:
        """The whole program (`__main__.py`) for a committed stack."""
        key = (env, suffix)
        if key not in self._environments:
            self._environments[key] = record(env, suffix)
        return self._environments[key]

    def builder(self, key: str, env: str, program: Callable[[Profile], object]) -> Graph:
        """`program(load_profile(env))` run under the recording mocks, cached by `(key, env)`.

        `key` names the program (by convention the builder module, e.g. "audit") and must not
        be reused for a different one; `program` runs only on the first request, and is handed
        the committed profile, so the cached graph never reflects a test's overrides.
        """
        if (key, env) not in self._builders:
            profile = load_profile(env)
            self._builders[(key, env)] = _run(lambda: program(profile), env)
        return self._builders[(key, env)]


_GRAPHS = Graphs()


@pytest.fixture(scope="session")
def graphs() -> Graphs:
    """The session's one graph cache (`environment_graph` reads the same one)."""
    return _GRAPHS


def environment_graph(env: str, suffix: str | None = None) -> Graph:
    """The whole program's graph for an environment, synthesised once per test session."""
    return _GRAPHS.environment(env, suffix)


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
        return _run(program, env)

    return run


@pytest.fixture
def graph(graphs: Graphs, env: str) -> Graph:
    return graphs.environment(env)
