"""IAM rules: identity policies, trust policies, managed-policy attachments, resource policies.

- `iam`, as six named checks run in this order:
  - identity policies: no Allow on `*`, on every action of a service, with NotAction or
    NotResource; `Resource: "*"` only for actions AWS cannot scope; no wildcard ARNs beyond a
    trailing one under an exact S3 or Logs resource;
  - trust policies: every role is assumable only by an AWS service principal;
  - managed policies: no AWS managed policy attached, except the RDS monitoring role's;
  - resource policies: no Allow on `*` or with NotAction;
  - key policies: `kms:*` only for the account root;
  - execution roles: `kms:Decrypt` only through a named service (`kms:ViaService`).
- `iam-task-grants`: the idempotency secret is readable by the API's task role and no other
  principal; no API task role may act on a dead-letter queue (only the worker consumes it).
- `iam-data-connect`: every grant of `rds-db:connect` or `elasticache:Connect` (directly or
  through a wildcard action) names exact ARNs of this stack: one database role on one cluster
  (by its resource id), the replication group and the user of this stack's cache.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import Any

from guardrails import facts
from guardrails.facts import as_list, statements
from guardrails.model import Violation
from guardrails.rules.base import Findings, rule
from resource_graph import Graph, Resource

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
    """An Allow never grants every action, directly or through NotAction."""
    if s.get("Effect") != "Allow":
        return  # a Deny with wildcards only narrows access
    actions = [str(a) for a in as_list(s.get("Action"))]
    if "NotAction" in s:
        f.add(
            carrier, "Allow with NotAction grants everything else", "IAM.1", "IAM.21", entry=entry
        )
    if "*" in actions:
        f.add(carrier, 'Allow on action "*"', "IAM.1", "IAM.21", entry=entry)


def _resource_scope(
    f: Findings, carrier: Resource, entry: str, actions: list[str], resource: str
) -> None:
    """`Resource: "*"` only for actions AWS cannot scope; otherwise exact (or trailing) ARNs."""
    if resource == "*":
        extra = [a for a in actions if a not in STAR_RESOURCE_ACTIONS]
        if extra:
            controls = (
                ("KMS.1", "KMS.2") if any(a.startswith("kms:") for a in extra) else ("IAM.1",)
            )
            f.add(carrier, f'Resource "*" for {sorted(extra)}', *controls, "IAM.21", entry=entry)
    elif not _resource_ok(resource):
        f.add(carrier, f"wildcard resource {resource}", "IAM.21", "KMS.2", entry=entry)


def _identity_statement(f: Findings, carrier: Resource, entry: str, s: dict[str, Any]) -> None:
    """One statement of an identity policy grants named actions on named resources."""
    _bad_action_statement(f, carrier, entry, s)
    if s.get("Effect") != "Allow":
        return
    actions = [str(a).lower() for a in as_list(s.get("Action"))]
    for action in actions:
        if action != "*" and _wild_action(action):
            f.add(carrier, f"Allow on every action of a service ({action})", "IAM.21", entry=entry)
    for resource in (str(r) for r in as_list(s.get("Resource"))):
        _resource_scope(f, carrier, entry, actions, resource)
    if "NotResource" in s:
        f.add(carrier, "Allow with NotResource", "IAM.21", entry=entry)


def _identity_policies(f: Findings, graph: Graph) -> None:
    """Least privilege in every identity policy: role policies, policies, inline policies."""
    for carrier, entry, doc in facts.identity_documents(graph):
        for s in statements(doc):
            _identity_statement(f, carrier, entry, s)


def _trust_policies(f: Findings, graph: Graph) -> None:
    """Only AWS services assume our roles: no account, user or wildcard principal."""
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


def _managed_policies(f: Findings, graph: Graph) -> None:
    """AWS managed policies grant on `*`; only the RDS monitoring role's one is accepted."""
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


def _resource_documents(graph: Graph) -> Iterable[tuple[Resource, Any]]:
    """Resource policies (keys, buckets, queues, topics, secrets, repositories, endpoints)."""
    for r in graph.resources:
        if r.type.startswith("aws:iam/"):
            continue
        for key in ("policy", "accessPolicy"):
            doc = r.get(key)
            if isinstance(doc, str | dict) and doc:
                yield r, doc


def _resource_policies(f: Findings, graph: Graph) -> None:
    """No resource policy grants every action, directly or through NotAction."""
    for carrier, doc in _resource_documents(graph):
        for s in statements(doc):
            _bad_action_statement(f, carrier, "", s)


def _key_policies(f: Findings, graph: Graph) -> None:
    """Full control of a key stays with the account root, which IAM policies then delegate."""
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


def _via_service(statement: dict[str, Any]) -> bool:
    """The statement names the services kms:ViaService admits (a `Null` test admits any)."""
    condition = statement.get("Condition") or {}
    return isinstance(condition, dict) and any(
        "string" in str(operator).lower()
        and isinstance(block, dict)
        and "kms:viaservice" in {str(k).lower() for k in block}
        for operator, block in condition.items()
    )


def _execution_roles(f: Findings, graph: Graph) -> None:
    """The ECS agent decrypts task secrets only through Secrets Manager, never a key directly.

    The execution role needs kms:Decrypt to read the secrets a task definition injects; without
    kms:ViaService the agent's credentials could decrypt anything on the key from anywhere.
    """
    for role in facts.execution_roles(graph):
        for carrier, entry, doc in facts.role_policies(graph, role):
            for s in statements(doc):
                if facts.grants(s, "kms:Decrypt") and not _via_service(s):
                    f.add(
                        carrier,
                        f"execution role {role.get('name') or role.name} may kms:Decrypt "
                        "without a kms:ViaService condition naming the service",
                        "KMS.2",
                        entry=entry,
                    )


@rule(
    "iam",
    "No admin or `*` statements; exact resource ARNs; trust policies scoped to a service",
    *IAM_CONTROLS,
)
def iam_policies(graph: Graph) -> list[Violation]:
    """Every principal holds only the permissions it needs, on the resources it needs them for."""
    f = Findings("iam")
    _identity_policies(f, graph)
    _trust_policies(f, graph)
    _managed_policies(f, graph)
    _resource_policies(f, graph)
    _key_policies(f, graph)
    _execution_roles(f, graph)
    return f.items


DATA_CONNECT_ACTIONS = ("rds-db:connect", "elasticache:connect")
DBUSER_ARN = re.compile(
    r"^arn:aws:rds-db:[a-z0-9-]+:\d{12}:dbuser:(?P<cluster>cluster-[A-Z0-9]+)/(?P<user>[a-z_][a-z0-9_]*)$"
)
CACHE_ARN = re.compile(
    r"^arn:aws:elasticache:[a-z0-9-]+:\d{12}:(?P<kind>replicationgroup|user):(?P<id>[a-z][a-z0-9-]*)$"
)


def _grants_data_connect(statement: dict[str, Any]) -> list[str]:
    """The data-connect actions an Allow statement grants, wildcards included."""
    if statement.get("Effect") != "Allow":
        return []
    actions = [str(a).lower() for a in as_list(statement.get("Action"))]
    return [
        wanted
        for wanted in DATA_CONNECT_ACTIONS
        if any(a in ("*", wanted, wanted.split(":")[0] + ":*") for a in actions)
    ]


def _known_targets(graph: Graph) -> tuple[set[str], set[str]]:
    """The cluster resource ids and the cache ARNs (groups and users) this stack creates."""
    clusters = {
        str(c.state.get("clusterResourceId") or c.get("clusterResourceId"))
        for c in graph.of_type(facts.CLUSTER)
    }
    cache = {
        str(r.state.get("arn") or r.get("arn"))
        for r in graph.of_type(facts.REPLICATION_GROUP, "aws:elasticache/user:User")
    }
    return clusters, cache


def _data_connect_resource(
    resource: str, action: str, clusters: set[str], cache: set[str]
) -> str | None:
    """Why one resource of a data-connect grant is not an exact ARN of this stack, or None."""
    if action == "rds-db:connect":
        match = DBUSER_ARN.match(resource)
        if not match:
            return f"rds-db:connect on {resource}, not one role of one cluster"
        if match["cluster"] not in clusters:
            return f"rds-db:connect on a cluster this stack does not create ({match['cluster']})"
        return None
    match = CACHE_ARN.match(resource)
    if not match:
        return f"elasticache:Connect on {resource}, not a replication group or user ARN"
    if resource not in cache:
        return f"elasticache:Connect on {resource}, which this stack does not create"
    return None


@rule(
    "iam-data-connect",
    "rds-db:connect and elasticache:Connect only on exact ARNs of this stack's database and cache",
    "IAM.21",
    "PCI DSS 7.2.2",
)
def iam_data_connect(graph: Graph) -> list[Violation]:
    """An IAM token opens the database or the cache: who may sign one is exactly scoped."""
    f = Findings("iam-data-connect")
    clusters, cache = _known_targets(graph)
    for carrier, entry, doc in facts.identity_documents(graph):
        for s in statements(doc):
            actions = _grants_data_connect(s)
            if actions and ("NotResource" in s or not as_list(s.get("Resource"))):
                f.add(carrier, f"{actions} without exact resources", "IAM.21", entry=entry)
            for action in actions:
                for resource in (str(r) for r in as_list(s.get("Resource"))):
                    problem = _data_connect_resource(resource, action, clusters, cache)
                    if problem:
                        f.add(carrier, problem, "IAM.21", "PCI DSS 7.2.2", entry=entry)
    return f.items


SECRET_READ = "secretsmanager:GetSecretValue"


def _covers(statement: dict[str, Any], arn: str) -> bool:
    """An Allow statement whose resources include `arn` (wildcards honoured)."""
    if "NotResource" in statement:
        return True  # everything but the listed resources: assume the worst
    return any(
        fnmatch.fnmatchcase(arn, str(pattern)) for pattern in as_list(statement.get("Resource"))
    )


def _idempotency_readers(f: Findings, graph: Graph, api_roles: set[str]) -> None:
    """Only the API's task role may read the idempotency secret: it is the key of every HMAC."""
    arns = [str(s.state.get("arn")) for s in facts.idempotency_secrets(graph) if s.state.get("arn")]
    for role in graph.of_type("aws:iam/role:Role"):
        if role.urn in api_roles:
            continue
        for carrier, entry, doc in facts.role_policies(graph, role):
            for s in statements(doc):
                if facts.grants(s, SECRET_READ) and any(_covers(s, arn) for arn in arns):
                    f.add(
                        carrier,
                        f"role {role.get('name') or role.name} may read the idempotency secret "
                        "(only the API's task role may)",
                        "IAM.21",
                        "PCI DSS 7.2.2",
                        entry=entry,
                    )


def _no_api_dead_letters(f: Findings, graph: Graph, api_roles: list[Resource]) -> None:
    """The API never touches a dead-letter queue: the worker alone resolves what lands there."""
    dlqs = [str(q.state.get("arn")) for q in facts.dead_letter_queues(graph) if q.state.get("arn")]
    for role in api_roles:
        for carrier, entry, doc in facts.role_policies(graph, role):
            for s in statements(doc):
                sqs = [
                    a
                    for a in (str(x).lower() for x in as_list(s.get("Action")))
                    if a == "*" or a.startswith("sqs:")
                ]
                if s.get("Effect") == "Allow" and sqs and any(_covers(s, q) for q in dlqs):
                    f.add(
                        carrier,
                        f"API task role {role.get('name') or role.name} is granted {sqs} on a "
                        "dead-letter queue",
                        "IAM.21",
                        "PCI DSS 7.2.2",
                        entry=entry,
                    )


@rule(
    "iam-task-grants",
    "The idempotency secret readable by the API's task role alone; no API grant on a DLQ",
    "IAM.21",
    "PCI DSS 7.2.2",
)
def iam_task_grants(graph: Graph) -> list[Violation]:
    """Whoever reads the HMAC key can forge idempotency matches; a DLQ belongs to the worker."""
    f = Findings("iam-task-grants")
    api_roles = facts.api_task_roles(graph)
    _idempotency_readers(f, graph, {r.urn for r in api_roles})
    _no_api_dead_letters(f, graph, api_roles)
    return f.items
