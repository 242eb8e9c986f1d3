"""Run the real Pulumi program offline, under mocks, and return its resource graph.

The same `__main__.py` that `pulumi up` runs is executed with `runpy` after `set_mocks`, with
the stack's config loaded from `Pulumi.<stack>.yaml` as the engine would hand it over (except
that an encrypted `secure:` value stays encrypted: the loader treats it as an unknown secret),
and with the process's ENV_FOR_DYNACONF, as under `pulumi up`. A monitor subclass records what
the mocks do not expose: parent, dependencies and resource options. Tests, `plan`, `matrix` and
the diagram all read this one graph.
"""

from __future__ import annotations

import asyncio
import json
import os
import runpy
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

from config import ENV_VAR, SECRET, read_stack_file
from offline.mocks import AwsMocks
from resource_graph import Graph, Resource

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "payment-platform"
STACK_TYPE = "pulumi:pulumi:Stack"


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that keeps every registration request, not only the mocked state."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.requests: list[tuple[Any, str]] = []
        self.stack_outputs: dict[str, Any] = {}
        self.stack_urn = ""

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type == STACK_TYPE:
            self.stack_urn = response.urn
        else:
            self.requests.append((request, response.urn))
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        if request.urn == self.stack_urn:
            self.stack_outputs = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


def _plain(value: Any, redact: bool = False) -> Any:
    """Deserialized inputs -> JSON-friendly values (unknowns become None).

    Secrets keep their value (tests read mock tokens) unless `redact`, which shows `[secret]`
    for each, as Pulumi's own previews do.
    """
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig and redact:
            return SECRET
        if rpc._special_sig_key in value:  # secrets and resource references
            return _plain(value.get("value", value.get("urn")), redact)
        return {k: _plain(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, redact) for v in value]
    if isinstance(value, pulumi.Resource):
        return None
    if value is rpc.UNKNOWN or isinstance(value, pulumi.output.Unknown):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire format carries every number as a double
    return value


@contextmanager
def _environment(env_var: str | None) -> Iterator[None]:
    """ENV_FOR_DYNACONF for one run: `env_var` when given, else the process's own, untouched."""
    saved = os.environ.get(ENV_VAR)
    if env_var is not None:
        os.environ[ENV_VAR] = env_var
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = saved


def stack_config(
    stack: str,
    suffix: str | None = None,
    root: Path = ROOT,
    overrides: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
) -> dict[str, Any]:
    """A stack's config as the engine would pass it, with an optional suffix override.

    `config_file` stands in for `pulumi --config-file`: another file than Pulumi.<stack>.yaml.
    """
    config = read_stack_file(config_file or root / f"Pulumi.{stack}.yaml")
    if suffix is not None:
        config["payment:environmentSuffix"] = suffix
    for key, value in (overrides or {}).items():
        if value is None:  # None stands for `pulumi config rm`
            config.pop(key, None)
        else:
            config[key] = value
    return config


def record(
    env: str,
    suffix: str | None = None,
    *,
    stack: str | None = None,
    root: Path = ROOT,
    env_var: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
    redact_secrets: bool = False,
) -> Graph:
    """Synthesise one environment offline by running `__main__.py`; return its graph.

    `stack` defaults to `env` (Pulumi.<env>.yaml, or `config_file`); `suffix` stands in for
    `pulumi config set payment:environmentSuffix`; `env_var` sets ENV_FOR_DYNACONF for the run
    (by default the process's own value applies, as it would under `pulumi up`); `overrides`
    are extra stack config entries (`payment:<key>` -> value; None removes one);
    `redact_secrets` shows every secret input and output as `[secret]`.
    """
    config = stack_config(stack or env, suffix, root, overrides, config_file)
    program = root / "__main__.py"
    with _environment(env_var):
        return run_program(
            lambda: _run(program),
            env=env,
            stack=stack or env,
            config=config,
            redact_secrets=redact_secrets,
        )


def run_program(
    program: Callable[[], None],
    *,
    env: str,
    stack: str | None = None,
    config: Mapping[str, Any] | None = None,
    redact_secrets: bool = False,
) -> Graph:
    """Run any Pulumi program function under the recording mocks (unit tests use this)."""
    _ensure_event_loop()
    monitor = RecordingMonitor(AwsMocks())
    pulumi.runtime.set_mocks(AwsMocks(), project=PROJECT, stack=stack or env, monitor=monitor)
    pulumi.runtime.set_all_config({k: _config_text(v) for k, v in (config or {}).items()}, [])
    # set_mocks made a root stack of its own; the program runs in a fresh one, as under the
    # engine, so that its exports are registered as the stack's outputs.
    pulumi.runtime.settings.ROOT.set(None)
    _sync_await(run_in_stack(program))
    return _graph(monitor, env, redact_secrets)


def _ensure_event_loop() -> None:
    """Give the Pulumi runtime an open loop (a test framework may have closed the last one)."""
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())


def _run(program: Path) -> None:
    runpy.run_path(str(program), run_name="__main__")


def _config_text(value: Any) -> str:
    """Pulumi hands config to programs as text; structured values as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def _graph(monitor: RecordingMonitor, env: str, redact: bool = False) -> Graph:
    resources = []
    for request, urn in monitor.requests:
        registered = monitor.resources.get(urn)
        inputs = rpc.deserialize_properties(request.object)
        resources.append(
            Resource(
                urn=urn,
                type=request.type,
                name=request.name,
                parent=request.parent
                if request.parent and request.parent != monitor.stack_urn
                else None,
                custom=bool(request.custom),
                inputs=_plain(inputs, redact),
                dependencies=tuple(d for d in request.dependencies if d != monitor.stack_urn),
                delete_before_replace=bool(request.deleteBeforeReplace),
                ignore_changes=tuple(request.ignoreChanges),
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                provider=request.provider,
                id=registered.id if registered else None,
                state=_plain(registered.state, redact) if registered else {},
            )
        )
    outputs = _plain(monitor.stack_outputs, redact)
    suffix = str(outputs.get("environment_suffix", env))
    return Graph(env=env, suffix=suffix, resources=tuple(resources), outputs=outputs)
