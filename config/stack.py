"""Pulumi stack config, from the running engine or from a `Pulumi.<stack>.yaml` file offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from config.errors import ConfigError


def runtime_stack_config() -> dict[str, Any]:
    """All config the Pulumi engine handed this program (`namespace:key` -> value)."""
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
