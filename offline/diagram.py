"""`diagram`: the architecture diagram, generated from the recorded graph of one environment.

Writes docs/architecture.dot (Graphviz, with AWS icons), docs/architecture.mmd (Mermaid), the
Mermaid block in docs/architecture.md between the `diagram` markers, and docs/architecture.png
when Graphviz `dot` and the `diagrams` package (its AWS icon set) are installed. Nothing is drawn
by hand:
- one node per main resource; counted families (subnets, database instances, interface
  endpoints, alarms) collapse into one node with a count; glue (policies, attachments, rules,
  route tables, bucket settings) is left out;
- edges come from the wiring the graph holds: security-group rules (traffic and port), task-role
  policies (who sends, consumes, publishes, writes), queue redrive and topic subscriptions,
  and log, trail and access-log delivery;
- boxes as in AWS reference diagrams (Region, VPC, subnet tiers with their zones, groups) come
  from subnets, route tables and attachments (`offline.diagram_layout`); the renderers are in
  `offline.diagram_render`.
Nodes and edges are sorted, so the same graph always renders the same text; `--check` exits 1
when a committed text file differs from a fresh render. The PNG is not compared (Graphviz
versions draw differently); the tests check that it exists and that the .dot renders cleanly.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offline.diagram_layout import place
from offline.diagram_model import (
    ALERT_EMAIL,
    DATA,
    INTERNET,
    LOGS,
    TIMES,
    TRAFFIC,
    Cluster,
    Diagram,
    Edge,
    Node,
)
from offline.diagram_render import render_dot, render_mermaid
from offline.matrix import resolve_env
from offline.recorder import ROOT, record
from offline.shape import family
from resource_graph import Graph, Resource

__all__ = [
    "ALERT_EMAIL",
    "DATA",
    "INTERNET",
    "LOGS",
    "TIMES",
    "TRAFFIC",
    "Cluster",
    "Diagram",
    "Edge",
    "Node",
    "build",
    "render_dot",
    "render_mermaid",
]

DOCS = ROOT / "docs"
MERMAID = DOCS / "architecture.mmd"
DOT = DOCS / "architecture.dot"
PNG = DOCS / "architecture.png"
MARKDOWN = DOCS / "architecture.md"
START, END = "<!-- diagram:start -->", "<!-- diagram:end -->"

# Main resource types: label, shape ("store" for data stores, "box" otherwise) and the AWS icon
# (a path under the `diagrams` package's resources folder).
KINDS: dict[str, tuple[str, str, str]] = {
    "aws:ec2/vpc:Vpc": ("VPC", "box", "aws/network/vpc.png"),
    "aws:ec2/subnet:Subnet": ("subnets", "box", "aws/network/private-subnet.png"),
    "aws:ec2/internetGateway:InternetGateway": (
        "internet gateway",
        "box",
        "aws/network/internet-gateway.png",
    ),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ("VPC endpoint", "box", "aws/network/endpoint.png"),
    "aws:kms/key:Key": ("KMS key", "box", "aws/security/key-management-service.png"),
    "aws:cloudwatch/logGroup:LogGroup": (
        "log group",
        "store",
        "aws/management/cloudwatch-logs.png",
    ),
    "aws:s3/bucket:Bucket": (
        "S3 bucket",
        "store",
        "aws/storage/simple-storage-service-s3-bucket.png",
    ),
    "aws:s3/bucketV2:BucketV2": (
        "S3 bucket",
        "store",
        "aws/storage/simple-storage-service-s3-bucket.png",
    ),
    "aws:rds/cluster:Cluster": ("Aurora PostgreSQL cluster", "store", "aws/database/aurora.png"),
    "aws:rds/clusterInstance:ClusterInstance": (
        "Aurora instances",
        "box",
        "aws/database/aurora-instance.png",
    ),
    "aws:elasticache/replicationGroup:ReplicationGroup": (
        "Valkey replication group",
        "store",
        "aws/database/elasticache-for-redis.png",
    ),
    "aws:secretsmanager/secret:Secret": ("secret", "store", "aws/security/secrets-manager.png"),
    "aws:sqs/queue:Queue": (
        "SQS queue",
        "store",
        "aws/integration/simple-queue-service-sqs-queue.png",
    ),
    "aws:sns/topic:Topic": (
        "SNS topic",
        "box",
        "aws/integration/simple-notification-service-sns-topic.png",
    ),
    "aws:lb/loadBalancer:LoadBalancer": (
        "ALB",
        "box",
        "aws/network/elb-application-load-balancer.png",
    ),
    "aws:wafv2/webAcl:WebAcl": ("WAF web ACL", "box", "aws/security/waf.png"),
    "aws:ecr/repository:Repository": (
        "ECR repository",
        "store",
        "aws/compute/ec2-container-registry.png",
    ),
    "aws:ecs/cluster:Cluster": ("ECS cluster", "box", "aws/compute/elastic-container-service.png"),
    "aws:ecs/service:Service": ("Fargate service", "box", "aws/compute/fargate.png"),
    "aws:cloudtrail/trail:Trail": ("CloudTrail trail", "box", "aws/management/cloudtrail.png"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": (
        "CloudWatch alarms",
        "box",
        "aws/management/cloudwatch-alarm.png",
    ),
    "aws:cloudwatch/dashboard:Dashboard": ("dashboard", "box", "aws/management/cloudwatch.png"),
}
EXTERNALS = (
    Node(INTERNET, "", "Internet clients", "", "external", icon="aws/general/users.png"),
    Node(ALERT_EMAIL, "", "on-call e-mail", "", "external", icon="aws/general/user.png"),
)
# Families collapsed by type whatever their logical names (one node per concern and type).
COLLAPSE_BY_TYPE = {"aws:cloudwatch/metricAlarm:MetricAlarm"}
INTERFACE_ENDPOINTS = "interface endpoints"

# Task-role actions that mean data moves, and which way: (prefix, label, resource -> role?).
IAM_FLOWS = (
    ("sqs:SendMessage", "send", False),
    ("sqs:ReceiveMessage", "consume", True),
    ("sns:Publish", "publish", False),
    ("s3:PutObject", "write", False),
)

_SLUG = re.compile(r"[^A-Za-z0-9]+")
_SG_KEYS = ("securityGroups", "vpcSecurityGroupIds", "securityGroupIds")


@dataclass
class _Builder:
    graph: Graph
    members: dict[str, str] = field(default_factory=dict)  # resource urn -> node id
    nodes: dict[str, Node] = field(default_factory=dict)
    lookup: dict[str, str] = field(default_factory=dict)  # id / ARN / name -> node id
    edges: set[Edge] = field(default_factory=set)

    def node_of(self, value: Any) -> str | None:
        """The node a resolved reference (id, ARN, name, ARN with a path) points at."""
        if not isinstance(value, str) or not value:
            return None
        for candidate in (value, value.removesuffix(":*"), value.split("/")[0], value):
            if candidate in self.lookup:
                return self.lookup[candidate]
        if value.startswith("arn:aws:s3:::"):
            return self.lookup.get(value.split(":::", 1)[1].split("/")[0])
        return None

    def edge(self, source: str | None, target: str | None, label: str, kind: str) -> None:
        if source and target and source != target:
            self.edges.add(Edge(source, target, label, kind))


def _family_key(resource: Resource, graph: Graph) -> tuple[str, str, str]:
    """(node key, kind, name) for a main resource: counted families share one key."""
    kind = KINDS[resource.type][0]
    if resource.type in COLLAPSE_BY_TYPE:
        return "all", kind, ""
    if (
        resource.type == "aws:ec2/vpcEndpoint:VpcEndpoint"
        and resource.get("vpcEndpointType") == "Interface"
    ):
        return "interface", INTERFACE_ENDPOINTS, ""
    stem = family(resource.name, graph.suffix).replace("-#", "").replace("_#", "")
    stem = stem.replace("{az}", "").strip("-_") or resource.name
    return stem, kind, stem


def _nodes(b: _Builder) -> None:
    graph = b.graph
    counts: dict[str, int] = {}
    for resource in graph:
        if not resource.custom or resource.type not in KINDS:
            continue
        concern = graph.concern(resource)
        stem, kind, name = _family_key(resource, graph)
        type_slug = resource.type.rsplit(":", 1)[-1]
        node_id = _SLUG.sub("_", f"{concern}_{type_slug}_{stem}").strip("_").lower()
        counts[node_id] = counts.get(node_id, 0) + 1
        b.members[resource.urn] = node_id
        _, shape, icon = KINDS[resource.type]
        b.nodes[node_id] = Node(node_id, concern, kind, name, shape, icon=icon)
        for key in ("arn", "name", "bucket", "url", "repositoryUrl"):
            value = resource.state.get(key)
            if isinstance(value, str) and value:
                b.lookup.setdefault(value, node_id)
        if resource.id:
            b.lookup.setdefault(resource.id, node_id)
    for node_id, count in counts.items():
        b.nodes[node_id] = dataclasses.replace(b.nodes[node_id], count=count)


def _security_groups(resource: Resource) -> list[str]:
    """The security groups a resource sits in (top level or in its network configuration)."""
    found: list[str] = []
    scopes: list[Any] = [resource.inputs, resource.inputs.get("networkConfiguration")]
    for scope in scopes:
        if isinstance(scope, dict):
            for key in _SG_KEYS:
                value = scope.get(key)
                if isinstance(value, list):
                    found += [v for v in value if isinstance(v, str)]
    return found


def _port(rule: dict[str, Any]) -> str:
    low, high = rule.get("fromPort"), rule.get("toPort")
    if str(rule.get("ipProtocol", rule.get("protocol", "tcp"))) == "-1":
        return "all"
    return str(low) if low == high or high is None else f"{low}-{high}"


def _rules(graph: Graph) -> Iterator[tuple[str, str, str | None, str | None, str | None, str]]:
    """Every security-group rule as (direction, group, peer group, peer CIDR, prefix list, port)."""
    for r in graph.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        yield (
            "ingress",
            r.get("securityGroupId"),
            r.get("referencedSecurityGroupId"),
            r.get("cidrIpv4"),
            r.get("prefixListId"),
            _port(dict(r.inputs)),
        )
    for r in graph.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"):
        yield (
            "egress",
            r.get("securityGroupId"),
            r.get("referencedSecurityGroupId"),
            r.get("cidrIpv4"),
            r.get("prefixListId"),
            _port(dict(r.inputs)),
        )
    for r in graph.of_type("aws:ec2/securityGroupRule:SecurityGroupRule"):
        cidrs = r.get("cidrBlocks") or [None]
        prefixes = r.get("prefixListIds") or [None]
        for cidr in cidrs:
            for prefix in prefixes:
                yield (
                    r.get("type"),
                    r.get("securityGroupId"),
                    r.get("sourceSecurityGroupId"),
                    cidr,
                    prefix,
                    _port(dict(r.inputs)),
                )
    for sg in graph.of_type("aws:ec2/securityGroup:SecurityGroup"):
        for direction in ("ingress", "egress"):
            for rule in sg.get(direction) or []:
                peers = (
                    [(s, None, None) for s in rule.get("securityGroups") or []]
                    + [(None, c, None) for c in rule.get("cidrBlocks") or []]
                    + [(None, None, p) for p in rule.get("prefixListIds") or []]
                )
                for peer, cidr, prefix in peers:
                    yield direction, str(sg.id), peer, cidr, prefix, _port(rule)


def _traffic(b: _Builder) -> None:
    """Security-group rules: who may open connections to whom, on which port."""
    holders: dict[str, set[str]] = {}
    for resource in b.graph:
        node = b.members.get(resource.urn)
        if node:
            for sg in _security_groups(resource):
                holders.setdefault(sg, set()).add(node)
    gateways = {
        str(r.state.get("prefixListId")): b.members[r.urn]
        for r in b.graph.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if r.get("vpcEndpointType") == "Gateway" and r.urn in b.members
    }
    for direction, group, peer, cidr, prefix, port in _rules(b.graph):
        own = holders.get(group or "", set())
        others = _peer_nodes(direction, peer, cidr, prefix, holders, gateways)
        for mine in own:
            for other in others:
                if direction == "ingress":
                    b.edge(other, mine, port, TRAFFIC)
                else:
                    b.edge(mine, other, port, TRAFFIC)


def _peer_nodes(
    direction: str,
    peer: str | None,
    cidr: str | None,
    prefix: str | None,
    holders: dict[str, set[str]],
    gateways: dict[str, str],
) -> set[str]:
    """The nodes on the other side of one rule: a group's holders, the internet, or S3."""
    if peer:
        return holders.get(peer, set())
    if cidr == "0.0.0.0/0" and direction == "ingress":
        return {INTERNET}
    if prefix and prefix in gateways:
        return {gateways[prefix]}
    return set()


def _statements(document: Any) -> Iterator[dict[str, Any]]:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return
    if isinstance(document, dict):
        statements = document.get("Statement", [])
        yield from [statements] if isinstance(statements, dict) else statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _role_policies(graph: Graph) -> dict[str, list[Any]]:
    """Role name or id -> the policy documents attached to it (inline and managed)."""
    found: dict[str, list[Any]] = {}
    for r in graph.of_type("aws:iam/rolePolicy:RolePolicy"):
        found.setdefault(str(r.get("role")), []).append(r.get("policy"))
    for r in graph.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        policy = graph.by_id(str(r.get("policyArn") or ""))
        if policy is not None:
            found.setdefault(str(r.get("role")), []).append(policy.get("policy"))
    return found


def _data(b: _Builder) -> None:
    """Task-role grants (send, consume, publish, write), queue redrive, topic subscriptions."""
    graph = b.graph
    policies = _role_policies(graph)
    for service in graph.of_type("aws:ecs/service:Service"):
        node = b.members.get(service.urn)
        task = graph.by_id(str(service.get("taskDefinition") or ""))
        if node is None or task is None:
            continue
        role = graph.by_id(str(task.get("taskRoleArn") or ""))
        if role is not None:
            docs = policies.get(str(role.id), []) + policies.get(str(role.get("name")), [])
            for document in docs:
                _grants(b, node, document)
        _containers(b, node, task)
    _redrives(b)
    _notifications(b)


def _grants(b: _Builder, node: str, document: Any) -> None:
    """Edges for the data-flow actions a task role's policy document allows."""
    for statement in _statements(document):
        if statement.get("Effect") != "Allow":
            continue
        actions = _as_list(statement.get("Action"))
        for action, label, inbound in IAM_FLOWS:
            if action not in actions:
                continue
            for arn in _as_list(statement.get("Resource")):
                target = b.node_of(arn)
                if inbound:
                    b.edge(target, node, label, DATA)
                else:
                    b.edge(node, target, label, DATA)


def _redrives(b: _Builder) -> None:
    """Each queue to its dead-letter queue, labelled with the receive count."""
    for queue in b.graph.of_type("aws:sqs/queue:Queue"):
        redrive = queue.get("redrivePolicy")
        if isinstance(redrive, str) and redrive:
            policy = json.loads(redrive)
            label = f"redrive after {policy.get('maxReceiveCount')} receives"
            b.edge(
                b.members.get(queue.urn), b.node_of(policy.get("deadLetterTargetArn")), label, DATA
            )


def _notifications(b: _Builder) -> None:
    """Topic subscriptions and alarm actions."""
    for sub in b.graph.of_type("aws:sns/topicSubscription:TopicSubscription"):
        topic = b.node_of(sub.get("topic"))
        if sub.get("protocol") == "email":
            b.edge(topic, ALERT_EMAIL, "e-mail", DATA)
        else:
            b.edge(topic, b.node_of(sub.get("endpoint")), "subscription", DATA)
    for alarm in b.graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        for action in (alarm.get("alarmActions") or []) + (alarm.get("okActions") or []):
            b.edge(b.members.get(alarm.urn), b.node_of(action), "alarm", DATA)


def _containers(b: _Builder, service: str, task: Resource) -> None:
    """Image pull, injected secrets and container logs from a task definition's containers."""
    raw = task.get("containerDefinitions")
    try:
        containers = json.loads(raw) if isinstance(raw, str) else raw or []
    except json.JSONDecodeError:
        return
    for container in containers:
        image = str(container.get("image") or "")
        repo = b.node_of(image.split("@")[0].split(":")[0])
        b.edge(repo, service, "image", DATA)
        for secret in container.get("secrets") or []:
            # valueFrom may name a JSON key after the ARN (`arn:...:secret:name-AbCdEf:key::`).
            arn = ":".join(str(secret.get("valueFrom") or "").split(":")[:7])
            b.edge(b.node_of(arn), service, "secret", DATA)
        options = (container.get("logConfiguration") or {}).get("options") or {}
        b.edge(service, b.node_of(options.get("awslogs-group")), "container logs", LOGS)


def _delivery(b: _Builder) -> None:
    """Logs and audit records: flow logs, trail, ALB, WAF, database, cache, access logs."""
    _audit_delivery(b)
    _edge_delivery(b)
    _store_delivery(b)


def _audit_delivery(b: _Builder) -> None:
    """Flow logs and the trail's files, events and data events."""
    graph = b.graph
    for flow in graph.of_type("aws:ec2/flowLog:FlowLog"):
        b.edge(
            b.node_of(flow.get("vpcId")), b.node_of(flow.get("logDestination")), "flow logs", LOGS
        )
    for trail in graph.of_type("aws:cloudtrail/trail:Trail"):
        node = b.members.get(trail.urn)
        b.edge(node, b.node_of(trail.get("s3BucketName")), "log files", LOGS)
        b.edge(node, b.node_of(trail.get("cloudWatchLogsGroupArn")), "events", LOGS)
        for selector in (trail.get("eventSelectors") or []) + (
            trail.get("advancedEventSelectors") or []
        ):
            for arn in _selector_arns(selector):
                b.edge(b.node_of(arn), node, "data events", LOGS)


def _edge_delivery(b: _Builder) -> None:
    """ALB access logs, the WAF association and WAF logs."""
    graph = b.graph
    for alb in graph.of_type("aws:lb/loadBalancer:LoadBalancer"):
        logs = alb.get("accessLogs") or {}
        if logs.get("enabled"):
            b.edge(b.members.get(alb.urn), b.node_of(logs.get("bucket")), "access logs", LOGS)
    for assoc in graph.of_type("aws:wafv2/webAclAssociation:WebAclAssociation"):
        b.edge(
            b.node_of(assoc.get("webAclArn")),
            b.node_of(assoc.get("resourceArn")),
            "filters",
            TRAFFIC,
        )
    for conf in graph.of_type("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"):
        for dest in conf.get("logDestinationConfigs") or []:
            b.edge(b.node_of(conf.get("resourceArn")), b.node_of(dest), "WAF logs", LOGS)


def _store_delivery(b: _Builder) -> None:
    """Database exports, cache logs and S3 server access logs."""
    graph = b.graph
    for cluster in graph.of_type("aws:rds/cluster:Cluster"):
        ident = cluster.get("clusterIdentifier")
        for export in cluster.get("enabledCloudwatchLogsExports") or []:
            # RDS writes exports to a fixed log group name per cluster and log type.
            target = b.node_of(f"/aws/rds/cluster/{ident}/{export}")
            b.edge(b.members.get(cluster.urn), target, f"{export} log", LOGS)
    for group in graph.of_type("aws:elasticache/replicationGroup:ReplicationGroup"):
        for conf in group.get("logDeliveryConfigurations") or []:
            target = b.node_of(conf.get("destination"))
            b.edge(b.members.get(group.urn), target, str(conf.get("logType")), LOGS)
    for logging in graph.of_type(
        "aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2"
    ):
        source, target = b.node_of(logging.get("bucket")), b.node_of(logging.get("targetBucket"))
        b.edge(source, target, "server access logs", LOGS)


def _selector_arns(selector: dict[str, Any]) -> Iterator[str]:
    for data in selector.get("dataResources") or []:
        yield from [str(v) for v in data.get("values") or []]
    for selector_field in selector.get("fieldSelectors") or []:
        if selector_field.get("field") == "resources.ARN":
            yield from [str(v) for v in selector_field.get("startsWiths") or []]
            yield from [str(v) for v in selector_field.get("equals") or []]


def build(graph: Graph) -> Diagram:
    """The diagram of one environment's graph."""
    b = _Builder(graph)
    _nodes(b)
    _traffic(b)
    _data(b)
    _delivery(b)
    # Edges with the same ends and kind merge their labels ("443, 80").
    merged: dict[tuple[str, str, str], set[str]] = {}
    for e in b.edges:
        merged.setdefault((e.source, e.target, e.kind), set()).add(e.label)
    edges = tuple(
        sorted(
            Edge(s, t, ", ".join(sorted(labels, key=_label_order)), k)
            for (s, t, k), labels in merged.items()
        )
    )
    used = {e.source for e in edges} | {e.target for e in edges}
    nodes = {n.id: n for n in EXTERNALS if n.id in used} | b.nodes
    where = place(graph, b.members, nodes, edges)
    return Diagram(
        env=graph.env,
        members=tuple(sorted(nodes.values(), key=lambda n: n.id)),
        clusters=where.clusters,
        placement=where.placement,
        boxed=where.boxed,
        edges=edges,
        request_path=where.request_path,
    )


def _label_order(label: str) -> tuple[int, str]:
    """Ports numerically descending would put 443 before 80; keep 443 first, then text."""
    return (0, f"{int(label):06d}") if label.isdigit() and label == "443" else (1, label)


def embed(markdown: str, mermaid: str) -> str:
    """The markdown with the Mermaid block between the diagram markers replaced."""
    if START not in markdown or END not in markdown:
        raise ValueError(f"{MARKDOWN.name} lacks the {START} / {END} markers")
    head, rest = markdown.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n```mermaid\n{mermaid}```\n{END}{tail}"


def rendered(graph: Graph) -> dict[Path, str]:
    """Every checked file and its fresh text."""
    diagram = build(graph)
    mermaid = render_mermaid(diagram)
    markdown = MARKDOWN.read_text() if MARKDOWN.is_file() else f"# Architecture\n\n{START}\n{END}\n"
    return {MERMAID: mermaid, DOT: render_dot(diagram), MARKDOWN: embed(markdown, mermaid)}


def stale(files: dict[Path, str]) -> list[Path]:
    """The files whose committed text differs from the fresh render."""
    return [p for p, text in files.items() if not p.is_file() or p.read_text() != text]


def _relative(paths: Iterable[Path]) -> str:
    return ", ".join(str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in paths)


def icon_dir() -> Path | None:
    """The `diagrams` package's resources folder (the AWS icons), when it is installed."""
    spec = importlib.util.find_spec("diagrams")
    if spec is None or spec.origin is None:
        return None
    resources = Path(spec.origin).parent.parent / "resources"
    return resources if resources.is_dir() else None


def render_image(dot_text: str, target: Path) -> None:
    """Render DOT text to a PNG with the icons embedded; raises when `dot` reports any error.

    The PNG, not an SVG, is the committed image: an SVG would reference the icon files by
    their absolute path on this machine, a PNG carries their pixels.
    """
    dot, icons = shutil.which("dot"), icon_dir()
    if dot is None or icons is None:
        raise FileNotFoundError("rendering needs Graphviz `dot` and the `diagrams` package")
    done = subprocess.run(
        [dot, f"-Gimagepath={icons}", "-Tpng", "-o", str(target)],
        input=dot_text,
        text=True,
        capture_output=True,
        check=False,
    )
    # dot exits 0 on a missing icon or a layout fallback, with the reason on stderr.
    if done.returncode != 0 or done.stderr.strip():
        raise RuntimeError(f"dot failed ({done.returncode}): {done.stderr.strip()}")


def cmd_diagram(args: argparse.Namespace) -> int:
    resolve_env(args.env)  # bad config stops here with the one-line errors
    files = rendered(record(args.env))
    if args.check:
        old = stale(files)
        if old:
            print(f"stale: {_relative(old)}; run `python -m offline diagram`")
            return 1
        print(f"up to date: {_relative(files)}")
        return 0
    DOCS.mkdir(exist_ok=True)
    for path, text in files.items():
        path.write_text(text)
    written = list(files)
    if shutil.which("dot") and icon_dir():
        render_image(files[DOT], PNG)
        written.append(PNG)
    else:
        print(
            f"{PNG.relative_to(ROOT)} not written: it needs Graphviz `dot` "
            "(scripts/install-services.sh) and the `diagrams` package (requirements-dev.txt)"
        )
    print(f"wrote {_relative(written)}")
    return 0


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("diagram", help="write the architecture diagram from the graph")
    parser.add_argument("--env", default="prod", help="environment to draw (default prod)")
    parser.add_argument("--check", action="store_true", help="fail when the files are stale")
    parser.set_defaults(func=cmd_diagram)
