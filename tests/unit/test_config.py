"""Layered configuration: precedence, merging, provenance, environment selection, validation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import config
from config import ConfigError
from offline.recorder import ROOT, stack_config


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A scratch copy of the project's data files, safe to edit."""
    shutil.copytree(ROOT / "environments", tmp_path / "environments")
    for stack in ROOT.glob("Pulumi.*.yaml"):
        shutil.copy(stack, tmp_path / stack.name)
    return tmp_path


def resolve(root: Path, env: str = "dev", **stack: object) -> config.Resolved:
    cfg = stack_config(env, root=root)
    cfg.update({f"payment:{k}": v for k, v in stack.items()})
    return config.resolve(cfg, stack_file=f"Pulumi.{env}.yaml", root=root)


def error_of(root: Path, env: str = "dev", **stack: object) -> str:
    with pytest.raises(ConfigError) as caught:
        resolve(root, env, **stack)
    return str(caught.value)


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + "\n" + text + "\n")


# --- precedence, merging, provenance -------------------------------------------------------


def test_each_layer_wins_over_the_ones_below(root: Path) -> None:
    base = resolve(root).profile.database.max_acu
    assert base == 2  # dev.toml over default.toml's 4
    (root / "environments/suffixes/dev.toml").write_text("[database]\nmax_acu = 8\n")
    assert resolve(root).profile.database.max_acu == 8
    stacked = resolve(root, database={"max_acu": 16})
    assert stacked.profile.database.max_acu == 16
    assert stacked.sources["database.max_acu"].layer == "stack"


def test_a_layer_setting_one_key_keeps_the_sections_other_keys(root: Path) -> None:
    # dev.toml sets only some database keys; the rest come from default.toml untouched.
    resolved = resolve(root)
    db = resolved.profile.database
    assert (db.min_acu, db.max_acu) == (0, 2)
    assert db.preferred_maintenance_window == "sun:05:00-sun:06:00"
    assert resolved.sources["database.max_acu"].file == "environments/dev.toml"
    assert resolved.sources["database.master_username"].file == "environments/default.toml"
    # A suffix layer touching one key leaves the environment layer's other keys in place.
    (root / "environments/suffixes/pr-7.toml").write_text("[database]\nreader_count = 1\n")
    suffixed = resolve(root, environmentSuffix="pr-7")
    assert suffixed.profile.database.reader_count == 1
    assert suffixed.profile.database.max_acu == 2
    assert suffixed.sources["database.reader_count"].file == "environments/suffixes/pr-7.toml"


def test_provenance_names_every_layer(root: Path) -> None:
    (root / "environments/suffixes/pr-7.toml").write_text("[cache]\nreplica_count = 1\n")
    resolved = resolve(root, environmentSuffix="pr-7", edge={"waf_rate_limit": 500})
    layers = {
        key: resolved.sources[key].layer
        for key in ("tags.owner", "network.vpc_cidr", "cache.replica_count", "edge.waf_rate_limit")
    }
    assert layers == {
        "tags.owner": "default",
        "network.vpc_cidr": "environment",
        "cache.replica_count": "suffix",
        "edge.waf_rate_limit": "stack",
    }


def test_profile_is_frozen(root: Path) -> None:
    profile = resolve(root).profile
    with pytest.raises(ValueError):
        profile.database.max_acu = 99  # type: ignore[misc]


@pytest.mark.parametrize(
    ("env", "azs", "readers", "replicas", "backups", "logs"),
    [("dev", 2, 0, 0, 1, 14), ("staging", 2, 1, 1, 7, 90), ("prod", 3, 2, 2, 35, 365)],
)
def test_committed_environments(
    root: Path, env: str, azs: int, readers: int, replicas: int, backups: int, logs: int
) -> None:
    p = resolve(root, env).profile
    assert p.network.az_count == azs
    assert p.database.reader_count == readers
    assert p.cache.replica_count == replicas
    assert p.database.backup_retention_days == backups
    assert p.observability.log_retention_days == logs
    assert p.compute.max_count >= 10 * p.compute.desired_count


def test_dev_is_cheapest_and_may_pause(root: Path) -> None:
    dev, prod = resolve(root, "dev").profile, resolve(root, "prod").profile
    assert dev.database.min_acu == 0
    assert dev.network.endpoint_az_count < prod.network.endpoint_az_count
    assert dev.compute.cpu < prod.compute.cpu


# --- environment selection -----------------------------------------------------------------


def test_env_var_selects_when_stack_is_silent(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV_FOR_DYNACONF", "staging")
    resolved = config.resolve({}, stack_file="Pulumi.x.yaml", root=root)
    assert resolved.profile.env == "staging"
    assert resolved.profile.suffix == "staging"


def test_env_var_and_stack_must_agree(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV_FOR_DYNACONF", "prod")
    message = error_of(root, "dev")
    assert "ENV_FOR_DYNACONF='prod'" in message
    assert "payment:environment='dev'" in message
    assert "Pulumi.dev.yaml" in message
    monkeypatch.setenv("ENV_FOR_DYNACONF", "dev")
    assert resolve(root, "dev").profile.env == "dev"


def test_no_environment_at_all(root: Path) -> None:
    with pytest.raises(ConfigError, match="no environment selected"):
        config.resolve({}, stack_file="Pulumi.x.yaml", root=root)


def test_unknown_environment(root: Path) -> None:
    message = error_of(root, "dev", environment="qa")
    assert "unknown environment" in message and "'qa'" in message
    assert "dev, staging, prod" in message


def test_new_environment_is_data_only(root: Path) -> None:
    (root / "environments/qa.toml").write_text("[compute]\ndesired_count = 2\nmax_count = 20\n")
    assert "qa" in config.known_environments(root)
    assert resolve(root, "dev", environment="qa", environmentSuffix="qa").profile.env == "qa"


# --- validation: every error names key, layer/file, value, what is allowed ------------------


def test_misspelt_key_in_each_layer(root: Path) -> None:
    default = root / "environments/default.toml"
    default.write_text(default.read_text().replace("max_receive_count", "max_recieve_count"))
    message = error_of(root)
    assert "messaging.max_recieve_count: unknown key" in message
    assert "environments/default.toml" in message
    assert "max_receive_count" in message  # says what is allowed


@pytest.mark.parametrize("layer", ["dev.toml", "suffixes/dev.toml"])
def test_misspelt_key_in_file_layers(root: Path, layer: str) -> None:
    (root / "environments" / layer).write_text("[databse]\nmax_acu = 4\n")
    message = error_of(root)
    assert "databse: unknown section (" in message
    assert f"environments/{layer}" in message


def test_misspelt_key_in_stack_config(root: Path) -> None:
    message = error_of(root, alertEmial="a@b.co")
    assert "payment:alertEmial: unknown stack config key" in message
    assert "Pulumi.dev.yaml" in message


def test_wrong_type(root: Path) -> None:
    append(root / "environments/dev.toml", '[cache]\nreplica_count = "two"')
    message = error_of(root)
    assert "cache.replica_count = 'two'" in message
    assert "environments/dev.toml" in message
    assert "integer" in message


def test_out_of_aws_range(root: Path) -> None:
    message = error_of(root, database={"max_acu": 512})
    assert "database.max_acu = 512" in message
    assert "stack layer, Pulumi.dev.yaml" in message
    assert "less than or equal to 256" in message


def test_invalid_fargate_pair(root: Path) -> None:
    message = error_of(root, compute={"cpu": 256, "memory": 4096})
    assert "memory=4096 is not valid with cpu=256" in message


def test_min_above_max(root: Path) -> None:
    message = error_of(root, database={"min_acu": 8, "max_acu": 4})
    assert "database.min_acu = 8 (stack layer, Pulumi.dev.yaml)" in message
    assert "database.max_acu = 4 (stack layer, Pulumi.dev.yaml)" in message
    assert "min_acu=8.0 exceeds max_acu=4.0" in message


def test_autoscaling_must_absorb_a_10x_spike(root: Path) -> None:
    message = error_of(root, compute={"desired_count": 2, "min_count": 1, "max_count": 10})
    assert "compute.max_count" in message
    assert "10x spike" in message and "at least 20" in message


def test_prod_availability_minimums(root: Path) -> None:
    message = error_of(root, "prod", database={"reader_count": 0}, cache={"replica_count": 0})
    assert "database.reader_count" in message and "at least 1 Aurora reader" in message
    assert "cache.replica_count" in message
    message = error_of(root, "prod", network={"az_count": 2, "endpoint_az_count": 2})
    assert "network.az_count" in message and "3 AZs" in message


def test_prod_cannot_turn_high_availability_off(root: Path) -> None:
    (root / "environments/suffixes/prod.toml").write_text(
        "[deployment]\nhigh_availability = false\n"
    )
    message = error_of(root, "prod")
    assert "deployment.high_availability" in message
    assert "environments/suffixes/prod.toml" in message


@pytest.mark.parametrize(
    "suffix",
    ["PR-142", "pr 142", "pr;rm", "../etc", "pr_142", "-pr", "pr-", "pr--1", "", "a" * 18],
)
def test_hostile_suffixes(root: Path, suffix: str) -> None:
    message = error_of(root, environmentSuffix=suffix)
    assert "deployment.environment_suffix" in message
    assert "Pulumi.dev.yaml" in message


def test_long_suffix_names_the_resource_and_limit(root: Path) -> None:
    message = error_of(root, environmentSuffix="feature-abcdefghij")
    assert "aws.lb.TargetGroup name" in message and "limit 32" in message


def test_selection_keys_cannot_come_from_files(root: Path) -> None:
    append(root / "environments/dev.toml", '[deployment]\nenvironment_suffix = "x"')
    assert "set by ENV_FOR_DYNACONF or stack config" in error_of(root)


def test_malformed_toml_names_the_file(root: Path) -> None:
    append(root / "environments/dev.toml", "[database\nmax_acu = 4")
    message = error_of(root)
    assert message.startswith("environments/dev.toml: malformed TOML")


def test_malformed_stack_yaml(root: Path) -> None:
    (root / "Pulumi.dev.yaml").write_text("config:\n  payment:environment: [dev\n")
    with pytest.raises(ConfigError, match=r"Pulumi.dev.yaml: malformed YAML"):
        stack_config("dev", root=root)
