"""Per-rule synthetic cases: for each rule a graph that passes and graphs that must fail.

Each Case names the rule, a good graph (the rule finds nothing), a bad graph, the control the
violation must cite and the resource it must name. One module per concern, as in
`guardrails.rules`; `CASES` lists them in the order the tests parametrize over.
"""

from __future__ import annotations

from tests.guardrails.cases import (
    audit,
    cache,
    compute,
    database,
    design,
    edge,
    iam,
    keys,
    logging,
    messaging,
    network,
    secrets,
    storage,
)
from tests.guardrails.cases.base import Case

__all__ = ["CASES", "Case"]

CASES: list[Case] = [
    *network.CASES,
    *edge.CASES,
    *compute.CASES,
    *database.CASES,
    *cache.CASES,
    *messaging.CASES,
    *keys.CASES,
    *secrets.CASES,
    *iam.CASES,
    *logging.CASES,
    *audit.CASES,
    *storage.CASES,
    *design.CASES,
]
