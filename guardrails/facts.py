"""Facts derived from a recorded graph that several rules, the waivers and the tests share.

Type tokens, references, policy documents, bucket settings, security-group rules and routes.
Everything here reads Pulumi wire names (camelCase) and resolves references between
resources through ids and ARNs (`Graph.by_id`), so it works on the offline graph and on the
graph the CrossGuard pack builds from a real stack's resources alike.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from conventions import naming
from resource_graph import Graph, Resource

KMS_KEY = "aws:kms/key:Key"
KMS_ALIAS = "aws:kms/alias:Alias"
BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LEGACY_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
QUEUE = "aws:sqs/queue:Queue"
TOPIC = "aws:sns/topic:Topic"
CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
SECRET = "aws:secretsmanager/secret:Secret"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
WORLD = ("0.0.0.0/0", "::/0")


# The deployment class the stack exports from its profile (`pulumi.export` in __main__.py).
PRODUCTION = "production"  # serves real payments
HIGH_AVAILABILITY = "high_availability"  # multi-AZ minimums; production requires it


def deployment_flag(graph: Graph, flag: str) -> bool:
    """Whether the stack's exported `flag` (PRODUCTION, HIGH_AVAILABILITY) holds it to its rules.

    Production-only rules key on these outputs, never on the environment's name, so `prod-eu`
    is held to them and a sandbox that happens to be called `prod` is not. The safe default:
    a flag that is unknown (None: a preview before the output resolves) or missing counts as
    true, so an environment whose class cannot be read is held to the stricter rules. A
    production stack is always held to the high-availability rules, as the profile requires.
    """
    value = graph.outputs.get(flag)
    if flag == HIGH_AVAILABILITY and deployment_flag(graph, PRODUCTION):
        return True
    if isinstance(value, bool):
        return value
    return str(value).lower() != "false" if value is not None else True


def as_list(value: Any) -> list[Any]:
    """A policy field or input that may be a scalar or a list, as a list (None -> [])."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def ref(graph: Graph, value: Any) -> Resource | None:
    """The resource an id or ARN input points at (None for unset or outside the stack)."""
    return graph.by_id(value) if isinstance(value, str) and value else None


def kms_key(graph: Graph, value: Any) -> Resource | None:
    """The customer-managed key an input names: key id, key ARN, alias name or alias ARN."""
    target = ref(graph, value)
    if target is None and isinstance(value, str):
        target = next(
            (a for a in graph.of_type(KMS_ALIAS) if value in (a.get("name"), a.state.get("arn"))),
            None,
        )
    if target is not None and target.type == KMS_ALIAS:
        target = ref(graph, target.get("targetKeyId"))
    return target if target is not None and target.type == KMS_KEY else None


def parse_json(value: Any) -> Any:
    """A JSON document input (policy, container definitions) parsed; dicts/lists pass through."""
    if isinstance(value, str) and value.strip():
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return None
    return value


def statements(document: Any) -> list[dict[str, Any]]:
    """The statements of a policy document (string or dict), each a dict."""
    doc = parse_json(document)
    if not isinstance(doc, Mapping):
        return []
    return [s for s in as_list(doc.get("Statement")) if isinstance(s, dict)]


def principals(statement: Mapping[str, Any]) -> list[str]:
    """Every principal value of a statement ("*" stays "*")."""
    principal = statement.get("Principal")
    if isinstance(principal, Mapping):
        return [str(p) for v in principal.values() for p in as_list(v)]
    return [str(p) for p in as_list(principal)]


def grants(statement: Mapping[str, Any], *actions: str) -> bool:
    """An Allow statement whose actions cover every one of `actions` (wildcards honoured)."""
    if statement.get("Effect") != "Allow":
        return False
    granted = [str(a).lower() for a in as_list(statement.get("Action"))]
    return all(any(fnmatch.fnmatchcase(a.lower(), g) for g in granted) for a in actions)


def allows(statement: Mapping[str, Any], principal: str, *actions: str) -> bool:
    """An Allow statement that grants `principal` every one of `actions` (wildcards honoured)."""
    return principal in principals(statement) and grants(statement, *actions)


def condition_keys(statement: Mapping[str, Any]) -> set[str]:
    """The condition keys a statement tests, lowercased, whatever the operator."""
    condition = statement.get("Condition") or {}
    if not isinstance(condition, Mapping):
        return set()
    return {
        str(k).lower() for block in condition.values() if isinstance(block, Mapping) for k in block
    }


# Condition keys that tie a wildcard principal to this account or a named source, which AWS
# (IAM Access Analyzer, Security Hub SQS.3/SNS.4/KMS.5) does not count as public.
SCOPING_KEYS = {
    "aws:sourcearn",
    "aws:sourceaccount",
    "aws:sourceowner",
    "aws:principalaccount",
    "aws:principalorgid",
    "aws:sourcevpce",
    "aws:sourcevpc",
    "kms:calleraccount",
}


def is_public_allow(statement: Mapping[str, Any]) -> bool:
    """An Allow to any principal without a condition that scopes it to an account or source."""
    if statement.get("Effect") != "Allow" or "*" not in principals(statement):
        return False
    return not condition_keys(statement) & SCOPING_KEYS


def denies_insecure_transport(document: Any) -> bool:
    """The document holds a Deny for every principal when aws:SecureTransport is false."""
    for statement in statements(document):
        if statement.get("Effect") != "Deny" or "*" not in principals(statement):
            continue
        for operator, block in (statement.get("Condition") or {}).items():
            if not str(operator).startswith("Bool") or not isinstance(block, Mapping):
                continue
            for key, value in block.items():
                if key.lower() == "aws:securetransport" and any(
                    str(v).lower() == "false" for v in as_list(value)
                ):
                    return True
    return False


def attached(graph: Graph, types: Iterable[str], key: str, target: Resource) -> list[Resource]:
    """Resources of `types` whose `key` input points at `target` (by id or ARN)."""
    ids = {target.id, target.state.get("arn"), target.state.get("url")} - {None, ""}
    return [r for r in graph.of_type(*types) if r.get(key) in ids]


def bucket_config(graph: Graph, bucket: Resource, kind: str) -> list[Resource]:
    """The separate S3 configuration resources (e.g. `bucketVersioning`) of a bucket."""
    types = [
        f"aws:s3/{kind}:{kind[0].upper()}{kind[1:]}",
        f"aws:s3/{kind}V2:{kind[0].upper()}{kind[1:]}V2",
    ]
    return attached(graph, types, "bucket", bucket)


def bucket_name(bucket: Resource) -> str:
    """A bucket's physical name, which other resources (trails, log delivery) refer to it by."""
    return str(bucket.get("bucket") or bucket.state.get("bucket") or bucket.id or bucket.name)


def bucket_policies(graph: Graph, bucket: Resource) -> list[Any]:
    """The policy documents of a bucket (separate BucketPolicy resources)."""
    docs = [
        p.get("policy")
        for p in attached(graph, ["aws:s3/bucketPolicy:BucketPolicy"], "bucket", bucket)
    ]
    return [d for d in docs if d]


def queue_policies(graph: Graph, queue: Resource) -> list[Any]:
    """The policy documents of a queue: its inline policy and separate QueuePolicy resources."""
    docs = [queue.get("policy")] + [
        p.get("policy")
        for p in attached(graph, ["aws:sqs/queuePolicy:QueuePolicy"], "queueUrl", queue)
    ]
    return [d for d in docs if d]


def topic_policies(graph: Graph, topic: Resource) -> list[Any]:
    """The policy documents of a topic: its inline policy and separate TopicPolicy resources."""
    docs = [topic.get("policy")] + [
        p.get("policy") for p in attached(graph, ["aws:sns/topicPolicy:TopicPolicy"], "arn", topic)
    ]
    return [d for d in docs if d]


def bucket_sse(graph: Graph, bucket: Resource) -> list[dict[str, Any]]:
    """The default-encryption settings of a bucket (applyServerSideEncryptionByDefault)."""
    return [
        rule.get("applyServerSideEncryptionByDefault") or {}
        for config in bucket_config(graph, bucket, "bucketServerSideEncryptionConfiguration")
        for rule in as_list(config.get("rules"))
    ]


def transaction_buckets(graph: Graph) -> list[Resource]:
    """The buckets holding transaction logs, which audit and storage rules treat as audit data."""
    prefix = naming.physical_name("transaction-logs", graph.suffix)
    return [b for b in graph.of_type(*BUCKETS) if bucket_name(b).startswith(prefix)]


def load_balancers(graph: Graph) -> list[Resource]:
    """The application load balancers: the edge rules (and their waivers) apply to these only."""
    return [
        lb
        for lb in graph.of_type(LOAD_BALANCER)
        if lb.get("loadBalancerType") in (None, "application")
    ]


def route_table_of(graph: Graph, carrier: Resource) -> Resource | None:
    """The route table a route belongs to (the table itself for an inline route)."""
    if carrier.type == "aws:ec2/routeTable:RouteTable":
        return carrier
    return ref(graph, carrier.get("routeTableId"))


def route_table_subnets(graph: Graph, table: Resource) -> set[str]:
    """The subnets associated with a route table, i.e. the subnets its routes apply to."""
    return {
        str(a.get("subnetId"))
        for a in attached(
            graph, ["aws:ec2/routeTableAssociation:RouteTableAssociation"], "routeTableId", table
        )
        if a.get("subnetId")
    }


def cluster_instances(graph: Graph, cluster: Resource) -> list[Resource]:
    """The instances of an Aurora cluster, in registration order (the first is the writer)."""
    ident = {cluster.id, cluster.get("clusterIdentifier")} - {None}
    return [i for i in graph.of_type(INSTANCE) if i.get("clusterIdentifier") in ident]


def cluster_parameters(graph: Graph, cluster: Resource) -> dict[str, str] | None:
    """The cluster parameter group's parameters, or None when the cluster uses the default group."""
    name = cluster.get("dbClusterParameterGroupName")
    for group in graph.of_type("aws:rds/clusterParameterGroup:ClusterParameterGroup"):
        if name and name in (group.id, group.get("name")):
            return {
                str(p.get("name")): str(p.get("value")) for p in as_list(group.get("parameters"))
            }
    return None


def has_replicas(group: Resource) -> bool:
    """A Redis replication group with a replica to fail over to."""
    return (
        int(group.get("numCacheClusters") or 1) > 1
        or int(group.get("replicasPerNodeGroup") or 0) > 0
    )


def log_group_for(graph: Graph, arn: Any) -> Resource | None:
    """The log group an ARN names (CloudTrail uses `...:log-group:<name>:*`)."""
    text = str(arn or "")
    found = ref(graph, text) or ref(graph, text.removesuffix(":*"))
    return found if found is not None and found.type == LOG_GROUP else None


def alb_security_group_ids(graph: Graph) -> set[str]:
    """Security groups attached to an internet-facing load balancer."""
    return {
        sg
        for lb in graph.of_type(LOAD_BALANCER)
        if not lb.get("internal")
        for sg in as_list(lb.get("securityGroups"))
    }


@dataclass(frozen=True)
class SgRule:
    """One security-group rule, whichever resource shape carried it."""

    carrier: Resource  # the rule resource, or the group holding an inline rule
    entry: str  # "" for a rule resource, "ingress[0]" for an inline entry
    group_id: str
    direction: str  # "ingress" | "egress"
    protocol: str  # "tcp", "udp", "icmp" or "-1" (all)
    from_port: int | None
    to_port: int | None
    cidrs: tuple[str, ...]
    peer_groups: tuple[str, ...]
    prefix_lists: tuple[str, ...]
    description: str | None

    def covers(self, port: int) -> bool:
        """True when traffic to `port` matches this rule."""
        if self.protocol == "-1":
            return True
        low = self.from_port if self.from_port is not None else 0
        high = self.to_port if self.to_port is not None else 65535
        if low == -1:
            return True
        return low <= port <= high

    @property
    def ports(self) -> str:
        """The protocol and port range as a violation message names them."""
        if self.protocol == "-1":
            return "all traffic"
        if self.from_port == self.to_port:
            return f"{self.protocol}/{self.from_port}"
        return f"{self.protocol}/{self.from_port}-{self.to_port}"


def _protocol(value: Any) -> str:
    text = str(value if value is not None else "-1").lower()
    return {"6": "tcp", "17": "udp", "1": "icmp", "all": "-1", "-1": "-1"}.get(text, text)


def _port(value: Any) -> int | None:
    return None if value is None else int(value)


def _rule_resources(graph: Graph) -> list[SgRule]:
    """Rules carried by SecurityGroupIngressRule / SecurityGroupEgressRule resources."""
    return [
        SgRule(
            carrier=r,
            entry="",
            group_id=str(r.get("securityGroupId")),
            direction="ingress" if r.type == INGRESS_RULE else "egress",
            protocol=_protocol(r.get("ipProtocol")),
            from_port=_port(r.get("fromPort")),
            to_port=_port(r.get("toPort")),
            cidrs=tuple(c for c in (r.get("cidrIpv4"), r.get("cidrIpv6")) if c),
            peer_groups=tuple(as_list(r.get("referencedSecurityGroupId"))),
            prefix_lists=tuple(as_list(r.get("prefixListId"))),
            description=r.get("description"),
        )
        for r in graph.of_type(INGRESS_RULE, EGRESS_RULE)
    ]


def _legacy_rule(r: Resource) -> SgRule:
    """A rule carried by the older SecurityGroupRule resource."""
    group_id = str(r.get("securityGroupId"))
    return SgRule(
        carrier=r,
        entry="",
        group_id=group_id,
        direction=str(r.get("type")),
        protocol=_protocol(r.get("protocol")),
        from_port=_port(r.get("fromPort")),
        to_port=_port(r.get("toPort")),
        cidrs=tuple(as_list(r.get("cidrBlocks")) + as_list(r.get("ipv6CidrBlocks"))),
        peer_groups=tuple(
            as_list(r.get("sourceSecurityGroupId")) + ([group_id] if r.get("self") else [])
        ),
        prefix_lists=tuple(as_list(r.get("prefixListIds"))),
        description=r.get("description"),
    )


def _inline_rules(sg: Resource) -> list[SgRule]:
    """The `ingress` and `egress` entries written inline in a SecurityGroup."""
    group_id = str(sg.id)
    return [
        SgRule(
            carrier=sg,
            entry=f"{direction}[{i}]",
            group_id=group_id,
            direction=direction,
            protocol=_protocol(e.get("protocol")),
            from_port=_port(e.get("fromPort")),
            to_port=_port(e.get("toPort")),
            cidrs=tuple(as_list(e.get("cidrBlocks")) + as_list(e.get("ipv6CidrBlocks"))),
            peer_groups=tuple(
                as_list(e.get("securityGroups")) + ([group_id] if e.get("self") else [])
            ),
            prefix_lists=tuple(as_list(e.get("prefixListIds"))),
            description=e.get("description"),
        )
        for direction in ("ingress", "egress")
        for i, e in enumerate(as_list(sg.get(direction)))
    ]


def sg_rules(graph: Graph) -> list[SgRule]:
    """Every security-group rule in the graph: rule resources and inline entries alike."""
    rules = _rule_resources(graph)
    rules += [_legacy_rule(r) for r in graph.of_type(LEGACY_RULE)]
    for sg in graph.of_type(SECURITY_GROUP):
        rules += _inline_rules(sg)
    return rules


def container_definitions(task_definition: Resource) -> list[dict[str, Any]]:
    """The container definitions of a task definition (a JSON string input), each a dict."""
    parsed = parse_json(task_definition.get("containerDefinitions"))
    return [c for c in as_list(parsed) if isinstance(c, dict)]


def identity_documents(graph: Graph) -> list[tuple[Resource, str, Any]]:
    """Identity-based policy documents: (carrier, label, document) for roles and policies."""
    docs: list[tuple[Resource, str, Any]] = []
    for r in graph.of_type("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"):
        docs.append((r, "", r.get("policy")))
    for role in graph.of_type("aws:iam/role:Role"):
        for i, inline in enumerate(as_list(role.get("inlinePolicies"))):
            if isinstance(inline, Mapping) and inline.get("policy"):
                docs.append((role, f"inlinePolicies[{i}]", inline.get("policy")))
    return docs


def role_policies(graph: Graph, role: Resource) -> list[tuple[Resource, str, Any]]:
    """(carrier, inline entry, document) of every identity policy that applies to a role."""
    role_refs = {role.id, role.get("name"), role.state.get("name"), role.state.get("arn")} - {
        None,
        "",
    }
    docs: list[tuple[Resource, str, Any]] = [
        (role, f"inlinePolicies[{i}]", inline.get("policy"))
        for i, inline in enumerate(as_list(role.get("inlinePolicies")))
        if isinstance(inline, Mapping)
    ]
    docs += [
        (p, "", p.get("policy"))
        for p in graph.of_type("aws:iam/rolePolicy:RolePolicy")
        if p.get("role") in role_refs
    ]
    for attachment in graph.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        if attachment.get("role") in role_refs:
            policy = ref(graph, attachment.get("policyArn"))
            if policy is not None:
                docs.append((policy, "", policy.get("policy")))
    return [d for d in docs if d[2]]


def role_documents(graph: Graph, role: Resource) -> list[Any]:
    """Every identity policy document that applies to a role (inline, role policies, attached)."""
    return [doc for _, _, doc in role_policies(graph, role)]


def execution_roles(graph: Graph) -> list[Resource]:
    """The roles ECS task definitions name as their execution role (the agent's, not the app's)."""
    found: dict[str, Resource] = {}
    for td in graph.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        role = role_by_arn(graph, td.get("executionRoleArn"))
        if role is not None:
            found.setdefault(role.urn, role)
    return list(found.values())


def role_by_arn(graph: Graph, arn: Any) -> Resource | None:
    """The IAM role of this stack an ARN input names (None for anything else)."""
    role = ref(graph, arn)
    return role if role is not None and role.type == "aws:iam/role:Role" else None


SERVICE = "aws:ecs/service:Service"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
SCALABLE_TARGET = "aws:appautoscaling/target:Target"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def named(graph: Graph, type_: str, service: str) -> list[Resource]:
    """Resources of a type whose explicit name is `payment-{service}-{suffix}` in this graph."""
    name = naming.physical_name(service, graph.suffix)
    return [r for r in graph.of_type(type_) if name in (r.get("name"), r.state.get("name"))]


def api_services(graph: Graph) -> list[Resource]:
    """The ECS services behind a load balancer: the ones taking the internet's traffic."""
    return [s for s in graph.of_type(SERVICE) if as_list(s.get("loadBalancers"))]


def api_task_definitions(graph: Graph) -> list[Resource]:
    """The task definitions the load-balanced (API) services run."""
    found = [ref(graph, s.get("taskDefinition")) for s in api_services(graph)]
    return [td for td in found if td is not None and td.type == TASK_DEFINITION]


def api_task_roles(graph: Graph) -> list[Resource]:
    """The task roles of the API's task definitions (the app's role, not the agent's)."""
    found = [role_by_arn(graph, td.get("taskRoleArn")) for td in api_task_definitions(graph)]
    return [role for role in found if role is not None]


# The physical-name service of the API's idempotency HMAC key (`payment-idempotency-<suffix>`).
IDEMPOTENCY_SECRET = "idempotency"


def idempotency_secrets(graph: Graph) -> list[Resource]:
    """The stack's idempotency secret (a list: empty when the stack has none)."""
    return named(graph, SECRET, IDEMPOTENCY_SECRET)


def _arn_tail(value: Any) -> str:
    """The name at the end of an ARN (`...:cluster/payment-cluster-dev` -> the cluster name)."""
    return str(value or "").rsplit("/", 1)[-1]


def scalable_targets(graph: Graph, service: Resource) -> list[Resource]:
    """The Application Auto Scaling targets that own a service's desired count."""
    cluster = ref(graph, service.get("cluster"))
    cluster_name = (cluster.get("name") if cluster else None) or _arn_tail(service.get("cluster"))
    resource_id = f"service/{cluster_name}/{service.get('name')}"
    return [
        t
        for t in graph.of_type(SCALABLE_TARGET)
        if t.get("resourceId") == resource_id
        and t.get("scalableDimension") == "ecs:service:DesiredCount"
    ]


def dead_letter_queues(graph: Graph) -> list[Resource]:
    """The queues some queue's redrive policy sends failed messages to."""
    targets = {
        (parse_json(q.get("redrivePolicy")) or {}).get("deadLetterTargetArn")
        for q in graph.of_type(QUEUE)
    }
    return [q for q in graph.of_type(QUEUE) if q.state.get("arn") in targets - {None}]


def arn_suffix(resource: Resource) -> str:
    """A load balancer's or target group's ARN suffix, the value of its CloudWatch dimension."""
    suffix = resource.state.get("arnSuffix")
    if suffix:
        return str(suffix)
    arn = str(resource.state.get("arn") or resource.id or "")
    return arn.split(":", 5)[-1].removeprefix("loadbalancer/")


@dataclass(frozen=True)
class AlarmMetric:
    """One metric an alarm watches: directly, or as a query of its metric math."""

    namespace: str
    name: str
    dimensions: Mapping[str, Any]
    statistic: str | None


def _dimensions(value: Any) -> dict[str, Any]:
    """Alarm dimensions as a map, whether given as one or as [{name, value}, ...]."""
    if isinstance(value, Mapping):
        return dict(value)
    return {str(d.get("name")): d.get("value") for d in as_list(value) if isinstance(d, Mapping)}


def alarm_metrics(alarm: Resource) -> list[AlarmMetric]:
    """Every metric an alarm evaluates, whether it names one metric or queries several."""
    found = []
    if alarm.get("metricName"):
        found.append(
            AlarmMetric(
                str(alarm.get("namespace")),
                str(alarm.get("metricName")),
                _dimensions(alarm.get("dimensions")),
                alarm.get("extendedStatistic") or alarm.get("statistic"),
            )
        )
    for query in as_list(alarm.get("metricQueries")):
        metric = (query or {}).get("metric") or {}
        if metric.get("metricName"):
            found.append(
                AlarmMetric(
                    str(metric.get("namespace")),
                    str(metric.get("metricName")),
                    _dimensions(metric.get("dimensions")),
                    metric.get("stat"),
                )
            )
    return found
