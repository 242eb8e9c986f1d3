"""The dated list-price table (offline/prices-us-east-1.toml) as frozen data.

Prices live in a data file, each with the page it comes from, so a price change is a reviewed
one-line diff and the code never carries a number; a lookup of a price the table lacks raises,
because a missing price must stop the estimate rather than count as $0.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRICES = Path(__file__).with_name("prices-us-east-1.toml")


class UnpricedError(Exception):
    """Billable resources the table or the rules cannot price; one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Price:
    """One list price: dollars per `unit`, as published on `source`."""

    key: str
    usd: float
    unit: str
    source: str


@dataclass(frozen=True)
class Usage:
    """A usage quantity the graph cannot know, guessed for an idle and a maxed-out month."""

    key: str
    idle: float
    max: float
    unit: str

    def note(self) -> str:
        """The assumption as printed with every estimate that uses it."""
        return f"{self.key}: {self.idle:g} idle, {self.max:g} at max ({self.unit})"


@dataclass(frozen=True)
class PriceTable:
    """The whole table: when it was written, the month's hours, prices and usage guesses."""

    as_of: str
    verified: bool
    region: str
    hours: float
    prices: Mapping[str, Price]
    usage: Mapping[str, Usage]
    file: str = str(PRICES)

    def usd(self, key: str) -> float:
        """A price by dotted key; `KeyError` names the key when the table lacks it."""
        if key not in self.prices:
            raise KeyError(key)
        return self.prices[key].usd

    def guess(self, key: str) -> Usage:
        return self.usage[key]


def _leaves(node: Mapping[str, Any], prefix: str = "") -> dict[str, Price]:
    """Every {usd, unit, source} table under `node`, keyed by its dotted path."""
    found: dict[str, Price] = {}
    for name, value in node.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping) and "usd" in value:
            found[key] = Price(key, float(value["usd"]), str(value["unit"]), str(value["source"]))
        elif isinstance(value, Mapping):
            found.update(_leaves(value, f"{key}."))
    return found


def load(path: Path = PRICES) -> PriceTable:
    """Read the table; a price without a source page is refused, as an unsourced number."""
    raw = tomllib.loads(path.read_text())
    body = {k: v for k, v in raw.items() if isinstance(v, dict) and k != "usage"}
    prices = _leaves(body)
    unsourced = [key for key, price in prices.items() if not price.source.startswith("https://")]
    if unsourced:
        raise ValueError(f"{path}: prices without a source page: {', '.join(unsourced)}")
    usage = {
        key: Usage(key, float(v["idle"]), float(v["max"]), str(v["unit"]))
        for key, v in raw.get("usage", {}).items()
    }
    return PriceTable(
        as_of=str(raw["as_of"]),
        verified=bool(raw.get("verified", False)),
        region=str(raw["region"]),
        hours=float(raw["hours_per_month"]),
        prices=prices,
        usage=usage,
        file=str(path),
    )
