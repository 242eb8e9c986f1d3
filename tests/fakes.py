"""Upstream outputs for builder unit tests: shaped like the real ones, fixed values.

Call these inside the program function passed to `offline.recorder.run_program` (Outputs need
the running Pulumi context). The values are what the mocks would return, so a test can assert
that, say, the database names the data key ARN below.
"""

from __future__ import annotations

from typing import Any

import pulumi

from config import Profile
from offline.mocks import ACCOUNT_ID, REGION, zone_name
from payment_platform.cache import CacheOutputs
from payment_platform.compute import ComputeOutputs
from payment_platform.database import DatabaseOutputs
from payment_platform.edge import EdgeOutputs
from payment_platform.endpoints import EndpointsOutputs
from payment_platform.keys import KeysOutputs
from payment_platform.logs import LogsOutputs
from payment_platform.messaging import MessagingOutputs
from payment_platform.network import NetworkOutputs
from payment_platform.security import SecurityOutputs
from payment_platform.storage import StorageOutputs

DATA_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/11111111-1111-1111-1111-111111111111"
MESSAGING_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/22222222-2222-2222-2222-222222222222"
LOGS_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/33333333-3333-3333-3333-333333333333"


def _o(value: Any) -> pulumi.Output[Any]:
    return pulumi.Output.from_input(value)


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{resource}"


def keys() -> KeysOutputs:
    return KeysOutputs(
        data_key_arn=_o(DATA_KEY_ARN),
        data_key_id=_o(DATA_KEY_ARN.rsplit("/", 1)[1]),
        messaging_key_arn=_o(MESSAGING_KEY_ARN),
        logs_key_arn=_o(LOGS_KEY_ARN),
    )


def logs(profile: Profile) -> LogsOutputs:
    s = profile.suffix

    def group(name: str) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        return _o(name), _o(_arn("logs", f"log-group:{name}"))

    api, api_arn = group(f"/payment/{s}/api")
    worker, worker_arn = group(f"/payment/{s}/worker")
    flow, flow_arn = group(f"/payment/{s}/vpc-flow-logs")
    return LogsOutputs(
        api_log_group_name=api,
        api_log_group_arn=api_arn,
        worker_log_group_name=worker,
        worker_log_group_arn=worker_arn,
        flow_logs_log_group_name=flow,
        flow_logs_log_group_arn=flow_arn,
        database_log_group_name=_o(f"/aws/rds/cluster/{profile.name('db')}/postgresql"),
        cache_slow_log_group_name=_o(f"/payment/{s}/redis-slow"),
        cache_engine_log_group_name=_o(f"/payment/{s}/redis-engine"),
        waf_log_group_arn=_o(_arn("logs", f"log-group:aws-waf-logs-payment-{s}")),
        container_insights_log_group_name=_o(
            f"/aws/ecs/containerinsights/{profile.name('cluster')}/performance"
        ),
    )


def network(profile: Profile) -> NetworkOutputs:
    n = profile.network.az_count
    return NetworkOutputs(
        vpc_id=_o("vpc-0fake"),
        vpc_cidr=profile.network.vpc_cidr,
        # The names the mocked account gives the profile's zone IDs, as the subnets report them.
        availability_zones=[_o(zone_name(z)) for z in profile.network.zone_ids[:n]],
        public_subnet_ids=[_o(f"subnet-public{i}") for i in range(n)],
        private_subnet_ids=[_o(f"subnet-private{i}") for i in range(n)],
        private_route_table_ids=[_o(f"rtb-private{i}") for i in range(n)],
        s3_endpoint_prefix_list_id=_o("pl-63a5400a"),
        internet_route_id=_o("r-rtb-public1080289494"),
    )


def security() -> SecurityOutputs:
    return SecurityOutputs(
        alb_security_group_id=_o("sg-alb"),
        api_security_group_id=_o("sg-api"),
        worker_security_group_id=_o("sg-worker"),
        database_security_group_id=_o("sg-database"),
        cache_security_group_id=_o("sg-cache"),
        endpoints_security_group_id=_o("sg-endpoints"),
    )


def endpoints() -> EndpointsOutputs:
    return EndpointsOutputs(
        interface_endpoint_ids={
            service: _o(f"vpce-{service}")
            for service in ("ecr.api", "ecr.dkr", "logs", "secretsmanager", "sqs", "sns", "kms")
        }
    )


def storage(profile: Profile) -> StorageOutputs:
    tx = f"{profile.name('transaction-logs')}-{ACCOUNT_ID}"
    access = f"{profile.name('access-logs')}-{ACCOUNT_ID}"
    return StorageOutputs(
        transaction_log_bucket_name=_o(tx),
        transaction_log_bucket_arn=_o(f"arn:aws:s3:::{tx}"),
        access_log_bucket_name=_o(access),
        access_log_bucket_arn=_o(f"arn:aws:s3:::{access}"),
    )


DB_CLUSTER_RESOURCE_ID = "cluster-ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def database(profile: Profile) -> DatabaseOutputs:
    ident = profile.name("db")
    return DatabaseOutputs(
        cluster_arn=_o(_arn("rds", f"cluster:{ident}")),
        cluster_identifier=_o(ident),
        cluster_resource_id=_o(DB_CLUSTER_RESOURCE_ID),
        writer_endpoint=_o(f"{ident}.cluster-abc.{REGION}.rds.amazonaws.com"),
        reader_endpoint=_o(f"{ident}.cluster-ro-abc.{REGION}.rds.amazonaws.com"),
        port=5432,
        database_name=profile.database.database_name,
        master_username=profile.database.master_username,
        master_secret_arn=_o(_arn("secretsmanager", "secret:rds!cluster-abc-AbCdEf")),
        app_username="payment_app",
        app_user_arn=_o(_arn("rds-db", f"dbuser:{DB_CLUSTER_RESOURCE_ID}/payment_app")),
        instance_identifiers=[
            _o(f"{profile.name('db-instance')}-{i}")
            for i in range(1 + profile.database.reader_count)
        ],
    )


def cache(profile: Profile) -> CacheOutputs:
    ident = profile.name("cache")
    return CacheOutputs(
        replication_group_id=_o(ident),
        replication_group_arn=_o(_arn("elasticache", f"replicationgroup:{ident}")),
        primary_endpoint=_o(f"master.{ident}.abc.use1.cache.amazonaws.com"),
        reader_endpoint=_o(f"replica.{ident}.abc.use1.cache.amazonaws.com"),
        port=6379,
        app_user_id=_o(profile.name("cache-app")),
        app_user_arn=_o(_arn("elasticache", f"user:{profile.name('cache-app')}")),
    )


def messaging(profile: Profile) -> MessagingOutputs:
    def queue(service: str) -> tuple[pulumi.Output[str], pulumi.Output[str], pulumi.Output[str]]:
        name = profile.name(service)
        return (
            _o(f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{name}"),
            _o(_arn("sqs", name)),
            _o(name),
        )

    q_url, q_arn, q_name = queue("queue")
    d_url, d_arn, d_name = queue("queue-dlq")
    n_url, n_arn, n_name = queue("notifications")
    _, nd_arn, nd_name = queue("notifications-dlq")
    return MessagingOutputs(
        payment_queue_url=q_url,
        payment_queue_arn=q_arn,
        payment_queue_name=q_name,
        payment_dlq_url=d_url,
        payment_dlq_arn=d_arn,
        payment_dlq_name=d_name,
        notifications_queue_url=n_url,
        notifications_queue_arn=n_arn,
        notifications_queue_name=n_name,
        notifications_dlq_arn=nd_arn,
        notifications_dlq_name=nd_name,
        events_topic_arn=_o(_arn("sns", profile.name("events"))),
        alerts_topic_arn=_o(_arn("sns", profile.name("alerts"))),
    )


def edge(profile: Profile) -> EdgeOutputs:
    alb = profile.name("alb")
    suffix = f"app/{alb}/0123456789abcdef"
    tg = f"targetgroup/{profile.name('tg')}-0a1b/0123456789abcdef"
    return EdgeOutputs(
        alb_arn=_o(_arn("elasticloadbalancing", f"loadbalancer/{suffix}")),
        alb_arn_suffix=_o(suffix),
        alb_dns_name=_o(f"{alb}-123.{REGION}.elb.amazonaws.com"),
        https_url=_o(f"https://{alb}-123.{REGION}.elb.amazonaws.com"),
        https_listener_arn=_o(_arn("elasticloadbalancing", f"listener/{suffix}/https")),
        target_group_arn=_o(_arn("elasticloadbalancing", tg)),
        target_group_arn_suffix=_o(tg),
        web_acl_arn=_o(_arn("wafv2", f"regional/webacl/{profile.name('waf')}/abc")),
        web_acl_name=_o(profile.name("waf")),
    )


def compute(profile: Profile) -> ComputeOutputs:
    cluster = profile.name("cluster")
    return ComputeOutputs(
        cluster_name=_o(cluster),
        cluster_arn=_o(_arn("ecs", f"cluster/{cluster}")),
        api_service_name=_o(profile.name("api")),
        worker_service_name=_o(profile.name("worker")),
        repository_url=_o(f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/{profile.name('api')}"),
        image_ref=_o(
            f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/{profile.name('api')}@sha256:{'0' * 64}"
        ),
        api_task_role_arn=_o(f"arn:aws:iam::{ACCOUNT_ID}:role/{profile.name('api-task')}"),
        worker_task_role_arn=_o(f"arn:aws:iam::{ACCOUNT_ID}:role/{profile.name('worker-task')}"),
        execution_role_arn=_o(f"arn:aws:iam::{ACCOUNT_ID}:role/{profile.name('execution')}"),
    )
