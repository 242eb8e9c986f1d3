"""The deliberate exceptions, in one place, each with the reason the mission overrides the control.

A waiver names the rule and the controls it waives and a predicate that decides, from the
graph, whether a given violation is the sanctioned exception (the ALB's group open on 443/80,
not any group open on any port). `tests/guardrails` proves every waiver is still used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from guardrails import facts
from guardrails.facts import (
    as_list,
    bucket_sse,
    load_balancers,
    route_table_of,
    route_table_subnets,
)
from guardrails.model import Violation
from guardrails.rules.design import protects_data
from resource_graph import Graph, Resource


@dataclass(frozen=True)
class Waiver:
    """A sanctioned exception to some controls of one rule."""

    id: str
    rule: str
    controls: tuple[str, ...]
    reason: str
    applies: Callable[[Graph, Resource, str], bool]  # (graph, resource, inline entry)

    def matches(self, graph: Graph, violation: Violation) -> bool:
        """Whether this waiver absorbs a violation: same rule, only its controls, the exact case."""
        if violation.rule != self.rule or not set(violation.controls) <= set(self.controls):
            return False
        found = locate(graph, violation.resource)
        return found is not None and self.applies(graph, *found)


def locate(graph: Graph, name: str) -> tuple[Resource, str] | None:
    """The resource (and inline entry) a violation's `resource` names."""
    head, _, entry = name.partition("#")
    type_, _, logical = head.partition(" ")
    for r in graph.of_type(type_):
        if r.name == logical:
            return r, entry
    return None


def _always(graph: Graph, resource: Resource, entry: str) -> bool:
    return True


def _data_destroyable(graph: Graph, resource: Resource, entry: str) -> bool:
    """The stack does not protect its data: a protected stack keeps the database's protection."""
    return not protects_data(graph)


def _alb_web_ingress(graph: Graph, resource: Resource, entry: str) -> bool:
    """An ingress rule of the ALB's security group, TCP 443 or 80 exactly."""
    rules = [r for r in facts.sg_rules(graph) if r.carrier is resource and r.entry == entry]
    return bool(rules) and all(
        r.direction == "ingress"
        and r.group_id in facts.alb_security_group_ids(graph)
        and r.protocol == "tcp"
        and r.from_port == r.to_port
        and r.from_port in (80, 443)
        for r in rules
    )


def _public_route_table(graph: Graph, resource: Resource, entry: str) -> bool:
    """The route lives in a table whose subnets all host the ALB and nothing else needs them."""
    table = route_table_of(graph, resource)
    if table is None:
        return False
    subnets = route_table_subnets(graph, table)
    alb_subnets = {s for lb in load_balancers(graph) for s in as_list(lb.get("subnets"))}
    used_elsewhere = {
        s
        for svc in graph.of_type("aws:ecs/service:Service")
        for s in as_list((svc.get("networkConfiguration") or {}).get("subnets"))
    }
    return bool(subnets) and subnets <= alb_subnets and not subnets & used_elsewhere


def _on_sse_s3(graph: Graph, bucket: Resource) -> bool:
    sse = bucket_sse(graph, bucket)
    return bool(sse) and all(s.get("sseAlgorithm") == "AES256" for s in sse)


def _alb_log_bucket(graph: Graph, resource: Resource, entry: str) -> bool:
    names = {(lb.get("accessLogs") or {}).get("bucket") for lb in load_balancers(graph)}
    return facts.bucket_name(resource) in names and _on_sse_s3(graph, resource)


def _access_log_bucket(graph: Graph, resource: Resource, entry: str) -> bool:
    targets = {
        lg.get("targetBucket")
        for lg in graph.resources
        if lg.type.startswith("aws:s3/bucketLogging")
    }
    return facts.bucket_name(resource) in targets and _on_sse_s3(graph, resource)


def _idempotency_secret(graph: Graph, resource: Resource, entry: str) -> bool:
    """The API's idempotency HMAC key, by its exact name in this stack, and no other secret."""
    return resource.urn in {s.urn for s in facts.idempotency_secrets(graph)}


DESTROYABLE = "every environment must destroy cleanly (DESIGN: no deletion protection, no retain)"

WAIVERS: tuple[Waiver, ...] = (
    Waiver(
        "rds-deletion-protection",
        "deletion-safeguards",
        ("RDS.7",),
        DESTROYABLE + "; only where the stack's `protect_data` is false (its database is then "
        "destroyable); a stack that protects its data must keep deletion protection on",
        _data_destroyable,
    ),
    Waiver(
        "alb-deletion-protection",
        "deletion-safeguards",
        ("ELB.6",),
        DESTROYABLE + "; the load balancer holds no data, so `protect_data` leaves it destroyable",
        _always,
    ),
    Waiver(
        "s3-object-lock",
        "deletion-safeguards",
        ("S3.15",),
        DESTROYABLE
        + "; Object Lock makes objects, and so the bucket, undeletable until retention ends "
        "(`protect_data` keeps the data buckets with `protect` and no force_destroy instead)",
        _always,
    ),
    Waiver(
        "alb-internet-ingress",
        "network-ingress",
        ("EC2.13", "EC2.14", "EC2.18", "EC2.19", "EC2.53", "EC2.54"),
        "the ALB is the public entry point: its group takes 443 from anywhere, 80 only to redirect",
        _alb_web_ingress,
    ),
    Waiver(
        "public-route-to-igw",
        "no-internet-route",
        ("PCI DSS 1.3.1", "PCI DSS 1.4.1"),
        "the public subnets hold only the internet-facing ALB, which needs the internet gateway",
        _public_route_table,
    ),
    Waiver(
        "alb-log-bucket-sse-s3",
        "storage-buckets",
        ("S3.17",),
        "ALB access-log delivery supports only S3-managed encryption (SSE-S3), not SSE-KMS",
        _alb_log_bucket,
    ),
    Waiver(
        "access-log-bucket-sse-s3",
        "storage-buckets",
        ("S3.17",),
        "S3 server access logging cannot deliver to a bucket whose default encryption is SSE-KMS",
        _access_log_bucket,
    ),
    Waiver(
        "idempotency-secret-rotation",
        "secrets",
        ("SecretsManager.1", "SecretsManager.4"),
        "the idempotency HMAC key is deliberately not rotated on a schedule: stored idempotency "
        "keys are HMACs under it, so a rotation would make retries in flight look new and create "
        "second payments; the API reads AWSCURRENT and AWSPREVIOUS, so an operator rotates it by "
        "hand (docs/operations.md, 'The idempotency secret')",
        _idempotency_secret,
    ),
)


def split(
    graph: Graph, violations: list[Violation]
) -> tuple[list[Violation], dict[str, list[Violation]]]:
    """Violations left after waivers, and the violations each waiver absorbed (by waiver id)."""
    kept: list[Violation] = []
    used: dict[str, list[Violation]] = {w.id: [] for w in WAIVERS}
    for violation in violations:
        waiver = next((w for w in WAIVERS if w.matches(graph, violation)), None)
        if waiver is None:
            kept.append(violation)
        else:
            used[waiver.id].append(violation)
    return kept, used
