"""`cost`: a monthly estimate per environment from its recorded graph, at dated list prices.

    python -m offline cost [--env dev] [--env prod] [--format text|json]

Per resource, per concern and in total, idle (autoscaling minimums, Aurora at its minimum ACU)
and at the autoscaling maximum, with every assumption printed. Sizes come from the graph, so
the estimate moves with the code; prices come from offline/prices-us-east-1.toml, each with its
source page. A billable resource nothing can price, or an unknown environment, exits 2: a cost
that silently reads $0 is worse than none.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from config import ConfigError, known_environments
from offline import cost_prices, cost_rules
from offline.cost_prices import PriceTable, UnpricedError
from offline.recorder import ROOT, record
from resource_graph import Graph, Resource

EXIT_BAD_INPUT = 2
LARGEST = 5  # resources named after the totals: where the money goes

# The graph's components are finer than the concerns a bill is read by: endpoints are network
# plumbing, log groups are observability, security holds only free kinds (groups, rules, IAM).
CONCERN_OF = {"endpoints": "network", "logs": "observability", "security": "network"}

GENERAL_ASSUMPTIONS = (
    "month = {hours:g} hours; us-east-1 on-demand list prices, no free tier, no savings plans",
    "idle = autoscaling minimums (desired count where there is no target), Aurora at min ACU",
    "at max = every autoscaling target at its maximum, Aurora at max ACU, the [usage] max guesses",
    "not counted: internet and cross-AZ data transfer, backups and snapshots beyond the free "
    "allowance, Performance Insights (7-day free tier), enhanced-monitoring log volume",
)


@dataclass(frozen=True)
class Line:
    """One priced resource: its charges summed, and their items for the reader."""

    name: str
    type: str
    concern: str
    idle: float
    max: float
    items: tuple[cost_rules.Charge, ...]


@dataclass(frozen=True)
class Estimate:
    """One environment's month: every billable resource, and the assumptions behind them."""

    env: str
    lines: tuple[Line, ...]
    assumptions: tuple[str, ...]

    @property
    def idle(self) -> float:
        return sum(line.idle for line in self.lines)

    @property
    def max(self) -> float:
        return sum(line.max for line in self.lines)

    def concerns(self) -> dict[str, tuple[float, float]]:
        """Idle and max per concern, largest idle first."""
        sums: dict[str, tuple[float, float]] = {}
        for line in self.lines:
            idle, high = sums.get(line.concern, (0.0, 0.0))
            sums[line.concern] = (idle + line.idle, high + line.max)
        return dict(sorted(sums.items(), key=lambda kv: (-kv[1][0], kv[0])))


def concern(resource: Resource, graph: Graph) -> str:
    """The concern a bill is read by, from the resource's `payment:<concern>:...` component."""
    found = graph.concern(resource)
    return CONCERN_OF.get(found, found)


def _line(resource: Resource, graph: Graph, table: PriceTable) -> Line:
    items = tuple(cost_rules.charges(resource, graph, table))
    return Line(
        name=resource.name,
        type=resource.type,
        concern=concern(resource, graph),
        idle=sum(c.idle for c in items),
        max=sum(c.max for c in items),
        items=items,
    )


def estimate(graph: Graph, table: PriceTable) -> Estimate:
    """Price every billable resource of the graph; `UnpricedError` lists all that cannot be."""
    lines: list[Line] = []
    problems: list[str] = []
    for resource in graph:
        if cost_rules.is_free(resource):
            continue
        try:
            lines.append(_line(resource, graph, table))
        except cost_rules.CannotPriceError as why:
            problems.append(f"{graph.env}: cannot price {resource.type} {resource.name!r}: {why}")
    if problems:
        raise UnpricedError(problems)
    notes = [text.format(hours=table.hours) for text in GENERAL_ASSUMPTIONS]
    for line in lines:
        for charge in line.items:
            notes.extend(n for n in charge.notes if n not in notes)
    lines.sort(key=lambda ln: (ln.concern, -ln.idle, -ln.max, ln.name))
    return Estimate(graph.env, tuple(lines), tuple(notes))


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _header(table: PriceTable) -> str:
    checked = "verified" if table.verified else "not re-checked against the source pages"
    return (
        f"list prices as of {table.as_of} ({table.region}, {checked}); "
        f"{table.file.removeprefix(str(ROOT) + '/')}"
    )


def text_report(est: Estimate, table: PriceTable) -> list[str]:
    """The estimate as the terminal shows it: resources, concerns, totals, assumptions."""
    width = max([len(line.name) for line in est.lines] + [8])
    kind = max([len(line.type) for line in est.lines] + [4])
    out = [f"{est.env}: monthly estimate, USD; {_header(table)}"]
    out.append(f"  {'resource':<{width}}  {'type':<{kind}}  {'idle':>10}  {'at max':>10}  items")
    current = None
    for line in est.lines:
        if line.concern != current:
            current = line.concern
            out.append(f"  [{current}]")
        items = "; ".join(c.item for c in line.items)
        out.append(
            f"  {line.name:<{width}}  {line.type:<{kind}}  {_money(line.idle):>10}  "
            f"{_money(line.max):>10}  {items}"
        )
    out.append("  per concern")
    for name, (idle, high) in est.concerns().items():
        out.append(f"    {name:<16}{_money(idle):>10}  {_money(high):>10}")
    out.append(f"  {'total':<18}{_money(est.idle):>10}  {_money(est.max):>10}")
    top = sorted(est.lines, key=lambda ln: -ln.idle)[:LARGEST]
    named = (f"{ln.name} ({ln.type.rsplit(':', 1)[-1]}) {_money(ln.idle)}" for ln in top)
    out.append("  largest idle: " + ", ".join(named))
    out.append("  assumptions")
    out.extend(f"    - {note}" for note in est.assumptions)
    return out


def json_report(est: Estimate) -> dict[str, Any]:
    """The same estimate as plain JSON, amounts rounded to a tenth of a cent."""
    return {
        "environment": est.env,
        "resources": [
            {
                "name": line.name,
                "type": line.type,
                "concern": line.concern,
                "idle": round(line.idle, 3),
                "max": round(line.max, 3),
                "items": [
                    {"item": c.item, "idle": round(c.idle, 3), "max": round(c.max, 3)}
                    for c in line.items
                ],
            }
            for line in est.lines
        ],
        "concerns": {
            name: {"idle": round(idle, 3), "max": round(high, 3)}
            for name, (idle, high) in est.concerns().items()
        },
        "total": {"idle": round(est.idle, 3), "max": round(est.max, 3)},
        "assumptions": list(est.assumptions),
    }


def cmd_cost(args: argparse.Namespace) -> int:
    """Estimate each chosen environment; exit 2 naming what is unknown or cannot be priced."""
    known = known_environments(ROOT)
    envs = args.env or known
    unknown = [env for env in envs if env not in known]
    if unknown:
        print(
            f"cost: unknown environment {', '.join(unknown)} (known: {', '.join(known)})",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    table = cost_prices.load()
    try:
        estimates = [estimate(record(env), table) for env in envs]
    except (UnpricedError, ConfigError) as error:
        print("\n".join(f"cost: {line}" for line in str(error).splitlines()), file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.format == "json":
        document = {
            "as_of": table.as_of,
            "verified": table.verified,
            "region": table.region,
            "hours_per_month": table.hours,
            "environments": [json_report(est) for est in estimates],
        }
        print(json.dumps(document, indent=2))
    else:
        print("\n\n".join("\n".join(text_report(est, table)) for est in estimates))
    return 0


def add_parser(sub: Any) -> None:
    cost = sub.add_parser("cost", help="monthly estimate per environment at list prices")
    cost.add_argument("--env", action="append", help="environment (repeatable; default all)")
    cost.add_argument("--format", choices=("text", "json"), default="text")
    cost.set_defaults(func=cmd_cost)


def run_cli(argv: Sequence[str] | None = None) -> int:
    """`cost` on its own, until offline/cli.py registers it: same arguments, same exit codes."""
    parser = argparse.ArgumentParser(prog="python -m offline")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(["cost", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args))
