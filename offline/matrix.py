"""`matrix`: every profile value side by side across environments, then the structural verdict.

Values that differ between environments are marked `*`; each cell shows the layer that set it
(d = default.toml, e = <env>.toml, s = suffixes/<suffix>.toml, k = stack config, = selection).
Exit status 3 when any environment's shape differs from the first one's.
"""

from __future__ import annotations

import argparse
from typing import Any

from config import Resolved, known_environments, resolve
from offline.recorder import ROOT, record, stack_config
from offline.shape import differences

LAYER_MARK = {"default": "d", "environment": "e", "suffix": "s", "stack": "k", "selection": "="}


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def resolve_env(env: str, suffix: str | None = None) -> Resolved:
    """An environment's profile as its stack (Pulumi.<env>.yaml) would load it."""
    return resolve(stack_config(env, suffix), stack_file=f"Pulumi.{env}.yaml", root=ROOT)


def table(resolved: dict[str, Resolved]) -> list[str]:
    """The side-by-side rows, one per profile key."""
    envs = list(resolved)
    flat = {env: _flatten(r.profile.model_dump()) for env, r in resolved.items()}
    keys = list(flat[envs[0]])
    width = max(len(k) for k in keys) + 2
    col = 26
    lines = ["  " + "key".ljust(width) + "".join(env.ljust(col) for env in envs)]
    for key in keys:
        values = [flat[env].get(key) for env in envs]
        mark = "*" if len({repr(v) for v in values}) > 1 else " "
        cells = []
        for env in envs:
            source = resolved[env].sources.get(key)
            layer = LAYER_MARK.get(source.layer, "?") if source else "-"
            cells.append(f"{flat[env].get(key)!s} ({layer})"[: col - 1].ljust(col))
        lines.append(f"{mark} {key.ljust(width)}{''.join(cells)}")
    return lines


def cmd_matrix(args: argparse.Namespace) -> int:
    envs = args.env or known_environments(ROOT)
    resolved = {env: resolve_env(env) for env in envs}
    if args.suffix:
        resolved[f"{envs[0]}+{args.suffix}"] = resolve_env(envs[0], args.suffix)
    print("\n".join(table(resolved)))
    print("\n* differs between environments; (d) default (e) environment (s) suffix (k) stack")

    graphs = {env: record(env) for env in envs}
    if args.suffix:
        graphs[f"{envs[0]}+{args.suffix}"] = record(envs[0], args.suffix)
    names = list(graphs)
    first = graphs[names[0]]
    diverged = False
    print("\nstructural identity")
    for name in names[1:]:
        diff = differences(first, graphs[name])
        verdict = "identical" if not diff else f"DIFFERS in {len(diff)} places"
        print(f"  {names[0]} vs {name}: {verdict}")
        for line in diff:
            print(f"    {line}")
        diverged = diverged or bool(diff)
    counts = "  ".join(f"{n}={len(g)}" for n, g in graphs.items())
    print(f"  resources: {counts}")
    return 3 if diverged else 0


def add_parser(sub: Any) -> None:
    matrix = sub.add_parser("matrix", help="profile values across environments + identity verdict")
    matrix.add_argument("--env", action="append", help="environment (repeatable; default all)")
    matrix.add_argument("--suffix", help="also show the first environment with this suffix")
    matrix.set_defaults(func=cmd_matrix)
