"""Physical names: one helper for `payment-{service}-{suffix}` and the AWS limits they must fit.

Every explicitly named resource takes its name from `physical_name`, and every service that
gets a name is listed in `NAMES` with the AWS limit of the resource that carries it. The
profile checks a suffix against this table at load, so an over-long suffix fails before any
resource is registered, naming the resource and the limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PROJECT = "payment"

# Lowercase letters, digits and single hyphens; starts with a letter, ends with a letter or digit.
# ElastiCache and S3 forbid consecutive hyphens and a trailing hyphen; RDS wants a letter first
# for the whole identifier (ours always starts with "payment-").
SUFFIX_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class NameRule:
    """One named service: the AWS resource that carries the name and its length limit."""

    resource: str
    limit: int


# "-" and 4 hex digits: the token a replaceable name ends with (payment_platform/replaceable.py).
REPLACEMENT_TOKEN = 5
REPLACEMENT_TOKEN_PATTERN = re.compile(r"-[0-9a-f]{4}$")

# NOTE: the limits are AWS's. Load balancer and target group names: 32. ElastiCache replication
# group ids: 40, lowercase. IAM role names: 64. S3 buckets: 63. SQS queue names: 80 (".fifo"
# counts). RDS cluster identifiers: 63.
NAMES: dict[str, NameRule] = {
    "alb": NameRule("aws.lb.LoadBalancer name", 32),
    # Replaceable names (payment_platform/replaceable.py) carry a 5-character token after the
    # suffix: the limit here is AWS's minus that token.
    "tg": NameRule("aws.lb.TargetGroup name (+ replacement token)", 32 - REPLACEMENT_TOKEN),
    "cache": NameRule("aws.elasticache.ReplicationGroup replication_group_id", 40),
    "cache-subnets": NameRule("aws.elasticache.SubnetGroup name", 255),
    # NOTE: the ElastiCache API gives user and user group ids a pattern ([a-zA-Z][a-zA-Z0-9-]*,
    # user group ids stored lowercase) but no length; they are held to the replication group
    # id's 40, the shortest documented ElastiCache id limit.
    "cache-app": NameRule("aws.elasticache.User user_id = user_name (IAM)", 40),
    "cache-default": NameRule("aws.elasticache.User user_id (the switched-off default)", 40),
    "cache-users": NameRule("aws.elasticache.UserGroup user_group_id", 40),
    "db": NameRule("aws.rds.Cluster cluster_identifier", 63),
    "db-subnets": NameRule("aws.rds.SubnetGroup name", 255),
    "db-params": NameRule(
        "aws.rds.ClusterParameterGroup name (+ replacement token)", 255 - REPLACEMENT_TOKEN
    ),
    # Instance identifiers get "-<n>" appended; 60 leaves room for up to 99 instances.
    "db-instance": NameRule("aws.rds.ClusterInstance identifier", 60),
    "db-monitoring": NameRule("aws.iam.Role name (RDS Enhanced Monitoring)", 64),
    "db-final": NameRule("aws.rds.Cluster final_snapshot_identifier", 255),
    "cluster": NameRule("aws.ecs.Cluster name", 255),
    "api": NameRule("aws.ecs.Service / aws.ecr.Repository name / TaskDefinition family", 255),
    "worker": NameRule("aws.ecs.Service name / aws.ecs.TaskDefinition family", 255),
    "api-task": NameRule("aws.iam.Role name (API task role)", 64),
    "worker-task": NameRule("aws.iam.Role name (worker task role)", 64),
    "execution": NameRule("aws.iam.Role name (task execution role)", 64),
    "flow-logs": NameRule("aws.iam.Role name (VPC flow logs)", 64),
    "queue": NameRule("aws.sqs.Queue name", 80),
    "queue-dlq": NameRule("aws.sqs.Queue name", 80),
    "notifications": NameRule("aws.sqs.Queue name", 80),
    "notifications-dlq": NameRule("aws.sqs.Queue name", 80),
    "events": NameRule("aws.sns.Topic name", 256),
    "alerts": NameRule("aws.sns.Topic name", 256),
    "waf": NameRule("aws.wafv2.WebAcl name", 128),
    "dashboard": NameRule("aws.cloudwatch.Dashboard dashboard_name", 255),
    # CloudWatch alarms (observability builder): "payment-<what>-<suffix>".
    "alb-5xx": NameRule("aws.cloudwatch.MetricAlarm name", 255),
    "target-5xx": NameRule("aws.cloudwatch.MetricAlarm name", 255),
    "latency-p99": NameRule("aws.cloudwatch.MetricAlarm name", 255),
    "unhealthy-hosts": NameRule("aws.cloudwatch.MetricAlarm name", 255),
    "api-cpu": NameRule("aws.cloudwatch.MetricAlarm name", 255),
    "api-memory": NameRule("aws.cloudwatch.MetricAlarm name", 255),
    "api-running-tasks": NameRule("aws.cloudwatch.MetricAlarm name", 255),
    "queue-dlq-messages": NameRule("aws.cloudwatch.MetricAlarm name", 255),
    "notifications-dlq-messages": NameRule("aws.cloudwatch.MetricAlarm name", 255),
    "queue-oldest-message": NameRule("aws.cloudwatch.MetricAlarm name", 255),
    "db-cpu": NameRule("aws.cloudwatch.MetricAlarm name", 255),
    "db-acu": NameRule("aws.cloudwatch.MetricAlarm name", 255),
    "db-connections": NameRule("aws.cloudwatch.MetricAlarm name", 255),
    "cache-cpu": NameRule("aws.cloudwatch.MetricAlarm name", 255),
    "cache-engine-cpu": NameRule("aws.cloudwatch.MetricAlarm name", 255),
    "cache-memory": NameRule("aws.cloudwatch.MetricAlarm name", 255),
    "cache-evictions": NameRule("aws.cloudwatch.MetricAlarm name", 255),
    "waf-blocked": NameRule("aws.cloudwatch.MetricAlarm name", 255),
    "stuck-payments": NameRule("aws.cloudwatch.MetricAlarm / LogMetricFilter name", 255),
    "dead-lettered-payments": NameRule("aws.cloudwatch.MetricAlarm / LogMetricFilter name", 255),
    # Buckets carry the account id (13 characters with its hyphen): S3 names are global.
    "transaction-logs": NameRule("aws.s3.Bucket bucket (+ account id)", 63 - 13),
    "alb-logs": NameRule("aws.s3.Bucket bucket (+ account id)", 63 - 13),
    "access-logs": NameRule("aws.s3.Bucket bucket (+ account id)", 63 - 13),
    "db-credentials": NameRule("aws.secretsmanager.Secret name", 512),
    "idempotency": NameRule("aws.secretsmanager.Secret name (the API's HMAC key)", 512),
    "data-key": NameRule("aws.kms.Alias name (after 'alias/')", 250),
    "messaging-key": NameRule("aws.kms.Alias name (after 'alias/')", 250),
    "logs-key": NameRule("aws.kms.Alias name (after 'alias/')", 250),
    # Network and security groups: "Name" tags (tag values: 256). Security groups are
    # auto-named by Pulumi so a replacement can be created before the old group is deleted.
    "vpc": NameRule("aws.ec2.Vpc Name tag", 256),
    "igw": NameRule("aws.ec2.InternetGateway Name tag", 256),
    # Subnets, route tables and endpoints get "-<az>" or "-<service>" appended (<= 20 more).
    "public": NameRule("aws.ec2.Subnet / RouteTable Name tag", 236),
    "private": NameRule("aws.ec2.Subnet / RouteTable Name tag", 236),
    "endpoint": NameRule("aws.ec2.VpcEndpoint Name tag", 236),
    "flow-log": NameRule("aws.ec2.FlowLog Name tag", 256),
    "alb-sg": NameRule("aws.ec2.SecurityGroup Name tag", 256),
    "api-sg": NameRule("aws.ec2.SecurityGroup Name tag", 256),
    "worker-sg": NameRule("aws.ec2.SecurityGroup Name tag", 256),
    "db-sg": NameRule("aws.ec2.SecurityGroup Name tag", 256),
    "cache-sg": NameRule("aws.ec2.SecurityGroup Name tag", 256),
    "endpoints-sg": NameRule("aws.ec2.SecurityGroup Name tag", 256),
}


# The account project (`account/`) records its graph under this scope, and names its resources
# `payment-account-<service>`: no service in NAMES starts with "account", so no environment's
# `payment-<service>-<suffix>` can equal one of them.
ACCOUNT_SCOPE = "account"
ACCOUNT_PREFIX = f"{PROJECT}-{ACCOUNT_SCOPE}-"

# The image tags the program pushes (`build-<content hash>`): the repository's only mutable tags,
# since the tasks run the image by digest (payment_platform/compute/image.py).
IMAGE_BUILD_TAG_PREFIX = "build-"

# Every environment's transaction-log bucket starts with this: the account-level trail
# (`account/`) selects their S3 data events by ARN prefix, so an environment added later is
# covered without touching the trail.
TRANSACTION_LOG_BUCKET_PREFIX = f"{PROJECT}-transaction-logs-"


def physical_name(service: str, suffix: str) -> str:
    """Return `payment-{service}-{suffix}` for a service listed in `NAMES`."""
    if service not in NAMES:
        raise KeyError(f"service {service!r} has no entry in conventions.naming.NAMES")
    return f"{PROJECT}-{service}-{suffix}"


def name_violations(suffix: str) -> list[str]:
    """Every name the suffix would push past its AWS limit, as readable sentences."""
    problems = []
    for service, rule in NAMES.items():
        name = physical_name(service, suffix)
        if len(name) > rule.limit:
            problems.append(
                f"{name!r} ({rule.resource}) is {len(name)} characters, limit {rule.limit}"
            )
    return problems


def max_suffix_length() -> int:
    """The longest suffix that keeps every name within its limit."""
    return min(rule.limit - len(f"{PROJECT}-{service}-") for service, rule in NAMES.items())
