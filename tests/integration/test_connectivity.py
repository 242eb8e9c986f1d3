"""Cross-resource connectivity, read from each environment's recorded graph.

- security groups: the only open paths are internet -> ALB 443/80 -> API tasks (container port)
  -> database 5432 / cache 6379 / interface endpoints 443 (and the worker's own way out);
- IAM: each task role reaches exactly the queues, topics, buckets, secrets and keys it uses;
- SNS -> SQS subscriptions are allowed by the queue's policy and key;
- every AWS API the tasks call has an interface endpoint (S3 uses the gateway endpoint).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from guardrails import facts
from guardrails.facts import as_list, kms_key, ref, statements
from guardrails.rules import endpoint_services
from offline.mocks import ACCOUNT_ID, REGION
from resource_graph import Graph, Resource
from tests.conftest import Graphs, load_profile

DB_PORT, CACHE_PORT, HTTPS = 5432, 6379, 443
# What the application code calls (app/payment_app): the API enqueues payments; the worker
# receives them, writes the transaction log to S3 and publishes events.
USES = {
    "api": {"PAYMENT_QUEUE_URL"},
    "worker": {
        "PAYMENT_QUEUE_URL",
        "PAYMENT_DLQ_URL",
        "EVENTS_TOPIC_ARN",
        "TRANSACTION_LOG_BUCKET",
    },
}


@dataclass(frozen=True)
class Roles:
    """Which security group plays which part, from the resources that use the groups."""

    by_group: dict[str, str]
    s3_prefix_list: str | None

    def peer(self, rule: facts.SgRule) -> str:
        if rule.peer_groups:
            return self.by_group.get(rule.peer_groups[0], f"unknown group {rule.peer_groups[0]}")
        if rule.prefix_lists:
            return (
                "s3"
                if rule.prefix_lists[0] == self.s3_prefix_list
                else f"prefix list {rule.prefix_lists[0]}"
            )
        if any(c in facts.WORLD for c in rule.cidrs):
            return "internet"
        return f"cidr {rule.cidrs}"


def services(graph: Graph) -> dict[str, Resource]:
    """ECS services by part: the one behind the load balancer is the API, the other the worker."""
    found = {}
    for service in graph.of_type("aws:ecs/service:Service"):
        found["api" if as_list(service.get("loadBalancers")) else "worker"] = service
    assert set(found) == {"api", "worker"}, (
        f"expected an API and a worker service, got {sorted(found)}"
    )
    return found


def roles(graph: Graph) -> Roles:
    by_group: dict[str, str] = {}

    def claim(part: str, groups: Any) -> None:
        for group in as_list(groups):
            assert by_group.setdefault(group, part) == part, (
                f"{group} is both {by_group[group]} and {part}"
            )

    for lb in graph.of_type("aws:lb/loadBalancer:LoadBalancer"):
        claim("alb", lb.get("securityGroups"))
    for part, service in services(graph).items():
        claim(part, (service.get("networkConfiguration") or {}).get("securityGroups"))
    for cluster in graph.of_type("aws:rds/cluster:Cluster"):
        claim("db", cluster.get("vpcSecurityGroupIds"))
    for group in graph.of_type("aws:elasticache/replicationGroup:ReplicationGroup"):
        claim("cache", group.get("securityGroupIds"))
    for ep in graph.of_type("aws:ec2/vpcEndpoint:VpcEndpoint"):
        if ep.get("vpcEndpointType") == "Interface":
            claim("endpoints", ep.get("securityGroupIds"))
    s3 = endpoint_services(graph).get("s3")
    return Roles(by_group, s3.state.get("prefixListId") if s3 is not None else None)


def _flows(graph: Graph) -> tuple[set[tuple[str, str, int]], list[str]]:
    """Open flows (source, destination, port) and the rule halves that open nothing."""
    parts = roles(graph)
    ingress: dict[tuple[str, str, int], list[facts.SgRule]] = defaultdict(list)
    egress: dict[tuple[str, str, int], list[facts.SgRule]] = defaultdict(list)
    problems: list[str] = []
    for rule in facts.sg_rules(graph):
        owner = parts.by_group.get(rule.group_id, f"unknown group {rule.group_id}")
        if rule.protocol != "tcp" or rule.from_port != rule.to_port or rule.from_port is None:
            problems.append(f"{rule.carrier.name}: {rule.ports} is not one TCP port")
            continue
        peer = parts.peer(rule)
        if rule.direction == "ingress":
            ingress[(peer, owner, rule.from_port)].append(rule)
        else:
            egress[(owner, peer, rule.from_port)].append(rule)
    external = {"internet", "s3"}
    open_flows = set()
    for flow in set(ingress) | set(egress):
        source, destination, _ = flow
        needs_in = destination not in external
        needs_out = source not in external
        if (not needs_in or flow in ingress) and (not needs_out or flow in egress):
            open_flows.add(flow)
        else:
            half = "ingress" if flow in ingress else "egress"
            names = [r.carrier.name for r in (ingress.get(flow) or egress.get(flow) or [])]
            problems.append(
                f"{source} -> {destination}:{flow[2]} has only its {half} half ({names})"
            )
    return open_flows, problems


def expected_flows(graph: Graph) -> set[tuple[str, str, int]]:
    port = load_profile(graph.env).compute.container_port
    flows = {("internet", "alb", HTTPS), ("internet", "alb", 80), ("alb", "api", port)}
    for tasks in ("api", "worker"):
        flows |= {
            (tasks, "db", DB_PORT),
            (tasks, "cache", CACHE_PORT),
            (tasks, "endpoints", HTTPS),
            (tasks, "s3", HTTPS),
        }
    return flows


def test_security_groups_open_exactly_the_designed_paths(graph: Graph) -> None:
    flows, problems = _flows(graph)
    assert not problems, "\n".join(problems)
    expected = expected_flows(graph)
    assert flows == expected, (
        f"unexpected {sorted(flows - expected)}; missing {sorted(expected - flows)}"
    )


def test_internet_reaches_data_only_through_the_api_tasks(graph: Graph) -> None:
    flows, _ = _flows(graph)
    reach: dict[str, set[str]] = defaultdict(set)
    for source, destination, _ in flows:
        reach[source].add(destination)
    assert reach["internet"] == {"alb"}
    assert reach["alb"] == {"api"}
    seen, frontier = {"internet"}, ["internet"]
    while frontier:
        for nxt in reach[frontier.pop()] - seen:
            seen.add(nxt)
            frontier.append(nxt)
    assert {"db", "cache", "endpoints"} <= seen
    into_data = {s for s, d, _ in flows if d in ("db", "cache")}
    assert into_data == {"api", "worker"}


def test_load_balancer_forwards_to_the_container_port(graph: Graph) -> None:
    port = load_profile(graph.env).compute.container_port
    api = services(graph)["api"]
    targets = as_list(api.get("loadBalancers"))
    assert [t.get("containerPort") for t in targets] == [port]
    group = ref(graph, targets[0].get("targetGroupArn"))
    assert group is not None and group.get("port") == port and group.get("targetType") == "ip"


# ------------------------------------------------------------------------------------- IAM


def _allowed(graph: Graph, role: Resource) -> dict[str, set[str]]:
    """Resource ARNs each service's actions are allowed on, from every policy of the role."""
    granted: dict[str, set[str]] = defaultdict(set)
    for doc in facts.role_documents(graph, role):
        for s in statements(doc):
            if s.get("Effect") != "Allow":
                continue
            for action in as_list(s.get("Action")):
                service = str(action).split(":")[0]
                granted[service] |= {str(r) for r in as_list(s.get("Resource"))}
    return granted


def _containers(graph: Graph, part: str) -> tuple[Resource, list[dict[str, Any]]]:
    task_def = ref(graph, services(graph)[part].get("taskDefinition"))
    assert task_def is not None
    return task_def, facts.container_definitions(task_def)


def _env(containers: list[dict[str, Any]]) -> dict[str, str]:
    return {e["name"]: str(e["value"]) for c in containers for e in as_list(c.get("environment"))}


def _resource_of(graph: Graph, value: str) -> Resource:
    found = ref(graph, value) or next(
        (b for b in graph.of_type(*facts.BUCKETS) if facts.bucket_name(b) == value), None
    )
    assert found is not None, f"{value} names nothing in the stack"
    return found


def _key_arn(graph: Graph, resource: Resource) -> str:
    if resource.type in facts.BUCKETS:
        sse = [
            rule.get("applyServerSideEncryptionByDefault") or {}
            for c in facts.bucket_config(graph, resource, "bucketServerSideEncryptionConfiguration")
            for rule in as_list(c.get("rules"))
        ]
        value = sse[0].get("kmsMasterKeyId") if sse else None
    else:
        value = resource.get("kmsMasterKeyId") or resource.get("kmsKeyId")
    key = kms_key(graph, value)
    assert key is not None, f"{resource.name} is not on a customer key of the stack"
    return str(key.state["arn"])


@pytest.mark.parametrize("part", ["api", "worker"])
def test_task_role_reaches_exactly_what_the_task_uses(graph: Graph, part: str) -> None:
    task_def, containers = _containers(graph, part)
    role = facts.role_by_arn(graph, task_def.get("taskRoleArn"))
    assert role is not None
    env = _env(containers)
    used = [_resource_of(graph, env[name]) for name in sorted(USES[part])]
    arns = {str(r.state["arn"]) for r in used}
    granted = _allowed(graph, role)
    data = {a for service in ("sqs", "sns", "s3") for a in granted.pop(service, set())}
    assert {re.sub(r"/\*$", "", a) for a in data} == arns, (
        f"{part}: grants {sorted(data)}, uses {sorted(arns)}"
    )
    # The migrations' secret (the API's only): read through Secrets Manager, decrypted by its key.
    secrets = {value for name, value in env.items() if name.endswith("_SECRET_ARN")}
    assert granted.pop("secretsmanager", set()) == secrets
    keys = {_key_arn(graph, r) for r in used} | {_secret_key(graph, s) for s in secrets}
    assert granted.pop("kms", set()) == keys
    # IAM authentication: exactly the database role and the cache user the task connects as.
    assert granted.pop("rds-db") == {_dbuser_arn(graph, env)}
    assert granted.pop("elasticache") == _cache_arns(graph, env)
    assert not granted, f"{part} task role grants more services: {sorted(granted)}"


def _dbuser_arn(graph: Graph, env: dict[str, str]) -> str:
    """The `rds-db:connect` resource of the role DB_USER on the cluster DB_HOST points at."""
    (cluster,) = [
        c
        for c in graph.of_type("aws:rds/cluster:Cluster")
        if c.state.get("endpoint") == env["DB_HOST"]
    ]
    resource_id = cluster.state["clusterResourceId"]
    return f"arn:aws:rds-db:{REGION}:{ACCOUNT_ID}:dbuser:{resource_id}/{env['DB_USER']}"


def _cache_arns(graph: Graph, env: dict[str, str]) -> set[str]:
    """The replication group REDIS_HOST is on (named REDIS_CACHE_NAME) and the user REDIS_USER."""
    (group,) = [
        g
        for g in graph.of_type(facts.REPLICATION_GROUP)
        if g.state.get("primaryEndpointAddress") == env["REDIS_HOST"]
    ]
    assert group.id == env["REDIS_CACHE_NAME"]
    (user,) = [
        u
        for u in graph.of_type("aws:elasticache/user:User")
        if u.get("userId") == env["REDIS_USER"]
    ]
    assert user.get("authenticationMode") == {"type": "iam"}
    return {str(group.state["arn"]), str(user.state["arn"])}


def _secret_key(graph: Graph, secret_arn: str) -> str:
    secret = ref(graph, secret_arn)
    if secret is not None:
        return _key_arn(graph, secret)
    for cluster in graph.of_type("aws:rds/cluster:Cluster"):  # the RDS-managed master secret
        for managed in as_list(cluster.state.get("masterUserSecrets")):
            if managed.get("secretArn") == secret_arn:
                key = kms_key(
                    graph, managed.get("kmsKeyId") or cluster.get("masterUserSecretKmsKeyId")
                )
                assert key is not None
                return str(key.state["arn"])
    raise AssertionError(f"secret {secret_arn} is not in the stack")


def test_execution_role_reaches_exactly_the_secrets_images_and_logs(graph: Graph) -> None:
    containers = [c for part in ("api", "worker") for c in _containers(graph, part)[1]]
    task_defs = [_containers(graph, part)[0] for part in ("api", "worker")]
    role_arns = {t.get("executionRoleArn") for t in task_defs}
    assert len(role_arns) == 1
    role = facts.role_by_arn(graph, role_arns.pop())
    assert role is not None
    granted = _allowed(graph, role)
    # valueFrom may select a JSON key (`<secret arn>:username::`): the secret is the first 7 fields.
    secrets = {
        ":".join(s["valueFrom"].split(":")[:7])
        for c in containers
        for s in as_list(c.get("secrets"))
    }
    assert granted.pop("secretsmanager", set()) == secrets
    assert granted.pop("kms", set()) == {_secret_key(graph, s) for s in secrets}
    repos = {str(c["image"]).split("@")[0].split(":")[0].split("/", 1)[1] for c in containers}
    assert granted.pop("ecr") == {"*"} | {
        f"arn:aws:ecr:{REGION}:{ACCOUNT_ID}:repository/{r}" for r in repos
    }
    groups = {c["logConfiguration"]["options"]["awslogs-group"] for c in containers}
    assert {a.removesuffix(":*").split(":log-group:")[1] for a in granted.pop("logs")} == groups
    assert not granted, f"execution role grants more services: {sorted(granted)}"


# ------------------------------------------------------------------------------ subscriptions


def test_every_sqs_subscription_is_allowed_by_the_queue(graph: Graph) -> None:
    subscriptions = [
        s
        for s in graph.of_type("aws:sns/topicSubscription:TopicSubscription")
        if s.get("protocol") == "sqs"
    ]
    assert subscriptions, "the events topic fans out to at least one queue"
    for sub in subscriptions:
        topic, queue = sub.get("topic"), ref(graph, sub.get("endpoint"))
        assert queue is not None and queue.type == facts.QUEUE, (
            f"{sub.name}: endpoint is not a queue of the stack"
        )
        allowed = [
            s
            for doc in facts.queue_policies(graph, queue)
            for s in statements(doc)
            if s.get("Effect") == "Allow"
            and "sns.amazonaws.com" in facts.principals(s)
            and "sqs:SendMessage" in as_list(s.get("Action"))
            and queue.state["arn"] in as_list(s.get("Resource"))
            and topic
            in [
                v
                for block in (s.get("Condition") or {}).values()
                for v in as_list(block.get("aws:SourceArn"))
            ]
        ]
        assert allowed, f"{sub.name}: {queue.name}'s policy does not let {topic} send"
        key = kms_key(graph, queue.get("kmsMasterKeyId"))
        assert key is not None
        # NOTE: SNS must be able to use the queue's key, or delivery to the encrypted queue fails.
        assert any(
            facts.allows(s, "sns.amazonaws.com", "kms:Decrypt", "kms:GenerateDataKey")
            for s in statements(key.get("policy"))
        ), f"{key.name} does not let SNS encrypt messages for {queue.name}"


# ---------------------------------------------------------------------------------- endpoints


# Services the task roles hold grants for that no request from the VPC ever reaches:
# rds-db:connect and elasticache:Connect authorize IAM tokens the app signs locally (the database
# and the cache check them); the KMS grants are used server-side by SQS, SNS, S3 and Secrets
# Manager on the task's behalf, and the app makes no KMS call of its own (checked below).
NOT_CALLED_FROM_THE_VPC = {"rds-db", "elasticache", "kms"}
APP_SOURCE = Path(__file__).resolve().parents[2] / "app" / "payment_app"


def _app_calls(service: str) -> list[str]:
    """Where the service's code creates a boto3 client for `service` (aws.client or boto3)."""
    pattern = re.compile(rf"""client\((?:settings,\s*)?["']{re.escape(service)}["']""")
    return [
        f"{path.relative_to(APP_SOURCE)}:{n}"
        for path in sorted(APP_SOURCE.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]


def test_every_service_the_tasks_call_has_an_endpoint(graph: Graph) -> None:
    called: set[str] = {"ecr.api", "ecr.dkr", "logs", "secretsmanager"}  # image pull, logs, secrets
    task_defs = [_containers(graph, part)[0] for part in ("api", "worker")]
    for arn in {t.get(k) for t in task_defs for k in ("taskRoleArn", "executionRoleArn")}:
        role = facts.role_by_arn(graph, arn)
        assert role is not None
        called |= set(_allowed(graph, role))
    called = {s for s in called if s != "ecr"} - {"s3"}  # ECR is api + dkr; S3 is the gateway
    called -= NOT_CALLED_FROM_THE_VPC
    assert not _app_calls("kms"), "the app calls KMS directly: it needs the KMS endpoint back"
    found = endpoint_services(graph)
    interface = {name for name, ep in found.items() if ep.get("vpcEndpointType") == "Interface"}
    assert interface == called, (
        f"missing {sorted(called - interface)}; unused {sorted(interface - called)}"
    )
    assert found["s3"].get("vpcEndpointType") == "Gateway"
    assert set(as_list(found["s3"].get("routeTableIds"))), (
        "the S3 gateway endpoint is on the private route tables"
    )


def test_an_extra_path_is_caught(graphs: Graphs) -> None:
    """The path check is not vacuous: a direct ALB -> database pair of rules shows up."""
    from dataclasses import replace

    from tests.guardrails.synth import res

    base = graphs.environment("dev")
    parts = {part: group for group, part in roles(base).by_group.items()}
    extra = (
        res(
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "db-in-alb",
            securityGroupId=parts["db"],
            referencedSecurityGroupId=parts["alb"],
            ipProtocol="tcp",
            fromPort=DB_PORT,
            toPort=DB_PORT,
            description="x",
        ),
        res(
            "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
            "alb-out-db",
            securityGroupId=parts["alb"],
            referencedSecurityGroupId=parts["db"],
            ipProtocol="tcp",
            fromPort=DB_PORT,
            toPort=DB_PORT,
            description="x",
        ),
    )
    flows, problems = _flows(replace(base, resources=base.resources + extra))
    assert not problems
    assert flows - expected_flows(base) == {("alb", "db", DB_PORT)}
