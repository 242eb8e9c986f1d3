"""Settings read once from the environment and validated up front so a bad task fails fast."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["api", "worker", "migrate"]
AuthMode = Literal["iam", "password"]
AUTH_MODES: tuple[AuthMode, ...] = ("iam", "password")

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
# An ElastiCache replication group id as the service signs IAM tokens for it: ElastiCache
# stores ids in lowercase, and the token's host must match that spelling exactly.
_CACHE_NAME = re.compile(r"^[a-z](?:[a-z0-9]|-(?!-)){0,39}(?<!-)$")


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
    db_user: str  # the application role; never the master user
    db_auth: AuthMode = "iam"
    db_password: str = field(default="", repr=False)  # DB_AUTH=password only (local, tests)
    db_sslmode: str = "verify-full"
    db_sslrootcert: str = DEFAULT_RDS_CA_BUNDLE
    db_pool_max: int = 10
    db_pool_idle_seconds: int = 60
    # Read by the migration runner only, when migrations run (not here: it is the master secret).
    db_migration_secret_arn: str = ""
    redis_host: str = "localhost"
    redis_port: int = 6379
    redis_tls: bool = True
    redis_auth: AuthMode = "iam"
    redis_user: str = ""
    redis_password: str = field(default="", repr=False)  # REDIS_AUTH=password only
    redis_cache_name: str = ""  # the replication group id an IAM token is signed for
    cache_ttl_seconds: int = 30
    aws_endpoint_url: str | None = None
    max_body_bytes: int = WAF_MAX_BODY_BYTES
    run_migrations: bool = True
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
    # One deadline per API request: a hung dependency answers 503 + Retry-After by then.
    request_deadline_seconds: float = 5.0
    # The secret whose value keys the HMAC idempotency keys are stored as (the API reads it).
    idempotency_secret_arn: str = ""
    api_key_cache_seconds: int = 30  # how long a verified API key is trusted without a lookup
    payment_dlq_url: str = ""  # the worker marks payments whose messages land here failed
    processing_stuck_seconds: int = 900  # a payment processing longer than this is "stuck"

    @property
    def db_acquire_timeout_seconds(self) -> float:
        """Waiting for a pooled connection: well inside the request deadline."""
        return self.request_deadline_seconds * 0.5

    @property
    def db_statement_timeout_ms(self) -> int:
        """Server-side statement_timeout, so a query stops before the request deadline."""
        return int(self.request_deadline_seconds * 800)

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


def _secret_arn(
    env: Mapping[str, str], name: str, required: bool, when: str = " but not set"
) -> str:
    """A Secrets Manager ARN (`when`: why it is required, for the error)."""
    arn = env.get(name, "").strip()
    if not arn:
        if required:
            raise ConfigError(f"{name} is required{when}")
        return ""
    if not arn.startswith("arn:") or ":secretsmanager:" not in arn:
        raise ConfigError(f"{name} must be a Secrets Manager ARN, got {arn!r}")
    return arn


def _request_deadline(env: Mapping[str, str]) -> float:
    raw = _get(env, "REQUEST_DEADLINE_SECONDS", "5")
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"REQUEST_DEADLINE_SECONDS must be a number, got {raw!r}") from None
    if not 0.5 <= value <= 30:
        raise ConfigError(f"REQUEST_DEADLINE_SECONDS must be between 0.5 and 30, got {raw!r}")
    return value


def _auth_mode(env: Mapping[str, str], name: str) -> AuthMode:
    mode = _get(env, name, "iam")
    for allowed in AUTH_MODES:
        if mode == allowed:
            return allowed
    raise ConfigError(f"{name} must be one of {', '.join(AUTH_MODES)}, got {mode!r}")


@dataclass(frozen=True)
class _Database:
    """The DB_* variables, validated together: they constrain each other."""

    user: str
    auth: AuthMode
    password: str = field(repr=False)
    sslmode: str
    sslrootcert: str


def _database(env: Mapping[str, str]) -> _Database:
    user = _get(env, "DB_USER")
    auth = _auth_mode(env, "DB_AUTH")
    sslmode = _get(env, "DB_SSLMODE", "verify-full")
    if sslmode not in SSL_MODES:
        raise ConfigError(f"DB_SSLMODE must be one of {', '.join(SSL_MODES)}, got {sslmode!r}")
    if auth == "iam" and sslmode != "verify-full":
        raise ConfigError(
            f"DB_AUTH=iam requires DB_SSLMODE=verify-full, got {sslmode!r}: RDS accepts IAM "
            "tokens only over TLS, and a token must not be sent to an unverified host"
        )
    sslrootcert = _get(env, "DB_SSLROOTCERT", DEFAULT_RDS_CA_BUNDLE)
    if sslmode.startswith("verify") and not os.path.isfile(sslrootcert):
        raise ConfigError(f"DB_SSLROOTCERT file not found: {sslrootcert}")
    password = env.get("DB_PASSWORD", "").strip()
    if auth == "password" and not password:
        raise ConfigError("DB_PASSWORD is required when DB_AUTH=password")
    return _Database(user, auth, password if auth == "password" else "", sslmode, sslrootcert)


@dataclass(frozen=True)
class _Redis:
    """The REDIS_* variables, validated together."""

    tls: bool
    auth: AuthMode
    user: str
    password: str = field(repr=False)
    cache_name: str


def _redis(env: Mapping[str, str]) -> _Redis:
    tls = _bool(env, "REDIS_TLS", True)
    auth = _auth_mode(env, "REDIS_AUTH")
    user = env.get("REDIS_USER", "").strip()
    if auth == "password":
        return _Redis(tls, auth, user, _get(env, "REDIS_PASSWORD"), "")
    if not tls:
        raise ConfigError(
            "REDIS_AUTH=iam requires REDIS_TLS=true: ElastiCache refuses IAM authentication "
            "without in-transit encryption"
        )
    if not user:
        raise ConfigError("REDIS_USER is required when REDIS_AUTH=iam (the ElastiCache user id)")
    cache_name = _get(env, "REDIS_CACHE_NAME")
    if not _CACHE_NAME.match(cache_name):
        raise ConfigError(
            "REDIS_CACHE_NAME must be the replication group id in lowercase (a letter, then up "
            f"to 39 letters, digits or single hyphens, not ending in one), got {cache_name!r}"
        )
    return _Redis(tls, auth, user, "", cache_name)


def _migration_secret_arn(env: Mapping[str, str], role: Role, run_migrations: bool) -> str:
    """Required where migrations run (the API, `payment_app.migrate`); the worker never reads it."""
    if not (run_migrations or role == "migrate"):
        return env.get("DB_MIGRATION_SECRET_ARN", "").strip()
    return _secret_arn(
        env,
        "DB_MIGRATION_SECRET_ARN",
        required=True,
        when=" when RUN_MIGRATIONS is true or for payment_app.migrate (the migrations log in as "
        "the RDS master user)",
    )


def load_settings(env: Mapping[str, str] | None = None, role: Role = "api") -> Settings:
    """Build Settings from env; the worker additionally needs the topic and the bucket."""
    env = os.environ if env is None else env
    need_worker = role == "worker"
    database = _database(env)
    cache = _redis(env)
    log_level = _get(env, "LOG_LEVEL", "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    region = env.get("AWS_REGION", "").strip() or env.get("AWS_DEFAULT_REGION", "").strip()
    if not region:
        raise ConfigError("AWS_REGION is required but not set")
    run_migrations = _bool(env, "RUN_MIGRATIONS", True)
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
        db_user=database.user,
        db_auth=database.auth,
        db_password=database.password,
        db_sslmode=database.sslmode,
        db_sslrootcert=database.sslrootcert,
        db_pool_max=_int(env, "DB_POOL_MAX", 10, 1, 200),
        db_pool_idle_seconds=_int(env, "DB_POOL_IDLE_SECONDS", 60, 1, 3600),
        db_migration_secret_arn=_migration_secret_arn(env, role, run_migrations),
        redis_host=_get(env, "REDIS_HOST"),
        redis_port=_int(env, "REDIS_PORT", 6379, 1, 65535),
        redis_tls=cache.tls,
        redis_auth=cache.auth,
        redis_user=cache.user,
        redis_password=cache.password,
        redis_cache_name=cache.cache_name,
        cache_ttl_seconds=_int(env, "CACHE_TTL_SECONDS", 30, 1, 86400),
        aws_endpoint_url=env.get("AWS_ENDPOINT_URL", "").strip() or None,
        max_body_bytes=_max_body_bytes(env),
        run_migrations=run_migrations,
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
        request_deadline_seconds=_request_deadline(env),
        idempotency_secret_arn=_secret_arn(env, "IDEMPOTENCY_SECRET_ARN", role == "api"),
        api_key_cache_seconds=_int(env, "API_KEY_CACHE_SECONDS", 30, 0, 300),
        payment_dlq_url=_get(env, "PAYMENT_DLQ_URL", None if need_worker else ""),
        processing_stuck_seconds=_int(env, "PROCESSING_STUCK_SECONDS", 900, 60, 86400),
    )
