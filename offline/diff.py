"""`diff`: what a change to the program or its config does to each environment, for review.

    python -m offline diff [--base REF] [--format text|markdown] [--env ENV ...]

Every environment (or the `--env` ones) is recorded twice: at the base commit and in the
working tree. The base is checked out in a temporary `git worktree add --detach` (removed
afterwards, also on error) and recorded there by that tree's own code, in a subprocess of this
virtualenv's python; the working tree is recorded the same way, concurrently, so both sides run
exactly the code of their tree and nothing of one leaks into the other. Each subprocess records
its environments with offline/parallel.py (forked after the imports).

The default base is `HEAD`: "what does my uncommitted change do". In CI, compare the branch
with its target: `--base origin/main`. ENV_FOR_DYNACONF is ignored here (every environment is
recorded by its own stack file, Pulumi.<env>.yaml).

Output: per resource (logical name and type) the changed inputs as `old -> new` (nested inputs
by a dotted path, lists by index, JSON documents parsed and policy statements keyed by `Sid`),
and added and removed resources, each line naming the environments it happens in. A changed
input whose old and new values are those of a profile key that changed names that key with
the file:line that set it (the base's for the old value, the working tree's for the new); the
profile keys that changed are listed too, also when they changed no resource. An input in
offline/replacements.py is flagged `REPLACES`. Secrets (inputs the recording marks secret, and
the secret inputs of the types in SECRET_INPUTS) print as `[secret]`, a changed one as
`[secret] -> [secret] (changed)`; only a keyed digest of a secret, never its value, leaves the
recording subprocess.

Exit status: 0 when nothing changed, 1 when something did, 2 on an error (a bad ref, or a
configuration error in either tree, printed as the other commands print it).
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config import SECRET
from offline.parallel import graph_from_json
from offline.recorder import ROOT
from offline.replacements import REPLACEMENTS
from offline.snapshot import _normalise
from resource_graph import Graph, Resource

EXIT_SAME = 0
EXIT_CHANGED = 1
EXIT_ERROR = 2
DEFAULT_BASE = "HEAD"
WORKING_TREE = "working tree"
DIGEST_ENV = "OFFLINE_DIFF_DIGEST_KEY"
# Inputs shown as `[secret]` whatever the recording marks: they hold generated credentials.
SECRET_INPUTS: Mapping[str, frozenset[str]] = {
    "aws:secretsmanager/secretVersion:SecretVersion": frozenset({"secretString", "secretBinary"}),
    "random:index/randomPassword:RandomPassword": frozenset({"result", "bcryptHash"}),
    "aws:acm/certificate:Certificate": frozenset({"privateKey"}),
}
OPTIONS = ("delete_before_replace", "protect", "retain_on_delete", "ignore_changes")


class DiffError(Exception):
    """The diff cannot be made: a bad ref, no git, or a tree whose config does not load."""

    def __init__(self, *messages: str) -> None:
        super().__init__("\n".join(messages))
        self.messages = list(messages)


class _Absent:
    """An input or key one side does not have (distinct from an input that is None)."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Any = _Absent()


# The recording subprocess. It runs in the tree being recorded, with that tree's modules, so it
# uses only what every version of the project has had: config.resolve, the recorder's
# stack_config and _plain, and parallel.record_all when present. A secret becomes
# `[secret]#<keyed digest>`: comparable between the two trees, never readable.
_RECORD_SCRIPT = r"""
import hashlib, hmac, json, os, sys
from pydantic import Secret
from pulumi.runtime import rpc
import config
from config import ConfigError, PROFILE_KEYS, SECRET_KEYS, known_environments, resolve
from offline import recorder

KEY = bytes.fromhex(os.environ[sys.argv[3]])

def digest(value):
    text = json.dumps(value, sort_keys=True, default=str)
    return "[secret]#" + hmac.new(KEY, text.encode(), hashlib.sha256).hexdigest()[:16]

original = recorder._plain

def plain(value, redact=False):
    if isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig:
        return digest(original(value.get("value"), False))
    return original(value, redact)

recorder._plain = plain  # the recursion in _plain looks the name up here too
root = recorder.ROOT
asked = json.loads(sys.argv[2])
envs = [e for e in known_environments(root) if not asked or e in asked]
out = {"environments": {}, "root": str(root)}
try:
    profiles = {}
    for env in envs:
        resolved = resolve(recorder.stack_config(env), stack_file=f"Pulumi.{env}.yaml", root=root)
        profile = {}
        for key in PROFILE_KEYS:
            value = resolved.value(key)
            if isinstance(value, Secret):
                value = value.get_secret_value()
            source = resolved.sources.get(key)
            profile[key] = {
                "value": digest(value) if key in SECRET_KEYS and value is not None else value,
                "location": source.location if source else None,
            }
        profiles[env] = json.loads(json.dumps(profile, default=str))
except ConfigError as exc:
    out["error"] = list(exc.messages)
else:
    try:
        from offline.parallel import Job, graph_to_json, record_all
        graphs = [graph_to_json(g) for g in record_all([Job(env) for env in envs])]
    except ImportError:
        from dataclasses import asdict
        graphs = [asdict(recorder.record(env)) for env in envs]
    for env, graph in zip(envs, graphs):
        out["environments"][env] = {"graph": graph, "profile": profiles[env]}
with open(sys.argv[1], "w") as handle:
    json.dump(out, handle, default=str)
"""


@dataclass(frozen=True)
class Setting:
    """A profile key's value in one tree (a secret as its digest) and the file:line that set it."""

    value: Any
    location: str | None


@dataclass(frozen=True)
class Recorded:
    """One environment as one tree builds it: its graph and its profile."""

    graph: Graph
    profile: Mapping[str, Setting] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """One changed input (dotted path) or resource option of one resource."""

    path: str
    old: Any
    new: Any
    replaces: bool = False
    secret: bool = False
    because: tuple[str, ...] = ()  # `key, file:line` of the profile keys that explain it


@dataclass(frozen=True)
class ResourceDiff:
    """A resource added, removed or changed in one environment."""

    kind: str  # "added", "removed" or "changed"
    type: str
    name: str
    changes: tuple[Change, ...] = ()

    @property
    def replaces(self) -> bool:
        return any(change.replaces for change in self.changes)


@dataclass(frozen=True)
class KeyChange:
    """A profile key whose value differs between the base and the working tree."""

    key: str
    old: Any
    new: Any
    old_location: str | None
    new_location: str | None

    @property
    def where(self) -> str:
        old, new = self.old_location or "set by no layer", self.new_location or "set by no layer"
        return new if old == new else f"{old} -> {new}"


@dataclass(frozen=True)
class EnvDiff:
    """Everything that differs in one environment."""

    env: str
    resources: tuple[ResourceDiff, ...]
    keys: tuple[KeyChange, ...]

    @property
    def changed(self) -> bool:
        return bool(self.resources or self.keys)


@dataclass(frozen=True)
class Line:
    """One reported change and the environments it happens in, in environment order.

    `cells` are the section's columns: (resource, input path, `old -> new`, profile keys) for
    input changes, (name, type) for added and removed resources, (key, `old -> new`, file:line)
    for profile keys.
    """

    envs: tuple[str, ...]
    cells: tuple[str, ...]
    replaces: bool = False


@dataclass(frozen=True)
class Report:
    """The grouped diff of every environment: what both renderings print."""

    base: str
    envs: tuple[str, ...]
    diffs: tuple[EnvDiff, ...]
    replacements: tuple[Line, ...]
    changes: tuple[Line, ...]
    added: tuple[Line, ...]
    removed: tuple[Line, ...]
    keys: tuple[Line, ...]

    @property
    def resource_count(self) -> int:
        """Resources changed, added or removed, counted once per environment."""
        return sum(len(d.resources) for d in self.diffs)

    @property
    def replacement_count(self) -> int:
        return sum(1 for d in self.diffs for r in d.resources if r.replaces)

    @property
    def changed_envs(self) -> tuple[str, ...]:
        return tuple(d.env for d in self.diffs if d.changed)


# ---------------------------------------------------------------------------------------------
# Comparing two graphs


def _is_secret(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(SECRET)


def _shown(value: Any) -> str:
    """A value as a diff line prints it: whole, JSON-compact, secrets as `[secret]`."""
    if value is ABSENT:
        return "(absent)"
    if _is_secret(value):
        return SECRET
    return json.dumps(_mask(value), sort_keys=True, separators=(", ", ": "))


def _mask(value: Any) -> Any:
    if _is_secret(value):
        return SECRET
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _statements(items: list[Any]) -> dict[str, Any] | None:
    """Policy statements keyed by Sid, when every statement has a distinct one."""
    sids = [item.get("Sid") if isinstance(item, dict) else None for item in items]
    if not items or None in sids or len(set(sids)) != len(sids):
        return None
    return dict(zip((str(s) for s in sids), items, strict=True))


def leaf_changes(old: Any, new: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(dotted path, old, new) of every leaf that differs: dicts by key, lists by index,
    policy statements (`Statement` entries with a `Sid`) by Sid, so one edited statement is one
    line however the list moved.
    """
    if old == new and type(old) is type(new):
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            yield from leaf_changes(old.get(key, ABSENT), new.get(key, ABSENT), _join(path, key))
        return
    if isinstance(old, list) and isinstance(new, list):
        before, after = _statements(old), _statements(new)
        if path.rsplit(".", 1)[-1] == "Statement" and before is not None and after is not None:
            for sid in [*before, *(s for s in after if s not in before)]:
                yield from leaf_changes(
                    before.get(sid, ABSENT), after.get(sid, ABSENT), f"{path}[{sid}]"
                )
            return
        for index in range(max(len(old), len(new))):
            yield from leaf_changes(
                old[index] if index < len(old) else ABSENT,
                new[index] if index < len(new) else ABSENT,
                f"{path}[{index}]",
            )
        return
    yield path, old, new


def _same(profile_value: Any, value: Any) -> bool:
    if profile_value == value and isinstance(profile_value, bool) == isinstance(value, bool):
        return True
    scalars = (str, int, float)
    return (
        isinstance(profile_value, scalars)
        and isinstance(value, scalars)
        and not isinstance(profile_value, bool)
        and str(profile_value) == str(value)
    )


def _explains(key: KeyChange, old: Any, new: Any) -> bool:
    """Whether a key's change accounts for an input's: the same old -> new values, or (names,
    ARNs, JSON text) the key's old value inside the old input and its new one in the new, the
    rest unchanged.
    """
    if _same(key.old, old) and _same(key.new, new):
        return True
    if not all(isinstance(v, str) for v in (key.old, key.new, old, new)):
        return False
    if len(key.old) >= 3 and key.old in old and old.replace(key.old, key.new) == new:
        return True
    return _carved(key.old, key.new, old, new)


def _carved(net_old: str, net_new: str, old: str, new: str) -> bool:
    """Whether CIDR `old` lies in `net_old` where `new` lies in `net_new` (same size and
    offset): a subnet the program derives from the key's network, e.g. from network.vpc_cidr.
    """
    if not all("/" in v for v in (net_old, net_new, old, new)):
        return False
    try:
        nets = [ipaddress.ip_network(v) for v in (net_old, net_new, old, new)]
        inside = nets[2].subnet_of(nets[0]) and nets[3].subnet_of(nets[1])  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return False
    offsets = (
        int(nets[2].network_address) - int(nets[0].network_address),
        int(nets[3].network_address) - int(nets[1].network_address),
    )
    return inside and nets[2].prefixlen == nets[3].prefixlen and offsets[0] == offsets[1]


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _identity(resource: Resource) -> str:
    """A resource's URN without the stack: the same resource in every environment."""
    parts = resource.urn.split("::")
    return "::".join(parts[2:]) if len(parts) >= 4 else resource.urn


def _inputs(resource: Resource) -> dict[str, Any]:
    """Inputs normalised as the snapshots are (volatile image tags and digests masked, JSON
    documents parsed), the secret inputs of SECRET_INPUTS masked, plus the resource options.
    """
    secret = SECRET_INPUTS.get(resource.type, frozenset())
    values: dict[str, Any] = {}
    for key, value in resource.inputs.items():
        if key in secret and value is not None and not _is_secret(value):
            value = SECRET + "#" + hashlib.sha256(_text(value).encode()).hexdigest()
        values[key] = _normalise(value) if not _is_secret(value) else value
    for option in OPTIONS:
        value = getattr(resource, option)
        values[f"options.{option}"] = list(value) if isinstance(value, tuple) else value
    return values


def _resource_changes(
    base: Resource, head: Resource, keys: Sequence[KeyChange]
) -> tuple[Change, ...]:
    replacing = REPLACEMENTS.get(head.type, frozenset())
    changes = []
    for path, old, new in leaf_changes(_inputs(base), _inputs(head)):
        top = path.split(".", 1)[0].split("[", 1)[0]
        option = path.startswith("options.")
        because = tuple(f"{k.key}, {k.where}" for k in keys if _explains(k, old, new))
        changes.append(
            Change(
                path=path,
                old=old,
                new=new,
                replaces=not option and top in replacing,
                secret=_is_secret(old) or _is_secret(new),
                because=because,
            )
        )
    return tuple(changes)


def key_changes(base: Mapping[str, Setting], head: Mapping[str, Setting]) -> tuple[KeyChange, ...]:
    """The profile keys whose value differs (a key only one tree has counts as changed)."""
    missing = Setting(ABSENT, None)
    found = []
    for key in [*base, *(k for k in head if k not in base)]:
        old, new = base.get(key, missing), head.get(key, missing)
        if old.value != new.value or type(old.value) is not type(new.value):
            found.append(KeyChange(key, old.value, new.value, old.location, new.location))
    return tuple(found)


def diff_env(env: str, base: Recorded | None, head: Recorded | None) -> EnvDiff:
    """What differs in one environment; a side that lacks the environment counts as empty."""
    keys = key_changes(base.profile if base else {}, head.profile if head else {})
    before = {_identity(r): r for r in (base.graph if base else ())}
    after = {_identity(r): r for r in (head.graph if head else ())}
    found = []
    for ident, resource in after.items():
        if ident not in before:
            found.append(ResourceDiff("added", resource.type, resource.name))
        elif changes := _resource_changes(before[ident], resource, keys):
            found.append(ResourceDiff("changed", resource.type, resource.name, changes))
    for ident, resource in before.items():
        if ident not in after:
            found.append(ResourceDiff("removed", resource.type, resource.name))
    return EnvDiff(env, tuple(found), keys)


# ---------------------------------------------------------------------------------------------
# Grouping across environments


def _change_cells(resource: ResourceDiff, change: Change) -> tuple[str, ...]:
    if change.secret:
        values = f"{SECRET} -> {SECRET} (changed)"
    else:
        values = f"{_shown(change.old)} -> {_shown(change.new)}"
    return (f"{resource.name} ({resource.type})", change.path, values, "; ".join(change.because))


def _group(
    items: Iterable[tuple[str, tuple[str, ...], bool]], order: Sequence[str]
) -> tuple[Line, ...]:
    """(env, cells, replaces) -> one Line per distinct (cells, replaces), with its envs."""
    envs: dict[tuple[tuple[str, ...], bool], list[str]] = {}
    for env, cells, replaces in items:
        found = envs.setdefault((cells, replaces), [])
        if env not in found:
            found.append(env)
    rank = {env: i for i, env in enumerate(order)}
    lines = [
        Line(tuple(sorted(found, key=lambda e: rank.get(e, len(rank)))), cells, replaces)
        for (cells, replaces), found in envs.items()
    ]
    return tuple(sorted(lines, key=lambda line: (line.cells, [rank[e] for e in line.envs])))


def _key_value(key: KeyChange, value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    if value is None:
        return "unset"
    return SECRET if _is_secret(value) else str(value)


def report(base: str, diffs: Sequence[EnvDiff]) -> Report:
    """Group the per-environment diffs: one line per change, naming where it happens."""
    order = [d.env for d in diffs]
    changed = [
        (d.env, _change_cells(r, c), c.replaces)
        for d in diffs
        for r in d.resources
        for c in r.changes
    ]

    def resources(kind: str) -> tuple[Line, ...]:
        return _group(
            (
                (d.env, (r.name, r.type), False)
                for d in diffs
                for r in d.resources
                if r.kind == kind
            ),
            order,
        )

    keys = (
        (d.env, (k.key, f"{_key_value(k, k.old)} -> {_key_value(k, k.new)}", k.where), False)
        for d in diffs
        for k in d.keys
    )
    return Report(
        base=base,
        envs=tuple(order),
        diffs=tuple(diffs),
        replacements=_group((c for c in changed if c[2]), order),
        changes=_group((c for c in changed if not c[2]), order),
        added=resources("added"),
        removed=resources("removed"),
        keys=_group(keys, order),
    )


# ---------------------------------------------------------------------------------------------
# Rendering


def _summary(rep: Report) -> str:
    envs, count, replaced = len(rep.changed_envs), rep.resource_count, rep.replacement_count
    return (
        f"{count} resource{'s' * (count != 1)} changed in {envs} "
        f"environment{'s' * (envs != 1)}, {replaced} replacement{'s' * (replaced != 1)}"
    )


def _input_text(line: Line) -> str:
    resource, path, values, because = line.cells
    text = f"{resource} {path} {values}"
    if line.replaces:
        text += "  REPLACES"
    return text + (f"  ({because})" if because else "")


def render_text(rep: Report) -> str:
    """For a terminal: a header, the summary, then one section per kind of change."""
    lines = [f"diff {rep.base} -> {WORKING_TREE}, environments {', '.join(rep.envs)}"]
    if not rep.changed_envs:
        return "\n".join([*lines, "no changes"]) + "\n"
    lines.append(_summary(rep))
    sections = (
        ("replacements", [_input_text(line) for line in rep.replacements]),
        ("changed inputs", [_input_text(line) for line in rep.changes]),
        ("added resources", [f"{n} ({t})" for n, t in (ln.cells for ln in rep.added)]),
        ("removed resources", [f"{n} ({t})" for n, t in (ln.cells for ln in rep.removed)]),
        ("profile keys changed", [f"{k} {v}  ({w})" for k, v, w in (ln.cells for ln in rep.keys)]),
    )
    groups = (rep.replacements, rep.changes, rep.added, rep.removed, rep.keys)
    for (title, texts), found in zip(sections, groups, strict=True):
        if texts:
            lines.append(f"\n{title}")
            lines += [
                f"  {', '.join(ln.envs)}: {text}" for ln, text in zip(found, texts, strict=True)
            ]
    return "\n".join(lines) + "\n"


def _code(text: str) -> str:
    """A table cell as inline code (a value may hold `|`, which would end the cell)."""
    escaped = text.replace("|", "\\|")
    return f"`{escaped}`" if text else ""


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _input_rows(found: Sequence[Line]) -> Iterator[list[str]]:
    for line in found:
        resource, path, values, because = line.cells
        mark = ":warning: " if line.replaces else ""
        keys = "<br>".join(_code(k) for k in because.split("; ")) if because else ""
        yield [", ".join(line.envs), _code(resource), mark + _code(path), _code(values), keys]


def render_markdown(rep: Report) -> str:
    """A pull-request comment: heading, summary, replacements first, then the rest as tables."""
    lines = [f"### Infrastructure diff: `{rep.base}` -> {WORKING_TREE}", ""]
    if not rep.changed_envs:
        return "\n".join([*lines, f"No changes in {', '.join(rep.envs)}."]) + "\n"
    lines += [f"**{_summary(rep)}** ({', '.join(rep.changed_envs)})", ""]
    header = ["Environments", "Resource", "Input", "Change", "Profile key"]
    if rep.replacements:
        lines += [
            ":warning: **Replacements**: the provider deletes the resource and creates a new one.",
            "",
        ]
        lines += _table(header, _input_rows(rep.replacements))
    if rep.changes:
        lines += ["#### Changed inputs", "", *_table(header, _input_rows(rep.changes))]
    for title, found in (("Added resources", rep.added), ("Removed resources", rep.removed)):
        if found:
            rows = ([", ".join(ln.envs), _code(ln.cells[0]), _code(ln.cells[1])] for ln in found)
            lines += [f"#### {title}", "", *_table(["Environments", "Resource", "Type"], rows)]
    if rep.keys:
        rows = (
            [", ".join(ln.envs), _code(ln.cells[0]), _code(ln.cells[1]), _code(ln.cells[2])]
            for ln in rep.keys
        )
        lines += ["#### Profile keys changed", ""]
        lines += _table(["Environments", "Key", "Change", "Set at"], rows)
    return "\n".join(lines).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------------------------
# Recording both trees


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise DiffError(f"git {' '.join(args)}: {result.stderr.strip() or 'failed'}")
    return result.stdout.strip()


def resolve_ref(root: Path, ref: str) -> str:
    """The commit `ref` names, or DiffError naming the ref."""
    try:
        return _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except DiffError:
        raise DiffError(f"bad ref: {ref!r} names no commit in {root}") from None


def _start(tree: Path, envs: Sequence[str] | None, out: Path, key: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "ENV_FOR_DYNACONF"}
    env.update({"PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1", DIGEST_ENV: key})
    return subprocess.Popen(
        [sys.executable, "-c", _RECORD_SCRIPT, str(out), json.dumps(list(envs or [])), DIGEST_ENV],
        cwd=tree,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _collect(process: subprocess.Popen[str], out: Path, label: str) -> dict[str, Recorded]:
    _, stderr = process.communicate()
    if process.returncode != 0 or not out.exists():
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise DiffError(f"{label}: recording failed (exit {process.returncode})\n{tail}")
    data = json.loads(out.read_text())
    if "error" in data:
        raise DiffError(*(f"config error ({label}): {message}" for message in data["error"]))
    return {
        env: Recorded(
            graph_from_json(entry["graph"]),
            {k: Setting(v["value"], v["location"]) for k, v in entry["profile"].items()},
        )
        for env, entry in data["environments"].items()
    }


def _kill(processes: Iterable[subprocess.Popen[str]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def record_trees(
    root: Path, base: str, envs: Sequence[str] | None = None
) -> tuple[dict[str, Recorded], dict[str, Recorded]]:
    """The environments as commit `base` and as the working tree at `root` build them.

    The base is checked out in a temporary detached worktree, removed afterwards whatever
    happens; both trees are recorded concurrently, each in a subprocess running its own code.
    """
    commit = resolve_ref(root, base)
    top = Path(_git(root, "rev-parse", "--show-toplevel"))
    prefix = root.resolve().relative_to(top.resolve())
    key = secrets.token_hex(32)  # digests compare within this run only
    with tempfile.TemporaryDirectory(prefix="offline-diff-") as scratch:
        tree = Path(scratch) / "base"
        _git(top, "worktree", "add", "--detach", "--quiet", str(tree), commit)
        try:
            outs = Path(scratch) / "base.json", Path(scratch) / "head.json"
            running = (
                _start(tree / prefix, envs, outs[0], key),
                _start(root, envs, outs[1], key),
            )
            labels = f"base {base}", WORKING_TREE
            try:
                # The first failure ends both: a config error in one tree need not wait for the
                # other tree's recording.
                with ThreadPoolExecutor(max_workers=2) as pool:
                    futures = [
                        pool.submit(_collect, process, out, label)
                        for process, out, label in zip(running, outs, labels, strict=True)
                    ]
                    done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                    failed = [e for f in done if (e := f.exception()) is not None]
                    if failed:
                        _kill(running)
                        raise failed[0]
                    before, after = (future.result() for future in futures)
            finally:
                _kill(running)
        finally:
            subprocess.run(
                ["git", "-C", str(top), "worktree", "remove", "--force", str(tree)],
                capture_output=True,
                check=False,
            )
            shutil.rmtree(tree, ignore_errors=True)
            subprocess.run(["git", "-C", str(top), "worktree", "prune"], capture_output=True)
    return before, after


def status(rep: Report) -> int:
    """The exit status a report means: 1 when anything changed, else 0."""
    return EXIT_CHANGED if rep.changed_envs else EXIT_SAME


def compare(
    base: str,
    before: Mapping[str, Recorded],
    after: Mapping[str, Recorded],
    envs: Sequence[str] | None = None,
) -> Report:
    """The report of two recordings, environments in the project's order (dev, staging, prod)."""
    names = [*before, *(e for e in after if e not in before)]
    unknown = [env for env in envs or () if env not in names]
    if unknown:
        raise DiffError(f"no environment {', '.join(unknown)} in either tree (environments/)")
    return report(base, [diff_env(env, before.get(env), after.get(env)) for env in names])


def run(
    root: Path, base: str = DEFAULT_BASE, envs: Sequence[str] | None = None, fmt: str = "text"
) -> tuple[str, int]:
    """The rendered diff of `base` against the working tree at `root`, and the exit status."""
    rep = compare(base, *record_trees(root, base, envs), envs)
    return (render_markdown(rep) if fmt == "markdown" else render_text(rep)), status(rep)


def cmd_diff(args: argparse.Namespace, root: Path = ROOT) -> int:
    """The command: print the diff (stdout) or the errors (stderr) and return the exit status."""
    try:
        text, code = run(root, args.base, args.env, args.format)
    except DiffError as exc:
        for message in exc.messages:
            print(
                message if message.startswith("config error") else f"diff: {message}",
                file=sys.stderr,
            )
        return EXIT_ERROR
    sys.stdout.write(text)
    return code


def add_parser(sub: Any) -> None:
    diff = sub.add_parser(
        "diff",
        help="changed resources and inputs per environment, base commit vs working tree",
        description=(
            "Record every environment at a base commit and in the working tree and list what "
            "changed. Default base HEAD (your uncommitted change); in CI use --base origin/main. "
            "Exit 0: no changes, 1: changes, 2: error."
        ),
    )
    diff.add_argument(
        "--base",
        default=DEFAULT_BASE,
        help="commit to compare the working tree with (default HEAD; CI: origin/main)",
    )
    diff.add_argument("--format", choices=("text", "markdown"), default="text")
    diff.add_argument("--env", action="append", help="environment (repeatable; default all)")
    diff.set_defaults(func=cmd_diff)
