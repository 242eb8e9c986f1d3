"""The account project recorded offline: its stacks, and its graph under the project's mocks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from account import names
from offline.recorder import ROOT, record
from resource_graph import Graph

ACCOUNT_DIR = ROOT / "account"

# Every account stack the project defines: account/Pulumi.<alias>.yaml, never listed by hand.
ACCOUNT_STACKS = tuple(
    sorted(
        p.name.removeprefix("Pulumi.").removesuffix(".yaml")
        for p in ACCOUNT_DIR.glob("Pulumi.*.yaml")
    )
)


def record_account(stack: str, overrides: Mapping[str, Any] | None = None) -> Graph:
    """Run account/__main__.py under the recording mocks, as `pulumi -C account up -s <stack>`.

    The graph's env and suffix are the account scope (`account`): that is what the account's
    resources carry in their Environment and EnvironmentSuffix tags. `overrides` are extra stack
    config entries (`account:<key>` -> value; None removes one).
    """
    return record(names.SCOPE, stack=stack, root=ACCOUNT_DIR, overrides=overrides)


_GRAPHS: dict[str, Graph] = {}


def account_graph_of(stack: str) -> Graph:
    """The committed stack's graph, recorded once per session (a Graph is frozen data)."""
    if stack not in _GRAPHS:
        _GRAPHS[stack] = record_account(stack)
    return _GRAPHS[stack]


@pytest.fixture(params=ACCOUNT_STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def graph(stack: str) -> Graph:
    return account_graph_of(stack)
