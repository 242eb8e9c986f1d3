"""Pulumi stack config, from the running engine or from a `Pulumi.<stack>.yaml` file offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from config.errors import ConfigError

# A config path: the namespaced key, then the keys inside a structured value
# (`("payment:database", "max_acu")` for `pulumi config set --path payment:database.max_acu`).
ConfigPath = tuple[str, ...]


def runtime_stack_config() -> dict[str, Any]:
    """All config the Pulumi engine handed this program (`namespace:key` -> value).

    The engine decrypts secrets before handing them over, so a `--secret` value arrives here in
    plaintext (the loader treats the keys the profile types as secrets as secret regardless).
    """
    from pulumi.runtime import config as runtime_config

    merged: dict[str, Any] = dict(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    return merged


def read_stack_file(path: Path) -> dict[str, Any]:
    """The `config:` map of a stack file; secure (encrypted) values are kept opaque."""
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path.name}: stack file not found (create it for this stack)") from None
    except yaml.YAMLError as exc:
        detail = str(exc).replace("\n", " ")
        raise ConfigError(f"{path.name}: malformed YAML ({detail})") from None
    if document is None:
        return {}
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise ConfigError(f"{path.name}: expected a mapping with a `config:` mapping inside")
    config = document.get("config") or {}
    for key in config:
        if not isinstance(key, str) or ":" not in key:
            raise ConfigError(
                f"{path.name}: config key {key!r} must be namespaced, e.g. payment:{key}"
            )
    return dict(config)


def stack_file_positions(path: Path) -> dict[ConfigPath, tuple[int, Any]]:
    """Line number and value of every key under `config:`, nested keys included.

    Best effort, for error messages only: a missing or unreadable file gives no positions
    (`read_stack_file` is what reports a broken file).
    """
    try:
        text = path.read_text()
        root = yaml.compose(text)
        values = (yaml.safe_load(text) or {}).get("config") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        return {}
    config = _mapping_value(root, "config")
    if config is None or not isinstance(values, dict):
        return {}
    positions: dict[ConfigPath, tuple[int, Any]] = {}
    _collect(config, values, (), positions)
    return positions


def _mapping_value(node: yaml.Node | None, key: str) -> yaml.MappingNode | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node if isinstance(value_node, yaml.MappingNode) else None
    return None


def _collect(
    node: yaml.MappingNode,
    values: dict[Any, Any],
    prefix: ConfigPath,
    into: dict[ConfigPath, tuple[int, Any]],
) -> None:
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.value not in values:
            continue
        path = (*prefix, key_node.value)
        value = values[key_node.value]
        into[path] = (key_node.start_mark.line + 1, value)
        if isinstance(value_node, yaml.MappingNode) and isinstance(value, dict):
            _collect(value_node, value, path, into)
