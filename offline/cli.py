"""Offline commands: see and check what an environment would build, with no cloud account.

    python -m offline plan --env dev [--suffix pr-142] [--json build/plan-dev.json]
    python -m offline matrix [--suffix pr-142]
    python -m offline bench [--repeat 3]
    python -m offline config-docs [--check]

Bad configuration prints one line per problem (key, layer and file, value, what is allowed)
and exits 2; nothing is synthesised then.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from config import ConfigError, known_environments, resolve
from offline.recorder import ROOT, record, stack_config
from resource_graph import Graph

EXIT_CONFIG = 2
EXIT_DIVERGED = 3

# The sizing values `plan` shows, with the layer each came from.
KEY_VALUES = (
    "network.vpc_cidr",
    "network.az_count",
    "network.endpoint_az_count",
    "compute.cpu",
    "compute.memory",
    "compute.desired_count",
    "compute.min_count",
    "compute.max_count",
    "database.min_acu",
    "database.max_acu",
    "database.reader_count",
    "database.backup_retention_days",
    "cache.node_type",
    "cache.replica_count",
    "edge.waf_rate_limit",
    "observability.log_retention_days",
)


def _lookup(data: object, dotted: str) -> object:
    for part in dotted.split("."):
        data = getattr(data, part)
    return data


def cmd_plan(args: argparse.Namespace) -> int:
    """Synthesise one environment, summarise it and write its graph as JSON."""
    resolved = resolve(
        stack_config(args.env, args.suffix), stack_file=f"Pulumi.{args.env}.yaml", root=ROOT
    )
    started = time.perf_counter()
    graph = record(args.env, args.suffix)
    elapsed = time.perf_counter() - started
    profile = resolved.profile
    summary = f"{len(graph)} resources, {elapsed:.2f} s"
    print(f"environment {profile.env}  suffix {profile.suffix}  ({summary})")
    print("\nresources per concern")
    counts = Counter(graph.concern(r) for r in graph if r.custom)
    for concern, count in sorted(counts.items()):
        print(f"  {concern:<15} {count:>4}")
    print("\nsizing (value  <- layer, file)")
    for key in KEY_VALUES:
        print(f"  {key:<36} {_lookup(profile, key)!s:<22} <- {resolved.sources[key]}")
    out = Path(args.json or ROOT / "build" / f"plan-{profile.suffix}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(graph_to_json(graph), indent=2, sort_keys=True))
    print(f"\ngraph written to {out}")
    return 0


def graph_to_json(graph: Graph) -> dict[str, object]:
    """The graph as plain JSON: resources with type, name, parent, inputs and dependencies."""
    return {
        "environment": graph.env,
        "suffix": graph.suffix,
        "outputs": dict(graph.outputs),
        "resources": [
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "parent": r.parent,
                "inputs": dict(r.inputs),
                "dependencies": list(r.dependencies),
                "delete_before_replace": r.delete_before_replace,
                "ignore_changes": list(r.ignore_changes),
            }
            for r in graph
        ],
    }


def cmd_bench(args: argparse.Namespace) -> int:
    """Time offline synthesis per environment: the cold run in a fresh interpreter, then warm."""
    import subprocess

    envs = args.env or ["dev", "staging", "prod"]
    for env in envs:  # bad config fails here, with the one-line errors, before any timing
        resolve(stack_config(env), stack_file=f"Pulumi.{env}.yaml", root=ROOT)
    print(f"{'environment':<12} {'resources':>9} {'cold (s)':>9} {'warm (s)':>9}")
    for env in envs:
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "offline",
                "plan",
                "--env",
                env,
                "--json",
                f"build/bench-{env}.json",
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        cold = time.perf_counter() - started
        warm = []
        count = 0
        for _ in range(args.repeat):
            started = time.perf_counter()
            count = len(record(env))
            warm.append(time.perf_counter() - started)
        print(f"{env:<12} {count:>9} {cold:>9.2f} {min(warm):>9.2f}")
    print("cold = whole `plan` command including interpreter start; target < 3 s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m offline", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    envs = known_environments(ROOT)

    plan = sub.add_parser("plan", help="synthesise one environment offline and summarise it")
    plan.add_argument("--env", required=True, help=f"environment ({', '.join(envs)}, ...)")
    plan.add_argument("--suffix", help="environmentSuffix override, e.g. pr-142")
    plan.add_argument("--json", help="where to write the graph (default build/plan-<suffix>.json)")
    plan.set_defaults(func=cmd_plan)

    bench = sub.add_parser("bench", help="offline synthesis time and resource count per env")
    bench.add_argument("--env", action="append", help="environment (repeatable; default all)")
    bench.add_argument("--repeat", type=int, default=3)
    bench.set_defaults(func=cmd_bench)

    from offline import diagram, docs, matrix

    matrix.add_parser(sub)
    diagram.add_parser(sub)
    docs.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        for message in exc.messages:
            print(f"config error: {message}", file=sys.stderr)
        return EXIT_CONFIG
    except BrokenPipeError:  # output piped into a reader that stopped early (`| head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
