"""The typed, frozen profile every builder consumes.

Each section is named by concern and forbids unknown keys, so a misspelt key in any layer is an
error instead of a silent default. Field bounds are AWS's (ACU ranges, Fargate sizes, retention
values CloudWatch accepts); cross-field rules (min <= max, 10x spike headroom, high-availability
minimums) live in `Profile` validators so they run once, after every layer is merged.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Secret,
    StringConstraints,
    field_validator,
    model_validator,
)

from conventions import naming
from conventions.scaling import SPIKE_FACTOR

# CloudWatch Logs accepts only these retention values (days).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip

# Fargate's valid CPU units -> memory (MiB) pairs.
FARGATE_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

# NOTE: AZ IDs name the same physical zone in every account (AZ names are mapped per account in
# us-east-1). use1-az3 lacks services this platform uses, e.g. the RDS User Guide says "US East
# (N. Virginia) Region does not support RDS Proxy in the use1-az3 Availability Zone", and it
# has no current-generation instance families: a profile may not place subnets there.
CONSTRAINED_ZONE_IDS = frozenset({"use1-az3"})
ZoneId = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,4}[0-9]-az[0-9]+$")]

# NOTE: Aurora PostgreSQL 16 minor versions this project is tested with, all supporting
# Serverless v2 with 0 ACU (16.3+). The Aurora PostgreSQL release calendar retires minors on a
# schedule: before a minor's end of standard support, add its successor here and move the
# profile (docs/operations.md, "Moving the database engine version").
SUPPORTED_ENGINE_VERSIONS = ("16.6", "16.8", "16.9")
# Enhanced Monitoring accepts these intervals (seconds); 0 turns it off.
MONITORING_INTERVALS = (0, 1, 5, 10, 15, 30, 60)

# Policy: a payment that fails every attempt reaches the dead-letter queue (and pages) within
# the hour.
POISON_RETRY_SECONDS = 3600
# Policy for environments that serve real payments (deployment.production).
PRODUCTION_5XX_THRESHOLD = 10
# PCI DSS 10.5.1: at least three months of logs immediately available for analysis.
PRODUCTION_LOG_RETENTION_DAYS = 90


class RuleViolationsError(ValueError):
    """Failed cross-field rules as (dotted keys involved, message), so errors name each layer.

    Keys are relative to the model that raises it: `Profile` gives `database.min_acu`, a section
    validator gives `cpu`; the loader prefixes the section from the error's location.
    """

    def __init__(self, failed: list[tuple[tuple[str, ...], str]]) -> None:
        super().__init__("; ".join(f"{', '.join(keys)}: {msg}" for keys, msg in failed))
        self.failed = failed


class Section(BaseModel):
    """Base for every profile section: frozen, strict about unknown keys and types."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


Percent = Annotated[int, Field(ge=1, le=100)]


class NetworkConfig(Section):
    """VPC layout: the address range and how many AZs hold subnets and interface endpoints."""

    vpc_cidr: str = Field(description="VPC IPv4 range, /16 to /22 so every AZ gets /26 or more")
    az_count: int = Field(ge=2, le=3, description="AZs with subnets; the ALB needs at least 2")
    endpoint_az_count: int = Field(
        ge=1,
        le=3,
        description="AZs that hold interface endpoints (each costs per AZ and hour)",
    )
    zone_ids: tuple[ZoneId, ...] = Field(
        min_length=2,
        description="AZ IDs to place subnets in, in order (the first az_count are used); IDs, "
        "not names, so every account gets the same zones",
    )

    @field_validator("zone_ids", mode="before")
    @classmethod
    def _zone_list(cls, value: object) -> object:
        # TOML gives a list; the profile keeps a tuple (frozen).
        return tuple(value) if isinstance(value, list) else value

    @field_validator("zone_ids")
    @classmethod
    def _usable_zones(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"zone IDs must be distinct, got {list(value)}")
        constrained = sorted(CONSTRAINED_ZONE_IDS.intersection(value))
        if constrained:
            raise ValueError(
                f"{constrained} lack services this platform uses; choose other zone IDs"
            )
        return value

    @field_validator("vpc_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            net = ipaddress.IPv4Network(value)
        except ValueError as exc:
            raise ValueError(f"not an IPv4 network in CIDR form ({exc})") from None
        if not 16 <= net.prefixlen <= 22:
            raise ValueError("prefix length must be /16 to /22")
        if not net.is_private:
            raise ValueError("must be a private (RFC 1918) range")
        return value


class ComputeConfig(Section):
    """ECS Fargate sizing and autoscaling for the API and the queue worker."""

    cpu: int = Field(description="API task CPU units (Fargate: 256..16384)")
    memory: int = Field(description="API task memory in MiB (a valid Fargate pair with cpu)")
    desired_count: int = Field(ge=1, le=100, description="API baseline task count")
    min_count: int = Field(ge=1, le=100, description="API autoscaling minimum")
    max_count: int = Field(ge=1, le=1000, description="API autoscaling maximum")
    cpu_target_percent: Percent = Field(description="target-tracking CPU utilisation")
    memory_target_percent: Percent = Field(description="target-tracking memory utilisation")
    scale_in_cooldown_seconds: int = Field(
        ge=0, le=3600, description="wait after a scale-in before the next"
    )
    scale_out_cooldown_seconds: int = Field(
        ge=0, le=3600, description="wait after a scale-out before the next"
    )
    health_check_grace_seconds: int = Field(
        ge=0, le=2_147_483_647, description="time a new API task has before ALB health counts"
    )
    container_port: int = Field(ge=1024, le=65535, description="port the API listens on")
    health_check_path: str = Field(
        pattern=r"^/[A-Za-z0-9/_-]*$", description="liveness path the target group checks"
    )
    worker_cpu: int = Field(description="worker task CPU units (Fargate)")
    worker_memory: int = Field(
        description="worker task memory in MiB (a valid pair with worker_cpu)"
    )
    worker_min_count: int = Field(
        ge=1,
        le=100,
        description="worker autoscaling minimum; backlog per task divides by running tasks, "
        "so at 0 tasks the metric has no data and the worker could never scale out",
    )
    worker_max_count: int = Field(ge=1, le=1000, description="worker autoscaling maximum")
    worker_messages_per_task: int = Field(
        ge=1, le=10_000, description="queue backlog per worker task that scaling tracks"
    )
    image_keep_count: int = Field(ge=1, le=1000, description="ECR images kept by lifecycle")
    cache_ttl_seconds: int = Field(
        ge=1, le=86400, description="payment cache TTL the app uses (CACHE_TTL_SECONDS)"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        description="application log level (LOG_LEVEL)"
    )
    cpu_architecture: Literal["X86_64", "ARM64"] = Field(
        description="CPU architecture of both tasks and of the image the program builds "
        "(ARM64: Graviton, about 20% cheaper per vCPU-hour on Fargate, on demand and on Spot)"
    )
    worker_spot: bool = Field(
        description="run the worker on Fargate Spot (about 70% cheaper; a task may be stopped "
        "with two minutes' warning, the worker then finishes in-flight messages and SQS "
        "redelivers the rest); refused in production"
    )

    @model_validator(mode="after")
    def _fargate_pairs(self) -> ComputeConfig:
        # Keys are relative to the section; the loader prefixes them and names each one's layer.
        failed: list[tuple[tuple[str, ...], str]] = []
        for cpu_key, mem_key in (("cpu", "memory"), ("worker_cpu", "worker_memory")):
            cpu, mem = getattr(self, cpu_key), getattr(self, mem_key)
            if cpu not in FARGATE_MEMORY:
                failed.append(
                    (
                        (cpu_key,),
                        f"{cpu_key}={cpu} is not a Fargate CPU size; "
                        f"allowed: {sorted(FARGATE_MEMORY)}",
                    )
                )
            elif mem not in FARGATE_MEMORY[cpu]:
                allowed = FARGATE_MEMORY[cpu]
                failed.append(
                    (
                        (cpu_key, mem_key),
                        f"{mem_key}={mem} is not valid with {cpu_key}={cpu}; allowed: "
                        f"{allowed[0]}..{allowed[-1]} in steps of {allowed[1] - allowed[0]}",
                    )
                )
        # NOTE: ARM64 with Spot is allowed. The ECS API Reference (CapacityProviderStrategyItem,
        # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CapacityProviderStrategyItem.html)
        # now says "FARGATE_SPOT supports Linux tasks with the ARM64 architecture on platform
        # version 1.4.0 or later", and AWS Batch's RuntimePlatform page no longer lists ARM64 among
        # what Spot refuses; older copies of the Developer Guide ("AWS Fargate capacity providers")
        # still say X86_64 only. The services run platform version LATEST, which is 1.4.0.
        if failed:
            raise RuleViolationsError(failed)
        return self


class DatabaseConfig(Section):
    """Aurora PostgreSQL Serverless v2: capacity, readers, backups."""

    min_acu: float = Field(ge=0, le=256, description="minimum ACU; 0 lets the writer pause")
    max_acu: float = Field(ge=1, le=256, description="maximum ACU")
    reader_count: int = Field(ge=0, le=15, description="readers besides the writer")
    backup_retention_days: int = Field(
        ge=1, le=35, description="automated backups and point-in-time recovery window"
    )
    preferred_backup_window: str = Field(
        pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$", description="daily backup window, UTC hh:mm-hh:mm"
    )
    preferred_maintenance_window: str = Field(
        pattern=r"^(mon|tue|wed|thu|fri|sat|sun):\d{2}:\d{2}-(mon|tue|wed|thu|fri|sat|sun):\d{2}:\d{2}$",
        description="weekly maintenance window, UTC",
    )
    engine_version: str = Field(
        description="Aurora PostgreSQL version; one of "
        + ", ".join(SUPPORTED_ENGINE_VERSIONS)
        + " (docs/operations.md says how to move it)"
    )
    monitoring_interval_seconds: int = Field(
        description="Enhanced Monitoring interval of every instance; one of "
        + ", ".join(map(str, MONITORING_INTERVALS))
        + " (0 turns it off)"
    )
    performance_insights: bool = Field(
        description="Performance Insights on the data key (7-day tier)"
    )
    seconds_until_auto_pause: int = Field(
        ge=300, le=86400, description="idle time before a 0-ACU writer pauses"
    )
    database_name: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,62}$", description="database created in the cluster"
    )
    master_username: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,15}$",
        description="RDS-managed admin user (not a default name: RDS.24)",
    )

    @field_validator("min_acu", "max_acu", mode="before")
    @classmethod
    def _half_steps(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, float) and (value * 2) % 1:
            raise ValueError("ACU values go in steps of 0.5")
        return value

    @field_validator("engine_version")
    @classmethod
    def _supported_version(cls, value: str) -> str:
        if value not in SUPPORTED_ENGINE_VERSIONS:
            raise ValueError(
                f"not a supported Aurora PostgreSQL version; allowed: "
                f"{', '.join(SUPPORTED_ENGINE_VERSIONS)} (config/profile.py, docs/operations.md)"
            )
        return value

    @field_validator("monitoring_interval_seconds")
    @classmethod
    def _monitoring_interval(cls, value: int) -> int:
        if value not in MONITORING_INTERVALS:
            raise ValueError(f"allowed: {', '.join(map(str, MONITORING_INTERVALS))}")
        return value

    @field_validator("master_username")
    @classmethod
    def _not_default_admin(cls, value: str) -> str:
        if value in {"postgres", "admin", "root", "rdsadmin"}:
            raise ValueError("a default admin user name is not allowed (RDS.24)")
        return value


class CacheConfig(Section):
    """ElastiCache (Valkey) replication group sizing."""

    node_type: str = Field(
        pattern=r"^cache\.(t4g|t3|m6g|m7g|r6g|r7g)\.[a-z0-9]+$",
        description="ElastiCache node type (Graviton or burstable families)",
    )
    replica_count: int = Field(ge=0, le=5, description="replicas per shard; >0 enables failover")
    snapshot_retention_days: int = Field(
        ge=0, le=35, description="daily snapshots kept (0 turns them off)"
    )
    snapshot_window: str = Field(
        pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$", description="daily snapshot window, UTC"
    )
    maintenance_window: str = Field(
        pattern=r"^(mon|tue|wed|thu|fri|sat|sun):\d{2}:\d{2}-(mon|tue|wed|thu|fri|sat|sun):\d{2}:\d{2}$",
        description="weekly maintenance window, UTC",
    )
    apply_immediately: bool = Field(
        description="apply node type and other pending changes now (false: in the maintenance "
        "window, and every `up` until then shows the pending change again)"
    )


class MessagingConfig(Section):
    """SQS redrive and timing."""

    # Policy: a poison payment is retried max_receive_count times, each after a visibility
    # timeout; more than 10 keeps a failing payment out of the DLQ (and its alarm) for hours.
    max_receive_count: int = Field(
        ge=2,
        le=10,
        description="receives before the DLQ (2..10: one retry at least, a page within the hour)",
    )
    visibility_timeout_seconds: int = Field(
        ge=0, le=43200, description="longer than the worker's processing time"
    )
    message_retention_seconds: int = Field(
        ge=60, le=1_209_600, description="payment queue retention (DLQs keep 14 days)"
    )
    receive_wait_seconds: int = Field(ge=0, le=20, description="long-poll wait")


class EdgeConfig(Section):
    """Load balancer and WAF."""

    ssl_policy: Literal[
        "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
        "ELBSecurityPolicy-TLS13-1-3-2021-06",
    ] = Field(description="HTTPS listener policy (TLS 1.3 and 1.2 only)")
    idle_timeout_seconds: int = Field(ge=1, le=4000, description="ALB connection idle timeout")
    deregistration_delay_seconds: int = Field(
        ge=0, le=3600, description="draining time for a deregistered task"
    )
    healthy_threshold: int = Field(
        ge=2, le=10, description="consecutive passes before a target is healthy"
    )
    unhealthy_threshold: int = Field(
        ge=2, le=10, description="consecutive failures before a target is unhealthy"
    )
    health_check_interval_seconds: int = Field(
        ge=5, le=300, description="seconds between target health checks"
    )
    # NOTE: AWS WAF rate-based rules: "The lowest limit setting allowed is 10"; the evaluation
    # window is one of 60, 120, 300 and 600 seconds, 300 by default (AWS WAF Developer Guide,
    # "Rate-based rule high-level settings"). Both rules here count over 300 seconds (the edge
    # builder's RATE_WINDOW_SECONDS), so both limits are requests per 5 minutes; the upper bound
    # is the API's maximum for RateBasedStatement.Limit.
    waf_rate_limit: int = Field(
        ge=10, le=2_000_000_000, description="requests per 5 minutes per client IP"
    )
    waf_api_key_rate_limit: int = Field(
        ge=10,
        le=2_000_000_000,
        description="requests per 5 minutes per API key (the Authorization header's value)",
    )


class ObservabilityConfig(Section):
    """Log retention and alarm thresholds."""

    log_retention_days: int = Field(description="retention of application and platform log groups")
    audit_log_retention_days: int = Field(
        description="retention of audit logs (>= 365: PCI DSS 10.5.1)"
    )
    # Policy: failing payments page someone within five minutes.
    alarm_evaluation_periods: int = Field(
        ge=1, le=5, description="one-minute periods before an alarm fires (a page within 5 min)"
    )
    # Policy: above 25 failed requests a minute for minutes on end, payments are failing and
    # nobody would be paged; production is held to 10 (Profile rules).
    alb_5xx_threshold: int = Field(
        ge=1, le=25, description="5xx responses per minute (at most 25; 10 in production)"
    )
    latency_p99_seconds: float = Field(gt=0, le=1.0, description="p99 target response time")
    cpu_high_percent: Percent = Field(description="API service CPU alarm")
    memory_high_percent: Percent = Field(description="API service memory alarm")
    # Policy: every message in a dead-letter queue is a payment or event that did not complete.
    dlq_visible_messages: int = Field(
        ge=1, le=5, description="messages in a dead-letter queue that alarm (at most 5)"
    )
    # Policy: a payment waiting more than 15 minutes in the queue is a stalled worker.
    queue_oldest_message_seconds: int = Field(
        ge=60, le=900, description="age of the oldest payment message (60..900 s)"
    )
    db_cpu_high_percent: Percent = Field(description="Aurora CPU alarm")
    db_acu_high_percent: Percent = Field(description="Aurora ACU utilisation alarm (near max_acu)")
    db_connections_high: int = Field(ge=1, description="Aurora connection count alarm")
    cache_cpu_high_percent: Percent = Field(description="Redis CPU and engine CPU alarm")
    cache_memory_high_percent: Percent = Field(description="Redis memory usage alarm")
    cache_evictions_high: int = Field(ge=1, description="Redis evictions per period")
    waf_blocked_requests_high: int = Field(ge=1, description="WAF blocked requests per period")

    @field_validator("log_retention_days", "audit_log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"CloudWatch accepts only {list(LOG_RETENTION_DAYS)}")
        return value

    @field_validator("audit_log_retention_days")
    @classmethod
    def _audit_year(cls, value: int) -> int:
        if value < 365:
            raise ValueError("audit logs are kept at least 365 days (PCI DSS 10.5.1)")
        return value


class StorageConfig(Section):
    """Transaction-log bucket lifecycle."""

    transition_to_ia_days: int = Field(
        ge=30, description="days before transaction logs move to STANDARD_IA"
    )
    transition_to_glacier_days: int = Field(
        ge=31, description="days before transaction logs move to GLACIER"
    )
    expiration_days: int = Field(ge=1, description="days before transaction logs expire")
    noncurrent_expiration_days: int = Field(ge=1, description="days an overwritten version is kept")

    @model_validator(mode="after")
    def _order(self) -> StorageConfig:
        # Keys are relative to the section; the loader prefixes them and names each one's layer.
        ia, glacier, expiry = (
            self.transition_to_ia_days,
            self.transition_to_glacier_days,
            self.expiration_days,
        )
        if not ia < glacier < expiry:
            raise RuleViolationsError(
                [
                    (
                        ("transition_to_ia_days", "transition_to_glacier_days", "expiration_days"),
                        f"transition_to_ia_days={ia} < transition_to_glacier_days={glacier} "
                        f"< expiration_days={expiry} must hold",
                    )
                ]
            )
        # NOTE: S3 rejects a lifecycle whose GLACIER transition comes less than 30 days after
        # the STANDARD_IA one (InvalidArgument at apply time); catch it at load instead.
        if glacier - ia < 30:
            raise RuleViolationsError(
                [
                    (
                        ("transition_to_ia_days", "transition_to_glacier_days"),
                        f"transition_to_glacier_days={glacier} must be at least 30 days after "
                        f"transition_to_ia_days={ia}",
                    )
                ]
            )
        return self


class TagsConfig(Section):
    """Organisation tags; Project, Environment, EnvironmentSuffix, ManagedBy are derived."""

    cost_center: str = Field(min_length=1, max_length=256, description="CostCenter tag")
    owner: str = Field(min_length=1, max_length=256, description="Owner tag")
    data_classification: str = Field(
        min_length=1, max_length=256, description="DataClassification tag"
    )
    compliance: str = Field(min_length=1, max_length=256, description="Compliance tag")


# An e-mail address, validated inside its `Secret` so the value never shows in an error.
EmailAddress = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class DeploymentConfig(Section):
    """Per-deployment values that come from stack config (`payment:<key>`), not from TOML."""

    environment: str = Field(
        pattern=r"^[a-z][a-z0-9-]{0,19}$",
        description="environment name; selects environments/<name>.toml",
    )
    environment_suffix: str = Field(
        description="suffix of every physical name (payment-<service>-<suffix>)"
    )
    production: bool = Field(
        description="serves real payments: production-only rules apply "
        "(high availability, 5xx threshold, log retention)"
    )
    high_availability: bool = Field(
        description="enforce multi-AZ minimums (required when production is true)"
    )
    protect_data: bool = Field(
        description="deletion protection, a final snapshot and `protect` on the database and "
        "the audit and transaction buckets; off keeps the environment destroyable"
    )
    # A secret: an outside address is personal data. The pattern is checked on the plaintext;
    # offline, an encrypted (`secure:`) value is unknown and the program gets the placeholder.
    alert_email: Secret[EmailAddress] | None = Field(
        default=None,
        description="e-mail subscribed to the alerts topic (none when unset); secret: "
        "`pulumi config set --secret payment:alertEmail <address>`",
        json_schema_extra={"offline_placeholder": "alerts@offline.invalid"},
    )
    certificate_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$",
        description="ACM certificate for the HTTPS listener",
    )
    domain_name: str | None = Field(
        default=None,
        pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
        description="domain for a DNS-validated ACM certificate",
    )
    image_uri: str | None = Field(
        default=None,
        pattern=r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/[a-z0-9._/-]+(@sha256:[0-9a-f]{64}|:[A-Za-z0-9._-]{1,128})$",
        description="prebuilt image in this account's ECR; skips the in-program build",
    )

    @field_validator("environment_suffix")
    @classmethod
    def _suffix(cls, value: str) -> str:
        if not naming.SUFFIX_PATTERN.match(value):
            raise ValueError(
                "must be lowercase letters and digits separated by single hyphens "
                "(no leading, trailing or double hyphen)"
            )
        if value == naming.ACCOUNT_SCOPE:
            raise ValueError(
                f"{value!r} is reserved for the account project (account/), whose resources and "
                "graph use it as their scope; choose another suffix"
            )
        problems = naming.name_violations(value)
        if problems:
            raise ValueError(
                f"too long for AWS names (max {naming.max_suffix_length()} characters): "
                + problems[0]
            )
        return value


class Profile(BaseModel):
    """Everything one environment needs, merged from every layer and validated as a whole."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    deployment: DeploymentConfig
    network: NetworkConfig
    compute: ComputeConfig
    database: DatabaseConfig
    cache: CacheConfig
    messaging: MessagingConfig
    edge: EdgeConfig
    observability: ObservabilityConfig
    storage: StorageConfig
    tags: TagsConfig

    @property
    def env(self) -> str:
        return self.deployment.environment

    @property
    def suffix(self) -> str:
        return self.deployment.environment_suffix

    def name(self, service: str) -> str:
        """The physical name of a service in this environment (`payment-{service}-{suffix}`)."""
        return naming.physical_name(service, self.suffix)

    @model_validator(mode="after")
    def _cross_field(self) -> Profile:
        rules = _sizing_rules(self)
        if self.deployment.production:
            rules += _production_rules(self)
        if self.deployment.high_availability:
            rules += _high_availability_rules(self)
        failed = [(keys, msg) for ok, keys, msg in rules if not ok]
        if failed:
            raise RuleViolationsError(failed)
        return self


# (holds, every key involved, message): one cross-field rule. A failure names each key with
# the layer and file that set it, so the fix can be made where the value comes from.
Rule = tuple[bool, tuple[str, ...], str]


def _sizing_rules(p: Profile) -> list[Rule]:
    """Counts and sizes that must agree with each other in every environment."""
    n, c, d, m = p.network, p.compute, p.database, p.messaging
    return [
        (
            n.az_count <= len(n.zone_ids),
            ("network.az_count", "network.zone_ids"),
            f"az_count={n.az_count} needs as many zone IDs, got {len(n.zone_ids)}",
        ),
        (
            n.endpoint_az_count <= n.az_count,
            ("network.endpoint_az_count", "network.az_count"),
            f"endpoint_az_count={n.endpoint_az_count} exceeds az_count={n.az_count}",
        ),
        (
            c.min_count <= c.desired_count <= c.max_count,
            ("compute.min_count", "compute.desired_count", "compute.max_count"),
            f"min_count={c.min_count} <= desired_count={c.desired_count} "
            f"<= max_count={c.max_count} must hold",
        ),
        (
            c.max_count >= SPIKE_FACTOR * c.desired_count,
            ("compute.max_count", "compute.desired_count"),
            f"max_count={c.max_count} cannot absorb a {SPIKE_FACTOR}x spike over desired_count="
            f"{c.desired_count}; needs at least {SPIKE_FACTOR * c.desired_count}",
        ),
        (
            c.worker_min_count <= c.worker_max_count,
            ("compute.worker_min_count", "compute.worker_max_count"),
            f"worker_min_count={c.worker_min_count} exceeds worker_max_count={c.worker_max_count}",
        ),
        (
            d.min_acu <= d.max_acu,
            ("database.min_acu", "database.max_acu"),
            f"min_acu={d.min_acu} exceeds max_acu={d.max_acu}",
        ),
        (
            m.visibility_timeout_seconds >= 6 * m.receive_wait_seconds,
            ("messaging.visibility_timeout_seconds", "messaging.receive_wait_seconds"),
            f"visibility_timeout_seconds={m.visibility_timeout_seconds} is short; keep it at "
            f"least 6x receive_wait_seconds={m.receive_wait_seconds}",
        ),
        (
            m.max_receive_count * m.visibility_timeout_seconds <= POISON_RETRY_SECONDS,
            ("messaging.max_receive_count", "messaging.visibility_timeout_seconds"),
            f"max_receive_count={m.max_receive_count} x visibility_timeout_seconds="
            f"{m.visibility_timeout_seconds} keeps a poison payment out of the dead-letter "
            f"queue (and its alarm) for more than {POISON_RETRY_SECONDS} s",
        ),
    ]


def _production_rules(p: Profile) -> list[Rule]:
    """What an environment that serves real payments (deployment.production) must meet."""
    o = p.observability
    prod = "production (deployment.production = true) needs"
    return [
        (
            p.deployment.high_availability,
            ("deployment.production", "deployment.high_availability"),
            f"{prod} high_availability = true",
        ),
        (
            o.alb_5xx_threshold <= PRODUCTION_5XX_THRESHOLD,
            ("deployment.production", "observability.alb_5xx_threshold"),
            f"{prod} a page at {PRODUCTION_5XX_THRESHOLD} 5xx a minute at most, "
            f"got alb_5xx_threshold={o.alb_5xx_threshold}",
        ),
        (
            o.log_retention_days >= PRODUCTION_LOG_RETENTION_DAYS,
            ("deployment.production", "observability.log_retention_days"),
            f"{prod} {PRODUCTION_LOG_RETENTION_DAYS} days of logs immediately available "
            f"(PCI DSS 10.5.1), got log_retention_days={o.log_retention_days}",
        ),
        (
            # Spot capacity can be reclaimed at any time and may be unavailable for hours:
            # production payments must not wait for it.
            not p.compute.worker_spot,
            ("deployment.production", "compute.worker_spot"),
            f"{prod} the worker on on-demand Fargate capacity, got worker_spot = true",
        ),
        (
            p.database.monitoring_interval_seconds > 0,
            ("deployment.production", "database.monitoring_interval_seconds"),
            f"{prod} Enhanced Monitoring on the database instances (RDS.6), got "
            f"monitoring_interval_seconds={p.database.monitoring_interval_seconds}",
        ),
        (
            # Without either, the listener presents a self-signed certificate: fine for a test
            # environment whose clients pin it, never for cardholders' clients.
            bool(p.deployment.certificate_arn or p.deployment.domain_name),
            ("deployment.production", "deployment.certificate_arn", "deployment.domain_name"),
            f"{prod} a trusted certificate: an issued ACM certificate (payment:certificateArn) or "
            "a domain to validate by DNS (payment:domainName) in the stack file; without one the "
            "listener would present a self-signed certificate",
        ),
    ]


def _high_availability_rules(p: Profile) -> list[Rule]:
    """The multi-AZ minimums an environment with `high_availability` must meet."""
    n, c, d = p.network, p.compute, p.database
    ha = "high availability (deployment.high_availability = true) needs"
    flag = "deployment.high_availability"
    return [
        (n.az_count >= 3, (flag, "network.az_count"), f"{ha} 3 AZs, got {n.az_count}"),
        (
            n.endpoint_az_count >= 2,
            (flag, "network.endpoint_az_count"),
            f"{ha} endpoints in at least 2 AZs, got {n.endpoint_az_count}",
        ),
        (
            c.min_count >= 2,
            (flag, "compute.min_count"),
            f"{ha} at least 2 API tasks, got {c.min_count}",
        ),
        (
            d.reader_count >= 1,
            (flag, "database.reader_count"),
            f"{ha} at least 1 Aurora reader, got {d.reader_count}",
        ),
        (
            d.min_acu >= 0.5,
            (flag, "database.min_acu"),
            f"{ha} a writer that never pauses (min_acu >= 0.5), got {d.min_acu}",
        ),
        (
            p.cache.replica_count >= 1,
            (flag, "cache.replica_count"),
            f"{ha} at least 1 Redis replica for failover, got {p.cache.replica_count}",
        ),
        (
            d.backup_retention_days >= 7,
            (flag, "database.backup_retention_days"),
            f"{ha} at least 7 days of backups, got {d.backup_retention_days}",
        ),
    ]
