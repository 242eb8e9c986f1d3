"""The account stack's settings: typed, validated and frozen before any resource is registered.

Stack config under the `account:` namespace (Pulumi.<stack>.yaml or `pulumi config set`):

- `account:auditLogRetentionDays` (default 365, at least 365: PCI DSS 10.5.1 keeps audit logs a
  year): how long the trail bucket keeps log files and their old versions;
- `account:transitionToGlacierDays` (default 90, at least 1, less than the retention): when log
  files move to Glacier;
- `account:logRetentionDays` (default 365, a value CloudWatch Logs accepts): the trail's log group.

Every problem is one line naming the key, the stack file (and line), the value and what is
allowed, raised together as `config.ConfigError`; unknown `account:` keys are errors, so a typo
never falls back to a default.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final

from config import ConfigError
from config.profile import LOG_RETENTION_DAYS
from config.stack import stack_file_positions

NAMESPACE: Final = "account"
# PCI DSS 10.5.1: audit log history is retained for at least twelve months.
MIN_AUDIT_RETENTION_DAYS: Final = 365

_WHOLE_NUMBER = re.compile(r"^\s*[+-]?\d+\s*$")


@dataclass(frozen=True)
class AccountSettings:
    """What may differ between accounts: retention of the trail's logs, in days."""

    audit_log_retention_days: int = MIN_AUDIT_RETENTION_DAYS
    transition_to_glacier_days: int = 90
    log_retention_days: int = 365


@dataclass(frozen=True)
class _Key:
    """One stack config key: its name under `account:`, its field, and its rule in words."""

    name: str
    field: str
    accepts: Callable[[int], bool]
    allowed: str


KEYS: Final = (
    _Key(
        "auditLogRetentionDays",
        "audit_log_retention_days",
        lambda days: days >= MIN_AUDIT_RETENTION_DAYS,
        f"must be a whole number of days >= {MIN_AUDIT_RETENTION_DAYS} "
        "(PCI DSS 10.5.1 keeps audit logs a year)",
    ),
    _Key(
        "transitionToGlacierDays",
        "transition_to_glacier_days",
        lambda days: days >= 1,
        "must be a whole number of days >= 1",
    ),
    _Key(
        "logRetentionDays",
        "log_retention_days",
        lambda days: days in LOG_RETENTION_DAYS,
        f"must be a retention CloudWatch Logs accepts, one of {list(LOG_RETENTION_DAYS)}",
    ),
)
assert {k.field for k in KEYS} == {f.name for f in fields(AccountSettings)}


def load(stack_config: Mapping[str, Any], *, stack_file: str, root: Path) -> AccountSettings:
    """The settings from the stack's config (`namespace:key` -> value, as the engine gives it).

    `stack_file` is the stack's file relative to `root`, named in errors with the line that
    holds the value when it does.
    """
    where = _Locator(stack_file, stack_file_positions(root / stack_file))
    ours = {k: v for k, v in stack_config.items() if k.partition(":")[0] == NAMESPACE}
    known = {f"{NAMESPACE}:{k.name}": k for k in KEYS}
    errors = [_unknown(key, where) for key in ours if key not in known]
    values: dict[str, int] = {}
    for full_key, spec in known.items():
        if full_key not in ours:
            continue
        raw = ours[full_key]
        days = _whole_number(raw)
        if days is None or not spec.accepts(days):
            errors.append(f"{full_key} = {_shown(raw)} ({where(full_key, raw)}): {spec.allowed}")
        else:
            values[spec.field] = days
    if errors:
        raise ConfigError(*errors)
    settings = AccountSettings(**values)
    _check_glacier_before_expiry(settings, ours, where)
    return settings


@dataclass(frozen=True)
class _Locator:
    """Where a key's value was set: the stack file, with its line when the file holds it."""

    stack_file: str
    positions: Mapping[tuple[str, ...], tuple[int, Any]]

    def __call__(self, full_key: str, value: Any = None) -> str:
        found = self.positions.get((full_key,))
        if found is not None and (value is None or str(found[1]) == str(value)):
            return f"stack file {self.stack_file}:{found[0]}"
        return f"stack file {self.stack_file}"


def _unknown(full_key: str, where: _Locator) -> str:
    allowed = ", ".join(k.name for k in KEYS)
    return (
        f"{full_key}: unknown stack config key ({where(full_key)}); "
        f"allowed {NAMESPACE}:<key>: {allowed}"
    )


def _check_glacier_before_expiry(
    settings: AccountSettings, given: Mapping[str, Any], where: _Locator
) -> None:
    """S3 refuses a lifecycle rule that expires objects before (or when) it transitions them."""
    glacier, retention = settings.transition_to_glacier_days, settings.audit_log_retention_days
    if glacier < retention:
        return
    parts = []
    for spec, value in (("transitionToGlacierDays", glacier), ("auditLogRetentionDays", retention)):
        full_key = f"{NAMESPACE}:{spec}"
        source = where(full_key) if full_key in given else "default"
        parts.append(f"{full_key} = {value} ({source})")
    raise ConfigError(
        f"{', '.join(parts)}: log files must move to Glacier before they expire "
        "(transitionToGlacierDays < auditLogRetentionDays)"
    )


def _whole_number(raw: Any) -> int | None:
    """An integer from YAML (int) or from the engine (text); None for anything else."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and _WHOLE_NUMBER.match(raw):
        return int(raw)
    return None


def _shown(raw: Any) -> str:
    """The value as the user wrote it: `364` whether it came from YAML or as engine text."""
    return str(raw).strip() if _whole_number(raw) is not None else repr(raw)
