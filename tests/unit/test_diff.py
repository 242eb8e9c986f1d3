"""`python -m offline diff`: a reviewable change summary per environment.

Two layers. Against a real repository (the project's HEAD in a scratch git repository, with one
value changed in environments/staging.toml and committed): exactly the changed inputs, resources
and environments are named, each with the profile key and the file:line that set it, the
replacement is flagged, an unchanged tree exits 0, a bad ref and a configuration error exit 2,
and no worktree is left behind. On small hand-made graphs: added, removed and changed resources,
nested paths, policy statements, grouping across environments, and secrets, which never print.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from offline import diff
from offline.cli import build_parser
from offline.diff import KeyChange, Recorded, Setting
from offline.recorder import ROOT
from offline.replacements import REPLACEMENTS
from resource_graph import Graph, Resource

OLD_CIDR, NEW_CIDR = "10.20.0.0/16", "10.30.0.0/16"
VPC, SUBNET = "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet"
QUEUE = "aws:sqs/queue:Queue"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"


def git(root: Path, *args: str) -> str:
    """git in a scratch repository, with an identity and without the user's hooks or signing."""
    identity = ["-c", "user.name=diff test", "-c", "user.email=diff@example.invalid"]
    options = ["-c", "core.hooksPath=/dev/null", "-c", "commit.gpgsign=false"]
    result = subprocess.run(
        ["git", *identity, *options, "-C", str(root), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def worktrees(root: Path) -> list[str]:
    return [line for line in git(root, "worktree", "list").splitlines() if line]


def line_of(path: Path, key: str) -> int:
    """The line of `key = ...` in a TOML file (where the profile's provenance must point)."""
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if re.match(rf"\s*{re.escape(key)}\s*=", text):
            return number
    raise LookupError(key)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project at HEAD as a repository of two commits; the second changes one value of
    environments/staging.toml (network.vpc_cidr, which every subnet is carved from).
    """
    root = tmp_path_factory.mktemp("project")
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "HEAD"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    staging = root / "environments" / "staging.toml"
    text = staging.read_text()
    assert f'vpc_cidr = "{OLD_CIDR}"' in text
    staging.write_text(text.replace(f'vpc_cidr = "{OLD_CIDR}"', f'vpc_cidr = "{NEW_CIDR}"'))
    git(root, "commit", "-q", "-am", "staging: another VPC range")
    return root


@pytest.fixture(scope="module")
def recorded(repo: Path) -> tuple[dict[str, Recorded], dict[str, Recorded]]:
    """dev and staging at the first commit and in the (clean) working tree: one recording."""
    return diff.record_trees(repo, "HEAD~1", ["dev", "staging"])


@pytest.fixture(scope="module")
def report(recorded: tuple[dict[str, Recorded], dict[str, Recorded]]) -> diff.Report:
    return diff.compare("HEAD~1", *recorded, ["dev", "staging"])


def test_one_value_changes_exactly_the_inputs_that_follow_it(
    repo: Path,
    recorded: tuple[dict[str, Recorded], dict[str, Recorded]],
    report: diff.Report,
) -> None:
    """The VPC's CIDR and every subnet's, in staging only; each names the key and its line."""
    before, _ = recorded
    assert report.changed_envs == ("staging",)
    staging = next(d for d in report.diffs if d.env == "staging")
    expected = {(r.name, "cidrBlock") for r in before["staging"].graph.of_type(VPC, SUBNET)}
    assert len(expected) > 2  # the VPC and its subnets
    assert {(r.name, c.path) for r in staging.resources for c in r.changes} == expected
    assert all(r.kind == "changed" for r in staging.resources)
    where = f"environments/staging.toml:{line_of(repo / 'environments/staging.toml', 'vpc_cidr')}"
    changes = [c for r in staging.resources for c in r.changes]
    assert all(c.because == (f"network.vpc_cidr, {where}",) for c in changes)
    vpc = next(c for r in staging.resources if r.type == VPC for c in r.changes)
    assert (vpc.old, vpc.new) == (OLD_CIDR, NEW_CIDR)
    assert [(k.key, k.old, k.new, k.new_location) for k in staging.keys] == [
        ("network.vpc_cidr", OLD_CIDR, NEW_CIDR, where)
    ]


def test_the_cidr_change_is_flagged_as_replacing(report: diff.Report) -> None:
    """A VPC or subnet CIDR cannot change in place: every one of those changes REPLACES."""
    staging = next(d for d in report.diffs if d.env == "staging")
    assert staging.resources and all(r.replaces for r in staging.resources)
    text = diff.render_text(report)
    assert f"{len(staging.resources)} replacements" in text
    vpc_line = next(line for line in text.splitlines() if "(aws:ec2/vpc:Vpc) cidrBlock" in line)
    assert vpc_line.startswith("  staging: vpc ")
    assert f'"{OLD_CIDR}" -> "{NEW_CIDR}"  REPLACES  (network.vpc_cidr, ' in vpc_line
    assert "dev" not in text.split("\n", 1)[1]  # only the header lists every environment
    markdown = diff.render_markdown(report)
    assert markdown.startswith("### ")
    assert markdown.index("Replacements") < markdown.index("Profile keys changed")
    assert ":warning: `cidrBlock`" in markdown


def test_the_replacement_table_names_recorded_types_and_inputs(
    recorded: tuple[dict[str, Recorded], dict[str, Recorded]],
) -> None:
    """Every type in the table is built and every input named is one the graph records."""
    inputs: dict[str, set[str]] = {}
    for side in recorded:
        for entry in side.values():
            for resource in entry.graph:
                inputs.setdefault(resource.type, set()).update(resource.inputs)
    for type_, names in REPLACEMENTS.items():
        assert type_ in inputs, f"{type_} is in the table but no environment builds it"
        assert names <= inputs[type_], f"{type_}: {sorted(names - inputs[type_])} not recorded"


def test_an_unchanged_tree_exits_0(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(base="HEAD", env=["dev"], format="text")
    assert diff.cmd_diff(args, root=repo) == 0
    assert "no changes" in capsys.readouterr().out
    assert len(worktrees(repo)) == 1


def test_a_bad_ref_exits_2(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(base="no-such-ref", env=None, format="text")
    assert diff.cmd_diff(args, root=repo) == 2
    captured = capsys.readouterr()
    assert "no-such-ref" in captured.err and not captured.out
    assert len(worktrees(repo)) == 1


def test_a_config_error_exits_2_naming_key_and_file(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    staging = clone / "environments" / "staging.toml"
    staging.write_text(staging.read_text().replace("[network]\n", "[network]\nno_such_key = 1\n"))
    args = argparse.Namespace(base="HEAD", env=["staging"], format="text")
    assert diff.cmd_diff(args, root=clone) == 2
    err = capsys.readouterr().err.splitlines()
    assert err and all(line.startswith("config error (working tree): ") for line in err)
    assert any("no_such_key" in line and "environments/staging.toml" in line for line in err)
    assert len(worktrees(clone)) == 1


def test_the_command_is_registered_with_head_as_default_base() -> None:
    args = build_parser().parse_args(["diff", "--env", "dev"])
    assert args.func is diff.cmd_diff
    assert (args.base, args.format, args.env) == ("HEAD", "text", ["dev"])


# ---------------------------------------------------------------------------------------------
# Hand-made graphs


def resource(env: str, type_: str, name: str, /, **inputs: Any) -> Resource:
    """One resource of a hand-made graph (positional-only name: `name=` is an input)."""
    urn = f"urn:pulumi:{env}::payment-platform::{type_}::{name}"
    return Resource(
        urn=urn, type=type_, name=name, parent=None, custom=True, inputs=inputs, dependencies=()
    )


def graph(env: str, *resources: Resource) -> Graph:
    return Graph(env=env, suffix=env, resources=resources, outputs={})


def recorded_env(env: str, *resources: Resource, **profile: Setting) -> Recorded:
    return Recorded(graph(env, *resources), {k.replace("__", "."): v for k, v in profile.items()})


def lines(rep: diff.Report) -> Iterator[str]:
    yield from diff.render_text(rep).splitlines()


def test_added_removed_and_changed_resources() -> None:
    before = recorded_env(
        "dev", resource("dev", QUEUE, "gone", name="q-gone"), resource("dev", QUEUE, "q", delay=1)
    )
    after = recorded_env(
        "dev", resource("dev", QUEUE, "q", delay=2), resource("dev", QUEUE, "new", name="q-new")
    )
    found = diff.diff_env("dev", before, after)
    assert {(r.kind, r.name) for r in found.resources} == {
        ("added", "new"),
        ("removed", "gone"),
        ("changed", "q"),
    }
    text = diff.render_text(diff.report("HEAD", [found]))
    assert "  dev: q (aws:sqs/queue:Queue) delay 1 -> 2" in text
    assert "added resources\n  dev: new (aws:sqs/queue:Queue)" in text
    assert "removed resources\n  dev: gone (aws:sqs/queue:Queue)" in text


def test_the_same_change_in_several_environments_is_one_line() -> None:
    diffs = [
        diff.diff_env(
            env,
            recorded_env(env, resource(env, QUEUE, "payment-queue", visibilityTimeoutSeconds=180)),
            recorded_env(env, resource(env, QUEUE, "payment-queue", visibilityTimeoutSeconds=240)),
        )
        for env in ("dev", "staging", "prod")
    ]
    rep = diff.report("HEAD", diffs)
    assert [line.envs for line in rep.changes] == [("dev", "staging", "prod")]
    assert (
        "  dev, staging, prod: payment-queue (aws:sqs/queue:Queue) visibilityTimeoutSeconds "
        "180 -> 240" in list(lines(rep))
    )
    assert diff.status(rep) == 1
    assert "3 resources changed in 3 environments, 0 replacements" in diff.render_text(rep)


def test_nested_inputs_lists_and_policy_statements_by_path() -> None:
    def policy(actions: list[str]) -> str:
        return json.dumps(
            {
                "Statement": [
                    {"Sid": "Other", "Effect": "Allow", "Action": ["kms:Decrypt"]},
                    {"Sid": "Send", "Effect": "Allow", "Action": actions},
                ]
            }
        )

    before = recorded_env(
        "dev",
        resource(
            "dev",
            QUEUE,
            "q",
            cfg={"scaling": {"max": 4}},
            ports=[80, 443],
            policy=policy(["sqs:SendMessage"]),
        ),
    )
    after = recorded_env(
        "dev",
        resource(
            "dev",
            QUEUE,
            "q",
            cfg={"scaling": {"max": 8}},
            ports=[80, 8443],
            policy=policy(["sqs:SendMessage", "sqs:DeleteMessage"]),
        ),
    )
    changes = {
        c.path: (c.old, c.new)
        for r in diff.diff_env("dev", before, after).resources
        for c in r.changes
    }
    assert changes == {
        "cfg.scaling.max": (4, 8),
        "ports[1]": (443, 8443),
        "policy.Statement[Send].Action[1]": (diff.ABSENT, "sqs:DeleteMessage"),
    }


def test_secrets_never_print_and_a_changed_one_says_so() -> None:
    before = recorded_env(
        "dev",
        resource("dev", "aws:acm/certificate:Certificate", "api", privateKey="[secret]#1111aaaa"),
        resource("dev", SECRET_VERSION, "hmac", secretString="hunter2-old"),
        resource("dev", SECRET_VERSION, "same", secretString="unchanged-secret"),
    )
    after = recorded_env(
        "dev",
        resource("dev", "aws:acm/certificate:Certificate", "api", privateKey="[secret]#2222bbbb"),
        resource("dev", SECRET_VERSION, "hmac", secretString="hunter2-new"),
        resource("dev", SECRET_VERSION, "same", secretString="unchanged-secret"),
    )
    rep = diff.report("HEAD", [diff.diff_env("dev", before, after)])
    output = diff.render_text(rep) + diff.render_markdown(rep)
    for value in ("1111aaaa", "2222bbbb", "hunter2", "unchanged-secret"):
        assert value not in output
    assert (
        "api (aws:acm/certificate:Certificate) privateKey [secret] -> [secret] (changed)" in output
    )
    assert (
        "hmac (aws:secretsmanager/secretVersion:SecretVersion) secretString [secret] -> "
        "[secret] (changed)  REPLACES" in output
    )
    assert "same (" not in output


def test_only_inputs_in_the_table_are_flagged() -> None:
    before = recorded_env("dev", resource("dev", QUEUE, "q", name="a", visibilityTimeoutSeconds=1))
    after = recorded_env("dev", resource("dev", QUEUE, "q", name="b", visibilityTimeoutSeconds=2))
    changes = {
        c.path: c.replaces for r in diff.diff_env("dev", before, after).resources for c in r.changes
    }
    assert changes == {"name": True, "visibilityTimeoutSeconds": False}


def test_a_changed_key_is_listed_even_when_no_resource_changed() -> None:
    same = resource("dev", QUEUE, "q", delay=1)
    before = recorded_env("dev", same, cache__ttl=Setting(30, "environments/default.toml:40"))
    after = recorded_env("dev", same, cache__ttl=Setting(60, "environments/dev.toml:12"))
    rep = diff.report("HEAD", [diff.diff_env("dev", before, after)])
    assert diff.status(rep) == 1 and rep.resource_count == 0
    assert (
        "  dev: cache.ttl 30 -> 60  (environments/default.toml:40 -> environments/dev.toml:12)"
        in list(lines(rep))
    )


def test_a_key_explains_an_input_by_value_or_by_a_name_that_embeds_it() -> None:
    key = KeyChange("deployment.suffix", "pr-1", "pr-2", "Pulumi.dev.yaml", "Pulumi.dev.yaml")
    before = recorded_env(
        "dev",
        resource("dev", QUEUE, "q", name="payments-pr-1", delay=7),
        deployment__suffix=Setting("pr-1", "Pulumi.dev.yaml"),
    )
    after = recorded_env(
        "dev",
        resource("dev", QUEUE, "q", name="payments-pr-2", delay=8),
        deployment__suffix=Setting("pr-2", "Pulumi.dev.yaml"),
    )
    found = diff.diff_env("dev", before, after)
    assert found.keys == (key,)
    because = {c.path: c.because for r in found.resources for c in r.changes}
    assert because == {"name": ("deployment.suffix, Pulumi.dev.yaml",), "delay": ()}


def test_nothing_changed_is_status_0() -> None:
    same = recorded_env("dev", resource("dev", QUEUE, "q", delay=1))
    rep = diff.report("HEAD", [diff.diff_env("dev", same, same)])
    assert diff.status(rep) == 0
    assert diff.render_text(rep).endswith("no changes\n")
    assert "No changes in dev." in diff.render_markdown(rep)
