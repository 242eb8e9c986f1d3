"""The architecture diagram: generated from the prod graph, committed, and never stale.

Regenerate with `python -m offline diagram` (or `.venv/bin/python -m offline diagram`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from offline import cli, diagram
from offline.diagram import DATA, LOGS, TRAFFIC, Diagram
from offline.recorder import ROOT
from tests.conftest import Graphs, load_profile


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
    assert _edge(prod, api.id, prod.find("Redis replication group").id).label == "6379"
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


def test_operations_doc_covers_every_alarm(graphs: Graphs) -> None:
    operations = (ROOT / "docs" / "operations.md").read_text()
    alarms = graphs.environment("prod").of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert alarms
    missing = [a.name for a in alarms if f"| `{a.name}` |" not in operations]
    assert not missing, f"docs/operations.md has no row for alarms {missing}"
