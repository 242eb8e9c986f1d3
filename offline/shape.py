"""Structural identity: the shape of an environment, and the difference between two shapes.

A shape is what must be the same in every environment: which kinds of resource exist under
which concern, how they are wired (parent and dependency edges), and which options they carry.
Suffixes are stripped and counted families (subnets, AZ-placed endpoints, database instances)
collapse to one entry with a count, so counts and values may differ between environments while
kinds and wiring may not.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from resource_graph import Graph, Resource

# Stack config chooses how these are supplied, per deployment rather than per environment: a
# certificate ARN or a generated certificate, a prebuilt image or one built here, an alert
# e-mail or none. The identity check ignores them (and their edges); the guardrails still hold
# for whichever is chosen. A prebuilt image still shows as a wiring difference (the tasks then
# pull from the given repository, not this stack's), which a reviewer should see.
DEPLOYMENT_CHOICES = frozenset(
    {
        "tls:index/privateKey:PrivateKey",
        "tls:index/selfSignedCert:SelfSignedCert",
        "aws:acm/certificate:Certificate",
        "aws:acm/certificateValidation:CertificateValidation",
        "docker-build:index:Image",
        "aws:sns/topicSubscription:TopicSubscription#email",
    }
)

_INDEX = re.compile(r"(-|_)\d+(?=(-|_|$))")
_AZ = re.compile(r"[a-z]{2}-[a-z]+-\d[a-f]")


def family(name: str, suffix: str) -> str:
    """A logical name with the suffix, AZ names and counters folded away."""
    folded = name.replace(suffix, "{suffix}") if suffix else name
    folded = _AZ.sub("{az}", folded)
    return _INDEX.sub(r"\1#", folded)


@dataclass(frozen=True)
class Shape:
    """Families with their counts, and the wiring edges between families."""

    families: Counter[str]
    edges: frozenset[str]


def _key(resource: Resource, graph: Graph) -> str:
    return f"{graph.concern(resource)}:{resource.type}:{family(resource.name, graph.suffix)}"


def is_deployment_choice(resource: Resource) -> bool:
    """True for resources that exist or not by a per-deployment stack-config choice."""
    token = resource.type
    if token == "aws:sns/topicSubscription:TopicSubscription":
        token += f"#{resource.inputs.get('protocol')}"
    return token in DEPLOYMENT_CHOICES


def shape(graph: Graph) -> Shape:
    """The shape of one environment's graph."""
    by_urn = {r.urn: r for r in graph if not is_deployment_choice(r)}
    families: Counter[str] = Counter(_key(r, graph) for r in by_urn.values())
    edges = set()
    for resource in by_urn.values():
        key = _key(resource, graph)
        if resource.parent in by_urn:
            edges.add(f"{key} <parent- {_key(by_urn[resource.parent], graph)}")
        for dep in resource.dependencies:
            # An edge inside one counted family (a reader waiting for the writer) exists only
            # when the count is above one: it is a count, not a difference in wiring.
            if dep in by_urn and _key(by_urn[dep], graph) != key:
                edges.add(f"{key} -depends-> {_key(by_urn[dep], graph)}")
        if resource.delete_before_replace:
            edges.add(f"{key} [delete_before_replace]")
        for ignored in resource.ignore_changes:
            edges.add(f"{key} [ignore_changes {ignored}]")
    return Shape(families, frozenset(edges))


def differences(a: Graph, b: Graph) -> list[str]:
    """Readable lines for every family or edge present in one environment and not the other."""
    sa, sb = shape(a), shape(b)
    lines = []
    for fam in sorted(set(sa.families) ^ set(sb.families)):
        where = a.env if fam in sa.families else b.env
        lines.append(f"resource {fam} only in {where}")
    for edge in sorted(sa.edges ^ sb.edges):
        where = a.env if edge in sa.edges else b.env
        lines.append(f"wiring {edge} only in {where}")
    return lines


def counts(graph: Graph) -> dict[str, int]:
    """Family -> count, for showing how environments differ in size."""
    return dict(shape(graph).families)
