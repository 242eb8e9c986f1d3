"""The guardrails: every row of /work/shared/SECURITY.md, plus the design's own invariants.

Each rule reads the recorded graph (inputs by Pulumi wire name, references resolved by id or
ARN) and returns one Violation per failed property, naming the resource, the reason and the
controls (Security Hub FSBP ids, PCI DSS requirements, cdk-nag rule names). Deliberate
exceptions are not decided here but in `guardrails.waivers`, so a rule states the control as
Security Hub would and the waiver says, once, why the mission overrides it.

TLS in transit is one rule (`tls-in-transit`: Aurora `rds.force_ssl`, Redis in-transit
encryption, deny-non-TLS in every bucket, queue and topic policy); the listener's TLS policy and
the HTTP redirect belong to the edge row (`edge-listeners`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from conventions import naming, tags
from guardrails import facts
from guardrails.facts import as_list, kms_key, ref, statements
from guardrails.model import Rule, Violation, subject
from resource_graph import Graph, Resource

Check = Callable[[Graph], list[Violation]]
RULES: list[Rule] = []


def rule(rule_id: str, title: str, *controls: str) -> Callable[[Check], Check]:
    """Register a check as a rule."""

    def register(check: Check) -> Check:
        RULES.append(Rule(rule_id, title, tuple(controls), check))
        return check

    return register


class Findings:
    """Collects the violations of one rule."""

    def __init__(self, rule_id: str) -> None:
        self.rule_id = rule_id
        self.items: list[Violation] = []

    def add(self, resource: Resource | str, reason: str, *controls: str, entry: str = "") -> None:
        name = resource if isinstance(resource, str) else subject(resource, entry)
        self.items.append(Violation(self.rule_id, tuple(controls), name, reason))

    def require(self, ok: bool, resource: Resource, reason: str, *controls: str) -> None:
        if not ok:
            self.add(resource, reason, *controls)


def _cmk(graph: Graph, value: Any) -> bool:
    return kms_key(graph, value) is not None


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


# ---------------------------------------------------------------------------------- network


@rule("network-subnets", "Subnets never auto-assign public IPs", "EC2.15")
def subnets_no_public_ip(graph: Graph) -> list[Violation]:
    f = Findings("network-subnets")
    for subnet in graph.of_type("aws:ec2/subnet:Subnet"):
        f.require(
            not _true(subnet.get("mapPublicIpOnLaunch")),
            subnet,
            "auto-assigns public IPs (mapPublicIpOnLaunch); the ALB needs none",
            "EC2.15",
        )
    return f.items


@rule(
    "network-flow-logs",
    "VPC flow logs, all traffic, to an encrypted log group",
    "EC2.6",
    "cdk-nag VPCFlowLogsEnabled",
)
def vpc_flow_logs(graph: Graph) -> list[Violation]:
    f = Findings("network-flow-logs")
    controls = ("EC2.6", "cdk-nag VPCFlowLogsEnabled")
    for vpc in graph.of_type("aws:ec2/vpc:Vpc"):
        logs = facts.attached(graph, ["aws:ec2/flowLog:FlowLog"], "vpcId", vpc)
        if not logs:
            f.add(vpc, "has no flow log", *controls)
        for log in logs:
            f.require(
                log.get("trafficType") == "ALL", log, "does not capture ALL traffic", *controls
            )
            destination = ref(graph, log.get("logDestination"))
            if destination is None or destination.type != "aws:cloudwatch/logGroup:LogGroup":
                f.add(log, "does not deliver to a CloudWatch log group of this stack", *controls)
            elif not _cmk(graph, destination.get("kmsKeyId")):
                f.add(log, f"log group {destination.name} is not on a customer key", *controls)
    return f.items


@rule("network-default-sg", "The VPC's default security group has no rules", "EC2.2")
def default_security_group(graph: Graph) -> list[Violation]:
    f = Findings("network-default-sg")
    for vpc in graph.of_type("aws:ec2/vpc:Vpc"):
        defaults = facts.attached(
            graph, ["aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"], "vpcId", vpc
        )
        if not defaults:
            f.add(
                vpc,
                "default security group not adopted and emptied (DefaultSecurityGroup)",
                "EC2.2",
            )
        for sg in defaults:
            f.require(
                not sg.get("ingress") and not sg.get("egress"),
                sg,
                "default security group has rules",
                "EC2.2",
            )
    return f.items


ADMIN_PORTS = (20, 21, 22, 23, 3389, 5985, 5986)
NETWORK_INGRESS = ("EC2.13", "EC2.14", "EC2.18", "EC2.19", "EC2.53", "EC2.54")


@rule(
    "network-ingress",
    "No ingress from the internet except the ALB on 443/80; no admin ports",
    *NETWORK_INGRESS,
)
def network_ingress(graph: Graph) -> list[Violation]:
    f = Findings("network-ingress")
    for r in facts.sg_rules(graph):
        if r.direction != "ingress":
            continue
        world = [c for c in r.cidrs if c in facts.WORLD]
        if world:
            f.add(
                r.carrier,
                f"ingress {r.ports} open to {', '.join(world)}",
                *NETWORK_INGRESS,
                entry=r.entry,
            )
        admin = [p for p in ADMIN_PORTS if r.covers(p)] if r.protocol in ("tcp", "-1") else []
        if admin:
            f.add(
                r.carrier,
                f"ingress {r.ports} reaches admin port(s) {admin}",
                "EC2.13",
                "EC2.14",
                "EC2.53",
                "EC2.54",
                entry=r.entry,
            )
    return f.items


@rule(
    "network-egress",
    "Egress only to needed destinations; every group and rule described",
    "AwsSolutions-EC27",
)
def network_egress(graph: Graph) -> list[Violation]:
    f = Findings("network-egress")
    for sg in graph.of_type(facts.SECURITY_GROUP):
        description = sg.get("description")
        f.require(
            bool(description) and description != "Managed by Pulumi",
            sg,
            "security group has no description",
            "AwsSolutions-EC27",
        )
    for r in facts.sg_rules(graph):
        if not r.description:
            f.add(
                r.carrier,
                f"{r.direction} rule {r.ports} has no description",
                "AwsSolutions-EC27",
                entry=r.entry,
            )
        if r.protocol == "-1":
            f.add(
                r.carrier,
                f"{r.direction} rule allows all protocols and ports",
                "AwsSolutions-EC27",
                entry=r.entry,
            )
        if r.direction == "egress" and any(c in facts.WORLD for c in r.cidrs):
            f.add(
                r.carrier,
                f"egress {r.ports} to the whole internet",
                "AwsSolutions-EC27",
                entry=r.entry,
            )
    return f.items


REQUIRED_ENDPOINTS = ("ecr.api", "ecr.dkr", "logs", "secretsmanager")


def endpoint_services(graph: Graph) -> dict[str, Resource]:
    """VPC endpoints by short service name (`com.amazonaws.us-east-1.ecr.api` -> `ecr.api`)."""
    found: dict[str, Resource] = {}
    for ep in graph.of_type("aws:ec2/vpcEndpoint:VpcEndpoint"):
        name = str(ep.get("serviceName") or "")
        short = re.sub(r"^com\.amazonaws\.[a-z0-9-]+\.", "", name)
        found[short] = ep
    return found


@rule(
    "network-endpoints",
    "ECR api/dkr and the other interface endpoints the tasks need",
    "EC2.55",
    "EC2.56",
)
def network_endpoints(graph: Graph) -> list[Violation]:
    f = Findings("network-endpoints")
    if not graph.of_type("aws:ec2/vpc:Vpc"):
        return []
    found = endpoint_services(graph)
    vpc = graph.of_type("aws:ec2/vpc:Vpc")[0]
    for service in REQUIRED_ENDPOINTS:
        ep = found.get(service)
        if ep is None:
            f.add(vpc, f"no interface endpoint for {service}", "EC2.55", "EC2.56")
            continue
        f.require(
            ep.get("vpcEndpointType") == "Interface",
            ep,
            f"{service} endpoint is not Interface",
            "EC2.55",
        )
        f.require(
            _true(ep.get("privateDnsEnabled")),
            ep,
            f"{service} endpoint has no private DNS",
            "EC2.55",
        )
    s3 = found.get("s3")
    if s3 is None or s3.get("vpcEndpointType") != "Gateway":
        f.add(vpc, "no S3 gateway endpoint (image layers come from S3)", "EC2.55")
    return f.items


@rule(
    "no-nat-gateway",
    "No NAT gateway: the private subnets reach AWS through endpoints only",
    "DESIGN no-NAT",
)
def no_nat_gateway(graph: Graph) -> list[Violation]:
    f = Findings("no-nat-gateway")
    for nat in graph.of_type("aws:ec2/natGateway:NatGateway"):
        f.add(nat, "NAT gateway present", "DESIGN no-NAT")
    for route, entry, target in _routes(graph):
        if target.get("natGatewayId"):
            f.add(route, "routes through a NAT gateway", "DESIGN no-NAT", entry=entry)
    return f.items


def _routes(graph: Graph) -> list[tuple[Resource, str, Any]]:
    """(carrier, inline entry, route dict) for route resources and inline routes."""
    found: list[tuple[Resource, str, Any]] = [
        (r, "", r.inputs) for r in graph.of_type("aws:ec2/route:Route")
    ]
    for table in graph.of_type("aws:ec2/routeTable:RouteTable"):
        for i, route in enumerate(as_list(table.get("routes"))):
            found.append((table, f"routes[{i}]", route))
    return found


def route_table_of(graph: Graph, carrier: Resource) -> Resource | None:
    if carrier.type == "aws:ec2/routeTable:RouteTable":
        return carrier
    return ref(graph, carrier.get("routeTableId"))


def route_table_subnets(graph: Graph, table: Resource) -> set[str]:
    return {
        str(a.get("subnetId"))
        for a in facts.attached(
            graph, ["aws:ec2/routeTableAssociation:RouteTableAssociation"], "routeTableId", table
        )
        if a.get("subnetId")
    }


@rule(
    "no-internet-route",
    "No default route to the internet gateway from the cardholder network",
    "PCI DSS 1.3.1",
    "PCI DSS 1.4.1",
)
def no_internet_route(graph: Graph) -> list[Violation]:
    f = Findings("no-internet-route")
    for carrier, entry, route in _routes(graph):
        destination = (
            route.get("destinationCidrBlock")
            or route.get("cidrBlock")
            or route.get("destinationIpv6CidrBlock")
            or route.get("ipv6CidrBlock")
        )
        gateway = str(route.get("gatewayId") or "")
        target = ref(graph, gateway)
        to_igw = gateway.startswith("igw-") or (
            target is not None and target.type == "aws:ec2/internetGateway:InternetGateway"
        )
        if destination in facts.WORLD and to_igw:
            f.add(
                carrier,
                f"default route {destination} to the internet gateway",
                "PCI DSS 1.3.1",
                "PCI DSS 1.4.1",
                entry=entry,
            )
    return f.items


# ------------------------------------------------------------------------------------- edge


def load_balancers(graph: Graph) -> list[Resource]:
    return [
        lb
        for lb in graph.of_type(facts.LOAD_BALANCER)
        if lb.get("loadBalancerType") in (None, "application")
    ]


@rule(
    "edge-alb-headers",
    "ALB drops invalid headers; desync mitigation defensive or strictest",
    "ELB.4",
    "ELB.12",
)
def alb_headers(graph: Graph) -> list[Violation]:
    f = Findings("edge-alb-headers")
    for lb in load_balancers(graph):
        f.require(
            _true(lb.get("dropInvalidHeaderFields")),
            lb,
            "does not drop invalid header fields",
            "ELB.4",
        )
        f.require(
            lb.get("desyncMitigationMode") in (None, "defensive", "strictest"),
            lb,
            f"desync mitigation is {lb.get('desyncMitigationMode')}",
            "ELB.12",
        )
    return f.items


@rule("edge-alb-access-logs", "ALB access logs enabled", "ELB.5")
def alb_access_logs(graph: Graph) -> list[Violation]:
    f = Findings("edge-alb-access-logs")
    for lb in load_balancers(graph):
        logs = lb.get("accessLogs") or {}
        f.require(
            _true(logs.get("enabled")) and bool(logs.get("bucket")),
            lb,
            "access logs are off",
            "ELB.5",
        )
    return f.items


@rule("edge-alb-multi-az", "ALB spans at least two AZs", "ELB.13")
def alb_multi_az(graph: Graph) -> list[Violation]:
    f = Findings("edge-alb-multi-az")
    for lb in load_balancers(graph):
        subnets = as_list(lb.get("subnets")) + as_list(lb.get("subnetMappings"))
        f.require(
            len(subnets) >= 2, lb, f"spans {len(subnets)} subnet(s); needs 2 AZs or more", "ELB.13"
        )
    return f.items


TLS_POLICIES = (
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
)
LISTENER = "aws:lb/listener:Listener"


def _redirects_to_https(actions: Any) -> bool:
    actions = as_list(actions)
    return bool(actions) and all(
        a.get("type") == "redirect" and (a.get("redirect") or {}).get("protocol") == "HTTPS"
        for a in actions
    )


@rule(
    "edge-listeners",
    "HTTPS listener with an ACM certificate and a TLS 1.3/1.2 policy; HTTP only redirects",
    "ELB.1",
    "ELB.17",
    "ELB.18",
    "PCI DSS 4.2.1",
)
def edge_listeners(graph: Graph) -> list[Violation]:
    f = Findings("edge-listeners")
    controls = ("ELB.1", "ELB.17", "ELB.18", "PCI DSS 4.2.1")
    for lb in load_balancers(graph):
        listeners = facts.attached(graph, [LISTENER], "loadBalancerArn", lb)
        if not any(li.get("protocol") == "HTTPS" for li in listeners):
            f.add(lb, "has no HTTPS listener", *controls)
        for li in listeners:
            protocol = li.get("protocol")
            if protocol == "HTTPS":
                f.require(
                    str(li.get("certificateArn") or "").startswith("arn:aws:acm:")
                    or (ref(graph, li.get("certificateArn")) or li).type
                    == "aws:acm/certificate:Certificate",
                    li,
                    "HTTPS listener without an ACM certificate",
                    *controls,
                )
                f.require(
                    li.get("sslPolicy") in TLS_POLICIES,
                    li,
                    f"TLS policy {li.get('sslPolicy')} is not a TLS 1.3/1.2 policy",
                    "ELB.17",
                    "PCI DSS 4.2.1",
                )
            elif protocol == "HTTP":
                f.require(
                    _redirects_to_https(li.get("defaultActions")),
                    li,
                    "HTTP listener does something other than redirect to HTTPS",
                    "ELB.1",
                    "PCI DSS 4.2.1",
                )
                for lr in facts.attached(
                    graph, ["aws:lb/listenerRule:ListenerRule"], "listenerArn", li
                ):
                    f.require(
                        _redirects_to_https(lr.get("actions")),
                        lr,
                        "rule on the HTTP listener does more than redirect to HTTPS",
                        "ELB.1",
                    )
            else:
                f.add(
                    li, f"listener protocol {protocol} (only HTTPS, and HTTP redirect)", *controls
                )
    return f.items


def _mentions(value: Any, needle: str) -> bool:
    return needle.lower() in str(value).lower()


@rule(
    "edge-waf",
    "WAF web ACL associated, with managed rule groups, a rate-based rule, metrics, logging",
    "ELB.16",
    "WAF.10",
    "WAF.11",
    "WAF.12",
)
def edge_waf(graph: Graph) -> list[Violation]:
    f = Findings("edge-waf")
    acls = graph.of_type("aws:wafv2/webAcl:WebAcl")
    associations = graph.of_type("aws:wafv2/webAclAssociation:WebAclAssociation")
    for lb in load_balancers(graph):
        linked = [a for a in associations if a.get("resourceArn") == lb.state.get("arn")]
        f.require(
            any(
                (ref(graph, a.get("webAclArn")) or a).type == "aws:wafv2/webAcl:WebAcl"
                for a in linked
            ),
            lb,
            "no WAF web ACL associated",
            "ELB.16",
        )
    for acl in acls:
        rules = (acl.get("rules"), acl.get("ruleJson"))
        f.require(
            _mentions(rules, "managedRuleGroupStatement"),
            acl,
            "no AWS managed rule group",
            "WAF.10",
        )
        f.require(_mentions(rules, "rateBasedStatement"), acl, "no rate-based rule", "WAF.10")
        visibility = [acl.get("visibilityConfig") or {}] + [
            r.get("visibilityConfig") or {}
            for r in as_list(acl.get("rules"))
            if isinstance(r, dict)
        ]
        f.require(
            all(_true(v.get("cloudwatchMetricsEnabled")) for v in visibility),
            acl,
            "CloudWatch metrics off on the ACL or a rule",
            "WAF.12",
        )
        logging = facts.attached(
            graph,
            ["aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"],
            "resourceArn",
            acl,
        )
        f.require(
            any(as_list(lg.get("logDestinationConfigs")) for lg in logging),
            acl,
            "web ACL logging is off",
            "WAF.11",
        )
    return f.items


# ---------------------------------------------------------------------------------- compute


@rule("compute-cluster", "Container Insights on; ECS Exec off (or logged with KMS)", "ECS.12")
def compute_cluster(graph: Graph) -> list[Violation]:
    f = Findings("compute-cluster")
    exec_logged = False
    for cluster in graph.of_type("aws:ecs/cluster:Cluster"):
        settings = {s.get("name"): s.get("value") for s in as_list(cluster.get("settings"))}
        f.require(
            settings.get("containerInsights") in ("enabled", "enhanced"),
            cluster,
            "Container Insights off",
            "ECS.12",
        )
        exec_config = (
            (cluster.get("configuration") or {}).get("executeCommandConfiguration")
        ) or {}
        exec_logged = exec_logged or (
            _cmk(graph, exec_config.get("kmsKeyId")) and exec_config.get("logging") == "OVERRIDE"
        )
    for service in graph.of_type("aws:ecs/service:Service"):
        f.require(
            not _true(service.get("enableExecuteCommand")) or exec_logged,
            service,
            "ECS Exec enabled without KMS-encrypted logging",
            "ECS.12",
        )
    return f.items


def _root_user(user: Any) -> bool:
    if not user:
        return True
    name = str(user).split(":")[0]
    return name in ("root", "0")


@rule(
    "compute-containers",
    "Containers not privileged, no host PID, read-only root, non-root user",
    "ECS.1",
    "ECS.3",
    "ECS.4",
    "ECS.5",
    "ECS.20",
)
def compute_containers(graph: Graph) -> list[Violation]:
    f = Findings("compute-containers")
    for td in graph.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        f.require(td.get("pidMode") != "host", td, "shares the host PID namespace", "ECS.3")
        f.require(
            td.get("networkMode") in (None, "awsvpc"), td, "network mode is not awsvpc", "ECS.1"
        )
        for c in facts.container_definitions(td):
            name = c.get("name")
            f.require(
                not _true(c.get("privileged")), td, f"container {name} is privileged", "ECS.4"
            )
            f.require(
                _true(c.get("readonlyRootFilesystem")),
                td,
                f"container {name} root file system is writable",
                "ECS.5",
            )
            f.require(
                not _root_user(c.get("user")),
                td,
                f"container {name} runs as root (no user)",
                "ECS.20",
            )
    return f.items


CREDENTIAL = re.compile(
    r"(PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY|API_KEY|ACCESS_KEY)", re.I
)
POINTER = re.compile(r"(_ARN|_ID|_NAME|_URL|_URI|_ENDPOINT|_HOST|_PORT|_REGION)$", re.I)


@rule(
    "compute-secrets-logging",
    "Credentials only through `secrets`; container logs to CloudWatch",
    "ECS.8",
    "ECS.9",
)
def compute_secrets_logging(graph: Graph) -> list[Violation]:
    f = Findings("compute-secrets-logging")
    for td in graph.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        for c in facts.container_definitions(td):
            name = c.get("name")
            for env in as_list(c.get("environment")):
                key = str(env.get("name", ""))
                if CREDENTIAL.search(key) and not POINTER.search(key):
                    f.add(
                        td,
                        f"container {name} passes {key} as a plain environment variable",
                        "ECS.8",
                    )
            for secret in as_list(c.get("secrets")):
                f.require(
                    str(secret.get("valueFrom", "")).startswith("arn:aws:"),
                    td,
                    f"container {name} secret {secret.get('name')} is not a Secrets Manager ARN",
                    "ECS.8",
                )
            driver = (c.get("logConfiguration") or {}).get("logDriver")
            f.require(
                driver == "awslogs",
                td,
                f"container {name} logs with {driver}, not awslogs",
                "ECS.9",
            )
    return f.items


@rule(
    "compute-roles-network",
    "Separate task and execution roles; no public IP; Fargate LATEST",
    "ECS.2",
    "ECS.10",
    "ECS.16",
)
def compute_roles_network(graph: Graph) -> list[Violation]:
    f = Findings("compute-roles-network")
    for td in graph.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        task, execution = td.get("taskRoleArn"), td.get("executionRoleArn")
        f.require(
            bool(task) and bool(execution) and task != execution,
            td,
            "needs separate task and execution roles",
            "ECS.16",
        )
    for service in graph.of_type("aws:ecs/service:Service"):
        network = service.get("networkConfiguration") or {}
        f.require(
            not _true(network.get("assignPublicIp")),
            service,
            "assigns public IPs",
            "ECS.2",
            "ECS.16",
        )
        fargate = service.get("launchType") == "FARGATE" or any(
            str(s.get("capacityProvider", "")).startswith("FARGATE")
            for s in as_list(service.get("capacityProviderStrategies"))
        )
        f.require(fargate, service, "does not run on Fargate", "ECS.10")
        f.require(
            service.get("platformVersion") in (None, "LATEST"),
            service,
            f"platform version pinned to {service.get('platformVersion')}",
            "ECS.10",
        )
    return f.items


@rule(
    "compute-ecr",
    "ECR scan on push, immutable tags, lifecycle policy, KMS, no open policy",
    "ECR.1",
    "ECR.2",
    "ECR.3",
)
def compute_ecr(graph: Graph) -> list[Violation]:
    f = Findings("compute-ecr")
    for repo in graph.of_type("aws:ecr/repository:Repository"):
        scan = repo.get("imageScanningConfiguration") or {}
        f.require(_true(scan.get("scanOnPush")), repo, "no scan on push", "ECR.1")
        f.require(
            str(repo.get("imageTagMutability")).startswith("IMMUTABLE"),
            repo,
            "image tags are mutable",
            "ECR.2",
        )
        enc = as_list(repo.get("encryptionConfigurations"))
        f.require(
            any(e.get("encryptionType") == "KMS" and _cmk(graph, e.get("kmsKey")) for e in enc),
            repo,
            "not encrypted with the customer key",
            "ECR.1",
        )
        lifecycle = facts.attached(
            graph, ["aws:ecr/lifecyclePolicy:LifecyclePolicy"], "repository", repo
        )
        f.require(bool(lifecycle), repo, "no lifecycle policy", "ECR.3")
        for policy in facts.attached(
            graph, ["aws:ecr/repositoryPolicy:RepositoryPolicy"], "repository", repo
        ):
            f.require(
                not any(facts.is_public_allow(s) for s in statements(policy.get("policy"))),
                policy,
                "repository policy open to any principal",
                "ECR.1",
            )
    return f.items


# --------------------------------------------------------------------------------- database

CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"


def cluster_instances(graph: Graph, cluster: Resource) -> list[Resource]:
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


@rule(
    "database-protection",
    "Storage on the customer key; not public; IAM auth; PostgreSQL and query logs; minor upgrades",
    "RDS.2",
    "RDS.12",
    "RDS.13",
    "RDS.27",
    "RDS.35",
    "RDS.37",
    "PCI DSS 3.5.1",
)
def database_protection(graph: Graph) -> list[Violation]:
    f = Findings("database-protection")
    for cluster in graph.of_type(CLUSTER):
        f.require(
            _true(cluster.get("storageEncrypted")) and _cmk(graph, cluster.get("kmsKeyId")),
            cluster,
            "storage not encrypted with the customer key",
            "RDS.27",
            "PCI DSS 3.5.1",
        )
        f.require(
            _true(cluster.get("iamDatabaseAuthenticationEnabled")),
            cluster,
            "IAM auth off",
            "RDS.12",
        )
        f.require(
            "postgresql" in as_list(cluster.get("enabledCloudwatchLogsExports")),
            cluster,
            "PostgreSQL log not exported to CloudWatch Logs",
            "RDS.37",
        )
        params = cluster_parameters(graph, cluster) or {}
        query_logging = params.get("log_min_duration_statement", "-1") != "-1" or params.get(
            "log_statement", "none"
        ) not in ("none",)
        f.require(
            query_logging,
            cluster,
            "no query logging (log_min_duration_statement / log_statement)",
            "RDS.37",
        )
        for instance in cluster_instances(graph, cluster):
            f.require(
                not _true(instance.get("publiclyAccessible")),
                instance,
                "publicly accessible",
                "RDS.2",
            )
            f.require(
                instance.get("autoMinorVersionUpgrade") is not False,
                instance,
                "auto minor version upgrade off",
                "RDS.13",
                "RDS.35",
            )
    return f.items


DEFAULT_ADMINS = {"postgres", "admin", "root", "rdsadmin", "administrator", "master"}


@rule(
    "database-resilience",
    "Backups with retention, tags copied to snapshots, multi-AZ in prod, non-default admin",
    "RDS.11",
    "RDS.15",
    "RDS.16",
    "RDS.24",
)
def database_resilience(graph: Graph) -> list[Violation]:
    f = Findings("database-resilience")
    for cluster in graph.of_type(CLUSTER):
        retention = int(cluster.get("backupRetentionPeriod") or 1)
        f.require(
            retention >= (7 if graph.env == "prod" else 1),
            cluster,
            f"backup retention {retention} day(s)",
            "RDS.11",
        )
        f.require(
            _true(cluster.get("copyTagsToSnapshot")),
            cluster,
            "tags not copied to snapshots",
            "RDS.16",
        )
        f.require(
            str(cluster.get("masterUsername") or "postgres") not in DEFAULT_ADMINS,
            cluster,
            "default admin user name",
            "RDS.24",
        )
        if graph.env == "prod":
            count = len(cluster_instances(graph, cluster))
            f.require(
                count >= 2,
                cluster,
                f"{count} instance(s); prod needs a reader in another AZ",
                "RDS.15",
            )
    return f.items


@rule(
    "database-credentials",
    "Master password managed by RDS on the customer key; Performance Insights on it",
    "RDS.6",
)
def database_credentials(graph: Graph) -> list[Violation]:
    f = Findings("database-credentials")
    for cluster in graph.of_type(CLUSTER):
        f.require(
            _true(cluster.get("manageMasterUserPassword"))
            and _cmk(graph, cluster.get("masterUserSecretKmsKeyId"))
            and not cluster.get("masterPassword"),
            cluster,
            "master password not managed by RDS in Secrets Manager on the customer key",
            "RDS.6",
        )
        for r in [cluster, *cluster_instances(graph, cluster)]:
            if _true(r.get("performanceInsightsEnabled")):
                f.require(
                    _cmk(graph, r.get("performanceInsightsKmsKeyId")),
                    r,
                    "Performance Insights not on the customer key",
                    "RDS.6",
                )
    return f.items


# ------------------------------------------------------------------------------------ cache

REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"


def has_replicas(group: Resource) -> bool:
    return (
        int(group.get("numCacheClusters") or 1) > 1
        or int(group.get("replicasPerNodeGroup") or 0) > 0
    )


@rule(
    "cache-encryption",
    "Redis at rest on the customer key; AUTH token (in transit: tls-in-transit)",
    "ElastiCache.4",
    "ElastiCache.6",
)
def cache_encryption(graph: Graph) -> list[Violation]:
    f = Findings("cache-encryption")
    for group in graph.of_type(REPLICATION_GROUP):
        f.require(
            _true(group.get("atRestEncryptionEnabled")) and _cmk(graph, group.get("kmsKeyId")),
            group,
            "not encrypted at rest with the customer key",
            "ElastiCache.4",
        )
        f.require(
            bool(group.get("authToken") or group.get("authTokenWo") or group.get("userGroupIds")),
            group,
            "no AUTH token or user group",
            "ElastiCache.6",
        )
    return f.items


@rule(
    "cache-resilience",
    "Failover and multi-AZ with replicas; backups; minor upgrades; own subnet group",
    "ElastiCache.1",
    "ElastiCache.2",
    "ElastiCache.3",
    "ElastiCache.7",
)
def cache_resilience(graph: Graph) -> list[Violation]:
    f = Findings("cache-resilience")
    groups = graph.of_type("aws:elasticache/subnetGroup:SubnetGroup")
    for group in graph.of_type(REPLICATION_GROUP):
        if has_replicas(group):
            f.require(
                _true(group.get("automaticFailoverEnabled")) and _true(group.get("multiAzEnabled")),
                group,
                "replicas without automatic failover and multi-AZ",
                "ElastiCache.3",
            )
        f.require(
            int(group.get("snapshotRetentionLimit") or 0) >= 1,
            group,
            "no automatic backups",
            "ElastiCache.1",
        )
        f.require(
            group.get("autoMinorVersionUpgrade") is not False
            and group.get("autoMinorVersionUpgrade") != "false",
            group,
            "auto minor version upgrade off",
            "ElastiCache.2",
        )
        name = group.get("subnetGroupName")
        f.require(
            any(name in (g.id, g.get("name")) for g in groups) and bool(name),
            group,
            "not in its own subnet group",
            "ElastiCache.7",
        )
    return f.items


# -------------------------------------------------------------------------------- messaging


def dead_letter_arns(graph: Graph) -> dict[str, str]:
    """Queue ARN -> its dead-letter target ARN, from inline or separate redrive policies."""
    found: dict[str, str] = {}
    for queue in graph.of_type(facts.QUEUE):
        policy = facts.parse_json(queue.get("redrivePolicy"))
        if isinstance(policy, dict) and policy.get("deadLetterTargetArn"):
            found[str(queue.state.get("arn"))] = str(policy["deadLetterTargetArn"])
    for r in graph.of_type("aws:sqs/redrivePolicy:RedrivePolicy"):
        source = ref(graph, r.get("queueUrl"))
        policy = facts.parse_json(r.get("redrivePolicy"))
        if source is not None and isinstance(policy, dict) and policy.get("deadLetterTargetArn"):
            found[str(source.state.get("arn"))] = str(policy["deadLetterTargetArn"])
    return found


@rule(
    "messaging-encryption",
    "Every queue (DLQs too) and topic on the customer key; every queue has a DLQ",
    "SQS.1",
    "cdk-nag SNSEncryptedKMS",
)
def messaging_encryption(graph: Graph) -> list[Violation]:
    f = Findings("messaging-encryption")
    redrives = dead_letter_arns(graph)
    dlqs = set(redrives.values())
    for queue in graph.of_type(facts.QUEUE):
        f.require(
            _cmk(graph, queue.get("kmsMasterKeyId")),
            queue,
            "not encrypted with the customer key",
            "SQS.1",
        )
        arn = str(queue.state.get("arn"))
        if arn in dlqs:
            continue
        target = ref(graph, redrives.get(arn))
        f.require(
            target is not None and target.type == facts.QUEUE,
            queue,
            "has no dead-letter queue",
            "SQS.1",
        )
    for topic in graph.of_type(facts.TOPIC):
        f.require(
            _cmk(graph, topic.get("kmsMasterKeyId")),
            topic,
            "not encrypted with the customer key",
            "cdk-nag SNSEncryptedKMS",
        )
    return f.items


@rule(
    "messaging-policies",
    "Queue and topic policies are not public (deny non-TLS: tls-in-transit)",
    "SQS.3",
    "SNS.4",
)
def messaging_policies(graph: Graph) -> list[Violation]:
    f = Findings("messaging-policies")
    for queue in graph.of_type(facts.QUEUE):
        for doc in facts.queue_policies(graph, queue):
            if any(facts.is_public_allow(s) for s in statements(doc)):
                f.add(queue, "queue policy allows any principal", "SQS.3")
    for topic in graph.of_type(facts.TOPIC):
        for doc in facts.topic_policies(graph, topic):
            if any(facts.is_public_allow(s) for s in statements(doc)):
                f.add(topic, "topic policy allows any principal", "SNS.4")
    return f.items


# ------------------------------------------------------------------------------------- keys


@rule(
    "keys",
    "Customer keys rotate, have no wildcard principals, are enabled",
    "KMS.3",
    "KMS.4",
    "KMS.5",
)
def keys(graph: Graph) -> list[Violation]:
    f = Findings("keys")
    for key in graph.of_type(facts.KMS_KEY):
        f.require(_true(key.get("enableKeyRotation")), key, "rotation off", "KMS.4")
        f.require(key.get("isEnabled") is not False, key, "disabled", "KMS.3")
        policy = key.get("policy")
        f.require(bool(policy), key, "no explicit key policy", "KMS.5")
        for s in statements(policy):
            f.require(
                not facts.is_public_allow(s),
                key,
                f"statement {s.get('Sid', '')} allows any principal",
                "KMS.5",
            )
    return f.items


# ---------------------------------------------------------------------------------- secrets

SECRET = "aws:secretsmanager/secret:Secret"


@rule(
    "secrets",
    "Every secret on the customer key; rotation where the secret supports it",
    "SecretsManager.1",
    "SecretsManager.2",
    "SecretsManager.4",
)
def secrets(graph: Graph) -> list[Violation]:
    f = Findings("secrets")
    rotations = graph.of_type("aws:secretsmanager/secretRotation:SecretRotation")
    for secret in graph.of_type(SECRET):
        f.require(
            _cmk(graph, secret.get("kmsKeyId")),
            secret,
            "not encrypted with the customer key",
            "SecretsManager.1",
        )
        own = [r for r in rotations if r.get("secretId") in (secret.id, secret.state.get("arn"))]
        if not own:
            f.add(secret, "no automatic rotation", "SecretsManager.1", "SecretsManager.4")
        for r in own:
            days = (r.get("rotationRules") or {}).get("automaticallyAfterDays")
            f.require(
                days is None or int(days) <= 90,
                r,
                f"rotates every {days} days (> 90)",
                "SecretsManager.4",
            )
    return f.items


# -------------------------------------------------------------------------------------- iam

# Actions that AWS does not scope to a resource, so "Resource": "*" is the only option.
STAR_RESOURCE_ACTIONS = {
    "ecr:getauthorizationtoken",  # registry-wide token, no resource-level permission
    "cloudwatch:putmetricdata",  # no resource type; scope with cloudwatch:namespace instead
    "xray:puttracesegments",
    "xray:puttelemetryrecords",
    "xray:getsamplingrules",
    "xray:getsamplingtargets",
    "logs:describeloggroups",  # lists groups; flow-log delivery calls it account-wide
}
# Services whose ARNs may end in a trailing wildcard below an exact resource (objects of one
# bucket, streams of one log group); everything else must name exact ARNs.
TRAILING_WILDCARD_OK = {"s3", "logs"}
ADMIN_MANAGED_POLICIES = re.compile(
    r"arn:aws:iam::aws:policy/(AdministratorAccess|PowerUserAccess|IAMFullAccess|.*FullAccess)$"
)
ALLOWED_MANAGED_POLICIES = {"arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"}
IAM_CONTROLS = ("IAM.1", "IAM.21", "KMS.1", "KMS.2")


def _resource_ok(resource: str) -> bool:
    if "*" not in resource:
        return True
    parts = resource.split(":", 5)
    if len(parts) < 6 or parts[2] not in TRAILING_WILDCARD_OK:
        return False
    head, _, tail = resource.rpartition("*")
    return tail == "" and "*" not in head and head.endswith(("/", ":")) and len(parts[5]) > 2


def _wild_action(action: str) -> bool:
    return action == "*" or action.endswith(":*")


def _bad_action_statement(f: Findings, carrier: Resource, entry: str, s: dict[str, Any]) -> None:
    if s.get("Effect") != "Allow":
        return  # a Deny with wildcards only narrows access
    actions = [str(a) for a in as_list(s.get("Action"))]
    if "NotAction" in s:
        f.add(
            carrier, "Allow with NotAction grants everything else", "IAM.1", "IAM.21", entry=entry
        )
    if "*" in actions:
        f.add(carrier, 'Allow on action "*"', "IAM.1", "IAM.21", entry=entry)


@rule(
    "iam",
    "No admin or `*` statements; exact resource ARNs; trust policies scoped to a service",
    *IAM_CONTROLS,
)
def iam(graph: Graph) -> list[Violation]:
    f = Findings("iam")
    for carrier, entry, doc in facts.identity_documents(graph):
        for s in statements(doc):
            _bad_action_statement(f, carrier, entry, s)
            if s.get("Effect") != "Allow":
                continue
            actions = [str(a).lower() for a in as_list(s.get("Action"))]
            for action in actions:
                if action != "*" and _wild_action(action):
                    f.add(
                        carrier,
                        f"Allow on every action of a service ({action})",
                        "IAM.21",
                        entry=entry,
                    )
            for resource in (str(r) for r in as_list(s.get("Resource"))):
                if resource == "*":
                    extra = [a for a in actions if a not in STAR_RESOURCE_ACTIONS]
                    if extra:
                        controls = (
                            ("KMS.1", "KMS.2")
                            if any(a.startswith("kms:") for a in extra)
                            else ("IAM.1",)
                        )
                        f.add(
                            carrier,
                            f'Resource "*" for {sorted(extra)}',
                            *controls,
                            "IAM.21",
                            entry=entry,
                        )
                elif not _resource_ok(resource):
                    f.add(carrier, f"wildcard resource {resource}", "IAM.21", "KMS.2", entry=entry)
            if "NotResource" in s:
                f.add(carrier, "Allow with NotResource", "IAM.21", entry=entry)
    for role in graph.of_type("aws:iam/role:Role"):
        for s in statements(role.get("assumeRolePolicy")):
            if s.get("Effect") != "Allow":
                continue
            principal = s.get("Principal")
            services = as_list(principal.get("Service")) if isinstance(principal, dict) else []
            ok = (
                isinstance(principal, dict)
                and set(principal) == {"Service"}
                and all(str(x).endswith(".amazonaws.com") for x in services)
            )
            f.require(
                ok,
                role,
                f"trust policy not scoped to an AWS service principal ({principal})",
                "IAM.1",
            )
    for attachment in graph.of_type(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/policyAttachment:PolicyAttachment",
    ):
        arn = str(attachment.get("policyArn") or "")
        if ADMIN_MANAGED_POLICIES.match(arn) or (
            arn.startswith("arn:aws:iam::aws:policy/") and arn not in ALLOWED_MANAGED_POLICIES
        ):
            f.add(
                attachment,
                f"attaches AWS managed policy {arn} (not scoped to exact ARNs)",
                "IAM.1",
                "IAM.21",
            )
    for carrier, doc in _resource_documents(graph):
        for s in statements(doc):
            _bad_action_statement(f, carrier, "", s)
    for key in graph.of_type(facts.KMS_KEY):
        for s in statements(key.get("policy")):
            actions = [str(a).lower() for a in as_list(s.get("Action"))]
            root_only = all(p.endswith(":root") for p in facts.principals(s))
            if s.get("Effect") == "Allow" and "kms:*" in actions and not root_only:
                f.add(
                    key,
                    "key policy grants kms:* to a principal other than the account root",
                    "KMS.1",
                    "IAM.21",
                )
    return f.items


def _resource_documents(graph: Graph) -> Iterable[tuple[Resource, Any]]:
    """Resource policies (keys, buckets, queues, topics, secrets, repositories, endpoints)."""
    for r in graph.resources:
        if r.type.startswith("aws:iam/"):
            continue
        for key in ("policy", "accessPolicy"):
            doc = r.get(key)
            if isinstance(doc, str | dict) and doc:
                yield r, doc


# ---------------------------------------------------------------------------------- logging

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def _log_group_for(graph: Graph, arn: Any) -> Resource | None:
    """The log group an ARN names (CloudTrail uses `...:log-group:<name>:*`)."""
    text = str(arn or "")
    found = ref(graph, text) or ref(graph, text.removesuffix(":*"))
    return found if found is not None and found.type == LOG_GROUP else None


@rule(
    "logging-log-groups",
    "Every log group on the customer key with a retention; audit logs >= 365 days",
    "CloudWatch.16",
    "PCI DSS 10.5.1",
)
def logging_log_groups(graph: Graph) -> list[Violation]:
    f = Findings("logging-log-groups")
    audit = {
        g.urn
        for t in graph.of_type("aws:cloudtrail/trail:Trail")
        if (g := _log_group_for(graph, t.get("cloudWatchLogsGroupArn"))) is not None
    }
    for group in graph.of_type(LOG_GROUP):
        f.require(
            _cmk(graph, group.get("kmsKeyId")),
            group,
            "not encrypted with the customer key",
            "CloudWatch.16",
        )
        days = int(group.get("retentionInDays") or 0)
        f.require(days > 0, group, "keeps logs forever (no retention)", "CloudWatch.16")
        if group.urn in audit:
            f.require(days >= 365, group, f"audit log kept {days} days (< 365)", "PCI DSS 10.5.1")
    return f.items


def _key_lets_cloudwatch_publish(key: Resource) -> bool:
    return any(
        facts.allows(s, "cloudwatch.amazonaws.com", "kms:Decrypt", "kms:GenerateDataKey")
        for s in statements(key.get("policy"))
    )


@rule(
    "logging-alarms",
    "Every alarm has an enabled action that can reach its topic",
    "CloudWatch.15",
    "CloudWatch.17",
)
def logging_alarms(graph: Graph) -> list[Violation]:
    f = Findings("logging-alarms")
    for alarm in graph.of_type(
        "aws:cloudwatch/metricAlarm:MetricAlarm", "aws:cloudwatch/compositeAlarm:CompositeAlarm"
    ):
        actions = as_list(alarm.get("alarmActions"))
        f.require(bool(actions), alarm, "no alarm action", "CloudWatch.15")
        f.require(
            alarm.get("actionsEnabled") is not False, alarm, "actions disabled", "CloudWatch.17"
        )
        for action in actions:
            topic = ref(graph, action)
            if topic is None or topic.type != facts.TOPIC:
                continue
            key = kms_key(graph, topic.get("kmsMasterKeyId"))
            # NOTE: CloudWatch cannot publish to a topic on a customer key unless the key policy
            # lets cloudwatch.amazonaws.com decrypt and generate data keys; the failure is silent.
            if key is not None and not _key_lets_cloudwatch_publish(key):
                f.add(
                    alarm,
                    f"topic {topic.name} is on key {key.name}, whose policy does not let "
                    "CloudWatch publish (kms:Decrypt, kms:GenerateDataKey*)",
                    "CloudWatch.15",
                )
    return f.items


# ------------------------------------------------------------------------------------ audit


def transaction_buckets(graph: Graph) -> list[Resource]:
    prefix = naming.physical_name("transaction-logs", graph.suffix)
    return [b for b in graph.of_type(*facts.BUCKETS) if facts.bucket_name(b).startswith(prefix)]


def _logs_data_events(trail: Resource, bucket_arn: str) -> bool:
    for selector in as_list(trail.get("eventSelectors")):
        if selector.get("readWriteType", "All") != "All":
            continue
        for data in as_list(selector.get("dataResources")):
            if data.get("type") == "AWS::S3::Object" and any(
                str(v).startswith(bucket_arn) for v in as_list(data.get("values"))
            ):
                return True
    for selector in as_list(trail.get("advancedEventSelectors")):
        fields = {str(fs.get("field")): fs for fs in as_list(selector.get("fieldSelectors"))}
        if "AWS::S3::Object" in as_list((fields.get("resources.type") or {}).get("equals")) and (
            "readOnly" not in fields
        ):
            arns = fields.get("resources.ARN") or {}
            values = as_list(arns.get("startsWith")) + as_list(arns.get("equals"))
            if not arns or any(str(v).startswith(bucket_arn) for v in values):
                return True
    return False


@rule(
    "audit-trail",
    "Trail on the customer key, validated, to CloudWatch Logs, S3 data events, bucket access logs",
    "CloudTrail.1",
    "CloudTrail.2",
    "CloudTrail.4",
    "CloudTrail.5",
    "CloudTrail.7",
    "S3.22",
    "S3.23",
)
def audit_trail(graph: Graph) -> list[Violation]:
    f = Findings("audit-trail")
    trails = graph.of_type("aws:cloudtrail/trail:Trail")
    if not trails and graph.of_type("aws:ec2/vpc:Vpc"):
        f.add("stack", "no CloudTrail trail", "CloudTrail.1")
    for trail in trails:
        f.require(trail.get("enableLogging") is not False, trail, "logging off", "CloudTrail.1")
        f.require(
            _true(trail.get("isMultiRegionTrail")),
            trail,
            "not a multi-Region trail",
            "CloudTrail.1",
        )
        f.require(
            _cmk(graph, trail.get("kmsKeyId")),
            trail,
            "not encrypted with the customer key",
            "CloudTrail.2",
        )
        f.require(
            _true(trail.get("enableLogFileValidation")),
            trail,
            "log file validation off",
            "CloudTrail.4",
        )
        f.require(
            _log_group_for(graph, trail.get("cloudWatchLogsGroupArn")) is not None
            and bool(trail.get("cloudWatchLogsRoleArn")),
            trail,
            "not delivered to a CloudWatch log group",
            "CloudTrail.5",
        )
        for bucket in transaction_buckets(graph):
            f.require(
                _logs_data_events(trail, str(bucket.state.get("arn"))),
                trail,
                f"no S3 read and write data events for {bucket.name}",
                "S3.22",
                "S3.23",
            )
        target = next(
            (
                b
                for b in graph.of_type(*facts.BUCKETS)
                if facts.bucket_name(b) == trail.get("s3BucketName")
            ),
            None,
        )
        if target is None:
            f.add(trail, "delivers to a bucket outside this stack", "CloudTrail.7")
            continue
        f.require(
            bool(facts.bucket_config(graph, target, "bucketLogging")),
            trail,
            f"trail bucket {target.name} has no server access logging",
            "CloudTrail.7",
        )
        # NOTE: CloudTrail creation races its bucket policy: the trail must depend on it.
        policies = facts.attached(graph, ["aws:s3/bucketPolicy:BucketPolicy"], "bucket", target)
        f.require(
            any(p.urn in trail.dependencies for p in policies),
            trail,
            "does not depend on its bucket's policy (creation races it)",
            "CloudTrail.1",
        )
    return f.items


# ---------------------------------------------------------------------------------- storage

PUBLIC_BLOCKS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)


def bucket_sse(graph: Graph, bucket: Resource) -> list[dict[str, Any]]:
    """The default-encryption settings of a bucket (applyServerSideEncryptionByDefault)."""
    return [
        rule.get("applyServerSideEncryptionByDefault") or {}
        for config in facts.bucket_config(graph, bucket, "bucketServerSideEncryptionConfiguration")
        for rule in as_list(config.get("rules"))
    ]


def audit_buckets(graph: Graph) -> list[Resource]:
    """Buckets holding audit or transaction data: the trails' buckets and transaction logs."""
    trail_buckets = {t.get("s3BucketName") for t in graph.of_type("aws:cloudtrail/trail:Trail")}
    return [
        b for b in graph.of_type(*facts.BUCKETS) if facts.bucket_name(b) in trail_buckets
    ] + transaction_buckets(graph)


@rule(
    "storage-buckets",
    "Buckets: public access blocked, SSE-KMS, versioning, ACLs off, lifecycle, access logs",
    "S3.1",
    "S3.2",
    "S3.3",
    "S3.8",
    "S3.9",
    "S3.12",
    "S3.13",
    "S3.14",
    "S3.17",
)
def storage_buckets(graph: Graph) -> list[Violation]:
    f = Findings("storage-buckets")
    audit = {b.urn for b in audit_buckets(graph)}
    for bucket in graph.of_type(*facts.BUCKETS):
        blocks = facts.bucket_config(graph, bucket, "bucketPublicAccessBlock")
        f.require(
            any(all(_true(b.get(k)) for k in PUBLIC_BLOCKS) for b in blocks),
            bucket,
            "not all four public access blocks on",
            "S3.1",
            "S3.2",
            "S3.3",
            "S3.8",
        )
        sse = bucket_sse(graph, bucket)
        f.require(
            any(
                s.get("sseAlgorithm") in ("aws:kms", "aws:kms:dsse")
                and _cmk(graph, s.get("kmsMasterKeyId"))
                for s in sse
            ),
            bucket,
            f"encryption {[s.get('sseAlgorithm') for s in sse]} is not SSE-KMS on the customer key",
            "S3.17",
        )
        versioning = facts.bucket_config(graph, bucket, "bucketVersioning")
        f.require(
            any(
                (v.get("versioningConfiguration") or {}).get("status") == "Enabled"
                for v in versioning
            ),
            bucket,
            "versioning off",
            "S3.14",
        )
        ownership = facts.bucket_config(graph, bucket, "bucketOwnershipControls")
        f.require(
            any(
                (o.get("rule") or {}).get("objectOwnership") == "BucketOwnerEnforced"
                for o in ownership
            ),
            bucket,
            "ACLs not disabled (BucketOwnerEnforced)",
            "S3.12",
        )
        lifecycle = facts.bucket_config(graph, bucket, "bucketLifecycleConfiguration")
        f.require(
            any(
                any(r.get("status") == "Enabled" for r in as_list(lc.get("rules")))
                for lc in lifecycle
            ),
            bucket,
            "no enabled lifecycle rule",
            "S3.13",
        )
        if bucket.urn in audit:
            f.require(
                any(
                    lg.get("targetBucket")
                    for lg in facts.bucket_config(graph, bucket, "bucketLogging")
                ),
                bucket,
                "holds audit or transaction data without server access logging",
                "S3.9",
            )
    return f.items


# ------------------------------------------------------------------- controls waived on purpose


@rule(
    "deletion-safeguards",
    "Deletion protection and Object Lock (waived: environments are destroyable)",
    "RDS.7",
    "ELB.6",
    "S3.15",
)
def deletion_safeguards(graph: Graph) -> list[Violation]:
    f = Findings("deletion-safeguards")
    for cluster in graph.of_type(CLUSTER):
        f.require(
            _true(cluster.get("deletionProtection")), cluster, "deletion protection off", "RDS.7"
        )
    for lb in load_balancers(graph):
        f.require(_true(lb.get("enableDeletionProtection")), lb, "deletion protection off", "ELB.6")
    for bucket in graph.of_type(*facts.BUCKETS):
        f.require(_true(bucket.get("objectLockEnabled")), bucket, "Object Lock off", "S3.15")
    return f.items


# ----------------------------------------------------------------------- design invariants


@rule(
    "standard-tags",
    "Every taggable resource carries the 8 standard tags",
    "DESIGN tags",
    "PCI DSS 12.5.1",
)
def standard_tags(graph: Graph) -> list[Violation]:
    f = Findings("standard-tags")
    expected = {
        "Project": tags.FIXED_TAGS["Project"],
        "Environment": graph.env,
        "EnvironmentSuffix": graph.suffix,
        "ManagedBy": tags.FIXED_TAGS["ManagedBy"],
    }
    for r in graph.resources:
        if not r.custom or not tags.is_taggable(r.type):
            continue
        have = r.get("tags") or {}
        missing = [k for k in tags.STANDARD_TAG_KEYS if not have.get(k)]
        wrong = [
            f"{k}={have.get(k)!r}" for k, v in expected.items() if have.get(k) and have.get(k) != v
        ]
        if missing or wrong:
            f.add(
                r, f"standard tags missing {missing} wrong {wrong}", "DESIGN tags", "PCI DSS 12.5.1"
            )
    return f.items


NAME_KEYS: dict[str, str] = {
    "aws:s3/bucket:Bucket": "bucket",
    "aws:s3/bucketV2:BucketV2": "bucket",
    "aws:rds/cluster:Cluster": "clusterIdentifier",
    "aws:rds/clusterInstance:ClusterInstance": "identifier",
    "aws:elasticache/replicationGroup:ReplicationGroup": "replicationGroupId",
    "aws:cloudwatch/dashboard:Dashboard": "dashboardName",
    "aws:ecs/taskDefinition:TaskDefinition": "family",
}
# `name` here is not an account-wide physical name: log group names are paths (and AWS fixes
# some: `/aws/rds/cluster/...`, `aws-waf-logs-...`); the rest are scoped to their parent.
NOT_PHYSICAL = {
    LOG_GROUP,
    "aws:iam/rolePolicy:RolePolicy",
    "aws:appautoscaling/policy:Policy",
    "aws:cloudwatch/logStream:LogStream",
}


def physical_name(r: Resource) -> str | None:
    """The explicit physical name a resource was given (None when AWS or Pulumi picks it)."""
    if not r.custom or not r.type.startswith("aws:") or r.type in NOT_PHYSICAL:
        return None
    value = r.get(NAME_KEYS.get(r.type, "name"))
    if not isinstance(value, str) or not value:
        return None
    # NOTE: under the engine (CrossGuard), Pulumi auto-names show up as `<logical>-<7 hex>`;
    # they are not explicit names and collide with nothing.
    if re.fullmatch(re.escape(r.name) + r"-[0-9a-f]{7}", value):
        return None
    return value.removeprefix("alias/") if r.type == "aws:kms/alias:Alias" else value


def name_problem(r: Resource, name: str, suffix: str) -> str | None:
    """Why a physical name breaks `payment-{service}-{suffix}` or its limit (None if it fits)."""
    core = name
    if r.type in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"):
        core, n = re.subn(r"-\d{12}$", "", name)
        if not n:
            return f"bucket {name!r} does not end with the account id (bucket names are global)"
        if len(name) > 63:
            return f"bucket {name!r} is {len(name)} characters, limit 63"
    if r.type == INSTANCE:
        core = re.sub(r"-\d+$", "", name)
    prefix = f"{naming.PROJECT}-"
    if not core.startswith(prefix) or not core.endswith(f"-{suffix}"):
        return f"{name!r} does not follow payment-{{service}}-{suffix}"
    service = core[len(prefix) : -len(suffix) - 1]
    entry = naming.NAMES.get(service)
    if entry is None:
        return f"{name!r}: service {service!r} is not in conventions.naming.NAMES"
    if len(core) > entry.limit:
        return f"{name!r} is {len(core)} characters, limit {entry.limit} ({entry.resource})"
    return None


REVISIONED = {"aws:ecs/taskDefinition:TaskDefinition"}


@rule(
    "physical-names",
    "Physical names follow payment-{service}-{suffix}, fit their limit, replace safely",
    "DESIGN naming",
)
def physical_names(graph: Graph) -> list[Violation]:
    f = Findings("physical-names")
    for r in graph.resources:
        name = physical_name(r)
        if name is None:
            continue
        problem = name_problem(r, name, graph.suffix)
        if problem:
            f.add(r, problem, "DESIGN naming")
        # NOTE: an explicit name cannot exist twice, so a replacement must delete first. A task
        # definition family is the exception: a replacement is a new revision of the same family.
        f.require(
            r.delete_before_replace or r.type in REVISIONED,
            r,
            f"named {name!r} without delete_before_replace",
            "DESIGN naming",
        )
    return f.items


@rule(
    "destroyable",
    "Everything destroys cleanly: no protection, no retain, no final snapshot, force delete",
    "DESIGN destroyable",
)
def destroyable(graph: Graph) -> list[Violation]:
    f = Findings("destroyable")
    d = "DESIGN destroyable"
    for r in graph.resources:
        f.require(not r.protect, r, "protect=True", d)
        f.require(not r.retain_on_delete, r, "retain_on_delete=True", d)
        for flag in ("deletionProtection", "enableDeletionProtection"):
            f.require(not _true(r.get(flag)), r, f"{flag} on", d)
    for cluster in graph.of_type(CLUSTER):
        f.require(_true(cluster.get("skipFinalSnapshot")), cluster, "takes a final snapshot", d)
    for group in graph.of_type(REPLICATION_GROUP):
        f.require(not group.get("finalSnapshotIdentifier"), group, "takes a final snapshot", d)
    for bucket in graph.of_type(*facts.BUCKETS):
        f.require(_true(bucket.get("forceDestroy")), bucket, "not force_destroy", d)
        f.require(not _true(bucket.get("objectLockEnabled")), bucket, "Object Lock on", d)
    for repo in graph.of_type("aws:ecr/repository:Repository"):
        f.require(_true(repo.get("forceDelete")), repo, "not force_delete", d)
    for secret in graph.of_type(SECRET):
        f.require(
            secret.get("recoveryWindowInDays") == 0,
            secret,
            f"recovery window {secret.get('recoveryWindowInDays')} (name stays reserved)",
            d,
        )
    for kms in graph.of_type(facts.KMS_KEY):
        f.require(
            kms.get("deletionWindowInDays") == 7,
            kms,
            f"deletion window {kms.get('deletionWindowInDays')} days, not the shortest (7)",
            d,
        )
    for td in graph.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        f.require(not _true(td.get("skipDestroy")), td, "skip_destroy keeps revisions", d)
    return f.items


def _azs(graph: Graph, subnet_ids: Iterable[Any]) -> set[str]:
    zones = set()
    for sid in subnet_ids:
        subnet = ref(graph, sid)
        if subnet is not None and subnet.get("availabilityZone"):
            zones.add(str(subnet.get("availabilityZone")))
    return zones


@rule(
    "high-availability",
    "Prod: tasks across AZs, Aurora readers in other AZs, Redis failover and multi-AZ",
    "DESIGN high availability",
    "RDS.15",
    "ElastiCache.3",
)
def high_availability(graph: Graph) -> list[Violation]:
    f = Findings("high-availability")
    if graph.env != "prod":
        return []
    ha = "DESIGN high availability"
    for service in graph.of_type("aws:ecs/service:Service"):
        subnets = as_list((service.get("networkConfiguration") or {}).get("subnets"))
        zones = _azs(graph, subnets)
        f.require(
            len(subnets) >= 2 and len(zones) >= 2,
            service,
            f"tasks in {len(subnets)} subnet(s) / {len(zones)} AZ(s); needs 2 or more",
            ha,
        )
        if as_list(service.get("loadBalancers")):
            desired = service.get("desiredCount")
            f.require(
                desired is None or int(desired) >= 2, service, f"desired count {desired} (< 2)", ha
            )
    for cluster in graph.of_type(CLUSTER):
        instances = cluster_instances(graph, cluster)
        if not instances:
            f.add(cluster, "no instances", ha, "RDS.15")
            continue
        writer, readers = instances[0], instances[1:]  # Aurora makes the first instance the writer
        f.require(bool(readers), cluster, "no reader to fail over to", ha, "RDS.15")
        for reader in readers:
            zone = reader.get("availabilityZone")
            f.require(
                bool(zone) and zone != writer.get("availabilityZone"),
                reader,
                f"reader AZ {zone} not pinned apart from writer's {writer.get('availabilityZone')}",
                ha,
                "RDS.15",
            )
    for group in graph.of_type(REPLICATION_GROUP):
        f.require(
            has_replicas(group)
            and _true(group.get("automaticFailoverEnabled"))
            and _true(group.get("multiAzEnabled")),
            group,
            "needs replicas with automatic failover and multi-AZ",
            ha,
            "ElastiCache.3",
        )
    return f.items


@rule(
    "tls-in-transit",
    "TLS in transit: Aurora force_ssl, Redis transit encryption, bucket/queue/topic deny non-TLS",
    "PCI DSS 4.2.1",
    "ElastiCache.5",
    "S3.5",
    "SQS.3",
    "SNS.4",
)
def tls_in_transit(graph: Graph) -> list[Violation]:
    f = Findings("tls-in-transit")
    for cluster in graph.of_type(CLUSTER):
        params = cluster_parameters(graph, cluster)
        f.require(
            params is not None and params.get("rds.force_ssl") == "1",
            cluster,
            "cluster parameter group does not set rds.force_ssl=1",
            "PCI DSS 4.2.1",
        )
    for group in graph.of_type(REPLICATION_GROUP):
        f.require(
            _true(group.get("transitEncryptionEnabled"))
            and group.get("transitEncryptionMode") in (None, "required"),
            group,
            f"in-transit encryption not required (mode {group.get('transitEncryptionMode')})",
            "ElastiCache.5",
            "PCI DSS 4.2.1",
        )
    checks: list[tuple[list[Resource], Callable[[Graph, Resource], list[Any]], str]] = [
        (graph.of_type(*facts.BUCKETS), facts.bucket_policies, "S3.5"),
        (graph.of_type(facts.QUEUE), facts.queue_policies, "SQS.3"),
        (graph.of_type(facts.TOPIC), facts.topic_policies, "SNS.4"),
    ]
    for resources, policies, control in checks:
        for r in resources:
            f.require(
                any(facts.denies_insecure_transport(doc) for doc in policies(graph, r)),
                r,
                "policy does not deny requests without TLS (aws:SecureTransport false)",
                control,
                "PCI DSS 4.2.1",
            )
    return f.items
