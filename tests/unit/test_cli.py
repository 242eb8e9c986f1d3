"""The offline commands: one line per problem and exit 2 on bad input, never a traceback; the
environment chosen as `pulumi up` would; every profile key shown whole, with where it was set;
secrets shown as `[secret]` and nowhere else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import config
from config import PROFILE_KEYS, SECRET
from config.loader import offline_placeholder
from offline import matrix
from offline.recorder import ROOT, stack_config


def run(*args: str, env_var: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ENV_FOR_DYNACONF"}
    if env_var:
        env["ENV_FOR_DYNACONF"] = env_var
    return subprocess.run(
        [sys.executable, "-m", "offline", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def absent_environment() -> str:
    """A name that is no environment and has no stack file (random, and checked)."""
    name = f"nosuch-{uuid.uuid4().hex[:8]}"
    assert name not in config.known_environments(ROOT)
    assert not (ROOT / f"Pulumi.{name}.yaml").exists()
    return name


def stack_file(tmp_path: Path, *entries: str) -> str:
    """A stack file outside the project, for `plan --config-file`."""
    path = tmp_path / "Pulumi.pr-7.yaml"
    body = "".join(f"  {entry}\n" for entry in entries)
    path.write_text(f"config:\n  aws:region: us-east-1\n{body}")
    return str(path)


def assert_config_errors(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr and all(
        line.startswith("config error: ") for line in result.stderr.splitlines()
    )


def test_plan_rejects_bad_input(tmp_path: Path) -> None:
    name = absent_environment()
    no_suffix = stack_file(tmp_path, "payment:environment: dev")
    cases = [
        (["plan", "--env", name], None, f"Pulumi.{name}.yaml: stack file not found"),
        (["plan", "--env", "dev"], "prod", "disagrees with payment:environment='dev'"),
        (["plan", "--env", "dev", "--suffix", "PR-1"], None, "deployment.environment_suffix"),
        (["plan", "--env", "dev", "--suffix", "a/../b"], None, "deployment.environment_suffix"),
        (["plan", "--env", "dev", "--suffix", "x" * 40], None, "limit 32"),
        (["plan", "--env", "dev", "--suffix", "prod"], None, "payment:environmentSuffix = 'prod'"),
        (["plan", "--env", "dev", "--config-file", no_suffix], None, "environmentSuffix: missing"),
    ]
    for args, env_var, expected in cases:
        result = run(*args, env_var=env_var)
        assert_config_errors(result)
        assert expected in result.stderr, args


def test_plan_writes_no_partial_graph_on_error(tmp_path: Path) -> None:
    out = tmp_path / "graph.json"
    result = run("plan", "--env", "dev", "--suffix", "BAD", "--json", str(out))
    assert result.returncode == 2
    assert not out.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["plan", "--env", "dev"],
        ["matrix"],
        ["bench", "--env", "dev", "--repeat", "1"],
        ["config-docs", "--check"],
        ["diagram", "--check"],
    ],
)
def test_every_command_stops_on_conflicting_environment_selection(args: list[str]) -> None:
    name = absent_environment()
    result = run(*args, env_var=name)
    assert_config_errors(result)
    assert f"config error: ENV_FOR_DYNACONF={name!r} disagrees" in result.stderr


def test_plan_honours_env_for_dynaconf_as_pulumi_up_does(tmp_path: Path) -> None:
    # A stack without payment:environment: the variable selects, during synthesis too.
    path = stack_file(tmp_path, "payment:environmentSuffix: pr-7")
    out = tmp_path / "plan.json"
    result = run("plan", "--env", "dev", "--config-file", path, "--json", str(out), env_var="dev")
    assert result.returncode == 0, result.stderr
    assert "environment dev  suffix pr-7" in result.stdout
    assert "deployment.environment" in result.stdout and "ENV_FOR_DYNACONF" in result.stdout
    assert json.loads(out.read_text())["suffix"] == "pr-7"
    unset = run("plan", "--env", "dev", "--config-file", path)
    assert_config_errors(unset)
    assert "no environment selected" in unset.stderr


def test_plan_shows_every_key_with_its_source_and_never_a_secret(tmp_path: Path) -> None:
    out = tmp_path / "graph.json"
    result = run("plan", "--env", "prod", "--suffix", "pr-9", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "environment prod  suffix pr-9" in result.stdout
    resolved = config.resolve(
        stack_config("prod", "pr-9"), stack_file="Pulumi.prod.yaml", root=ROOT
    )
    document = json.loads(out.read_text())
    lines = result.stdout.splitlines()
    for key in PROFILE_KEYS:
        source = resolved.sources.get(key)
        [line] = [line for line in lines if line.split()[:1] == [key]]
        assert matrix.value_text(resolved.shown(key)) in line
        assert line.endswith(f"<- {source}" if source else "<- set by no layer"), line
        entry = document["profile"][key]
        # JSON has lists where the profile keeps tuples (network.zone_ids).
        assert entry["value"] == json.loads(json.dumps(resolved.shown(key)))
        assert (entry["layer"], entry["file"], entry["line"]) == (
            (source.layer, source.file, source.line) if source else (None, None, None)
        )
    assert any(r["type"] == "aws:rds/cluster:Cluster" for r in document["resources"])
    address = stack_config("prod")["payment:alertEmail"]
    assert address not in result.stdout and address not in out.read_text()
    assert document["profile"]["deployment.alert_email"]["value"] == SECRET


def test_an_encrypted_secret_plans_offline_and_stays_hidden(tmp_path: Path) -> None:
    cipher = "v1:ZW5jcnlwdGVkLXByb2Jl"
    path = stack_file(
        tmp_path,
        "payment:environment: dev",
        "payment:environmentSuffix: pr-7",
        "payment:alertEmail:",
        f"  secure: {cipher}",
    )
    out = tmp_path / "plan.json"
    result = run("plan", "--env", "dev", "--config-file", path, "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "deployment.alert_email is encrypted" in result.stdout
    document = json.loads(out.read_text())
    assert document["profile"]["deployment.alert_email"]["unknown"] is True
    [email] = [
        r
        for r in document["resources"]
        if r["type"] == "aws:sns/topicSubscription:TopicSubscription"
        and r["inputs"].get("protocol") == "email"
    ]
    assert email["inputs"]["endpoint"] == SECRET
    placeholder = offline_placeholder("deployment.alert_email")
    for text in (result.stdout, out.read_text()):
        assert cipher not in text and placeholder not in text


def test_errors_show_a_secret_as_secret(tmp_path: Path) -> None:
    path = stack_file(
        tmp_path,
        "payment:environment: dev",
        "payment:environmentSuffix: pr-7",
        "payment:alertEmail: not-an-address-probe",
    )
    result = run("plan", "--env", "dev", "--config-file", path)
    assert_config_errors(result)
    assert "deployment.alert_email = [secret] (stack layer, " in result.stderr
    assert "not-an-address-probe" not in result.stderr


def test_matrix_cells_are_whole_values_with_their_layer_mark(root: Path) -> None:
    tmp_path = root
    policy = "ELBSecurityPolicy-TLS13-1-3-2021-06"
    (tmp_path / "environments/suffixes/pr-1.toml").write_text(f'[edge]\nssl_policy = "{policy}"\n')
    resolved = {
        env: config.resolve(
            stack_config(env, "pr-1" if env == "prod" else None),
            stack_file=f"Pulumi.{env}.yaml",
            root=tmp_path,
        )
        for env in ("dev", "prod")
    }
    [row] = [line for line in matrix.table(resolved) if " edge.ssl_policy " in line]
    assert row.startswith("*")
    assert f"{policy} (s)" in row
    assert f"{resolved['dev'].shown('edge.ssl_policy')} (d)" in row
    rows = matrix.table(resolved)[1:]
    assert len(rows) == len(PROFILE_KEYS)
    legend = matrix.legend()
    for mark in [*matrix.LAYER_MARK.values(), matrix.UNSET_MARK]:
        assert f"({mark})" in legend


def test_matrix_shows_sources_and_the_identity_verdict() -> None:
    result = run("matrix")
    assert result.returncode == 0, result.stderr
    envs = config.known_environments(ROOT)
    for key in ("database.reader_count", "edge.ssl_policy", "deployment.alert_email"):
        row = next(line for line in result.stdout.splitlines() if f" {key} " in line)
        for env in envs:
            assert matrix.cell(matrix.resolve_env(env), key) in row, key
    for env in envs:
        assert stack_config(env)["payment:alertEmail"] not in result.stdout
    assert SECRET in result.stdout
    assert matrix.legend() in result.stdout
    for env in envs[1:]:
        assert f"{envs[0]} vs {env}: identical" in result.stdout
