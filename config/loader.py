"""Load one environment's profile: four layers merged by Dynaconf, validated by the profile model.

Layers, lowest first: environments/default.toml, environments/<env>.toml,
environments/suffixes/<suffix>.toml (when present), and Pulumi stack config under `payment:`.
Each layer is parsed and checked for unknown keys on its own, so an error names the file that
holds the mistake; Dynaconf merges them with merging on, so a layer that sets one key of a
section keeps the section's other keys from below. Every leaf remembers the layer that set it.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dynaconf import Dynaconf
from pydantic import BaseModel, ValidationError

from config.errors import ConfigError
from config.profile import Profile, RuleViolationsError

ROOT = Path(__file__).resolve().parent.parent
ENV_VAR = "ENV_FOR_DYNACONF"
STACK_NAMESPACE = "payment"

# Stack-config keys for per-deployment values, camelCase as Pulumi convention has it.
STACK_DEPLOYMENT_KEYS = {
    "environment": "environment",
    "environmentSuffix": "environment_suffix",
    "alertEmail": "alert_email",
    "certificateArn": "certificate_arn",
    "domainName": "domain_name",
    "imageUri": "image_uri",
}
# Chosen by ENV_FOR_DYNACONF / stack config only, never by a TOML layer.
SELECTION_KEYS = {"environment", "environment_suffix"}


@dataclass(frozen=True)
class Source:
    """Where a value came from: the layer's name and the file (or stack) that holds it."""

    layer: str
    file: str

    def __str__(self) -> str:
        return f"{self.layer} layer, {self.file}"


@dataclass(frozen=True)
class Resolved:
    """A validated profile and, for every dotted key, the layer that set it."""

    profile: Profile
    sources: Mapping[str, Source]


@dataclass(frozen=True)
class _Layer:
    source: Source
    data: dict[str, Any]


def known_environments(root: Path = ROOT) -> list[str]:
    """Environment names that have a file in environments/: dev, staging, prod first."""
    names = {p.stem for p in (root / "environments").glob("*.toml")} - {"default"}
    order = {"dev": 0, "staging": 1, "prod": 2}
    return sorted(names, key=lambda name: (order.get(name, 3), name))


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _read_toml(path: Path, layer: str, root: Path) -> _Layer:
    source = Source(layer, _rel(path, root))
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source.file}: malformed TOML ({exc})") from None
    except OSError as exc:
        raise ConfigError(f"{source.file}: cannot read ({exc.strerror})") from None
    return _Layer(source, data)


def _check_keys(layer: _Layer) -> list[str]:
    """Unknown sections and keys in one layer, before anything is merged."""
    errors = []
    sections = Profile.model_fields
    for section, body in layer.data.items():
        where = f"({layer.source})"
        if section not in sections:
            errors.append(
                f"{section}: unknown section {where}; allowed: {', '.join(sorted(sections))}"
            )
            continue
        if not isinstance(body, dict):
            errors.append(f"{section} = {body!r}: must be a table of keys {where}")
            continue
        model = sections[section].annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        for key in body:
            if key not in model.model_fields:
                allowed = ", ".join(sorted(model.model_fields))
                errors.append(f"{section}.{key}: unknown key {where}; allowed: {allowed}")
            elif (
                section == "deployment"
                and key in SELECTION_KEYS
                and layer.source.layer not in ("stack", "selection")
            ):
                errors.append(
                    f"{section}.{key}: set by ENV_FOR_DYNACONF or stack config, "
                    f"not in a file {where}"
                )
    return errors


def _leaves(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            keys.extend(_leaves(value, f"{dotted}."))
        else:
            keys.append(dotted)
    return keys


def _stack_layer(stack_config: Mapping[str, Any], stack_file: str) -> _Layer:
    """Turn `payment:*` stack config into a layer shaped like the TOML ones."""
    source = Source("stack", stack_file)
    data: dict[str, Any] = {}
    errors = []
    for full_key, raw in stack_config.items():
        namespace, _, key = full_key.partition(":")
        if namespace != STACK_NAMESPACE:
            continue
        value = raw
        if isinstance(raw, str) and raw.lstrip().startswith("{"):
            try:  # structured values arrive from the Pulumi runtime as JSON text
                value = json.loads(raw)
            except json.JSONDecodeError:
                errors.append(f"{full_key}: not valid JSON ({source})")
                continue
        if key in STACK_DEPLOYMENT_KEYS:
            data.setdefault("deployment", {})[STACK_DEPLOYMENT_KEYS[key]] = value
        elif key in Profile.model_fields and key != "deployment":
            if not isinstance(value, dict):
                errors.append(f"{full_key} = {value!r}: must be an object of {key} keys ({source})")
                continue
            data[key] = value
        else:
            allowed = sorted(STACK_DEPLOYMENT_KEYS) + sorted(
                k for k in Profile.model_fields if k != "deployment"
            )
            errors.append(
                f"{full_key}: unknown stack config key ({source}); "
                f"allowed {STACK_NAMESPACE}:<key>: {', '.join(allowed)}"
            )
    if errors:
        raise ConfigError(*errors)
    return _Layer(source, data)


def _select_environment(stack_env: Any, stack_file: str, root: Path) -> str:
    env_var = os.environ.get(ENV_VAR, "").strip() or None
    if env_var and stack_env is not None and env_var != stack_env:
        raise ConfigError(
            f"{ENV_VAR}={env_var!r} disagrees with payment:environment={stack_env!r} "
            f"({stack_file}); prod sizing must never land in another stack by accident: "
            "make them agree or unset one"
        )
    env = env_var or stack_env
    known = known_environments(root)
    if env is None:
        raise ConfigError(
            f"no environment selected: set {ENV_VAR} or payment:environment "
            f"({stack_file}); known: {', '.join(known)}"
        )
    if not isinstance(env, str) or env not in known:
        origin = ENV_VAR if env_var else f"payment:environment ({stack_file})"
        raise ConfigError(
            f"{origin}={env!r}: unknown environment; known: {', '.join(known)} "
            "(add environments/<name>.toml to create one)"
        )
    return env


def _merge(layers: list[_Layer]) -> dict[str, Any]:
    """Deep-merge the layers in order with Dynaconf (merging on, no env-var or dotenv loading)."""
    settings = Dynaconf(
        settings_files=[],
        environments=False,
        merge_enabled=True,
        load_dotenv=False,
        envvar_prefix="PAYMENT_PLATFORM_UNUSED",  # environment variables are not a layer here
        core_loaders=[],
        loaders=[],
    )
    for layer in layers:
        settings.update(layer.data, merge=True, loader_identifier=str(layer.source))
    merged = settings.as_dict()
    return {k.lower(): v for k, v in merged.items() if k.lower() in Profile.model_fields}


def _where(keys: tuple[str, ...], sources: Mapping[str, Source], merged: Mapping[str, Any]) -> str:
    """Each key involved in a rule, its value, and the layer and file that set it."""
    parts = []
    for key in keys:
        section, _, name = key.partition(".")
        value = merged.get(section, {}).get(name)
        parts.append(f"{key} = {value!r} ({sources.get(key, 'unset')})")
    return ", ".join(parts)


def _format_error(
    loc: tuple[int | str, ...], msg: str, value: Any, sources: Mapping[str, Source]
) -> str:
    key = ".".join(str(part) for part in loc)
    source = sources.get(key)
    if msg.startswith("Field required"):
        return f"{key}: missing; set it in environments/default.toml or an environment file"
    where = f" ({source})" if source else ""
    return f"{key} = {value!r}{where}: {msg}"


def resolve(
    stack_config: Mapping[str, Any] | None = None,
    *,
    stack_file: str = "stack config",
    root: Path = ROOT,
) -> Resolved:
    """Merge, validate and freeze one environment's profile; raise ConfigError on any problem."""
    stack = _stack_layer(stack_config or {}, stack_file)
    deployment = stack.data.get("deployment", {})
    env = _select_environment(deployment.get("environment"), stack_file, root)
    suffix = deployment.get("environment_suffix", env)

    env_dir = root / "environments"
    layers = [
        _read_toml(env_dir / "default.toml", "default", root),
        _read_toml(env_dir / f"{env}.toml", "environment", root),
    ]
    if isinstance(suffix, str) and "/" not in suffix and not suffix.startswith("."):
        suffix_file = env_dir / "suffixes" / f"{suffix}.toml"
        if suffix_file.is_file():
            layers.append(_read_toml(suffix_file, "suffix", root))
    derived = _Layer(
        Source("selection", ENV_VAR if os.environ.get(ENV_VAR) else stack_file),
        {"deployment": {"environment": env, "environment_suffix": suffix}},
    )
    layers += [derived, stack]

    errors = [err for layer in layers for err in _check_keys(layer)]
    if errors:
        raise ConfigError(*errors)

    sources: dict[str, Source] = {}
    for layer in layers:
        for key in _leaves(layer.data):
            sources[key] = layer.source

    merged = _merge(layers)
    try:
        profile = Profile.model_validate(merged)
    except ValidationError as exc:
        messages = []
        for err in exc.errors():
            cause = err.get("ctx", {}).get("error")
            if isinstance(cause, RuleViolationsError):
                for keys, msg in cause.failed:
                    messages.append(f"{_where(keys, sources, merged)}: {msg}")
            else:
                msg = err["msg"].removeprefix("Value error, ")
                messages.append(_format_error(err["loc"], msg, err.get("input"), sources))
        raise ConfigError(*messages) from None
    return Resolved(profile, sources)


def load(
    stack_config: Mapping[str, Any] | None = None,
    *,
    stack_file: str = "stack config",
    root: Path = ROOT,
) -> Profile:
    """The validated profile alone (what `__main__.py` and the builders need)."""
    return resolve(stack_config, stack_file=stack_file, root=root).profile
