"""Offline commands: see and check what an environment would build, with no cloud account.

    python -m offline plan --env dev [--suffix pr-142] [--config-file F] [--json build/plan.json]
    python -m offline matrix [--suffix pr-142]
    python -m offline bench [--repeat 3] [--suite]
    python -m offline config-docs [--check]

Every command reads ENV_FOR_DYNACONF as `pulumi up` does. `plan` lists every profile key (not
a selection: a value nobody sees is a value nobody reviews) with its layer, file and line, and
`--json` writes the same beside the graph; secrets show as `[secret]` there and in the graph.
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
from typing import Any

from config import PROFILE_KEYS, SECRET_KEYS, ConfigError, Resolved, known_environments, resolve
from offline.matrix import value_text
from offline.recorder import ROOT, record, stack_config
from resource_graph import Graph

EXIT_CONFIG = 2
EXIT_DIVERGED = 3
VALUE_COLUMN = 40  # values align up to this width; a longer one is printed whole


def profile_json(resolved: Resolved) -> dict[str, dict[str, Any]]:
    """Every profile key: the value as it may be shown, and the layer, file and line."""
    entries = {}
    for key in PROFILE_KEYS:
        source = resolved.sources.get(key)
        entries[key] = {
            "value": resolved.shown(key),
            "secret": key in SECRET_KEYS,
            "unknown": key in resolved.unknown,
            "layer": source.layer if source else None,
            "file": source.file if source else None,
            "line": source.line if source else None,
        }
    return entries


def profile_lines(resolved: Resolved) -> list[str]:
    """Every profile key with its value and where it was set, values never cut."""
    texts = {key: value_text(resolved.shown(key)) for key in PROFILE_KEYS}
    width = max(len(key) for key in PROFILE_KEYS)
    column = min(VALUE_COLUMN, max(len(text) for text in texts.values()))
    lines = []
    for key in PROFILE_KEYS:
        source = resolved.sources.get(key)
        where = str(source) if source else "set by no layer"
        lines.append(f"  {key:<{width}}  {texts[key]:<{column}}  <- {where}")
    for key in sorted(resolved.unknown):
        lines.append(
            f"  ({key} is encrypted in {resolved.sources[key].location}: unknown offline, "
            "so the program got a placeholder)"
        )
    return lines


def _stack_file(args: argparse.Namespace) -> tuple[Path | None, str]:
    """`--config-file`, if given, and the stack file's name as errors show it."""
    if not args.config_file:
        return None, f"Pulumi.{args.env}.yaml"
    path = Path(args.config_file).resolve()
    try:
        return path, str(path.relative_to(ROOT))
    except ValueError:
        return path, str(path)


def cmd_plan(args: argparse.Namespace) -> int:
    """Synthesise one environment, summarise it, list its profile; write both as JSON."""
    config_file, stack_file = _stack_file(args)
    resolved = resolve(
        stack_config(args.env, args.suffix, ROOT, config_file=config_file),
        stack_file=stack_file,
        root=ROOT,
    )
    started = time.perf_counter()
    graph = record(args.env, args.suffix, root=ROOT, config_file=config_file, redact_secrets=True)
    elapsed = time.perf_counter() - started
    profile = resolved.profile
    summary = f"{len(graph)} resources, {elapsed:.2f} s"
    print(f"environment {profile.env}  suffix {profile.suffix}  ({summary})")
    print("\nresources per concern")
    counts = Counter(graph.concern(r) for r in graph if r.custom)
    for concern, count in sorted(counts.items()):
        print(f"  {concern:<15} {count:>4}")
    print("\nprofile (value  <- layer, file:line)")
    print("\n".join(profile_lines(resolved)))
    out = Path(args.json or ROOT / "build" / f"plan-{profile.suffix}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {**graph_to_json(graph), "profile": profile_json(resolved)}
    out.write_text(json.dumps(document, indent=2, sort_keys=True))
    print(f"\ngraph and profile written to {out}")
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
    """`plan`, `matrix` and a plain reference program side by side (offline/bench.py)."""
    from offline import bench

    envs = args.env or known_environments(ROOT)
    for env in {args.plan_env, *envs}:  # bad config fails here, with the one-line errors
        resolve(stack_config(env), stack_file=f"Pulumi.{env}.yaml", root=ROOT)
    suite = None
    if args.suite:
        suite = ["-n", str(args.suite_workers)] if args.suite_workers else ["-p", "no:xdist"]
    print("\n".join(bench.bench(args.plan_env, envs, args.repeat, suite)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m offline", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    envs = known_environments(ROOT)

    plan = sub.add_parser("plan", help="synthesise one environment offline and summarise it")
    plan.add_argument("--env", required=True, help=f"environment ({', '.join(envs)}, ...)")
    plan.add_argument("--suffix", help="environmentSuffix override, e.g. pr-142")
    plan.add_argument(
        "--config-file",
        help="stack file to read instead of Pulumi.<env>.yaml (as `pulumi --config-file`)",
    )
    plan.add_argument("--json", help="where to write the graph (default build/plan-<suffix>.json)")
    plan.set_defaults(func=cmd_plan)

    bench = sub.add_parser("bench", help="plan, matrix and a plain reference, side by side")
    bench.add_argument("--env", action="append", help="matrix environment (default all)")
    bench.add_argument("--plan-env", default="prod", help="environment `plan` measures")
    bench.add_argument("--repeat", type=int, default=3, help="fresh runs per figure (median)")
    bench.add_argument("--suite", action="store_true", help="also time the test suite once")
    bench.add_argument(
        "--suite-workers", type=int, default=2, help="pytest-xdist workers (0: no xdist)"
    )
    bench.set_defaults(func=cmd_bench)

    from offline import cost, diagram, diff, docs, matrix

    matrix.add_parser(sub)
    diagram.add_parser(sub)
    docs.add_parser(sub)
    cost.add_parser(sub)
    diff.add_parser(sub)
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
