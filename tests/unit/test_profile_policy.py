"""Policy bounds live in the profile's validation: a value that breaks one fails at load.

Each case is a value a reviewer might let through in a pull request (it is a valid number to AWS)
that the platform's policy refuses, with the reason in the message. Tests elsewhere then check
wiring and invariants, never copies of an environment's numbers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import config
from config.profile import (
    POISON_RETRY_SECONDS,
    PRODUCTION_5XX_THRESHOLD,
    PRODUCTION_LOG_RETENTION_DAYS,
)
from offline.recorder import stack_config
from tests.conftest import ENVIRONMENTS, config_error


def with_layer(root: Path, env: str, toml: str) -> Path:
    """Add a suffix layer for the env's own suffix: an edit as a user would make it."""
    suffix = config.load(stack_config(env, root=root), root=root).suffix
    (root / "environments/suffixes" / f"{suffix}.toml").write_text(toml)
    return root


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize(
    ("section", "key", "value", "reason"),
    [
        ("messaging", "max_receive_count", 1000, "less than or equal to 10"),
        ("messaging", "max_receive_count", 1, "greater than or equal to 2"),
        ("observability", "alb_5xx_threshold", 50, "less than or equal to 25"),
        ("observability", "alarm_evaluation_periods", 30, "less than or equal to 5"),
        ("observability", "dlq_visible_messages", 100, "less than or equal to 5"),
        ("observability", "queue_oldest_message_seconds", 7200, "less than or equal to 900"),
        ("observability", "audit_log_retention_days", 90, "PCI DSS 10.5.1"),
        ("edge", "ssl_policy", "ELBSecurityPolicy-2016-08", "TLS13"),
        # AWS WAF's lowest rate-based limit is 10 (both rate rules).
        ("edge", "waf_rate_limit", 9, "greater than or equal to 10"),
        ("edge", "waf_api_key_rate_limit", 9, "greater than or equal to 10"),
        ("edge", "waf_api_key_rate_limit", 2_000_000_001, "less than or equal to 2000000000"),
    ],
)
def test_policy_bound_refuses_a_value(
    root: Path, env: str, section: str, key: str, value: object, reason: str
) -> None:
    message = config_error(root, env, **{section: {key: value}})
    assert f"{section}.{key} = {value!r}" in message
    assert reason in message


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_poison_payment_reaches_the_dlq_within_the_hour(root: Path, env: str) -> None:
    retries = 10
    timeout = POISON_RETRY_SECONDS // retries + 60
    message = config_error(
        root,
        env,
        messaging={"max_receive_count": retries, "visibility_timeout_seconds": timeout},
    )
    assert "messaging.max_receive_count = 10" in message
    assert f"messaging.visibility_timeout_seconds = {timeout}" in message
    assert "poison payment" in message


def test_production_is_a_profile_attribute_not_a_name(root: Path) -> None:
    # dev declared production: it is held to every production rule, whatever its name.
    with_layer(
        root,
        "dev",
        "[deployment]\nproduction = true\n"
        f"[observability]\nalb_5xx_threshold = {PRODUCTION_5XX_THRESHOLD + 1}\n"
        f"log_retention_days = {PRODUCTION_LOG_RETENTION_DAYS // 2 - 15}\n",
    )
    message = config_error(root, "dev")
    for needed in ("high_availability = true", "5xx a minute", "days of logs"):
        assert needed in message
    assert (
        "deployment.production = True (suffix layer, environments/suffixes/dev.toml:2)" in message
    )


def test_a_rule_names_every_key_with_the_file_that_set_it(root: Path) -> None:
    # min_count from dev.toml's layer, max_count from the stack: both are named where they are.
    with_layer(root, "dev", "[compute]\nmin_count = 3\ndesired_count = 3\n")
    message = config_error(root, "dev", compute={"max_count": 2})
    assert "compute.min_count = 3 (suffix layer, environments/suffixes/dev.toml:2)" in message
    assert "compute.max_count = 2 (stack layer, Pulumi.dev.yaml)" in message


def test_production_without_a_trusted_certificate_is_refused_naming_the_stack_keys(
    root: Path,
) -> None:
    # A production stack without payment:certificateArn or payment:domainName would serve
    # cardholders a self-signed certificate. Dev's stack file sets neither.
    with (root / "environments" / "dev.toml").open("a") as toml:
        toml.write("\n[deployment]\nproduction = true\nhigh_availability = true\n")
    message = config_error(root, "dev")
    assert "needs a trusted certificate" in message
    assert "payment:certificateArn in Pulumi.dev.yaml" in message
    assert "payment:domainName in Pulumi.dev.yaml" in message
    # With a domain to validate, that rule holds (dev's sizing still fails the HA minimums).
    assert "trusted certificate" not in config_error(root, "dev", domainName="pay.example.com")


def _suffix_file(root: Path, env: str) -> str:
    """The suffix layer file `with_layer` writes for the env."""
    suffix = config.load(stack_config(env, root=root), root=root).suffix
    return f"environments/suffixes/{suffix}.toml"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_constrained_zone_id_is_refused_naming_the_key_file_and_value(
    root: Path, env: str
) -> None:
    # use1-az3 lacks services the platform uses: a subnet there must never be planned.
    layer = _suffix_file(root, env)
    with_layer(root, env, '[network]\nzone_ids = ["use1-az1", "use1-az3", "use1-az2"]\n')
    message = config_error(root, env)
    assert "network.zone_ids = ['use1-az1', 'use1-az3', 'use1-az2']" in message
    assert f"(suffix layer, {layer}:2)" in message
    assert "['use1-az3'] lack services" in message


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_more_azs_than_zone_ids_is_refused_naming_both_keys(root: Path, env: str) -> None:
    layer = _suffix_file(root, env)
    with_layer(root, env, '[network]\naz_count = 3\nzone_ids = ["use1-az1", "use1-az2"]\n')
    message = config_error(root, env)
    assert f"network.az_count = 3 (suffix layer, {layer}:2)" in message
    assert f"network.zone_ids = ['use1-az1', 'use1-az2'] (suffix layer, {layer}:3)" in message
    assert "needs as many zone IDs, got 2" in message
