"""The architecture diagram: generated from the prod graph, committed, and never stale.

Regenerate with `python -m offline diagram` (or `.venv/bin/python -m offline diagram`).
The layout rules (what sits in which box, the request path left to right) are checked on the
model, on the committed Mermaid, and, where Graphviz is installed, on dot's own layout.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from offline import cli, diagram
from offline.diagram import DATA, LOGS, TRAFFIC, Diagram
from offline.diagram_layout import columns
from offline.diagram_model import PRIVATE_TIER, PUBLIC_TIER, REGION, VPC
from offline.recorder import ROOT
from resource_graph import Graph
from tests.conftest import Graphs, load_profile

# Regional services: never inside the VPC box.
REGIONAL_KINDS = (
    "SQS queue",
    "SNS topic",
    "S3 bucket",
    "secret",
    "KMS key",
    "log group",
    "CloudWatch alarms",
    "dashboard",
    "WAF web ACL",
    "ECR repository",
)
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` not installed")


@pytest.fixture(scope="module")
def prod(graphs: Graphs) -> Diagram:
    return diagram.build(graphs.environment("prod"))


def _edge(d: Diagram, source: str, target: str) -> diagram.Edge:
    found = [e for e in d.edges if e.source == source and e.target == target]
    assert len(found) == 1, f"expected one edge {source} -> {target}, found {found}"
    return found[0]


def test_committed_diagram_matches_a_fresh_render(graphs: Graphs) -> None:
    stale = diagram.stale(diagram.rendered(graphs.environment("prod")))
    assert not stale, (
        f"stale: {', '.join(p.name for p in stale)}; run `python -m offline diagram` and commit"
    )


def test_request_path_alb_to_api_to_database(prod: Diagram) -> None:
    alb = prod.find("ALB")
    api = prod.find("Fargate service", "api")
    database = prod.find("Aurora PostgreSQL cluster")
    assert prod.path(diagram.INTERNET, alb.id, api.id, database.id)
    port = str(load_profile("prod").compute.container_port)
    assert _edge(prod, diagram.INTERNET, alb.id) == diagram.Edge(
        diagram.INTERNET, alb.id, "443, 80", TRAFFIC
    )
    assert _edge(prod, alb.id, api.id).label == port
    assert _edge(prod, api.id, database.id).label == "5432"
    assert _edge(prod, api.id, prod.find("Valkey replication group").id).label == "6379"
    # The committed files draw the same path.
    mermaid = diagram.MERMAID.read_text()
    assert f'{alb.id} -->|"{port}"| {api.id}' in mermaid
    assert f'{api.id} -->|"5432"| {database.id}' in mermaid
    assert f"{alb.id} -> {api.id}" in diagram.DOT.read_text()
    assert mermaid in diagram.MARKDOWN.read_text()


def test_message_flow_and_dead_letter_queues(prod: Diagram) -> None:
    api = prod.find("Fargate service", "api")
    worker = prod.find("Fargate service", "worker")
    queue = prod.find("SQS queue", "payment-queue")
    events = prod.find("SNS topic", "events")
    notifications = prod.find("SQS queue", "notifications")
    assert prod.path(api.id, queue.id, worker.id, events.id, notifications.id)
    assert prod.path(worker.id, prod.find("S3 bucket", "transaction-logs").id)
    for source, dlq in (("payment-queue", "payment-dlq"), ("notifications", "notifications-dlq")):
        redrive = _edge(prod, prod.find("SQS queue", source).id, prod.find("SQS queue", dlq).id)
        assert redrive.kind == DATA
        assert str(load_profile("prod").messaging.max_receive_count) in redrive.label
    assert prod.path(prod.find("CloudWatch alarms").id, prod.find("SNS topic", "alerts").id)


def test_log_delivery(prod: Diagram) -> None:
    logs = [e for e in prod.edges if e.kind == LOGS]
    assert any(e.source == prod.find("VPC").id and e.label == "flow logs" for e in logs)
    api = prod.find("Fargate service", "api")
    assert any(e.source == api.id and e.label == "container logs" for e in logs)


def test_counted_families_collapse_with_their_count(prod: Diagram) -> None:
    profile = load_profile("prod")
    assert prod.find("subnets", "private").count == profile.network.az_count
    assert prod.find("Aurora instances").count == 1 + profile.database.reader_count
    assert prod.find(diagram.INTERFACE_ENDPOINTS).count > 1


def test_render_is_deterministic(graphs: Graphs, prod: Diagram) -> None:
    again = diagram.build(graphs.environment("prod"))
    assert diagram.render_mermaid(again) == diagram.render_mermaid(prod)
    assert diagram.render_dot(again) == diagram.render_dot(prod)
    assert list(prod.edges) == sorted(prod.edges)


def test_check_exits_1_when_stale(
    graphs: Graphs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(diagram, "record", lambda env: graphs.environment(env))
    assert cli.main(["diagram", "--check"]) == 0
    old = tmp_path / "architecture.mmd"
    old.write_text("flowchart LR\n")
    monkeypatch.setattr(diagram, "MERMAID", old)
    assert cli.main(["diagram", "--check"]) == 1
    assert old.read_text() == "flowchart LR\n"  # --check never writes


def test_embed_replaces_only_the_marked_block() -> None:
    text = f"# A\n\nbefore\n{diagram.START}\nold\n{diagram.END}\nafter\n"
    out = diagram.embed(text, "flowchart LR\n")
    assert (
        out
        == f"# A\n\nbefore\n{diagram.START}\n```mermaid\nflowchart LR\n```\n{diagram.END}\nafter\n"
    )
    with pytest.raises(ValueError, match="markers"):
        diagram.embed("# no markers\n", "flowchart LR\n")


def _styles(d: Diagram, node_id: str) -> list[str]:
    return [c.style for c in d.ancestry(node_id)]


def test_services_sit_in_the_private_tier_of_their_subnets(graphs: Graphs, prod: Diagram) -> None:
    graph = graphs.environment("prod")
    tiers = _tier_of_subnet(graph, prod)
    for service in graph.of_type("aws:ecs/service:Service"):
        node = prod.find("Fargate service", service.name)
        chain = prod.ancestry(node.id)
        assert [c.style for c in chain][:3] == [REGION, VPC, PRIVATE_TIER], (node.id, chain)
        subnets = service.get("networkConfiguration")["subnets"]
        assert {tiers[s] for s in subnets} == {chain[2].id}
        assert "ECS cluster" in chain[-1].label  # drawn inside its ECS cluster's box


def _tier_of_subnet(graph: Graph, d: Diagram) -> dict[str, str]:
    """Subnet id -> the tier box its family is drawn as."""
    boxed = dict(d.boxed)
    members = {
        str(s.id): boxed[n.id]
        for s in graph.of_type("aws:ec2/subnet:Subnet")
        for n in d.members
        if n.kind == "subnets" and n.name == s.name.rsplit("-", 1)[0]
    }
    assert len(members) == len(graph.of_type("aws:ec2/subnet:Subnet"))
    return members


def test_tiers_come_from_subnets_and_route_tables(graphs: Graphs, prod: Diagram) -> None:
    profile = load_profile("prod")
    tiers = [c for c in prod.clusters if c.style in (PUBLIC_TIER, PRIVATE_TIER)]
    assert sorted(c.style for c in tiers) == [PRIVATE_TIER, PUBLIC_TIER]
    public = next(c for c in tiers if c.style == PUBLIC_TIER)
    assert "internet gateway" in public.label
    zones = sorted(
        str(s.get("availabilityZoneId"))
        for s in graphs.environment("prod").of_type("aws:ec2/subnet:Subnet")
        if s.name.startswith("public-")
    )
    assert len(zones) == profile.network.az_count
    assert ", ".join(zones) in public.label
    assert f"{diagram.TIMES}{profile.network.az_count}" in public.label
    # The subnet families are the tier boxes, not icons.
    assert {n for n, _ in prod.boxed} >= {prod.find("subnets", "public").id}
    assert prod.find("ALB") in prod.drawn()
    assert _styles(prod, prod.find("ALB").id)[:3] == [REGION, VPC, PUBLIC_TIER]


def test_data_stores_sit_in_the_data_tier(prod: Diagram) -> None:
    for kind in ("Aurora PostgreSQL cluster", "Aurora instances", "Valkey replication group"):
        chain = prod.ancestry(prod.find(kind).id)
        assert [c.style for c in chain][:3] == [REGION, VPC, PRIVATE_TIER], (kind, chain)
        assert chain[-1].label == "data", (kind, chain)
    endpoints = prod.ancestry(prod.find(diagram.INTERFACE_ENDPOINTS).id)
    assert endpoints[-1].label == "VPC endpoints" and endpoints[2].style == PRIVATE_TIER


def test_regional_services_stay_outside_the_vpc(prod: Diagram) -> None:
    regional = [n for n in prod.members if n.kind in REGIONAL_KINDS]
    assert {n.kind for n in regional} == set(REGIONAL_KINDS)
    for node in regional:
        styles = _styles(prod, node.id)
        assert styles[:1] == [REGION] and VPC not in styles, (node.id, styles)
    ops = {n.id for n in prod.inside("regional_ops")}
    for kind in ("KMS key", "log group", "CloudWatch alarms"):
        assert {n.id for n in regional if n.kind == kind} <= ops
    assert prod.find("SNS topic", "alerts").id in ops  # only alarms publish to it


def test_request_path_runs_left_to_right(prod: Diagram) -> None:
    path = prod.request_path
    assert path[:5] == (
        diagram.INTERNET,
        prod.find("WAF web ACL").id,
        prod.find("ALB").id,
        prod.find("Fargate service", "api").id,
        prod.find("Aurora PostgreSQL cluster").id,
    )
    col = columns(prod)
    assert [col[n] for n in path[:5]] == [0, 1, 2, 3, 4]
    assert col[prod.find("Valkey replication group").id] == col[path[4]]
    # The message flow stands beside the path, never left of the service that feeds it.
    worker = prod.find("Fargate service", "worker").id
    assert col[worker] == col[path[3]]
    assert col[prod.find("SQS queue", "payment-queue").id] > col[path[3]]


def _mermaid_boxes(text: str) -> dict[str, list[str]]:
    """Node id -> the subgraphs around its declaration in the Mermaid text, outermost first."""
    stack: list[str] = []
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["subgraph"]:
            stack.append(re.split(r"[\[ ]", words[1])[0])
        elif words == ["end"]:
            stack.pop()
        elif m := re.match(r"\s+(\w+)[\[(]", line):
            found[m.group(1)] = list(stack)
    return found


def test_mermaid_draws_the_same_boxes(prod: Diagram) -> None:
    boxes = _mermaid_boxes(diagram.MERMAID.read_text())
    for node in prod.drawn():
        assert boxes[node.id] == [c.id for c in prod.ancestry(node.id)], node.id


def _plain_positions(dot_text: str) -> dict[str, tuple[float, float]]:
    """dot's node centres; without the icon set a missing icon is reported, the layout stays."""
    icons = diagram.icon_dir()
    args = ["dot", "-Tplain", *([f"-Gimagepath={icons}"] if icons else [])]
    done = subprocess.run(args, input=dot_text, text=True, capture_output=True, check=False)
    assert done.stdout.startswith("graph "), done.stderr
    return {
        parts[1]: (float(parts[2]), float(parts[3]))
        for parts in (line.split() for line in done.stdout.splitlines())
        if parts[:1] == ["node"]
    }


@needs_dot
def test_dot_lays_the_request_path_left_to_right_above_the_rest(prod: Diagram) -> None:
    pos = _plain_positions(diagram.DOT.read_text())
    xs = [pos[n][0] for n in prod.request_path[:5]]
    assert xs == sorted(xs) and len(set(xs)) == len(xs), xs
    api_y = pos[prod.find("Fargate service", "api").id][1]
    below = [n.id for n in prod.inside("regional_services")] + [
        n.id for n in prod.inside("regional_ops")
    ]
    assert all(pos[n][1] < api_y for n in below)  # dot's y grows upwards


def test_committed_image_exists_and_dot_source_names_no_machine_path() -> None:
    assert diagram.PNG.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = diagram.DOT.read_text()
    icons = re.findall(r'IMG SRC="([^"]+)"', text)
    assert icons and all(not icon.startswith("/") for icon in icons)
    assert str(ROOT) not in text and "site-packages" not in text


def test_every_icon_exists_in_the_icon_set(prod: Diagram) -> None:
    pytest.importorskip("diagrams")
    resources = diagram.icon_dir()
    assert resources is not None
    missing = [n.icon for n in prod.drawn() if not (resources / n.icon).is_file()]
    assert not missing and all(n.icon for n in prod.drawn())


@needs_dot
def test_committed_dot_renders_without_error(tmp_path: Path) -> None:
    pytest.importorskip("diagrams")
    target = tmp_path / "architecture.png"
    diagram.render_image(diagram.DOT.read_text(), target)  # raises on any dot message
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_operations_doc_covers_every_alarm(graphs: Graphs) -> None:
    operations = (ROOT / "docs" / "operations.md").read_text()
    alarms = graphs.environment("prod").of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert alarms
    missing = [a.name for a in alarms if f"| `{a.name}` |" not in operations]
    assert not missing, f"docs/operations.md has no row for alarms {missing}"
