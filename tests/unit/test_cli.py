"""Every command fails on bad input with one line per problem and exit 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from offline.recorder import ROOT


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


@pytest.mark.parametrize(
    ("args", "env_var", "expected"),
    [
        (["plan", "--env", "qa"], None, "Pulumi.qa.yaml: stack file not found"),
        (["plan", "--env", "dev"], "prod", "disagrees with payment:environment='dev'"),
        (["plan", "--env", "dev", "--suffix", "PR-1"], None, "deployment.environment_suffix"),
        (["plan", "--env", "dev", "--suffix", "a/../b"], None, "deployment.environment_suffix"),
        (["plan", "--env", "dev", "--suffix", "x" * 40], None, "limit 32"),
    ],
)
def test_plan_rejects_bad_input(args: list[str], env_var: str | None, expected: str) -> None:
    result = run(*args, env_var=env_var)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert all(line.startswith("config error: ") for line in result.stderr.splitlines())


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
    result = run(*args, env_var="qa")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "config error: ENV_FOR_DYNACONF='qa' disagrees" in result.stderr


def test_matrix_shows_sources_and_the_identity_verdict() -> None:
    result = run("matrix")
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "database.reader_count" in line)
    assert row.startswith("*")  # differs between environments
    assert "0 (d)" in row and "2 (e)" in row  # dev from default.toml, prod from prod.toml
    assert "dev vs staging: identical" in result.stdout
    assert "dev vs prod: identical" in result.stdout


def test_plan_summarises_and_writes_the_graph(tmp_path: Path) -> None:
    out = tmp_path / "graph.json"
    result = run("plan", "--env", "prod", "--suffix", "pr-9", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "environment prod  suffix pr-9" in result.stdout
    assert "database.reader_count" in result.stdout and "environments/prod.toml" in result.stdout
    graph = json.loads(out.read_text())
    assert graph["suffix"] == "pr-9"
    assert any(r["type"] == "aws:rds/cluster:Cluster" for r in graph["resources"])
