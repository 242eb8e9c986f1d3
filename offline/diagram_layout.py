"""Where each node of the architecture diagram is drawn, read from the recorded graph.

AWS reference diagrams nest boxes: the Region holds the VPC and the regional services; the VPC
holds its subnet tiers; each resource sits in the tier whose subnets it is attached to. All of it
comes from the graph, nothing is placed by hand:
- a tier is one family of subnets (`public-#`, `private-#`), public when its route table has a
  default route to an internet gateway, private otherwise; its label carries the subnet count,
  the route and the availability zones;
- a resource's tier is the tier of the subnets it names (load balancer subnets, the service's
  network configuration, endpoint subnets, the database and cache subnet groups, a gateway
  endpoint's route tables); inside a tier holding several roles, app, data and endpoints get a
  box each, and services of one ECS cluster are drawn inside that cluster's box;
- everything else is regional and stays outside the VPC, below it: messaging, storage, secrets
  and images in one box, and, at the bottom edge, keys, logs and audit (KMS keys, log groups,
  alarms, dashboards, trails, the buckets that only receive logs and the topic that only alarms
  publish to).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from offline.diagram_model import (
    GROUP,
    INTERNET,
    LOGS,
    PRIVATE_TIER,
    PUBLIC_TIER,
    REGION,
    TIMES,
    TRAFFIC,
    VPC,
    Cluster,
    Diagram,
    Edge,
    Node,
)
from resource_graph import Graph, Resource

SUBNET = "aws:ec2/subnet:Subnet"
ECS_SERVICE = "aws:ecs/service:Service"
ECS_CLUSTER = "aws:ecs/cluster:Cluster"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
CACHE = "aws:elasticache/replicationGroup:ReplicationGroup"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
ALB = "aws:lb/loadBalancer:LoadBalancer"
WAF = "aws:wafv2/webAcl:WebAcl"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"

# What a resource does inside its tier, and the box label for that role.
ROLES = {ECS_SERVICE: "app", RDS_CLUSTER: "data", RDS_INSTANCE: "data", CACHE: "data"}
ROLES |= {ENDPOINT: "endpoints", ALB: "edge"}
ROLE_LABELS = {"app": "app", "data": "data", "endpoints": "VPC endpoints", "edge": "load balancing"}
# The order boxes are written in. dot stacks sibling boxes in a rank bottom-up as written, so
# data, written after the endpoints, lands above them, beside the API on the request path.
ROLE_ORDER = ("edge", "app", "endpoints", "data")

# Regional groups outside the VPC, by resource type; OPS is the group at the edge.
OPS = "ops"
REGIONAL = {
    "aws:sqs/queue:Queue": "services",
    "aws:sns/topic:Topic": "services",
    "aws:s3/bucket:Bucket": "services",
    "aws:s3/bucketV2:BucketV2": "services",
    "aws:secretsmanager/secret:Secret": "services",
    "aws:ecr/repository:Repository": "services",
    "aws:kms/key:Key": OPS,
    "aws:cloudwatch/logGroup:LogGroup": OPS,
    "aws:cloudwatch/dashboard:Dashboard": OPS,
    "aws:cloudtrail/trail:Trail": OPS,
    ALARM: OPS,
}
# One box for messaging, storage, secrets and images: dot keeps the boxes inside one box in
# the order asked, but not sibling boxes of the VPC, and a second one drifted above the VPC.
GROUP_LABELS = {
    "services": "regional services: messaging, storage, secrets, images",
    OPS: "keys, logs and audit",
}
GROUP_ORDER = ("services", OPS)


@dataclass(frozen=True)
class Placement:
    """The boxes of one diagram and where every node goes (see `Diagram`)."""

    clusters: tuple[Cluster, ...]
    placement: tuple[tuple[str, str], ...]
    boxed: tuple[tuple[str, str], ...]
    request_path: tuple[str, ...]


@dataclass
class _Places:
    graph: Graph
    members: dict[str, str]  # resource urn -> node id
    nodes: dict[str, Node]
    edges: tuple[Edge, ...]
    types: dict[str, str] = field(default_factory=dict)  # node id -> resource type
    clusters: dict[str, Cluster] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)  # node id -> cluster id
    boxed: dict[str, str] = field(default_factory=dict)
    subnet_tier: dict[str, str] = field(default_factory=dict)  # subnet id -> tier cluster id

    def add(self, cluster: Cluster) -> str:
        self.clusters.setdefault(cluster.id, cluster)
        return cluster.id

    def touched(self, node_id: str) -> bool:
        return any(node_id in (e.source, e.target) for e in self.edges)


def place(
    graph: Graph, members: dict[str, str], nodes: dict[str, Node], edges: tuple[Edge, ...]
) -> Placement:
    """Boxes, placement and the request path for the nodes and edges built from `graph`."""
    p = _Places(graph, members, nodes, edges)
    for resource in graph:
        if resource.urn in members:
            p.types.setdefault(members[resource.urn], resource.type)
    region = p.add(Cluster("region", f"AWS Region {_region(graph)}", REGION))
    vpc = _vpc(p, region)
    if vpc is not None:
        _tiers(p, vpc)
        _in_tiers(p, vpc)
    _regional(p, region)
    order = {c: i for i, c in enumerate(p.clusters)}
    return Placement(
        clusters=tuple(p.clusters.values()),
        placement=tuple(sorted(p.where.items(), key=lambda kv: (order[kv[1]], kv[0]))),
        boxed=tuple(sorted(p.boxed.items())),
        request_path=_request_path(p),
    )


def _region(graph: Graph) -> str:
    """The Region of the environment, from the first regional ARN in the graph."""
    for resource in graph:
        arn = resource.state.get("arn")
        if isinstance(arn, str) and arn.count(":") >= 5 and arn.split(":")[3]:
            return arn.split(":")[3]
    return ""


def _vpc(p: _Places, region: str) -> str | None:
    vpcs = p.graph.of_type("aws:ec2/vpc:Vpc")
    if len(vpcs) != 1 or vpcs[0].urn not in p.members:
        return None
    node = p.members[vpcs[0].urn]
    cidr = vpcs[0].get("cidrBlock") or ""
    cluster = p.add(Cluster("vpc", f"VPC {cidr}".strip(), VPC, region))
    p.where[node] = cluster
    for gateway in p.graph.of_type("aws:ec2/internetGateway:InternetGateway"):
        if gateway.urn in p.members:
            p.where[p.members[gateway.urn]] = cluster
    return cluster


def _route_tables(graph: Graph) -> dict[str, str]:
    """Subnet id -> the id of the route table associated with it."""
    return {
        str(a.get("subnetId")): str(a.get("routeTableId"))
        for a in graph.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    }


def _internet_routes(graph: Graph) -> set[str]:
    """Route tables holding a default route to an internet gateway."""
    # NOTE: AWS calls a subnet public when its route table sends traffic to an internet gateway
    # and private otherwise (Amazon VPC user guide, as quoted in the Solutions Architect study
    # material); awsx's `VpcSubnetType` names a private subnet with no route at all, not even
    # through NAT, "isolated" (pulumi.com awsx classic.ec2.VpcSubnetType). The tier label says
    # which: "no route out of the VPC" is that isolated kind.
    gateways = {str(g.id) for g in graph.of_type("aws:ec2/internetGateway:InternetGateway")}
    found = {
        str(r.get("routeTableId"))
        for r in graph.of_type("aws:ec2/route:Route")
        if r.get("destinationCidrBlock") == "0.0.0.0/0" and str(r.get("gatewayId")) in gateways
    }
    for table in graph.of_type("aws:ec2/routeTable:RouteTable"):
        for route in table.get("routes") or []:
            if route.get("cidrBlock") == "0.0.0.0/0" and str(route.get("gatewayId")) in gateways:
                found.add(str(table.id))
    return found


def _tiers(p: _Places, vpc: str) -> None:
    """One box per subnet family, public or private by its route table, with its zones."""
    tables, internet = _route_tables(p.graph), _internet_routes(p.graph)
    families: dict[str, list[Resource]] = {}
    for subnet in p.graph.of_type(SUBNET):
        if subnet.urn in p.members:
            families.setdefault(p.members[subnet.urn], []).append(subnet)
    public_first = sorted(
        families.items(),
        key=lambda kv: (not any(tables.get(str(s.id)) in internet for s in kv[1]), kv[0]),
    )
    for node_id, subnets in public_first:
        node = p.nodes[node_id]
        public = any(tables.get(str(s.id)) in internet for s in subnets)
        tier = str((subnets[0].get("tags") or {}).get("Tier") or node.name)
        zones = sorted(
            {str(s.get("availabilityZoneId") or s.get("availabilityZone")) for s in subnets}
        )
        route = "route to the internet gateway" if public else "no route out of the VPC"
        count = f" {TIMES}{len(subnets)}" if len(subnets) > 1 else ""
        label = f"{tier} subnets{count}: {route}\n{', '.join(zones)}"
        cluster = p.add(
            Cluster(f"tier_{node.name}", label, PUBLIC_TIER if public else PRIVATE_TIER, vpc)
        )
        if not p.touched(node_id):
            p.boxed[node_id] = cluster
        p.where[node_id] = cluster
        for subnet in subnets:
            p.subnet_tier[str(subnet.id)] = cluster


def _subnets_of(p: _Places, resource: Resource) -> list[str]:
    """The subnets a resource is attached to, however its type names them."""
    graph = p.graph
    if resource.type == ALB:
        mappings = [m.get("subnetId") for m in resource.get("subnetMappings") or []]
        return [str(s) for s in (resource.get("subnets") or []) + mappings if s]
    if resource.type == ECS_SERVICE:
        return [str(s) for s in (resource.get("networkConfiguration") or {}).get("subnets") or []]
    if resource.type == ENDPOINT:
        if resource.get("vpcEndpointType") == "Gateway":
            tables = {str(t) for t in resource.get("routeTableIds") or []}
            return [s for s, t in _route_tables(graph).items() if t in tables]
        return [str(s) for s in resource.get("subnetIds") or []]
    if resource.type == RDS_INSTANCE:
        ident = resource.get("clusterIdentifier")
        owners = [c for c in graph.of_type(RDS_CLUSTER) if c.id == ident]
        return _subnets_of(p, owners[0]) if owners else []
    kinds = {
        RDS_CLUSTER: ("dbSubnetGroupName", "aws:rds/subnetGroup:SubnetGroup"),
        CACHE: ("subnetGroupName", "aws:elasticache/subnetGroup:SubnetGroup"),
    }
    if resource.type in kinds:
        key, group_type = kinds[resource.type]
        name = resource.get(key)
        for group in graph.of_type(group_type):
            if name in (group.state.get("name"), group.get("name"), group.id):
                return [str(s) for s in group.get("subnetIds") or []]
    return []


def _in_tiers(p: _Places, vpc: str) -> None:
    """Each resource into the tier of its subnets, in a role box where a tier holds several."""
    roles: dict[str, dict[str, list[Resource]]] = {}
    for resource in p.graph:
        node = p.members.get(resource.urn)
        if node is None or resource.type not in ROLES or node in p.where:
            continue
        tiers = {p.subnet_tier[s] for s in _subnets_of(p, resource) if s in p.subnet_tier}
        if len(tiers) == 1:
            roles.setdefault(tiers.pop(), {}).setdefault(ROLES[resource.type], []).append(resource)
        elif tiers:
            p.where[node] = vpc  # across tiers: drawn on the VPC, not in one tier
    for tier, by_role in roles.items():
        for role in sorted(by_role, key=ROLE_ORDER.index):
            target = tier
            if len(by_role) > 1:
                target = p.add(Cluster(f"{tier}_{role}", ROLE_LABELS[role], GROUP, tier))
            for resource in by_role[role]:
                p.where.setdefault(p.members[resource.urn], target)
            if role == "app":
                _ecs_box(p, by_role[role], target)


def _ecs_box(p: _Places, services: list[Resource], box: str) -> None:
    """When all of a box's services run in one ECS cluster, the box is drawn as that cluster."""
    by_arn = {str(c.state.get("arn") or c.id): c for c in p.graph.of_type(ECS_CLUSTER)}
    owners = {str(s.get("cluster")) for s in services}
    owner = by_arn.get(owners.pop()) if len(owners) == 1 else None
    if owner is None or owner.urn not in p.members or box not in p.clusters:
        return
    node = p.members[owner.urn]
    if p.touched(node):
        return
    cluster = p.clusters[box]
    label = f"{cluster.label}: ECS cluster {p.nodes[node].name} (Fargate)"
    p.clusters[box] = Cluster(cluster.id, label, cluster.style, cluster.parent)
    p.where[node] = box
    p.boxed[node] = box


def _regional(p: _Places, region: str) -> None:
    """Everything left: a regional group by type, the log-only stores at the edge."""
    groups: dict[str, list[str]] = {}
    for node_id, type_ in sorted(p.types.items()):
        if node_id in p.where:
            continue
        group = REGIONAL.get(type_)
        if group is not None and group != OPS and _only_receives_logs(p, node_id):
            group = OPS
        if group is None:
            if type_ == ECS_CLUSTER:
                continue  # a cluster with no service in a tier: left in the region below
            p.where[node_id] = region
            continue
        groups.setdefault(group, []).append(node_id)
    for group in sorted(groups, key=GROUP_ORDER.index):
        cluster = p.add(Cluster(f"regional_{group}", GROUP_LABELS[group], GROUP, region))
        for node_id in groups[group]:
            p.where[node_id] = cluster
    for node_id in p.types:
        p.where.setdefault(node_id, region)


def _only_receives_logs(p: _Places, node_id: str) -> bool:
    """A store fed only by log delivery, or a topic only alarms publish to, and nothing else."""
    inbound = [e for e in p.edges if e.target == node_id]
    outbound = [e for e in p.edges if e.source == node_id and e.kind != LOGS]
    alarms = {n for n, t in p.types.items() if t == ALARM}
    if not inbound:
        return False
    if all(e.kind == LOGS for e in inbound) and not outbound:
        return True
    return all(e.source in alarms for e in inbound)


def _request_path(p: _Places) -> tuple[str, ...]:
    """Internet -> WAF -> ALB -> the service behind it -> the data stores it reaches."""
    traffic = [e for e in p.edges if e.kind == TRAFFIC]

    def first(source: str, types: set[str]) -> str | None:
        found = sorted(
            e.target for e in traffic if e.source == source and p.types.get(e.target) in types
        )
        return found[0] if found else None

    alb = first(INTERNET, {ALB})
    if alb is None:
        return ()
    wafs = sorted(e.source for e in traffic if e.target == alb and p.types.get(e.source) == WAF)
    service = first(alb, {ECS_SERVICE})
    path: list[Any] = [INTERNET, *wafs[:1], alb]
    if service is not None:
        order = (RDS_CLUSTER, CACHE)
        stores = sorted(
            (e.target for e in traffic if e.source == service and p.types.get(e.target) in order),
            key=lambda n: (order.index(p.types[n]), n),
        )
        path += [service, *stores]
    return tuple(path)


def columns(diagram: Diagram) -> dict[str, int]:
    """The column (dot rank, left to right) of every drawn node.

    The request path sets the first columns (internet 0, WAF 1, ALB 2, service 3, data stores
    4) and a step's siblings in its box share its column (the worker under the API). Every
    other node stands one column right of what feeds it (a queue after the service that sends
    to it, a log group after its source), or, fed by nothing, one right of what it feeds (the
    image repository beside the services). What nothing reaches starts at the first column its
    box already uses (the VPC and its gateway beside the ALB, the alarms under the WAF's log
    group), sources first; nodes linked to nothing fill a row from there. Assigned round by
    round, so the result does not depend on iteration order.
    """
    drawn = {n.id for n in diagram.drawn()}
    edges = [e for e in diagram.edges if e.source in drawn and e.target in drawn]
    linked = {e.source for e in edges} | {e.target for e in edges}
    col: dict[str, int] = {}
    for i, step in enumerate(diagram.request_path):
        col[step] = min(i, 4)
    for step in list(col):
        box = diagram.cluster_of(step)
        for sibling in diagram.inside(box) if box else ():
            col.setdefault(sibling.id, col[step])
    while linked - set(col):
        known = dict(col)
        for node in sorted(linked - set(known)):
            fed = [known[e.source] for e in edges if e.target == node and e.source in known]
            feeds = [known[e.target] for e in edges if e.source == node and e.target in known]
            if fed or feeds:
                col[node] = max(fed or feeds) + 1
        if len(col) == len(known):  # nothing reachable: seed one, a source first
            rest = sorted(linked - set(col))
            sources = [n for n in rest if not any(e.target == n for e in edges)]
            seed = (sources or rest)[0]
            col[seed] = _first_column(diagram, col, seed)
    row: dict[str, int] = {}
    for node in sorted(drawn - set(col)):
        box = diagram.cluster_of(node) or ""
        col[node] = _first_column(diagram, col, node) + row.get(box, 0)
        row[box] = row.get(box, 0) + 1
    return col


def _first_column(diagram: Diagram, col: dict[str, int], node: str) -> int:
    """The leftmost column already used in the innermost box around `node` that uses any."""
    for box in reversed(diagram.ancestry(node)):
        used = [c for n, c in col.items() if box.id in {a.id for a in diagram.ancestry(n)}]
        if used:
            return min(used)
    return 1


def vertical_order(diagram: Diagram) -> list[str]:
    """Every drawn node, top to bottom: box by box as nested, then the nodes outside every box."""
    order: list[str] = []

    def walk(parent: str | None) -> None:
        order.extend(n.id for n in diagram.inside(parent))
        for cluster in diagram.children(parent):
            walk(cluster.id)

    for cluster in diagram.children(None):
        walk(cluster.id)
    return order + [n.id for n in diagram.inside(None)]
