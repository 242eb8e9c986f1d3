"""The account graph as a whole: its snapshot, and the guardrails that apply to it."""

from __future__ import annotations

from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

import guardrails
from guardrails import Violation
from offline.snapshot import render
from resource_graph import Graph


class GraphSnapshot(SingleFileSnapshotExtension):
    """One readable text file per account stack, as the environments' snapshots are."""

    _write_mode = WriteMode.TEXT
    file_extension = "txt"


def test_snapshot(graph: Graph, snapshot: SnapshotAssertion) -> None:
    assert render(graph) == snapshot.use_extension(GraphSnapshot)


def _listing(violations: list[Violation]) -> str:
    return "\n".join(f"  {v}" for v in violations)


def test_account_graph_meets_every_guardrail(graph: Graph) -> None:
    # The same rules as every environment: the trail's own (audit-trail), names under the
    # account's `payment-account-` scope, tags, encryption, destroyability.
    violations = guardrails.evaluate(graph)
    assert not violations, _listing(violations)
