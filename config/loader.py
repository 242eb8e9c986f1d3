"""Load one environment's profile: four layers merged by Dynaconf, validated by the profile model.

Layers, lowest first: environments/default.toml, environments/<env>.toml,
environments/suffixes/<suffix>.toml (when present), and Pulumi stack config under `payment:`.
Each layer is parsed and checked on its own, so an error names the file and line that hold the
mistake; Dynaconf merges them with merging on, so a layer that sets one key of a section keeps
the section's other keys from below. Every leaf remembers the layer, file and line that set it.

Selection: ENV_FOR_DYNACONF or `payment:environment` picks the environment (both set must
agree). `payment:environmentSuffix` is required in every stack and may not be another
environment's name: a stack never takes another's physical names by leaving it out.

Layers are plain data. Dynaconf evaluates `@int`, `@format {env[HOME]}`, `@read_file`, ...
in any string it is given; no legitimate value here starts with "@", so such a value is an error
naming key and file. Dynaconf never sees a string either: every leaf reaches it wrapped in an
opaque `_Leaf` (and `auto_cast` is off), and the merge must return exactly the leaves the layers
gave, which also catches values a `*_FOR_DYNACONF` environment variable would inject.

Secrets are the keys the profile types `Secret` (deployment.alert_email); they come from stack
config only. Under the engine they arrive decrypted and are validated as usual; offline an
encrypted `secure:` value is unknown, so its format is not checked and the program gets the
field's `offline_placeholder`. Messages and listings show them as `[secret]`.

`pulumi config set --path` stores a non-integer number as text ("2.5"); the stack layer, and only
it, turns numeric text into a number for a numeric key. TOML layers stay strictly typed.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, get_args, get_origin

from dynaconf import Dynaconf
from pydantic import BaseModel, Secret, ValidationError
from pydantic.fields import FieldInfo

from config.errors import ConfigError
from config.profile import Profile, RuleViolationsError
from config.stack import ConfigPath, stack_file_positions
from conventions import naming

ROOT = Path(__file__).resolve().parent.parent
ENV_VAR = "ENV_FOR_DYNACONF"
STACK_NAMESPACE = "payment"
SECRET = "[secret]"

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

_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_TOML_TABLE = re.compile(r"^\s*\[\s*([^\[\]#=]+?)\s*\]\s*(#.*)?$")
_TOML_KEY = re.compile(r"^\s*([A-Za-z0-9_.\-\"' ]+?)\s*=")


def _section_model(section: str) -> type[BaseModel]:
    model = Profile.model_fields[section].annotation
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return model


def _profile_keys() -> tuple[str, ...]:
    return tuple(
        f"{section}.{key}"
        for section in Profile.model_fields
        for key in _section_model(section).model_fields
    )


def _field(key: str) -> FieldInfo:
    section, _, name = key.partition(".")
    return _section_model(section).model_fields[name]


def _is_secret(key: str) -> bool:
    annotation = _field(key).annotation
    return any(get_origin(t) is Secret for t in (annotation, *get_args(annotation)))


# Every profile key in model order, and those typed as secrets.
PROFILE_KEYS = _profile_keys()
SECRET_KEYS = frozenset(key for key in PROFILE_KEYS if _is_secret(key))


def shown(key: str, value: Any) -> Any:
    """What may be displayed of a key's value: `[secret]` for a set secret, else the value."""
    return SECRET if key in SECRET_KEYS and value is not None else value


def _display(key: str, value: Any) -> str:
    return SECRET if key in SECRET_KEYS and value is not None else repr(value)


def offline_placeholder(key: str) -> str:
    """The stand-in a secret key gets offline when its stack value is encrypted."""
    extra = _field(key).json_schema_extra
    assert isinstance(extra, dict), f"{key}: a secret needs an offline_placeholder"
    return str(extra["offline_placeholder"])


@dataclass(frozen=True)
class Source:
    """Where a value came from: the layer's name, the file (or stack) and the line if known."""

    layer: str
    file: str
    line: int | None = None

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def __str__(self) -> str:
        return f"{self.layer} layer, {self.location}"


@dataclass(frozen=True)
class Resolved:
    """A validated profile and, for every dotted key a layer set, where it was set.

    `unknown` holds the secret keys whose stack value was encrypted (offline): the profile has
    their placeholder, not the value.
    """

    profile: Profile
    sources: Mapping[str, Source]
    unknown: frozenset[str] = frozenset()

    def value(self, key: str) -> Any:
        section, _, name = key.partition(".")
        return getattr(getattr(self.profile, section), name)

    def shown(self, key: str) -> Any:
        """The value as any listing may show it (`[secret]` for secrets)."""
        return shown(key, self.value(key))


@dataclass(frozen=True)
class _Layer:
    source: Source
    data: dict[str, Any]
    lines: Mapping[str, int] = field(default_factory=dict)

    def source_of(self, key: str) -> Source:
        """The layer's source at the line of `key`, or of the nearest table holding it."""
        while key:
            if key in self.lines:
                return replace(self.source, line=self.lines[key])
            key = key.rpartition(".")[0]
        return self.source


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


def toml_lines(text: str) -> dict[str, int]:
    """The line of every `[table]` and `key =` (dotted, within its table) in a TOML text.

    tomllib gives no positions; files of tables and scalar keys need no more than this. The
    first occurrence wins (a duplicate key is a TOML error anyway).
    """
    lines: dict[str, int] = {}
    table = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if header := _TOML_TABLE.match(line):
            table = _dotted(header[1])
            lines.setdefault(table, number)
        elif key := _TOML_KEY.match(line):
            lines.setdefault(_dotted(f"{table}.{key[1]}" if table else key[1]), number)
    return lines


def _dotted(key: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in key.split("."))


def _read_toml(path: Path, layer: str, root: Path) -> _Layer:
    source = Source(layer, _rel(path, root))
    try:
        text = path.read_text()
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source.file}: malformed TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source.file}: cannot read ({exc})") from None
    return _Layer(source, data, toml_lines(text))


def _stack_key(dotted: str) -> str:
    """How a user sets a dotted profile key from stack config."""
    section, _, name = dotted.partition(".")
    if section == "deployment":
        camel = {v: k for k, v in STACK_DEPLOYMENT_KEYS.items()}.get(name, name)
        return f"{STACK_NAMESPACE}:{camel}"
    return f"--path '{STACK_NAMESPACE}:{dotted}'"


def _check_keys(layer: _Layer) -> list[str]:
    """Unknown sections and keys in one layer, before anything is merged."""
    errors = []
    sections = Profile.model_fields
    for section, body in layer.data.items():
        where = f"({layer.source_of(section)})"
        if section not in sections:
            errors.append(
                f"{section}: unknown section {where}; allowed: {', '.join(sorted(sections))}"
            )
        elif not isinstance(body, dict):
            errors.append(f"{section} = {body!r}: must be a table of keys {where}")
        else:
            errors.extend(_check_section_keys(layer, section, body))
    return errors


def _check_section_keys(layer: _Layer, section: str, body: dict[str, Any]) -> list[str]:
    errors = []
    fields = _section_model(section).model_fields
    in_file = layer.source.layer not in ("stack", "selection")
    for key in body:
        dotted = f"{section}.{key}"
        where = f"({layer.source_of(dotted)})"
        if key not in fields:
            allowed = ", ".join(sorted(fields))
            errors.append(f"{dotted}: unknown key {where}; allowed: {allowed}")
        elif in_file and section == "deployment" and key in SELECTION_KEYS:
            errors.append(f"{dotted}: set by {ENV_VAR} or stack config, not in a file {where}")
        elif in_file and dotted in SECRET_KEYS:
            errors.append(
                f"{dotted}: a secret, never kept in a file {where}; set it in the stack with "
                f"`pulumi config set --secret {_stack_key(dotted)} <value>`"
            )
    return errors


def _is_secure(value: Any) -> bool:
    """An encrypted stack value as a stack file holds it: `{secure: v1:...}`."""
    return isinstance(value, dict) and set(value) == {"secure"} and isinstance(value["secure"], str)


def _leaves(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and not _is_secure(value):
            yield from _leaves(value, f"{dotted}.")
        else:
            yield dotted, value


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _check_values(layer: _Layer) -> list[str]:
    """`@`-prefixed strings: Dynaconf tokens, refused so that every layer is plain data."""
    return [
        f"{key} = {_display(key, value)} ({layer.source_of(key)}): starts with '@'; layers are "
        "plain data and Dynaconf tokens (@format, @int, @json, ...) are not evaluated: "
        "write the value itself"
        for key, value in _leaves(layer.data)
        if any(text.startswith("@") for text in _strings(value))
    ]


def _same(in_file: Any, given: Any) -> bool:
    """Whether a stack file's value is the one the program was given (the engine decrypts)."""
    if _is_secure(in_file) and not _is_secure(given):
        return True

    def canonical(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)

    return canonical(in_file) == canonical(given)


def _stack_lines(
    dotted: str,
    path: ConfigPath,
    value: Any,
    positions: Mapping[ConfigPath, tuple[int, Any]],
) -> dict[str, int]:
    """Lines of the stack file that hold this value: none where the value was overridden."""
    lines = {}
    if path in positions and _same(positions[path][1], value):
        lines[dotted] = positions[path][0]
    if isinstance(value, dict) and not _is_secure(value):
        for key, inner in value.items():
            lines.update(_stack_lines(f"{dotted}.{key}", (*path, key), inner, positions))
    return lines


def _stack_entry(full_key: str, raw: Any, source: Source) -> tuple[str, Any]:
    """One `payment:<key>` entry as (dotted key or section, value); ConfigError if unusable."""
    key = full_key.partition(":")[2]
    value = raw
    if isinstance(raw, str) and raw.lstrip().startswith("{"):
        try:  # structured values arrive from the Pulumi runtime as JSON text
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise ConfigError(f"{full_key}: not valid JSON ({source})") from None
    if key in STACK_DEPLOYMENT_KEYS:
        if isinstance(value, bool | int | float):  # the engine hands top-level values as text
            value = json.dumps(value)
        return f"deployment.{STACK_DEPLOYMENT_KEYS[key]}", value
    if key in Profile.model_fields and key != "deployment":
        if not isinstance(value, dict) or _is_secure(value):
            raise ConfigError(f"{full_key} = {value!r}: must be an object of {key} keys ({source})")
        return key, value
    allowed = sorted(STACK_DEPLOYMENT_KEYS) + sorted(
        k for k in Profile.model_fields if k != "deployment"
    )
    hint = ""
    if key.partition(".")[0] in Profile.model_fields:
        hint = f"; for one key of a section use `pulumi config set --path '{full_key}' <value>`"
    raise ConfigError(
        f"{full_key}: unknown stack config key ({source}); "
        f"allowed {STACK_NAMESPACE}:<key>: {', '.join(allowed)}{hint}"
    )


def _coerce_numbers(data: dict[str, Any]) -> None:
    """Numeric text to numbers for numeric keys: `pulumi config set --path` stores "2.5"."""
    for section, body in data.items():
        if section == "deployment" or section not in Profile.model_fields:
            continue
        fields = _section_model(section).model_fields
        for key, value in body.items():
            if not isinstance(value, str) or key not in fields:
                continue  # an unknown key is reported by _check_keys
            kind = fields[key].annotation
            if kind is int and _INTEGER.match(value.strip()):
                body[key] = int(value)
            elif kind is float and _NUMBER.match(value.strip()):
                body[key] = float(value)


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, name = dotted.split(".")
    for part in parents:
        data = data[part]
    data[name] = value


def _encrypted(layer: _Layer) -> frozenset[str]:
    """Encrypted values (offline): a secret gets its placeholder, any other key is an error."""
    unknown, errors = set(), []
    for key, value in list(_leaves(layer.data)):
        if not _is_secure(value):
            continue
        if key in SECRET_KEYS:
            _set(layer.data, key, offline_placeholder(key))
            unknown.add(key)
        else:
            secrets = ", ".join(_stack_key(k) for k in sorted(SECRET_KEYS))
            errors.append(
                f"{key}: encrypted (secure:) ({layer.source_of(key)}), but not a secret, and "
                f"offline checks need its value: set it in clear with `pulumi config set "
                f"{_stack_key(key)} <value>`; secrets: {secrets}"
            )
    if errors:
        raise ConfigError(*errors)
    return frozenset(unknown)


def _stack_layer(
    stack_config: Mapping[str, Any], stack_file: str, root: Path
) -> tuple[_Layer, frozenset[str]]:
    """`payment:*` stack config as a layer shaped like the TOML ones, with its file's lines."""
    source = Source("stack", stack_file)
    positions = stack_file_positions(root / stack_file)
    data: dict[str, Any] = {}
    lines: dict[str, int] = {}
    errors = []
    for full_key, raw in stack_config.items():
        if full_key.partition(":")[0] != STACK_NAMESPACE:
            continue
        try:
            dotted, value = _stack_entry(full_key, raw, source)
        except ConfigError as exc:
            errors.extend(exc.messages)
            continue
        lines.update(_stack_lines(dotted, (full_key,), value, positions))
        if dotted.startswith("deployment."):
            data.setdefault("deployment", {})[dotted.partition(".")[2]] = value
        else:
            data[dotted] = value
    if errors:
        raise ConfigError(*errors)
    layer = _Layer(source, data, lines)
    unknown = _encrypted(layer)
    _coerce_numbers(data)
    return layer, unknown


def _select_environment(stack: _Layer, root: Path) -> tuple[str, Source]:
    """The environment and where it was chosen: ENV_FOR_DYNACONF or payment:environment."""
    env_var = os.environ.get(ENV_VAR, "").strip() or None
    stack_env = stack.data.get("deployment", {}).get("environment")
    where = stack.source_of("deployment.environment").location
    if env_var and stack_env is not None and env_var != stack_env:
        raise ConfigError(
            f"{ENV_VAR}={env_var!r} disagrees with payment:environment={stack_env!r} "
            f"({where}); prod sizing must never land in another stack by accident: "
            "make them agree or unset one"
        )
    env = env_var or stack_env
    known = known_environments(root)
    if env is None:
        raise ConfigError(
            f"no environment selected: set {ENV_VAR} or payment:environment "
            f"({where}); known: {', '.join(known)}"
        )
    if not isinstance(env, str) or env not in known:
        origin = ENV_VAR if env_var else f"payment:environment ({where})"
        raise ConfigError(
            f"{origin}={env!r}: unknown environment; known: {', '.join(known)} "
            "(add environments/<name>.toml to create one)"
        )
    if stack_env is None:
        return env, Source("selection", ENV_VAR)
    return env, stack.source_of("deployment.environment")


def _select_suffix(stack: _Layer, env: str, root: Path) -> Any:
    """payment:environmentSuffix: required, and never another environment's name."""
    deployment = stack.data.get("deployment", {})
    if "environment_suffix" not in deployment:
        raise ConfigError(
            f"payment:environmentSuffix: missing in {stack.source.file}; every stack names the "
            "suffix of its physical names (payment-<service>-<suffix>) so that no two stacks "
            f"share them: `pulumi config set payment:environmentSuffix <suffix>` (e.g. {env} for "
            f"the {env} stack itself, pr-142 for another one; lowercase letters, digits, hyphens)"
        )
    suffix = deployment["environment_suffix"]
    others = [name for name in known_environments(root) if name != env]
    if suffix in others:
        where = stack.source_of("deployment.environment_suffix").location
        raise ConfigError(
            f"payment:environmentSuffix = {suffix!r} ({where}): the name of environment "
            f"{suffix!r}, so this {env} stack would take its physical names; allowed: {env!r} "
            f"or a suffix that is no other environment's name ({', '.join(others)})"
        )
    return suffix


def _file_layers(env: str, suffix: Any, root: Path) -> list[_Layer]:
    env_dir = root / "environments"
    layers = [
        _read_toml(env_dir / "default.toml", "default", root),
        _read_toml(env_dir / f"{env}.toml", "environment", root),
    ]
    if isinstance(suffix, str) and naming.SUFFIX_PATTERN.match(suffix):
        suffix_file = env_dir / "suffixes" / f"{suffix}.toml"
        if suffix_file.is_file():
            layers.append(_read_toml(suffix_file, "suffix", root))
    return layers


class _Leaf:
    """One layer's value as Dynaconf holds it: not a string, so Dynaconf never parses it."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __copy__(self) -> _Leaf:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Leaf:
        return self


def _wrap(data: Mapping[str, Any], prefix: str, winners: dict[str, _Leaf]) -> dict[str, Any]:
    """The layer's tables with every leaf wrapped; `winners` tracks what the merge must give."""
    wrapped: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and not _is_secure(value):
            winners.pop(dotted, None)
            wrapped[key] = _wrap(value, f"{dotted}.", winners)
        else:
            for below in [k for k in winners if k.startswith(f"{dotted}.")]:
                del winners[below]
            wrapped[key] = winners[dotted] = _Leaf(value)
    return wrapped


def _unwrap(data: Mapping[str, Any], prefix: str, found: dict[str, Any]) -> dict[str, Any]:
    plain: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            plain[key] = _unwrap(value, f"{dotted}.", found)
        else:
            found[dotted] = value
            plain[key] = value.value if isinstance(value, _Leaf) else value
    return plain


def _merge(layers: list[_Layer]) -> dict[str, Any]:
    """Deep-merge the layers in order with Dynaconf (merging on, no loaders, no casting)."""
    settings = Dynaconf(
        settings_files=[],
        environments=False,
        merge_enabled=True,
        load_dotenv=False,
        envvar_prefix="PAYMENT_PLATFORM_UNUSED",  # environment variables are not a layer here
        core_loaders=[],
        loaders=[],
        auto_cast=False,
    )
    winners: dict[str, _Leaf] = {}
    for layer in layers:
        settings.update(
            _wrap(layer.data, "", winners),
            merge=True,
            dotted_lookup=False,
            loader_identifier=str(layer.source),
        )
    found: dict[str, Any] = {}
    merged = {
        k.lower(): _unwrap(v, f"{k.lower()}.", found)
        for k, v in settings.as_dict().items()
        if k.lower() in Profile.model_fields and isinstance(v, Mapping)
    }
    foreign = sorted(set(found) ^ set(winners)) or [k for k in found if found[k] is not winners[k]]
    if foreign:
        variables = sorted(v for v in os.environ if v.endswith("_FOR_DYNACONF") and v != ENV_VAR)
        raise ConfigError(
            f"{foreign[0]}: the merge does not match the layers (Dynaconf settings from the "
            f"environment: {', '.join(variables) or 'none'}); unset them and retry"
        )
    return merged


def _where(
    keys: tuple[str, ...], sources: Mapping[str, Source], merged: Mapping[str, Any], stack_file: str
) -> str:
    """Each key involved in a rule, its value, and the layer, file and line that set it.

    An unset per-deployment key says where it would be set: its stack key in the stack file.
    """
    parts = []
    for key in keys:
        section, _, name = key.partition(".")
        value = merged.get(section, {}).get(name)
        unset = "unset"
        if section == "deployment" and name in STACK_DEPLOYMENT_KEYS.values():
            unset = f"unset: {_stack_key(key)} in {Path(stack_file).name}"
        parts.append(f"{key} = {_display(key, value)} ({sources.get(key, unset)})")
    return ", ".join(parts)


def _format_error(loc: tuple[str, ...], msg: str, value: Any, sources: Mapping[str, Source]) -> str:
    key = ".".join(loc)
    if msg.startswith("Field required"):
        return f"{key}: missing; set it in environments/default.toml or an environment file"
    source = sources.get(key)
    where = f" ({source})" if source else ""
    return f"{key} = {_display(key, value)}{where}: {msg}"


def _messages(
    exc: ValidationError, sources: Mapping[str, Source], merged: Mapping[str, Any], stack_file: str
) -> list[str]:
    """One line per failure; a rule's keys are prefixed with the section that raised it."""
    messages = []
    for err in exc.errors():
        loc = tuple(str(part) for part in err["loc"])
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, RuleViolationsError):
            for keys, msg in cause.failed:
                dotted = tuple(".".join((*loc, key)) for key in keys)
                messages.append(f"{_where(dotted, sources, merged, stack_file)}: {msg}")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            messages.append(_format_error(loc, msg, err.get("input"), sources))
    return messages


def resolve(
    stack_config: Mapping[str, Any] | None = None,
    *,
    stack_file: str = "stack config",
    root: Path = ROOT,
) -> Resolved:
    """Merge, validate and freeze one environment's profile; raise ConfigError on any problem.

    `stack_file` names the stack's file relative to `root` (or absolute); its lines are named
    in errors where it holds the value given.
    """
    stack, unknown = _stack_layer(stack_config or {}, stack_file, root)
    env, env_source = _select_environment(stack, root)
    suffix = _select_suffix(stack, env, root)
    layers = _file_layers(env, suffix, root)
    if env_source.layer == "selection":
        layers.append(_Layer(env_source, {"deployment": {"environment": env}}))
    layers.append(stack)

    errors = [err for layer in layers for err in (*_check_keys(layer), *_check_values(layer))]
    if errors:
        raise ConfigError(*errors)

    sources: dict[str, Source] = {}
    for layer in layers:
        for key, _ in _leaves(layer.data):
            sources[key] = layer.source_of(key)

    merged = _merge(layers)
    try:
        profile = Profile.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(*_messages(exc, sources, merged, stack_file)) from None
    return Resolved(profile, sources, unknown)


def load(
    stack_config: Mapping[str, Any] | None = None,
    *,
    stack_file: str = "stack config",
    root: Path = ROOT,
) -> Profile:
    """The validated profile alone (what `__main__.py` and the builders need)."""
    return resolve(stack_config, stack_file=stack_file, root=root).profile
