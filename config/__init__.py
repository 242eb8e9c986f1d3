"""Typed, layered configuration: `load()` returns the frozen `Profile` for one environment."""

from config.errors import ConfigError
from config.loader import (
    ENV_VAR,
    PROFILE_KEYS,
    SECRET,
    SECRET_KEYS,
    Resolved,
    Source,
    known_environments,
    load,
    resolve,
    shown,
)
from config.profile import Profile
from config.stack import read_stack_file, runtime_stack_config

__all__ = [
    "ENV_VAR",
    "PROFILE_KEYS",
    "SECRET",
    "SECRET_KEYS",
    "ConfigError",
    "Profile",
    "Resolved",
    "Source",
    "known_environments",
    "load",
    "read_stack_file",
    "resolve",
    "runtime_stack_config",
    "shown",
]
