"""Account settings: defaults, the committed stacks, and errors that say what to fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from account import settings
from account.settings import AccountSettings
from config import ConfigError, read_stack_file
from tests.account.conftest import ACCOUNT_DIR, record_account

STACK_FILE = "Pulumi.test.yaml"


def _load(root: Path, **given: Any) -> AccountSettings:
    """Settings from a scratch stack file holding `given` (as `account:<key>`), as the engine
    would pass them."""
    config = {"aws:region": "us-east-1", **{f"account:{k}": v for k, v in given.items()}}
    lines = "".join(f"  {k}: {v}\n" for k, v in config.items())
    (root / STACK_FILE).write_text(f"config:\n{lines}")
    return settings.load(read_stack_file(root / STACK_FILE), stack_file=STACK_FILE, root=root)


def _error(root: Path, **given: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        _load(root, **given)
    return caught.value


def test_defaults_when_unset(tmp_path: Path) -> None:
    assert _load(tmp_path) == AccountSettings(
        audit_log_retention_days=365, transition_to_glacier_days=90, log_retention_days=365
    )


def test_committed_stacks_load(stack: str) -> None:
    config = read_stack_file(ACCOUNT_DIR / f"Pulumi.{stack}.yaml")
    assert not any(k.startswith("payment:") for k in config)  # an account has no environment
    loaded = settings.load(config, stack_file=f"Pulumi.{stack}.yaml", root=ACCOUNT_DIR)
    assert loaded.audit_log_retention_days >= settings.MIN_AUDIT_RETENTION_DAYS


def test_values_arrive_as_text_from_the_engine(tmp_path: Path) -> None:
    loaded = settings.load(
        {"account:auditLogRetentionDays": "400", "account:logRetentionDays": "731"},
        stack_file=STACK_FILE,
        root=tmp_path,
    )
    assert (loaded.audit_log_retention_days, loaded.log_retention_days) == (400, 731)


def test_less_than_a_year_of_audit_logs_is_refused(tmp_path: Path) -> None:
    [message] = _error(tmp_path, auditLogRetentionDays=364).messages
    assert message.startswith("account:auditLogRetentionDays = 364 ")
    assert f"stack file {STACK_FILE}:3" in message  # the file and the line that set it
    assert ">= 365" in message and "PCI DSS 10.5.1" in message


@pytest.mark.parametrize("value", ["a year", "365.5", "true", "[365]"])
def test_a_non_integer_is_refused(tmp_path: Path, value: str) -> None:
    [message] = _error(tmp_path, auditLogRetentionDays=value).messages
    assert message.startswith("account:auditLogRetentionDays = ")
    assert STACK_FILE in message and "whole number of days >= 365" in message


def test_a_retention_cloudwatch_does_not_accept_is_refused(tmp_path: Path) -> None:
    [message] = _error(tmp_path, logRetentionDays=100).messages
    assert message.startswith("account:logRetentionDays = 100 ")
    assert STACK_FILE in message and "90, 120, 150, 180, 365" in message


def test_glacier_transition_must_be_a_positive_day(tmp_path: Path) -> None:
    [message] = _error(tmp_path, transitionToGlacierDays=0).messages
    assert message.startswith("account:transitionToGlacierDays = 0 ")
    assert STACK_FILE in message and ">= 1" in message


def test_glacier_transition_must_come_before_expiry(tmp_path: Path) -> None:
    [message] = _error(tmp_path, transitionToGlacierDays=365).messages
    assert "account:transitionToGlacierDays = 365 (stack file" in message
    assert "account:auditLogRetentionDays = 365 (default)" in message
    assert "before they expire" in message


def test_an_unknown_key_is_refused_not_ignored(tmp_path: Path) -> None:
    [message] = _error(tmp_path, auditLogRetentionDay=400).messages
    assert message.startswith("account:auditLogRetentionDay: unknown stack config key")
    assert STACK_FILE in message and "auditLogRetentionDays" in message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    error = _error(tmp_path, auditLogRetentionDays=30, logRetentionDays=2, typo=1)
    assert len(error.messages) == 3


def test_the_program_exits_with_one_line_per_problem(stack: str) -> None:
    overrides = {"account:auditLogRetentionDays": "364", "account:logRetentionDays": "forever"}
    with pytest.raises(SystemExit) as caught:
        record_account(stack, overrides)
    lines = str(caught.value.code).splitlines()
    assert len(lines) == 2 and all(line.startswith("config error: account:") for line in lines)
    assert "Traceback" not in str(caught.value.code)
