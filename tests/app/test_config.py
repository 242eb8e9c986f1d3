"""Configuration fails fast with one line that names the offending variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from payment_app.api import __main__ as api_main
from payment_app.config import ConfigError, keep_alive_seconds, load_settings

APP_DIR = Path(__file__).resolve().parents[2] / "app"
ENV = {
    "PAYMENT_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/payments",
    "EVENTS_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:payment-events",
    "TRANSACTION_LOG_BUCKET": "payment-transaction-log",
    "DB_HOST": "db.internal",
    "DB_NAME": "payments",
    "DB_SSLMODE": "require",
    "DB_USER": "payment_app",
    "DB_AUTH": "password",
    "DB_PASSWORD": "s3cr3t-value",
    "DB_MIGRATION_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!x-AbCd",
    "REDIS_HOST": "cache.internal",
    "REDIS_AUTH": "password",
    "REDIS_USER": "payment-app",
    "REDIS_PASSWORD": "redis-token-value",
    "AWS_REGION": "eu-west-1",
    "IDEMPOTENCY_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:idem-AbCd",
    "PAYMENT_DLQ_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/payments-dlq",
}
# What the infrastructure sets on ECS: IAM for both, verify-full, no password anywhere.
IAM = {
    "DB_AUTH": "iam",
    "DB_SSLMODE": "verify-full",
    "DB_PASSWORD": "",
    "REDIS_AUTH": "iam",
    "REDIS_TLS": "true",
    "REDIS_CACHE_NAME": "payments-prod-cache",
    "REDIS_PASSWORD": "",
}


@pytest.fixture
def ca_bundle(tmp_path: Path) -> str:
    """verify-full needs DB_SSLROOTCERT to exist (the image's RDS bundle outside a container)."""
    bundle = tmp_path / "rds-ca.pem"
    bundle.write_text("")
    return str(bundle)


def test_defaults_and_secret_redaction() -> None:
    settings = load_settings(ENV, role="worker")
    assert settings.db_port == 5432 and settings.redis_port == 6379
    assert settings.redis_tls is True and settings.cache_ttl_seconds == 30
    assert settings.db_user == "payment_app" and settings.db_auth == "password"
    assert settings.db_password == "s3cr3t-value"
    assert (settings.redis_user, settings.redis_password) == ("payment-app", "redis-token-value")
    assert settings.db_pool_max == 10 and settings.db_pool_idle_seconds == 60
    assert "s3cr3t-value" not in repr(settings)
    assert "redis-token-value" not in repr(settings)


def test_iam_is_the_default_and_needs_no_password(ca_bundle: str) -> None:
    env = {**ENV, **IAM, "DB_SSLROOTCERT": ca_bundle}
    del env["DB_AUTH"], env["REDIS_AUTH"]  # iam when unset
    settings = load_settings(env, role="api")
    assert (settings.db_auth, settings.redis_auth) == ("iam", "iam")
    assert (settings.db_password, settings.redis_password) == ("", "")
    assert settings.redis_cache_name == "payments-prod-cache"
    assert settings.redis_user == "payment-app"


def test_iam_mode_ignores_a_stray_password(ca_bundle: str) -> None:
    """A stray DB_PASSWORD next to DB_AUTH=iam is not kept (nothing could use it)."""
    env = {**ENV, **IAM, "DB_SSLROOTCERT": ca_bundle, "DB_PASSWORD": "stray"}
    assert load_settings(env).db_password == ""


def test_old_credential_variables_are_gone() -> None:
    """DB_CREDENTIALS and REDIS_AUTH_TOKEN are no longer read: they satisfy nothing and reach
    no setting; nor is DB_POOL_MIN (the pool's minimum is always 0)."""
    env = {k: v for k, v in ENV.items() if k not in ("DB_USER", "DB_PASSWORD")}
    env["DB_CREDENTIALS"] = '{"username": "admin_user", "password": "master-pass"}'
    with pytest.raises(ConfigError, match="DB_USER is required"):
        load_settings(env)
    settings = load_settings({**ENV, "REDIS_AUTH_TOKEN": "old-token", "DB_POOL_MIN": "5"})
    assert "old-token" not in (settings.redis_password, repr(settings))
    fields = set(vars(settings))
    assert not fields & {"db_credentials", "redis_auth_token", "db_pool_min"}


@pytest.mark.parametrize(
    ("override", "variable", "reason"),
    [
        ({"DB_SSLMODE": "require"}, "DB_SSLMODE=verify-full", "only over TLS"),
        ({"DB_SSLMODE": "verify-ca"}, "DB_SSLMODE=verify-full", "unverified host"),
        ({"REDIS_TLS": "false"}, "REDIS_TLS=true", "in-transit encryption"),
        ({"REDIS_CACHE_NAME": ""}, "REDIS_CACHE_NAME", "required"),
        ({"REDIS_CACHE_NAME": "Payments-Cache"}, "REDIS_CACHE_NAME", "lowercase"),
        ({"REDIS_CACHE_NAME": "payments--cache"}, "REDIS_CACHE_NAME", "lowercase"),
        ({"REDIS_USER": ""}, "REDIS_USER", "required"),
        ({"DB_AUTH": "token"}, "DB_AUTH", "iam, password"),
        ({"REDIS_AUTH": "none"}, "REDIS_AUTH", "iam, password"),
    ],
)
def test_iam_requirements_name_the_variable(
    ca_bundle: str, override: dict[str, str], variable: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({**ENV, **IAM, "DB_SSLROOTCERT": ca_bundle, **override})
    message = str(info.value)
    assert variable in message and reason in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("override", "variable"),
    [
        ({"DB_AUTH": "password", "DB_PASSWORD": ""}, "DB_PASSWORD"),
        ({"REDIS_AUTH": "password", "REDIS_PASSWORD": ""}, "REDIS_PASSWORD"),
        ({"DB_USER": ""}, "DB_USER"),
    ],
)
def test_password_mode_needs_the_password(override: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings({**ENV, **override})


def test_migrations_need_the_master_secret_arn_where_they_run() -> None:
    without = {k: v for k, v in ENV.items() if k != "DB_MIGRATION_SECRET_ARN"}
    for role in ("api", "migrate"):  # RUN_MIGRATIONS defaults to true; migrate always migrates
        with pytest.raises(ConfigError, match="DB_MIGRATION_SECRET_ARN is required"):
            load_settings(without, role=role)
    with pytest.raises(ConfigError, match="DB_MIGRATION_SECRET_ARN is required"):
        load_settings({**without, "RUN_MIGRATIONS": "true"}, role="worker")
    with pytest.raises(ConfigError, match="DB_MIGRATION_SECRET_ARN must be a Secrets Manager ARN"):
        load_settings({**ENV, "DB_MIGRATION_SECRET_ARN": "rds-master-password"})
    # The worker on ECS: RUN_MIGRATIONS=false and no secret ARN at all.
    worker = load_settings({**without, "RUN_MIGRATIONS": "false"}, role="worker")
    assert worker.run_migrations is False and worker.db_migration_secret_arn == ""
    assert load_settings(ENV).db_migration_secret_arn == ENV["DB_MIGRATION_SECRET_ARN"]


@pytest.mark.parametrize(
    ("value", "ok"), [("1", True), ("3600", True), ("0", False), ("3601", False)]
)
def test_pool_idle_seconds_range(value: str, ok: bool) -> None:
    env = {**ENV, "DB_POOL_IDLE_SECONDS": value}
    if ok:
        assert load_settings(env).db_pool_idle_seconds == int(value)
    else:
        with pytest.raises(ConfigError, match="DB_POOL_IDLE_SECONDS must be between 1 and 3600"):
            load_settings(env)


@pytest.mark.parametrize(
    ("override", "variable"),
    [
        ({"DB_HOST": ""}, "DB_HOST"),
        ({"DB_USER": ""}, "DB_USER"),
        ({"DB_POOL_MAX": "0"}, "DB_POOL_MAX"),
        ({"DB_POOL_IDLE_SECONDS": "soon"}, "DB_POOL_IDLE_SECONDS"),
        ({"DB_PORT": "abc"}, "DB_PORT"),
        ({"REDIS_PORT": "70000"}, "REDIS_PORT"),
        ({"REDIS_TLS": "maybe"}, "REDIS_TLS"),
        ({"CACHE_TTL_SECONDS": "0"}, "CACHE_TTL_SECONDS"),
        ({"DB_SSLMODE": "prefer"}, "DB_SSLMODE"),
        ({"DB_SSLMODE": "verify-full", "DB_SSLROOTCERT": "/nonexistent.pem"}, "DB_SSLROOTCERT"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"EVENTS_TOPIC_ARN": ""}, "EVENTS_TOPIC_ARN"),
        ({"PAYMENT_QUEUE_URL": ""}, "PAYMENT_QUEUE_URL"),
        ({"PORT": "80"}, "PORT"),
        ({"PORT": "65536"}, "PORT"),
        ({"PORT": "http"}, "PORT"),
        ({"HEALTH_CHECK_PATH": "health"}, "HEALTH_CHECK_PATH"),
        ({"HEALTH_CHECK_PATH": "/health?deep=1"}, "HEALTH_CHECK_PATH"),
        ({"HEALTH_CHECK_PATH": "/{payment_id}"}, "HEALTH_CHECK_PATH"),
        ({"HEALTH_CHECK_PATH": "/ready"}, "HEALTH_CHECK_PATH"),
        ({"HEALTH_CHECK_PATH": "/payments/health"}, "HEALTH_CHECK_PATH"),
        ({"ALB_IDLE_TIMEOUT_SECONDS": "0"}, "ALB_IDLE_TIMEOUT_SECONDS"),
        ({"ALB_IDLE_TIMEOUT_SECONDS": "4001"}, "ALB_IDLE_TIMEOUT_SECONDS"),
        ({"ALB_IDLE_TIMEOUT_SECONDS": "60s"}, "ALB_IDLE_TIMEOUT_SECONDS"),
        ({"MAX_BODY_BYTES": "8193"}, "MAX_BODY_BYTES"),
        ({"MAX_BODY_BYTES": "1023"}, "MAX_BODY_BYTES"),
    ],
)
def test_bad_values_name_the_variable(override: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable) as info:
        load_settings({**ENV, **override}, role="worker")
    assert "\n" not in str(info.value)
    assert "s3cr3t-value" not in str(info.value)


def test_api_does_not_need_worker_only_variables() -> None:
    env = {k: v for k, v in ENV.items() if k not in ("EVENTS_TOPIC_ARN", "TRANSACTION_LOG_BUCKET")}
    assert load_settings(env, role="api").events_topic_arn == ""


def test_verify_full_uses_ca_bundle(tmp_path: Path) -> None:
    import ssl

    from payment_app.db import ssl_context

    bundle = tmp_path / "ca.pem"
    bundle.write_text((ssl.get_server_certificate.__doc__ and "") or "")
    settings_env = {**ENV, "DB_SSLMODE": "verify-full", "DB_SSLROOTCERT": str(bundle)}
    settings = load_settings(settings_env)
    assert settings.db_sslrootcert == str(bundle)
    with pytest.raises(ssl.SSLError):  # an empty bundle is not silently ignored
        ssl_context(settings)


def test_entrypoint_exits_with_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "payment_app.api"],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(APP_DIR)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert result.stderr.strip() == "configuration error: DB_USER is required but not set"


def test_unset_edge_variables_give_local_defaults() -> None:
    """No PORT, HEALTH_CHECK_PATH, ALB_IDLE_TIMEOUT_SECONDS or MAX_BODY_BYTES: a local run."""
    settings = load_settings(ENV, role="api")
    assert settings.port == 8080
    assert settings.health_check_path == "/health"
    assert settings.alb_idle_timeout_seconds == 60
    assert settings.keep_alive_seconds > 60
    assert settings.max_body_bytes == 8192


def test_edge_variables_are_read() -> None:
    env = {**ENV, "PORT": "9000", "HEALTH_CHECK_PATH": "/livez", "ALB_IDLE_TIMEOUT_SECONDS": "350"}
    settings = load_settings(env, role="worker")  # the worker task gets the same variables
    assert (settings.port, settings.health_check_path) == (9000, "/livez")
    assert settings.alb_idle_timeout_seconds == 350
    assert settings.keep_alive_seconds > 350


@pytest.mark.parametrize("idle", [1, 30, 60, 61, 120, 350, 3999, 4000])
def test_keep_alive_outlasts_the_idle_timeout(idle: int) -> None:
    settings = load_settings({**ENV, "ALB_IDLE_TIMEOUT_SECONDS": str(idle)})
    assert settings.keep_alive_seconds > idle


@given(st.integers(min_value=1, max_value=4000))
def test_keep_alive_outlasts_every_allowed_idle_timeout(idle: int) -> None:
    assert keep_alive_seconds(idle) > idle
    assert load_settings({**ENV, "ALB_IDLE_TIMEOUT_SECONDS": str(idle)}).keep_alive_seconds > idle


def test_body_limit_above_the_waf_is_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({**ENV, "MAX_BODY_BYTES": "8193"})
    message = str(info.value)
    assert message.startswith("MAX_BODY_BYTES must be between 1024 and 8192, got 8193")
    assert "WAF" in message and "SizeRestrictions_BODY" in message
    assert "\n" not in message
    assert load_settings({**ENV, "MAX_BODY_BYTES": "8192"}).max_body_bytes == 8192


def test_entrypoint_refuses_a_body_limit_above_the_waf() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "payment_app.api"],
        env={**ENV, "MAX_BODY_BYTES": "16384", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(APP_DIR)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("configuration error: MAX_BODY_BYTES must be between 1024 and 8192")


def test_entrypoint_serves_on_the_configured_port_and_keep_alive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No literals in the entrypoint: uvicorn gets PORT and the derived keep-alive."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: calls.append(kwargs))
    monkeypatch.setattr(api_main, "configure_logging", lambda *args: None)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("HEALTH_CHECK_PATH", "MAX_BODY_BYTES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORT", "9123")
    monkeypatch.setenv("ALB_IDLE_TIMEOUT_SECONDS", "300")
    api_main.main()
    (kwargs,) = calls
    assert kwargs["port"] == 9123
    assert kwargs["timeout_keep_alive"] > 300
    assert kwargs["timeout_keep_alive"] == keep_alive_seconds(300)


def test_request_deadline_bounds_the_database_waits() -> None:
    settings = load_settings({**ENV, "REQUEST_DEADLINE_SECONDS": "4"})
    assert settings.request_deadline_seconds == 4.0
    assert settings.db_acquire_timeout_seconds < settings.request_deadline_seconds
    assert settings.db_statement_timeout_ms < settings.request_deadline_seconds * 1000
    for bad in ("0", "31", "soon"):
        with pytest.raises(ConfigError, match="REQUEST_DEADLINE_SECONDS must be"):
            load_settings({**ENV, "REQUEST_DEADLINE_SECONDS": bad})


def test_the_api_needs_the_idempotency_secret_and_the_worker_its_dead_letter_queue() -> None:
    without_secret = {k: v for k, v in ENV.items() if k != "IDEMPOTENCY_SECRET_ARN"}
    with pytest.raises(ConfigError, match="IDEMPOTENCY_SECRET_ARN is required"):
        load_settings(without_secret, role="api")
    assert load_settings(without_secret, role="worker").idempotency_secret_arn == ""
    with pytest.raises(ConfigError, match="IDEMPOTENCY_SECRET_ARN must be a Secrets Manager ARN"):
        load_settings({**ENV, "IDEMPOTENCY_SECRET_ARN": "hmac-key"})
    without_dlq = {k: v for k, v in ENV.items() if k != "PAYMENT_DLQ_URL"}
    with pytest.raises(ConfigError, match="PAYMENT_DLQ_URL is required"):
        load_settings(without_dlq, role="worker")
    assert load_settings(without_dlq, role="api").payment_dlq_url == ""
