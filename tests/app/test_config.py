"""Configuration fails fast with one line that names the offending variable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from payment_app.config import ConfigError, load_settings

APP_DIR = Path(__file__).resolve().parents[2] / "app"
ENV = {
    "PAYMENT_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/payments",
    "EVENTS_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:payment-events",
    "TRANSACTION_LOG_BUCKET": "payment-transaction-log",
    "DB_HOST": "db.internal",
    "DB_NAME": "payments",
    "DB_SSLMODE": "require",
    "DB_CREDENTIALS": json.dumps({"username": "admin_user", "password": "s3cr3t-value"}),
    "REDIS_HOST": "cache.internal",
    "REDIS_AUTH_TOKEN": "redis-token-value",
    "AWS_REGION": "eu-west-1",
}


def test_defaults_and_secret_redaction() -> None:
    settings = load_settings(ENV, role="worker")
    assert settings.db_port == 5432 and settings.redis_port == 6379
    assert settings.redis_tls is True and settings.cache_ttl_seconds == 30
    assert settings.db_user == "admin_user"
    assert "s3cr3t-value" not in repr(settings)
    assert "redis-token-value" not in repr(settings)


@pytest.mark.parametrize(
    ("override", "variable"),
    [
        ({"DB_HOST": ""}, "DB_HOST"),
        ({"DB_CREDENTIALS": "not json"}, "DB_CREDENTIALS"),
        ({"DB_CREDENTIALS": json.dumps({"username": "x"})}, "DB_CREDENTIALS"),
        ({"DB_PORT": "abc"}, "DB_PORT"),
        ({"REDIS_PORT": "70000"}, "REDIS_PORT"),
        ({"REDIS_TLS": "maybe"}, "REDIS_TLS"),
        ({"CACHE_TTL_SECONDS": "0"}, "CACHE_TTL_SECONDS"),
        ({"DB_SSLMODE": "prefer"}, "DB_SSLMODE"),
        ({"DB_SSLMODE": "verify-full", "DB_SSLROOTCERT": "/nonexistent.pem"}, "DB_SSLROOTCERT"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"EVENTS_TOPIC_ARN": ""}, "EVENTS_TOPIC_ARN"),
        ({"PAYMENT_QUEUE_URL": ""}, "PAYMENT_QUEUE_URL"),
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
    assert result.stderr.strip() == "configuration error: DB_CREDENTIALS is required but not set"
