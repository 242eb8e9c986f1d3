"""How each billable resource kind turns into monthly charges, read from the recorded graph.

Every fact that sizes a charge (task size and count, ACU range, node type and count, endpoint
subnets, rule count, log retention) comes from the resource's inputs, so the estimate follows
the code; only usage the graph cannot know comes from the table's `[usage]` guesses, and each
charge names the assumptions it rests on so they are printed with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from offline.cost_prices import PriceTable, Usage
from resource_graph import Graph, Resource


class CannotPriceError(Exception):
    """A billable resource whose configuration has no price here (the message says why)."""


@dataclass(frozen=True)
class Charge:
    """One line of a resource's bill: what is charged, per month idle and at autoscaling max."""

    item: str
    idle: float
    max: float
    notes: tuple[str, ...] = ()


Rule = Callable[[Resource, Graph, PriceTable], list[Charge]]

ZERO_ACU = (
    "Aurora Serverless v2 at 0 ACU minimum: idle means paused (auto-pause), no compute charged"
)
FARGATE_SPOT = (
    "FARGATE_SPOT has no fixed list price: estimated at the advertised 70% discount "
    "(fargate_spot in the table)"
)
KMS_ROTATION = "KMS: each rotation adds $1/key-month for the first two years; not counted"
LOG_FOREVER_MONTHS = 12


def price(table: PriceTable, key: str) -> float:
    """A price by key, or `CannotPriceError` naming the key the table lacks."""
    try:
        return table.usd(key)
    except KeyError:
        raise CannotPriceError(f"no price `{key}` in the table") from None


def used(table: PriceTable, key: str, unit_price: float, item: str) -> Charge:
    """A usage-based charge: the table's idle and max guesses for `key` at `unit_price`."""
    guess: Usage = table.guess(key)
    return Charge(item, guess.idle * unit_price, guess.max * unit_price, (guess.note(),))


def hourly(table: PriceTable, count_idle: float, count_max: float, key: str, item: str) -> Charge:
    """`count` units billed every hour of the month at price `key`."""
    per_month = price(table, key) * table.hours
    return Charge(item, count_idle * per_month, count_max * per_month)


def monthly(table: PriceTable, count: float, key: str, item: str) -> Charge:
    """`count` units at a flat monthly price, the same idle and at max."""
    return Charge(item, count * price(table, key), count * price(table, key))


def _tail(arn_or_name: str) -> str:
    return str(arn_or_name).rsplit("/", 1)[-1]


def _task_definition(service: Resource, graph: Graph) -> Resource:
    ref = str(service.get("taskDefinition") or "")
    found = graph.by_id(ref)
    if found is not None and found.type == "aws:ecs/taskDefinition:TaskDefinition":
        return found
    family = _tail(ref).split(":")[0]
    for td in graph.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        if td.get("family") == family:
            return td
    raise CannotPriceError(f"its task definition {ref!r} is not in the graph")


def _scaling(service: Resource, graph: Graph) -> tuple[int, int, tuple[str, ...]]:
    """Task count idle and at max: the autoscaling target's range, else the desired count."""
    name = service.get("name") or service.name
    for target in graph.of_type("aws:appautoscaling/target:Target"):
        rid = str(target.get("resourceId") or "")
        if target.get("serviceNamespace") == "ecs" and rid.rsplit("/", 1)[-1] == name:
            return int(target.get("minCapacity")), int(target.get("maxCapacity")), ()
    desired = int(service.get("desiredCount", 1))
    return desired, desired, (f"{service.name}: no autoscaling target: {desired} task(s)",)


def _launch(service: Resource) -> tuple[str, ...]:
    strategies = service.get("capacityProviderStrategies") or []
    providers = {s.get("capacityProvider") for s in strategies} or {
        service.get("launchType") or "FARGATE"
    }
    unknown = providers - {"FARGATE", "FARGATE_SPOT"}
    if unknown:
        raise CannotPriceError(f"launch type / capacity provider {sorted(map(str, unknown))}")
    return (FARGATE_SPOT,) if "FARGATE_SPOT" in providers else ()


def fargate_service(service: Resource, graph: Graph, table: PriceTable) -> list[Charge]:
    """Tasks x (vCPU + GB) x hours, at the task definition's architecture."""
    td = _task_definition(service, graph)
    if int((td.get("ephemeralStorage") or {}).get("sizeInGiB", 20)) > 20:
        raise CannotPriceError("ephemeral storage above the included 20 GiB")
    arch = str((td.get("runtimePlatform") or {}).get("cpuArchitecture") or "X86_64")
    family = {"X86_64": "x86", "ARM64": "arm64"}.get(arch, arch.lower())
    vcpu = float(td.get("cpu")) / 1024
    gb = float(td.get("memory")) / 1024
    low, high, notes = _scaling(service, graph)
    launch = _launch(service)
    # Spot has its own rows per architecture (Fargate Spot runs X86_64 and ARM64 tasks).
    kind = "fargate_spot" if launch else "fargate"
    task_hour = vcpu * price(table, f"{kind}.{family}.vcpu_hour") + gb * price(
        table, f"{kind}.{family}.gb_hour"
    )
    per_task = task_hour * table.hours
    item = f"{vcpu:g} vCPU {gb:g} GB {family}, {low}..{high} tasks"
    item += " (Spot)" if launch else ""
    return [Charge(item, low * per_task, high * per_task, notes + launch)]


def _cluster(instance: Resource, graph: Graph) -> Resource:
    ident = instance.get("clusterIdentifier")
    for cluster in graph.of_type("aws:rds/cluster:Cluster"):
        if cluster.get("clusterIdentifier") == ident:
            return cluster
    raise CannotPriceError(f"its cluster {ident!r} is not in the graph")


def aurora_instance(instance: Resource, graph: Graph, table: PriceTable) -> list[Charge]:
    """A serverless v2 instance bills its own ACUs: the cluster's min idle, its max at max."""
    cls = str(instance.get("instanceClass"))
    if cls != "db.serverless":
        return [hourly(table, 1, 1, f"aurora.instance_hour.{cls}", cls)]
    scaling = _cluster(instance, graph).get("serverlessv2ScalingConfiguration") or {}
    low, high = float(scaling.get("minCapacity", 0)), float(scaling.get("maxCapacity", 0))
    charge = hourly(table, low, high, "aurora.acu_hour", f"{low:g}..{high:g} ACU")
    return [Charge(charge.item, charge.idle, charge.max, (ZERO_ACU,) if low == 0 else ())]


def aurora_cluster(cluster: Resource, graph: Graph, table: PriceTable) -> list[Charge]:
    """Storage and I/O once per cluster (guessed), and the RDS-managed master secret."""
    if cluster.get("storageType") not in (None, "", "aurora"):
        raise CannotPriceError(f"storage type {cluster.get('storageType')!r}")
    charges = [
        used(table, "aurora_storage_gb", price(table, "aurora.storage_gb_month"), "storage"),
        used(table, "aurora_io_million", price(table, "aurora.io_million"), "I/O"),
    ]
    if cluster.get("manageMasterUserPassword"):
        charges.append(monthly(table, 1, "secretsmanager.secret_month", "master user secret"))
    return charges


def cache_group(group: Resource, graph: Graph, table: PriceTable) -> list[Charge]:
    """Node price (the engine's: Valkey nodes cost less) x nodes x hours; no autoscaling here."""
    node = str(group.get("nodeType"))
    engine = str(group.get("engine") or "redis")
    nodes = group.get("numCacheClusters")
    if nodes is None:
        nodes = int(group.get("numNodeGroups", 1)) * (int(group.get("replicasPerNodeGroup", 0)) + 1)
    return [
        hourly(
            table,
            nodes,
            nodes,
            f"elasticache.{engine}.node_hour.{node}",
            f"{nodes} x {node} {engine}",
        )
    ]


def vpc_endpoint(endpoint: Resource, graph: Graph, table: PriceTable) -> list[Charge]:
    """Interface: one ENI per subnet (AZ), billed hourly, plus data; gateway: no charge."""
    kind = endpoint.get("vpcEndpointType") or "Gateway"
    if kind == "Gateway":
        return [Charge("gateway endpoint: no charge", 0.0, 0.0)]
    if kind != "Interface":
        raise CannotPriceError(f"endpoint type {kind!r}")
    azs = len(endpoint.get("subnetIds") or [])
    return [
        hourly(table, azs, azs, "privatelink.interface_az_hour", f"{azs} AZ(s)"),
        used(table, "endpoint_data_gb", price(table, "privatelink.data_gb"), "data processed"),
    ]


def load_balancer(lb: Resource, graph: Graph, table: PriceTable) -> list[Charge]:
    """ALB hours, LCUs (guessed) and, if internet-facing, one public IPv4 per subnet."""
    kind = lb.get("loadBalancerType") or "application"
    if kind != "application":
        raise CannotPriceError(f"load balancer type {kind!r}")
    charges = [
        hourly(table, 1, 1, "elb.alb_hour", "ALB hours"),
        used(table, "alb_lcu", price(table, "elb.lcu_hour") * table.hours, "LCUs"),
    ]
    if not lb.get("internal"):
        ips = len(lb.get("subnets") or lb.get("subnetMappings") or [])
        charges.append(hourly(table, ips, ips, "vpc.public_ipv4_hour", f"{ips} public IPv4"))
    return charges


PAID_RULE_GROUPS = {
    "AWSManagedRulesBotControlRuleSet",
    "AWSManagedRulesATPRuleSet",
    "AWSManagedRulesACFPRuleSet",
}


def web_acl(acl: Resource, graph: Graph, table: PriceTable) -> list[Charge]:
    """$ per ACL + $ per rule (a managed rule group counts as one), plus requests (guessed)."""
    rules: Sequence[dict[str, Any]] = acl.get("rules") or []
    for rule in rules:
        group = (rule.get("statement") or {}).get("managedRuleGroupStatement") or {}
        if group.get("name") in PAID_RULE_GROUPS:
            raise CannotPriceError(f"managed rule group {group['name']} has its own fees")
    return [
        monthly(table, 1, "waf.web_acl_month", "web ACL"),
        monthly(table, len(rules), "waf.rule_month", f"{len(rules)} rules"),
        used(table, "api_requests_million", price(table, "waf.request_million"), "requests"),
    ]


def kms_key(key: Resource, graph: Graph, table: PriceTable) -> list[Charge]:
    """$ per key-month, plus requests (guessed)."""
    notes = (KMS_ROTATION,) if key.get("enableKeyRotation") else ()
    flat = monthly(table, 1, "kms.key_month", "key")
    return [
        Charge(flat.item, flat.idle, flat.max, notes),
        used(table, "kms_requests_10k", price(table, "kms.request_10k"), "requests"),
    ]


def metric_alarm(alarm: Resource, graph: Graph, table: PriceTable) -> list[Charge]:
    """Per metric the alarm evaluates (a metric-math alarm pays for each metric in it)."""
    queries = alarm.get("metricQueries") or []
    metrics = sum(1 for q in queries if q.get("metric")) or 1
    periods = [int(q["metric"].get("period", 60)) for q in queries if q.get("metric")]
    if min([int(alarm.get("period") or 60), *periods]) < 60:
        raise CannotPriceError("high-resolution alarm (period < 60 s)")
    return [monthly(table, metrics, "cloudwatch.alarm_metric_month", f"{metrics} metric(s)")]


def log_metric_filter(metric_filter: Resource, graph: Graph, table: PriceTable) -> list[Charge]:
    """The filter is free; the metric it publishes is a custom metric (one per dimension value)."""
    transformation = metric_filter.get("metricTransformation") or {}
    if transformation.get("dimensions"):
        raise CannotPriceError("metric filter with dimensions (one metric per dimension value)")
    return [monthly(table, 1, "cloudwatch.custom_metric_month", "custom metric")]


def dashboard(board: Resource, graph: Graph, table: PriceTable) -> list[Charge]:
    return [monthly(table, 1, "cloudwatch.dashboard_month", "dashboard")]


def log_group(group: Resource, graph: Graph, table: PriceTable) -> list[Charge]:
    """Ingestion (guessed) and storage: a month's ingestion kept for the retention period."""
    if (group.get("logGroupClass") or "STANDARD") != "STANDARD":
        raise CannotPriceError(f"log group class {group.get('logGroupClass')!r}")
    days = group.get("retentionInDays")
    months = days / 30 if days else LOG_FOREVER_MONTHS
    ingest = used(table, "log_ingest_gb", price(table, "cloudwatch.logs_ingest_gb"), "ingestion")
    store = used(
        table, "log_ingest_gb", price(table, "cloudwatch.logs_storage_gb_month") * months, "stored"
    )
    note = f"logs stored: {months:.2f} months of ingestion (retention {days or 'never'} days)"
    return [ingest, Charge(store.item, store.idle, store.max, (*store.notes, note))]


def ecs_cluster(cluster: Resource, graph: Graph, table: PriceTable) -> list[Charge]:
    """Container Insights metrics: per cluster plus per service (counts guessed)."""
    settings = {s.get("name"): s.get("value") for s in cluster.get("settings") or []}
    mode = settings.get("containerInsights", "disabled")
    if mode == "disabled":
        return [Charge("no Container Insights", 0.0, 0.0)]
    if mode != "enabled":
        raise CannotPriceError(f"Container Insights mode {mode!r}")
    services = len(graph.of_type("aws:ecs/service:Service"))
    metric = price(table, "cloudwatch.custom_metric_month")
    per_cluster = table.guess("container_insights_metrics_per_cluster")
    per_service = table.guess("container_insights_metrics_per_service")
    idle = (per_cluster.idle + services * per_service.idle) * metric
    high = (per_cluster.max + services * per_service.max) * metric
    notes = (per_cluster.note(), per_service.note())
    return [Charge(f"Container Insights, {services} services", idle, high, notes)]


def bucket(b: Resource, graph: Graph, table: PriceTable) -> list[Charge]:
    return [
        used(table, "s3_storage_gb", price(table, "s3.standard_gb_month"), "storage"),
        used(table, "s3_put_thousand", price(table, "s3.put_1k"), "PUT requests"),
    ]


def repository(repo: Resource, graph: Graph, table: PriceTable) -> list[Charge]:
    return [used(table, "ecr_storage_gb", price(table, "ecr.storage_gb_month"), "images")]


def queue(q: Resource, graph: Graph, table: PriceTable) -> list[Charge]:
    if q.get("fifoQueue"):
        raise CannotPriceError("FIFO queue")
    return [used(table, "sqs_requests_million", price(table, "sqs.request_million"), "requests")]


def topic(t: Resource, graph: Graph, table: PriceTable) -> list[Charge]:
    if t.get("fifoTopic"):
        raise CannotPriceError("FIFO topic")
    return [used(table, "sns_requests_million", price(table, "sns.request_million"), "publishes")]


def secret(s: Resource, graph: Graph, table: PriceTable) -> list[Charge]:
    return [monthly(table, 1, "secretsmanager.secret_month", "secret")]


def certificate(cert: Resource, graph: Graph, table: PriceTable) -> list[Charge]:
    """Public ACM certificates are free; a private CA's are not (and are not in the table)."""
    if cert.get("certificateAuthorityArn"):
        raise CannotPriceError("certificate from a private CA")
    return [Charge("public certificate: no charge", 0.0, 0.0)]


def elastic_ip(eip: Resource, graph: Graph, table: PriceTable) -> list[Charge]:
    return [hourly(table, 1, 1, "vpc.public_ipv4_hour", "public IPv4")]


RULES: dict[str, Rule] = {
    "aws:ecs/service:Service": fargate_service,
    "aws:ecs/cluster:Cluster": ecs_cluster,
    "aws:rds/cluster:Cluster": aurora_cluster,
    "aws:rds/clusterInstance:ClusterInstance": aurora_instance,
    "aws:elasticache/replicationGroup:ReplicationGroup": cache_group,
    "aws:ec2/vpcEndpoint:VpcEndpoint": vpc_endpoint,
    "aws:lb/loadBalancer:LoadBalancer": load_balancer,
    "aws:wafv2/webAcl:WebAcl": web_acl,
    "aws:kms/key:Key": kms_key,
    "aws:cloudwatch/metricAlarm:MetricAlarm": metric_alarm,
    "aws:cloudwatch/dashboard:Dashboard": dashboard,
    "aws:cloudwatch/logMetricFilter:LogMetricFilter": log_metric_filter,
    "aws:cloudwatch/logGroup:LogGroup": log_group,
    "aws:s3/bucket:Bucket": bucket,
    "aws:ecr/repository:Repository": repository,
    "aws:sqs/queue:Queue": queue,
    "aws:sns/topic:Topic": topic,
    "aws:secretsmanager/secret:Secret": secret,
    "aws:acm/certificate:Certificate": certificate,
    "aws:ec2/eip:Eip": elastic_ip,
}

# Kinds AWS does not bill for themselves (their cost, if any, is counted where it arises: flow
# logs and WAF logs at their log group, images at the repository). Anything neither here nor in
# RULES stops the estimate: a new billable kind must never be counted as $0 by omission.
FREE = frozenset(
    {
        "aws:acm/certificateValidation:CertificateValidation",
        "aws:appautoscaling/policy:Policy",
        "aws:appautoscaling/target:Target",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "aws:ec2/flowLog:FlowLog",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/route:Route",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/vpc:Vpc",
        "aws:ecr/lifecyclePolicy:LifecyclePolicy",
        "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders",
        "aws:ecs/taskDefinition:TaskDefinition",
        "aws:elasticache/subnetGroup:SubnetGroup",
        "aws:elasticache/user:User",
        "aws:elasticache/userGroup:UserGroup",
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:kms/alias:Alias",
        "aws:lb/listener:Listener",
        "aws:lb/targetGroup:TargetGroup",
        "aws:rds/clusterParameterGroup:ClusterParameterGroup",
        "aws:rds/subnetGroup:SubnetGroup",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketLogging:BucketLogging",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketVersioning:BucketVersioning",
        # A version is part of its secret, which is priced per secret-month.
        "aws:secretsmanager/secretVersion:SecretVersion",
        "aws:sns/topicPolicy:TopicPolicy",
        "aws:sns/topicSubscription:TopicSubscription",
        "aws:sqs/queuePolicy:QueuePolicy",
        "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws:wafv2/webAclAssociation:WebAclAssociation",
        "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",
    }
)
# Providers that create nothing in the AWS account (keys, ids and images made locally).
LOCAL_PROVIDERS = ("random:", "tls:", "docker-build:", "pulumi:")


def is_free(resource: Resource) -> bool:
    """Components, local-only providers and the kinds listed in FREE."""
    return not resource.custom or resource.type in FREE or resource.type.startswith(LOCAL_PROVIDERS)


def charges(resource: Resource, graph: Graph, table: PriceTable) -> list[Charge]:
    """The resource's charges; `CannotPriceError` when it is billable and no rule prices it."""
    rule = RULES.get(resource.type)
    if rule is None:
        raise CannotPriceError("billable kind with no pricing rule (not listed as free either)")
    return rule(resource, graph, table)
