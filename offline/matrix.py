"""`matrix`: every profile value side by side across environments, then the structural verdict.

Values that differ between environments are marked `*`; each cell shows the whole value (never
cut: two TLS policies differ only at the end) and the mark of the layer that set it, listed in
LEGEND. Secrets show as `[secret]`. Exit status 3 when any environment's shape differs from the
first one's.
"""

from __future__ import annotations

import argparse
from typing import Any

from pydantic import Secret

from config import PROFILE_KEYS, Resolved, known_environments, resolve
from offline.parallel import Job, record_all
from offline.recorder import ROOT, stack_config
from offline.shape import differences

LAYER_MARK = {"default": "d", "environment": "e", "suffix": "s", "stack": "k", "selection": "="}
UNSET_MARK = "-"
LEGEND = {
    "d": "environments/default.toml",
    "e": "environments/<env>.toml",
    "s": "environments/suffixes/<suffix>.toml",
    "k": "stack config (Pulumi.<stack>.yaml)",
    "=": "ENV_FOR_DYNACONF",
    UNSET_MARK: "set by no layer",
}


def value_text(value: Any) -> str:
    """A profile value as listings print it, whole."""
    return "unset" if value is None else str(value)


def resolve_env(env: str, suffix: str | None = None) -> Resolved:
    """An environment's profile as its stack (Pulumi.<env>.yaml) would load it."""
    return resolve(stack_config(env, suffix), stack_file=f"Pulumi.{env}.yaml", root=ROOT)


def cell(resolved: Resolved, key: str) -> str:
    """`<value> (<layer mark>)`, the value shown as listings may show it."""
    source = resolved.sources.get(key)
    mark = LAYER_MARK[source.layer] if source else UNSET_MARK
    return f"{value_text(resolved.shown(key))} ({mark})"


def _comparable(value: Any) -> str:
    # Secrets are compared by value so the `*` is right; only the mark is shown, never the value.
    return repr(value.get_secret_value() if isinstance(value, Secret) else value)


def table(resolved: dict[str, Resolved]) -> list[str]:
    """The side-by-side rows, one per profile key; columns as wide as their widest cell."""
    envs = list(resolved)
    cells = {env: {key: cell(r, key) for key in PROFILE_KEYS} for env, r in resolved.items()}
    width = max(len(k) for k in PROFILE_KEYS) + 2
    cols = {env: max(len(env), *(len(c) for c in cells[env].values())) + 2 for env in envs}
    lines = [("  " + "key".ljust(width) + "".join(env.ljust(cols[env]) for env in envs)).rstrip()]
    for key in PROFILE_KEYS:
        differs = len({_comparable(r.value(key)) for r in resolved.values()}) > 1
        row = "".join(cells[env][key].ljust(cols[env]) for env in envs)
        lines.append(f"{'*' if differs else ' '} {key.ljust(width)}{row}".rstrip())
    return lines


def legend() -> str:
    """What `*` and every layer mark mean."""
    marks = "  ".join(f"({mark}) {where}" for mark, where in LEGEND.items())
    return f"* differs between environments; {marks}"


def cmd_matrix(args: argparse.Namespace) -> int:
    envs = args.env or known_environments(ROOT)
    resolved = {env: resolve_env(env) for env in envs}
    if args.suffix:
        resolved[f"{envs[0]}+{args.suffix}"] = resolve_env(envs[0], args.suffix)
    print("\n".join(table(resolved)))
    print("\n" + legend())

    jobs = {env: Job(env) for env in envs}
    if args.suffix:
        jobs[f"{envs[0]}+{args.suffix}"] = Job(envs[0], args.suffix)
    graphs = dict(zip(jobs, record_all(list(jobs.values())), strict=True))
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
