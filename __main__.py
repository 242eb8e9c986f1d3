"""payment-platform: one program, every environment. Wiring only; it reads like the architecture.

The profile (config/) decides every size and count; each builder makes one concern under its own
component and returns a frozen outputs dataclass that later builders take as input. The CloudTrail
trail is not here: it belongs to the account (`account/`), and covers every environment.
"""

from pathlib import Path

import pulumi

import config
from payment_platform import (
    cache,
    compute,
    database,
    edge,
    endpoints,
    keys,
    logs,
    messaging,
    network,
    observability,
    security,
    storage,
)
from payment_platform.tags import register_tagging, standard_tags

try:
    profile = config.load(
        config.runtime_stack_config(),
        stack_file=f"Pulumi.{pulumi.get_stack()}.yaml",
        root=Path(__file__).resolve().parent,  # environments/ beside this program
    )
except config.ConfigError as error:  # one line per problem, before any resource is registered
    raise SystemExit("\n".join(f"config error: {m}" for m in error.messages)) from None
register_tagging(standard_tags(profile))

kms = keys.build(profile)
log_groups = logs.build(profile, kms)
net = network.build(profile, log_groups)
sec = security.build(profile, net)
vpc_endpoints = endpoints.build(profile, net, sec)
buckets = storage.build(profile, kms)
db = database.build(profile, kms, log_groups, net, sec)
redis = cache.build(profile, kms, log_groups, net, sec)
queues = messaging.build(profile, kms)
lb = edge.build(profile, log_groups, net, sec)
services = compute.build(
    profile,
    keys=kms,
    logs=log_groups,
    network=net,
    security=sec,
    endpoints=vpc_endpoints,
    storage=buckets,
    database=db,
    cache=redis,
    messaging=queues,
    edge=lb,
)
monitoring = observability.build(
    profile, messaging=queues, database=db, cache=redis, edge=lb, compute=services
)

pulumi.export("environment", profile.env)
pulumi.export("environment_suffix", profile.suffix)
# The environment class, for the guardrails and the policy pack: production-only rules follow it.
pulumi.export("production", profile.deployment.production)
pulumi.export("high_availability", profile.deployment.high_availability)
# Whether the data is protected from deletion: the destroyability rules follow it.
pulumi.export("protect_data", profile.deployment.protect_data)
pulumi.export("vpc_id", net.vpc_id)
pulumi.export("alb_dns_name", lb.alb_dns_name)
pulumi.export("https_url", lb.https_url)
pulumi.export("web_acl_arn", lb.web_acl_arn)
pulumi.export("cluster_name", services.cluster_name)
pulumi.export("api_service_name", services.api_service_name)
pulumi.export("worker_service_name", services.worker_service_name)
pulumi.export("repository_url", services.repository_url)
pulumi.export("database_writer_endpoint", db.writer_endpoint)
pulumi.export("database_reader_endpoint", db.reader_endpoint)
pulumi.export("database_port", db.port)
pulumi.export("database_secret_arn", db.master_secret_arn)
pulumi.export("database_app_user", db.app_username)
pulumi.export("cache_primary_endpoint", redis.primary_endpoint)
pulumi.export("cache_reader_endpoint", redis.reader_endpoint)
pulumi.export("cache_port", redis.port)
pulumi.export("cache_replication_group_id", redis.replication_group_id)
pulumi.export("cache_app_user", redis.app_user_id)
pulumi.export("transaction_log_bucket", buckets.transaction_log_bucket_name)
pulumi.export("payment_queue_url", queues.payment_queue_url)
pulumi.export("payment_dlq_url", queues.payment_dlq_url)
pulumi.export("notifications_queue_url", queues.notifications_queue_url)
pulumi.export("events_topic_arn", queues.events_topic_arn)
pulumi.export("alerts_topic_arn", queues.alerts_topic_arn)
pulumi.export("dashboard_name", monitoring.dashboard_name)
pulumi.export("dashboard_url", monitoring.dashboard_url)
pulumi.export("api_log_group", log_groups.api_log_group_name)
pulumi.export("worker_log_group", log_groups.worker_log_group_name)
