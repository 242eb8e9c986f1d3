"""The architecture diagram as plain values: nodes, edges and the boxes (clusters) that hold them.

Shared by the builder (`offline.diagram`), the placement (`offline.diagram_layout`) and the
renderers (`offline.diagram_render`), so that none of them imports another's internals.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

INTERNET = "internet"
ALERT_EMAIL = "alert_email"
TIMES = "\u00d7"  # the multiplication sign before a family's count

# Edge kinds: traffic (security-group paths), data (messages and objects), logs (delivery).
TRAFFIC, DATA, LOGS = "traffic", "data", "logs"

# Cluster styles, from the outside in: the AWS Region, the VPC, a subnet tier (public or
# private by its route table), a group of like resources inside a tier or outside the VPC.
REGION, VPC, PUBLIC_TIER, PRIVATE_TIER, GROUP = "region", "vpc", "public", "private", "group"


@dataclass(frozen=True)
class Node:
    """One box: a main resource, or a family of them collapsed with a count."""

    id: str
    concern: str
    kind: str
    name: str
    shape: str
    count: int = 1
    icon: str = ""  # path of the AWS icon under the `diagrams` package's resources folder

    def text(self, newline: str) -> str:
        """Kind on the first line, name (and count) on the second."""
        count = f"{TIMES}{self.count}" if self.count > 1 else ""
        name = " ".join(part for part in (self.name, count) if part)
        return f"{self.kind}{newline}{name}" if name else self.kind


@dataclass(frozen=True, order=True)
class Edge:
    """A traffic or data path between two nodes."""

    source: str
    target: str
    label: str
    kind: str


@dataclass(frozen=True)
class Cluster:
    """A box drawn around nodes: the Region, the VPC, a subnet tier or a group."""

    id: str
    label: str
    style: str
    parent: str | None = None


@dataclass(frozen=True)
class Diagram:
    """Nodes, the boxes that hold them and the edges between them, all sorted.

    `placement` pairs a node with its innermost cluster (nodes outside every box, such as the
    internet, have none). `boxed` names nodes drawn as a box instead of an icon (a subnet family
    is its tier, the ECS cluster the box around its services); they keep their place in the
    model. `request_path` is the chain internet -> WAF -> ALB -> API -> data stores that the
    renderers lay out left to right.
    """

    env: str
    members: tuple[Node, ...]
    clusters: tuple[Cluster, ...]
    placement: tuple[tuple[str, str], ...]
    boxed: tuple[tuple[str, str], ...]  # (node id, cluster id it is drawn as)
    edges: tuple[Edge, ...]
    request_path: tuple[str, ...]

    def node(self, node_id: str) -> Node:
        for node in self.members:
            if node.id == node_id:
                return node
        raise LookupError(node_id)

    def nodes(self) -> Iterator[Node]:
        yield from self.members

    def find(self, kind: str, name: str | None = None) -> Node:
        """The single node of a kind (and name), e.g. `find("ALB")`."""
        found = [n for n in self.members if n.kind == kind and name in (None, n.name)]
        if len(found) != 1:
            raise LookupError(f"expected one node {kind} {name or ''}, found {len(found)}")
        return found[0]

    def path(self, *node_ids: str) -> bool:
        """Whether edges lead from each node to the next, in order."""
        pairs = {(e.source, e.target) for e in self.edges}
        return all(pair in pairs for pair in itertools.pairwise(node_ids))

    def cluster(self, cluster_id: str) -> Cluster:
        for cluster in self.clusters:
            if cluster.id == cluster_id:
                return cluster
        raise LookupError(cluster_id)

    def cluster_of(self, node_id: str) -> str | None:
        """The innermost cluster a node is drawn in, if any."""
        return dict(self.placement).get(node_id)

    def ancestry(self, node_id: str) -> tuple[Cluster, ...]:
        """Every cluster around a node, outermost first."""
        chain: list[Cluster] = []
        current = self.cluster_of(node_id)
        while current is not None:
            cluster = self.cluster(current)
            chain.append(cluster)
            current = cluster.parent
        return tuple(reversed(chain))

    def drawn(self) -> tuple[Node, ...]:
        """The nodes drawn as icons (every member but the boxed ones)."""
        boxed = {node_id for node_id, _ in self.boxed}
        return tuple(n for n in self.members if n.id not in boxed)

    def children(self, parent: str | None) -> tuple[Cluster, ...]:
        return tuple(c for c in self.clusters if c.parent == parent)

    def inside(self, cluster_id: str | None) -> tuple[Node, ...]:
        """The drawn nodes whose innermost cluster is `cluster_id` (None: outside every box)."""
        return tuple(n for n in self.drawn() if self.cluster_of(n.id) == cluster_id)
