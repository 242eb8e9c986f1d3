"""Settings read once from the environment and validated up front so a bad task fails fast."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["api", "worker", "migrate"]

DEFAULT_RDS_CA_BUNDLE = "/opt/payment-app/certs/rds-global-bundle.pem"
SSL_MODES = ("disable", "require", "verify-ca", "verify-full")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

DEFAULT_PORT = 8080  # local runs; on ECS the task definition sets PORT from the profile
DEFAULT_HEALTH_CHECK_PATH = "/health"  # always served, for the image's HEALTHCHECK and local tools
# The same characters the infrastructure profile allows; no query, fragment or {path parameter}.
_HEALTH_CHECK_PATH = re.compile(r"^/[A-Za-z0-9/_-]{0,1023}$")
# Paths the API already serves with other meaning: a liveness route there would shadow them.
_RESERVED_PATHS = ("/ready", "/payments")
DEFAULT_ALB_IDLE_TIMEOUT_SECONDS = 60  # the ALB's own default
# The target must keep an idle connection open longer than the ALB does: otherwise the ALB can
# send a request on a connection uvicorn has just closed and answer the client with a 502.
KEEP_ALIVE_MARGIN_SECONDS = 15
# AWS WAF inspects at most the first 8 KB of an ALB request body, and the managed common rule
# set's SizeRestrictions_BODY rule blocks anything larger: a bigger API limit is never reachable.
WAF_MAX_BODY_BYTES = 8 * 1024
MIN_BODY_BYTES = 1024  # leaves room for a full payment request (a few hundred bytes) and more


class ConfigError(ValueError):
    """A missing or invalid environment variable; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Validated runtime configuration; secrets are kept out of repr so they never reach logs."""

    environment: str
    log_level: str
    aws_region: str
    payment_queue_url: str
    events_topic_arn: str
    transaction_log_bucket: str
    db_host: str
    db_port: int
    db_name: str
    db_user: str
    db_password: str = field(repr=False)
    db_sslmode: str = "verify-full"
    db_sslrootcert: str = DEFAULT_RDS_CA_BUNDLE
    redis_host: str = "localhost"
    redis_port: int = 6379
    redis_tls: bool = True
    redis_auth_token: str = field(default="", repr=False)
    cache_ttl_seconds: int = 30
    aws_endpoint_url: str | None = None
    max_body_bytes: int = WAF_MAX_BODY_BYTES
    run_migrations: bool = True
    db_pool_min: int = 1
    db_pool_max: int = 10
    worker_wait_seconds: int = 20
    worker_batch_size: int = 10
    worker_visibility_timeout: int = 60
    worker_max_attempts: int = 4
    worker_retry_base_ms: int = 200
    payment_processor: str = "simulated"
    simulated_acquirer_delay_ms: int = 0
    port: int = DEFAULT_PORT
    health_check_path: str = DEFAULT_HEALTH_CHECK_PATH
    alb_idle_timeout_seconds: int = DEFAULT_ALB_IDLE_TIMEOUT_SECONDS

    @property
    def keep_alive_seconds(self) -> int:
        """Uvicorn's keep-alive, derived so it always outlasts the load balancer's idle timeout."""
        return keep_alive_seconds(self.alb_idle_timeout_seconds)


def keep_alive_seconds(alb_idle_timeout_seconds: int) -> int:
    """The one place the keep-alive is derived: ALB idle timeout + KEEP_ALIVE_MARGIN_SECONDS.

    AWS's guidance is a target keep-alive longer than the ALB idle timeout; otherwise the ALB may
    reuse a connection the target just closed and return 502 to the client.
    """
    return alb_idle_timeout_seconds + KEEP_ALIVE_MARGIN_SECONDS


def _get(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = env.get(name, "").strip()
    if value:
        return value
    if default is None:
        raise ConfigError(f"{name} is required but not set")
    return default


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = _get(env, name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _get(env, name, "true" if default else "false").lower()
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise ConfigError(f"{name} must be 'true' or 'false', got {raw!r}")


def read_port(env: Mapping[str, str]) -> int:
    """PORT: where the API listens (the target group's port); unprivileged, as UID 10001 runs it."""
    return _int(env, "PORT", DEFAULT_PORT, 1024, 65535)


def read_health_check_path(env: Mapping[str, str]) -> str:
    """HEALTH_CHECK_PATH: the path the load balancer's health check requests (liveness)."""
    path = _get(env, "HEALTH_CHECK_PATH", DEFAULT_HEALTH_CHECK_PATH)
    if not _HEALTH_CHECK_PATH.match(path):
        raise ConfigError(
            "HEALTH_CHECK_PATH must start with '/' and contain only letters, digits, '/', '_' "
            f"and '-' (at most 1024 characters), got {path!r}"
        )
    for reserved in _RESERVED_PATHS:
        if path.rstrip("/") == reserved or path.startswith(reserved + "/"):
            raise ConfigError(
                f"HEALTH_CHECK_PATH must not be {reserved} or below it (the API serves that "
                f"path), got {path!r}"
            )
    return path


def _max_body_bytes(env: Mapping[str, str]) -> int:
    """MAX_BODY_BYTES, capped at what the WAF lets through to the API."""
    # Range-check the upper bound here, not in _int, so the message can say why it exists.
    value = _int(env, "MAX_BODY_BYTES", WAF_MAX_BODY_BYTES, MIN_BODY_BYTES, sys.maxsize)
    if value > WAF_MAX_BODY_BYTES:
        raise ConfigError(
            f"MAX_BODY_BYTES must be between {MIN_BODY_BYTES} and {WAF_MAX_BODY_BYTES}, got "
            f"{value}: the WAF in front of the API blocks request bodies over "
            f"{WAF_MAX_BODY_BYTES} bytes (AWS WAF inspects at most the first 8 KB of an ALB "
            "request body and the common rule set's SizeRestrictions_BODY rule blocks larger "
            "ones), so a larger limit would only promise what the edge refuses"
        )
    return value


def _db_credentials(env: Mapping[str, str]) -> tuple[str, str]:
    raw = _get(env, "DB_CREDENTIALS")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        raise ConfigError("DB_CREDENTIALS must be JSON with username and password") from None
    if not isinstance(data, dict):
        raise ConfigError("DB_CREDENTIALS must be a JSON object with username and password")
    user, password = data.get("username"), data.get("password")
    if not isinstance(user, str) or not user or not isinstance(password, str) or not password:
        raise ConfigError("DB_CREDENTIALS must contain non-empty username and password")
    return user, password


def load_settings(env: Mapping[str, str] | None = None, role: Role = "api") -> Settings:
    """Build Settings from env; the worker additionally needs the topic and the bucket."""
    env = os.environ if env is None else env
    need_worker = role == "worker"
    user, password = _db_credentials(env)
    sslmode = _get(env, "DB_SSLMODE", "verify-full")
    if sslmode not in SSL_MODES:
        raise ConfigError(f"DB_SSLMODE must be one of {', '.join(SSL_MODES)}, got {sslmode!r}")
    sslrootcert = _get(env, "DB_SSLROOTCERT", DEFAULT_RDS_CA_BUNDLE)
    if sslmode.startswith("verify") and not os.path.isfile(sslrootcert):
        raise ConfigError(f"DB_SSLROOTCERT file not found: {sslrootcert}")
    log_level = _get(env, "LOG_LEVEL", "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    region = env.get("AWS_REGION", "").strip() or env.get("AWS_DEFAULT_REGION", "").strip()
    if not region:
        raise ConfigError("AWS_REGION is required but not set")
    pool_min = _int(env, "DB_POOL_MIN", 1, 0, 100)
    pool_max = _int(env, "DB_POOL_MAX", 10, 1, 200)
    if pool_max < pool_min:
        raise ConfigError("DB_POOL_MAX must be >= DB_POOL_MIN")
    return Settings(
        environment=_get(env, "ENVIRONMENT", "dev"),
        log_level=log_level,
        aws_region=region,
        payment_queue_url=_get(env, "PAYMENT_QUEUE_URL", None if role != "migrate" else ""),
        events_topic_arn=_get(env, "EVENTS_TOPIC_ARN", None if need_worker else ""),
        transaction_log_bucket=_get(env, "TRANSACTION_LOG_BUCKET", None if need_worker else ""),
        db_host=_get(env, "DB_HOST"),
        db_port=_int(env, "DB_PORT", 5432, 1, 65535),
        db_name=_get(env, "DB_NAME"),
        db_user=user,
        db_password=password,
        db_sslmode=sslmode,
        db_sslrootcert=sslrootcert,
        redis_host=_get(env, "REDIS_HOST"),
        redis_port=_int(env, "REDIS_PORT", 6379, 1, 65535),
        redis_tls=_bool(env, "REDIS_TLS", True),
        redis_auth_token=env.get("REDIS_AUTH_TOKEN", "").strip(),
        cache_ttl_seconds=_int(env, "CACHE_TTL_SECONDS", 30, 1, 86400),
        aws_endpoint_url=env.get("AWS_ENDPOINT_URL", "").strip() or None,
        max_body_bytes=_max_body_bytes(env),
        run_migrations=_bool(env, "RUN_MIGRATIONS", True),
        db_pool_min=pool_min,
        db_pool_max=pool_max,
        worker_wait_seconds=_int(env, "WORKER_WAIT_SECONDS", 20, 0, 20),
        worker_batch_size=_int(env, "WORKER_BATCH_SIZE", 10, 1, 10),
        worker_visibility_timeout=_int(env, "WORKER_VISIBILITY_TIMEOUT", 60, 1, 43200),
        worker_max_attempts=_int(env, "WORKER_MAX_ATTEMPTS", 4, 1, 10),
        worker_retry_base_ms=_int(env, "WORKER_RETRY_BASE_MS", 200, 1, 60_000),
        payment_processor=_get(env, "PAYMENT_PROCESSOR", "simulated"),
        simulated_acquirer_delay_ms=_int(env, "SIMULATED_ACQUIRER_DELAY_MS", 0, 0, 600_000),
        port=read_port(env),
        health_check_path=read_health_check_path(env),
        alb_idle_timeout_seconds=_int(
            env, "ALB_IDLE_TIMEOUT_SECONDS", DEFAULT_ALB_IDLE_TIMEOUT_SECONDS, 1, 4000
        ),
    )
