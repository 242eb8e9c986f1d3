"""Environments are discovered, never listed: each TOML file has its stack file and vice versa."""

from __future__ import annotations

import config
from config import read_stack_file
from offline.recorder import ROOT
from tests.conftest import ENVIRONMENTS


def test_environments_are_discovered_from_the_environment_files() -> None:
    files = {p.stem for p in (ROOT / "environments").glob("*.toml")} - {"default"}
    assert set(ENVIRONMENTS) == files
    assert ENVIRONMENTS, "no environment defined"


def test_every_environment_has_its_stack_file_naming_it() -> None:
    for env in ENVIRONMENTS:
        stack_file = ROOT / f"Pulumi.{env}.yaml"
        assert stack_file.is_file(), f"environments/{env}.toml has no {stack_file.name}"
        assert read_stack_file(stack_file).get("payment:environment") == env, stack_file.name


def test_every_stack_file_deploys_a_known_environment() -> None:
    known = set(config.known_environments(ROOT))
    for stack_file in sorted(ROOT.glob("Pulumi.*.yaml")):
        env = read_stack_file(stack_file).get("payment:environment")
        assert env in known, f"{stack_file.name}: payment:environment={env!r} has no TOML file"
